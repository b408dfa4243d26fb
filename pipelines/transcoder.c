/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/transcoder.h"

#include <gst/app/gstappsrc.h>
#include <string.h>

#include "config/vlg-error.h"
#include "pipelines/teardown.h"
#include "pipelines/transcode-branch.h"

GST_DEBUG_CATEGORY_STATIC(vlg_transcoder_debug);
#define GST_CAT_DEFAULT vlg_transcoder_debug

#define DEFAULT_SPEED_PRESET "superfast"
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
	GPtrArray *branches;     /* of VlgTranscodeBranch*, the running decoder's: silenced on
				  * reset */
	GPtrArray *forward_hubs; /* of VlgHub*, key profiles fed the camera's own keyframes */
	GPtrArray *hubs;         /* of VlgHub*, every profile's: reset with the camera */
	guint64 frames_in;
	guint64 frames_dropped;
} Core;

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
	VlgTranscodeKind kind;
	guint width;
	guint height;
	guint fps;
	guint bitrate_kbps;
	guint users;
	VlgHub *hub;
	VlgTranscodeBranch *branch; /* in the running decoder, or NULL */
	gboolean forwarding;        /* a key profile fed the camera's own keyframes */
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

static gpointer
decoder_ref(gpointer data)
{
	Decoder *decoder = data;

	g_atomic_int_inc(&decoder->refcount);
	return decoder;
}

/* Any thread: a branch may drop the last reference on the teardown worker. */
static void
decoder_unref(gpointer data)
{
	Decoder *decoder = data;

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
		vlg_transcode_branch_silence(core->branches->pdata[i]);
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

/* ---- main loop: a profile's encoder branch (transcode-branch.h) ---------------------------- */

static gboolean
decoder_is_stopped(gpointer data)
{
	Decoder *decoder = data;

	return decoder->stopped;
}

static void
branch_add(VlgTranscoder *t, Output *output, GstCaps *camera_caps)
{
	Decoder *decoder = t->decoder;
	const VlgTranscodeRecipe recipe = {
		.name = output->name,
		.kind = output->kind,
		.width = output->width,
		.height = output->height,
		.fps = output->fps,
		.bitrate_kbps = output->bitrate_kbps,
	};
	const VlgTranscodeHost host = {
		.pipeline = decoder->pipeline,
		.tee = decoder->tee,
		.owner = decoder,
		.owner_ref = decoder_ref,
		.owner_unref = decoder_unref,
		.owner_stopped = decoder_is_stopped,
	};
	VlgTranscodeBranch *branch;
	gboolean linked;

	branch = vlg_transcode_branch_new(&recipe, &t->settings, camera_caps, output->hub,
					  t->core->context, &host, &linked);
	if (!branch) {
		GST_WARNING("%s/%s: the encoder branch could not be built", t->core->camera_id,
			    output->name);
		decoder->failed = TRUE;
		return;
	}
	if (!linked)
		decoder->failed = TRUE;
	g_mutex_lock(&t->core->lock);
	g_ptr_array_add(t->core->branches, vlg_transcode_branch_ref(branch));
	g_mutex_unlock(&t->core->lock);
	output->branch = branch;
	g_atomic_int_inc(&running_encoders);
	GST_DEBUG("%s/%s: encoder branch added", t->core->camera_id, output->name);
}

static void
branch_remove(VlgTranscoder *t, Output *output)
{
	VlgTranscodeBranch *branch = g_steal_pointer(&output->branch);

	vlg_transcode_branch_silence(branch);
	g_mutex_lock(&t->core->lock);
	g_ptr_array_remove(t->core->branches, branch);
	g_mutex_unlock(&t->core->lock);
	g_atomic_int_add(&running_encoders, -1);
	vlg_transcode_branch_detach(branch);
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
		vlg_transcode_branch_silence(output->branch);
		g_mutex_lock(&t->core->lock);
		g_ptr_array_remove(t->core->branches, output->branch);
		g_mutex_unlock(&t->core->lock);
		g_clear_pointer(&output->branch, vlg_transcode_branch_unref);
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
	return codec != CODEC_NONE && (output->kind != VLG_TRANSCODE_KEY || codec == CODEC_H265);
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
		gboolean forward = output->kind == VLG_TRANSCODE_KEY && codec == CODEC_H264;

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
			keyframes_only &= output->kind == VLG_TRANSCODE_KEY;
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
	core->branches =
		g_ptr_array_new_with_free_func((GDestroyNotify)vlg_transcode_branch_unref);
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
	VlgTranscodeKind kind = profile->passthrough      ? VLG_TRANSCODE_MAIN
			  : profile->keyframes_only ? VLG_TRANSCODE_KEY
						    : VLG_TRANSCODE_SCALED;

	if (kind == VLG_TRANSCODE_SCALED &&
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
