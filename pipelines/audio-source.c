/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/audio-source.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/base/gstadapter.h>

#include "pipelines/teardown.h"

GST_DEBUG_CATEGORY_STATIC(vlg_audio_debug);
#define GST_CAT_DEFAULT vlg_audio_debug

#define RTP_HEADER_SIZE 12
#define G711_RATE 8000
#define OPUS_RATE 48000
#define PACKET_NS (20 * GST_MSECOND)
#define G711_PACKET_BYTES 160 /* 20 ms at 8 kHz, one byte a sample */
/* A PTS this far from where the samples so far put it is a gap (or a jump back), not jitter. */
#define DISCONT_NS (60 * GST_MSECOND)
/* Compressed input queued for the transcode, at most: AAC at 32-128 kbit/s is seconds of it. */
#define TRANSCODE_MAX_BYTES 65536

typedef enum {
	MODE_NONE,      /* no audio caps, or caps we do not take */
	MODE_PASS,      /* G.711 at 8 kHz mono: packetized as it comes */
	MODE_TRANSCODE, /* to Opus */
} Mode;

/*
 * One transcode (appsrc ! decode ! convert ! resample ! opusenc ! appsink). Its pipeline is built
 * on a worker (loading the decoder's plugin the first time takes ~0.4 s here, too long for a
 * camera's streaming thread or the main loop); input that comes meanwhile waits in @early.
 * References: the source's while it is current, the worker's, the appsink callbacks', the bus
 * sync handler's. Other threads reach the source only through @source, under @lock, which the
 * source clears (waiting for a callback in flight) when it lets the transcode go, so none of
 * them can touch a freed source. Lock order: @lock, then the source's lock.
 */
typedef struct {
	gint refcount;
	GMutex lock;
	struct _VlgAudioSource *source; /* guarded by lock */
	gint failed;                    /* atomic: the pipeline did not start or posted an error */
	GstCaps *caps;                  /* constant: the camera's */
	const char *decoder;            /* constant: see decoder_for() */
	/* Guarded by lock, and written under the source's lock too: */
	GstElement *pipeline; /* once built and current; then the source's until dropped */
	GstAppSrc *appsrc;    /* a reference, likewise */
	/* Guarded by the source's lock: */
	GQueue early; /* of GstBuffer, until the pipeline runs */
	gsize early_bytes;
} Transcode;

/* The packets' header fields and their one timeline (see the header). */
typedef struct {
	guint8 payload_type;
	guint clock_rate;
	guint32 ssrc;
	guint16 sequence;
	gboolean started;
	gboolean resync;        /* a reset or a new format: the next packet starts a talkspurt */
	guint32 next_timestamp; /* where the last packet ended */
	GstClockTime next_pts;  /* likewise in PTS, or NONE */
	gint64 last_us;         /* monotonic time of the last packet */
	guint last_samples;     /* in the last packet */
} Timeline;

/* Guarded by lock, but for the constant fields. Lock order: a transcode's lock, then this one,
 * then the RTP hub's. */
struct _VlgAudioSource {
	VlgCamera *camera;
	VlgHubConsumer *consumer;
	VlgHub *rtp_hub;
	GMutex lock;
	GstCaps *input_caps; /* the camera's audio caps, as last seen; NULL after a reset */
	Mode mode;
	VlgAudioCodec codec;
	GstCaps *rtp_caps;   /* what was last published */
	GstAdapter *adapter; /* G.711 samples not yet packetized */
	GstClockTime adapter_pts;
	Transcode *transcode;
	Timeline timeline;
};

const char *
vlg_audio_codec_to_string(VlgAudioCodec codec)
{
	static const char *const names[] = { "none", "PCMA", "PCMU", "OPUS" };

	return codec < G_N_ELEMENTS(names) ? names[codec] : "?";
}

/* ---- the timeline and packets --------------------------------------------------------------- */

