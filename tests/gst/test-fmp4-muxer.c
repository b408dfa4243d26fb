/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fMP4 muxer fed from the recorded clips (through a hub, as the ingest feeds it: byte-stream
 * access units without decode times) and from the camera simulator. What it writes must parse,
 * and init segment + media segments must decode in GStreamer (qtdemux, avdec_*) to the clip's
 * frames and audio.
 */
#include <check.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipelines/camera.h"
#include "pipelines/fmp4-muxer.h"
#include "pipelines/mp4-boxes.h"
#include "pipelines/teardown.h"

#define CLIP_FRAMES 250
#define CLIP_SECONDS 10

/* ---- Loading a clip as the hub would see it -------------------------------------------------- */

typedef struct {
	VlgTrack track;
	GstCaps *caps;     /* a format change, or */
	GstBuffer *buffer; /* an access unit / audio frame */
} Item;

typedef struct {
	GMutex lock;
	GPtrArray *items[VLG_TRACK_COUNT]; /* of Item*, per track in arrival order */
	GstCaps *caps[VLG_TRACK_COUNT];    /* the last caps of each */
} Loader;

static void
item_free(gpointer data)
{
	Item *item = data;

	gst_clear_caps(&item->caps);
	gst_clear_buffer(&item->buffer);
	g_free(item);
}

static GstFlowReturn
on_sample(GstAppSink *sink, gpointer data)
{
	Loader *loader = data;
	VlgTrack track =
	    g_str_equal(GST_OBJECT_NAME(sink), "v") ? VLG_TRACK_VIDEO : VLG_TRACK_AUDIO;
	g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
	GPtrArray *items = loader->items[track];
	GstCaps *caps = gst_sample_get_caps(sample);
	Item *item;

	g_mutex_lock(&loader->lock);
	if (caps && (!loader->caps[track] || !gst_caps_is_equal(caps, loader->caps[track]))) {
		loader->caps[track] = caps;
		item = g_new0(Item, 1);
		item->track = track;
		item->caps = gst_caps_ref(caps);
		g_ptr_array_add(items, item);
	}
	item = g_new0(Item, 1);
	item->track = track;
	/* RTP gives presentation times only: so does this. */
	item->buffer = gst_buffer_copy(gst_sample_get_buffer(sample));
	GST_BUFFER_DTS(item->buffer) = GST_CLOCK_TIME_NONE;
	g_ptr_array_add(items, item);
	g_mutex_unlock(&loader->lock);
	return GST_FLOW_OK;
}

static GstClockTime
item_time(Item *item)
{
	return item->buffer ? GST_BUFFER_PTS(item->buffer) : 0;
}

/* Runs @pipeline until EOS (TRUE) or an error or @seconds. */
static gboolean
run_to_eos(GstElement *pipeline, guint seconds)
{
	g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
	g_autoptr(GstMessage) message = NULL;

	ck_assert_int_ne(gst_element_set_state(pipeline, GST_STATE_PLAYING),
			 GST_STATE_CHANGE_FAILURE);
	message = gst_bus_timed_pop_filtered(bus, seconds * GST_SECOND,
					     GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
	if (message && GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
		g_autoptr(GError) error = NULL;

		gst_message_parse_error(message, &error, NULL);
		fprintf(stderr, "pipeline error: %s\n", error->message);
	}
	gst_element_set_state(pipeline, GST_STATE_NULL);
	return message && GST_MESSAGE_TYPE(message) == GST_MESSAGE_EOS;
}

/* The clip's caps and buffers in one order: video in decoding order, and each audio frame before
 * the first video frame that is presented after it. */
static GPtrArray *
load_clip(const char *clip, gboolean audio)
{
	g_autofree char *path = g_build_filename(g_getenv("VLG_MEDIA_DIR"), clip, NULL);
	gboolean h265 = g_str_has_prefix(clip, "h265");
	gboolean aac = strstr(clip, "aac") != NULL;
	g_autofree char *description = g_strdup_printf(
	    "filesrc location=%s ! matroskademux name=d d.video_0 ! %s config-interval=-1 ! "
	    "%s,stream-format=byte-stream,alignment=au ! queue ! appsink name=v sync=false %s",
	    path, h265 ? "h265parse" : "h264parse", h265 ? "video/x-h265" : "video/x-h264",
	    !audio ? ""
	    : aac  ? "d.audio_0 ! queue ! aacparse ! appsink name=a sync=false"
		   : "d.audio_0 ! queue ! appsink name=a sync=false");
	g_autoptr(GError) error = NULL;
	GstElement *pipeline = gst_parse_launch(description, &error);
	GstAppSinkCallbacks callbacks = { .new_sample = on_sample };
	Loader loader = { 0 };
	GPtrArray *merged = g_ptr_array_new_with_free_func(item_free);
	guint a = 0;
	GstClockTime presented = 0;

	ck_assert_msg(pipeline, "%s", error ? error->message : "?");
	g_mutex_init(&loader.lock);
	for (guint t = 0; t < VLG_TRACK_COUNT; t++) {
		g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), t ? "a" : "v");

		loader.items[t] = g_ptr_array_new();
		if (sink)
			gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, &loader, NULL);
	}
	ck_assert(run_to_eos(pipeline, 30));
	gst_object_unref(pipeline);
	for (guint v = 0; v < loader.items[VLG_TRACK_VIDEO]->len; v++) {
		Item *video = loader.items[VLG_TRACK_VIDEO]->pdata[v];

		presented = MAX(presented, item_time(video));
		for (; a < loader.items[VLG_TRACK_AUDIO]->len; a++) {
			Item *item = loader.items[VLG_TRACK_AUDIO]->pdata[a];

			if (item->buffer && item_time(item) > presented)
				break;
			g_ptr_array_add(merged, item);
		}
		g_ptr_array_add(merged, video);
	}
	for (; a < loader.items[VLG_TRACK_AUDIO]->len; a++)
		g_ptr_array_add(merged, loader.items[VLG_TRACK_AUDIO]->pdata[a]);
	for (guint t = 0; t < VLG_TRACK_COUNT; t++)
		g_ptr_array_unref(loader.items[t]);
	g_mutex_clear(&loader.lock);
	return merged;
}

