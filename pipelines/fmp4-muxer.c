/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/fmp4-muxer.h"

#include "pipelines/mp4-boxes.h"

GST_DEBUG_CATEGORY_STATIC(vlg_fmp4_debug);
#define GST_CAT_DEFAULT vlg_fmp4_debug

#define VIDEO_TRACK_ID 1
#define AUDIO_TRACK_ID 2
#define VIDEO_TIMESCALE 90000
/* When video starts before the hub has told the audio format, the first init segment waits this
 * much video for it: an init segment that later gains a track forces the player to start over. */
#define AUDIO_GRACE (300 * GST_MSECOND)
/* Like the hub's cache: a GOP that does not fit is dropped; late clients wait for a keyframe. */
#define CACHE_MAX_BYTES (8u * 1024 * 1024)
#define MAX_FRAGMENT_SAMPLES 250
/* Audio waiting for the next video frame; the ingest's watchdog resets a camera long before. */
#define MAX_PENDING_AUDIO 500
/* Presentation times that move back more than this (beyond B-frame reordering), or forward more
 * than the long one, are a new timeline: it is joined onto the old one. */
#define JUMP_BACK (1 * GST_SECOND)
#define JUMP_FORWARD (10 * GST_SECOND)
#define DEFAULT_FRAME_DURATION (40 * GST_MSECOND)
#define MIN_DTS_STEP (GST_SECOND / VIDEO_TIMESCALE + 1)

typedef enum {
	CLIENT_WAIT_INIT,
	CLIENT_WAIT_KEYFRAME,
	CLIENT_LIVE,
} ClientState;

struct _VlgFmp4Client {
	VlgFmp4Sink sink;
	gpointer user_data;
	GDestroyNotify destroy;
	ClientState state; /* guarded by the muxer's lock */
};

/* Times are nanoseconds on the output timeline (input + offset), signed so that B-frame decode
 * times before the first presentation time are representable. */
typedef struct {
	GstBuffer *buffer;
	gint64 dts;
	gint64 pts;
	gint64 duration; /* known once the next frame arrives */
	guint32 size;    /* length-prefixed, after filtering */
	gboolean keyframe;
} VideoSample;

typedef struct {
	GstBuffer *buffer;
	guint64 time; /* in the audio timescale */
	guint32 duration;
} AudioSample;

/* Decode times for a stream that has only presentation times: the n-th decode time is the
 * (n - reorder)-th smallest presentation time, which is known by the time the n-th frame
 * arrives when the encoder reorders at most `reorder` frames. The first `reorder` frames are
 * spaced by a frame duration before the first presentation time. */
typedef struct {
	guint reorder;
	gint64 frame_duration;
	guint64 count;
	gint64 first_pts;
	GArray *pts; /* of gint64, ascending */
} DtsGenerator;

struct _VlgFmp4Muxer {
	VlgHub *hub;
	VlgHubConsumer *consumer;

	GMutex mime_lock;
	char *mime; /* guarded by mime_lock */

	GMutex lock;
	/* Everything below is guarded by lock. */
	guint fragment_ms;
	GPtrArray *clients;
	VlgFmp4Stats stats;

	/* Video format: from caps, and the parameter sets of the last keyframe that had them. */
	gboolean video_ok;
	VlgMp4Codec video_codec;
	gint64 caps_frame_duration; /* 0: unknown */
	GPtrArray *vps, *sps, *pps; /* of GBytes (NAL units) */
	VlgSpsInfo sps_info;
	gboolean have_sps_info;

	/* Audio format: AAC config, or NULL for none/other. */
	gboolean audio_known; /* caps seen since the start or the last reset */
	GBytes *aac_config;
	guint rate, channels;

	/* Timeline */
	gboolean have_timeline; /* offset set and DTS generator running */
	gboolean rebase;        /* join the next timeline onto video_end */
	gint64 offset;
	DtsGenerator dts;
	gint64 last_in_pts;
	gint64 video_end; /* end of the last video sample muxed */
	gint64 last_duration;
	gboolean have_audio_next;
	guint64 audio_next;

	/* The fragment being built */
	GArray *video; /* of VideoSample; the last one's duration is still open */
	GArray *audio; /* of AudioSample */
	guint32 sequence;

	/* Output */
	GBytes *init;
	GBytes *init_aac_config; /* the audio in init, or NULL */
	guint init_rate;
	gboolean holding; /* for AUDIO_GRACE: media segments go to the cache only */
	gint64 hold_until;
	GPtrArray *cache; /* of GBytes: media segments since the last keyframe one */
	gboolean cache_valid;
	gsize cache_bytes;
};

static void
ensure_debug_category(void)
{
	static gsize once = 0;

	if (g_once_init_enter(&once)) {
		GST_DEBUG_CATEGORY_INIT(vlg_fmp4_debug, "vlg-fmp4", 0,
					"linkage-gateway fMP4 muxer");
		g_once_init_leave(&once, 1);
	}
}