/* The RTP timestamp of a packet of @samples starting at @pts, and whether it starts a talkspurt. */
static guint32
timeline_stamp(Timeline *timeline, GstClockTime pts, guint samples, gboolean *marker)
{
	gint64 now = g_get_monotonic_time();
	guint32 timestamp = timeline->next_timestamp;
	guint rate = timeline->clock_rate;

	*marker = !timeline->started || timeline->resync;
	if (!timeline->started) {
		timestamp = g_random_int(); /* RFC 3550 5.1 */
	} else if (timeline->resync || !GST_CLOCK_TIME_IS_VALID(timeline->next_pts)) {
		/* PTS started over: the time that passed here since the last packet started is the
		 * best measure of the gap. */
		guint32 since = (guint32)gst_util_uint64_scale(now - timeline->last_us, rate,
							       G_USEC_PER_SEC);

		if (since > timeline->last_samples)
			timestamp += since - timeline->last_samples;
	} else if (GST_CLOCK_TIME_IS_VALID(pts)) {
		GstClockTimeDiff drift = GST_CLOCK_DIFF(timeline->next_pts, pts);

		if (drift > (GstClockTimeDiff)DISCONT_NS)
			timestamp += (guint32)gst_util_uint64_scale(drift, rate, GST_SECOND);
		/* A jump back keeps the timeline running on: timestamps never go back. */
		*marker = ABS(drift) > (GstClockTimeDiff)DISCONT_NS;
	}
	timeline->started = TRUE;
	timeline->resync = FALSE;
	timeline->next_timestamp = timestamp + samples;
	if (GST_CLOCK_TIME_IS_VALID(pts))
		timeline->next_pts = pts + gst_util_uint64_scale(samples, GST_SECOND, rate);
	else if (GST_CLOCK_TIME_IS_VALID(timeline->next_pts))
		timeline->next_pts += gst_util_uint64_scale(samples, GST_SECOND, rate);
	timeline->last_us = now;
	timeline->last_samples = samples;
	return timestamp;
}

/* Prepends the RTP header to @payload (taken) and publishes it. */
static void
publish_unlocked(VlgAudioSource *source, GstBuffer *payload, GstClockTime pts, guint samples)
{
	Timeline *timeline = &source->timeline;
	guint8 *header = g_malloc(RTP_HEADER_SIZE);
	gboolean marker;
	guint32 timestamp = timeline_stamp(timeline, pts, samples, &marker);

	header[0] = 0x80; /* version 2, no padding, no extension, no CSRC */
	header[1] = (marker ? 0x80 : 0) | timeline->payload_type;
	GST_WRITE_UINT16_BE(header + 2, timeline->sequence);
	GST_WRITE_UINT32_BE(header + 4, timestamp);
	GST_WRITE_UINT32_BE(header + 8, timeline->ssrc);
	timeline->sequence++;
	gst_buffer_prepend_memory(payload, gst_memory_new_wrapped(0, header, RTP_HEADER_SIZE, 0,
								  RTP_HEADER_SIZE, header, g_free));
	GST_BUFFER_PTS(payload) = GST_BUFFER_DTS(payload) = pts;
	GST_BUFFER_DURATION(payload) = gst_util_uint64_scale(samples, GST_SECOND,
							     timeline->clock_rate);
	/* Every packet stands on its own: a "keyframe" for the hub (see the header). */
	GST_BUFFER_FLAG_UNSET(payload, GST_BUFFER_FLAG_DELTA_UNIT);
	vlg_hub_push(source->rtp_hub, VLG_TRACK_VIDEO, payload);
}

/* Cuts G.711 samples into 20 ms packets; a PTS that does not follow the samples queued so far
 * drops them (less than one packet) and starts again from it. */
static void
push_g711_unlocked(VlgAudioSource *source, GstBuffer *buffer)
{
	GstClockTime pts = GST_BUFFER_PTS(buffer);
	gsize queued = gst_adapter_available(source->adapter);

	if (queued > 0 && GST_CLOCK_TIME_IS_VALID(pts) &&
	    GST_CLOCK_TIME_IS_VALID(source->adapter_pts)) {
		GstClockTime expected = source->adapter_pts +
					gst_util_uint64_scale(queued, GST_SECOND, G711_RATE);

		if (ABS(GST_CLOCK_DIFF(expected, pts)) > (GstClockTimeDiff)DISCONT_NS) {
			gst_adapter_clear(source->adapter);
			queued = 0;
		}
	}
	if (queued == 0)
		source->adapter_pts = pts;
	gst_adapter_push(source->adapter, gst_buffer_ref(buffer));
	while (gst_adapter_available(source->adapter) >= G711_PACKET_BYTES) {
		GstBuffer *payload = gst_adapter_take_buffer_fast(source->adapter,
								  G711_PACKET_BYTES);

		publish_unlocked(source, payload, source->adapter_pts, G711_PACKET_BYTES);
		if (GST_CLOCK_TIME_IS_VALID(source->adapter_pts))
			source->adapter_pts += PACKET_NS;
	}
}

