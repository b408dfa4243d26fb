/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "vlg-http"

#include "gateway/http-server.h"

#include <json-glib/json-glib.h>
#include <libwebsockets.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "config/vlg-error.h"
#include "gateway/tls-context.h"

#define WRITE_CHUNK 16384
#define HEADER_SPACE 2048
/* A client that sends nothing for this long is dropped (headers, body, idle keep-alive). */
#define IDLE_TIMEOUT_S 10
/* A handler answering later (WHEP waits for ICE gathering) gets this long. */
#define PENDING_TIMEOUT_S 20
#define PENDING_STATE_TIMEOUT PENDING_TIMEOUT_USER_OK

/* Ping a quiet WebSocket after this long; close it when nothing came back for WS_HANGUP_S. */
#define WS_PING_S 10
#define WS_HANGUP_S 30
#define WS_QUEUE_MAX (4u * 1024 * 1024)
#define WS_KERNEL_SEND_BUFFER (128 * 1024)

typedef struct {
	char *path;
	VlgWsHandler handler;
	gpointer user_data;
} WsRoute;

struct _VlgHttpServer {
	struct lws_context *context;
	struct lws_protocols protocols[2];
	lws_retry_bo_t ws_retry;
	VlgHttpRouter *router;
	gsize max_body_bytes;
	gsize max_websocket_message;
	guint16 port;
	GPtrArray *ws_routes; /* of WsRoute* */
	VlgWsAuthenticate ws_authenticate;
	gpointer ws_authenticate_data;
	SSL_CTX *tls_context; /* libwebsockets' own, NULL without TLS */
	gboolean tls_policy_failed;
};

struct _VlgWsConnection {
	gint refcount;
	struct lws *wsi; /* NULL once closed */
	const WsRoute *route;
	VlgHttpServer *server;
	char *peer;
	guint token_deadline; /* while no token was presented */
	gpointer state;   /* the handler's; NULL until authenticated */
	GQueue outgoing;  /* of Outgoing* */
	char *path;       /* as requested, percent-encoded */
	char *query;      /* or NULL */
	gsize queued_bytes;
	GString *incoming; /* fragments of the message being received */
	int close_code;    /* non-zero: close once the queue is empty */
	char *close_reason;
};

/* One queued WebSocket message. */
typedef struct {
	GBytes *data;
	gboolean binary;
} Outgoing;

static void
outgoing_free(gpointer data)
{
	Outgoing *outgoing = data;

	g_bytes_unref(outgoing->data);
	g_free(outgoing);
}

/* Per connection, zeroed by lws; one request at a time. */
typedef struct {
	VlgHttpMethod method;
	char *path;
	char *query;
	char *authorization;
	char *content_type;
	GByteArray *body;
	gsize body_expected;
	VlgHttpResponse *response;
	VlgHttpPending *pending; /* while a handler answers later */
	gsize sent;
	gboolean headers_sent;
	gboolean close_after;
} HttpSession;

/* lws gives each connection one zeroed block; it is HTTP first and may become a WebSocket. */
typedef struct {
	HttpSession http;
	VlgWsConnection *ws;
} Session;

static void
session_reset(HttpSession *session)
{
	g_clear_pointer(&session->path, g_free);
	g_clear_pointer(&session->query, g_free);
	g_clear_pointer(&session->authorization, g_free);
	g_clear_pointer(&session->content_type, g_free);
	g_clear_pointer(&session->body, g_byte_array_unref);
	g_clear_pointer(&session->response, vlg_http_response_free);
	if (session->pending) {
		vlg_http_pending_cancel(session->pending);
		g_clear_pointer(&session->pending, vlg_http_pending_unref);
	}
	session->body_expected = 0;
	session->sent = 0;
	session->headers_sent = FALSE;
}