/* Pushes items [from, to) into @hub; returns how many video frames were pushed. */
static guint
feed(VlgHub *hub, GPtrArray *items, guint from, guint to)
{
	guint frames = 0;

	for (guint i = from; i < to && i < items->len; i++) {
		Item *item = items->pdata[i];

		if (item->caps) {
			vlg_hub_set_caps(hub, item->track, item->caps);
		} else {
			vlg_hub_push(hub, item->track, gst_buffer_ref(item->buffer));
			frames += item->track == VLG_TRACK_VIDEO;
		}
	}
	return frames;
}

/* Index of the item after the @n-th video frame. */
static guint
after_frames(GPtrArray *items, guint n)
{
	guint i = 0;

	for (guint seen = 0; i < items->len && seen < n; i++)
		seen += ((Item *)items->pdata[i])->track == VLG_TRACK_VIDEO &&
			((Item *)items->pdata[i])->buffer;
	return i;
}

/* Like feed(), but the audio format comes after the first video frame (a live start). */
static void
feed_audio_caps_late(VlgHub *hub, GPtrArray *items)
{
	guint first = after_frames(items, 1);

	for (guint i = 0; i < first; i++) {
		Item *item = items->pdata[i];

		if (!item->caps || item->track == VLG_TRACK_VIDEO)
			feed(hub, items, i, i + 1);
	}
	for (guint i = 0; i < first; i++) {
		Item *item = items->pdata[i];

		if (item->caps && item->track == VLG_TRACK_AUDIO)
			feed(hub, items, i, i + 1);
	}
	feed(hub, items, first, items->len);
}

/* ---- A client that keeps what it gets -------------------------------------------------------- */

typedef struct {
	GBytes *data;
	gboolean init;
	gboolean keyframe;
	char *mime; /* for init segments, as get_mime() said from the sink */
} Segment;

typedef struct {
	GMutex lock;
	GPtrArray *segments; /* of Segment* */
	VlgFmp4Muxer *muxer;
	gint destroyed;
} Collector;

static void
segment_free(gpointer data)
{
	Segment *segment = data;

	g_bytes_unref(segment->data);
	g_free(segment->mime);
	g_free(segment);
}

static void
collect(gpointer data, GBytes *bytes, gboolean is_init, gboolean keyframe)
{
	Collector *collector = data;
	Segment *segment = g_new0(Segment, 1);

	segment->data = g_bytes_ref(bytes);
	segment->init = is_init;
	segment->keyframe = keyframe;
	if (is_init)
		segment->mime = vlg_fmp4_muxer_get_mime(collector->muxer);
	g_mutex_lock(&collector->lock);
	g_ptr_array_add(collector->segments, segment);
	g_mutex_unlock(&collector->lock);
}

static void
collector_destroyed(gpointer data)
{
	g_atomic_int_inc(&((Collector *)data)->destroyed);
}

static void
collector_init(Collector *collector, VlgFmp4Muxer *muxer)
{
	g_mutex_init(&collector->lock);
	collector->segments = g_ptr_array_new_with_free_func(segment_free);
	collector->muxer = muxer;
	collector->destroyed = 0;
}

static void
collector_clear(Collector *collector)
{
	g_ptr_array_unref(collector->segments);
	g_mutex_clear(&collector->lock);
}

static Segment *
segment_at(Collector *collector, guint i)
{
	return collector->segments->pdata[i];
}

/* ---- Reading what it got --------------------------------------------------------------------- */