/* Samples (at 48 kHz) an Opus packet decodes to, from its TOC byte (RFC 6716 3.1); 0 if it is
 * malformed. Not the buffer's duration: the encoder clips its first one by its lookahead, and
 * RTP counts what the decoder plays. */
static guint
opus_packet_samples(const guint8 *data, gsize size)
{
	static const guint silk[] = { 480, 960, 1920, 2880 }, celt[] = { 120, 240, 480, 960 };
	guint config, per_frame, frames;

	if (size < 1)
		return 0;
	config = data[0] >> 3;
	per_frame = config < 12 ? silk[config % 4] : config < 16 ? 480u << (config % 2) :
								     celt[config % 4];
	switch (data[0] & 3) {
	case 0:
		frames = 1;
		break;
	case 1:
	case 2:
		frames = 2;
		break;
	default:
		frames = size >= 2 ? data[1] & 0x3f : 0;
		break;
	}
	return per_frame * frames;
}

static void
push_opus_unlocked(VlgAudioSource *source, GstBuffer *frame)
{
	GstMapInfo map;
	guint samples = 0;

	if (gst_buffer_map(frame, &map, GST_MAP_READ)) {
		samples = opus_packet_samples(map.data, map.size);
		gst_buffer_unmap(frame, &map);
	}
	if (samples == 0)
		return;
	publish_unlocked(source, gst_buffer_copy_region(frame, GST_BUFFER_COPY_MEMORY, 0, -1),
			 GST_BUFFER_PTS(frame), samples);
}

/* ---- the transcode -------------------------------------------------------------------------- */

static Transcode *
transcode_ref(Transcode *transcode)
{
	g_atomic_int_inc(&transcode->refcount);
	return transcode;
}

static void
transcode_unref(gpointer data)
{
	Transcode *transcode = data;

	if (!g_atomic_int_dec_and_test(&transcode->refcount))
		return;
	g_queue_clear_full(&transcode->early, (GDestroyNotify)gst_buffer_unref);
	gst_caps_unref(transcode->caps);
	g_mutex_clear(&transcode->lock);
	g_free(transcode);
}

static void
stop_pipeline(GstElement *pipeline, GstAppSrc *appsrc)
{
	gst_clear_object(&appsrc);
	if (pipeline)
		vlg_teardown_pipeline(pipeline);
}

/* Cuts the transcode from the source and hands its pipeline (if built) to a teardown worker.
 * Called without the source's lock: it waits for an Opus frame in flight. */
static void
transcode_drop(Transcode *transcode)
{
	GstElement *pipeline;
	GstAppSrc *appsrc;

	if (!transcode)
		return;
	g_mutex_lock(&transcode->lock);
	transcode->source = NULL;
	pipeline = g_steal_pointer(&transcode->pipeline);
	appsrc = g_steal_pointer(&transcode->appsrc);
	g_mutex_unlock(&transcode->lock);
	stop_pipeline(pipeline, appsrc);
	transcode_unref(transcode);
}

/* Input for the transcode: to its appsrc, or queued until it runs (the oldest dropped past the
 * bound, as the appsrc itself does). */
static void
transcode_push_unlocked(Transcode *transcode, GstBuffer *buffer)
{
	if (transcode->appsrc) {
		gst_app_src_push_buffer(transcode->appsrc, buffer);
		return;
	}
	g_queue_push_tail(&transcode->early, buffer);
	transcode->early_bytes += gst_buffer_get_size(buffer);
	while (transcode->early_bytes > TRANSCODE_MAX_BYTES) {
		GstBuffer *oldest = g_queue_pop_head(&transcode->early);

		transcode->early_bytes -= gst_buffer_get_size(oldest);
		gst_buffer_unref(oldest);
	}
}

static GstFlowReturn
on_opus_frame(GstAppSink *sink, gpointer data)
{
	Transcode *transcode = data;
	g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
	GstBuffer *frame = sample ? gst_sample_get_buffer(sample) : NULL;
	VlgAudioSource *source;

	if (!frame)
		return sample ? GST_FLOW_OK : GST_FLOW_EOS;
	g_mutex_lock(&transcode->lock);
	source = transcode->source;
	if (source) {
		g_mutex_lock(&source->lock);
		/* A transcode being replaced may still deliver a frame: not on this timeline. */
		if (source->transcode == transcode)
			push_opus_unlocked(source, frame);
		g_mutex_unlock(&source->lock);
	}
	g_mutex_unlock(&transcode->lock);
	return GST_FLOW_OK;
}

