/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/transcode-branch.h"

#include <gst/app/gstappsink.h>

#define GOP_SECONDS 2
/* The key profile of an H.265 camera: all-intra at constant quality, at most this often. */
#define KEY_MAX_FPS 1
#define KEY_QUALITY 26
/* Raw frames waiting for an encoder: past this the oldest is dropped (an encoder that falls
 * behind loses frames, not sync, and never stalls the decoder or the other profiles). */
#define BRANCH_QUEUE_FRAMES 3

/* The appsink callback holds a reference. */
struct _VlgTranscodeBranch {
	gint refcount;
	GMutex lock;
	gboolean live; /* guarded by lock: FALSE once silenced, nothing more reaches the hub */
	GstCaps *caps; /* guarded by lock: what the hub was last told */
	VlgHub *hub;
	GMainContext *context;
	/* Main loop only: */
	VlgTranscodeHost host; /* owner: a reference */
	GstElement *bin;       /* borrowed: in the pipeline until branch_finish removes it */
	GstPad *tee_pad;       /* borrowed: the tee's, until branch_finish releases it */
};

VlgTranscodeBranch *
vlg_transcode_branch_ref(VlgTranscodeBranch *branch)
{
	g_atomic_int_inc(&branch->refcount);
	return branch;
}

void
vlg_transcode_branch_unref(VlgTranscodeBranch *branch)
{
	if (!g_atomic_int_dec_and_test(&branch->refcount))
		return;
	gst_clear_caps(&branch->caps);
	vlg_hub_unref(branch->hub);
	g_main_context_unref(branch->context);
	if (branch->host.owner)
		branch->host.owner_unref(branch->host.owner);
	g_mutex_clear(&branch->lock);
	g_free(branch);
}

static void
branch_unref(gpointer data)
{
	vlg_transcode_branch_unref(data);
}

void
vlg_transcode_branch_silence(VlgTranscodeBranch *branch)
{
	g_mutex_lock(&branch->lock);
	branch->live = FALSE;
	g_mutex_unlock(&branch->lock);
}

/* ---- encoder threads: a branch's appsink ---------------------------------------------------- */

/* The encoded frame in the camera's time: its running time (see DECODER_TIME_OFFSET in
 * transcoder.c). */
static GstBuffer *
to_camera_time(GstBuffer *buffer, const GstSegment *segment)
{
	buffer = gst_buffer_copy(buffer);
	if (segment && segment->format == GST_FORMAT_TIME) {
		GST_BUFFER_PTS(buffer) = gst_segment_to_running_time(segment, GST_FORMAT_TIME,
								     GST_BUFFER_PTS(buffer));
		GST_BUFFER_DTS(buffer) = gst_segment_to_running_time(segment, GST_FORMAT_TIME,
								     GST_BUFFER_DTS(buffer));
	}
	return buffer;
}

static GstFlowReturn
on_encoded(GstAppSink *sink, gpointer data)
{
	VlgTranscodeBranch *branch = data;
	g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
	GstCaps *caps;
	GstBuffer *buffer;

	if (!sample)
		return GST_FLOW_EOS;
	caps = gst_sample_get_caps(sample);
	buffer = gst_sample_get_buffer(sample);
	g_mutex_lock(&branch->lock);
	if (branch->live) {
		if (caps && (!branch->caps || !gst_caps_is_equal(caps, branch->caps))) {
			gst_caps_replace(&branch->caps, caps);
			vlg_hub_set_caps(branch->hub, VLG_TRACK_VIDEO, caps);
		}
		if (buffer)
			vlg_hub_push(branch->hub, VLG_TRACK_VIDEO,
				     to_camera_time(buffer, gst_sample_get_segment(sample)));
	}
	g_mutex_unlock(&branch->lock);
	return GST_FLOW_OK;
}

/* ---- main loop: building branches ---------------------------------------------------------- */

/* A branch's elements in order, built into @bin; missing tells whether a factory was absent. */
typedef struct {
	GstElement *bin;
	GPtrArray *elements;
	gboolean missing;
} Chain;

static GstElement *
chain_add(Chain *chain, const char *factory)
{
	GstElement *element = gst_element_factory_make(factory, NULL);

	if (!element) {
		chain->missing = TRUE;
		return NULL;
	}
	gst_bin_add(GST_BIN(chain->bin), element);
	g_ptr_array_add(chain->elements, element);
	return element;
}

static void
chain_add_capsfilter(Chain *chain, GstCaps *caps)
{
	GstElement *filter = chain_add(chain, "capsfilter");

	if (filter)
		g_object_set(filter, "caps", caps, NULL);
	gst_caps_unref(caps);
}