static guint32
be32(const guint8 *p)
{
	return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

static gboolean
find_child(const guint8 *data, gsize size, gsize skip, guint32 type, const guint8 **payload,
	   gsize *payload_size)
{
	gsize offset = skip;
	guint32 found;

	while (vlg_mp4_next_box(data, size, &offset, &found, payload, payload_size))
		if (found == type)
			return TRUE;
	return FALSE;
}

typedef struct {
	gboolean present;
	guint64 start; /* tfdt */
	guint64 end;   /* tfdt + durations */
	guint samples;
	gboolean first_sync;
	gboolean reordered; /* a non-zero composition offset */
} Run;

/* Parses a moof + mdat; fills runs[track_id] for track ids 1 and 2. */
static void
parse_media_segment(GBytes *segment, Run runs[3])
{
	gsize size, offset = 0, moof_n, mdat_n, traf_n, at = 0;
	const guint8 *data = g_bytes_get_data(segment, &size), *moof, *mdat, *traf, *p;
	guint32 type;

	memset(runs, 0, 3 * sizeof(Run));
	ck_assert(vlg_mp4_next_box(data, size, &offset, &type, &moof, &moof_n));
	ck_assert_uint_eq(type, VLG_MP4_FOURCC('m', 'o', 'o', 'f'));
	ck_assert(vlg_mp4_next_box(data, size, &offset, &type, &mdat, &mdat_n));
	ck_assert_uint_eq(type, VLG_MP4_FOURCC('m', 'd', 'a', 't'));
	ck_assert_uint_eq(offset, size);
	while (vlg_mp4_next_box(moof, moof_n, &at, &type, &traf, &traf_n)) {
		const guint8 *trun;
		gsize trun_n, n, pos = 12;
		guint32 flags, id;
		Run *run;

		if (type != VLG_MP4_FOURCC('t', 'r', 'a', 'f'))
			continue;
		ck_assert(find_child(traf, traf_n, 0, VLG_MP4_FOURCC('t', 'f', 'h', 'd'), &p, &n));
		id = be32(p + 4);
		ck_assert(id == 1 || id == 2);
		run = &runs[id];
		run->present = TRUE;
		ck_assert(find_child(traf, traf_n, 0, VLG_MP4_FOURCC('t', 'f', 'd', 't'), &p, &n));
		run->start = (guint64)be32(p + 4) << 32 | be32(p + 8);
		run->end = run->start;
		ck_assert(find_child(traf, traf_n, 0, VLG_MP4_FOURCC('t', 'r', 'u', 'n'), &trun,
				     &trun_n));
		flags = be32(trun) & 0xffffff;
		ck_assert_uint_eq(flags & 0x701, 0x701); /* offset, duration, size, flags */
		run->samples = be32(trun + 4);
		for (guint i = 0; i < run->samples; i++) {
			ck_assert_uint_le(pos + ((flags & 0x800) ? 16 : 12), trun_n);
			run->end += be32(trun + pos);
			if (i == 0)
				run->first_sync = !(be32(trun + pos + 8) & 0x00010000);
			if ((flags & 0x800) && be32(trun + pos + 12) != 0)
				run->reordered = TRUE;
			pos += (flags & 0x800) ? 16 : 12;
		}
	}
}

/* Checks ftyp + moov; returns the number of tracks; *@width/@height of the video. */
static guint
parse_init_segment(GBytes *init, guint32 video_entry, guint *width, guint *height)
{
	gsize size, offset = 0, moov_n, n, at = 0;
	const guint8 *data = g_bytes_get_data(init, &size), *moov, *p;
	guint32 type;
	guint traks = 0;

	ck_assert(vlg_mp4_next_box(data, size, &offset, &type, &p, &n));
	ck_assert_uint_eq(type, VLG_MP4_FOURCC('f', 't', 'y', 'p'));
	ck_assert(vlg_mp4_next_box(data, size, &offset, &type, &moov, &moov_n));
	ck_assert_uint_eq(type, VLG_MP4_FOURCC('m', 'o', 'o', 'v'));
	ck_assert_uint_eq(offset, size);
	ck_assert(find_child(moov, moov_n, 0, VLG_MP4_FOURCC('m', 'v', 'e', 'x'), &p, &n));
	while (vlg_mp4_next_box(moov, moov_n, &at, &type, &p, &n)) {
		const guint8 *box = p, *entry;
		gsize box_n = n, entry_n;
		static const guint32 path[] = { VLG_MP4_FOURCC('m', 'd', 'i', 'a'),
						VLG_MP4_FOURCC('m', 'i', 'n', 'f'),
						VLG_MP4_FOURCC('s', 't', 'b', 'l'),
						VLG_MP4_FOURCC('s', 't', 's', 'd') };

		if (type != VLG_MP4_FOURCC('t', 'r', 'a', 'k'))
			continue;
		for (guint i = 0; i < G_N_ELEMENTS(path); i++)
			ck_assert(find_child(box, box_n, 0, path[i], &box, &box_n));
		if (traks++ == 0) {
			ck_assert(find_child(box, box_n, 8, video_entry, &entry, &entry_n));
			*width = entry[24] << 8 | entry[25];
			*height = entry[26] << 8 | entry[27];
		} else {
			ck_assert(find_child(box, box_n, 8, VLG_MP4_FOURCC('m', 'p', '4', 'a'),
					     &entry, &entry_n));
		}
	}
	return traks;
}

/* ---- Decoding it ----------------------------------------------------------------------------- */

typedef struct {
	guint frames;
	guint width, height;
	GstClockTime last_pts;
	gboolean pts_monotonic;
	GstClockTime audio_duration;
} Decoded;

static GstPadProbeReturn
on_video_frame(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	Decoded *decoded = data;
	GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
	g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
	const GstStructure *s = gst_caps_get_structure(caps, 0);

	if (decoded->frames > 0 && GST_BUFFER_PTS(buffer) <= decoded->last_pts)
		decoded->pts_monotonic = FALSE;
	decoded->last_pts = GST_BUFFER_PTS(buffer);
	decoded->frames++;
	gst_structure_get_int(s, "width", (gint *)&decoded->width);
	gst_structure_get_int(s, "height", (gint *)&decoded->height);
	return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
on_audio_frame(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	Decoded *decoded = data;
	GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);

	if (GST_BUFFER_DURATION_IS_VALID(buffer))
		decoded->audio_duration += GST_BUFFER_DURATION(buffer);
	return GST_PAD_PROBE_OK;
}

/* Writes segments [from, to) of @collector to a file, the first being an init segment, and
 * decodes it with qtdemux and libav. */
static void
decode(Collector *collector, guint from, guint to, gboolean h265, gboolean audio, Decoded *decoded)
{
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *description = NULL;
	GstElement *pipeline;
	int fd = g_file_open_tmp("vlg-fmp4-XXXXXX.mp4", &path, &error);
	const char *sinks[] = { "vsink", "asink" };
	GstPadProbeCallback probes[] = { on_video_frame, on_audio_frame };

	ck_assert_int_ge(fd, 0);
	ck_assert(segment_at(collector, from)->init);
	for (guint i = from; i < to; i++) {
		gsize size;
		const guint8 *data = g_bytes_get_data(segment_at(collector, i)->data, &size);

		ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
	}
	close(fd);
	description = g_strdup_printf(
	    "filesrc location=%s ! qtdemux name=q q.video_0 ! queue ! %s ! %s ! fakesink "
	    "name=vsink sync=false %s",
	    path, h265 ? "h265parse" : "h264parse", h265 ? "avdec_h265" : "avdec_h264",
	    audio ? "q.audio_0 ! queue ! aacparse ! avdec_aac ! fakesink name=asink sync=false"
		  : "");
	pipeline = gst_parse_launch(description, &error);
	ck_assert_msg(pipeline, "%s", error ? error->message : "?");
	memset(decoded, 0, sizeof(*decoded));
	decoded->pts_monotonic = TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(sinks); i++) {
		g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), sinks[i]);
		g_autoptr(GstPad) pad = sink ? gst_element_get_static_pad(sink, "sink") : NULL;

		if (pad)
			gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, probes[i], decoded, NULL);
	}
	ck_assert(run_to_eos(pipeline, 30));
	gst_object_unref(pipeline);
	g_unlink(path);
}

