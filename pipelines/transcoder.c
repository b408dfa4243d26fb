/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/transcoder.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <string.h>

#include "config/vlg-error.h"
#include "pipelines/teardown.h"

GST_DEBUG_CATEGORY_STATIC(vlg_transcoder_debug);
#define GST_CAT_DEFAULT vlg_transcoder_debug

#define DEFAULT_SPEED_PRESET "superfast"
#define GOP_SECONDS 2
/* The key profile of an H.265 camera: all-intra at constant quality, at most this often. */
#define KEY_MAX_FPS 1
#define KEY_QUALITY 26
/* Raw frames waiting for an encoder: past this the oldest is dropped (an encoder that falls
 * behind loses frames, not sync, and never stalls the decoder or the other profiles). */
#define BRANCH_QUEUE_FRAMES 3
/* Access units waiting for the decoder: past this we drop until the next keyframe. */
#define INPUT_MAX_QUEUED 100
/* The GOP kept to start a new decoder at once, bounded like the hub's keyframe cache. */
#define GOP_MAX_BUFFERS 600
#define GOP_MAX_BYTES (8u * 1024 * 1024)
#define ERROR_RETRY_MS 1000
/* Timestamps in the decoder pipeline are the camera's + 1000 h, in a segment that starts there
 * (so running time is the camera's time). x264enc and the h26Xtimestampers shift any stream that
 * starts below 1000 h (so that DTS never go negative), each in its own way, and the timestampers
 * re-base it on its first frame without telling the segment; a stream above it they leave be. */
#define DECODER_TIME_OFFSET (G_GUINT64_CONSTANT(1000) * 3600 * GST_SECOND)

static gint running_encoders;
static gint running_decoders;

typedef enum {
	CODEC_NONE,
	CODEC_H264,
	CODEC_H265,
} Codec;

typedef enum {
	OUTPUT_SCALED, /* width, height, fps, bit rate */
	OUTPUT_MAIN,   /* passthrough asked of a transcoder: the camera's own size and rate */
	OUTPUT_KEY,    /* keyframes: forwarded (H.264) or encoded all-intra (H.265) */
} OutputKind;

typedef struct _Decoder Decoder;

/* The camera's side, shared with its streaming thread (the hub consumer holds a reference). */
typedef struct {
	gint refcount;
	GMainContext *context;
	VlgTranscoder *transcoder; /* main loop only; NULL once the transcoder is freed */
	gint reconcile_pending;    /* atomic */
	char *camera_id;

	GMutex lock;
	/* Guarded by lock: */
	GstCaps *caps;      /* the camera's video caps; NULL until known and after a reset */
	guint generation;   /* bumped when the running decoder became unusable */
	GPtrArray *gop;     /* of GstBuffer*, since the last keyframe */
	gboolean gop_valid; /* gop starts on a keyframe */
	gsize gop_bytes;
	GstAppSrc *appsrc;       /* the running decoder's input, or NULL */
	gboolean keyframes_only; /* feed the decoder keyframes only */
	gboolean need_keyframe;  /* feed it nothing before the next keyframe */
	GstClockTime fed_pts;    /* of the last access unit fed */
	gboolean segment_sent;   /* the decoder's input has its segment (DECODER_TIME_OFFSET) */
	GPtrArray *branches;     /* of Branch*, the running decoder's: silenced on reset */
	GPtrArray *forward_hubs; /* of VlgHub*, key profiles fed the camera's own keyframes */
	GPtrArray *hubs;         /* of VlgHub*, every profile's: reset with the camera */
	guint64 frames_in;
	guint64 frames_dropped;
} Core;

/* One profile's encoder in the decoder pipeline. The appsink callback holds a reference. */
typedef struct {
	gint refcount;
	GMutex lock;
	gboolean live; /* guarded by lock: FALSE once silenced, nothing more reaches the hub */
	GstCaps *caps; /* guarded by lock: what the hub was last told */
	VlgHub *hub;
	GMainContext *context;
	/* Main loop only: */
	Decoder *decoder; /* a reference */
	GstElement *bin;  /* borrowed: in decoder's pipeline until branch_finish removes it */
	GstPad *tee_pad;  /* borrowed: the tee's, until branch_finish releases it */
} Branch;

/* Main loop only, but for the reference count: a branch may drop the last one on the teardown
 * worker. */
struct _Decoder {
	gint refcount;             /* atomic */
	VlgTranscoder *transcoder; /* until stopped */
	GstElement *pipeline;      /* until stopped: then the teardown worker's */
	GstElement *tee;           /* borrowed from the pipeline */
	GstAppSrc *appsrc;         /* a reference, until stopped */
	guint generation;          /* the Core generation it was built in */
	Codec codec;               /* the camera format it was built for */
	gint width;
	gint height;
	gboolean playing;
	gboolean feeding; /* its appsrc was handed to the Core */
	gboolean failed;  /* an error came: rebuild */
	gboolean stopped;
};

typedef struct {
	char *name;
	OutputKind kind;
	guint width;
	guint height;
	guint fps;
	guint bitrate_kbps;
	guint users;
	VlgHub *hub;
	Branch *branch;      /* in the running decoder, or NULL */
	gboolean forwarding; /* a key profile fed the camera's own keyframes */
} Output;