static guint64
to_ticks(gint64 ns, guint32 timescale)
{
	return ns <= 0 ? 0 : gst_util_uint64_scale((guint64)ns, timescale, GST_SECOND);
}

/* ---- Decode times ---------------------------------------------------------------------------- */

static void
dts_generator_reset(DtsGenerator *gen, guint reorder, gint64 frame_duration)
{
	g_array_set_size(gen->pts, 0);
	gen->count = 0;
	gen->reorder = reorder;
	gen->frame_duration = frame_duration;
}

static gint64
dts_generator_next(DtsGenerator *gen, gint64 pts)
{
	guint i = gen->pts->len;
	gint64 dts;

	while (i > 0 && g_array_index(gen->pts, gint64, i - 1) > pts)
		i--;
	g_array_insert_val(gen->pts, i, pts);
	if (gen->count == 0)
		gen->first_pts = pts;
	if (gen->count < gen->reorder) {
		dts = gen->first_pts - (gint64)(gen->reorder - gen->count) * gen->frame_duration;
		gen->count++;
		return dts;
	}
	gen->count++;
	dts = g_array_index(gen->pts, gint64, 0);
	g_array_remove_index(gen->pts, 0);
	return dts;
}

/* ---- Delivery -------------------------------------------------------------------------------- */

static void
set_mime(VlgFmp4Muxer *muxer, char *mime)
{
	g_mutex_lock(&muxer->mime_lock);
	g_free(muxer->mime);
	muxer->mime = mime;
	g_mutex_unlock(&muxer->mime_lock);
}

static void
deliver_media_unlocked(VlgFmp4Client *client, GBytes *segment, gboolean keyframe)
{
	if (client->state == CLIENT_WAIT_KEYFRAME && keyframe)
		client->state = CLIENT_LIVE;
	if (client->state == CLIENT_LIVE)
		client->sink(client->user_data, segment, FALSE, keyframe);
}

/* The cache starts with a keyframe segment when valid. */
static void
deliver_cache_unlocked(VlgFmp4Muxer *muxer, VlgFmp4Client *client)
{
	for (guint i = 0; muxer->cache_valid && i < muxer->cache->len; i++)
		deliver_media_unlocked(client, muxer->cache->pdata[i], i == 0);
}

static void
deliver_init_unlocked(VlgFmp4Muxer *muxer, VlgFmp4Client *client)
{
	client->sink(client->user_data, muxer->init, TRUE, FALSE);
	client->state = CLIENT_WAIT_KEYFRAME;
}

static void
cache_add_unlocked(VlgFmp4Muxer *muxer, GBytes *segment, gboolean keyframe)
{
	if (keyframe) {
		g_ptr_array_set_size(muxer->cache, 0);
		muxer->cache_bytes = 0;
		muxer->cache_valid = TRUE;
	}
	if (!muxer->cache_valid)
		return;
	g_ptr_array_add(muxer->cache, g_bytes_ref(segment));
	muxer->cache_bytes += g_bytes_get_size(segment);
	if (muxer->cache_bytes > CACHE_MAX_BYTES) {
		GST_WARNING("GOP over %u bytes, not cached", CACHE_MAX_BYTES);
		g_ptr_array_set_size(muxer->cache, 0);
		muxer->cache_bytes = 0;
		muxer->cache_valid = FALSE;
	}
}

static void
emit_media_unlocked(VlgFmp4Muxer *muxer, GBytes *segment, gboolean keyframe)
{
	muxer->stats.media_segments++;
	muxer->stats.bytes += g_bytes_get_size(segment);
	cache_add_unlocked(muxer, segment, keyframe);
	if (muxer->holding)
		return;
	for (guint i = 0; i < muxer->clients->len; i++)
		deliver_media_unlocked(muxer->clients->pdata[i], segment, keyframe);
}

/* ---- Init segments --------------------------------------------------------------------------- */

static GBytes *
make_video_record_unlocked(VlgFmp4Muxer *muxer, VlgSpsInfo *info, char **codec)
{
	GBytes *record;
	gsize size;
	const guint8 *sps;

	if (muxer->sps->len == 0)
		return NULL;
	sps = g_bytes_get_data(muxer->sps->pdata[0], &size);
	if (muxer->video_codec == VLG_MP4_CODEC_H264) {
		record = vlg_h264_make_avcc(muxer->sps, muxer->pps);
		if (record && vlg_h264_parse_sps(sps, size, info))
			*codec = vlg_h264_codec_string(info);
	} else {
		record = vlg_h265_make_hvcc(muxer->vps, muxer->sps, muxer->pps);
		if (record && vlg_h265_parse_sps(sps, size, info))
			*codec = vlg_h265_codec_string(info);
	}
	if (record && !*codec)
		g_clear_pointer(&record, g_bytes_unref);
	return record;
}

