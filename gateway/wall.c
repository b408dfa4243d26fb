/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "linkage-gateway"

#include "gateway/wall.h"

#include <string.h>

#include "gateway/streams.h"
#include "pipelines/webrtc-peer.h"

#define MAX_TILES 16
#define STATE_POLL_MS 500
#define CONNECT_DEADLINE_S 15

typedef struct {
	char *camera_id;      /* NULL: empty */
	char *choice;         /* the profile the operator chose, or NULL: by layout */
	VlgRtpSource *source; /* held while the tile shows the camera */
	const char *profile;  /* what the source is (from the config's profiles) */
	gboolean transcode_main; /* main comes from a transcode (H.265, B-frames) */
	char *fallback;       /* why the tile shows another profile than it wanted, or NULL */
	gboolean sending;     /* the source feeds the tile's transceiver */
} Tile;



typedef struct {
	VlgApp *app;
	VlgWsConnection *connection;
	char *id;
	char *peer_address;
	VlgPrincipal *principal; /* who opened the wall: what it may show */
	VlgWebrtcPeer *peer;
	Tile tiles[MAX_TILES];
	guint layout;
	gboolean offering;    /* an offer is out, waiting for its answer */
	gboolean offer_again; /* something changed meanwhile: offer once more after the answer */
	gboolean connected_once;
	guint state_source;
	guint deadline_source;
	char *last_tiles; /* the last `tiles` message sent */
} Wall;

static guint wall_count;

static void send_json(Wall *wall, JsonBuilder *builder);

static void
send_error(Wall *wall, const char *code, const char *message)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "error");
	json_builder_set_member_name(builder, "code");
	json_builder_add_string_value(builder, code);
	json_builder_set_member_name(builder, "message");
	json_builder_add_string_value(builder, message);
	json_builder_end_object(builder);
	send_json(wall, builder);
}

static void
send_json(Wall *wall, JsonBuilder *builder)
{
	g_autoptr(JsonNode) root = json_builder_get_root(builder);
	g_autofree char *text = json_to_string(root, FALSE);

	vlg_ws_send(wall->connection, text);
}

static void
send_simple(Wall *wall, const char *type, const char *key, const char *value)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, type);
	if (key) {
		json_builder_set_member_name(builder, key);
		json_builder_add_string_value(builder, value);
	}
	json_builder_end_object(builder);
	send_json(wall, builder);
}

static void
send_welcome(Wall *wall)
{
	static const int layouts[] = { 1, 4, 9, 16 };
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "welcome");
	json_builder_set_member_name(builder, "wall");
	json_builder_add_string_value(builder, wall->id);
	json_builder_set_member_name(builder, "layouts");
	json_builder_begin_array(builder);
	for (guint i = 0; i < G_N_ELEMENTS(layouts); i++)
		json_builder_add_int_value(builder, layouts[i]);
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	send_json(wall, builder);
}

/* ---- tiles ---- */

static void
tile_clear(Wall *wall, guint index)
{
	Tile *tile = &wall->tiles[index];

	if (wall->peer && index < vlg_webrtc_peer_slot_count(wall->peer))
		vlg_webrtc_peer_set_slot_source(wall->peer, index, NULL);
	if (tile->source)
		vlg_app_release_stream(wall->app, tile->source);
	tile->source = NULL;
	tile->profile = NULL;
	tile->transcode_main = FALSE;
	tile->sending = FALSE;
	g_clear_pointer(&tile->camera_id, g_free);
	g_clear_pointer(&tile->choice, g_free);
	g_clear_pointer(&tile->fallback, g_free);
}

/* The profile a tile wants: the operator's choice, else by tile size (1 tile: main; 4: sub; 9
 * and 16: low). */
static const char *
tile_wanted_profile(Wall *wall, Tile *tile)
{
	if (tile->choice)
		return tile->choice;
	return wall->layout == 1 ? "main" : wall->layout == 4 ? "sub" : "low";
}

/* Acquires @wanted, else the nearest profile that can be had; sets the tile's source, profile
 * and fallback reason. FALSE when nothing could be had (the reason is kept as the fallback). */
