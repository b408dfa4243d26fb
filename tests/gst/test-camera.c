/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A camera pulled on demand from the simulator: the first consumer starts it, a late consumer
 * starts on the cached keyframe at once, and the camera stops `linger` after the last one leaves.
 */
#include <check.h>
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "pipelines/camera.h"
#include "pipelines/teardown.h"

static GPid camsim_pid;
static int camsim_port;

static void
start_camsim(void)
{
	g_autofree char *clip = g_build_filename(g_getenv("VLG_MEDIA_DIR"), "h264-cbp-360p.mkv", NULL);
	g_autofree char *camera = g_strdup_printf("c1=%s", clip);
	const char *argv[] = { g_getenv("VLG_CAMSIM"), "--address", "127.0.0.1", "--port", "0",
			       "--control-port", "0", "--camera", camera, NULL };
	g_autoptr(GError) error = NULL;
	int out_fd;
	FILE *out;
	char line[256] = "";

	ck_assert(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
					   &camsim_pid, NULL, &out_fd, NULL, &error));
	out = fdopen(out_fd, "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), out));
	ck_assert_int_eq(sscanf(line, "camsim ready rtsp=%d", &camsim_port), 1);
	fclose(out);
}

static void
stop_camsim(void)
{
	kill(camsim_pid, SIGTERM);
	waitpid(camsim_pid, NULL, 0);
	g_spawn_close_pid(camsim_pid);
}

typedef struct {
	gint buffers;
	gint keyframe_first; /* 1: the first video buffer was a keyframe, -1: it was not */
	gint caps;
} Counter;

static void
count_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	Counter *counter = data;

	if (track == VLG_TRACK_VIDEO && gst_structure_has_name(gst_caps_get_structure(caps, 0),
							       "video/x-h264"))
		g_atomic_int_inc(&counter->caps);
}

static void
count_buffer(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	Counter *counter = data;

	if (track != VLG_TRACK_VIDEO)
		return;
	if (g_atomic_int_add(&counter->buffers, 1) == 0)
		g_atomic_int_set(&counter->keyframe_first,
				 GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT) ? -1 : 1);
}

static const VlgHubConsumerFuncs counter_funcs = { count_caps, count_buffer, NULL };

/* Runs the main loop until @done or @seconds pass; TRUE if done. */
static gboolean
run_until(gboolean (*done)(gpointer), gpointer data, double seconds)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)(seconds * G_USEC_PER_SEC);

	while (!done(data) && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE) || (g_usleep(2000), TRUE);
	return done(data);
}

static gboolean
has_buffers(gpointer data)
{
	return g_atomic_int_get(&((Counter *)data)->buffers) >= 30;
}

static gboolean
is_idle(gpointer data)
{
	return vlg_camera_get_state(data)->kind == VLG_INGEST_IDLE;
}

START_TEST(test_on_demand_with_linger)
{
	g_autofree char *url = g_strdup_printf("rtsp://127.0.0.1:%d/c1", camsim_port);
	VlgCameraInfo info = { .id = "c1", .name = "c1", .url = url,
			       .transport = _i ? VLG_TRANSPORT_UDP : VLG_TRANSPORT_TCP };
	VlgCameraSettings settings = {
		.ingest = { .timings = { .watchdog_us = 5 * G_USEC_PER_SEC,
					 .connect_timeout_us = 10 * G_USEC_PER_SEC,
					 .backoff = { 30000, 60000 } },
			    .latency_ms = 100 },
		.linger_seconds = 1,
	};
	VlgCamera *camera = vlg_camera_new(&info, &settings);
	Counter first = { 0 }, late = { 0 };
	VlgHubConsumer *a, *b;

	ck_assert_int_eq(vlg_camera_get_state(camera)->kind, VLG_INGEST_IDLE);
	a = vlg_camera_attach(camera, &counter_funcs, &first, NULL);
	ck_assert_int_eq(vlg_camera_get_state(camera)->kind, VLG_INGEST_CONNECTING);
	ck_assert(run_until(has_buffers, &first, 10));
	ck_assert_int_eq(vlg_camera_get_state(camera)->kind, VLG_INGEST_LIVE);
	ck_assert_int_eq(first.keyframe_first, 1);
	ck_assert_int_ge(first.caps, 1);

	/* The late consumer gets caps and the cached keyframe inside attach itself. */
	b = vlg_camera_attach(camera, &counter_funcs, &late, NULL);
	ck_assert_int_eq(late.caps, 1);
	ck_assert_int_ge(late.buffers, 1);
	ck_assert_int_eq(late.keyframe_first, 1);

	vlg_camera_detach(camera, a);
	vlg_camera_detach(camera, b);
	/* Still pulled during the linger, idle after it. */
	ck_assert_int_eq(vlg_camera_get_state(camera)->kind, VLG_INGEST_LIVE);
	ck_assert(run_until(is_idle, camera, 3));
	vlg_camera_free(camera);
	vlg_teardown_wait();
}
END_TEST

static gboolean
is_retrying(gpointer data)
{
	return vlg_camera_get_state(data)->kind == VLG_INGEST_RETRYING;
}

START_TEST(test_unreachable_camera_retries)
{
	/* Port 9 on loopback: nothing listens, the connection is refused at once. */
	VlgCameraInfo info = { .id = "gone", .name = "gone", .url = "rtsp://127.0.0.1:9/x" };
	VlgCameraSettings settings = {
		.ingest = { .timings = { .watchdog_us = 5 * G_USEC_PER_SEC,
					 .connect_timeout_us = 10 * G_USEC_PER_SEC,
					 .backoff = { 30000, 60000 } },
			    .latency_ms = 100 },
	};
	VlgCamera *camera = vlg_camera_new(&info, &settings);
	const VlgIngestState *state;

	vlg_camera_hold(camera);
	ck_assert(run_until(is_retrying, camera, 5));
	state = vlg_camera_get_state(camera);
	ck_assert_uint_eq(state->attempt, 1);
	ck_assert_ptr_nonnull(state->last_error);
	vlg_camera_release(camera);
	ck_assert_int_eq(vlg_camera_get_state(camera)->kind, VLG_INGEST_IDLE);
	vlg_camera_free(camera);
	vlg_teardown_wait();
}
END_TEST

static Suite *
camera_suite(void)
{
	Suite *suite = suite_create("camera");
	TCase *tc = tcase_create("on demand");

	tcase_add_unchecked_fixture(tc, start_camsim, stop_camsim);
	tcase_add_loop_test(tc, test_on_demand_with_linger, 0, 2); /* TCP, UDP */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(suite, tc);
	tc = tcase_create("failures");
	tcase_add_test(tc, test_unreachable_camera_retries);
	tcase_set_timeout(tc, 30);
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
	runner = srunner_create(camera_suite());
	/* One process: the fixture's simulator must be visible to the tests. */
	srunner_set_fork_status(runner, CK_NOFORK);
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