/* Builds the init segment for the current formats; FALSE without usable parameter sets. Sends it
 * to every client if it differs from the current one; then @stale_cache (segments of the old
 * format) is dropped, lest a new client get them after the new init segment. */
static gboolean
update_init_unlocked(VlgFmp4Muxer *muxer, gboolean stale_cache)
{
	VlgMp4Track tracks[2] = { { 0 } };
	g_autofree char *video_codec = NULL;
	g_autofree char *audio_codec = NULL;
	g_autoptr(GBytes) record = NULL;
	GBytes *init;
	guint n = 0;
	VlgSpsInfo info;

	record = make_video_record_unlocked(muxer, &info, &video_codec);
	if (!record)
		return FALSE;
	tracks[n++] = (VlgMp4Track){ .track_id = VIDEO_TRACK_ID,
				     .codec = muxer->video_codec,
				     .timescale = VIDEO_TIMESCALE,
				     .width = info.width,
				     .height = info.height,
				     .config = record };
	if (muxer->aac_config) {
		audio_codec = vlg_aac_codec_string(g_bytes_get_data(muxer->aac_config, NULL),
						   g_bytes_get_size(muxer->aac_config));
		tracks[n++] = (VlgMp4Track){ .track_id = AUDIO_TRACK_ID,
					     .codec = VLG_MP4_CODEC_AAC,
					     .timescale = muxer->rate,
					     .channels = muxer->channels,
					     .rate = muxer->rate,
					     .config = muxer->aac_config };
	}
	init = vlg_mp4_make_init_segment(tracks, n);
	if (muxer->init && g_bytes_equal(init, muxer->init)) {
		g_bytes_unref(init);
		return TRUE;
	}
	GST_DEBUG("new init segment: %ux%u %s %s, %zu bytes", info.width, info.height, video_codec,
		  audio_codec ? audio_codec : "(no audio)", g_bytes_get_size(init));
	g_clear_pointer(&muxer->init, g_bytes_unref);
	muxer->init = init;
	g_clear_pointer(&muxer->init_aac_config, g_bytes_unref);
	if (muxer->aac_config)
		muxer->init_aac_config = g_bytes_ref(muxer->aac_config);
	muxer->init_rate = muxer->rate;
	muxer->have_audio_next = FALSE;
	set_mime(muxer, g_strdup_printf("video/mp4; codecs=\"%s%s%s\"", video_codec,
					audio_codec ? "," : "", audio_codec ? audio_codec : ""));
	muxer->stats.init_segments++;
	muxer->stats.bytes += g_bytes_get_size(init);
	if (stale_cache) {
		g_ptr_array_set_size(muxer->cache, 0);
		muxer->cache_bytes = 0;
		muxer->cache_valid = FALSE;
	}
	for (guint i = 0; i < muxer->clients->len; i++)
		deliver_init_unlocked(muxer, muxer->clients->pdata[i]);
	return TRUE;
}

/* Ends the wait for the audio format: decides the init segment with what is known and sends the
 * segments held meanwhile. */
static void
resolve_hold_unlocked(VlgFmp4Muxer *muxer)
{
	if (!muxer->holding)
		return;
	muxer->holding = FALSE;
	muxer->hold_until = G_MAXINT64;
	update_init_unlocked(muxer, FALSE); /* the cache holds this format's segments */
	for (guint i = 0; i < muxer->clients->len; i++)
		deliver_cache_unlocked(muxer, muxer->clients->pdata[i]);
}

static gboolean
audio_accepted_unlocked(VlgFmp4Muxer *muxer)
{
	return muxer->aac_config && muxer->init_aac_config && !muxer->holding &&
	       muxer->rate == muxer->init_rate &&
	       g_bytes_equal(muxer->aac_config, muxer->init_aac_config);
}

/* ---- Media segments -------------------------------------------------------------------------- */

/* Walks the NAL units of @buffer that go into the file (parameter sets of keyframes are in the
 * init segment; access unit delimiters are dropped), writing them length-prefixed to @out if
 * non-NULL. Returns their size. */
static gsize
write_video_sample(VlgFmp4Muxer *muxer, GstBuffer *buffer, gboolean keyframe, GByteArray *out)
{
	GstMapInfo map;
	gsize offset = 0, nal_size, total = 0;
	const guint8 *nal;

	if (!gst_buffer_map(buffer, &map, GST_MAP_READ))
		return 0;
	while (vlg_annexb_next_nal(map.data, map.size, &offset, &nal, &nal_size)) {
		gboolean h264 = muxer->video_codec == VLG_MP4_CODEC_H264;
		guint type = h264 ? vlg_h264_nal_type(nal) : vlg_h265_nal_type(nal);
		gboolean parameter_set = h264
					     ? type == VLG_H264_NAL_SPS || type == VLG_H264_NAL_PPS
					     : type >= VLG_H265_NAL_VPS && type <= VLG_H265_NAL_PPS;

		if (type == (h264 ? VLG_H264_NAL_AUD : VLG_H265_NAL_AUD) ||
		    (keyframe && parameter_set))
			continue;
		if (out) {
			guint8 length[4] = { (guint8)(nal_size >> 24), (guint8)(nal_size >> 16),
					     (guint8)(nal_size >> 8), (guint8)nal_size };

			g_byte_array_append(out, length, 4);
			g_byte_array_append(out, nal, (guint)nal_size);
		}
		total += 4 + nal_size;
	}
	gst_buffer_unmap(buffer, &map);
	return total;
}

