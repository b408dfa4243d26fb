/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tests/camsim/server.h"

#include <gio/gio.h>
#include <string.h>

#include "tests/camsim/camsim-error.h"

#define CLIENT_CAMERA_KEY "vlg-camsim-camera"
#define CLIENT_PEER_KEY "vlg-camsim-peer"
#define VIEWER_ROLE "viewer"
/* UDP ports for RTP/RTCP towards UDP clients; an arbitrary range clear of the usual ephemeral
 * range's start, bound on the server address only. Ports in use are skipped. */
#define MEDIA_PORT_MIN 40000
#define MEDIA_PORT_MAX 59999

struct _VlgCamsimServer {
	GstRTSPServer *rtsp;
	GstRTSPAddressPool *pool;
	GstRTSPAuth *auth; /* NULL without --user */
	gchar *address;
	guint source_id;
	GPtrArray *cameras;  /* VlgCamsimCamera *, owned, in order of addition */
	GHashTable *by_name; /* name (borrowed from the camera) -> camera; read-only once started */
};

/* ---- requests ------------------------------------------------------------------------------ */

/* The camera a request URL names: the first path segment, "/NAME" or "/NAME/stream=0". */
static VlgCamsimCamera *
camera_for_url(VlgCamsimServer *server, const GstRTSPUrl *url)
{
	const gchar *path, *end;
	g_autofree gchar *name = NULL;

	if (!url || !url->abspath)
		return NULL;
	path = url->abspath + strspn(url->abspath, "/");
	end = strchr(path, '/');
	name = end ? g_strndup(path, end - path) : g_strdup(path);
	return g_hash_table_lookup(server->by_name, name);
}

/* Every request that names a camera goes through here first: remember which camera the
 * connection is for, and refuse it if the camera is faulty. Runs in the client's thread. */
static GstRTSPStatusCode
on_pre_request(GstRTSPClient *client, GstRTSPContext *ctx, gpointer user_data)
{
	VlgCamsimServer *server = user_data;
	VlgCamsimCamera *camera = camera_for_url(server, ctx->uri);
	GstRTSPStatusCode code;

	if (!camera)
		return GST_RTSP_STS_OK;
	g_object_set_data(G_OBJECT(client), CLIENT_CAMERA_KEY, camera);
	code = vlg_camsim_camera_answer(camera);
	if (code != GST_RTSP_STS_OK)
		g_message("camera %s: %s from %s refused with %d %s",
			  vlg_camsim_camera_get_name(camera), gst_rtsp_method_as_text(ctx->method),
			  (const gchar *)g_object_get_data(G_OBJECT(client), CLIENT_PEER_KEY), code,
			  gst_rtsp_status_as_text(code));
	return code;
}

/* A 401 must carry a challenge, or clients take it for a broken server. The auth module adds
 * its own; a 401 injected with `status NAME 401` has none yet. */
static void
on_send_message(GstRTSPClient *client, GstRTSPContext *ctx, gpointer message,
		gpointer user_data G_GNUC_UNUSED)
{
	GstRTSPMessage *msg = message;
	GstRTSPStatusCode code;
	gchar *value;

	if (gst_rtsp_message_get_type(msg) != GST_RTSP_MESSAGE_RESPONSE)
		return;
	if (gst_rtsp_message_parse_response(msg, &code, NULL, NULL) != GST_RTSP_OK ||
	    code != GST_RTSP_STS_UNAUTHORIZED)
		return;
	if (gst_rtsp_message_get_header(msg, GST_RTSP_HDR_WWW_AUTHENTICATE, &value, 0) ==
	    GST_RTSP_OK) {
		/* The auth module's own challenge: missing or wrong credentials. */
		g_message("client %s: %s asked for credentials",
			  (const gchar *)g_object_get_data(G_OBJECT(client), CLIENT_PEER_KEY),
			  ctx->uri && ctx->uri->abspath ? ctx->uri->abspath : "?");
		return;
	}
	gst_rtsp_message_add_header(msg, GST_RTSP_HDR_WWW_AUTHENTICATE,
				    "Basic realm=\"linkage-camsim\"");
}