/* Every media segment in [from, to) parses; its flag matches its first video sample; video
 * decode times run on without gap or overlap, audio ones never go back. Returns the number of
 * media segments. */
static guint
check_media_segments(Collector *collector, guint from, guint to, guint64 *video_end,
		     gboolean *reordered, guint *audio_runs)
{
	guint count = 0;
	guint64 audio_end = 0;

	for (guint i = from; i < to; i++) {
		Segment *segment = segment_at(collector, i);
		Run runs[3];

		if (segment->init)
			continue;
		parse_media_segment(segment->data, runs);
		ck_assert(runs[1].present);
		ck_assert_int_eq(segment->keyframe, runs[1].first_sync);
		if (count == 0 && from > 0)
			ck_assert(segment->keyframe);
		if (*video_end != G_MAXUINT64)
			ck_assert_uint_eq(runs[1].start, *video_end);
		*video_end = runs[1].end;
		*reordered |= runs[1].reordered;
		if (runs[2].present) {
			ck_assert_uint_ge(runs[2].start, audio_end);
			audio_end = runs[2].end;
			(*audio_runs)++;
		}
		count++;
	}
	return count;
}

/* ---- Clips ----------------------------------------------------------------------------------- */

typedef struct {
	const char *clip;
	guint32 entry;
	guint width, height;
	gboolean audio_in_clip;
	gboolean aac;
	gboolean bframes;
	const char *mime;
} ClipCase;

