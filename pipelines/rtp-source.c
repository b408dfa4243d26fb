/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/rtp-source.h"

#define H264_NAL_SPS 7
#define H264_PROFILE_HIGH 100
#define H264_PROFILE_MAIN 77

/* Guarded by lock: everything written on the streaming thread and read on the main loop. */
struct _VlgRtpSource {
	VlgCamera *camera;
	VlgHub *input;      /* a transcode's hub, or NULL when fed by the camera itself */
	VlgHubConsumer *consumer;
	VlgHub *rtp_hub;
	GMutex lock;
	VlgRtpPacketizer *packetizer; /* streaming thread only, created on the first caps */
	VlgRtpCodec codec;
	gboolean codec_known;
	GstClockTime max_pts;   /* to spot B-frames: a PTS below one already seen */
	gboolean has_b_frames;
	guint8 sps[3];
	gboolean have_sps;
	GstCaps *rtp_caps;      /* what was last published */
};

void
vlg_rtp_source_profile_level_id(const guint8 sps[3], gboolean has_b_frames, char out[7])
{
	guint8 profile = sps[0], constraints = sps[1], level = sps[2];

	/* High or Main without B-frames decodes as constrained baseline in every browser decoder
	 * we know of, and only constrained baseline is accepted by all of them. */
	if (!has_b_frames && (profile == H264_PROFILE_HIGH || profile == H264_PROFILE_MAIN)) {
		profile = 0x42;
		constraints = 0xe0;
	}
	g_snprintf(out, 7, "%02x%02x%02x", profile, constraints, level);
}

/* The SPS of an Annex-B keyframe access unit, if it has one: its three bytes after the header. */
static gboolean
find_sps(const guint8 *data, gsize size, guint8 sps[3])
{
	for (gsize i = 0; i + 6 < size; i++) {
		if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 &&
		    (data[i + 3] & 0x1f) == H264_NAL_SPS) {
			sps[0] = data[i + 4];
			sps[1] = data[i + 5];
			sps[2] = data[i + 6];
			return TRUE;
		}
	}
	return FALSE;
}

static GstCaps *
build_rtp_caps_unlocked(VlgRtpSource *source)
{
	char profile_level_id[7];

	if (source->codec == VLG_RTP_CODEC_H265)
		return gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "video",
					   "encoding-name", G_TYPE_STRING, "H265", "clock-rate",
					   G_TYPE_INT, VLG_RTP_CLOCK_RATE, "payload", G_TYPE_INT,
					   VLG_RTP_SOURCE_PAYLOAD_TYPE, NULL);
	vlg_rtp_source_profile_level_id(source->sps, source->has_b_frames, profile_level_id);
	return gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "video",
				   "encoding-name", G_TYPE_STRING, "H264", "clock-rate", G_TYPE_INT,
				   VLG_RTP_CLOCK_RATE, "payload", G_TYPE_INT,
				   VLG_RTP_SOURCE_PAYLOAD_TYPE, "packetization-mode", G_TYPE_STRING,
				   "1", "profile-level-id", G_TYPE_STRING, profile_level_id, NULL);
}

static void
publish_packet(GstBuffer *packet, gpointer data)
{
	VlgRtpSource *source = data;

	vlg_hub_push(source->rtp_hub, VLG_TRACK_VIDEO, packet);
}

static void
on_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	VlgRtpSource *source = data;
	const GstStructure *s = gst_caps_get_structure(caps, 0);

	if (track != VLG_TRACK_VIDEO)
		return;
	g_mutex_lock(&source->lock);
	source->codec = gst_structure_has_name(s, "video/x-h265") ? VLG_RTP_CODEC_H265 :
								    VLG_RTP_CODEC_H264;
	source->codec_known = TRUE;
	source->max_pts = GST_CLOCK_TIME_NONE;
	if (!source->packetizer)
		source->packetizer = vlg_rtp_packetizer_new(source->codec,
							    VLG_RTP_SOURCE_PAYLOAD_TYPE,
							    g_random_int(), VLG_RTP_SOURCE_MTU);
	g_mutex_unlock(&source->lock);
}

/* Publishes new RTP caps when what we know of the stream changed (first SPS, B-frames seen). */
static void
update_caps_unlocked(VlgRtpSource *source)
{
	g_autoptr(GstCaps) caps = NULL;

	if (source->codec == VLG_RTP_CODEC_H264 && !source->have_sps)
		return;
	caps = build_rtp_caps_unlocked(source);
	if (source->rtp_caps && gst_caps_is_equal(caps, source->rtp_caps))
		return;
	gst_caps_replace(&source->rtp_caps, caps);
	vlg_hub_set_caps(source->rtp_hub, VLG_TRACK_VIDEO, caps);
}