static char *
copy_header(struct lws *wsi, enum lws_token_indexes token)
{
	int length = lws_hdr_total_length(wsi, token);
	char *value;

	if (length <= 0)
		return NULL;
	value = g_malloc(length + 1);
	if (lws_hdr_copy(wsi, value, length + 1, token) < 0) {
		g_free(value);
		return NULL;
	}
	return value;
}

static VlgHttpMethod
method_of(struct lws *wsi)
{
	static const struct {
		enum lws_token_indexes token;
		VlgHttpMethod method;
	} map[] = {
		{ WSI_TOKEN_GET_URI, VLG_HTTP_GET },
		{ WSI_TOKEN_POST_URI, VLG_HTTP_POST },
		{ WSI_TOKEN_OPTIONS_URI, VLG_HTTP_OPTIONS },
		{ WSI_TOKEN_PUT_URI, VLG_HTTP_PUT },
		{ WSI_TOKEN_PATCH_URI, VLG_HTTP_PATCH },
		{ WSI_TOKEN_DELETE_URI, VLG_HTTP_DELETE },
		{ WSI_TOKEN_HEAD_URI, VLG_HTTP_HEAD },
	};

	for (guint i = 0; i < G_N_ELEMENTS(map); i++)
		if (lws_hdr_total_length(wsi, map[i].token) > 0)
			return map[i].method;
	return VLG_HTTP_METHOD_UNKNOWN;
}

static int
respond(struct lws *wsi, HttpSession *session, VlgHttpResponse *response)
{
	g_clear_pointer(&session->response, vlg_http_response_free);
	session->response = response;
	session->sent = 0;
	session->headers_sent = FALSE;
	lws_callback_on_writable(wsi);
	return 0;
}

static void
deliver_later(gpointer connection, VlgHttpResponse *response)
{
	struct lws *wsi = connection;
	HttpSession *session = lws_wsi_user(wsi);

	g_clear_pointer(&session->pending, vlg_http_pending_unref);
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	respond(wsi, session, response);
}

static void
dispatch(VlgHttpServer *server, struct lws *wsi, HttpSession *session)
{
	char peer[64] = "";
	g_autoptr(GBytes) body = NULL;
	VlgHttpRequest request = { 0 };
	VlgHttpResponse *response;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	if (session->body)
		body = g_bytes_new(session->body->data, session->body->len);
	request.method = session->method;
	request.path = session->path;
	request.query = session->query;
	request.body = body;
	request.peer = peer;
	request.authorization = session->authorization;
	request.content_type = session->content_type;
	session->pending = vlg_http_pending_new(deliver_later, wsi);
	request.pending = session->pending;
	response = vlg_http_router_dispatch(server->router, &request);
	if (!response) {
		/* Answered later; the handler holds its own ref on the pending answer. */
		lws_set_timeout(wsi, PENDING_STATE_TIMEOUT, PENDING_TIMEOUT_S);
		return;
	}
	vlg_http_pending_cancel(session->pending);
	g_clear_pointer(&session->pending, vlg_http_pending_unref);
	respond(wsi, session, response);
}

/* Content-Length as we accept it: digits only, no sign, no overflow. */
static gboolean
parse_content_length(const char *text, guint64 *length)
{
	guint64 value = 0;

	if (!text || !*text)
		return FALSE;
	for (const char *p = text; *p; p++) {
		if (!g_ascii_isdigit(*p) || value > (G_MAXUINT64 - 9) / 10)
			return FALSE;
		value = value * 10 + (guint64)(*p - '0');
	}
	*length = value;
	return TRUE;
}