/* Every message is dropped here: nothing watches this bus, and a bus nobody drains grows. A
 * handler that returns GST_BUS_DROP owns the message. */
static GstBusSyncReply
on_transcode_message(GstBus *bus, GstMessage *message, gpointer data)
{
	Transcode *transcode = data;

	if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
		g_autoptr(GError) error = NULL;
		g_autofree char *debug = NULL;

		gst_message_parse_error(message, &error, &debug);
		GST_WARNING("transcode failed: %s (%s)", error->message, debug ? debug : "");
		g_atomic_int_set(&transcode->failed, 1);
	}
	gst_message_unref(message);
	return GST_BUS_DROP;
}

/* The decoding part of the transcode for @caps, or NULL when we do not take them. */
static const char *
decoder_for(const GstStructure *s)
{
	gint version = 0;

	if (gst_structure_has_name(s, "audio/x-alaw"))
		return "alawdec";
	if (gst_structure_has_name(s, "audio/x-mulaw"))
		return "mulawdec";
	if (gst_structure_has_name(s, "audio/mpeg") &&
	    gst_structure_get_int(s, "mpegversion", &version) && (version == 2 || version == 4))
		/* aacparse takes both what the ingest gives (raw with codec_data) and ADTS. */
		return "aacparse ! avdec_aac";
	return NULL;
}

static GstElement *
build_pipeline(Transcode *transcode)
{
	g_autofree char *description = g_strdup_printf(
		"appsrc name=src format=time max-bytes=%u leaky-type=downstream ! %s "
		"! audioconvert ! audioresample ! audio/x-raw,rate=%u,channels=[1,2] "
		"! opusenc bitrate=%u frame-size=20 audio-type=voice "
		"! appsink name=sink sync=false async=false enable-last-sample=false",
		TRANSCODE_MAX_BYTES, transcode->decoder, OPUS_RATE, VLG_AUDIO_SOURCE_OPUS_BITRATE);
	GstAppSinkCallbacks callbacks = { .new_sample = on_opus_frame };
	g_autoptr(GError) error = NULL;
	g_autoptr(GstBus) bus = NULL;
	g_autoptr(GstElement) sink = NULL;
	g_autoptr(GstElement) src = NULL;
	GstElement *pipeline;

	pipeline = gst_parse_launch_full(description, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &error);
	if (!pipeline) {
		GST_WARNING("cannot build the transcode: %s", error->message);
		return NULL;
	}
	gst_object_ref_sink(pipeline);
	src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
	gst_app_src_set_caps(GST_APP_SRC(src), transcode->caps);
	sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
	gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, transcode_ref(transcode),
				   transcode_unref);
	bus = gst_element_get_bus(pipeline);
	gst_bus_set_sync_handler(bus, on_transcode_message, transcode_ref(transcode),
				 transcode_unref);
	if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
		GST_WARNING("the transcode did not start");
		vlg_teardown_pipeline(pipeline);
		return NULL;
	}
	return pipeline;
}

/* On the build worker: builds the pipeline and hands it the input queued so far, unless the
 * source let the transcode go meanwhile. */
static void
build_transcode(gpointer data, gpointer user_data)
{
	Transcode *transcode = data;
	GstElement *pipeline = build_pipeline(transcode);
	GstAppSrc *appsrc = pipeline ? GST_APP_SRC(gst_bin_get_by_name(GST_BIN(pipeline), "src")) :
				       NULL;
	VlgAudioSource *source;

	if (!pipeline)
		g_atomic_int_set(&transcode->failed, 1);
	g_mutex_lock(&transcode->lock);
	source = transcode->source;
	if (source && pipeline) {
		g_mutex_lock(&source->lock);
		if (source->transcode == transcode) {
			transcode->pipeline = g_steal_pointer(&pipeline);
			transcode->appsrc = g_steal_pointer(&appsrc);
			while (!g_queue_is_empty(&transcode->early))
				gst_app_src_push_buffer(transcode->appsrc,
							g_queue_pop_head(&transcode->early));
			transcode->early_bytes = 0;
		}
		g_mutex_unlock(&source->lock);
	}
	g_mutex_unlock(&transcode->lock);
	stop_pipeline(pipeline, appsrc); /* when it came too late */
	transcode_unref(transcode);
}