static void
write_audio_samples(GArray *audio, GByteArray *out)
{
	for (guint i = 0; i < audio->len; i++) {
		GstBuffer *buffer = g_array_index(audio, AudioSample, i).buffer;
		gsize size = gst_buffer_get_size(buffer);
		guint at = out->len;

		g_byte_array_set_size(out, at + (guint)size);
		gst_buffer_extract(buffer, 0, out->data + at, size);
	}
}

static void
fill_video_run(GArray *video, VlgMp4Sample *samples, VlgMp4Run *run)
{
	for (guint i = 0; i < video->len; i++) {
		VideoSample *v = &g_array_index(video, VideoSample, i);
		guint64 start = to_ticks(v->dts, VIDEO_TIMESCALE);

		samples[i] = (VlgMp4Sample){
			.duration =
			    (guint32)(to_ticks(v->dts + v->duration, VIDEO_TIMESCALE) - start),
			.size = v->size,
			.flags = v->keyframe ? VLG_MP4_SAMPLE_SYNC : VLG_MP4_SAMPLE_NON_SYNC,
			.composition_offset = (gint32)(to_ticks(v->pts, VIDEO_TIMESCALE) - start),
		};
	}
	*run = (VlgMp4Run){ VIDEO_TRACK_ID,
			    to_ticks(g_array_index(video, VideoSample, 0).dts, VIDEO_TIMESCALE),
			    samples, video->len, TRUE };
}

static void
fill_audio_run(GArray *audio, VlgMp4Sample *samples, VlgMp4Run *run)
{
	for (guint i = 0; i < audio->len; i++) {
		AudioSample *a = &g_array_index(audio, AudioSample, i);
		guint32 duration = a->duration;

		/* A gap (lost packets) lengthens the sample before it. */
		if (i + 1 < audio->len)
			duration =
			    (guint32)(g_array_index(audio, AudioSample, i + 1).time - a->time);
		samples[i] = (VlgMp4Sample){ duration, (guint32)gst_buffer_get_size(a->buffer),
					     VLG_MP4_SAMPLE_SYNC, 0 };
	}
	*run =
	    (VlgMp4Run){ AUDIO_TRACK_ID, audio->len ? g_array_index(audio, AudioSample, 0).time : 0,
			 samples, audio->len, FALSE };
}

/* Writes the pending samples as one media segment; every video sample's duration is known. */
static void
close_fragment_unlocked(VlgFmp4Muxer *muxer)
{
	GArray *video = muxer->video, *audio = muxer->audio;
	g_autofree VlgMp4Sample *samples = NULL;
	VlgMp4Run runs[2];
	GByteArray *out;
	GBytes *segment;
	gsize payload = 0;
	gboolean keyframe;

	if (video->len == 0) {
		g_array_set_size(audio, 0); /* audio alone is never sent: it would lead the video */
		return;
	}
	samples = g_new(VlgMp4Sample, video->len + audio->len);
	fill_video_run(video, samples, &runs[0]);
	fill_audio_run(audio, samples + video->len, &runs[1]);
	for (guint i = 0; i < video->len + audio->len; i++)
		payload += samples[i].size;
	out = g_byte_array_sized_new((guint)(payload + 256 + 16 * (video->len + audio->len)));
	vlg_mp4_write_fragment_header(out, ++muxer->sequence, runs, 2);
	for (guint i = 0; i < video->len; i++) {
		VideoSample *v = &g_array_index(video, VideoSample, i);

		write_video_sample(muxer, v->buffer, v->keyframe, out);
	}
	write_audio_samples(audio, out);
	keyframe = g_array_index(video, VideoSample, 0).keyframe;
	g_array_set_size(video, 0);
	g_array_set_size(audio, 0);
	segment = g_byte_array_free_to_bytes(out);
	emit_media_unlocked(muxer, segment, keyframe);
	g_bytes_unref(segment);
}

/* Gives the open last video sample a guessed duration and writes out what is pending. */
static void
flush_unlocked(VlgFmp4Muxer *muxer)
{
	VideoSample *last;

	if (muxer->video->len > 0) {
		last = &g_array_index(muxer->video, VideoSample, muxer->video->len - 1);
		last->duration = muxer->last_duration;
		muxer->video_end = last->dts + last->duration;
	}
	close_fragment_unlocked(muxer);
}