static void
on_client_closed(GstRTSPClient *client, gpointer user_data G_GNUC_UNUSED)
{
	VlgCamsimCamera *camera = g_object_get_data(G_OBJECT(client), CLIENT_CAMERA_KEY);

	g_message("client %s closed (camera %s)",
		  (const gchar *)g_object_get_data(G_OBJECT(client), CLIENT_PEER_KEY),
		  camera ? vlg_camsim_camera_get_name(camera) : "none");
}

static void
on_client_connected(GstRTSPServer *rtsp G_GNUC_UNUSED, GstRTSPClient *client, gpointer user_data)
{
	/* Not OPTIONS: gst-rtsp-server 1.22 frees a stack message when pre-options-request
	 * refuses (a crash), and OPTIONS names no resource anyway. */
	static const gchar *const requests[] = {"pre-describe-request", "pre-setup-request",
						"pre-play-request", "pre-pause-request"};
	GstRTSPConnection *conn = gst_rtsp_client_get_connection(client);
	gchar *peer = g_strdup(conn ? gst_rtsp_connection_get_ip(conn) : "?");

	g_object_set_data_full(G_OBJECT(client), CLIENT_PEER_KEY, peer, g_free);
	/* TEARDOWN and the GET_PARAMETER keep-alives pass: a viewer can always leave, and a
	 * fault on a camera must not look like a keep-alive failure. */
	for (guint i = 0; i < G_N_ELEMENTS(requests); i++)
		g_signal_connect(client, requests[i], G_CALLBACK(on_pre_request), user_data);
	g_signal_connect(client, "send-message", G_CALLBACK(on_send_message), NULL);
	g_signal_connect(client, "closed", G_CALLBACK(on_client_closed), NULL);
	g_message("client %s connected", peer);
}

/* ---- dropping a camera's clients and sessions ---------------------------------------------- */

static GstRTSPFilterResult
match_client(GstRTSPServer *rtsp G_GNUC_UNUSED, GstRTSPClient *client, gpointer user_data)
{
	VlgCamsimCamera *camera = user_data;

	if (camera && g_object_get_data(G_OBJECT(client), CLIENT_CAMERA_KEY) != camera)
		return GST_RTSP_FILTER_KEEP;
	return GST_RTSP_FILTER_REMOVE;
}

typedef struct {
	VlgCamsimCamera *camera; /* NULL: any */
	gboolean found;
} MediaMatch;

static GstRTSPFilterResult
match_session_media(GstRTSPSession *session G_GNUC_UNUSED, GstRTSPSessionMedia *sm,
		    gpointer user_data)
{
	MediaMatch *match = user_data;
	VlgCamsimCamera *camera =
	    vlg_camsim_camera_from_media(gst_rtsp_session_media_get_media(sm));

	if (!match->camera || camera == match->camera)
		match->found = TRUE;
	return GST_RTSP_FILTER_KEEP;
}

static GstRTSPFilterResult
match_session(GstRTSPSessionPool *pool G_GNUC_UNUSED, GstRTSPSession *session, gpointer user_data)
{
	MediaMatch match = {.camera = user_data};

	gst_rtsp_session_filter(session, match_session_media, &match);
	return match.found ? GST_RTSP_FILTER_REMOVE : GST_RTSP_FILTER_KEEP;
}

/* Close the RTSP connections of @camera (NULL: all), then end its sessions: UDP sessions have no
 * connection to close, and ending the last session stops the shared media and its feeder. */
static void
drop_clients(VlgCamsimServer *server, VlgCamsimCamera *camera)
{
	g_autoptr(GstRTSPSessionPool) pool = gst_rtsp_server_get_session_pool(server->rtsp);

	g_list_free(gst_rtsp_server_client_filter(server->rtsp, match_client, camera));
	g_list_free(gst_rtsp_session_pool_filter(pool, match_session, camera));
}

void
vlg_camsim_server_set_state(VlgCamsimServer *server, VlgCamsimCamera *camera, VlgCamsimState state,
			    GstRTSPStatusCode code)
{
	g_autofree gchar *text = NULL;

	vlg_camsim_camera_set_state(camera, state, code);
	text = vlg_camsim_camera_describe_state(camera);
	g_message("camera %s: %s", vlg_camsim_camera_get_name(camera), text);
	if (state == VLG_CAMSIM_STATE_DOWN)
		drop_clients(server, camera);
}