static Transcode *
transcode_new(GstCaps *caps, const char *decoder, VlgAudioSource *source)
{
	static GThreadPool *builders;
	static gsize once = 0;
	Transcode *transcode = g_new0(Transcode, 1);

	if (g_once_init_enter(&once)) {
		/* One thread: builds are rare (a camera's first audio caps, a reconnect). */
		builders = g_thread_pool_new(build_transcode, NULL, 1, FALSE, NULL);
		g_once_init_leave(&once, 1);
	}
	transcode->refcount = 1;
	g_mutex_init(&transcode->lock);
	transcode->source = source;
	transcode->caps = gst_caps_ref(caps);
	transcode->decoder = decoder;
	g_queue_init(&transcode->early);
	g_thread_pool_push(builders, transcode_ref(transcode), NULL);
	GST_DEBUG("%s: transcoding %" GST_PTR_FORMAT " to Opus",
		  vlg_camera_get_info(source->camera)->id, caps);
	return transcode;
}

/* ---- the camera's audio --------------------------------------------------------------------- */

static GstCaps *
build_rtp_caps(VlgAudioCodec codec, guint8 payload_type, guint clock_rate)
{
	GstCaps *caps = gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "audio",
					    "encoding-name", G_TYPE_STRING,
					    vlg_audio_codec_to_string(codec), "clock-rate",
					    G_TYPE_INT, (gint)clock_rate, "payload", G_TYPE_INT,
					    (gint)payload_type, NULL);

	/* SDP's opus/48000/2, whatever the channels really are (RFC 7587). */
	if (codec == VLG_AUDIO_CODEC_OPUS)
		gst_caps_set_simple(caps, "encoding-params", G_TYPE_STRING, "2", NULL);
	return caps;
}

/* Chooses what to do with @caps; sets mode, codec and the timeline's header fields. */
static void
choose_mode_unlocked(VlgAudioSource *source, const GstStructure *s)
{
	gint rate = 0, channels = 0;
	gboolean g711 = gst_structure_get_int(s, "rate", &rate) && rate == G711_RATE &&
			gst_structure_get_int(s, "channels", &channels) && channels == 1;
	VlgAudioCodec codec;
	guint8 payload_type;
	guint clock_rate = G711_RATE;

	if (g711 && gst_structure_has_name(s, "audio/x-alaw")) {
		source->mode = MODE_PASS;
		codec = VLG_AUDIO_CODEC_PCMA;
		payload_type = VLG_AUDIO_SOURCE_PT_PCMA;
	} else if (g711 && gst_structure_has_name(s, "audio/x-mulaw")) {
		source->mode = MODE_PASS;
		codec = VLG_AUDIO_CODEC_PCMU;
		payload_type = VLG_AUDIO_SOURCE_PT_PCMU;
	} else if (decoder_for(s)) {
		source->mode = MODE_TRANSCODE;
		codec = VLG_AUDIO_CODEC_OPUS;
		payload_type = VLG_AUDIO_SOURCE_PT_OPUS;
		clock_rate = OPUS_RATE;
	} else {
		source->mode = MODE_NONE;
		source->codec = VLG_AUDIO_CODEC_NONE;
		return;
	}
	if (source->timeline.clock_rate && source->timeline.clock_rate != clock_rate)
		/* Timestamps of another clock say nothing here; sequence numbers run on. */
		source->timeline.resync = TRUE;
	source->codec = codec;
	source->timeline.payload_type = payload_type;
	source->timeline.clock_rate = clock_rate;
}

static void
publish_caps_unlocked(VlgAudioSource *source)
{
	g_autoptr(GstCaps) caps = NULL;

	if (source->mode == MODE_NONE)
		return;
	caps = build_rtp_caps(source->codec, source->timeline.payload_type,
			      source->timeline.clock_rate);
	if (source->rtp_caps && gst_caps_is_equal(caps, source->rtp_caps))
		return;
	gst_caps_replace(&source->rtp_caps, caps);
	vlg_hub_set_caps(source->rtp_hub, VLG_TRACK_VIDEO, caps);
}