/* ---- Input: formats -------------------------------------------------------------------------- */

static void
clear_parameter_sets_unlocked(VlgFmp4Muxer *muxer)
{
	g_ptr_array_set_size(muxer->vps, 0);
	g_ptr_array_set_size(muxer->sps, 0);
	g_ptr_array_set_size(muxer->pps, 0);
	muxer->have_sps_info = FALSE;
}

static void
video_caps_unlocked(VlgFmp4Muxer *muxer, GstCaps *caps)
{
	const GstStructure *s = gst_caps_get_structure(caps, 0);
	const char *format = gst_structure_get_string(s, "stream-format");
	VlgMp4Codec codec;
	gint fps_n = 0, fps_d = 0;

	muxer->video_ok = FALSE;
	if (gst_structure_has_name(s, "video/x-h264"))
		codec = VLG_MP4_CODEC_H264;
	else if (gst_structure_has_name(s, "video/x-h265"))
		codec = VLG_MP4_CODEC_H265;
	else {
		GST_WARNING("video %" GST_PTR_FORMAT " is not H.264/H.265: not muxed", caps);
		return;
	}
	if (format && !g_str_equal(format, "byte-stream")) {
		GST_WARNING("video stream-format %s is not byte-stream: not muxed", format);
		return;
	}
	if (codec != muxer->video_codec)
		clear_parameter_sets_unlocked(muxer);
	muxer->video_codec = codec;
	muxer->video_ok = TRUE;
	muxer->caps_frame_duration = 0;
	if (gst_structure_get_fraction(s, "framerate", &fps_n, &fps_d) && fps_n > 0 && fps_d > 0)
		muxer->caps_frame_duration =
		    (gint64)gst_util_uint64_scale(GST_SECOND, fps_d, fps_n);
}

static void
audio_caps_unlocked(VlgFmp4Muxer *muxer, GstCaps *caps)
{
	const GstStructure *s = gst_caps_get_structure(caps, 0);
	const char *format = gst_structure_get_string(s, "stream-format");
	const GValue *codec_data = gst_structure_get_value(s, "codec_data");
	gint version = 0, rate = 0, channels = 0;
	GstBuffer *config;

	muxer->audio_known = TRUE;
	g_clear_pointer(&muxer->aac_config, g_bytes_unref);
	if (gst_structure_has_name(s, "audio/mpeg") &&
	    gst_structure_get_int(s, "mpegversion", &version) && (version == 4 || version == 2) &&
	    g_strcmp0(format, "raw") == 0 && codec_data &&
	    G_VALUE_HOLDS(codec_data, GST_TYPE_BUFFER) && gst_structure_get_int(s, "rate", &rate) &&
	    rate > 0 && gst_structure_get_int(s, "channels", &channels) && channels > 0) {
		config = gst_value_get_buffer(codec_data);
		if (gst_buffer_get_size(config) >= 2 && gst_buffer_get_size(config) <= 64) {
			gsize size = gst_buffer_get_size(config);
			guint8 *bytes = g_malloc(size);

			gst_buffer_extract(config, 0, bytes, size);
			muxer->aac_config = g_bytes_new_take(bytes, size);
			muxer->rate = (guint)rate;
			muxer->channels = (guint)channels;
		}
	}
	if (!muxer->aac_config)
		GST_DEBUG("audio %" GST_PTR_FORMAT " is left out (MSE takes AAC only)", caps);
	/* The wait for the audio format is over. A changed format (a new init segment) takes
	 * effect at the next keyframe. */
	resolve_hold_unlocked(muxer);
}

/* ---- Input: video ---------------------------------------------------------------------------- */

/* Takes the parameter sets of a keyframe, if it has an SPS. */
static void
collect_parameter_sets_unlocked(VlgFmp4Muxer *muxer, GstBuffer *buffer)
{
	GPtrArray *sets[3];
	GstMapInfo map;
	gsize offset = 0, size;
	const guint8 *nal;
	gboolean h264 = muxer->video_codec == VLG_MP4_CODEC_H264;

	for (guint i = 0; i < 3; i++)
		sets[i] = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	if (!gst_buffer_map(buffer, &map, GST_MAP_READ))
		goto out;
	while (vlg_annexb_next_nal(map.data, map.size, &offset, &nal, &size)) {
		guint type = h264 ? vlg_h264_nal_type(nal) : vlg_h265_nal_type(nal);
		gint kind =
		    h264 ? (gint)type - VLG_H264_NAL_SPS + 1 : (gint)type - VLG_H265_NAL_VPS;

		if (kind >= (h264 ? 1 : 0) && kind <= 2)
			g_ptr_array_add(sets[kind], g_bytes_new(nal, size));
	}
	gst_buffer_unmap(buffer, &map);
	if (sets[1]->len > 0) {
		GPtrArray *stored[3] = { muxer->vps, muxer->sps, muxer->pps };

		for (guint i = 0; i < 3; i++) {
			g_ptr_array_set_size(stored[i], 0);
			g_ptr_array_extend_and_steal(stored[i], g_steal_pointer(&sets[i]));
		}
		nal = g_bytes_get_data(muxer->sps->pdata[0], &size);
		muxer->have_sps_info = h264 ? vlg_h264_parse_sps(nal, size, &muxer->sps_info)
					    : vlg_h265_parse_sps(nal, size, &muxer->sps_info);
	}
out:
	for (guint i = 0; i < 3; i++)
		if (sets[i])
			g_ptr_array_unref(sets[i]);
}