static int
on_http_request(VlgHttpServer *server, struct lws *wsi, HttpSession *session, const char *uri)
{
	g_autofree char *content_length = NULL;
	guint64 length = 0;

	session_reset(session);
	session->method = method_of(wsi);
	session->path = g_strdup(uri);
	session->query = copy_header(wsi, WSI_TOKEN_HTTP_URI_ARGS);
	session->authorization = copy_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	session->content_type = copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
	content_length = copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);

	if (session->method == VLG_HTTP_METHOD_UNKNOWN) {
		session->close_after = TRUE;
		return respond(wsi, session, vlg_http_response_new_error(405, "unknown method"));
	}
	if (content_length && !parse_content_length(content_length, &length)) {
		session->close_after = TRUE;
		return respond(wsi, session,
			       vlg_http_response_new_error(400, "Content-Length is not a number"));
	}
	if (length > server->max_body_bytes) {
		session->close_after = TRUE;
		return respond(wsi, session,
			       vlg_http_response_new_error(413, "request bodies are limited to %zu bytes",
							   server->max_body_bytes));
	}
	if (length > 0) {
		/* The body arrives in HTTP_BODY callbacks; dispatch when it is complete. */
		session->body_expected = length;
		session->body = g_byte_array_sized_new(length);
		return 0;
	}
	dispatch(server, wsi, session);
	return 0;
}

static int
on_http_body(VlgHttpServer *server, struct lws *wsi, HttpSession *session, const void *in,
	     size_t len)
{
	if (!session->body || session->response)
		return 0;
	if (session->body->len + len > session->body_expected) {
		session->close_after = TRUE;
		g_clear_pointer(&session->body, g_byte_array_unref);
		return respond(wsi, session,
			       vlg_http_response_new_error(400, "the body is longer than Content-Length"));
	}
	g_byte_array_append(session->body, in, len);
	return 0;
}

static int
write_headers(struct lws *wsi, HttpSession *session)
{
	unsigned char buffer[LWS_PRE + HEADER_SPACE];
	unsigned char *start = buffer + LWS_PRE, *p = start, *end = buffer + sizeof(buffer) - 1;
	VlgHttpResponse *response = session->response;
	gsize length = g_bytes_get_size(response->body);

	if (lws_add_http_common_headers(wsi, response->status, response->content_type, length, &p,
					end))
		return -1;
	for (guint i = 0; i < response->headers->len; i++) {
		const char *line = response->headers->pdata[i];
		const char *colon = strchr(line, ':');
		g_autofree char *name = g_strndup(line, colon - line + 1);
		const char *value = colon + 2;

		if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
						(const unsigned char *)value, strlen(value), &p, end))
			return -1;
	}
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	session->headers_sent = TRUE;
	return 0;
}

