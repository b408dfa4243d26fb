/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The HTTP server: libwebsockets on the GLib main loop, the only caller of lws_*. It reads a
 * request (bounded body, Content-Length checked by us), hands it to the router, and writes the
 * response in bounded chunks from the writeable callback.
 *
 * Threads: main loop only. Ownership: borrows the router and the loop (both outlive the server).
 */
#pragma once

#include <glib.h>

#include "gateway/http-router.h"

G_BEGIN_DECLS

typedef struct {
	const char *address; /* IP literal or "localhost" */
	guint16 port;        /* 0: pick a free one */
	gsize max_body_bytes;
	gsize max_websocket_message; /* larger messages close the socket with 1009 */
	const char *tls_certificate;  /* PEM chain; NULL: plain HTTP */
	const char *tls_private_key;
} VlgHttpServerSettings;

typedef struct _VlgHttpServer VlgHttpServer;

/* ---- WebSockets ---- */

typedef struct _VlgWsConnection VlgWsConnection;

/* WebSocket close code for a missing or refused token (4000-4999 are the application's). */
#define VLG_WS_CLOSE_UNAUTHORIZED 4401
/* How long a new WebSocket may take to present its token. */
#define VLG_WS_TOKEN_DEADLINE_S 10

/* Every WebSocket authenticates before its handler sees it: its first message is a JSON object
 * with a "token" string member (never the URL, which ends up in logs). Until then the handler is
 * not called; a refused or late token gets an error message and close 4401. (Not the
 * subprotocol header: libwebsockets 4.1.6 refuses a Sec-WebSocket-Protocol list longer than a
 * few dozen bytes, "protocol list too long", so a JWT cannot travel there.) */
typedef VlgPrincipal *(*VlgWsAuthenticate)(const char *token, const char *peer,
					   gpointer user_data);
void vlg_http_server_set_ws_authenticator(VlgHttpServer *server, VlgWsAuthenticate authenticate,
					  gpointer user_data);

typedef struct {
	/* A client upgraded at the handler's path and presented a valid token. Return the
	 * handler's per-connection state, or NULL to refuse (the socket closes with 1008). Keep a
	 * ref on @connection to send later, and on @principal to keep it. When the token came in
	 * the first message, that message is delivered to message() right after. */
	gpointer (*open)(VlgWsConnection *connection, const char *peer, VlgPrincipal *principal,
			 gpointer user_data);
	/* One whole text message (fragments joined), valid UTF-8, at most the configured size. */
	void (*message)(gpointer state, const char *text, gsize length);
	/* The socket is gone; free @state. No call comes after this one. */
	void (*closed)(gpointer state);
} VlgWsHandler;

VlgWsConnection *vlg_ws_connection_ref(VlgWsConnection *connection);
void vlg_ws_connection_unref(VlgWsConnection *connection);
/* Queues a text message; FALSE when the socket is gone. A client that lets more than a few MB
 * pile up is closed (1008). */
gboolean vlg_ws_send(VlgWsConnection *connection, const char *text);
/* Queues a binary message (fMP4 segments); same limits as vlg_ws_send(). */
gboolean vlg_ws_send_binary(VlgWsConnection *connection, GBytes *data);
/* Bytes queued and not yet written: a handler that can drop (media) keeps this small itself. */
gsize vlg_ws_get_queued_bytes(VlgWsConnection *connection);
/* The path the client upgraded at (percent-encoded) and its query (or NULL). */
const char *vlg_ws_get_path(VlgWsConnection *connection);
const char *vlg_ws_get_query(VlgWsConnection *connection);
/* Closes with @code (1000, 1001, 1007, 1008, 1009 ...) once queued messages are out. */
void vlg_ws_close(VlgWsConnection *connection, int code, const char *reason);

VlgHttpServer *vlg_http_server_new(const VlgHttpServerSettings *settings, VlgHttpRouter *router,
				   GMainLoop *loop, GError **error);
VlgHttpServer *vlg_http_server_free(VlgHttpServer *server);
guint16 vlg_http_server_get_port(VlgHttpServer *server);
/* Installs a renewed certificate for new connections; open ones keep theirs. On error the old
 * certificate stays and @error says why (the file and OpenSSL's reason). */
gboolean vlg_http_server_reload_tls(VlgHttpServer *server, const char *certificate,
				    const char *private_key, GError **error);

/* Serves WebSocket upgrades at @path with @handler: an exact match, or, when @path ends in '/',
 * any longer path below it (/ws/fmp4/ serves /ws/fmp4/CAMERA). Others are refused. */
void vlg_http_server_add_websocket(VlgHttpServer *server, const char *path,
				   const VlgWsHandler *handler, gpointer user_data);

G_END_DECLS