static gboolean
tile_acquire(Wall *wall, Tile *tile, const char *wanted, gboolean transcode_main)
{
	g_autoptr(GError) error = NULL;
	VlgCamera *camera = vlg_app_find_camera(wall->app, tile->camera_id);
	const char *chosen = NULL;
	gboolean transcoded = FALSE;

	g_clear_pointer(&tile->fallback, g_free);
	tile->source = vlg_streams_acquire_nearest(wall->app->streams, camera, wanted,
						   transcode_main, &chosen, &tile->fallback, &error);
	if (!tile->source) {
		tile->fallback = g_strdup(error->message);
		return FALSE;
	}
	tile->profile = chosen;
	vlg_streams_profile_of(wall->app->streams, tile->source, &transcoded);
	tile->transcode_main = transcoded && g_strcmp0(chosen, "main") == 0;
	return TRUE;
}

/* Points the tile at another source of its camera: the new one feeds the transceiver (from its
 * next keyframe) before the old one is let go, so the picture never stops. */
static void
tile_replace_source(Wall *wall, guint index, const char *wanted, gboolean transcode_main)
{
	Tile *tile = &wall->tiles[index];
	VlgRtpSource *old = tile->source;

	tile->source = NULL;
	if (!tile_acquire(wall, tile, wanted, transcode_main)) {
		tile->source = old;
		return;
	}
	/* Another passthrough profile of the same camera is the same stream: nothing to switch. */
	if (wall->peer && tile->source != old) {
		vlg_webrtc_peer_set_slot_source(wall->peer, index, tile->source);
		tile->sending = TRUE;
	}
	if (old)
		vlg_app_release_stream(wall->app, old);
}

/* The tile's camera feeds its transceiver. webrtcbin 1.22 learns each slot's caps from the first
 * buffers, so sources attach at once, before the first offer (deferring them to the answer left
 * the transceivers without media in Chromium). */
static void
tile_start_sending(Wall *wall, guint index)
{
	Tile *tile = &wall->tiles[index];
	if (!tile->source || tile->sending)
		return;
	tile->sending = TRUE;
	vlg_webrtc_peer_set_slot_source(wall->peer, index, tile->source);
}

static void
tile_set(Wall *wall, guint index, const char *camera_id, const char *choice)
{
	Tile *tile = &wall->tiles[index];

	if (g_strcmp0(tile->camera_id, camera_id) == 0 && g_strcmp0(tile->choice, choice) == 0)
		return;
	tile_clear(wall, index);
	tile->camera_id = g_strdup(camera_id);
	tile->choice = g_strdup(choice);
	tile_acquire(wall, tile, tile_wanted_profile(wall, tile), FALSE);
	tile_start_sending(wall, index);
}

/* After a layout change or when a stream turned out undecodable: each tile gets the profile it
 * should have now. */
static void
tile_refresh_profile(Wall *wall, guint index)
{
	Tile *tile = &wall->tiles[index];
	const char *wanted;
	const char *why;
	gboolean needs_transcode;

	if (!tile->camera_id)
		return;
	wanted = tile_wanted_profile(wall, tile);
	needs_transcode = tile->source && g_strcmp0(tile->profile, "main") == 0 &&
			  !tile->transcode_main &&
			  vlg_rtp_source_get_passthrough(tile->source, &why) ==
				  VLG_PASSTHROUGH_NEEDS_TRANSCODE;
	if (needs_transcode) {
		g_message("wall %s tile %u: camera %s: %s, transcoding", wall->id, index,
			  tile->camera_id, why);
		tile_replace_source(wall, index, "main", TRUE);
		return;
	}
	if (!tile->source || (g_strcmp0(tile->profile, wanted) != 0 && !tile->fallback))
		tile_replace_source(wall, index, wanted, tile->transcode_main);
}

