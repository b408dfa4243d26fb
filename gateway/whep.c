/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "linkage-gateway"

#include "gateway/whep.h"

#include <string.h>

#include "gateway/streams.h"
#include "pipelines/webrtc-peer.h"

#define CONNECT_DEADLINE_S 15

typedef struct {
	VlgWhep *whep;
	char *id;
	char *camera_id;
	char *etag;
	VlgRtpSource *source; /* borrowed from the app's registry; released on free */
	char *profile;        /* asked for (?profile=), main by default */
	gboolean transcode_main;
	char *fallback;       /* why another profile is sent, or NULL */
	guint check_source;   /* watches for a stream browsers cannot decode */
	VlgWebrtcPeer *peer;
	VlgHttpPending *pending; /* the POST waiting for the answer */
	guint deadline_source;
} WhepSession;

struct _VlgWhep {
	VlgApp *app;
	GHashTable *sessions; /* id -> WhepSession*, owned */
};

static void
add_cors(VlgHttpResponse *response)
{
	vlg_http_response_add_header(response, "Access-Control-Allow-Origin", "*");
	vlg_http_response_add_header(response, "Access-Control-Expose-Headers",
				     "Location, ETag, Accept-Patch, Link");
}

static VlgHttpResponse *
with_cors(VlgHttpResponse *response)
{
	add_cors(response);
	return response;
}

static void
session_free(gpointer data)
{
	WhepSession *session = data;

	g_clear_handle_id(&session->deadline_source, g_source_remove);
	g_clear_handle_id(&session->check_source, g_source_remove);
	if (session->pending) {
		vlg_http_pending_complete(session->pending,
					  with_cors(vlg_http_response_new_error(
						  503, "the session ended before its answer was ready")));
		g_clear_pointer(&session->pending, vlg_http_pending_unref);
	}
	session->peer = vlg_webrtc_peer_free(session->peer);
	if (session->source)
		vlg_app_release_stream(session->whep->app, session->source);
	g_free(session->id);
	g_free(session->camera_id);
	g_free(session->etag);
	g_free(session->profile);
	g_free(session->fallback);
	g_free(session);
}

static void
remove_session(WhepSession *session, const char *why)
{
	g_message("whep session %s (camera %s) ended: %s", session->id, session->camera_id, why);
	g_hash_table_remove(session->whep->sessions, session->id);
}

typedef struct {
	VlgWhep *whep;
	char *id;
	char *why;
} LaterRemoval;

static gboolean
remove_later_cb(gpointer data)
{
	LaterRemoval *later = data;
	WhepSession *session = g_hash_table_lookup(later->whep->sessions, later->id);

	if (session)
		remove_session(session, later->why);
	g_free(later->id);
	g_free(later->why);
	g_free(later);
	return G_SOURCE_REMOVE;
}

/* From inside the peer's own callbacks: free it once they have returned. */
static void
remove_session_later(WhepSession *session, const char *why)
{
	LaterRemoval *later = g_new0(LaterRemoval, 1);

	later->whep = session->whep;
	later->id = g_strdup(session->id);
	later->why = g_strdup(why);
	g_idle_add(remove_later_cb, later);
}

static gboolean
connect_deadline(gpointer data)
{
	WhepSession *session = data;

	session->deadline_source = 0;
	remove_session(session, "ICE did not connect within 15 s");
	return G_SOURCE_REMOVE;
}

static void
on_peer_state(VlgWebrtcPeer *peer, VlgPeerState state, gpointer data)
{
	WhepSession *session = data;

	if (state == VLG_PEER_CONNECTED) {
		g_clear_handle_id(&session->deadline_source, g_source_remove);
		g_message("whep session %s (camera %s) connected", session->id, session->camera_id);
	} else if (state == VLG_PEER_FAILED || state == VLG_PEER_CLOSED) {
		remove_session_later(session, vlg_peer_state_to_string(state));
	}
}

static void
on_answer(VlgWebrtcPeer *peer, const char *answer, const GError *error, gpointer data)
{
	WhepSession *session = data;
	VlgHttpPending *pending = g_steal_pointer(&session->pending);
	VlgHttpResponse *response;
	g_autofree char *location = NULL;

	if (!pending)
		return;
	if (!answer) {
		vlg_http_pending_complete(pending, with_cors(vlg_http_response_new_error(
							   500, "no answer: %s", error->message)));
		vlg_http_pending_unref(pending);
		remove_session_later(session, error->message);
		return;
	}
	location = g_strdup_printf("/whep/%s/%s", session->camera_id, session->id);
	response = vlg_http_response_new_text(201, "application/sdp", answer);
	vlg_http_response_add_header(response, "Location", location);
	vlg_http_response_add_header(response, "ETag", session->etag);
	add_cors(response);
	vlg_http_pending_complete(pending, response);
	vlg_http_pending_unref(pending);
}