struct _VlgTranscoder {
	Core *core;
	VlgCamera *camera;
	VlgTranscoderSettings settings; /* speed_preset owned */
	VlgHubConsumer *consumer;       /* while any profile is acquired */
	GPtrArray *outputs;             /* of Output* */
	Decoder *decoder;
	gint64 retry_after_us; /* no decoder before this, after an error */
	guint retry_source;
	guint decoder_starts;
	guint decoder_errors;
};

static void schedule_reconcile(Core *core);

/* ---- shared pieces ------------------------------------------------------------------------- */

static Core *
core_ref(Core *core)
{
	g_atomic_int_inc(&core->refcount);
	return core;
}

static void
gop_clear_unlocked(Core *core)
{
	g_ptr_array_set_size(core->gop, 0);
	core->gop_bytes = 0;
	core->gop_valid = FALSE;
}

static void
core_unref(gpointer data)
{
	Core *core = data;

	if (!g_atomic_int_dec_and_test(&core->refcount))
		return;
	gst_clear_caps(&core->caps);
	g_ptr_array_unref(core->gop);
	gst_clear_object(&core->appsrc);
	g_ptr_array_unref(core->branches);
	g_ptr_array_unref(core->forward_hubs);
	g_ptr_array_unref(core->hubs);
	g_main_context_unref(core->context);
	g_mutex_clear(&core->lock);
	g_free(core->camera_id);
	g_free(core);
}

static Branch *
branch_ref(Branch *branch)
{
	g_atomic_int_inc(&branch->refcount);
	return branch;
}

static void decoder_unref(Decoder *decoder);

static void
branch_unref(gpointer data)
{
	Branch *branch = data;

	if (!g_atomic_int_dec_and_test(&branch->refcount))
		return;
	gst_clear_caps(&branch->caps);
	vlg_hub_unref(branch->hub);
	g_main_context_unref(branch->context);
	if (branch->decoder)
		decoder_unref(branch->decoder);
	g_mutex_clear(&branch->lock);
	g_free(branch);
}

/* After this returns, the branch pushes nothing more into its hub. */
static void
branch_silence(Branch *branch)
{
	g_mutex_lock(&branch->lock);
	branch->live = FALSE;
	g_mutex_unlock(&branch->lock);
}

static Decoder *
decoder_ref(Decoder *decoder)
{
	g_atomic_int_inc(&decoder->refcount);
	return decoder;
}

static void
decoder_unref(Decoder *decoder)
{
	if (!g_atomic_int_dec_and_test(&decoder->refcount))
		return;
	g_assert(decoder->stopped);
	g_free(decoder);
}

static Codec
caps_codec(GstCaps *caps, gint *width, gint *height)
{
	const GstStructure *s;

	*width = *height = 0;
	if (!caps || gst_caps_is_empty(caps))
		return CODEC_NONE;
	s = gst_caps_get_structure(caps, 0);
	gst_structure_get_int(s, "width", width);
	gst_structure_get_int(s, "height", height);
	if (gst_structure_has_name(s, "video/x-h264"))
		return CODEC_H264;
	if (gst_structure_has_name(s, "video/x-h265"))
		return CODEC_H265;
	return CODEC_NONE;
}

gboolean
vlg_transcoder_needs_transcode(GstCaps *video_caps, gboolean has_b_frames)
{
	gint width, height;

	if (!video_caps)
		return FALSE;
	return caps_codec(video_caps, &width, &height) == CODEC_H265 || has_b_frames;
}

guint
vlg_transcoder_running_encoders(void)
{
	return (guint)g_atomic_int_get(&running_encoders);
}

guint
vlg_transcoder_running_decoders(void)
{
	return (guint)g_atomic_int_get(&running_decoders);
}

/* ---- the camera's streaming thread: hub consumer callbacks (camera hub lock held) ---------- */

/* The decoder in the Core is unusable (reset, new codec or size): stop feeding it and silence
 * its branches; the main loop sees the new generation and rebuilds. */
static void
core_drop_decoder_unlocked(Core *core)
{
	gst_clear_object(&core->appsrc);
	for (guint i = 0; i < core->branches->len; i++)
		branch_silence(core->branches->pdata[i]);
	g_ptr_array_set_size(core->branches, 0);
	core->generation++;
}