/* What a tile shows, for the operator: the state and, when not live, why. */
static const char *
tile_state(Wall *wall, Tile *tile, char **reason)
{
	VlgCamera *camera;
	const VlgIngestState *state;
	const char *why = NULL;

	*reason = NULL;
	if (!tile->camera_id)
		return "empty";
	/* The camera that feeds the tile: its native sub-stream's when it shows that. */
	camera = tile->source ? vlg_rtp_source_get_camera(tile->source) :
				vlg_app_find_camera(wall->app, tile->camera_id);
	state = vlg_camera_get_state(camera);
	switch (state->kind) {
	case VLG_INGEST_RETRYING:
		*reason = g_strdup_printf("%s; next try in %.0f s", state->last_error,
					  MAX(0, state->next_attempt_us - g_get_monotonic_time()) /
						  (double)G_USEC_PER_SEC);
		return "retrying";
	case VLG_INGEST_FAILED:
		*reason = g_strdup(state->last_error);
		return "offline";
	case VLG_INGEST_LIVE:
		if (!tile->source) {
			*reason = g_strdup(tile->fallback);
			return "degraded";
		}
		switch (vlg_rtp_source_get_passthrough(tile->source, &why)) {
		case VLG_PASSTHROUGH_NEEDS_TRANSCODE:
			*reason = g_strdup(why);
			return "degraded";
		case VLG_PASSTHROUGH_OK:
			if (tile->fallback) {
				*reason = g_strdup(tile->fallback);
				return "degraded";
			}
			return "live";
		default:
			return "connecting";
		}
	default:
		return "connecting";
	}
}

/* Streams browsers cannot decode as sent (H.265, B-frames) are not sent: the tile says why. */
static void
stop_undecodable(Wall *wall, guint index)
{
	Tile *tile = &wall->tiles[index];
	const char *why;

	if (!tile->sending || !tile->source ||
	    vlg_rtp_source_get_passthrough(tile->source, &why) != VLG_PASSTHROUGH_NEEDS_TRANSCODE)
		return;
	vlg_webrtc_peer_set_slot_source(wall->peer, index, NULL);
	tile->sending = FALSE;
}

static gboolean
tile_is_transcoded(Wall *wall, Tile *tile)
{
	gboolean transcoded = FALSE;

	if (tile->source)
		vlg_streams_profile_of(wall->app->streams, tile->source, &transcoded);
	return transcoded;
}

static void
build_tile(JsonBuilder *builder, Wall *wall, guint index)
{
	Tile *tile = &wall->tiles[index];
	g_autofree char *reason = NULL;
	g_autofree char *mid = vlg_webrtc_peer_get_slot_mid(wall->peer, index);
	const char *state = tile_state(wall, tile, &reason);
	VlgCamera *camera = tile->camera_id ? vlg_app_find_camera(wall->app, tile->camera_id) : NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "tile");
	json_builder_add_int_value(builder, index);
	json_builder_set_member_name(builder, "camera");
	tile->camera_id ? json_builder_add_string_value(builder, tile->camera_id) :
			  json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "name");
	camera ? json_builder_add_string_value(builder, vlg_camera_get_info(camera)->name) :
		 json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "profile");
	tile->profile ? json_builder_add_string_value(builder, tile->profile) :
			json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "transcoded");
	json_builder_add_boolean_value(builder, tile_is_transcoded(wall, tile));
	json_builder_set_member_name(builder, "mid");
	mid ? json_builder_add_string_value(builder, mid) : json_builder_add_null_value(builder);
	json_builder_set_member_name(builder, "state");
	json_builder_add_string_value(builder, state);
	json_builder_set_member_name(builder, "reason");
	reason ? json_builder_add_string_value(builder, reason) :
		 json_builder_add_null_value(builder);
	json_builder_end_object(builder);
}

static void
push_tiles(Wall *wall)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;

	if (!wall->peer)
		return;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "tiles");
	json_builder_set_member_name(builder, "layout");
	json_builder_add_int_value(builder, wall->layout);
	json_builder_set_member_name(builder, "tiles");
	json_builder_begin_array(builder);
	for (guint i = 0; i < wall->layout; i++) {
		tile_refresh_profile(wall, i);
		stop_undecodable(wall, i);
		build_tile(builder, wall, i);
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	text = json_to_string(root, FALSE);
	if (g_strcmp0(text, wall->last_tiles) == 0)
		return;
	vlg_ws_send(wall->connection, text);
	g_free(wall->last_tiles);
	wall->last_tiles = g_steal_pointer(&text);
}

static gboolean
poll_states(gpointer data)
{
	push_tiles(data);
	return G_SOURCE_CONTINUE;
}

/* ---- negotiation ---- */

static gboolean
connect_deadline(gpointer data)
{
	Wall *wall = data;

	wall->deadline_source = 0;
	g_message("wall %s: ICE did not connect within %d s, closing", wall->id,
		  CONNECT_DEADLINE_S);
	vlg_ws_close(wall->connection, 1008, "ICE did not connect");
	return G_SOURCE_REMOVE;
}