static VlgIceSettings
ice_settings(const VlgGatewayConfig *config)
{
	VlgIceSettings ice = {
		.ice_addresses = (const char *const *)config->ice_addresses,
		.stun_servers = (const char *const *)config->stun_servers,
		.turn_servers = (const char *const *)config->turn_servers,
	};
	return ice;
}

static gboolean
is_sdp(const char *content_type)
{
	return content_type && g_ascii_strncasecmp(content_type, "application/sdp", 15) == 0;
}

static VlgHttpResponse *
check_offer_request(VlgWhep *whep, const VlgHttpRequest *request, const char *camera_id)
{
	/* A camera outside the viewer's subtree is answered as an unknown one. */
	if (!vlg_app_find_visible_camera(whep->app, request->principal, camera_id))
		return vlg_http_response_new_error(404, "no camera with this id");
	if (!is_sdp(request->content_type))
		return vlg_http_response_new_error(415, "the offer must be sent as application/sdp");
	if (!request->body || g_bytes_get_size(request->body) == 0)
		return vlg_http_response_new_error(400, "the body must hold an SDP offer");
	if (!request->pending)
		return vlg_http_response_new_error(500, "this server cannot wait for an answer");
	return NULL;
}

/* B-frames show only once frames flow: when the passthrough turns out undecodable, the session
 * moves to the camera's main transcode, on the same transceiver, from its next keyframe. */
static gboolean
check_passthrough(gpointer data)
{
	WhepSession *session = data;
	VlgCamera *camera = vlg_app_find_camera(session->whep->app, session->camera_id);
	g_autoptr(GError) error = NULL;
	g_autofree char *fallback = NULL;
	VlgRtpSource *transcoded;
	const char *why;

	if (session->transcode_main ||
	    vlg_rtp_source_get_passthrough(session->source, &why) !=
		    VLG_PASSTHROUGH_NEEDS_TRANSCODE)
		return G_SOURCE_CONTINUE;
	transcoded = vlg_streams_acquire_nearest(session->whep->app->streams, camera, "main", TRUE,
						 NULL, &fallback, &error);
	if (!transcoded) {
		g_warning("whep session %s (camera %s): %s, and no transcode: %s", session->id,
			  session->camera_id, why, error->message);
		session->check_source = 0;
		return G_SOURCE_REMOVE;
	}
	g_message("whep session %s (camera %s): %s, now sent transcoded%s%s", session->id,
		  session->camera_id, why, fallback ? ": " : "", fallback ? fallback : "");
	vlg_webrtc_peer_set_slot_source(session->peer, 0, transcoded);
	vlg_app_release_stream(session->whep->app, session->source);
	session->source = transcoded;
	session->transcode_main = TRUE;
	session->check_source = 0;
	return G_SOURCE_REMOVE;
}