static void
feed_unlocked(Core *core, GstBuffer *buffer, gboolean check_level)
{
	gboolean keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);

	if (!core->appsrc)
		return;
	if (keyframe)
		core->need_keyframe = FALSE;
	if (core->need_keyframe || (core->keyframes_only && !keyframe))
		return;
	if (check_level &&
	    gst_app_src_get_current_level_buffers(core->appsrc) >= INPUT_MAX_QUEUED) {
		/* A decoder that cannot keep up restarts at the next keyframe: a delta without its
		 * references would only make garbage. */
		GST_DEBUG("%s: decoder behind, dropping to the next keyframe", core->camera_id);
		core->need_keyframe = TRUE;
		core->frames_dropped++;
		return;
	}
	GST_LOG("%s: feeding %" GST_PTR_FORMAT, core->camera_id, buffer);
	buffer = gst_buffer_copy(buffer); /* metadata only: the memory is shared */
	/* The first access unit after a connect comes without PTS; the timestamper would then
	 * re-base the stream, and the decoder make one up at 0 anyway. */
	if (!GST_BUFFER_PTS_IS_VALID(buffer))
		GST_BUFFER_PTS(buffer) =
			!GST_CLOCK_TIME_IS_VALID(core->fed_pts)
				? 0
				: core->fed_pts + (GST_BUFFER_DURATION_IS_VALID(buffer)
							   ? GST_BUFFER_DURATION(buffer)
							   : 40 * GST_MSECOND);
	core->fed_pts = GST_BUFFER_PTS(buffer);
	GST_BUFFER_PTS(buffer) += DECODER_TIME_OFFSET;
	if (GST_BUFFER_DTS_IS_VALID(buffer))
		GST_BUFFER_DTS(buffer) += DECODER_TIME_OFFSET;
	if (!core->segment_sent) {
		GstSegment segment;
		g_autoptr(GstSample) sample = NULL;

		gst_segment_init(&segment, GST_FORMAT_TIME);
		segment.start = DECODER_TIME_OFFSET;
		sample = gst_sample_new(buffer, core->caps, &segment, NULL);
		gst_app_src_push_sample(core->appsrc, sample);
		gst_buffer_unref(buffer);
		core->segment_sent = TRUE;
	} else {
		gst_app_src_push_buffer(core->appsrc, buffer);
	}
	core->frames_in++;
}

static void
gop_add_unlocked(Core *core, GstBuffer *buffer)
{
	if (!GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT)) {
		gop_clear_unlocked(core);
		core->gop_valid = TRUE;
	}
	if (!core->gop_valid)
		return;
	g_ptr_array_add(core->gop, gst_buffer_ref(buffer));
	core->gop_bytes += gst_buffer_get_size(buffer);
	if (core->gop->len > GOP_MAX_BUFFERS || core->gop_bytes > GOP_MAX_BYTES)
		gop_clear_unlocked(core);
}

static gboolean
same_format(GstCaps *a, GstCaps *b)
{
	gint wa, ha, wb, hb;

	return caps_codec(a, &wa, &ha) == caps_codec(b, &wb, &hb) && wa == wb && ha == hb;
}

static void
on_camera_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	Core *core = data;
	gint width, height;
	Codec codec;

	if (track != VLG_TRACK_VIDEO)
		return;
	codec = caps_codec(caps, &width, &height);
	g_mutex_lock(&core->lock);
	/* Another codec or size: whatever decoder runs or is being built is for the old one. */
	if (core->caps && !same_format(core->caps, caps))
		core_drop_decoder_unlocked(core);
	else if (core->appsrc)
		gst_app_src_set_caps(core->appsrc, caps);
	gst_caps_replace(&core->caps, caps);
	gop_clear_unlocked(core);
	/* Key profiles forward only H.264; the main loop moves them to a decoder otherwise. */
	for (guint i = 0; i < core->forward_hubs->len; i++)
		if (codec == CODEC_H264)
			vlg_hub_set_caps(core->forward_hubs->pdata[i], VLG_TRACK_VIDEO, caps);
	if (codec != CODEC_H264)
		g_ptr_array_set_size(core->forward_hubs, 0);
	g_mutex_unlock(&core->lock);
	GST_DEBUG("%s: camera caps %" GST_PTR_FORMAT, core->camera_id, caps);
	schedule_reconcile(core);
}

static void
on_camera_buffer(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	Core *core = data;
	gboolean keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);

	if (track != VLG_TRACK_VIDEO)
		return;
	g_mutex_lock(&core->lock);
	gop_add_unlocked(core, buffer);
	if (keyframe)
		for (guint i = 0; i < core->forward_hubs->len; i++)
			vlg_hub_push(core->forward_hubs->pdata[i], VLG_TRACK_VIDEO,
				     gst_buffer_ref(buffer));
	feed_unlocked(core, buffer, TRUE);
	g_mutex_unlock(&core->lock);
}

static void
on_camera_reset(gpointer data)
{
	Core *core = data;

	g_mutex_lock(&core->lock);
	gst_clear_caps(&core->caps);
	gop_clear_unlocked(core);
	core_drop_decoder_unlocked(core);
	/* Under the lock: once the profile hubs are reset, no frame of the old stream follows. */
	for (guint i = 0; i < core->hubs->len; i++)
		vlg_hub_reset(core->hubs->pdata[i]);
	g_mutex_unlock(&core->lock);
	GST_DEBUG("%s: camera reset", core->camera_id);
	schedule_reconcile(core);
}

static const VlgHubConsumerFuncs camera_funcs = { on_camera_caps, on_camera_buffer,
						  on_camera_reset };

/* ---- encoder threads: a branch's appsink ---------------------------------------------------- */

