/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Transcoder tests: cameras pulled from the simulator ($VLG_CAMSIM serving $VLG_MEDIA_DIR, one per
 * clip, started once per test case) and transcoded into per-profile hubs of H.264 access units.
 * Each test checks what a profile hub carries (caps, size, SPS profile, keyframes, rate), that
 * profiles share decoders and outputs, and that the decoder follows reconnects and format
 * changes. The format-change test feeds the camera hub itself from local files.
 *
 * Check with CK_FORK: each test runs in its own process (fresh GStreamer state and counters);
 * the simulator, started by the parent, dies with it (PR_SET_PDEATHSIG).
 */
#include <check.h>

#include "camsim-fixture.h"
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipelines/teardown.h"
#include "pipelines/transcoder.h"

/* ---- cameras, profiles, the main loop ------------------------------------------------------ */

static const VlgProfile sub = { "sub", FALSE, FALSE, 640, 360, 15, 600 };
static const VlgProfile low = { "low", FALSE, FALSE, 320, 180, 5, 150 };
static const VlgProfile key = { "key", FALSE, TRUE, 0, 0, 0, 0 };
static const VlgProfile main_profile = { "main", TRUE, FALSE, 0, 0, 0, 0 };
static const VlgTranscoderSettings transcoder_settings = { 0 };


/* ---- a consumer of a profile hub ----------------------------------------------------------- */

typedef struct {
	GMutex lock;
	VlgHub *hub;
	VlgHubConsumer *consumer;
	gboolean transcoded; /* keyframes must be constrained baseline with SPS and PPS */
	GstCaps *caps;       /* the last */
	guint resets;
	guint buffers;
	guint keyframes;
	guint after_reset; /* buffers since the last reset */
	gboolean first_is_keyframe;
	gboolean first_after_reset_is_keyframe;
	gboolean
		bad_keyframe; /* a keyframe without SPS, PPS and IDR, or not constrained baseline */
	gboolean pts_backwards; /* B-frames, or timestamps out of order */
	GstClockTime last_pts;
} Watch;

/* Checks an Annex-B keyframe: SPS (constrained baseline), PPS and an IDR slice. */
static gboolean
keyframe_is_good(GstBuffer *buffer)
{
	GstMapInfo map;
	gboolean sps = FALSE, pps = FALSE, idr = FALSE, baseline = FALSE;

	if (!gst_buffer_map(buffer, &map, GST_MAP_READ))
		return FALSE;
	for (gsize i = 0; i + 5 < map.size; i++) {
		guint type;

		if (map.data[i] != 0 || map.data[i + 1] != 0 || map.data[i + 2] != 1)
			continue;
		type = map.data[i + 3] & 0x1f;
		if (type == 7) {
			sps = TRUE;
			/* profile_idc 66 with constraint_set1: constrained baseline */
			baseline = map.data[i + 4] == 66 && (map.data[i + 5] & 0x40);
		}
		pps |= type == 8;
		idr |= type == 5;
	}
	gst_buffer_unmap(buffer, &map);
	return sps && pps && idr && baseline;
}

static void
watch_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	Watch *w = data;

	g_mutex_lock(&w->lock);
	gst_caps_replace(&w->caps, caps);
	g_mutex_unlock(&w->lock);
}

static void
watch_buffer(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	Watch *w = data;
	gboolean keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
	GstClockTime pts = GST_BUFFER_PTS(buffer);

	g_mutex_lock(&w->lock);
	if (w->buffers == 0)
		w->first_is_keyframe = keyframe;
	if (w->after_reset == 0)
		w->first_after_reset_is_keyframe = keyframe;
	w->buffers++;
	w->after_reset++;
	if (keyframe) {
		w->keyframes++;
		/* Camera keyframes forwarded as they are need not be baseline. */
		if (w->transcoded)
			w->bad_keyframe |= !keyframe_is_good(buffer);
	}
	if (GST_CLOCK_TIME_IS_VALID(w->last_pts) && pts <= w->last_pts)
		w->pts_backwards = TRUE;
	w->last_pts = pts;
	g_mutex_unlock(&w->lock);
}

static void
watch_reset(gpointer data)
{
	Watch *w = data;

	g_mutex_lock(&w->lock);
	w->resets++;
	w->after_reset = 0;
	w->last_pts = GST_CLOCK_TIME_NONE;
	g_mutex_unlock(&w->lock);
}