typedef struct {
	VlgCamsimCamera *camera;
	guint count;
} ClientCount;

static GstRTSPFilterResult
count_client(GstRTSPServer *rtsp G_GNUC_UNUSED, GstRTSPClient *client, gpointer user_data)
{
	ClientCount *count = user_data;

	if (g_object_get_data(G_OBJECT(client), CLIENT_CAMERA_KEY) == count->camera)
		count->count++;
	return GST_RTSP_FILTER_KEEP;
}

guint
vlg_camsim_server_count_clients(VlgCamsimServer *server, VlgCamsimCamera *camera)
{
	ClientCount count = {.camera = camera};

	g_list_free(gst_rtsp_server_client_filter(server->rtsp, count_client, &count));
	return count.count;
}

/* ---- setting up ---------------------------------------------------------------------------- */

static gboolean
setup_auth(VlgCamsimServer *server, const VlgCamsimServerOptions *options, GError **error)
{
	g_autoptr(GstRTSPToken) token = NULL;

	if (!options->user && !options->password)
		return TRUE;
	if (!options->user || !options->password || !*options->user) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
			    "--user and --password go together");
		return FALSE;
	}
	server->auth = gst_rtsp_auth_new();
	gst_rtsp_auth_set_supported_methods(server->auth, GST_RTSP_AUTH_DIGEST);
	token =
	    gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, VIEWER_ROLE, NULL);
	gst_rtsp_auth_add_digest(server->auth, options->user, options->password, token);
	gst_rtsp_server_set_auth(server->rtsp, server->auth);
	return TRUE;
}

VlgCamsimServer *
vlg_camsim_server_new(const VlgCamsimServerOptions *options, GError **error)
{
	g_autoptr(VlgCamsimServer) server = g_new0(VlgCamsimServer, 1);
	g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(options->address);
	g_autofree gchar *service = g_strdup_printf("%u", options->port);

	server->cameras = g_ptr_array_new_with_free_func((GDestroyNotify)vlg_camsim_camera_free);
	server->by_name = g_hash_table_new(g_str_hash, g_str_equal);
	server->rtsp = gst_rtsp_server_new();
	server->pool = gst_rtsp_address_pool_new();
	server->address = g_strdup(options->address);
	if (!inet || options->port > G_MAXUINT16) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
			    "listen address %s:%u is not an IP address and port", options->address,
			    options->port);
		return NULL;
	}
	/* Without a unicast range in a pool, rtsp-stream binds its UDP sockets to every interface.
	 */
	gst_rtsp_address_pool_add_range(server->pool, options->address, options->address,
					MEDIA_PORT_MIN, MEDIA_PORT_MAX, 0);
	gst_rtsp_server_set_address(server->rtsp, options->address);
	gst_rtsp_server_set_service(server->rtsp, service);
	if (!setup_auth(server, options, error))
		return NULL;
	g_signal_connect(server->rtsp, "client-connected", G_CALLBACK(on_client_connected), server);
	return g_steal_pointer(&server);
}

static gchar *
describe_clip(const VlgCamsimClip *clip)
{
	return g_strdup_printf("%s%s%s, %u frames, loops every %.3f s",
			       vlg_camsim_codec_name(clip->video->codec), clip->audio ? " + " : "",
			       clip->audio ? vlg_camsim_codec_name(clip->audio->codec) : "",
			       clip->video->buffers->len, (double)clip->duration / GST_SECOND);
}

static void
mount_camera(VlgCamsimServer *server, VlgCamsimCamera *camera)
{
	GstRTSPMediaFactory *factory = vlg_camsim_camera_get_factory(camera);
	g_autoptr(GstRTSPMountPoints) mounts = gst_rtsp_server_get_mount_points(server->rtsp);
	g_autofree gchar *path = g_strconcat("/", vlg_camsim_camera_get_name(camera), NULL);

	gst_rtsp_media_factory_set_address_pool(factory, server->pool);
	if (server->auth)
		gst_rtsp_media_factory_add_role(
		    factory, VIEWER_ROLE, GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
		    GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, NULL);
	gst_rtsp_mount_points_add_factory(mounts, path, g_object_ref(factory));
}