/* The encoded frame in the camera's time: its running time (see DECODER_TIME_OFFSET). */
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
	Branch *branch = data;
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
configure_encoder(VlgTranscoder *t, GstElement *enc, const Output *output, GstCaps *camera_caps)
{
	const VlgTranscoderSettings *s = &t->settings;

	gst_util_set_object_arg(G_OBJECT(enc), "tune", "zerolatency");
	gst_util_set_object_arg(G_OBJECT(enc), "speed-preset", s->speed_preset);
	g_object_set(enc, "bframes", 0, "b-adapt", FALSE, "threads", s->encoder_threads,
		     "sliced-threads", s->sliced_threads, NULL);
	switch (output->kind) {
	case OUTPUT_SCALED:
		g_object_set(enc, "bitrate", output->bitrate_kbps, "key-int-max",
			     output->fps * GOP_SECONDS, NULL);
		break;
	case OUTPUT_MAIN:
		g_object_set(enc, "bitrate", s->main_bitrate_kbps, "key-int-max",
			     caps_fps(camera_caps) * GOP_SECONDS, NULL);
		break;
	case OUTPUT_KEY:
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
chain_add_raw(Chain *chain, const Output *output)
{
	GstElement *rate = NULL, *queue;
	GstCaps *raw = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "I420", NULL);

	/* The rate first, on the decoder's thread: frames it drops are never queued nor scaled. */
	if (output->kind != OUTPUT_MAIN)
		rate = chain_add(chain, "videorate");
	/* drop-only also with max-rate: alone, it duplicates a keyframe that comes every 2 s. */
	if (rate)
		g_object_set(rate, "drop-only", TRUE, NULL);
	if (rate && output->kind == OUTPUT_KEY)
		g_object_set(rate, "max-rate", KEY_MAX_FPS, NULL);
	queue = chain_add(chain, "queue");
	if (queue)
		g_object_set(queue, "leaky", 2 /* downstream: drop the oldest */,
			     "max-size-buffers", BRANCH_QUEUE_FRAMES, "max-size-bytes", 0,
			     "max-size-time", (guint64)0, "silent", TRUE, NULL);
	if (output->kind == OUTPUT_SCALED) {
		chain_add(chain, "videoscale");
		gst_caps_set_simple(raw, "width", G_TYPE_INT, output->width, "height", G_TYPE_INT,
				    output->height, "framerate", GST_TYPE_FRACTION, output->fps, 1,
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
build_branch_bin(VlgTranscoder *t, Branch *branch, const Output *output, GstCaps *camera_caps)
{
	g_autoptr(GPtrArray) elements = g_ptr_array_new();
	Chain chain = { gst_object_ref_sink(gst_bin_new(output->name)), elements, FALSE };
	GstAppSinkCallbacks callbacks = { .new_sample = on_encoded };
	GstElement *enc, *parse, *sink;

	chain_add_raw(&chain, output);
	enc = chain_add(&chain, "x264enc");
	if (enc)
		configure_encoder(t, enc, output, camera_caps);
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
		gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, branch_ref(branch),
					   branch_unref);
	}
	if (chain.missing || !chain_link(&chain)) {
		gst_object_unref(chain.bin);
		return NULL;
	}
	return chain.bin;
}

static void
branch_add(VlgTranscoder *t, Output *output, GstCaps *camera_caps)
{
	Decoder *decoder = t->decoder;
	Branch *branch = g_new0(Branch, 1);
	g_autoptr(GstPad) tee_pad = NULL;
	g_autoptr(GstPad) sink_pad = NULL;

	branch->refcount = 1;
	g_mutex_init(&branch->lock);
	branch->live = TRUE;
	branch->hub = vlg_hub_ref(output->hub);
	branch->context = g_main_context_ref(t->core->context);
	branch->decoder = decoder_ref(decoder);
	branch->bin = build_branch_bin(t, branch, output, camera_caps);
	if (!branch->bin) {
		GST_WARNING("%s/%s: the encoder branch could not be built", t->core->camera_id,
			    output->name);
		branch_unref(branch);
		decoder->failed = TRUE;
		return;
	}
	/* The pipeline holds the bin from here on; ours becomes a borrowed pointer. */
	gst_bin_add(GST_BIN(decoder->pipeline), branch->bin);
	gst_object_unref(branch->bin);
	/* Playing before linking: a frame must never reach an element still in NULL. */
	gst_element_sync_state_with_parent(branch->bin);
	tee_pad = gst_element_request_pad_simple(decoder->tee, "src_%u");
	sink_pad = gst_element_get_static_pad(branch->bin, "sink");
	branch->tee_pad = tee_pad;
	if (gst_pad_link(tee_pad, sink_pad) != GST_PAD_LINK_OK)
		decoder->failed = TRUE;
	g_mutex_lock(&t->core->lock);
	g_ptr_array_add(t->core->branches, branch_ref(branch));
	g_mutex_unlock(&t->core->lock);
	output->branch = branch;
	g_atomic_int_inc(&running_encoders);
	GST_DEBUG("%s/%s: encoder branch added", t->core->camera_id, output->name);
}

/* Main loop, after the IDLE probe unlinked the branch: take it out of the pipeline. */
static gboolean
branch_finish(gpointer data)
{
	Branch *branch = data;
	Decoder *decoder = branch->decoder;

	/* A stopped decoder took the branch with it to the teardown worker. */
	if (decoder->stopped)
		return G_SOURCE_REMOVE;
	gst_element_release_request_pad(decoder->tee, branch->tee_pad);
	gst_element_set_state(branch->bin, GST_STATE_NULL);
	gst_bin_remove(GST_BIN(decoder->pipeline), branch->bin);
	return G_SOURCE_REMOVE;
}

static GstPadProbeReturn
branch_unlink(GstPad *tee_pad, GstPadProbeInfo *info, gpointer data)
{
	Branch *branch = data;
	g_autoptr(GstPad) peer = gst_pad_get_peer(tee_pad);
	GSource *source = g_idle_source_new();

	if (peer)
		gst_pad_unlink(tee_pad, peer);
	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, branch_finish, branch_ref(branch), branch_unref);
	g_source_attach(source, branch->context);
	g_source_unref(source);
	return GST_PAD_PROBE_REMOVE;
}

static void
branch_remove(VlgTranscoder *t, Output *output)
{
	Branch *branch = g_steal_pointer(&output->branch);

	branch_silence(branch);
	g_mutex_lock(&t->core->lock);
	g_ptr_array_remove(t->core->branches, branch);
	g_mutex_unlock(&t->core->lock);
	g_atomic_int_add(&running_encoders, -1);
	/* Unlinked when no buffer is in flight on the tee's pad; the probe takes our reference. */
	gst_pad_add_probe(branch->tee_pad, GST_PAD_PROBE_TYPE_IDLE, branch_unlink, branch,
			  branch_unref);
	GST_DEBUG("%s/%s: encoder branch removed", t->core->camera_id, output->name);
}

/* ---- main loop: the decoder pipeline ------------------------------------------------------- */

static gboolean
on_decoder_bus(GstBus *bus, GstMessage *message, gpointer data)
{
	Decoder *decoder = data;
	g_autoptr(GError) error = NULL;
	g_autofree char *debug = NULL;

	if (GST_MESSAGE_TYPE(message) != GST_MESSAGE_ERROR || decoder->stopped)
		return G_SOURCE_CONTINUE; /* everything else is drained and dropped */
	gst_message_parse_error(message, &error, &debug);
	GST_WARNING("%s: error from %s: %s (%s)", decoder->transcoder->core->camera_id,
		    GST_MESSAGE_SRC_NAME(message), error->message, debug);
	decoder->failed = TRUE;
	schedule_reconcile(decoder->transcoder->core);
	return G_SOURCE_CONTINUE;
}

static GstElement *
make_element(const char *factory, gboolean *missing)
{
	GstElement *element = gst_element_factory_make(factory, NULL);

	*missing |= !element;
	return element;
}

/* The pipeline up to the tee, not yet playing; on failure it is there, marked failed.
 *   appsrc ! h26Xtimestamper ! avdec_h26X ! tee
 * The timestamper gives B-frame streams the DTS that RTP does not carry: without it the decoder
 * put about one frame a second out of order here (1 left, at start, with it). */
static void
decoder_start(VlgTranscoder *t, GstCaps *caps, Codec codec, guint generation)
{
	Decoder *decoder = g_new0(Decoder, 1);
	gboolean missing = FALSE;
	gboolean h264 = codec == CODEC_H264;
	GstElement *src = make_element("appsrc", &missing);
	GstElement *stamp = make_element(h264 ? "h264timestamper" : "h265timestamper", &missing);
	GstElement *dec = make_element(h264 ? "avdec_h264" : "avdec_h265", &missing);
	GstElement *tee = make_element("tee", &missing);
	g_autoptr(GstBus) bus = NULL;

	decoder->refcount = 1;
	decoder->transcoder = t;
	decoder->generation = generation;
	decoder->codec = caps_codec(caps, &decoder->width, &decoder->height);
	decoder->pipeline = gst_object_ref_sink(gst_pipeline_new(t->core->camera_id));
	bus = gst_element_get_bus(decoder->pipeline);
	gst_bus_add_watch(bus, on_decoder_bus, decoder);
	t->decoder = decoder;
	t->decoder_starts++;
	g_atomic_int_inc(&running_decoders);
	for (guint i = 0; i < 4; i++) {
		GstElement *element = (GstElement *[]){ src, stamp, dec, tee }[i];

		if (element)
			gst_bin_add(GST_BIN(decoder->pipeline), element);
	}
	if (missing || !gst_element_link_many(src, stamp, dec, tee, NULL)) {
		GST_WARNING("%s: the decoder could not be built", t->core->camera_id);
		decoder->failed = TRUE;
		return;
	}
	g_object_set(src, "format", GST_FORMAT_TIME, "is-live", FALSE, "block", FALSE, "max-bytes",
		     (guint64)0, "emit-signals", FALSE, "handle-segment-change", TRUE, NULL);
	gst_app_src_set_caps(GST_APP_SRC(src), caps);
	g_object_set(dec, "max-threads", (gint)t->settings.decoder_threads, NULL);
	g_object_set(tee, "allow-not-linked", TRUE, NULL);
	decoder->tee = tee;
	decoder->appsrc = GST_APP_SRC(gst_object_ref(src));
	GST_DEBUG("%s: decoder %s started for %" GST_PTR_FORMAT, t->core->camera_id,
		  GST_OBJECT_NAME(gst_element_get_factory(dec)), caps);
}

static void
decoder_stop(VlgTranscoder *t)
{
	Decoder *decoder = g_steal_pointer(&t->decoder);
	g_autoptr(GstBus) bus = gst_element_get_bus(decoder->pipeline);

	g_mutex_lock(&t->core->lock);
	if (decoder->feeding && t->core->appsrc == decoder->appsrc)
		core_drop_decoder_unlocked(t->core);
	g_mutex_unlock(&t->core->lock);
	for (guint i = 0; i < t->outputs->len; i++) {
		Output *output = t->outputs->pdata[i];

		if (!output->branch)
			continue;
		branch_silence(output->branch);
		g_mutex_lock(&t->core->lock);
		g_ptr_array_remove(t->core->branches, output->branch);
		g_mutex_unlock(&t->core->lock);
		g_clear_pointer(&output->branch, branch_unref);
		g_atomic_int_add(&running_encoders, -1);
	}
	gst_bus_remove_watch(bus);
	decoder->stopped = TRUE;
	decoder->transcoder = NULL;
	gst_clear_object(&decoder->appsrc);
	vlg_teardown_pipeline(g_steal_pointer(&decoder->pipeline));
	g_atomic_int_add(&running_decoders, -1);
	decoder_unref(decoder);
	GST_DEBUG("%s: decoder stopped", t->core->camera_id);
}

/* Hands the decoder's input to the camera side and primes it with the GOP so far. */
static void
decoder_feed(VlgTranscoder *t, gboolean keyframes_only)
{
	Core *core = t->core;
	Decoder *decoder = t->decoder;
	gint width, height;

	g_mutex_lock(&core->lock);
	if (core->keyframes_only && !keyframes_only)
		core->need_keyframe = TRUE; /* the deltas since the last keyframe were not fed */
	core->keyframes_only = keyframes_only;
	if (!decoder->feeding && core->generation == decoder->generation) {
		if (caps_codec(core->caps, &width, &height) != decoder->codec ||
		    width != decoder->width || height != decoder->height) {
			/* The format changed while the decoder was being built. */
			core_drop_decoder_unlocked(core);
			schedule_reconcile(core);
		} else {
			decoder->feeding = TRUE;
			core->appsrc = GST_APP_SRC(gst_object_ref(decoder->appsrc));
			gst_app_src_set_caps(core->appsrc, core->caps);
			core->need_keyframe = TRUE;
			core->fed_pts = GST_CLOCK_TIME_NONE;
			core->segment_sent = FALSE;
			if (core->gop_valid)
				for (guint i = 0; i < core->gop->len; i++)
					feed_unlocked(core, core->gop->pdata[i], FALSE);
		}
	}
	g_mutex_unlock(&core->lock);
}

/* ---- main loop: what should run ------------------------------------------------------------ */

static gboolean
output_needs_encoder(const Output *output, Codec codec)
{
	return codec != CODEC_NONE && (output->kind != OUTPUT_KEY || codec == CODEC_H265);
}

/* Key profiles of an H.264 camera get its keyframes as they are; a newcomer gets the last one. */
static void
update_forwarding(VlgTranscoder *t)
{
	Core *core = t->core;
	gint width, height;
	Codec codec;

	g_mutex_lock(&core->lock);
	codec = caps_codec(core->caps, &width, &height);
	g_ptr_array_set_size(core->forward_hubs, 0);
	for (guint i = 0; i < t->outputs->len; i++) {
		Output *output = t->outputs->pdata[i];
		gboolean forward = output->kind == OUTPUT_KEY && codec == CODEC_H264;

		if (forward) {
			g_ptr_array_add(core->forward_hubs, vlg_hub_ref(output->hub));
			vlg_hub_set_caps(output->hub, VLG_TRACK_VIDEO, core->caps);
			if (!output->forwarding && core->gop_valid && core->gop->len > 0)
				vlg_hub_push(output->hub, VLG_TRACK_VIDEO,
					     gst_buffer_ref(core->gop->pdata[0]));
		}
		output->forwarding = forward;
	}
	g_mutex_unlock(&core->lock);
}

static gboolean
on_retry_due(gpointer data)
{
	VlgTranscoder *t = data;

	t->retry_source = 0;
	schedule_reconcile(t->core);
	return G_SOURCE_REMOVE;
}

static gboolean
decoder_allowed(VlgTranscoder *t)
{
	gint64 wait_us = t->retry_after_us - g_get_monotonic_time();

	if (wait_us <= 0)
		return TRUE;
	if (!t->retry_source)
		t->retry_source = g_timeout_add((guint)(wait_us / 1000) + 1, on_retry_due, t);
	return FALSE;
}

static void
reconcile(VlgTranscoder *t)
{
	g_autoptr(GstCaps) caps = NULL;
	gboolean want_decoder = FALSE, keyframes_only = TRUE;
	guint generation;
	gint width, height;
	Codec codec;

	g_mutex_lock(&t->core->lock);
	caps = t->core->caps ? gst_caps_ref(t->core->caps) : NULL;
	generation = t->core->generation;
	g_mutex_unlock(&t->core->lock);
	codec = caps_codec(caps, &width, &height);
	for (guint i = 0; i < t->outputs->len; i++) {
		Output *output = t->outputs->pdata[i];

		if (output_needs_encoder(output, codec)) {
			want_decoder = TRUE;
			keyframes_only &= output->kind == OUTPUT_KEY;
		}
	}
	update_forwarding(t);
	if (t->decoder && t->decoder->failed) {
		t->decoder_errors++;
		t->retry_after_us = g_get_monotonic_time() + ERROR_RETRY_MS * 1000;
	}
	if (t->decoder &&
	    (!want_decoder || t->decoder->failed || t->decoder->generation != generation))
		decoder_stop(t);
	if (want_decoder && !t->decoder && decoder_allowed(t))
		decoder_start(t, caps, codec, generation);
	if (!t->decoder)
		return;
	if (t->decoder->failed) {
		schedule_reconcile(t->core);
		return;
	}
	for (guint i = 0; i < t->outputs->len; i++) {
		Output *output = t->outputs->pdata[i];
		gboolean need = output_needs_encoder(output, codec);

		if (need && !output->branch)
			branch_add(t, output, caps);
		else if (!need && output->branch)
			branch_remove(t, output);
	}
	if (!t->decoder->playing && !t->decoder->failed) {
		t->decoder->playing = TRUE;
		if (gst_element_set_state(t->decoder->pipeline, GST_STATE_PLAYING) ==
		    GST_STATE_CHANGE_FAILURE)
			t->decoder->failed = TRUE;
	}
	if (t->decoder->failed)
		schedule_reconcile(t->core);
	else
		decoder_feed(t, keyframes_only);
}

static gboolean
reconcile_idle(gpointer data)
{
	Core *core = data;

	g_atomic_int_set(&core->reconcile_pending, 0);
	if (core->transcoder)
		reconcile(core->transcoder);
	return G_SOURCE_REMOVE;
}

/* Any thread: reconcile soon on the main loop (never from inside the caller). */
static void
schedule_reconcile(Core *core)
{
	GSource *source;

	if (!g_atomic_int_compare_and_exchange(&core->reconcile_pending, 0, 1))
		return;
	source = g_idle_source_new();
	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, reconcile_idle, core_ref(core), core_unref);
	g_source_attach(source, core->context);
	g_source_unref(source);
}

