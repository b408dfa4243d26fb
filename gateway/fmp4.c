/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "linkage-gateway"

#include "gateway/fmp4.h"

#include <string.h>

#include "config/vlg-error.h"
#include "gateway/access.h"
#include "gateway/streams.h"
#include "pipelines/fmp4-muxer.h"

#define PATH_PREFIX "/ws/fmp4/"

/* One shared muxer: a (camera, profile) hub and the clients reading it. */
typedef struct {
	VlgFmp4Endpoint *endpoint;
	char *key;
	VlgCamera *camera;
	const VlgProfile *profile;
	gboolean transcode_main;
	VlgFmp4Muxer *muxer;
	guint clients;
} Muxer;

typedef struct {
	GBytes *data;
	gboolean is_init;
	char *mime; /* for init segments */
} Segment;

/* One client. The sink side (streaming threads) and the socket side (main loop) meet in
 * `pending`, under `lock`. */
typedef struct {
	gint refcount;
	VlgFmp4Endpoint *endpoint;
	VlgWsConnection *connection;
	char *camera_id;
	Muxer *muxer;             /* NULL when refused */
	VlgFmp4Client *handle;
	GMutex lock;
	GQueue pending;           /* of Segment*, guarded */
	gsize pending_bytes;      /* guarded */
	gsize socket_bytes;       /* the socket's queue at the last drain, guarded */
	gboolean dropping;        /* guarded: waiting for a keyframe after a drop */
	gboolean drain_scheduled; /* guarded */
	gboolean closed;          /* guarded */
	guint64 dropped;          /* guarded: media segments dropped, ever */
	VlgPrincipal *principal;  /* while waiting to learn the camera's codec */
	VlgCamera *waiting_on;    /* held while waiting */
	guint wait_source;
	gint64 wait_deadline_us;
} Client;

struct _VlgFmp4Endpoint {
	VlgApp *app;
	GHashTable *muxers; /* key -> Muxer*, borrowed (a muxer frees itself with its last client) */
	guint clients;
};

static void
segment_free(gpointer data)
{
	Segment *segment = data;

	g_bytes_unref(segment->data);
	g_free(segment->mime);
	g_free(segment);
}

static Client *
client_ref(Client *client)
{
	g_atomic_int_inc(&client->refcount);
	return client;
}

static void
client_unref(gpointer data)
{
	Client *client = data;

	if (!g_atomic_int_dec_and_test(&client->refcount))
		return;
	g_queue_clear_full(&client->pending, segment_free);
	g_mutex_clear(&client->lock);
	vlg_ws_connection_unref(client->connection);
	g_free(client->camera_id);
	g_free(client);
}

/* ---- the socket side (main loop) ---- */

static void
send_text(Client *client, const char *type, const char *key, const char *value,
	  const char *key2, const char *value2)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, type);
	if (key) {
		json_builder_set_member_name(builder, key);
		value ? json_builder_add_string_value(builder, value) :
			json_builder_add_null_value(builder);
	}
	if (key2) {
		json_builder_set_member_name(builder, key2);
		value2 ? json_builder_add_string_value(builder, value2) :
			 json_builder_add_null_value(builder);
	}
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	text = json_to_string(root, FALSE);
	vlg_ws_send(client->connection, text);
}

static gboolean
drain(gpointer data)
{
	Client *client = data;
	GQueue ready = G_QUEUE_INIT;
	Segment *segment;

	g_mutex_lock(&client->lock);
	client->drain_scheduled = FALSE;
	ready = client->pending;
	g_queue_init(&client->pending);
	client->pending_bytes = 0;
	g_mutex_unlock(&client->lock);
	while ((segment = g_queue_pop_head(&ready))) {
		if (segment->is_init)
			send_text(client, "init", "mime", segment->mime, NULL, NULL);
		vlg_ws_send_binary(client->connection, segment->data);
		segment_free(segment);
	}
	g_mutex_lock(&client->lock);
	client->socket_bytes = vlg_ws_get_queued_bytes(client->connection);
	g_mutex_unlock(&client->lock);
	return G_SOURCE_REMOVE;
}

/* ---- the sink side (streaming threads) ---- */

/* Media past the client's queue limit is dropped up to the next keyframe, so a slow reader
 * resumes on a picture it can decode; init segments always go through. */
static gboolean
accept_unlocked(Client *client, gsize size, gboolean is_init, gboolean keyframe)
{
	gboolean full = client->pending_bytes + client->socket_bytes + size >
			VLG_FMP4_CLIENT_QUEUE_MAX;

	if (is_init)
		return TRUE;
	if (full) {
		client->dropping = TRUE;
		client->dropped++;
		return FALSE;
	}
	if (client->dropping && !keyframe) {
		client->dropped++;
		return FALSE;
	}
	client->dropping = FALSE;
	return TRUE;
}