static guint
caps_fps(GstCaps *caps)
{
	gint n = 0, d = 1;

	if (caps &&
	    gst_structure_get_fraction(gst_caps_get_structure(caps, 0), "framerate", &n, &d) &&
	    n > 0 && d > 0)
		return (guint)MAX(1, (n + d / 2) / d);
	return 25;
}

static void
configure_encoder(const VlgTranscoderSettings *s, GstElement *enc, const VlgTranscodeRecipe *recipe,
		  GstCaps *camera_caps)
{
	gst_util_set_object_arg(G_OBJECT(enc), "tune", "zerolatency");
	gst_util_set_object_arg(G_OBJECT(enc), "speed-preset", s->speed_preset);
	g_object_set(enc, "bframes", 0, "b-adapt", FALSE, "threads", s->encoder_threads,
		     "sliced-threads", s->sliced_threads, NULL);
	switch (recipe->kind) {
	case VLG_TRANSCODE_SCALED:
		g_object_set(enc, "bitrate", recipe->bitrate_kbps, "key-int-max",
			     recipe->fps * GOP_SECONDS, NULL);
		break;
	case VLG_TRANSCODE_MAIN:
		g_object_set(enc, "bitrate", s->main_bitrate_kbps, "key-int-max",
			     caps_fps(camera_caps) * GOP_SECONDS, NULL);
		break;
	case VLG_TRANSCODE_KEY:
		/* Constant quality: the frames come at the camera's GOP rate or 1/s, and a bit
		 * rate spread over the caps' frame rate would starve them. The bit rate caps VBV.
		 */
		gst_util_set_object_arg(G_OBJECT(enc), "pass", "qual");
		g_object_set(enc, "quantizer", KEY_QUALITY, "key-int-max", 1, "bitrate",
			     s->main_bitrate_kbps, "vbv-buf-capacity", 1000 / KEY_MAX_FPS, NULL);
		break;
	}
}

/* The raw side of a branch: rate, queue, size and format before the encoder. */
static void
chain_add_raw(Chain *chain, const VlgTranscodeRecipe *recipe)
{
	GstElement *rate = NULL, *queue;
	GstCaps *raw = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "I420", NULL);

	/* The rate first, on the decoder's thread: frames it drops are never queued nor scaled. */
	if (recipe->kind != VLG_TRANSCODE_MAIN)
		rate = chain_add(chain, "videorate");
	/* drop-only also with max-rate: alone, it duplicates a keyframe that comes every 2 s. */
	if (rate)
		g_object_set(rate, "drop-only", TRUE, NULL);
	if (rate && recipe->kind == VLG_TRANSCODE_KEY)
		g_object_set(rate, "max-rate", KEY_MAX_FPS, NULL);
	queue = chain_add(chain, "queue");
	if (queue)
		g_object_set(queue, "leaky", 2 /* downstream: drop the oldest */,
			     "max-size-buffers", BRANCH_QUEUE_FRAMES, "max-size-bytes", 0,
			     "max-size-time", (guint64)0, "silent", TRUE, NULL);
	if (recipe->kind == VLG_TRANSCODE_SCALED) {
		chain_add(chain, "videoscale");
		gst_caps_set_simple(raw, "width", G_TYPE_INT, recipe->width, "height", G_TYPE_INT,
				    recipe->height, "framerate", GST_TYPE_FRACTION, recipe->fps, 1,
				    "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
	}
	/* Passthrough unless the decoder gives other than 8-bit 4:2:0 (10-bit H.265). */
	chain_add(chain, "videoconvert");
	chain_add_capsfilter(chain, raw);
}

static gboolean
chain_link(Chain *chain)
{
	g_autoptr(GstPad) first_sink = NULL;

	for (guint i = 0; i + 1 < chain->elements->len; i++)
		if (!gst_element_link(chain->elements->pdata[i], chain->elements->pdata[i + 1]))
			return FALSE;
	first_sink = gst_element_get_static_pad(chain->elements->pdata[0], "sink");
	return gst_element_add_pad(chain->bin, gst_ghost_pad_new("sink", first_sink));
}