static const VlgHubConsumerFuncs watch_funcs = { watch_caps, watch_buffer, watch_reset };

static Watch *
watch_new_full(VlgHub *hub, gboolean transcoded)
{
	Watch *w = g_new0(Watch, 1);

	g_mutex_init(&w->lock);
	w->transcoded = transcoded;
	w->last_pts = GST_CLOCK_TIME_NONE;
	w->hub = vlg_hub_ref(hub);
	w->consumer = vlg_hub_attach(hub, &watch_funcs, w, NULL);
	return w;
}

static Watch *
watch_new(VlgHub *hub)
{
	return watch_new_full(hub, TRUE);
}

static void
watch_free(Watch *w)
{
	vlg_hub_detach(w->hub, w->consumer);
	vlg_hub_unref(w->hub);
	gst_clear_caps(&w->caps);
	g_mutex_clear(&w->lock);
	g_free(w);
}

static guint
watch_buffers(Watch *w)
{
	guint n;

	g_mutex_lock(&w->lock);
	n = w->buffers;
	g_mutex_unlock(&w->lock);
	return n;
}

typedef struct {
	Watch *watch;
	guint count;
} Wanted;

static gboolean
has_buffers(gpointer data)
{
	Wanted *wanted = data;

	return watch_buffers(wanted->watch) >= wanted->count;
}

static gboolean
wait_buffers(Watch *w, guint count, double seconds)
{
	Wanted wanted = { w, count };

	return vlg_test_run_until(has_buffers, &wanted, seconds);
}

static gboolean
has_keyframes(gpointer data)
{
	Wanted *wanted = data;
	guint n;

	g_mutex_lock(&wanted->watch->lock);
	n = wanted->watch->keyframes;
	g_mutex_unlock(&wanted->watch->lock);
	return n >= wanted->count;
}

static void
watch_snapshot(Watch *w, guint *buffers, GstClockTime *last_pts)
{
	g_mutex_lock(&w->lock);
	*buffers = w->buffers;
	*last_pts = w->last_pts;
	g_mutex_unlock(&w->lock);
}

/* Over @seconds of main loop: the stream's frame rate (frames per second of PTS) must be within
 * 30 % of @expected, and frames must arrive at half of it at least (the box may be loaded: the
 * benchmark, not this test, says how fast it goes). */
static void
assert_rate(Watch *w, double seconds, double expected)
{
	guint before, after;
	GstClockTime first_pts, last_pts;
	gint64 start = g_get_monotonic_time();
	double stream_rate, arrival_rate;

	watch_snapshot(w, &before, &first_pts);
	vlg_test_run_for(seconds);
	watch_snapshot(w, &after, &last_pts);
	arrival_rate = (after - before) * (double)G_USEC_PER_SEC / (g_get_monotonic_time() - start);
	ck_assert_msg(after > before + 1 && GST_CLOCK_TIME_IS_VALID(first_pts) &&
			      last_pts > first_pts,
		      "no frames (%u, then %u)", before, after);
	stream_rate = (after - before) / ((double)(last_pts - first_pts) / GST_SECOND);
	ck_assert_msg(stream_rate >= expected * 0.7 && stream_rate <= expected * 1.3,
		      "%.1f frames per second of stream, expected %.0f", stream_rate, expected);
	ck_assert_msg(arrival_rate >= expected * 0.5, "%.1f frames/s arrived, expected %.0f",
		      arrival_rate, expected);
}

/* The hub's caps are H.264 byte-stream AUs, constrained baseline, of this size. */
static void
assert_h264_caps(Watch *w, gint width, gint height)
{
	const GstStructure *s;
	gint cw = 0, ch = 0;

	g_mutex_lock(&w->lock);
	ck_assert_ptr_nonnull(w->caps);
	s = gst_caps_get_structure(w->caps, 0);
	ck_assert_str_eq(gst_structure_get_name(s), "video/x-h264");
	ck_assert_str_eq(gst_structure_get_string(s, "stream-format"), "byte-stream");
	ck_assert_str_eq(gst_structure_get_string(s, "alignment"), "au");
	ck_assert(gst_structure_get_int(s, "width", &cw) &&
		  gst_structure_get_int(s, "height", &ch));
	ck_assert_msg(cw == width && ch == height, "%dx%d, expected %dx%d", cw, ch, width, height);
	if (w->transcoded)
		ck_assert_str_eq(gst_structure_get_string(s, "profile"), "constrained-baseline");
	g_mutex_unlock(&w->lock);
}

