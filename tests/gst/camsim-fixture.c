/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "camsim-fixture.h"

#include <check.h>
#include <gio/gio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "pipelines/teardown.h"

static GPid camsim_pid;
static guint camsim_port;
static guint control_port;

static void
die_with_parent(gpointer user_data G_GNUC_UNUSED)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

void
vlg_test_camsim_start(void)
{
	const char *argv[] = { g_getenv("VLG_CAMSIM"),
			       "--address",
			       "127.0.0.1",
			       "--port=0",
			       "--control-port=0",
			       "--media-dir",
			       g_getenv("VLG_MEDIA_DIR"),
			       NULL };
	g_autoptr(GError) error = NULL;
	char line[256] = "";
	guint cameras;
	int out_fd;
	FILE *out;

	ck_assert_msg(argv[0] && argv[6], "VLG_CAMSIM and VLG_MEDIA_DIR must be set");
	ck_assert(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
					   die_with_parent, NULL, &camsim_pid, NULL, &out_fd, NULL,
					   &error));
	out = fdopen(out_fd, "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), out));
	ck_assert_int_eq(sscanf(line, "camsim ready rtsp=%u control=%u cameras=%u", &camsim_port,
				&control_port, &cameras),
			 3);
	fclose(out);
}

void
vlg_test_camsim_stop(void)
{
	kill(camsim_pid, SIGTERM);
	waitpid(camsim_pid, NULL, 0);
	g_spawn_close_pid(camsim_pid);
}

void
vlg_test_camsim_control(const char *command)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GDataInputStream) in = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *request = g_strdup_printf("%s\n", command);
	g_autofree char *reply = NULL;

	g_socket_client_set_timeout(client, 5);
	conn = g_socket_client_connect_to_host(client, "127.0.0.1", control_port, NULL, &error);
	ck_assert_msg(conn, "control socket: %s", error ? error->message : "?");
	ck_assert(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
					    request, strlen(request), NULL, NULL, &error));
	in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
	reply = g_data_input_stream_read_line_utf8(in, NULL, NULL, &error);
	ck_assert_msg(g_strcmp0(reply, "ok") == 0, "'%s' answered '%s'", command, reply);
}

guint
vlg_test_camsim_port(void)
{
	return camsim_port;
}

static VlgCameraInfo camera_info;

VlgCamera *
vlg_test_camera_new(const char *clip)
{
	VlgCameraSettings settings = {
		.ingest = { .timings = { .watchdog_us = 5 * G_USEC_PER_SEC,
					 .connect_timeout_us = 10 * G_USEC_PER_SEC,
					 .backoff = { 30000, 60000 } },
			    .latency_ms = 100 },
	};

	camera_info.id = (char *)clip;
	camera_info.name = (char *)clip;
	camera_info.url = g_strdup_printf("rtsp://127.0.0.1:%u/%s", camsim_port, clip);
	return vlg_camera_new(&camera_info, &settings);
}

void
vlg_test_camera_free(VlgCamera *camera)
{
	vlg_camera_free(camera);
	vlg_teardown_wait();
	g_clear_pointer(&camera_info.url, g_free);
}

gboolean
vlg_test_run_until(gboolean (*done)(gpointer), gpointer data, double seconds)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)(seconds * G_USEC_PER_SEC);

	while (!done(data) && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE) || (g_usleep(2000), TRUE);
	return done(data);
}

static gboolean
never(gpointer data)
{
	return FALSE;
}

void
vlg_test_run_for(double seconds)
{
	vlg_test_run_until(never, NULL, seconds);
}
