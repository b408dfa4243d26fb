/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <gst/gst.h>
#include <stdlib.h>

#include "pipelines/hub.h"

/* What one consumer saw, in order: 'C' caps, 'K' keyframe, 'd' delta, 'a' audio, 'R' reset. */
typedef struct {
	GString *log;
	gint destroyed;
	GMutex lock;
} Recorder;

static void
record(Recorder *recorder, char c)
{
	g_mutex_lock(&recorder->lock);
	g_string_append_c(recorder->log, c);
	g_mutex_unlock(&recorder->lock);
}

static void
on_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	record(data, 'C');
}

static void
on_buffer(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	if (track == VLG_TRACK_AUDIO)
		record(data, 'a');
	else
		record(data, GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT) ? 'd' : 'K');
}

static void
on_reset(gpointer data)
{
	record(data, 'R');
}

static void
on_destroy(gpointer data)
{
	Recorder *recorder = data;

	g_atomic_int_inc(&recorder->destroyed);
}

static const VlgHubConsumerFuncs funcs = { on_caps, on_buffer, on_reset };

static Recorder *
recorder_new(void)
{
	Recorder *recorder = g_new0(Recorder, 1);

	recorder->log = g_string_new(NULL);
	g_mutex_init(&recorder->lock);
	return recorder;
}

static void
recorder_free(Recorder *recorder)
{
	g_string_free(recorder->log, TRUE);
	g_mutex_clear(&recorder->lock);
	g_free(recorder);
}

static GstBuffer *
frame(gboolean keyframe, gsize size)
{
	GstBuffer *buffer = gst_buffer_new_allocate(NULL, size, NULL);

	if (!keyframe)
		GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
	return buffer;
}

static void
push_video_caps(VlgHub *hub)
{
	g_autoptr(GstCaps) caps = gst_caps_from_string("video/x-h264,stream-format=byte-stream");

	vlg_hub_set_caps(hub, VLG_TRACK_VIDEO, caps);
}

START_TEST(test_late_consumer_starts_on_keyframe)
{
	g_autoptr(VlgHub) hub = vlg_hub_new("cam");
	Recorder *early = recorder_new(), *late = recorder_new();
	VlgHubConsumer *a, *b;

	a = vlg_hub_attach(hub, &funcs, early, on_destroy);
	push_video_caps(hub);
	vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(FALSE, 10)); /* before any keyframe: not cached */
	vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(TRUE, 100));
	vlg_hub_push(hub, VLG_TRACK_AUDIO, frame(TRUE, 5));
	vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(FALSE, 10));
	b = vlg_hub_attach(hub, &funcs, late, on_destroy);
	vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(FALSE, 10));
	/* The delta before the first keyframe is never delivered: it could not be decoded. */
	ck_assert_str_eq(early->log->str, "CKadd");
	ck_assert_str_eq(late->log->str, "CKadd");
	vlg_hub_detach(hub, a);
	vlg_hub_detach(hub, b);
	ck_assert_int_eq(early->destroyed, 1);
	ck_assert_int_eq(late->destroyed, 1);
	recorder_free(early);
	recorder_free(late);
}
END_TEST

START_TEST(test_new_keyframe_replaces_cache)
{
	g_autoptr(VlgHub) hub = vlg_hub_new("cam");
	Recorder *late = recorder_new();
	VlgHubStats stats;
	VlgHubConsumer *consumer;

	push_video_caps(hub);
	for (int gop = 0; gop < 3; gop++) {
		vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(TRUE, 100));
		for (int i = 0; i < 4; i++)
			vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(FALSE, 10));
	}
	vlg_hub_get_stats(hub, &stats);
	ck_assert_uint_eq(stats.cached_buffers, 5);
	ck_assert_uint_eq(stats.cached_bytes, 140);
	ck_assert_uint_eq(stats.keyframes, 3);
	ck_assert_uint_eq(stats.bytes, 420);
	consumer = vlg_hub_attach(hub, &funcs, late, NULL);
	ck_assert_str_eq(late->log->str, "CKdddd");
	vlg_hub_detach(hub, consumer);
	recorder_free(late);
}
END_TEST

