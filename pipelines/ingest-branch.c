/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/ingest-branch.h"

#include <gst/app/gstappsink.h>
#include <gst/rtp/gstrtpbuffer.h>

GST_DEBUG_CATEGORY_STATIC(vlg_branch_debug);
#define GST_CAT_DEFAULT vlg_branch_debug

typedef struct {
	gint refcount;
	VlgHub *hub;
	char *camera_id;
	void (*saw_data)(gpointer data);
	gpointer data;
	GDestroyNotify destroy;
} Branches;

/* One per appsink: which track it feeds and the caps it last told the hub. */
typedef struct {
	Branches *branches;
	VlgTrack track;
	GstCaps *caps;
	GstClockTime last_pts; /* of the track's last stamped buffer */
} SinkContext;

typedef struct {
	const char *encoding; /* RTP encoding-name */
	VlgTrack track;
	const char *depayloader;
	const char *parser;      /* or NULL */
	const char *output_caps; /* or NULL */
} BranchRecipe;

static const BranchRecipe recipes[] = {
	{ "H264", VLG_TRACK_VIDEO, "rtph264depay", "h264parse",
	  "video/x-h264,stream-format=byte-stream,alignment=au" },
	{ "H265", VLG_TRACK_VIDEO, "rtph265depay", "h265parse",
	  "video/x-h265,stream-format=byte-stream,alignment=au" },
	{ "PCMA", VLG_TRACK_AUDIO, "rtppcmadepay", NULL, NULL },
	{ "PCMU", VLG_TRACK_AUDIO, "rtppcmudepay", NULL, NULL },
	{ "MPEG4-GENERIC", VLG_TRACK_AUDIO, "rtpmp4gdepay", "aacparse", NULL },
	{ "MP4A-LATM", VLG_TRACK_AUDIO, "rtpmp4adepay", "aacparse", NULL },
};

static Branches *
branches_ref(Branches *branches)
{
	g_atomic_int_inc(&branches->refcount);
	return branches;
}

static void
branches_unref(gpointer data, GClosure *closure)
{
	Branches *branches = data;

	if (!g_atomic_int_dec_and_test(&branches->refcount))
		return;
	if (branches->destroy)
		branches->destroy(branches->data);
	vlg_hub_unref(branches->hub);
	g_free(branches->camera_id);
	g_free(branches);
}

static void
sink_context_free(gpointer data)
{
	SinkContext *context = data;

	gst_clear_caps(&context->caps);
	branches_unref(context->branches, NULL);
	g_free(context);
}

gboolean
vlg_ingest_h264_payload_is_refused(const guint8 *payload, gsize size)
{
	guint nal_type;

	if (size < 1)
		return TRUE;
	nal_type = payload[0] & 0x1f;
	/* MTAP16/MTAP24 belong to packetization-mode 2, which we refuse; rtph264depay's handling of
	 * them was the subject of an out-of-bounds read report. */
	return nal_type == 26 || nal_type == 27;
}

static gboolean
rtp_buffer_is_refused(GstBuffer *buffer)
{
	GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
	gboolean refused;

	if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp))
		return TRUE;
	refused = vlg_ingest_h264_payload_is_refused(gst_rtp_buffer_get_payload(&rtp),
						     gst_rtp_buffer_get_payload_len(&rtp));
	gst_rtp_buffer_unmap(&rtp);
	return refused;
}

static gboolean
drop_refused_from_list(GstBuffer **buffer, guint idx, gpointer user_data)
{
	if (rtp_buffer_is_refused(*buffer))
		gst_clear_buffer(buffer);
	return TRUE;
}

static GstPadProbeReturn
filter_h264_rtp(GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
	if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
		return rtp_buffer_is_refused(GST_PAD_PROBE_INFO_BUFFER(info)) ?
			       GST_PAD_PROBE_DROP :
			       GST_PAD_PROBE_OK;
	if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
		GstBufferList *list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));

		gst_buffer_list_foreach(list, drop_refused_from_list, NULL);
		GST_PAD_PROBE_INFO_DATA(info) = list;
	}
	return GST_PAD_PROBE_OK;
}