static int
on_http_writeable(struct lws *wsi, HttpSession *session)
{
	unsigned char buffer[LWS_PRE + WRITE_CHUNK];
	gsize total, chunk;
	const guint8 *data;
	gboolean last;

	if (!session->response)
		return 0;
	if (!session->headers_sent) {
		if (write_headers(wsi, session))
			return -1;
		if (g_bytes_get_size(session->response->body) > 0) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else {
		data = g_bytes_get_data(session->response->body, &total);
		chunk = MIN(total - session->sent, WRITE_CHUNK);
		last = session->sent + chunk == total;
		memcpy(buffer + LWS_PRE, data + session->sent, chunk);
		if (lws_write(wsi, buffer + LWS_PRE, chunk,
			      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)chunk)
			return -1;
		session->sent += chunk;
		if (!last) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	g_clear_pointer(&session->response, vlg_http_response_free);
	if (session->close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- WebSockets ---- */

VlgWsConnection *
vlg_ws_connection_ref(VlgWsConnection *connection)
{
	connection->refcount++;
	return connection;
}

void
vlg_ws_connection_unref(VlgWsConnection *connection)
{
	if (!connection || --connection->refcount > 0)
		return;
	g_queue_clear_full(&connection->outgoing, outgoing_free);
	g_string_free(connection->incoming, TRUE);
	g_free(connection->path);
	g_free(connection->query);
	g_free(connection->close_reason);
	g_free(connection->peer);
	g_free(connection);
}

void
vlg_ws_close(VlgWsConnection *connection, int code, const char *reason)
{
	if (!connection->wsi || connection->close_code)
		return;
	connection->close_code = code;
	connection->close_reason = g_strdup(reason ? reason : "");
	lws_callback_on_writable(connection->wsi);
}

static gboolean
ws_enqueue(VlgWsConnection *connection, GBytes *data, gboolean binary)
{
	gsize length = g_bytes_get_size(data);
	Outgoing *outgoing;

	if (!connection->wsi || connection->close_code)
		return FALSE;
	if (connection->queued_bytes + length > WS_QUEUE_MAX) {
		vlg_ws_close(connection, LWS_CLOSE_STATUS_POLICY_VIOLATION, "not reading fast enough");
		return FALSE;
	}
	outgoing = g_new0(Outgoing, 1);
	outgoing->data = g_bytes_ref(data);
	outgoing->binary = binary;
	g_queue_push_tail(&connection->outgoing, outgoing);
	connection->queued_bytes += length;
	lws_callback_on_writable(connection->wsi);
	return TRUE;
}

gboolean
vlg_ws_send(VlgWsConnection *connection, const char *text)
{
	g_autoptr(GBytes) data = g_bytes_new(text, strlen(text));

	return ws_enqueue(connection, data, FALSE);
}

gboolean
vlg_ws_send_binary(VlgWsConnection *connection, GBytes *data)
{
	return ws_enqueue(connection, data, TRUE);
}

gsize
vlg_ws_get_queued_bytes(VlgWsConnection *connection)
{
	return connection->queued_bytes;
}

const char *
vlg_ws_get_path(VlgWsConnection *connection)
{
	return connection->path;
}

const char *
vlg_ws_get_query(VlgWsConnection *connection)
{
	return connection->query;
}

/* A route path ending in '/' serves every path below it. */
static const WsRoute *
find_ws_route(VlgHttpServer *server, const char *path)
{
	for (guint i = 0; i < server->ws_routes->len; i++) {
		const WsRoute *route = server->ws_routes->pdata[i];
		gsize length = strlen(route->path);

		if (strcmp(route->path, path) == 0)
			return route;
		if (length > 1 && route->path[length - 1] == '/' &&
		    strncmp(route->path, path, length) == 0 && path[length] != '\0')
			return route;
	}
	return NULL;
}

void
vlg_http_server_set_ws_authenticator(VlgHttpServer *server, VlgWsAuthenticate authenticate,
				     gpointer user_data)
{
	server->ws_authenticate = authenticate;
	server->ws_authenticate_data = user_data;
}

/* The same words whatever was wrong, as for HTTP's 401. */
static void
ws_refuse(VlgWsConnection *connection)
{
	vlg_ws_send(connection, "{\"type\":\"error\",\"code\":\"unauthorized\","
				"\"message\":\"a valid token is required\"}");
	vlg_ws_close(connection, VLG_WS_CLOSE_UNAUTHORIZED, "unauthorized");
}

static gboolean
ws_token_late(gpointer data)
{
	VlgWsConnection *connection = data;

	connection->token_deadline = 0;
	if (!connection->state && connection->wsi) {
		g_warning("auth refused for %s: no token within %d s on %s", connection->peer,
			  VLG_WS_TOKEN_DEADLINE_S, connection->route->path);
		ws_refuse(connection);
	}
	return G_SOURCE_REMOVE;
}

/* Authenticates @token and opens the handler; FALSE when refused (the socket is closing). */
static gboolean
ws_open_with_token(VlgWsConnection *connection, const char *token)
{
	VlgHttpServer *server = connection->server;
	g_autoptr(VlgPrincipal) principal = NULL;

	g_clear_handle_id(&connection->token_deadline, g_source_remove);
	if (server->ws_authenticate)
		principal = server->ws_authenticate(token, connection->peer,
						    server->ws_authenticate_data);
	if (!principal) {
		ws_refuse(connection);
		return FALSE;
	}
	connection->state = connection->route->handler.open(connection, connection->peer,
							     principal,
							     connection->route->user_data);
	if (!connection->state) {
		vlg_ws_close(connection, LWS_CLOSE_STATUS_POLICY_VIOLATION, "refused");
		return FALSE;
	}
	return TRUE;
}

/* Loopback and LAN sockets would otherwise buffer megabytes in the kernel (tcp_wmem autotuning)
 * out of our sight: a slow media reader must show up in our own queue, where it can be dropped
 * to the next keyframe. */
static void
limit_kernel_buffer(struct lws *wsi)
{
	int size = WS_KERNEL_SEND_BUFFER;
	lws_sockfd_type fd = lws_get_socket_fd(wsi);

	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) != 0)
		g_debug("SO_SNDBUF: %s", g_strerror(errno));
}

static int
ws_established(VlgHttpServer *server, struct lws *wsi, Session *session)
{
	g_autofree char *path = copy_header(wsi, WSI_TOKEN_GET_URI);
	const WsRoute *route = path ? find_ws_route(server, path) : NULL;
	char peer[64] = "";
	VlgWsConnection *connection;

	if (!route) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				 (unsigned char *)"no WebSocket here", 17);
		return -1;
	}
	lws_get_peer_simple(wsi, peer, sizeof(peer));
	connection = g_new0(VlgWsConnection, 1);
	connection->refcount = 1;
	connection->wsi = wsi;
	connection->route = route;
	connection->server = server;
	connection->peer = g_strdup(peer);
	connection->path = g_steal_pointer(&path);
	connection->query = copy_header(wsi, WSI_TOKEN_HTTP_URI_ARGS);
	connection->incoming = g_string_new(NULL);
	g_queue_init(&connection->outgoing);
	session->ws = connection;
	limit_kernel_buffer(wsi);
	/* The timer holds its own reference: it may fire after the socket is gone. */
	connection->token_deadline = g_timeout_add_seconds_full(
		G_PRIORITY_DEFAULT, VLG_WS_TOKEN_DEADLINE_S, ws_token_late,
		vlg_ws_connection_ref(connection), (GDestroyNotify)vlg_ws_connection_unref);
	return 0;
}