static void
note_access_unit_unlocked(VlgRtpSource *source, GstBuffer *buffer)
{
	GstClockTime pts = GST_BUFFER_PTS(buffer);
	GstMapInfo map;

	if (GST_CLOCK_TIME_IS_VALID(pts)) {
		if (GST_CLOCK_TIME_IS_VALID(source->max_pts) && pts < source->max_pts)
			source->has_b_frames = TRUE;
		if (!GST_CLOCK_TIME_IS_VALID(source->max_pts) || pts > source->max_pts)
			source->max_pts = pts;
	}
	if (source->codec != VLG_RTP_CODEC_H264 ||
	    GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT))
		return;
	if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
		source->have_sps |= find_sps(map.data, map.size, source->sps);
		gst_buffer_unmap(buffer, &map);
	}
}

static void
on_buffer(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	VlgRtpSource *source = data;

	if (track != VLG_TRACK_VIDEO)
		return;
	g_mutex_lock(&source->lock);
	if (source->packetizer) {
		note_access_unit_unlocked(source, buffer);
		update_caps_unlocked(source);
		if (source->rtp_caps)
			vlg_rtp_packetizer_push(source->packetizer, buffer, publish_packet, source);
	}
	g_mutex_unlock(&source->lock);
}

static void
on_reset(gpointer data)
{
	VlgRtpSource *source = data;

	/* The packetizer stays, so viewers see sequence numbers run on across a reconnect. */
	vlg_hub_reset(source->rtp_hub);
	g_mutex_lock(&source->lock);
	gst_clear_caps(&source->rtp_caps);
	source->have_sps = FALSE;
	source->has_b_frames = FALSE;
	source->max_pts = GST_CLOCK_TIME_NONE;
	g_mutex_unlock(&source->lock);
}

static const VlgHubConsumerFuncs source_funcs = { on_caps, on_buffer, on_reset };

VlgRtpSource *
vlg_rtp_source_new(VlgCamera *camera)
{
	VlgRtpSource *source = g_new0(VlgRtpSource, 1);

	g_mutex_init(&source->lock);
	source->camera = camera;
	source->max_pts = GST_CLOCK_TIME_NONE;
	source->rtp_hub = vlg_hub_new(vlg_camera_get_info(camera)->id);
	source->consumer = vlg_camera_attach(camera, &source_funcs, source, NULL);
	return source;
}

VlgRtpSource *
vlg_rtp_source_new_for_hub(VlgCamera *camera, VlgHub *input, const char *name)
{
	VlgRtpSource *source = g_new0(VlgRtpSource, 1);

	g_mutex_init(&source->lock);
	source->camera = camera;
	source->input = vlg_hub_ref(input);
	source->max_pts = GST_CLOCK_TIME_NONE;
	source->rtp_hub = vlg_hub_new(name);
	source->consumer = vlg_hub_attach(input, &source_funcs, source, NULL);
	return source;
}

VlgRtpSource *
vlg_rtp_source_free(VlgRtpSource *source)
{
	if (!source)
		return NULL;
	/* After detach no callback runs, so the rest can go without the lock. */
	if (source->input) {
		vlg_hub_detach(source->input, source->consumer);
		vlg_hub_unref(source->input);
	} else {
		vlg_camera_detach(source->camera, source->consumer);
	}
	vlg_hub_unref(source->rtp_hub);
	gst_clear_caps(&source->rtp_caps);
	vlg_rtp_packetizer_free(source->packetizer);
	g_mutex_clear(&source->lock);
	g_free(source);
	return NULL;
}

VlgHub *
vlg_rtp_source_get_hub(VlgRtpSource *source)
{
	return source->rtp_hub;
}

VlgCamera *
vlg_rtp_source_get_camera(VlgRtpSource *source)
{
	return source->camera;
}

VlgPassthrough
vlg_rtp_source_get_passthrough(VlgRtpSource *source, const char **reason)
{
	VlgPassthrough answer = VLG_PASSTHROUGH_UNKNOWN;

	*reason = NULL;
	g_mutex_lock(&source->lock);
	if (source->codec_known && source->codec == VLG_RTP_CODEC_H265) {
		answer = VLG_PASSTHROUGH_NEEDS_TRANSCODE;
		*reason = "H.265: browsers need a transcode";
	} else if (source->has_b_frames) {
		answer = VLG_PASSTHROUGH_NEEDS_TRANSCODE;
		*reason = "H.264 with B-frames: browsers need a transcode";
	} else if (source->rtp_caps) {
		answer = VLG_PASSTHROUGH_OK;
	}
	g_mutex_unlock(&source->lock);
	return answer;
}