gboolean
vlg_camsim_server_add_camera(VlgCamsimServer *server, const gchar *name, const gchar *path,
			     GError **error)
{
	VlgCamsimClip *clip;
	VlgCamsimCamera *camera;
	g_autofree gchar *about = NULL;

	g_return_val_if_fail(server->source_id == 0, FALSE);
	if (!vlg_camsim_camera_name_is_valid(name)) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
			    "camera name '%s' (for %s): use letters, digits, '-', '_' and '.'",
			    name, path);
		return FALSE;
	}
	if (g_hash_table_contains(server->by_name, name)) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CONFIG,
			    "camera name '%s' (for %s) is already taken", name, path);
		return FALSE;
	}
	if (!(clip = vlg_camsim_clip_load(path, error)))
		return FALSE;
	about = describe_clip(clip);
	camera = vlg_camsim_camera_new(name, clip);
	g_ptr_array_add(server->cameras, camera);
	g_hash_table_insert(server->by_name, (gpointer)vlg_camsim_camera_get_name(camera), camera);
	mount_camera(server, camera);
	g_message("camera %s: %s (%s)", name, path, about);
	return TRUE;
}

static gint
compare_file_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const gchar *const *)a, *(const gchar *const *)b);
}

static gboolean
is_clip_file(const gchar *file)
{
	g_autofree gchar *lower = g_ascii_strdown(file, -1);

	return g_str_has_suffix(lower, ".mkv") || g_str_has_suffix(lower, ".mp4");
}

gboolean
vlg_camsim_server_add_media_dir(VlgCamsimServer *server, const gchar *dir, GError **error)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, error);
	g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
	const gchar *file;

	if (!d) {
		g_prefix_error(error, "--media-dir: ");
		return FALSE;
	}
	while ((file = g_dir_read_name(d)))
		if (is_clip_file(file))
			g_ptr_array_add(files, g_strdup(file));
	g_ptr_array_sort(files, compare_file_names);
	for (guint i = 0; i < files->len; i++) {
		const gchar *name = g_ptr_array_index(files, i);
		g_autofree gchar *path = g_build_filename(dir, name, NULL);
		g_autofree gchar *camera = g_strndup(name, strrchr(name, '.') - name);

		if (!vlg_camsim_server_add_camera(server, camera, path, error))
			return FALSE;
	}
	return TRUE;
}

gboolean
vlg_camsim_server_start(VlgCamsimServer *server, GError **error)
{
	g_return_val_if_fail(server->source_id == 0, FALSE);
	server->source_id = gst_rtsp_server_attach(server->rtsp, NULL);
	if (server->source_id == 0) {
		g_autofree gchar *service = gst_rtsp_server_get_service(server->rtsp);

		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_SERVER,
			    "cannot listen for RTSP on %s:%s", server->address, service);
		return FALSE;
	}
	return TRUE;
}

guint
vlg_camsim_server_get_port(VlgCamsimServer *server)
{
	return gst_rtsp_server_get_bound_port(server->rtsp);
}

const GPtrArray *
vlg_camsim_server_get_cameras(VlgCamsimServer *server)
{
	return server->cameras;
}

VlgCamsimCamera *
vlg_camsim_server_find_camera(VlgCamsimServer *server, const gchar *name)
{
	return g_hash_table_lookup(server->by_name, name);
}

void
vlg_camsim_server_free(VlgCamsimServer *server)
{
	if (!server)
		return;
	if (server->source_id)
		g_source_remove(server->source_id);
	/* Stop every media (and so every feeder thread) while the cameras still exist. */
	drop_clients(server, NULL);
	g_signal_handlers_disconnect_by_data(server->rtsp, server);
	g_object_unref(server->rtsp);
	g_clear_object(&server->auth);
	g_object_unref(server->pool);
	g_hash_table_unref(server->by_name);
	g_ptr_array_unref(server->cameras);
	g_free(server->address);
	g_free(server);
}
