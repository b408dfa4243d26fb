/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tests/camsim/control.h"

#include <gio/gio.h>

#include "tests/camsim/camsim-error.h"

/* Commands are a few dozen bytes; anything longer is not a client of this protocol. */
#define MAX_LINE 1024

struct _VlgCamsimControl {
	VlgCamsimServer *server; /* borrowed */
	GSocketService *service;
	GCancellable *cancellable; /* cancels every connection's I/O at shutdown */
	GList *sessions;	   /* Session *, each freed when its connection ends */
	guint port;
};

typedef struct {
	VlgCamsimControl *control;
	GSocketConnection *conn;
	GDataInputStream *in;
	GString *reply;
} Session;

/* ---- commands ------------------------------------------------------------------------------ */

typedef struct Command Command;
typedef gboolean (*CommandFunc)(VlgCamsimControl *control, const Command *command, gchar **args,
				GString *reply, GError **error);

struct Command {
	const gchar *name;
	const gchar *usage;
	guint n_args;
	CommandFunc func;
	VlgCamsimState state; /* for cmd_state */
};

static VlgCamsimCamera *
find_camera(VlgCamsimControl *control, const gchar *name, GError **error)
{
	VlgCamsimCamera *camera = vlg_camsim_server_find_camera(control->server, name);

	if (!camera)
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
			    "no camera named '%s'", name);
	return camera;
}

static gboolean
cmd_state(VlgCamsimControl *control, const Command *command, gchar **args,
	  GString *reply G_GNUC_UNUSED, GError **error)
{
	VlgCamsimCamera *camera = find_camera(control, args[0], error);

	if (!camera)
		return FALSE;
	vlg_camsim_server_set_state(control->server, camera, command->state, GST_RTSP_STS_OK);
	return TRUE;
}

static gboolean
cmd_status(VlgCamsimControl *control, const Command *command G_GNUC_UNUSED, gchar **args,
	   GString *reply G_GNUC_UNUSED, GError **error)
{
	VlgCamsimCamera *camera = find_camera(control, args[0], error);
	guint64 code = 0;

	if (!camera)
		return FALSE;
	if (!g_ascii_string_to_unsigned(args[1], 10, 0, 999, &code, NULL) ||
	    (code != GST_RTSP_STS_UNAUTHORIZED && code != GST_RTSP_STS_NOT_FOUND &&
	     code != GST_RTSP_STS_SERVICE_UNAVAILABLE)) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
			    "status code '%s': use 401, 404 or 503", args[1]);
		return FALSE;
	}
	vlg_camsim_server_set_state(control->server, camera, VLG_CAMSIM_STATE_STATUS,
				    (GstRTSPStatusCode)code);
	return TRUE;
}

static gboolean
cmd_list(VlgCamsimControl *control, const Command *command G_GNUC_UNUSED,
	 gchar **args G_GNUC_UNUSED, GString *reply, GError **error G_GNUC_UNUSED)
{
	const GPtrArray *cameras = vlg_camsim_server_get_cameras(control->server);

	for (guint i = 0; i < cameras->len; i++) {
		VlgCamsimCamera *camera = g_ptr_array_index(cameras, i);
		g_autofree gchar *state = vlg_camsim_camera_describe_state(camera);

		g_string_append_printf(reply, "%s state=%s clients=%u\n",
				       vlg_camsim_camera_get_name(camera), state,
				       vlg_camsim_server_count_clients(control->server, camera));
	}
	return TRUE;
}

static const Command commands[] = {
    {"down", "down NAME", 1, cmd_state, VLG_CAMSIM_STATE_DOWN},
    {"up", "up NAME", 1, cmd_state, VLG_CAMSIM_STATE_NORMAL},
    {"stall", "stall NAME", 1, cmd_state, VLG_CAMSIM_STATE_STALL},
    {"status", "status NAME 401|404|503", 2, cmd_status, 0},
    {"list", "list", 0, cmd_list, 0},
};

static const Command *
find_command(const gchar *name, GError **error)
{
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
		if (g_strcmp0(commands[i].name, name) == 0)
			return &commands[i];
	g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
		    "unknown command '%s' (down, up, stall, status, list)", name);
	return NULL;
}