static guint
count_media(const char *sdp)
{
	guint count = 0;

	for (const char *p = sdp; (p = strstr(p, "m=")); p += 2)
		if (p == sdp || p[-1] == '\n')
			count++;
	return count;
}

static void
on_offer(VlgWebrtcPeer *peer, const char *sdp, const GError *error, gpointer data)
{
	Wall *wall = data;

	if (!sdp) {
		g_warning("wall %s: no offer: %s", wall->id, error->message);
		vlg_ws_close(wall->connection, 1011, "the gateway could not make an offer");
		return;
	}
	if (count_media(sdp) != vlg_webrtc_peer_slot_count(peer)) {
		/* Seen rarely with webrtcbin 1.22: a transceiver missing from the offer. Sending media
		 * to it later would abort the daemon; the page reconnects and gets a fresh peer. */
		g_warning("wall %s: the offer has %u m-lines for %u tiles, starting over", wall->id,
			  count_media(sdp), vlg_webrtc_peer_slot_count(peer));
		vlg_ws_close(wall->connection, 1011, "incomplete offer, reconnect");
		return;
	}
	send_simple(wall, "offer", "sdp", sdp);
	if (!wall->connected_once && !wall->deadline_source)
		wall->deadline_source = g_timeout_add_seconds(CONNECT_DEADLINE_S, connect_deadline,
							      wall);
}

static void
negotiate(Wall *wall)
{
	if (wall->offering) {
		wall->offer_again = TRUE;
		return;
	}
	wall->offering = TRUE;
	vlg_webrtc_peer_create_offer(wall->peer, on_offer, wall);
}

static void
ensure_slots(Wall *wall, guint count)
{
	gboolean added = FALSE;

	while (vlg_webrtc_peer_slot_count(wall->peer) < count) {
		vlg_webrtc_peer_add_slot(wall->peer);
		added = TRUE;
	}
	if (added)
		negotiate(wall);
}

static void
on_peer_state(VlgWebrtcPeer *peer, VlgPeerState state, gpointer data)
{
	Wall *wall = data;

	if (state == VLG_PEER_CONNECTED) {
		wall->connected_once = TRUE;
		g_clear_handle_id(&wall->deadline_source, g_source_remove);
		g_message("wall %s connected", wall->id);
	} else if (state == VLG_PEER_FAILED) {
		vlg_ws_close(wall->connection, 1011, "the WebRTC connection failed");
	}
}

/* ---- messages ---- */

typedef struct {
	const char *type;
	void (*handle)(Wall *wall, JsonObject *message);
	gboolean needs_hello;
} MessageHandler;

static gboolean
valid_layout(gint64 layout)
{
	return layout == 1 || layout == 4 || layout == 9 || layout == 16;
}

/* A tile index for the current layout; sends the error and returns -1 otherwise. */
static gint
tile_index(Wall *wall, JsonObject *message)
{
	JsonNode *node = json_object_get_member(message, "tile");
	gint64 index;

	if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64) {
		send_error(wall, "bad-tile", "tile must be a whole number");
		return -1;
	}
	index = json_node_get_int(node);
	if (index < 0 || index >= wall->layout) {
		send_error(wall, "bad-tile", "tile is outside the layout");
		return -1;
	}
	return (gint)index;
}