/* ---- API ------------------------------------------------------------------------------------ */

VlgTranscoder *
vlg_transcoder_new(VlgCamera *camera, const VlgTranscoderSettings *settings)
{
	VlgTranscoder *t = g_new0(VlgTranscoder, 1);
	Core *core = g_new0(Core, 1);

	if (!vlg_transcoder_debug)
		GST_DEBUG_CATEGORY_INIT(vlg_transcoder_debug, "vlg-transcoder", 0,
					"linkage-gateway transcoder");
	t->settings = *settings;
	t->settings.encoder_threads = MAX(settings->encoder_threads, 1);
	t->settings.decoder_threads = MAX(settings->decoder_threads, 1);
	if (!t->settings.main_bitrate_kbps)
		t->settings.main_bitrate_kbps = VLG_TRANSCODER_DEFAULT_MAIN_BITRATE_KBPS;
	t->settings.speed_preset =
		g_strdup(settings->speed_preset ? settings->speed_preset : DEFAULT_SPEED_PRESET);
	t->camera = camera;
	t->outputs = g_ptr_array_new();

	core->refcount = 1;
	core->context = g_main_context_ref_thread_default();
	core->transcoder = t;
	core->camera_id = g_strdup(vlg_camera_get_info(camera)->id);
	g_mutex_init(&core->lock);
	core->gop = g_ptr_array_new_with_free_func((GDestroyNotify)gst_buffer_unref);
	core->branches = g_ptr_array_new_with_free_func(branch_unref);
	core->forward_hubs = g_ptr_array_new_with_free_func((GDestroyNotify)vlg_hub_unref);
	core->hubs = g_ptr_array_new_with_free_func((GDestroyNotify)vlg_hub_unref);
	t->core = core;
	return t;
}