static void
assert_stream_sane(Watch *w)
{
	g_mutex_lock(&w->lock);
	ck_assert_msg(w->first_is_keyframe, "the first buffer was not a keyframe");
	ck_assert_msg(!w->bad_keyframe, "a keyframe lacked SPS/PPS/IDR or was not baseline");
	ck_assert_msg(!w->pts_backwards, "timestamps went backwards (B-frames?)");
	g_mutex_unlock(&w->lock);
}

/* ---- tests ------------------------------------------------------------------------------- */

static const char *const sub_low_clips[] = { "h264-main-720p", "h265-main-720p",
					     "h264-high-bframes-720p" };

/* sub and low from one decoder; a second acquire shares; branches come and go while running. */
START_TEST(test_sub_and_low)
{
	VlgCamera *camera = vlg_test_camera_new(sub_low_clips[_i]);
	VlgTranscoder *t = vlg_transcoder_new(camera, &transcoder_settings);
	g_autoptr(GError) error = NULL;
	VlgHub *sub_hub, *low_hub;
	Watch *ws, *wl;
	guint before;
	VlgTranscoderStats stats;

	sub_hub = vlg_transcoder_acquire(t, &sub, &error);
	ck_assert_msg(sub_hub, "%s", error ? error->message : "?");
	ck_assert_ptr_eq(vlg_transcoder_acquire(t, &sub, NULL), sub_hub);
	ws = watch_new(sub_hub);
	ck_assert_msg(wait_buffers(ws, 5, 15), "no sub output from %s", sub_low_clips[_i]);
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 1);
	ck_assert_uint_eq(vlg_transcoder_running_decoders(), 1);

	/* A second profile joins the running decoder. */
	low_hub = vlg_transcoder_acquire(t, &low, &error);
	ck_assert_ptr_nonnull(low_hub);
	ck_assert_ptr_ne(low_hub, sub_hub);
	wl = watch_new(low_hub);
	ck_assert(wait_buffers(wl, 3, 10));
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 2);
	ck_assert_uint_eq(vlg_transcoder_running_decoders(), 1);
	assert_rate(ws, 3, sub.fps);
	assert_rate(wl, 3, low.fps);
	assert_h264_caps(ws, 640, 360);
	assert_h264_caps(wl, 320, 180);
	assert_stream_sane(ws);
	assert_stream_sane(wl);

	/* low leaves: sub goes on undisturbed. */
	watch_free(wl);
	vlg_transcoder_release(t, &low);
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 1);
	assert_rate(ws, 1.5, sub.fps);
	assert_stream_sane(ws);

	before = watch_buffers(ws);
	vlg_transcoder_release(t, &sub);
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 1); /* one user left */
	vlg_transcoder_release(t, &sub);
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 0);
	ck_assert_uint_eq(vlg_transcoder_running_decoders(), 0);
	vlg_transcoder_get_stats(t, &stats);
	ck_assert(!stats.decoding);
	ck_assert_uint_eq(stats.outputs, 0);
	vlg_test_run_for(0.5);
	ck_assert_uint_le(watch_buffers(ws), before + 1);
	ck_assert_uint_eq(vlg_camera_get_holders(camera), 0);
	watch_free(ws);
	vlg_transcoder_free(t);
	vlg_test_camera_free(camera);
}
END_TEST

/* key of an H.264 camera: its own keyframes, no decoder, no encoder. */
START_TEST(test_key_from_h264)
{
	VlgCamera *camera = vlg_test_camera_new("h264-main-720p");
	VlgTranscoder *t = vlg_transcoder_new(camera, &transcoder_settings);
	VlgHub *hub = vlg_transcoder_acquire(t, &key, NULL);
	Watch *w = watch_new_full(hub, FALSE);
	Wanted wanted = { w, 3 };
	VlgTranscoderStats stats;

	ck_assert(vlg_test_run_until(has_keyframes, &wanted, 10));
	ck_assert_uint_eq(vlg_transcoder_running_decoders(), 0);
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 0);
	vlg_transcoder_get_stats(t, &stats);
	ck_assert_uint_eq(stats.decoder_starts, 0);
	g_mutex_lock(&w->lock);
	ck_assert_uint_eq(w->buffers, w->keyframes);
	g_mutex_unlock(&w->lock);
	assert_h264_caps(w, 1280, 720);
	assert_stream_sane(w);
	watch_free(w);
	vlg_transcoder_release(t, &key);
	vlg_transcoder_free(t);
	vlg_test_camera_free(camera);
}
END_TEST