static const char *
string_member(JsonObject *message, const char *name)
{
	JsonNode *node = json_object_get_member(message, name);

	if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* The camera named in @message if the wall may show it; sends the error otherwise. An unknown
 * camera and one the viewer may not see get the same answer. */
static const char *
camera_member(Wall *wall, JsonObject *message)
{
	const char *id = string_member(message, "camera");

	/* The token is checked again on every subscription: an expired one ends the wall. */
	if (vlg_principal_is_expired(wall->principal, g_get_real_time() / G_USEC_PER_SEC)) {
		g_message("wall %s: the token of %s expired", wall->id, wall->principal->name);
		send_error(wall, "unauthorized", "the token has expired");
		vlg_ws_close(wall->connection, VLG_WS_CLOSE_UNAUTHORIZED, "token expired");
		return NULL;
	}
	if (!id || !vlg_app_find_visible_camera(wall->app, wall->principal, id)) {
		send_error(wall, "unknown-camera", "no camera with this id");
		return NULL;
	}
	return id;
}

/* The optional "profile" of a tile: a profile of gateway.conf, or "auto"/absent (by tile size,
 * *choice NULL). Sends the error and returns FALSE otherwise. */
static gboolean
profile_member(Wall *wall, JsonObject *message, const char **choice)
{
	JsonNode *node = json_object_get_member(message, "profile");
	const char *name = string_member(message, "profile");

	*choice = NULL;
	if (!node || JSON_NODE_HOLDS_NULL(node) || g_strcmp0(name, "auto") == 0)
		return TRUE;
	if (!name || !vlg_gateway_config_find_profile(wall->app->config, name)) {
		send_error(wall, "bad-profile", "profile must be auto or a configured profile");
		return FALSE;
	}
	*choice = name;
	return TRUE;
}

static gboolean
set_layout(Wall *wall, JsonObject *message)
{
	JsonNode *node = json_object_get_member(message, "layout");
	gint64 layout = node && JSON_NODE_HOLDS_VALUE(node) &&
					json_node_get_value_type(node) == G_TYPE_INT64 ?
				json_node_get_int(node) :
				0;

	if (!valid_layout(layout)) {
		send_error(wall, "bad-layout", "layout must be 1, 4, 9 or 16");
		return FALSE;
	}
	for (guint i = layout; i < MAX_TILES; i++)
		tile_clear(wall, i);
	wall->layout = (guint)layout;
	/* A new tile size may want another profile: try it afresh, past fallbacks included. */
	for (guint i = 0; i < MAX_TILES; i++)
		g_clear_pointer(&wall->tiles[i].fallback, g_free);
	/* Every tile the largest layout has, from the first offer on: webrtcbin 1.22 aborts (an
	 * assertion in its PeerConnection thread) when a renegotiation adds m-lines to a bundled
	 * session, and a wall that never renegotiates also never risks glare. An idle transceiver
	 * costs the browser next to nothing. */
	ensure_slots(wall, MAX_TILES);
	return TRUE;
}

static void
handle_hello(Wall *wall, JsonObject *message)
{
	VlgIceSettings ice = {
		.ice_addresses = (const char *const *)wall->app->config->ice_addresses,
		.stun_servers = (const char *const *)wall->app->config->stun_servers,
		.turn_servers = (const char *const *)wall->app->config->turn_servers,
	};
	JsonArray *tiles;

	if (wall->peer) {
		send_error(wall, "bad-message", "hello was already said");
		return;
	}
	wall->peer = vlg_webrtc_peer_new(wall->id, &ice, on_peer_state, wall);
	if (!set_layout(wall, message)) {
		wall->peer = vlg_webrtc_peer_free(wall->peer);
		return;
	}
	send_welcome(wall);
	tiles = json_object_has_member(message, "tiles") ?
			json_object_get_array_member(message, "tiles") :
			NULL;
	for (guint i = 0; tiles && i < json_array_get_length(tiles); i++) {
		JsonNode *node = json_array_get_element(tiles, i);
		JsonObject *tile = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
		gint index;
		const char *camera;
		const char *choice;

		if (!tile) {
			send_error(wall, "bad-message", "tiles must hold objects");
			continue;
		}
		index = tile_index(wall, tile);
		camera = index >= 0 ? camera_member(wall, tile) : NULL;
		if (camera && profile_member(wall, tile, &choice))
			tile_set(wall, index, camera, choice);
	}
	wall->state_source = g_timeout_add(STATE_POLL_MS, poll_states, wall);
	push_tiles(wall);
}

static void
handle_set_layout(Wall *wall, JsonObject *message)
{
	if (set_layout(wall, message))
		push_tiles(wall);
}

static void
handle_set_tile(Wall *wall, JsonObject *message)
{
	gint index = tile_index(wall, message);
	const char *camera = index >= 0 ? camera_member(wall, message) : NULL;
	const char *choice;

	if (!camera || !profile_member(wall, message, &choice))
		return;
	tile_set(wall, index, camera, choice);
	push_tiles(wall);
}

static void
handle_clear_tile(Wall *wall, JsonObject *message)
{
	gint index = tile_index(wall, message);

	if (index < 0)
		return;
	tile_clear(wall, index);
	push_tiles(wall);
}

static void
handle_answer(Wall *wall, JsonObject *message)
{
	const char *sdp = string_member(message, "sdp");
	g_autoptr(GError) error = NULL;

	if (!wall->offering) {
		send_error(wall, "bad-message", "no offer is waiting for an answer");
		return;
	}
	if (!sdp || !vlg_webrtc_peer_set_answer(wall->peer, sdp, &error)) {
		send_error(wall, "bad-sdp", error ? error->message : "sdp must be a string");
		return;
	}
	wall->offering = FALSE;
	if (wall->offer_again) {
		wall->offer_again = FALSE;
		negotiate(wall);
	}
	g_clear_pointer(&wall->last_tiles, g_free); /* the mids are known now */
	push_tiles(wall);
}

static void
handle_candidate(Wall *wall, JsonObject *message)
{
	const char *candidate = string_member(message, "candidate");
	JsonNode *mline = json_object_get_member(message, "sdpMLineIndex");

	if (!candidate || !mline || !JSON_NODE_HOLDS_VALUE(mline) ||
	    json_node_get_value_type(mline) != G_TYPE_INT64 || json_node_get_int(mline) < 0 ||
	    json_node_get_int(mline) >= MAX_TILES) {
		send_error(wall, "bad-message", "candidate needs candidate and sdpMLineIndex");
		return;
	}
	if (*candidate)
		vlg_webrtc_peer_add_remote_candidate(wall->peer, (guint)json_node_get_int(mline),
						     candidate);
}

static void
handle_ping(Wall *wall, JsonObject *message)
{
	send_simple(wall, "pong", NULL, NULL);
}

static const MessageHandler handlers[] = {
	{ "hello", handle_hello, FALSE },
	{ "set-layout", handle_set_layout, TRUE },
	{ "set-tile", handle_set_tile, TRUE },
	{ "clear-tile", handle_clear_tile, TRUE },
	{ "answer", handle_answer, TRUE },
	{ "candidate", handle_candidate, TRUE },
	{ "ping", handle_ping, FALSE },
};

static void
on_message(gpointer state, const char *text, gsize length)
{
	Wall *wall = state;
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root;
	const char *type;

	if (!json_parser_load_from_data(parser, text, (gssize)length, NULL) ||
	    !JSON_NODE_HOLDS_OBJECT(root = json_parser_get_root(parser))) {
		send_error(wall, "bad-json", "messages are JSON objects");
		return;
	}
	type = string_member(json_node_get_object(root), "type");
	for (guint i = 0; type && i < G_N_ELEMENTS(handlers); i++) {
		if (strcmp(type, handlers[i].type) != 0)
			continue;
		if (handlers[i].needs_hello && !wall->peer) {
			send_error(wall, "bad-message", "say hello first");
			return;
		}
		handlers[i].handle(wall, json_node_get_object(root));
		return;
	}
	send_error(wall, "unknown-type", type ? "unknown message type" : "type must be a string");
}

/* ---- the socket ---- */

static gpointer
on_open(VlgWsConnection *connection, const char *peer, VlgPrincipal *principal, gpointer data)
{
	Wall *wall = g_new0(Wall, 1);
	g_autofree char *uuid = g_uuid_string_random();

	wall->app = data;
	wall->connection = vlg_ws_connection_ref(connection);
	wall->id = g_strndup(uuid, 8);
	wall->peer_address = g_strdup(peer);
	wall->principal = vlg_principal_ref(principal);
	wall_count++;
	g_message("wall %s opened from %s by %s (%s at %s)", wall->id, peer, principal->name,
		  vlg_role_to_string(principal->role), principal->org);
	return wall;
}

static void
on_closed(gpointer state)
{
	Wall *wall = state;

	g_message("wall %s closed", wall->id);
	g_clear_handle_id(&wall->state_source, g_source_remove);
	g_clear_handle_id(&wall->deadline_source, g_source_remove);
	for (guint i = 0; i < MAX_TILES; i++)
		tile_clear(wall, i);
	wall->peer = vlg_webrtc_peer_free(wall->peer);
	vlg_ws_connection_unref(wall->connection);
	g_free(wall->last_tiles);
	g_free(wall->peer_address);
	vlg_principal_unref(wall->principal);
	g_free(wall->id);
	g_free(wall);
	wall_count--;
}

static const VlgWsHandler wall_handler = { on_open, on_message, on_closed };

void
vlg_wall_register(VlgHttpServer *server, VlgApp *app)
{
	vlg_http_server_add_websocket(server, "/ws/wall", &wall_handler, app);
}

guint
vlg_wall_count(void)
{
	return wall_count;
}