static Output *
find_output(VlgTranscoder *t, const char *name)
{
	for (guint i = 0; i < t->outputs->len; i++) {
		Output *output = t->outputs->pdata[i];

		if (g_str_equal(output->name, name))
			return output;
	}
	return NULL;
}

static gboolean
check_elements(const char *camera_id, GError **error)
{
	static const char *const needed[] = {
		"appsrc",    "h264timestamper", "h265timestamper", "avdec_h264",   "avdec_h265",
		"tee",       "videorate",       "videoscale",      "videoconvert", "x264enc",
		"h264parse", "appsink",
	};

	for (guint i = 0; i < G_N_ELEMENTS(needed); i++) {
		g_autoptr(GstElementFactory) factory = gst_element_factory_find(needed[i]);

		if (!factory) {
			g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA,
				    "%s: cannot transcode: GStreamer element '%s' is missing "
				    "(install gstreamer1.0-libav and "
				    "gstreamer1.0-plugins-base/-good/-bad/-ugly)",
				    camera_id, needed[i]);
			return FALSE;
		}
	}
	return TRUE;
}

static Output *
output_new(VlgTranscoder *t, const VlgProfile *profile, GError **error)
{
	g_autofree char *hub_name = NULL;
	Output *output;
	OutputKind kind = profile->passthrough      ? OUTPUT_MAIN
			  : profile->keyframes_only ? OUTPUT_KEY
						    : OUTPUT_SCALED;

	if (kind == OUTPUT_SCALED &&
	    (profile->width < 16 || profile->height < 16 || profile->fps == 0 ||
	     profile->bitrate_kbps == 0 || profile->width % 2 || profile->height % 2)) {
		g_set_error(
			error, VLG_ERROR, VLG_ERROR_MEDIA,
			"%s: profile %s cannot be transcoded: it needs an even width and height, "
			"a frame rate and a bit rate",
			t->core->camera_id, profile->name);
		return NULL;
	}
	if (!check_elements(t->core->camera_id, error))
		return NULL;
	output = g_new0(Output, 1);
	output->name = g_strdup(profile->name);
	output->kind = kind;
	output->width = profile->width;
	output->height = profile->height;
	output->fps = profile->fps;
	output->bitrate_kbps = profile->bitrate_kbps;
	hub_name = g_strdup_printf("%s/%s", t->core->camera_id, profile->name);
	output->hub = vlg_hub_new(hub_name);
	return output;
}

