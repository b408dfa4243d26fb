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
} VlgHttpServerSettings;

typedef struct _VlgHttpServer VlgHttpServer;

VlgHttpServer *vlg_http_server_new(const VlgHttpServerSettings *settings, VlgHttpRouter *router,
				   GMainLoop *loop, GError **error);
VlgHttpServer *vlg_http_server_free(VlgHttpServer *server);
guint16 vlg_http_server_get_port(VlgHttpServer *server);

G_END_DECLS