/* A new reference to @buffer, with a timestamp. After a connect, rtph264depay sends the
 * parameter sets as an access unit of their own and h264parse leaves the keyframe that follows,
 * which has the same RTP timestamp, without one: consumers that need time (the fMP4 muxer, the
 * transcoder) would drop that keyframe and wait a whole GOP. It gets the time it shares. */
static GstBuffer *
stamped(SinkContext *context, GstBuffer *buffer)
{
	GstBuffer *copy;

	if (GST_BUFFER_PTS_IS_VALID(buffer)) {
		context->last_pts = GST_BUFFER_PTS(buffer);
		return gst_buffer_ref(buffer);
	}
	if (GST_BUFFER_DTS_IS_VALID(buffer) || !GST_CLOCK_TIME_IS_VALID(context->last_pts))
		return gst_buffer_ref(buffer);
	copy = gst_buffer_copy(buffer); /* metadata only: the memory is shared */
	GST_BUFFER_PTS(copy) = context->last_pts;
	return copy;
}

static GstFlowReturn
on_new_sample(GstAppSink *sink, gpointer data)
{
	SinkContext *context = data;
	g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
	GstCaps *caps;
	GstBuffer *buffer;

	if (!sample)
		return GST_FLOW_EOS;
	caps = gst_sample_get_caps(sample);
	buffer = gst_sample_get_buffer(sample);
	if (caps && caps != context->caps) {
		gst_caps_replace(&context->caps, caps);
		vlg_hub_set_caps(context->branches->hub, context->track, caps);
	}
	if (buffer) {
		vlg_hub_push(context->branches->hub, context->track, stamped(context, buffer));
		context->branches->saw_data(context->branches->data);
	}
	return GST_FLOW_OK;
}

static void
post_unsupported(GstElement *rtspsrc, const char *reason)
{
	GstStructure *details = gst_structure_new(VLG_INGEST_UNSUPPORTED_MESSAGE, "reason",
						  G_TYPE_STRING, reason, NULL);

	gst_element_post_message(rtspsrc, gst_message_new_application(GST_OBJECT(rtspsrc), details));
}

static GstElement *
make_appsink(Branches *branches, VlgTrack track)
{
	GstElement *sink = gst_element_factory_make("appsink", NULL);
	GstAppSinkCallbacks callbacks = { .new_sample = on_new_sample };
	SinkContext *context = g_new0(SinkContext, 1);

	context->branches = branches_ref(branches);
	context->track = track;
	context->last_pts = GST_CLOCK_TIME_NONE;
	g_object_set(sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, NULL);
	gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, context, sink_context_free);
	return sink;
}

/* Adds and links @elements (NULL-terminated, all non-NULL) after @pad; FALSE if a link fails. */
static gboolean
add_chain(GstElement *rtspsrc, GstPad *pad, GstElement **elements, guint count)
{
	GstBin *bin = GST_BIN(gst_element_get_parent(rtspsrc));
	g_autoptr(GstPad) sinkpad = NULL;
	gboolean ok = TRUE;

	for (guint i = 0; i < count; i++)
		gst_bin_add(bin, elements[i]);
	for (guint i = 0; i + 1 < count && ok; i++)
		ok = gst_element_link(elements[i], elements[i + 1]);
	for (guint i = count; i > 0; i--)
		gst_element_sync_state_with_parent(elements[i - 1]);
	sinkpad = gst_element_get_static_pad(elements[0], "sink");
	if (ok)
		ok = gst_pad_link(pad, sinkpad) == GST_PAD_LINK_OK;
	gst_object_unref(bin);
	return ok;
}

static void
discard_pad(GstElement *rtspsrc, GstPad *pad)
{
	GstElement *sink = gst_element_factory_make("fakesink", NULL);

	g_object_set(sink, "sync", FALSE, "async", FALSE, NULL);
	add_chain(rtspsrc, pad, &sink, 1);
}

static const BranchRecipe *
find_recipe(const char *encoding)
{
	for (guint i = 0; encoding && i < G_N_ELEMENTS(recipes); i++)
		if (g_ascii_strcasecmp(recipes[i].encoding, encoding) == 0)
			return &recipes[i];
	return NULL;
}