VlgHub *
vlg_transcoder_acquire(VlgTranscoder *t, const VlgProfile *profile, GError **error)
{
	Output *output = find_output(t, profile->name);

	if (output) {
		output->users++;
		return output->hub;
	}
	output = output_new(t, profile, error);
	if (!output)
		return NULL;
	output->users = 1;
	g_ptr_array_add(t->outputs, output);
	g_mutex_lock(&t->core->lock);
	g_ptr_array_add(t->core->hubs, vlg_hub_ref(output->hub));
	g_mutex_unlock(&t->core->lock);
	/* The attach replays the camera's caps and GOP into the Core (see on_camera_*). */
	if (!t->consumer)
		t->consumer =
			vlg_camera_attach(t->camera, &camera_funcs, core_ref(t->core), core_unref);
	reconcile(t);
	GST_DEBUG("%s/%s: acquired", t->core->camera_id, output->name);
	return output->hub;
}

static void
output_free(VlgTranscoder *t, Output *output)
{
	g_mutex_lock(&t->core->lock);
	g_ptr_array_remove(t->core->hubs, output->hub);
	g_ptr_array_remove(t->core->forward_hubs, output->hub);
	g_mutex_unlock(&t->core->lock);
	if (output->branch)
		branch_remove(t, output);
	vlg_hub_unref(output->hub);
	g_free(output->name);
	g_free(output);
}