/* key of an H.265 camera: keyframes only decoded, encoded all-intra; then main joins (the decoder
 * takes every frame, key goes on at 1/s from the tee) at the camera's size and rate. */
START_TEST(test_key_and_main_from_h265)
{
	VlgCamera *camera = vlg_test_camera_new("h265-main-720p");
	VlgTranscoder *t = vlg_transcoder_new(camera, &transcoder_settings);
	VlgHub *key_hub = vlg_transcoder_acquire(t, &key, NULL);
	Watch *wk = watch_new(key_hub), *wm;
	Wanted wanted = { wk, 1 };
	VlgTranscoderStats stats;
	guint keys_before;

	ck_assert(vlg_test_run_until(has_keyframes, &wanted, 10));
	vlg_test_run_for(4.5); /* two more of the camera's keyframes */
	ck_assert_uint_eq(vlg_transcoder_running_decoders(), 1);
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 1);
	vlg_transcoder_get_stats(t, &stats);
	/* Only the camera's keyframes (one per 2 s GOP) reached the decoder, and each gave one
	 * frame. */
	ck_assert_uint_ge(stats.frames_in, 2);
	ck_assert_uint_le(stats.frames_in, 4);
	ck_assert_uint_ge(watch_buffers(wk), stats.frames_in - 1);
	ck_assert_uint_le(watch_buffers(wk), stats.frames_in);
	assert_h264_caps(wk, 1280, 720);

	wm = watch_new(vlg_transcoder_acquire(t, &main_profile, NULL));
	ck_assert(wait_buffers(wm, 10, 10));
	ck_assert_uint_eq(vlg_transcoder_running_decoders(), 1);
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 2);
	keys_before = watch_buffers(wk);
	assert_rate(wm, 3, 25);
	ck_assert_uint_ge(watch_buffers(wk) - keys_before, 2); /* ~1/s */
	ck_assert_uint_le(watch_buffers(wk) - keys_before, 5);
	assert_h264_caps(wm, 1280, 720);
	assert_stream_sane(wm);
	assert_stream_sane(wk);
	g_mutex_lock(&wk->lock);
	ck_assert_uint_eq(wk->buffers, wk->keyframes);
	g_mutex_unlock(&wk->lock);

	watch_free(wk);
	watch_free(wm);
	vlg_transcoder_free(t);
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 0);
	ck_assert_uint_eq(vlg_transcoder_running_decoders(), 0);
	vlg_test_camera_free(camera);
}
END_TEST

static gboolean
was_reset(gpointer data)
{
	Watch *w = data;
	gboolean reset;

	g_mutex_lock(&w->lock);
	reset = w->resets > 0;
	g_mutex_unlock(&w->lock);
	return reset;
}

static gboolean
resumed(gpointer data)
{
	Watch *w = data;
	gboolean done;

	g_mutex_lock(&w->lock);
	done = w->resets > 0 && w->after_reset >= 10;
	g_mutex_unlock(&w->lock);
	return done;
}

/* The camera goes down and comes back: the profile hub is reset, then resumes on a keyframe. */
START_TEST(test_camera_restart)
{
	VlgCamera *camera = vlg_test_camera_new("h264-cbp-360p");
	VlgTranscoder *t = vlg_transcoder_new(camera, &transcoder_settings);
	Watch *w = watch_new(vlg_transcoder_acquire(t, &low, NULL));
	VlgTranscoderStats stats;

	ck_assert(wait_buffers(w, 5, 10));
	vlg_test_camsim_control("down h264-cbp-360p");
	ck_assert_msg(vlg_test_run_until(was_reset, w, 8), "no reset after the camera went down");
	vlg_test_camsim_control("up h264-cbp-360p");
	ck_assert_msg(vlg_test_run_until(resumed, w, 15), "no output after the camera came back");
	g_mutex_lock(&w->lock);
	ck_assert(w->first_after_reset_is_keyframe);
	g_mutex_unlock(&w->lock);
	assert_stream_sane(w);
	assert_h264_caps(w, 320, 180);
	vlg_transcoder_get_stats(t, &stats);
	ck_assert_uint_ge(stats.decoder_starts, 2);
	ck_assert_uint_eq(vlg_transcoder_running_decoders(), 1);
	watch_free(w);
	vlg_transcoder_free(t);
	vlg_test_camera_free(camera);
}
END_TEST