/* Run one command line; append its whole answer to @reply. */
static void
run_line(VlgCamsimControl *control, const gchar *line, GString *reply)
{
	g_auto(GStrv) words = g_strsplit_set(line, " \t", -1);
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	g_auto(GStrv) argv = NULL;
	g_autoptr(GError) error = NULL;
	const Command *command = NULL;

	for (guint i = 0; words[i]; i++)
		if (*words[i])
			g_strv_builder_add(builder, words[i]);
	argv = g_strv_builder_end(builder);
	if (!argv[0])
		g_set_error(&error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG, "empty command");
	else if ((command = find_command(argv[0], &error)) &&
		 g_strv_length(argv) != command->n_args + 1)
		g_set_error(&error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG, "usage: %s",
			    command->usage);
	if (!error)
		command->func(control, command, argv + 1, reply, &error);
	if (error) {
		g_message("control: '%s' refused: %s", line, error->message);
		g_string_append_printf(reply, "error: %s\n", error->message);
	} else {
		g_string_append(reply, "ok\n");
	}
}

/* ---- connections --------------------------------------------------------------------------- */

static void read_next(Session *session);

static void
session_free(Session *session)
{
	VlgCamsimControl *control = session->control;

	control->sessions = g_list_remove(control->sessions, session);
	g_io_stream_close(G_IO_STREAM(session->conn), NULL, NULL);
	g_object_unref(session->in);
	g_object_unref(session->conn);
	g_string_free(session->reply, TRUE);
	g_free(session);
}

static void
on_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Session *session = user_data;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, NULL)) {
		session_free(session);
		return;
	}
	read_next(session);
}

static void
on_line(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Session *session = user_data;
	gsize length = 0;
	g_autofree gchar *line = g_data_input_stream_read_line_finish_utf8(
	    G_DATA_INPUT_STREAM(source), result, &length, NULL);
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(session->conn));

	/* End of stream, an error, a cancel, or a line that is not UTF-8: hang up. */
	if (!line) {
		session_free(session);
		return;
	}
	g_string_truncate(session->reply, 0);
	if (length > MAX_LINE)
		g_string_append(session->reply, "error: line too long\n");
	else
		run_line(session->control, g_strstrip(line), session->reply);
	g_output_stream_write_all_async(out, session->reply->str, session->reply->len,
					G_PRIORITY_DEFAULT, session->control->cancellable,
					on_written, session);
}

static void
read_next(Session *session)
{
	g_data_input_stream_read_line_async(session->in, G_PRIORITY_DEFAULT,
					    session->control->cancellable, on_line, session);
}

static gboolean
on_incoming(GSocketService *service G_GNUC_UNUSED, GSocketConnection *conn,
	    GObject *source G_GNUC_UNUSED, gpointer user_data)
{
	VlgCamsimControl *control = user_data;
	Session *session = g_new0(Session, 1);
	GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));

	session->control = control;
	session->conn = g_object_ref(conn);
	session->in = g_data_input_stream_new(in);
	session->reply = g_string_new(NULL);
	g_data_input_stream_set_newline_type(session->in, G_DATA_STREAM_NEWLINE_TYPE_ANY);
	control->sessions = g_list_prepend(control->sessions, session);
	read_next(session);
	return TRUE;
}

VlgCamsimControl *
vlg_camsim_control_new(VlgCamsimServer *server, const gchar *address, guint port, GError **error)
{
	g_autoptr(VlgCamsimControl) control = g_new0(VlgCamsimControl, 1);
	g_autoptr(GSocketAddress) want = g_inet_socket_address_new_from_string(address, port);
	g_autoptr(GSocketAddress) got = NULL;

	control->server = server;
	control->cancellable = g_cancellable_new();
	control->service = g_socket_service_new();
	if (!want || port > G_MAXUINT16) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
			    "control address %s:%u is not an IP address and port", address, port);
		return NULL;
	}
	if (!g_socket_listener_add_address(G_SOCKET_LISTENER(control->service), want,
					   G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &got,
					   error)) {
		g_prefix_error(error, "control socket %s:%u: ", address, port);
		return NULL;
	}
	control->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(got));
	g_signal_connect(control->service, "incoming", G_CALLBACK(on_incoming), control);
	g_socket_service_start(control->service);
	return g_steal_pointer(&control);
}

guint
vlg_camsim_control_get_port(VlgCamsimControl *control)
{
	return control->port;
}

void
vlg_camsim_control_free(VlgCamsimControl *control)
{
	if (!control)
		return;
	g_socket_service_stop(control->service);
	g_socket_listener_close(G_SOCKET_LISTENER(control->service));
	g_signal_handlers_disconnect_by_data(control->service, control);
	/* Cancelled reads and writes still complete through the main context; each frees its
	 * session there. */
	g_cancellable_cancel(control->cancellable);
	while (control->sessions)
		g_main_context_iteration(NULL, TRUE);
	g_object_unref(control->service);
	g_object_unref(control->cancellable);
	g_free(control);
}