static gboolean
refuse_packetization(const GstStructure *s, const BranchRecipe *recipe, char **reason)
{
	const char *mode = gst_structure_get_string(s, "packetization-mode");

	if (g_strcmp0(recipe->encoding, "H264") != 0 || g_strcmp0(mode, "2") != 0)
		return FALSE;
	*reason = g_strdup("H.264 packetization-mode=2 (interleaved) is not accepted");
	return TRUE;
}

static void
build_branch(GstElement *rtspsrc, GstPad *pad, Branches *branches, const GstStructure *s,
	     const BranchRecipe *recipe)
{
	GstElement *elements[4];
	guint count = 0;
	g_autofree char *reason = NULL;

	if (refuse_packetization(s, recipe, &reason)) {
		post_unsupported(rtspsrc, reason);
		return;
	}
	elements[count++] = gst_element_factory_make(recipe->depayloader, NULL);
	if (recipe->parser) {
		elements[count++] = gst_element_factory_make(recipe->parser, NULL);
		if (recipe->track == VLG_TRACK_VIDEO)
			/* SPS/PPS before every keyframe: each keyframe in the hub starts a stream. */
			g_object_set(elements[count - 1], "config-interval", -1, NULL);
	}
	if (recipe->output_caps) {
		g_autoptr(GstCaps) caps = gst_caps_from_string(recipe->output_caps);

		elements[count] = gst_element_factory_make("capsfilter", NULL);
		if (elements[count])
			g_object_set(elements[count], "caps", caps, NULL);
		count++;
	}
	elements[count++] = make_appsink(branches, recipe->track);
	for (guint i = 0; i < count; i++) {
		if (!elements[i]) {
			post_unsupported(rtspsrc, "a GStreamer element is missing (install the "
						  "gstreamer1.0-plugins-* packages)");
			return;
		}
	}
	if (g_str_equal(recipe->encoding, "H264")) {
		g_autoptr(GstPad) depay_sink = gst_element_get_static_pad(elements[0], "sink");

		gst_pad_add_probe(depay_sink,
				  GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
				  filter_h264_rtp, NULL, NULL);
	}
	if (!add_chain(rtspsrc, pad, elements, count))
		post_unsupported(rtspsrc, "the stream's format could not be linked");
}

static void
on_pad_added(GstElement *rtspsrc, GstPad *pad, gpointer data)
{
	Branches *branches = data;
	g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
	const GstStructure *s = caps ? gst_caps_get_structure(caps, 0) : NULL;
	const char *media = s ? gst_structure_get_string(s, "media") : NULL;
	const char *encoding = s ? gst_structure_get_string(s, "encoding-name") : NULL;
	const BranchRecipe *recipe = find_recipe(encoding);
	g_autofree char *reason = NULL;

	GST_DEBUG("%s: new stream %" GST_PTR_FORMAT, branches->camera_id, caps);
	if (recipe && g_strcmp0(media, recipe->track == VLG_TRACK_VIDEO ? "video" : "audio") == 0) {
		build_branch(rtspsrc, pad, branches, s, recipe);
		return;
	}
	if (g_strcmp0(media, "video") == 0) {
		reason = g_strdup_printf("video encoding %s is not supported (H.264 or H.265 only)",
					 encoding ? encoding : "(none)");
		post_unsupported(rtspsrc, reason);
	}
	/* Unsupported audio, metadata, ONVIF tracks: consumed and dropped. */
	discard_pad(rtspsrc, pad);
}

void
vlg_ingest_branch_connect(GstElement *rtspsrc, VlgHub *hub, const char *camera_id,
			  void (*saw_data)(gpointer data), gpointer data, GDestroyNotify destroy)
{
	Branches *branches = g_new0(Branches, 1);

	if (!vlg_branch_debug)
		GST_DEBUG_CATEGORY_INIT(vlg_branch_debug, "vlg-ingest-branch", 0,
					"linkage-gateway ingest branches");
	branches->refcount = 1;
	branches->hub = vlg_hub_ref(hub);
	branches->camera_id = g_strdup(camera_id);
	branches->saw_data = saw_data;
	branches->data = data;
	branches->destroy = destroy;
	g_signal_connect_data(rtspsrc, "pad-added", G_CALLBACK(on_pad_added), branches,
			      branches_unref, 0);
}
