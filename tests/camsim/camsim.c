/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * linkage-camsim: simulated IP cameras for tests and demos. Serves recorded clips as looping live
 * RTSP streams, with faults injected through a control socket (see control.h).
 *
 *   linkage-camsim [--address 127.0.0.1] [--port 8554] [--control-port 8555]
 *                  [--media-dir DIR] [--camera NAME=FILE ...] [--user U --password P]
 *
 * Once listening it prints one line on stdout, `camsim ready rtsp=PORT control=CPORT cameras=N`,
 * then logs one line per event on stderr, and exits cleanly on SIGINT or SIGTERM.
 *
 * Main thread: options, the GLib main loop (RTSP accept, control socket, signals) and teardown.
 */
#include <glib-unix.h>
#include <gst/gst.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/camsim/camsim-error.h"
#include "tests/camsim/control.h"
#include "tests/camsim/server.h"

typedef struct {
	gchar *address;
	gint port;
	gint control_port;
	gchar *media_dir;
	gchar **cameras; /* NAME=FILE */
	gchar *user;
	gchar *password;
} Options;

static void
options_clear(Options *options)
{
	g_free(options->address);
	g_free(options->media_dir);
	g_strfreev(options->cameras);
	g_free(options->user);
	g_free(options->password);
}

static gboolean
parse_options(Options *options, int *argc, char ***argv, GError **error)
{
	const GOptionEntry entries[] = {
	    {"address", 0, 0, G_OPTION_ARG_STRING, &options->address,
	     "IP address to serve RTSP on (default 127.0.0.1)", "ADDR"},
	    {"port", 0, 0, G_OPTION_ARG_INT, &options->port, "RTSP port, 0 for any (default 8554)",
	     "PORT"},
	    {"control-port", 0, 0, G_OPTION_ARG_INT, &options->control_port,
	     "Control port on 127.0.0.1, 0 for any (default 8555)", "PORT"},
	    {"media-dir", 0, 0, G_OPTION_ARG_FILENAME, &options->media_dir,
	     "Serve every .mkv/.mp4 in DIR as rtsp://ADDR:PORT/<file name without extension>",
	     "DIR"},
	    {"camera", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options->cameras,
	     "Serve FILE as rtsp://ADDR:PORT/NAME (repeatable)", "NAME=FILE"},
	    {"user", 0, 0, G_OPTION_ARG_STRING, &options->user,
	     "Require digest authentication with this user name", "USER"},
	    {"password", 0, 0, G_OPTION_ARG_STRING, &options->password, "Password for --user",
	     "PASSWORD"},
	    {NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new("- simulated RTSP cameras");

	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_add_group(context, gst_init_get_option_group());
	if (!g_option_context_parse(context, argc, argv, error))
		return FALSE;
	if (options->port < 0 || options->port > G_MAXUINT16 || options->control_port < 0 ||
	    options->control_port > G_MAXUINT16) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
			    "ports are 0 (any free port) to 65535");
		return FALSE;
	}
	return TRUE;
}

static gboolean
add_cameras(VlgCamsimServer *server, const Options *options, GError **error)
{
	if (options->media_dir &&
	    !vlg_camsim_server_add_media_dir(server, options->media_dir, error))
		return FALSE;
	for (guint i = 0; options->cameras && options->cameras[i]; i++) {
		g_auto(GStrv) pair = g_strsplit(options->cameras[i], "=", 2);

		if (!pair[0] || !pair[1] || !*pair[1]) {
			g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
				    "--camera %s: expected NAME=FILE", options->cameras[i]);
			return FALSE;
		}
		if (!vlg_camsim_server_add_camera(server, pair[0], pair[1], error))
			return FALSE;
	}
	if (vlg_camsim_server_get_cameras(server)->len == 0) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
			    "no cameras: give --media-dir or --camera");
		return FALSE;
	}
	return TRUE;
}

static gboolean
on_quit_signal(gpointer user_data)
{
	g_message("signal received: stopping");
	g_main_loop_quit(user_data);
	return G_SOURCE_CONTINUE;
}

/* Serve until a signal arrives. */
static gboolean
serve(const Options *options, GError **error)
{
	VlgCamsimServerOptions server_options = {
	    .address = options->address,
	    .port = options->port,
	    .user = options->user,
	    .password = options->password,
	};
	g_autoptr(VlgCamsimServer) server = NULL;
	g_autoptr(VlgCamsimControl) control = NULL;
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	guint sigint, sigterm;

	if (!(server = vlg_camsim_server_new(&server_options, error)) ||
	    !add_cameras(server, options, error) || !vlg_camsim_server_start(server, error))
		return FALSE;
	if (!(control = vlg_camsim_control_new(server, "127.0.0.1", options->control_port, error)))
		return FALSE;
	sigint = g_unix_signal_add(SIGINT, on_quit_signal, loop);
	sigterm = g_unix_signal_add(SIGTERM, on_quit_signal, loop);
	/* The one line a test waits for: everything is listening once it is out. */
	printf("camsim ready rtsp=%u control=%u cameras=%u\n", vlg_camsim_server_get_port(server),
	       vlg_camsim_control_get_port(control), vlg_camsim_server_get_cameras(server)->len);
	fflush(stdout);
	g_main_loop_run(loop);
	g_source_remove(sigint);
	g_source_remove(sigterm);
	/* Control first: it borrows the server. */
	g_clear_pointer(&control, vlg_camsim_control_free);
	g_clear_pointer(&server, vlg_camsim_server_free);
	return TRUE;
}

int
main(int argc, char **argv)
{
	Options options = {.port = 8554, .control_port = 8555};
	g_autoptr(GError) error = NULL;
	gboolean ok;

	setlocale(LC_ALL, "");
	g_set_prgname("linkage-camsim");
	/* stdout carries the ready line and nothing else, even with G_MESSAGES_DEBUG set. */
	g_log_writer_default_set_use_stderr(TRUE);
	ok = parse_options(&options, &argc, &argv, &error);
	if (ok) {
		if (!options.address)
			options.address = g_strdup("127.0.0.1");
		gst_init(NULL, NULL);
		ok = serve(&options, &error);
		gst_rtsp_thread_pool_cleanup();
		gst_deinit();
	}
	if (!ok)
		g_printerr("linkage-camsim: %s\n", error->message);
	options_clear(&options);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