START_TEST(test_reset_clears_caps_and_cache)
{
	g_autoptr(VlgHub) hub = vlg_hub_new("cam");
	Recorder *attached = recorder_new(), *late = recorder_new();
	VlgHubConsumer *a, *b;
	g_autoptr(GstCaps) caps = NULL;

	push_video_caps(hub);
	vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(TRUE, 100));
	a = vlg_hub_attach(hub, &funcs, attached, NULL);
	vlg_hub_reset(hub);
	caps = vlg_hub_get_caps(hub, VLG_TRACK_VIDEO);
	ck_assert_ptr_null(caps);
	b = vlg_hub_attach(hub, &funcs, late, NULL);
	ck_assert_str_eq(attached->log->str, "CKR");
	ck_assert_str_eq(late->log->str, "");
	vlg_hub_detach(hub, a);
	vlg_hub_detach(hub, b);
	recorder_free(attached);
	recorder_free(late);
}
END_TEST

START_TEST(test_caps_change_drops_cache)
{
	g_autoptr(VlgHub) hub = vlg_hub_new("cam");
	g_autoptr(GstCaps) other = gst_caps_from_string("video/x-h265,stream-format=byte-stream");
	VlgHubStats stats;

	push_video_caps(hub);
	vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(TRUE, 100));
	push_video_caps(hub); /* same caps again: cache kept */
	vlg_hub_get_stats(hub, &stats);
	ck_assert_uint_eq(stats.cached_buffers, 1);
	vlg_hub_set_caps(hub, VLG_TRACK_VIDEO, other);
	vlg_hub_get_stats(hub, &stats);
	ck_assert_uint_eq(stats.cached_buffers, 0);
}
END_TEST

START_TEST(test_cache_is_bounded)
{
	g_autoptr(VlgHub) hub = vlg_hub_new("cam");
	VlgHubStats stats;

	push_video_caps(hub);
	vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(TRUE, 1000));
	/* A camera that never sends another keyframe: 12 MB of deltas. */
	for (int i = 0; i < 1200; i++)
		vlg_hub_push(hub, VLG_TRACK_VIDEO, frame(FALSE, 10000));
	vlg_hub_get_stats(hub, &stats);
	ck_assert_uint_le(stats.cached_bytes, 8u * 1024 * 1024);
}
END_TEST

typedef struct {
	VlgHub *hub;
	gint stop;
} Producer;

static gpointer
produce(gpointer data)
{
	Producer *producer = data;

	for (guint i = 0; !g_atomic_int_get(&producer->stop) && i < 2000000; i++)
		vlg_hub_push(producer->hub, VLG_TRACK_VIDEO, frame(i % 25 == 0, 64));
	return NULL;
}

START_TEST(test_attach_detach_while_pushing)
{
	g_autoptr(VlgHub) hub = vlg_hub_new("cam");
	Producer producer = { hub, 0 };
	GThread *thread;

	push_video_caps(hub);
	thread = g_thread_new("producer", produce, &producer);
	for (int i = 0; i < 500; i++) {
		Recorder *recorder = recorder_new();
		VlgHubConsumer *consumer = vlg_hub_attach(hub, &funcs, recorder, on_destroy);

		g_usleep(50);
		vlg_hub_detach(hub, consumer);
		ck_assert_int_eq(recorder->destroyed, 1);
		/* Whatever it saw starts with the caps, then (if anything) a keyframe. */
		ck_assert(recorder->log->str[0] == 'C');
		ck_assert(recorder->log->len < 2 || recorder->log->str[1] == 'K');
		recorder_free(recorder);
	}
	g_atomic_int_set(&producer.stop, 1);
	g_thread_join(thread);
}
END_TEST

static Suite *
hub_suite(void)
{
	Suite *suite = suite_create("hub");
	TCase *tc = tcase_create("keyframe cache");

	tcase_add_test(tc, test_late_consumer_starts_on_keyframe);
	tcase_add_test(tc, test_new_keyframe_replaces_cache);
	tcase_add_test(tc, test_caps_change_drops_cache);
	tcase_add_test(tc, test_cache_is_bounded);
	suite_add_tcase(suite, tc);
	tc = tcase_create("reset");
	tcase_add_test(tc, test_reset_clears_caps_and_cache);
	suite_add_tcase(suite, tc);
	tc = tcase_create("threads");
	tcase_add_test(tc, test_attach_detach_while_pushing);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(int argc, char **argv)
{
	SRunner *runner;
	int failed;

	gst_init(&argc, &argv);
	runner = srunner_create(hub_suite());
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