static const ClipCase clip_cases[] = {
	{ "h264-main-720p.mkv", VLG_MP4_FOURCC('a', 'v', 'c', '1'), 1280, 720, FALSE, FALSE, FALSE,
	  "video/mp4; codecs=\"avc1.4d401f\"" },
	{ "h264-high-bframes-720p.mkv", VLG_MP4_FOURCC('a', 'v', 'c', '1'), 1280, 720, FALSE, FALSE,
	  TRUE, "video/mp4; codecs=\"avc1.64001f\"" },
	{ "h265-main-720p.mkv", VLG_MP4_FOURCC('h', 'v', 'c', '1'), 1280, 720, FALSE, FALSE, FALSE,
	  "video/mp4; codecs=\"hvc1.1.6.L93.90\"" },
	{ "h264-aac-360p.mkv", VLG_MP4_FOURCC('a', 'v', 'c', '1'), 640, 360, TRUE, TRUE, FALSE,
	  "video/mp4; codecs=\"avc1.42c01e,mp4a.40.2\"" },
	/* G.711 is left out: MSE cannot play it. */
	{ "h264-pcma-360p.mkv", VLG_MP4_FOURCC('a', 'v', 'c', '1'), 640, 360, TRUE, FALSE, FALSE,
	  "video/mp4; codecs=\"avc1.42c01e\"" },
};

static void
assert_frames_near(guint frames, guint expected)
{
	ck_assert_msg(frames * 10 >= expected * 9 && frames * 10 <= expected * 11,
		      "%u frames decoded, expected %u", frames, expected);
}

START_TEST(test_clip_decodes)
{
	const ClipCase *c = &clip_cases[_i];
	g_autoptr(GPtrArray) items = load_clip(c->clip, c->audio_in_clip);
	g_autoptr(VlgHub) hub = vlg_hub_new("fmp4");
	VlgFmp4Muxer *muxer = vlg_fmp4_muxer_new(hub);
	g_autofree char *mime = NULL;
	Collector collector;
	VlgFmp4Client *client;
	guint width = 0, height = 0, audio_runs = 0, media;
	guint64 video_end = G_MAXUINT64;
	gboolean reordered = FALSE;
	Decoded decoded;
	VlgFmp4Stats stats;

	collector_init(&collector, muxer);
	ck_assert_ptr_null(vlg_fmp4_muxer_get_mime(muxer));
	client = vlg_fmp4_muxer_add_client(muxer, collect, &collector, collector_destroyed);
	ck_assert_uint_eq(collector.segments->len, 0);
	ck_assert_uint_eq(feed(hub, items, 0, items->len), CLIP_FRAMES);
	vlg_hub_reset(hub); /* the last frame goes out with a guessed duration */

	mime = vlg_fmp4_muxer_get_mime(muxer);
	ck_assert_str_eq(mime, c->mime);
	ck_assert_uint_ge(collector.segments->len, 2);
	ck_assert(segment_at(&collector, 0)->init);
	ck_assert_str_eq(segment_at(&collector, 0)->mime, c->mime);
	ck_assert_uint_eq(
	    parse_init_segment(segment_at(&collector, 0)->data, c->entry, &width, &height),
	    c->aac ? 2 : 1);
	ck_assert_uint_eq(width, c->width);
	ck_assert_uint_eq(height, c->height);
	ck_assert(segment_at(&collector, 1)->keyframe);
	media = check_media_segments(&collector, 1, collector.segments->len, &video_end, &reordered,
				     &audio_runs);
	/* One segment per frame, by default. */
	ck_assert_uint_eq(media, CLIP_FRAMES);
	ck_assert_int_eq(reordered, c->bframes);
	ck_assert_uint_eq(audio_runs > 0, c->aac);
	vlg_fmp4_muxer_get_stats(muxer, &stats);
	ck_assert_uint_eq(stats.init_segments, 1);
	ck_assert_uint_eq(stats.media_segments, CLIP_FRAMES);
	ck_assert_uint_eq(stats.clients, 1);

	decode(&collector, 0, collector.segments->len,
	       c->entry == VLG_MP4_FOURCC('h', 'v', 'c', '1'), c->aac, &decoded);
	assert_frames_near(decoded.frames, CLIP_FRAMES);
	ck_assert_uint_eq(decoded.width, c->width);
	ck_assert_uint_eq(decoded.height, c->height);
	ck_assert_msg(decoded.pts_monotonic, "decoded frames out of order");
	if (c->aac)
		ck_assert_msg(decoded.audio_duration >= 9 * GST_SECOND &&
				  decoded.audio_duration <= 11 * GST_SECOND,
			      "%" GST_TIME_FORMAT " of audio",
			      GST_TIME_ARGS(decoded.audio_duration));

	vlg_fmp4_muxer_remove_client(muxer, client);
	ck_assert_int_eq(collector.destroyed, 1);
	vlg_fmp4_muxer_free(muxer);
	collector_clear(&collector);
}
END_TEST