/* The first message of a connection that has not authenticated: {"token": "...", ...}. Returns
 * TRUE when the handler is open and should receive the message too. */
static gboolean
ws_first_message(VlgWsConnection *connection, const char *text, gsize length)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root = NULL;
	JsonNode *token = NULL;

	if (json_parser_load_from_data(parser, text, (gssize)length, NULL))
		root = json_parser_get_root(parser);
	if (root && JSON_NODE_HOLDS_OBJECT(root))
		token = json_object_get_member(json_node_get_object(root), "token");
	if (!token || !JSON_NODE_HOLDS_VALUE(token) ||
	    json_node_get_value_type(token) != G_TYPE_STRING) {
		g_clear_handle_id(&connection->token_deadline, g_source_remove);
		g_warning("auth refused for %s: the first message on %s carries no token",
			  connection->peer, connection->route->path);
		ws_refuse(connection);
		return FALSE;
	}
	return ws_open_with_token(connection, json_node_get_string(token));
}

static int
ws_receive(VlgHttpServer *server, struct lws *wsi, Session *session, const char *in, size_t len)
{
	VlgWsConnection *connection = session->ws;

	if (!connection)
		return -1;
	if (connection->close_code)
		return 0; /* closing: what else arrives is not read */
	if (lws_frame_is_binary(wsi)) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
				 (unsigned char *)"text messages only", 18);
		return -1;
	}
	if (connection->incoming->len + len > server->max_websocket_message) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				 (unsigned char *)"message too large", 17);
		return -1;
	}
	g_string_append_len(connection->incoming, in, len);
	if (!lws_is_final_fragment(wsi))
		return 0;
	/* lws checked UTF-8 (LWS_SERVER_OPTION_VALIDATE_UTF8); a NUL inside is refused too. */
	if (memchr(connection->incoming->str, 0, connection->incoming->len)) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD, (unsigned char *)"NUL", 3);
		return -1;
	}
	vlg_ws_connection_ref(connection);
	if (connection->state ||
	    ws_first_message(connection, connection->incoming->str, connection->incoming->len))
		connection->route->handler.message(connection->state, connection->incoming->str,
						   connection->incoming->len);
	g_string_truncate(connection->incoming, 0);
	vlg_ws_connection_unref(connection);
	return 0;
}