/* ---- format changes: the test plays the camera, feeding its hub from clips --------------- */

typedef struct {
	VlgHub *hub;
	GstClockTime offset;   /* added to the clip's timestamps, so time runs on */
	GstClockTime last_pts; /* with offset */
} Feeder;

static GstFlowReturn
feeder_sample(GstAppSink *sink, gpointer data)
{
	Feeder *feeder = data;
	g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
	GstBuffer *buffer;

	if (!sample)
		return GST_FLOW_EOS;
	vlg_hub_set_caps(feeder->hub, VLG_TRACK_VIDEO, gst_sample_get_caps(sample));
	buffer = gst_buffer_copy(gst_sample_get_buffer(sample));
	GST_BUFFER_PTS(buffer) += feeder->offset;
	if (GST_BUFFER_DTS_IS_VALID(buffer))
		GST_BUFFER_DTS(buffer) += feeder->offset;
	feeder->last_pts = MAX(feeder->last_pts, GST_BUFFER_PTS(buffer));
	vlg_hub_push(feeder->hub, VLG_TRACK_VIDEO, buffer);
	return GST_FLOW_OK;
}

/* Plays @clip in real time into the hub; returns the pipeline. */
static GstElement *
feeder_start(Feeder *feeder, const char *clip, const char *parser)
{
	g_autofree char *path = g_strdup_printf("%s/%s.mkv", g_getenv("VLG_MEDIA_DIR"), clip);
	g_autofree char *description = g_strdup_printf(
		"filesrc location=%s ! matroskademux ! %s config-interval=-1 ! "
		"capsfilter caps=\"video/x-%s,stream-format=byte-stream,alignment=au\" ! "
		"appsink name=sink sync=true",
		path, parser, g_str_equal(parser, "h264parse") ? "h264" : "h265");
	g_autoptr(GError) error = NULL;
	GstElement *pipeline = gst_parse_launch(description, &error);
	GstAppSinkCallbacks callbacks = { .new_sample = feeder_sample };
	g_autoptr(GstElement) sink = NULL;

	ck_assert_msg(pipeline, "%s", error ? error->message : "?");
	sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
	gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, feeder, NULL);
	gst_element_set_state(pipeline, GST_STATE_PLAYING);
	return pipeline;
}

static void
feeder_stop(GstElement *pipeline)
{
	gst_element_set_state(pipeline, GST_STATE_NULL);
	gst_object_unref(pipeline);
}

typedef struct {
	Watch *watch;
	gint width;
} WantedWidth;

static gboolean
has_width(gpointer data)
{
	WantedWidth *wanted = data;
	gint width = 0;

	g_mutex_lock(&wanted->watch->lock);
	if (wanted->watch->caps)
		gst_structure_get_int(gst_caps_get_structure(wanted->watch->caps, 0), "width",
				      &width);
	g_mutex_unlock(&wanted->watch->lock);
	return width == wanted->width;
}

/* Plays @clip into the camera hub until main has the clip's size and both profiles made frames. */
static void
play_phase(Feeder *feeder, const char *clip, const char *parser, gint width, gint height, Watch *ws,
	   Watch *wm)
{
	WantedWidth wanted = { wm, width };
	GstElement *pipeline;
	guint sub_before = watch_buffers(ws), main_before;

	feeder->offset = feeder->last_pts ? feeder->last_pts + 40 * GST_MSECOND : 0;
	pipeline = feeder_start(feeder, clip, parser);
	ck_assert_msg(vlg_test_run_until(has_width, &wanted, 10), "main did not follow %s", clip);
	main_before = watch_buffers(wm);
	ck_assert(wait_buffers(ws, sub_before + 10, 10));
	ck_assert(wait_buffers(wm, main_before + 10, 10));
	feeder_stop(pipeline);
	assert_h264_caps(ws, 640, 360);
	assert_h264_caps(wm, width, height);
	assert_stream_sane(ws);
	assert_stream_sane(wm);
}