/* Larger segments: still cut at every keyframe, each at least the duration asked for. */
START_TEST(test_fragment_duration)
{
	g_autoptr(GPtrArray) items = load_clip("h264-high-bframes-720p.mkv", FALSE);
	g_autoptr(VlgHub) hub = vlg_hub_new("fmp4");
	VlgFmp4Muxer *muxer = vlg_fmp4_muxer_new(hub);
	Collector collector;
	guint audio_runs = 0, media, keyframes = 0;
	guint64 video_end = G_MAXUINT64;
	gboolean reordered = FALSE;
	Decoded decoded;

	collector_init(&collector, muxer);
	vlg_fmp4_muxer_set_fragment_duration(muxer, 200);
	vlg_fmp4_muxer_add_client(muxer, collect, &collector, NULL);
	feed(hub, items, 0, items->len);
	vlg_hub_reset(hub);
	media = check_media_segments(&collector, 1, collector.segments->len, &video_end, &reordered,
				     &audio_runs);
	for (guint i = 1; i < collector.segments->len; i++)
		keyframes += segment_at(&collector, i)->keyframe;
	ck_assert_uint_eq(keyframes, 5); /* every 2 s */
	/* 5 frames of 40 ms per segment: 10 per GOP of 50. */
	ck_assert_uint_eq(media, 50);
	decode(&collector, 0, collector.segments->len, FALSE, FALSE, &decoded);
	assert_frames_near(decoded.frames, CLIP_FRAMES);
	ck_assert(decoded.pts_monotonic);
	vlg_fmp4_muxer_free(muxer);
	collector_clear(&collector);
}
END_TEST

/* A client joining mid-GOP gets the init segment and the GOP so far, from its keyframe, at once. */
START_TEST(test_late_client_starts_on_keyframe)
{
	g_autoptr(GPtrArray) items = load_clip("h264-high-bframes-720p.mkv", FALSE);
	g_autoptr(VlgHub) hub = vlg_hub_new("fmp4");
	VlgFmp4Muxer *muxer = vlg_fmp4_muxer_new(hub);
	Collector early, late;
	guint split = after_frames(items, 70), audio_runs = 0, media;
	guint64 video_end = G_MAXUINT64;
	gboolean reordered = FALSE;
	Decoded decoded;

	collector_init(&early, muxer);
	collector_init(&late, muxer);
	vlg_fmp4_muxer_add_client(muxer, collect, &early, NULL);
	feed(hub, items, 0, split);
	vlg_fmp4_muxer_add_client(muxer, collect, &late, collector_destroyed);
	/* Init, then frames 50..68 (frame 69 waits for the next one to know its duration). */
	ck_assert_uint_eq(late.segments->len, 1 + 19);
	ck_assert(segment_at(&late, 0)->init);
	ck_assert(g_bytes_equal(segment_at(&late, 0)->data, segment_at(&early, 0)->data));
	ck_assert(segment_at(&late, 1)->keyframe);
	for (guint i = 2; i < late.segments->len; i++)
		ck_assert(!segment_at(&late, i)->keyframe);
	feed(hub, items, split, items->len);
	vlg_hub_reset(hub);
	media =
	    check_media_segments(&late, 0, late.segments->len, &video_end, &reordered, &audio_runs);
	ck_assert_uint_eq(media, CLIP_FRAMES - 50);
	/* The late client's segments are the early client's, shared. */
	ck_assert(g_bytes_equal(segment_at(&late, 1)->data, segment_at(&early, 1 + 50)->data));
	decode(&late, 0, late.segments->len, FALSE, FALSE, &decoded);
	assert_frames_near(decoded.frames, CLIP_FRAMES - 50);
	ck_assert(decoded.pts_monotonic);
	vlg_fmp4_muxer_free(muxer);
	ck_assert_int_eq(late.destroyed, 1);
	collector_clear(&early);
	collector_clear(&late);
}
END_TEST

/* A camera reconnect: timestamps start over, the decode times run on, and with the same format
 * no new init segment is sent. Audio and B-frames included. */
START_TEST(test_reset_keeps_timeline)
{
	const char *clip = _i ? "h264-high-bframes-720p.mkv" : "h264-aac-360p.mkv";
	g_autoptr(GPtrArray) items = load_clip(clip, _i == 0);
	g_autoptr(VlgHub) hub = vlg_hub_new("fmp4");
	VlgFmp4Muxer *muxer = vlg_fmp4_muxer_new(hub);
	Collector collector;
	guint audio_runs = 0, media, inits = 0;
	guint64 video_end = G_MAXUINT64;
	gboolean reordered = FALSE;
	Decoded decoded;

	collector_init(&collector, muxer);
	vlg_fmp4_muxer_add_client(muxer, collect, &collector, NULL);
	feed(hub, items, 0, items->len);
	vlg_hub_reset(hub);
	/* The muxer waits for the audio format before it decides on the init segment. */
	feed_audio_caps_late(hub, items);
	vlg_hub_reset(hub);
	for (guint i = 0; i < collector.segments->len; i++)
		inits += segment_at(&collector, i)->init;
	ck_assert_uint_eq(inits, 1);
	media = check_media_segments(&collector, 1, collector.segments->len, &video_end, &reordered,
				     &audio_runs);
	ck_assert_uint_eq(media, 2 * CLIP_FRAMES);
	/* 20 s of video at 90 kHz, give or take the guessed last durations. */
	ck_assert_uint_le(video_end, 2 * CLIP_SECONDS * 90000 + 2 * 3600);
	ck_assert_uint_ge(video_end, 2 * CLIP_SECONDS * 90000 - 2 * 3600);
	decode(&collector, 0, collector.segments->len, FALSE, _i == 0, &decoded);
	assert_frames_near(decoded.frames, 2 * CLIP_FRAMES);
	ck_assert(decoded.pts_monotonic);
	if (_i == 0)
		ck_assert_msg(decoded.audio_duration >= 18 * GST_SECOND,
			      "%" GST_TIME_FORMAT " of audio",
			      GST_TIME_ARGS(decoded.audio_duration));
	vlg_fmp4_muxer_free(muxer);
	collector_clear(&collector);
}
END_TEST