static gint64
frame_duration_unlocked(VlgFmp4Muxer *muxer)
{
	if (muxer->caps_frame_duration > 0)
		return muxer->caps_frame_duration;
	if (muxer->have_sps_info && muxer->sps_info.fps_n > 0)
		return (gint64)gst_util_uint64_scale(GST_SECOND, muxer->sps_info.fps_d,
						     muxer->sps_info.fps_n);
	return DEFAULT_FRAME_DURATION;
}

/* At a keyframe: starts the timeline (joined onto the last one after a reset or a jump), or
 * restarts the decode times when the reorder depth changed. */
static void
start_timeline_unlocked(VlgFmp4Muxer *muxer, gint64 pts)
{
	guint reorder = muxer->sps_info.max_reorder;
	gint64 duration = frame_duration_unlocked(muxer);

	if (muxer->have_timeline && reorder == muxer->dts.reorder)
		return;
	dts_generator_reset(&muxer->dts, reorder, duration);
	if (!muxer->have_timeline && muxer->rebase) {
		muxer->offset = muxer->video_end - (pts - (gint64)reorder * duration);
		muxer->rebase = FALSE;
	}
	muxer->have_timeline = TRUE;
}

/* At a keyframe, once the fragment before it is out: the init segment it needs. */
static gboolean
keyframe_init_unlocked(VlgFmp4Muxer *muxer)
{
	g_autoptr(GBytes) record = NULL;
	g_autofree char *codec = NULL;
	VlgSpsInfo info;

	resolve_hold_unlocked(muxer);
	/* Wait for the audio format if the hub has not told it yet and the last init segment had
	 * audio (or there is none yet), rather than send an init segment that then changes. */
	if (!muxer->audio_known && (!muxer->init || muxer->init_aac_config)) {
		record = make_video_record_unlocked(muxer, &info, &codec);
		muxer->holding = record != NULL;
		muxer->hold_until = G_MAXINT64; /* set from this keyframe's decode time */
		/* The cache is to hold what the wait holds back, from this keyframe on. */
		g_ptr_array_set_size(muxer->cache, 0);
		muxer->cache_bytes = 0;
		muxer->cache_valid = FALSE;
		return muxer->holding;
	}
	return update_init_unlocked(muxer, TRUE);
}

static gboolean
is_discontinuity(VlgFmp4Muxer *muxer, gint64 pts)
{
	return pts < muxer->last_in_pts - (gint64)JUMP_BACK ||
	       pts > muxer->last_in_pts + (gint64)JUMP_FORWARD;
}

/* Gives the open sample its duration, and writes the fragment out if @sample starts the next. */
static void
close_open_sample_unlocked(VlgFmp4Muxer *muxer, VideoSample *sample)
{
	VideoSample *last = &g_array_index(muxer->video, VideoSample, muxer->video->len - 1);
	gint64 first_dts = g_array_index(muxer->video, VideoSample, 0).dts;

	sample->dts = MAX(sample->dts, last->dts + (gint64)MIN_DTS_STEP);
	last->duration = sample->dts - last->dts;
	muxer->last_duration = last->duration;
	muxer->video_end = sample->dts;
	if (sample->keyframe || muxer->fragment_ms == 0 ||
	    muxer->video->len >= MAX_FRAGMENT_SAMPLES ||
	    sample->dts - first_dts >= (gint64)muxer->fragment_ms * (gint64)GST_MSECOND)
		close_fragment_unlocked(muxer);
}