/* The camera's format changes mid-stream without a reset (H.264 640x360, H.265 1280x720, back):
 * the decoder is rebuilt each time, main follows the size, sub goes on at its own. */
START_TEST(test_codec_and_size_change)
{
	VlgCamera *camera;
	VlgTranscoder *t;
	Feeder feeder = { 0 };
	Watch *ws, *wm;
	VlgTranscoderStats stats;

	/* The simulator answers 404 for this camera: one failed attempt, then a minute's wait,
	 * during which the hub is ours to feed. */
	vlg_test_camsim_control("status h264-aac-360p 404");
	camera = vlg_test_camera_new("h264-aac-360p");
	t = vlg_transcoder_new(camera, &transcoder_settings);
	ws = watch_new(vlg_transcoder_acquire(t, &sub, NULL));
	wm = watch_new(vlg_transcoder_acquire(t, &main_profile, NULL));
	vlg_test_run_for(0.3); /* the attempt fails */
	feeder.hub = vlg_camera_get_hub(camera);
	play_phase(&feeder, "h264-cbp-360p", "h264parse", 640, 360, ws, wm);
	play_phase(&feeder, "h265-main-720p", "h265parse", 1280, 720, ws, wm);
	play_phase(&feeder, "h264-cbp-360p", "h264parse", 640, 360, ws, wm);
	vlg_transcoder_get_stats(t, &stats);
	ck_assert_uint_eq(stats.decoder_starts, 3);
	ck_assert_uint_eq(stats.decoder_errors, 0);
	ck_assert_uint_eq(vlg_transcoder_running_decoders(), 1);
	ck_assert_uint_eq(vlg_transcoder_running_encoders(), 2);
	g_mutex_lock(&ws->lock);
	ck_assert_uint_eq(ws->resets, 0);
	g_mutex_unlock(&ws->lock);

	watch_free(ws);
	watch_free(wm);
	vlg_transcoder_free(t);
	vlg_test_camera_free(camera);
	vlg_test_camsim_control("up h264-aac-360p");
}
END_TEST

START_TEST(test_bad_profile)
{
	VlgCamera *camera = vlg_test_camera_new("h264-cbp-360p");
	VlgTranscoder *t = vlg_transcoder_new(camera, &transcoder_settings);
	VlgProfile odd = { "odd", FALSE, FALSE, 641, 360, 15, 600 };
	g_autoptr(GError) error = NULL;
	g_autoptr(GstCaps) h265 = gst_caps_new_empty_simple("video/x-h265");
	g_autoptr(GstCaps) h264 = gst_caps_new_empty_simple("video/x-h264");

	ck_assert_ptr_null(vlg_transcoder_acquire(t, &odd, &error));
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_nonnull(strstr(error->message, "h264-cbp-360p"));
	ck_assert_uint_eq(vlg_camera_get_holders(camera), 0);
	ck_assert(vlg_transcoder_needs_transcode(h265, FALSE));
	ck_assert(vlg_transcoder_needs_transcode(h264, TRUE));
	ck_assert(!vlg_transcoder_needs_transcode(h264, FALSE));
	vlg_transcoder_free(t);
	vlg_test_camera_free(camera);
}
END_TEST

static Suite *
transcoder_suite(void)
{
	Suite *suite = suite_create("transcoder");
	TCase *tc = tcase_create("profiles");

	tcase_add_unchecked_fixture(tc, vlg_test_camsim_start, vlg_test_camsim_stop);
	tcase_add_loop_test(tc, test_sub_and_low, 0, G_N_ELEMENTS(sub_low_clips));
	tcase_add_test(tc, test_key_from_h264);
	tcase_add_test(tc, test_key_and_main_from_h265);
	tcase_add_test(tc, test_camera_restart);
	tcase_add_test(tc, test_codec_and_size_change);
	tcase_add_test(tc, test_bad_profile);
	tcase_set_timeout(tc, 40);
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
	runner = srunner_create(transcoder_suite());
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