/* Nobody needs the camera: detach, and forget what it sent (a later attach replays it). */
static void
detach_camera(VlgTranscoder *t)
{
	if (!t->consumer)
		return;
	vlg_camera_detach(t->camera, g_steal_pointer(&t->consumer));
	g_mutex_lock(&t->core->lock);
	gst_clear_caps(&t->core->caps);
	gop_clear_unlocked(t->core);
	t->core->generation++;
	g_mutex_unlock(&t->core->lock);
}

void
vlg_transcoder_release(VlgTranscoder *t, const VlgProfile *profile)
{
	Output *output = find_output(t, profile->name);

	g_return_if_fail(output != NULL && output->users > 0);
	if (--output->users > 0)
		return;
	g_ptr_array_remove(t->outputs, output);
	output_free(t, output);
	if (t->outputs->len == 0)
		detach_camera(t);
	reconcile(t);
	GST_DEBUG("%s/%s: released", t->core->camera_id, profile->name);
}

VlgTranscoder *
vlg_transcoder_free(VlgTranscoder *t)
{
	if (!t)
		return NULL;
	detach_camera(t);
	if (t->decoder)
		decoder_stop(t);
	for (guint i = 0; i < t->outputs->len; i++)
		output_free(t, t->outputs->pdata[i]);
	g_ptr_array_unref(t->outputs);
	g_clear_handle_id(&t->retry_source, g_source_remove);
	t->core->transcoder = NULL;
	core_unref(t->core);
	g_free((char *)t->settings.speed_preset);
	g_free(t);
	return NULL;
}

void
vlg_transcoder_get_stats(VlgTranscoder *t, VlgTranscoderStats *stats)
{
	memset(stats, 0, sizeof(*stats));
	stats->outputs = t->outputs->len;
	for (guint i = 0; i < t->outputs->len; i++)
		stats->encoders += ((Output *)t->outputs->pdata[i])->branch != NULL;
	stats->decoding = t->decoder != NULL;
	stats->decoder_starts = t->decoder_starts;
	stats->decoder_errors = t->decoder_errors;
	g_mutex_lock(&t->core->lock);
	stats->frames_in = t->core->frames_in;
	stats->frames_dropped = t->core->frames_dropped;
	g_mutex_unlock(&t->core->lock);
}