/* A reconnect with another resolution and no audio: a new init segment, flagged, with the new
 * codecs string, then a keyframe; the timeline runs on. */
START_TEST(test_format_change_sends_init)
{
	g_autoptr(GPtrArray) first = load_clip("h264-aac-360p.mkv", TRUE);
	g_autoptr(GPtrArray) second = load_clip("h264-main-720p.mkv", FALSE);
	g_autoptr(VlgHub) hub = vlg_hub_new("fmp4");
	VlgFmp4Muxer *muxer = vlg_fmp4_muxer_new(hub);
	Collector collector;
	guint audio_runs = 0, second_init = 0, width = 0, height = 0;
	guint64 video_end = G_MAXUINT64;
	gboolean reordered = FALSE;
	Decoded decoded;

	collector_init(&collector, muxer);
	vlg_fmp4_muxer_add_client(muxer, collect, &collector, NULL);
	feed(hub, first, 0, first->len);
	vlg_hub_reset(hub);
	feed(hub, second, 0, second->len);
	vlg_hub_reset(hub);
	for (guint i = 1; i < collector.segments->len; i++)
		if (segment_at(&collector, i)->init) {
			ck_assert_uint_eq(second_init, 0);
			second_init = i;
		}
	ck_assert_uint_eq(second_init, 1 + CLIP_FRAMES);
	ck_assert_str_eq(segment_at(&collector, second_init)->mime,
			 "video/mp4; codecs=\"avc1.4d401f\"");
	ck_assert_uint_eq(parse_init_segment(segment_at(&collector, second_init)->data,
					     VLG_MP4_FOURCC('a', 'v', 'c', '1'), &width, &height),
			  1);
	ck_assert_uint_eq(width, 1280);
	ck_assert(segment_at(&collector, second_init + 1)->keyframe);
	/* Decode times run on across the change. */
	check_media_segments(&collector, 1, collector.segments->len, &video_end, &reordered,
			     &audio_runs);
	decode(&collector, second_init, collector.segments->len, FALSE, FALSE, &decoded);
	assert_frames_near(decoded.frames, CLIP_FRAMES);
	ck_assert_uint_eq(decoded.height, 720);
	vlg_fmp4_muxer_free(muxer);
	collector_clear(&collector);
}
END_TEST

/* After a new init segment, a client joining before the next keyframe's segment is out gets the
 * new init segment alone: never segments of the old format after it. */
START_TEST(test_new_init_drops_old_gop)
{
	g_autoptr(GPtrArray) first = load_clip("h264-main-720p.mkv", FALSE);
	g_autoptr(GPtrArray) second = load_clip("h264-cbp-360p.mkv", FALSE);
	g_autoptr(VlgHub) hub = vlg_hub_new("fmp4");
	VlgFmp4Muxer *muxer = vlg_fmp4_muxer_new(hub);
	guint split = after_frames(second, 1), width = 0, height = 0;
	Collector early, late;

	collector_init(&early, muxer);
	collector_init(&late, muxer);
	vlg_fmp4_muxer_add_client(muxer, collect, &early, NULL);
	feed(hub, first, 0, after_frames(first, 70));
	vlg_hub_reset(hub);
	feed(hub, second, 0, split);
	vlg_fmp4_muxer_add_client(muxer, collect, &late, NULL);
	ck_assert_uint_eq(late.segments->len, 1);
	ck_assert(segment_at(&late, 0)->init);
	ck_assert_str_eq(segment_at(&late, 0)->mime, "video/mp4; codecs=\"avc1.42c01e\"");
	parse_init_segment(segment_at(&late, 0)->data, VLG_MP4_FOURCC('a', 'v', 'c', '1'), &width,
			   &height);
	ck_assert_uint_eq(width, 640);
	feed(hub, second, split, after_frames(second, 3));
	ck_assert_uint_eq(late.segments->len, 3);
	ck_assert(segment_at(&late, 1)->keyframe);
	ck_assert(g_bytes_equal(segment_at(&late, 1)->data,
				segment_at(&early, early.segments->len - 2)->data));
	vlg_fmp4_muxer_free(muxer);
	collector_clear(&early);
	collector_clear(&late);
}
END_TEST

/* ---- A live camera --------------------------------------------------------------------------- */