/* A bin (sink pad "sink") that encodes one profile into @branch's hub, or NULL. */
static GstElement *
build_branch_bin(const VlgTranscoderSettings *settings, VlgTranscodeBranch *branch,
		 const VlgTranscodeRecipe *recipe, GstCaps *camera_caps)
{
	g_autoptr(GPtrArray) elements = g_ptr_array_new();
	Chain chain = { gst_object_ref_sink(gst_bin_new(recipe->name)), elements, FALSE };
	GstAppSinkCallbacks callbacks = { .new_sample = on_encoded };
	GstElement *enc, *parse, *sink;

	chain_add_raw(&chain, recipe);
	enc = chain_add(&chain, "x264enc");
	if (enc)
		configure_encoder(settings, enc, recipe, camera_caps);
	/* Constrained baseline: no CABAC, no 8x8 transform, no B-frames; every browser decodes it.
	 */
	chain_add_capsfilter(&chain,
			     gst_caps_from_string("video/x-h264,profile=constrained-baseline"));
	parse = chain_add(&chain, "h264parse");
	if (parse)
		g_object_set(parse, "config-interval", -1, NULL);
	chain_add_capsfilter(&chain, gst_caps_from_string("video/x-h264,stream-format=byte-stream,"
							  "alignment=au"));
	sink = chain_add(&chain, "appsink");
	if (sink) {
		g_object_set(sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE,
			     NULL);
		gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks,
					   vlg_transcode_branch_ref(branch), branch_unref);
	}
	if (chain.missing || !chain_link(&chain)) {
		gst_object_unref(chain.bin);
		return NULL;
	}
	return chain.bin;
}

VlgTranscodeBranch *
vlg_transcode_branch_new(const VlgTranscodeRecipe *recipe, const VlgTranscoderSettings *settings,
			 GstCaps *camera_caps, VlgHub *hub, GMainContext *context,
			 const VlgTranscodeHost *host, gboolean *linked)
{
	VlgTranscodeBranch *branch = g_new0(VlgTranscodeBranch, 1);
	g_autoptr(GstPad) tee_pad = NULL;
	g_autoptr(GstPad) sink_pad = NULL;

	branch->refcount = 1;
	g_mutex_init(&branch->lock);
	branch->live = TRUE;
	branch->hub = vlg_hub_ref(hub);
	branch->context = g_main_context_ref(context);
	branch->host = *host;
	branch->host.owner = host->owner_ref(host->owner);
	branch->bin = build_branch_bin(settings, branch, recipe, camera_caps);
	if (!branch->bin) {
		vlg_transcode_branch_unref(branch);
		return NULL;
	}
	/* The pipeline holds the bin from here on; ours becomes a borrowed pointer. */
	gst_bin_add(GST_BIN(host->pipeline), branch->bin);
	gst_object_unref(branch->bin);
	/* Playing before linking: a frame must never reach an element still in NULL. */
	gst_element_sync_state_with_parent(branch->bin);
	tee_pad = gst_element_request_pad_simple(host->tee, "src_%u");
	sink_pad = gst_element_get_static_pad(branch->bin, "sink");
	branch->tee_pad = tee_pad;
	*linked = gst_pad_link(tee_pad, sink_pad) == GST_PAD_LINK_OK;
	return branch;
}

/* ---- main loop: detaching ------------------------------------------------------------------- */

/* Main loop, after the IDLE probe unlinked the branch: take it out of the pipeline. */
static gboolean
branch_finish(gpointer data)
{
	VlgTranscodeBranch *branch = data;

	/* A stopped decoder took the branch with it to the teardown worker. */
	if (branch->host.owner_stopped(branch->host.owner))
		return G_SOURCE_REMOVE;
	gst_element_release_request_pad(branch->host.tee, branch->tee_pad);
	gst_element_set_state(branch->bin, GST_STATE_NULL);
	gst_bin_remove(GST_BIN(branch->host.pipeline), branch->bin);
	return G_SOURCE_REMOVE;
}

static GstPadProbeReturn
branch_unlink(GstPad *tee_pad, GstPadProbeInfo *info, gpointer data)
{
	VlgTranscodeBranch *branch = data;
	g_autoptr(GstPad) peer = gst_pad_get_peer(tee_pad);
	GSource *source = g_idle_source_new();

	if (peer)
		gst_pad_unlink(tee_pad, peer);
	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, branch_finish, vlg_transcode_branch_ref(branch),
			      branch_unref);
	g_source_attach(source, branch->context);
	g_source_unref(source);
	return GST_PAD_PROBE_REMOVE;
}

void
vlg_transcode_branch_detach(VlgTranscodeBranch *branch)
{
	/* Unlinked when no buffer is in flight on the tee's pad; the probe takes our reference. */
	gst_pad_add_probe(branch->tee_pad, GST_PAD_PROBE_TYPE_IDLE, branch_unlink, branch,
			  branch_unref);
}