static void
on_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	VlgAudioSource *source = data;
	const GstStructure *s = gst_caps_get_structure(caps, 0);
	Transcode *old = NULL;

	if (track != VLG_TRACK_AUDIO)
		return;
	g_mutex_lock(&source->lock);
	if (source->input_caps && gst_caps_is_equal(caps, source->input_caps)) {
		g_mutex_unlock(&source->lock);
		return;
	}
	gst_caps_replace(&source->input_caps, caps);
	old = g_steal_pointer(&source->transcode);
	gst_adapter_clear(source->adapter);
	choose_mode_unlocked(source, s);
	if (source->mode == MODE_TRANSCODE)
		source->transcode = transcode_new(caps, decoder_for(s), source);
	else if (source->mode == MODE_NONE)
		GST_WARNING("%s: audio %" GST_PTR_FORMAT " is not taken",
			    vlg_camera_get_info(source->camera)->id, caps);
	publish_caps_unlocked(source);
	g_mutex_unlock(&source->lock);
	transcode_drop(old);
}

static void
on_buffer(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	VlgAudioSource *source = data;
	Transcode *failed = NULL;

	if (track != VLG_TRACK_AUDIO)
		return;
	g_mutex_lock(&source->lock);
	if (source->mode == MODE_PASS) {
		push_g711_unlocked(source, buffer);
	} else if (source->transcode && g_atomic_int_get(&source->transcode->failed)) {
		/* Audio stays off until the camera's caps change or it reconnects. */
		failed = g_steal_pointer(&source->transcode);
	} else if (source->transcode) {
		transcode_push_unlocked(source->transcode, gst_buffer_ref(buffer));
	}
	g_mutex_unlock(&source->lock);
	transcode_drop(failed);
}

static void
on_reset(gpointer data)
{
	VlgAudioSource *source = data;
	Transcode *old;

	/* The codec and the timeline stay: viewers see one stream across a reconnect. */
	g_mutex_lock(&source->lock);
	gst_clear_caps(&source->input_caps);
	gst_clear_caps(&source->rtp_caps);
	gst_adapter_clear(source->adapter);
	source->mode = MODE_NONE;
	source->timeline.resync = TRUE;
	old = g_steal_pointer(&source->transcode);
	vlg_hub_reset(source->rtp_hub);
	g_mutex_unlock(&source->lock);
	transcode_drop(old);
}

static const VlgHubConsumerFuncs source_funcs = { on_caps, on_buffer, on_reset };

VlgAudioSource *
vlg_audio_source_new(VlgCamera *camera)
{
	VlgAudioSource *source = g_new0(VlgAudioSource, 1);
	g_autofree char *name = g_strdup_printf("%s-audio", vlg_camera_get_info(camera)->id);
	static gsize once = 0;

	if (g_once_init_enter(&once)) {
		GST_DEBUG_CATEGORY_INIT(vlg_audio_debug, "vlg-audio-source", 0,
					"linkage-gateway camera audio as RTP");
		g_once_init_leave(&once, 1);
	}
	g_mutex_init(&source->lock);
	source->camera = camera;
	source->rtp_hub = vlg_hub_new(name);
	source->adapter = gst_adapter_new();
	source->adapter_pts = GST_CLOCK_TIME_NONE;
	source->timeline.ssrc = g_random_int();
	/* A random start makes known-plaintext attacks on SRTP harder (RFC 3550 5.1). */
	source->timeline.sequence = (guint16)g_random_int();
	source->timeline.next_pts = GST_CLOCK_TIME_NONE;
	source->consumer = vlg_camera_attach(camera, &source_funcs, source, NULL);
	return source;
}

VlgAudioSource *
vlg_audio_source_free(VlgAudioSource *source)
{
	if (!source)
		return NULL;
	/* After detach no camera callback runs; transcode_drop() waits out an Opus frame. */
	vlg_camera_detach(source->camera, source->consumer);
	transcode_drop(g_steal_pointer(&source->transcode));
	vlg_hub_unref(source->rtp_hub);
	gst_clear_caps(&source->input_caps);
	gst_clear_caps(&source->rtp_caps);
	g_object_unref(source->adapter);
	g_mutex_clear(&source->lock);
	g_free(source);
	return NULL;
}

VlgHub *
vlg_audio_source_get_hub(VlgAudioSource *source)
{
	return source->rtp_hub;
}

VlgAudioCodec
vlg_audio_source_get_codec(VlgAudioSource *source)
{
	VlgAudioCodec codec;

	g_mutex_lock(&source->lock);
	codec = source->codec;
	g_mutex_unlock(&source->lock);
	return codec;
}

VlgCamera *
vlg_audio_source_get_camera(VlgAudioSource *source)
{
	return source->camera;
}