static void
on_segment(gpointer data, GBytes *bytes, gboolean is_init, gboolean starts_with_keyframe)
{
	Client *client = data;
	Segment *segment;

	g_mutex_lock(&client->lock);
	if (client->closed ||
	    !accept_unlocked(client, g_bytes_get_size(bytes), is_init, starts_with_keyframe)) {
		g_mutex_unlock(&client->lock);
		return;
	}
	segment = g_new0(Segment, 1);
	segment->data = g_bytes_ref(bytes);
	segment->is_init = is_init;
	if (is_init)
		segment->mime = vlg_fmp4_muxer_get_mime(client->muxer->muxer);
	g_queue_push_tail(&client->pending, segment);
	client->pending_bytes += g_bytes_get_size(bytes);
	if (!client->drain_scheduled) {
		client->drain_scheduled = TRUE;
		g_idle_add_full(G_PRIORITY_DEFAULT, drain, client_ref(client), client_unref);
	}
	g_mutex_unlock(&client->lock);
}

/* ---- muxers ---- */

typedef struct {
	VlgFmp4Endpoint *endpoint;
	VlgCamera *camera;
	gboolean transcode_main;
} MuxerAttempt;

/* The shared muxer of (camera, @profile), made on first use; NULL past the budget. */
static gpointer
attempt_muxer(const VlgProfile *profile, gpointer data, GError **error)
{
	MuxerAttempt *attempt = data;
	VlgFmp4Endpoint *endpoint = attempt->endpoint;
	gboolean transcode = attempt->transcode_main && profile->passthrough;
	g_autofree char *key = g_strdup_printf("%s/%s%s", vlg_camera_get_info(attempt->camera)->id,
					       profile->name, transcode ? "+transcode" : "");
	Muxer *muxer = g_hash_table_lookup(endpoint->muxers, key);
	VlgHub *hub;

	if (!muxer) {
		hub = vlg_streams_acquire_hub(endpoint->app->streams, attempt->camera, profile,
					      transcode, error);
		if (!hub)
			return NULL;
		muxer = g_new0(Muxer, 1);
		muxer->endpoint = endpoint;
		muxer->key = g_steal_pointer(&key);
		muxer->camera = attempt->camera;
		muxer->profile = profile;
		muxer->transcode_main = transcode;
		muxer->muxer = vlg_fmp4_muxer_new(hub);
		g_hash_table_insert(endpoint->muxers, muxer->key, muxer);
	}
	muxer->clients++;
	return muxer;
}

static Muxer *
muxer_open(VlgFmp4Endpoint *endpoint, VlgCamera *camera, const char *wanted,
	   gboolean transcode_main, char **fallback, GError **error)
{
	MuxerAttempt attempt = { endpoint, camera, transcode_main };

	return vlg_streams_try_nearest(endpoint->app->streams, wanted, attempt_muxer, &attempt,
				       NULL, fallback, error);
}

static void
muxer_close(Muxer *muxer)
{
	VlgFmp4Endpoint *endpoint = muxer->endpoint;

	if (--muxer->clients > 0)
		return;
	g_hash_table_remove(endpoint->muxers, muxer->key);
	/* The muxer lets go of the hub before the hub's owner does. */
	vlg_fmp4_muxer_free(muxer->muxer);
	vlg_streams_release_hub(endpoint->app->streams, muxer->camera, muxer->profile,
				muxer->transcode_main);
	g_free(muxer->key);
	g_free(muxer);
}

/* ---- the WebSocket handler ---- */

/* Opens the client's muxer; FALSE (with the error sent and the socket closing) when refused. */
static gboolean
client_start(Client *client, VlgPrincipal *principal, const char *query)
{
	VlgFmp4Endpoint *endpoint = client->endpoint;
	g_autofree char *profile = vlg_http_query_get(query, "profile");
	g_autofree char *h265 = vlg_http_query_get(query, "h265");
	g_autofree char *fallback = NULL;
	g_autoptr(GError) error = NULL;
	VlgCamera *camera;

	camera = client->camera_id ?
			 vlg_app_find_visible_camera(endpoint->app, principal, client->camera_id) :
			 NULL;
	if (!camera) {
		send_text(client, "error", "code", "unknown-camera", "message",
			  "no camera with this id");
		vlg_ws_close(client->connection, 1008, "unknown camera");
		return FALSE;
	}
	if (profile && !vlg_gateway_config_find_profile(endpoint->app->config, profile)) {
		send_text(client, "error", "code", "bad-profile", "message",
			  "profile must be one of gateway.conf's profiles");
		vlg_ws_close(client->connection, 1008, "bad profile");
		return FALSE;
	}
	/* MSE takes B-frames; H.265 only where the player said it decodes it (?h265=1). */
	client->muxer = muxer_open(endpoint, camera, profile ? profile : "main",
				   vlg_camera_video_is(camera, "video/x-h265") && g_strcmp0(h265, "1") != 0, &fallback,
				   &error);
	if (!client->muxer) {
		send_text(client, "error", "code", "unavailable", "message", error->message);
		vlg_ws_close(client->connection, 1013, "try again later");
		return FALSE;
	}
	send_text(client, "stream", "profile", client->muxer->profile->name, "fallback", fallback);
	g_message("fmp4 client of camera %s gets %s%s%s", client->camera_id, client->muxer->key,
		  fallback ? ": " : "", fallback ? fallback : "");
	client->handle = vlg_fmp4_muxer_add_client(client->muxer->muxer, on_segment,
						   client_ref(client), client_unref);
	return TRUE;
}