static int
ws_writeable(struct lws *wsi, Session *session)
{
	VlgWsConnection *connection = session->ws;
	Outgoing *message;
	g_autofree unsigned char *buffer = NULL;
	gsize length;
	int written;

	if (!connection)
		return 0;
	message = g_queue_pop_head(&connection->outgoing);
	if (!message) {
		if (!connection->close_code)
			return 0;
		lws_close_reason(wsi, connection->close_code,
				 (unsigned char *)connection->close_reason,
				 strlen(connection->close_reason));
		return -1;
	}
	length = g_bytes_get_size(message->data);
	connection->queued_bytes -= length;
	buffer = g_malloc(LWS_PRE + length);
	memcpy(buffer + LWS_PRE, g_bytes_get_data(message->data, NULL), length);
	written = lws_write(wsi, buffer + LWS_PRE, length,
			    message->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	outgoing_free(message);
	if (written < (int)length)
		return -1;
	if (!g_queue_is_empty(&connection->outgoing) || connection->close_code)
		lws_callback_on_writable(wsi);
	return 0;
}

static void
ws_closed(Session *session)
{
	VlgWsConnection *connection = g_steal_pointer(&session->ws);

	if (!connection)
		return;
	connection->wsi = NULL;
	g_clear_handle_id(&connection->token_deadline, g_source_remove);
	if (connection->state)
		connection->route->handler.closed(connection->state);
	vlg_ws_connection_unref(connection);
}

void
vlg_http_server_add_websocket(VlgHttpServer *server, const char *path,
			      const VlgWsHandler *handler, gpointer user_data)
{
	WsRoute *route = g_new0(WsRoute, 1);

	route->path = g_strdup(path);
	route->handler = *handler;
	route->user_data = user_data;
	g_ptr_array_add(server->ws_routes, route);
}

static void
ws_route_free(gpointer data)
{
	WsRoute *route = data;

	g_free(route->path);
	g_free(route);
}

static int
http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	VlgHttpServer *server = lws_context_user(lws_get_context(wsi));
	Session *both = user;
	HttpSession *session = both ? &both->http : NULL;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* lws made the vhost's SSL_CTX: the only moment we get to see it. */
		server->tls_context = user;
		server->tls_policy_failed = !vlg_tls_apply_policy(user);
		return 0;
	case LWS_CALLBACK_HTTP:
		return on_http_request(server, wsi, session, in);
	case LWS_CALLBACK_HTTP_BODY:
		return on_http_body(server, wsi, session, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (session->body && !session->response)
			dispatch(server, wsi, session);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_http_writeable(wsi, session);
	case LWS_CALLBACK_CLOSED_HTTP:
		/* No session block when the connection died in the TLS handshake. */
		if (session)
			session_reset(session);
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		session_reset(session);
		return ws_established(server, wsi, both);
	case LWS_CALLBACK_RECEIVE:
		return ws_receive(server, wsi, both, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_writeable(wsi, both);
	case LWS_CALLBACK_CLOSED:
		if (both)
			ws_closed(both);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static void
log_from_lws(int level, const char *line)
{
	g_autofree char *trimmed = g_strchomp(g_strdup(line));

	if (level & LLL_ERR)
		g_warning("libwebsockets: %s", trimmed);
	else
		g_debug("libwebsockets: %s", trimmed);
}

VlgHttpServer *
vlg_http_server_new(const VlgHttpServerSettings *settings, VlgHttpRouter *router,
		    GMainLoop *loop, GError **error)
{
	VlgHttpServer *server = g_new0(VlgHttpServer, 1);
	struct lws_context_creation_info info;
	void *foreign_loops[1] = { loop };
	struct lws_vhost *vhost;

	/* Say which file is wrong before lws fails with a vaguer message. */
	if (settings->tls_certificate &&
	    !vlg_tls_check_pair(settings->tls_certificate, settings->tls_private_key, error)) {
		g_free(server);
		return NULL;
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, log_from_lws);
	server->router = router;
	server->max_body_bytes = settings->max_body_bytes;
	server->max_websocket_message = settings->max_websocket_message ?
						settings->max_websocket_message :
						65536;
	server->ws_routes = g_ptr_array_new_with_free_func(ws_route_free);
	server->ws_retry = (lws_retry_bo_t){ .secs_since_valid_ping = WS_PING_S,
					     .secs_since_valid_hangup = WS_HANGUP_S };
	server->protocols[0] = (struct lws_protocols){
		.name = "linkage-gateway",
		.callback = http_callback,
		.per_session_data_size = sizeof(Session),
		.rx_buffer_size = 16384,
	};
	/* protocols[1] stays zeroed: lws 4.1.6 has no LWS_PROTOCOL_LIST_TERM. */

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_GLIB | LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (!strchr(settings->address, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.foreign_loops = foreign_loops;
	info.iface = g_strcmp0(settings->address, "localhost") == 0 ? "127.0.0.1" :
								     settings->address;
	info.port = settings->port ? settings->port : 0;
	info.protocols = server->protocols;
	info.user = server;
	info.timeout_secs = IDLE_TIMEOUT_S;
	info.keepalive_timeout = IDLE_TIMEOUT_S;
	info.server_string = "linkage-gateway";
	info.retry_and_idle_policy = &server->ws_retry;
	/* Room for a 4 KiB token in a header, so that our check refuses it, not lws. */
	info.max_http_header_data = 16384;
	if (settings->tls_certificate) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = settings->tls_certificate;
		info.ssl_private_key_filepath = settings->tls_private_key;
		info.ssl_cipher_list = VLG_TLS12_CIPHERS;
		info.tls1_3_plus_cipher_list = VLG_TLS13_CIPHERS;
		info.ssl_options_set = vlg_tls_options();
		/* HTTP/1.1 only: WebSockets over HTTP/2 (RFC 8441) is a path we do not test. */
		info.alpn = "http/1.1";
	}

	server->context = lws_create_context(&info);
	if (!server->context) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_HTTP,
			    "cannot listen on %s:%u (address in use or not local? is the "
			    "libwebsockets-evlib-glib package installed?)",
			    settings->address, settings->port);
		g_ptr_array_unref(server->ws_routes);
		g_free(server);
		return NULL;
	}
	if (settings->tls_certificate && (!server->tls_context || server->tls_policy_failed)) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_HTTP,
			    "TLS could not be set up with %s and %s (TLS 1.2/1.3 policy refused)",
			    settings->tls_certificate, settings->tls_private_key);
		lws_context_destroy(server->context);
		g_ptr_array_unref(server->ws_routes);
		g_free(server);
		return NULL;
	}
	vhost = lws_get_vhost_by_name(server->context, "default");
	server->port = vhost ? (guint16)lws_get_vhost_listen_port(vhost) : settings->port;
	return server;
}

VlgHttpServer *
vlg_http_server_free(VlgHttpServer *server)
{
	if (!server)
		return NULL;
	lws_context_destroy(server->context);
	g_ptr_array_unref(server->ws_routes);
	g_free(server);
	return NULL;
}

guint16
vlg_http_server_get_port(VlgHttpServer *server)
{
	return server->port;
}

gboolean
vlg_http_server_reload_tls(VlgHttpServer *server, const char *certificate,
			   const char *private_key, GError **error)
{
	if (!server->tls_context) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_HTTP,
			    "the server was started without TLS; restart it to turn TLS on");
		return FALSE;
	}
	return vlg_tls_reload(server->tls_context, certificate, private_key, error);
}