static GPid
start_camsim(const char *clip, int *port)
{
	g_autofree char *path = g_build_filename(g_getenv("VLG_MEDIA_DIR"), clip, NULL);
	g_autofree char *camera = g_strdup_printf("c1=%s", path);
	const char *argv[] = { g_getenv("VLG_CAMSIM"),
			       "--address=127.0.0.1",
			       "--port=0",
			       "--control-port=0",
			       "--camera",
			       camera,
			       NULL };
	g_autoptr(GError) error = NULL;
	GPid pid;
	int out_fd;
	FILE *out;
	char line[256] = "";

	ck_assert(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
					   &pid, NULL, &out_fd, NULL, &error));
	out = fdopen(out_fd, "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), out));
	ck_assert_int_eq(sscanf(line, "camsim ready rtsp=%d", port), 1);
	fclose(out);
	return pid;
}

static guint
segment_count(Collector *collector)
{
	guint count;

	g_mutex_lock(&collector->lock);
	count = collector->segments->len;
	g_mutex_unlock(&collector->lock);
	return count;
}

START_TEST(test_live_camera)
{
	int port;
	GPid camsim = start_camsim("h264-aac-360p.mkv", &port);
	g_autofree char *url = g_strdup_printf("rtsp://127.0.0.1:%d/c1", port);
	VlgCameraInfo info = { .id = "c1", .name = "c1", .url = url };
	VlgCameraSettings settings = {
		.ingest = { .timings = { .watchdog_us = 5 * G_USEC_PER_SEC,
					 .connect_timeout_us = 10 * G_USEC_PER_SEC,
					 .backoff = { 30000, 60000 } },
			    .latency_ms = 100 },
	};
	VlgCamera *camera = vlg_camera_new(&info, &settings);
	VlgFmp4Muxer *muxer = vlg_fmp4_muxer_new(vlg_camera_get_hub(camera));
	gint64 deadline = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
	guint width = 0, height = 0, audio_runs = 0, media;
	guint64 video_end = G_MAXUINT64;
	gboolean reordered = FALSE;
	Collector collector;
	Decoded decoded;

	collector_init(&collector, muxer);
	vlg_fmp4_muxer_add_client(muxer, collect, &collector, NULL);
	vlg_camera_hold(camera);
	/* 3 s of video. */
	while (segment_count(&collector) < 76 && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE) || (g_usleep(2000), TRUE);
	vlg_fmp4_muxer_free(muxer);
	vlg_camera_release(camera);
	vlg_camera_free(camera);
	vlg_teardown_wait();
	kill(camsim, SIGTERM);
	waitpid(camsim, NULL, 0);
	g_spawn_close_pid(camsim);

	ck_assert_uint_ge(collector.segments->len, 76);
	ck_assert(segment_at(&collector, 0)->init);
	ck_assert_str_eq(segment_at(&collector, 0)->mime,
			 "video/mp4; codecs=\"avc1.42c01e,mp4a.40.2\"");
	ck_assert_uint_eq(parse_init_segment(segment_at(&collector, 0)->data,
					     VLG_MP4_FOURCC('a', 'v', 'c', '1'), &width, &height),
			  2);
	ck_assert(segment_at(&collector, 1)->keyframe);
	media = check_media_segments(&collector, 1, collector.segments->len, &video_end, &reordered,
				     &audio_runs);
	ck_assert_uint_ge(audio_runs, media / 2);
	decode(&collector, 0, collector.segments->len, FALSE, TRUE, &decoded);
	assert_frames_near(decoded.frames, media);
	ck_assert_uint_eq(decoded.width, 640);
	ck_assert(decoded.pts_monotonic);
	ck_assert_uint_ge(decoded.audio_duration, 2 * GST_SECOND);
	collector_clear(&collector);
}
END_TEST

static Suite *
fmp4_suite(void)
{
	Suite *suite = suite_create("fmp4-muxer");
	TCase *tc;

	tc = tcase_create("clips");
	tcase_add_loop_test(tc, test_clip_decodes, 0, G_N_ELEMENTS(clip_cases));
	tcase_add_test(tc, test_fragment_duration);
	tcase_set_timeout(tc, 90);
	suite_add_tcase(suite, tc);
	tc = tcase_create("clients");
	tcase_add_test(tc, test_late_client_starts_on_keyframe);
	tcase_set_timeout(tc, 90);
	suite_add_tcase(suite, tc);
	tc = tcase_create("reconnects");
	tcase_add_loop_test(tc, test_reset_keeps_timeline, 0, 2); /* AAC, B-frames */
	tcase_add_test(tc, test_format_change_sends_init);
	tcase_add_test(tc, test_new_init_drops_old_gop);
	tcase_set_timeout(tc, 90);
	suite_add_tcase(suite, tc);
	tc = tcase_create("live");
	tcase_add_test(tc, test_live_camera);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(int argc, char **argv)
{
	SRunner *runner;
	int failed;

	g_setenv("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
	gst_init(&argc, &argv);
	runner = srunner_create(fmp4_suite());
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