static VlgHttpResponse *
post_offer(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgWhep *whep = data;
	const char *camera_id = params[0];
	VlgHttpResponse *refusal = check_offer_request(whep, request, camera_id);
	g_autoptr(GError) error = NULL;
	g_autofree char *offer = NULL;
	WhepSession *session;
	VlgIceSettings ice;

	g_autofree char *profile = vlg_http_query_get(request->query, "profile");
	const char *chosen = NULL;
	gboolean transcode_main;
	VlgCamera *camera;

	if (refusal)
		return with_cors(refusal);
	if (profile && !vlg_gateway_config_find_profile(whep->app->config, profile))
		return with_cors(vlg_http_response_new_error(400, "no profile named '%s'", profile));
	offer = g_strndup(g_bytes_get_data(request->body, NULL), g_bytes_get_size(request->body));
	session = g_new0(WhepSession, 1);
	session->whep = whep;
	session->id = g_uuid_string_random();
	session->camera_id = g_strdup(camera_id);
	session->etag = g_strdup_printf("\"%08x\"", g_random_int());
	session->profile = g_strdup(profile ? profile : "main");
	/* An H.265 camera known as such (its caps came) gets main as a transcode at once. */
	camera = vlg_app_find_camera(whep->app, camera_id);
	transcode_main = vlg_camera_video_is(camera, "video/x-h265");
	session->source = vlg_streams_acquire_nearest(whep->app->streams, camera, session->profile,
						      transcode_main, &chosen, &session->fallback,
						      &error);
	if (!session->source) {
		g_autofree char *why = g_strdup(error->message);

		session_free(session);
		return with_cors(vlg_http_response_new_error(503, "no stream for this camera: %s",
							     why));
	}
	session->transcode_main = transcode_main && g_strcmp0(chosen, "main") == 0;
	ice = ice_settings(whep->app->config);
	session->peer = vlg_webrtc_peer_new(session->id, &ice, on_peer_state, session);
	g_hash_table_insert(whep->sessions, session->id, session);
	if (!vlg_webrtc_peer_answer(session->peer, offer, session->source, on_answer, session,
				    &error)) {
		g_hash_table_remove(whep->sessions, session->id);
		return with_cors(vlg_http_response_new_error(400, "unusable offer: %s",
							     error->message));
	}
	session->pending = vlg_http_pending_ref(request->pending);
	session->deadline_source = g_timeout_add_seconds(CONNECT_DEADLINE_S, connect_deadline,
							 session);
	if (g_strcmp0(chosen, "main") == 0 && !session->transcode_main)
		session->check_source = g_timeout_add(500, check_passthrough, session);
	g_message("whep session %s for camera %s from %s (%s, %s at %s)", session->id, camera_id,
		  request->peer, request->principal->name,
		  vlg_role_to_string(request->principal->role), request->principal->org);
	return NULL;
}

static WhepSession *
find_session(VlgWhep *whep, const VlgHttpRequest *request, const char *const *params)
{
	WhepSession *session = g_hash_table_lookup(whep->sessions, params[1]);

	if (!session || strcmp(session->camera_id, params[0]) != 0)
		return NULL;
	return vlg_app_find_visible_camera(whep->app, request->principal, session->camera_id) ?
		       session :
		       NULL;
}

static VlgHttpResponse *
delete_session(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgWhep *whep = data;
	WhepSession *session = find_session(whep, request, params);

	if (!session)
		return with_cors(vlg_http_response_new_error(404, "no such WHEP session"));
	remove_session(session, "DELETE by the client");
	return with_cors(vlg_http_response_new(200, NULL, NULL));
}

static VlgHttpResponse *
patch_session(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgHttpResponse *response = vlg_http_response_new_error(
		405, "trickle ICE is not supported: the answer already holds every candidate");

	vlg_http_response_add_header(response, "Allow", "DELETE, OPTIONS");
	return with_cors(response);
}

static VlgHttpResponse *
preflight(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgHttpResponse *response = vlg_http_response_new(204, NULL, NULL);

	add_cors(response);
	vlg_http_response_add_header(response, "Access-Control-Allow-Methods",
				     "POST, DELETE, PATCH, OPTIONS");
	vlg_http_response_add_header(response, "Access-Control-Allow-Headers",
				     "Authorization, Content-Type, If-Match");
	vlg_http_response_add_header(response, "Access-Control-Max-Age", "86400");
	vlg_http_response_add_header(response, "Accept-Post", "application/sdp");
	return response;
}

VlgWhep *
vlg_whep_new(VlgApp *app)
{
	VlgWhep *whep = g_new0(VlgWhep, 1);

	whep->app = app;
	whep->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, session_free);
	return whep;
}

VlgWhep *
vlg_whep_free(VlgWhep *whep)
{
	if (!whep)
		return NULL;
	g_hash_table_unref(whep->sessions);
	g_free(whep);
	return NULL;
}

void
vlg_whep_register(VlgWhep *whep, VlgHttpRouter *router)
{
	vlg_http_router_add(router, VLG_HTTP_POST, "/whep/{camera}", post_offer, whep);
	vlg_http_router_add_public(router, VLG_HTTP_OPTIONS, "/whep/{camera}", preflight, whep);
	vlg_http_router_add(router, VLG_HTTP_DELETE, "/whep/{camera}/{session}", delete_session,
			    whep);
	vlg_http_router_add(router, VLG_HTTP_PATCH, "/whep/{camera}/{session}", patch_session, whep);
	vlg_http_router_add_public(router, VLG_HTTP_OPTIONS, "/whep/{camera}/{session}", preflight, whep);
}

guint
vlg_whep_session_count(VlgWhep *whep)
{
	return g_hash_table_size(whep->sessions);
}