static void
add_video_unlocked(VlgFmp4Muxer *muxer, GstBuffer *buffer)
{
	gboolean keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
	GstClockTime timestamp =
	    GST_BUFFER_PTS_IS_VALID(buffer) ? GST_BUFFER_PTS(buffer) : GST_BUFFER_DTS(buffer);
	VideoSample sample = { .keyframe = keyframe };
	gint64 pts;

	if (!muxer->video_ok || !GST_CLOCK_TIME_IS_VALID(timestamp))
		goto drop;
	pts = (gint64)timestamp;
	if (muxer->have_timeline && is_discontinuity(muxer, pts)) {
		GST_DEBUG("timestamp jump %" G_GINT64_FORMAT " -> %" G_GINT64_FORMAT,
			  muxer->last_in_pts, pts);
		flush_unlocked(muxer);
		muxer->have_timeline = FALSE;
		muxer->rebase = TRUE;
	}
	if (keyframe) {
		collect_parameter_sets_unlocked(muxer, buffer);
		if (!muxer->have_sps_info)
			goto drop;
		start_timeline_unlocked(muxer, pts);
	}
	if (!muxer->have_timeline)
		goto drop; /* a delta frame after a jump: wait for a keyframe */
	muxer->last_in_pts = pts;
	sample.dts = dts_generator_next(&muxer->dts, pts) + muxer->offset;
	if (muxer->video->len > 0)
		close_open_sample_unlocked(muxer, &sample);
	else
		sample.dts = MAX(sample.dts, muxer->video_end);
	if (keyframe && !keyframe_init_unlocked(muxer)) {
		GST_WARNING("unusable parameter sets: keyframe dropped");
		muxer->have_timeline = FALSE;
		muxer->rebase = TRUE;
		goto drop;
	}
	sample.pts = MAX(pts + muxer->offset, sample.dts);
	sample.size = (guint32)write_video_sample(muxer, buffer, keyframe, NULL);
	sample.buffer = gst_buffer_ref(buffer);
	g_array_append_val(muxer->video, sample);
	if (muxer->holding && muxer->hold_until == G_MAXINT64)
		muxer->hold_until = sample.dts + (gint64)AUDIO_GRACE;
	else if (muxer->holding && sample.dts >= muxer->hold_until)
		resolve_hold_unlocked(muxer);
	return;
drop:
	muxer->stats.dropped_samples++;
}

/* ---- Input: audio ---------------------------------------------------------------------------- */

static void
add_audio_unlocked(VlgFmp4Muxer *muxer, GstBuffer *buffer)
{
	AudioSample sample;
	guint64 time, duration = 1024; /* AAC frame */
	gint64 ns;

	if (!audio_accepted_unlocked(muxer) || !muxer->have_timeline ||
	    !GST_BUFFER_PTS_IS_VALID(buffer) || muxer->audio->len >= MAX_PENDING_AUDIO)
		goto drop;
	ns = (gint64)GST_BUFFER_PTS(buffer) + muxer->offset;
	if (ns < 0)
		goto drop;
	time = to_ticks(ns, muxer->rate);
	if (GST_BUFFER_DURATION_IS_VALID(buffer))
		duration = CLAMP(to_ticks((gint64)GST_BUFFER_DURATION(buffer), muxer->rate), 1,
				 muxer->rate);
	/* Audio runs on its own count of samples; the timestamps only move it over a gap, and
	 * audio more than two frames behind it is dropped. */
	if (muxer->have_audio_next && time + 2 * duration < muxer->audio_next)
		goto drop;
	if (muxer->have_audio_next && time <= muxer->audio_next + 2 * duration)
		time = muxer->audio_next;
	muxer->audio_next = time + duration;
	muxer->have_audio_next = TRUE;
	sample = (AudioSample){ gst_buffer_ref(buffer), time, (guint32)duration };
	g_array_append_val(muxer->audio, sample);
	return;
drop:
	muxer->stats.dropped_samples++;
}

/* ---- Hub consumer ---------------------------------------------------------------------------- */

static void
on_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	VlgFmp4Muxer *muxer = data;

	g_mutex_lock(&muxer->lock);
	if (track == VLG_TRACK_VIDEO)
		video_caps_unlocked(muxer, caps);
	else if (track == VLG_TRACK_AUDIO)
		audio_caps_unlocked(muxer, caps);
	g_mutex_unlock(&muxer->lock);
}

static void
on_buffer(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	VlgFmp4Muxer *muxer = data;

	g_mutex_lock(&muxer->lock);
	if (track == VLG_TRACK_VIDEO)
		add_video_unlocked(muxer, buffer);
	else if (track == VLG_TRACK_AUDIO)
		add_audio_unlocked(muxer, buffer);
	g_mutex_unlock(&muxer->lock);
}

static void
on_reset(gpointer data)
{
	VlgFmp4Muxer *muxer = data;

	g_mutex_lock(&muxer->lock);
	GST_DEBUG("source reset: the timeline continues at %" G_GINT64_FORMAT, muxer->video_end);
	resolve_hold_unlocked(muxer);
	flush_unlocked(muxer);
	muxer->have_timeline = FALSE;
	muxer->rebase = TRUE;
	muxer->video_ok = FALSE;
	muxer->audio_known = FALSE;
	g_clear_pointer(&muxer->aac_config, g_bytes_unref);
	g_mutex_unlock(&muxer->lock);
}

static const VlgHubConsumerFuncs consumer_funcs = { on_caps, on_buffer, on_reset };

/* ---- API ------------------------------------------------------------------------------------- */

static void
video_sample_clear(gpointer data)
{
	gst_buffer_unref(((VideoSample *)data)->buffer);
}