#define CODEC_WAIT_MS 100
#define CODEC_WAIT_S 10

static void
stop_waiting(Client *client)
{
	g_clear_handle_id(&client->wait_source, g_source_remove);
	if (client->waiting_on)
		vlg_camera_release(client->waiting_on);
	client->waiting_on = NULL;
	g_clear_pointer(&client->principal, vlg_principal_unref);
}

/* Whether main must be transcoded depends on the codec, known once the camera sent its caps. */
static gboolean
codec_known(gpointer data)
{
	Client *client = data;
	g_autoptr(GstCaps) caps =
		vlg_hub_get_caps(vlg_camera_get_hub(client->waiting_on), VLG_TRACK_VIDEO);
	g_autoptr(VlgPrincipal) principal = NULL;
	VlgCamera *camera = client->waiting_on;

	if (!caps && g_get_monotonic_time() < client->wait_deadline_us)
		return G_SOURCE_CONTINUE;
	client->wait_source = 0;
	principal = vlg_principal_ref(client->principal);
	/* Start before letting go of the camera, so that it is not stopped in between. */
	vlg_camera_hold(camera);
	stop_waiting(client);
	client_start(client, principal, vlg_ws_get_query(client->connection));
	vlg_camera_release(camera);
	return G_SOURCE_REMOVE;
}

static gpointer
on_open(VlgWsConnection *connection, const char *peer, VlgPrincipal *principal, gpointer data)
{
	VlgFmp4Endpoint *endpoint = data;
	const char *path = vlg_ws_get_path(connection);
	Client *client = g_new0(Client, 1);
	g_autofree char *id = g_uri_unescape_string(path + strlen(PATH_PREFIX), "/");
	g_autoptr(GstCaps) caps = NULL;
	VlgCamera *camera;

	client->refcount = 1;
	client->endpoint = endpoint;
	client->connection = vlg_ws_connection_ref(connection);
	client->camera_id = g_steal_pointer(&id);
	g_mutex_init(&client->lock);
	g_queue_init(&client->pending);
	endpoint->clients++;
	g_message("fmp4 client %s: camera %s, for %s", peer, client->camera_id, principal->name);
	camera = vlg_app_find_visible_camera(endpoint->app, principal, client->camera_id);
	caps = camera ? vlg_hub_get_caps(vlg_camera_get_hub(camera), VLG_TRACK_VIDEO) : NULL;
	if (camera && !caps) {
		/* A cold camera: pull it and wait (bounded) for its codec. */
		client->waiting_on = camera;
		client->principal = vlg_principal_ref(principal);
		client->wait_deadline_us = g_get_monotonic_time() + CODEC_WAIT_S * G_USEC_PER_SEC;
		vlg_camera_hold(camera);
		client->wait_source = g_timeout_add(CODEC_WAIT_MS, codec_known, client);
		return client;
	}
	client_start(client, principal, vlg_ws_get_query(connection));
	return client;
}

/* Clients say nothing after their token; anything else is ignored. */
static void
on_message(gpointer state, const char *text, gsize length)
{
}

static void
on_closed(gpointer state)
{
	Client *client = state;
	guint64 dropped;

	g_mutex_lock(&client->lock);
	client->closed = TRUE;
	dropped = client->dropped;
	g_mutex_unlock(&client->lock);
	stop_waiting(client);
	if (client->muxer) {
		g_message("fmp4 client of %s left (%" G_GUINT64_FORMAT
			  " segments dropped for reading slowly)",
			  client->muxer->key, dropped);
		vlg_fmp4_muxer_remove_client(client->muxer->muxer, client->handle);
		muxer_close(client->muxer);
	}
	client->endpoint->clients--;
	client_unref(client);
}

static const VlgWsHandler fmp4_handler = { on_open, on_message, on_closed };

VlgFmp4Endpoint *
vlg_fmp4_endpoint_new(VlgApp *app, VlgHttpServer *server)
{
	VlgFmp4Endpoint *endpoint = g_new0(VlgFmp4Endpoint, 1);

	endpoint->app = app;
	endpoint->muxers = g_hash_table_new(g_str_hash, g_str_equal);
	vlg_http_server_add_websocket(server, PATH_PREFIX, &fmp4_handler, endpoint);
	return endpoint;
}

VlgFmp4Endpoint *
vlg_fmp4_endpoint_free(VlgFmp4Endpoint *endpoint)
{
	if (!endpoint)
		return NULL;
	/* The server (freed first) closed every client, and each closed its muxer. */
	g_hash_table_unref(endpoint->muxers);
	g_free(endpoint);
	return NULL;
}

guint
vlg_fmp4_endpoint_client_count(VlgFmp4Endpoint *endpoint)
{
	return endpoint->clients;
}

guint
vlg_fmp4_endpoint_muxer_count(VlgFmp4Endpoint *endpoint)
{
	return g_hash_table_size(endpoint->muxers);
}