static void
audio_sample_clear(gpointer data)
{
	gst_buffer_unref(((AudioSample *)data)->buffer);
}

VlgFmp4Muxer *
vlg_fmp4_muxer_new(VlgHub *source)
{
	VlgFmp4Muxer *muxer = g_new0(VlgFmp4Muxer, 1);

	ensure_debug_category();
	g_mutex_init(&muxer->lock);
	g_mutex_init(&muxer->mime_lock);
	muxer->hub = vlg_hub_ref(source);
	muxer->clients = g_ptr_array_new();
	muxer->vps = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	muxer->sps = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	muxer->pps = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	muxer->dts.pts = g_array_new(FALSE, FALSE, sizeof(gint64));
	muxer->video = g_array_new(FALSE, FALSE, sizeof(VideoSample));
	g_array_set_clear_func(muxer->video, video_sample_clear);
	muxer->audio = g_array_new(FALSE, FALSE, sizeof(AudioSample));
	g_array_set_clear_func(muxer->audio, audio_sample_clear);
	muxer->cache = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	muxer->rebase = TRUE;
	muxer->last_duration = DEFAULT_FRAME_DURATION;
	muxer->hold_until = G_MAXINT64;
	/* Last: the hub replays its caps and cached GOP from inside attach. */
	muxer->consumer = vlg_hub_attach(source, &consumer_funcs, muxer, NULL);
	return muxer;
}

VlgFmp4Muxer *
vlg_fmp4_muxer_free(VlgFmp4Muxer *muxer)
{
	if (!muxer)
		return NULL;
	/* Without the muxer's lock: the hub calls us with its lock held. */
	vlg_hub_detach(muxer->hub, muxer->consumer);
	for (guint i = 0; i < muxer->clients->len; i++) {
		VlgFmp4Client *client = muxer->clients->pdata[i];

		if (client->destroy)
			client->destroy(client->user_data);
		g_free(client);
	}
	g_ptr_array_unref(muxer->clients);
	g_ptr_array_unref(muxer->vps);
	g_ptr_array_unref(muxer->sps);
	g_ptr_array_unref(muxer->pps);
	g_array_unref(muxer->dts.pts);
	g_array_unref(muxer->video);
	g_array_unref(muxer->audio);
	g_ptr_array_unref(muxer->cache);
	g_clear_pointer(&muxer->aac_config, g_bytes_unref);
	g_clear_pointer(&muxer->init_aac_config, g_bytes_unref);
	g_clear_pointer(&muxer->init, g_bytes_unref);
	g_free(muxer->mime);
	vlg_hub_unref(muxer->hub);
	g_mutex_clear(&muxer->mime_lock);
	g_mutex_clear(&muxer->lock);
	g_free(muxer);
	return NULL;
}

void
vlg_fmp4_muxer_set_fragment_duration(VlgFmp4Muxer *muxer, guint ms)
{
	g_mutex_lock(&muxer->lock);
	muxer->fragment_ms = ms;
	g_mutex_unlock(&muxer->lock);
}

VlgFmp4Client *
vlg_fmp4_muxer_add_client(VlgFmp4Muxer *muxer, VlgFmp4Sink sink, gpointer user_data,
			  GDestroyNotify destroy)
{
	VlgFmp4Client *client = g_new0(VlgFmp4Client, 1);

	client->sink = sink;
	client->user_data = user_data;
	client->destroy = destroy;
	client->state = CLIENT_WAIT_INIT;
	g_mutex_lock(&muxer->lock);
	if (muxer->init) {
		deliver_init_unlocked(muxer, client);
		if (!muxer->holding)
			deliver_cache_unlocked(muxer, client);
	}
	g_ptr_array_add(muxer->clients, client);
	muxer->stats.clients = muxer->clients->len;
	g_mutex_unlock(&muxer->lock);
	return client;
}

void
vlg_fmp4_muxer_remove_client(VlgFmp4Muxer *muxer, VlgFmp4Client *client)
{
	gboolean found;

	g_mutex_lock(&muxer->lock);
	found = g_ptr_array_remove(muxer->clients, client);
	muxer->stats.clients = muxer->clients->len;
	g_mutex_unlock(&muxer->lock);
	g_return_if_fail(found);
	if (client->destroy)
		client->destroy(client->user_data);
	g_free(client);
}

char *
vlg_fmp4_muxer_get_mime(VlgFmp4Muxer *muxer)
{
	char *mime;

	g_mutex_lock(&muxer->mime_lock);
	mime = g_strdup(muxer->mime);
	g_mutex_unlock(&muxer->mime_lock);
	return mime;
}

void
vlg_fmp4_muxer_get_stats(VlgFmp4Muxer *muxer, VlgFmp4Stats *stats)
{
	g_mutex_lock(&muxer->lock);
	*stats = muxer->stats;
	g_mutex_unlock(&muxer->lock);
}
