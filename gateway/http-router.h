/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HTTP requests and responses as plain data, and the table that maps (method, path pattern) to a
 * handler. No libwebsockets here (http-server.c is the only caller of lws_*), so routing and every
 * handler are testable as functions. Patterns are literal segments and `{name}` segments, which
 * match one non-empty, percent-decoded segment and are passed to the handler in order.
 *
 * Threads: main loop only. Ownership: the router owns its routes; dispatch returns a new response
 * the caller frees; handlers return a new response (never NULL).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "gateway/auth.h"

G_BEGIN_DECLS

typedef enum {
	VLG_HTTP_GET,
	VLG_HTTP_HEAD,
	VLG_HTTP_POST,
	VLG_HTTP_PUT,
	VLG_HTTP_PATCH,
	VLG_HTTP_DELETE,
	VLG_HTTP_OPTIONS,
	VLG_HTTP_METHOD_UNKNOWN,
} VlgHttpMethod;

typedef struct _VlgHttpPending VlgHttpPending;

typedef struct {
	VlgHttpMethod method;
	const char *path;          /* as received: percent-encoded, starts with '/' */
	const char *query;         /* after '?', or NULL */
	GBytes *body;              /* or NULL */
	const char *peer;          /* client address */
	const char *authorization; /* Authorization header, or NULL */
	const char *content_type;  /* or NULL */
	/* A handler that cannot answer at once takes a ref on this, returns NULL, and later calls
	 * vlg_http_pending_complete(). NULL where the caller cannot wait (then never return NULL). */
	VlgHttpPending *pending;
	/* Who asks: set by the router before a protected route's handler runs (never NULL there);
	 * NULL for public routes. Borrowed for the handler's call; ref it to keep it. */
	VlgPrincipal *principal;
} VlgHttpRequest;

typedef struct {
	guint status;
	char *content_type;
	GBytes *body;
	GPtrArray *headers; /* of "Name: value" */
} VlgHttpResponse;

VlgHttpResponse *vlg_http_response_new(guint status, const char *content_type, GBytes *body);
VlgHttpResponse *vlg_http_response_new_text(guint status, const char *content_type,
					    const char *text);
/* Takes @node. Pretty-printed JSON, application/json. */
VlgHttpResponse *vlg_http_response_new_json(guint status, JsonNode *node);
/* The one error shape: {"error": {"status": N, "reason": "Not Found", "message": "..."}} */
VlgHttpResponse *vlg_http_response_new_error(guint status, const char *format, ...)
	G_GNUC_PRINTF(2, 3);
void vlg_http_response_add_header(VlgHttpResponse *response, const char *name, const char *value);
VlgHttpResponse *vlg_http_response_free(VlgHttpResponse *response);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgHttpResponse, vlg_http_response_free)

const char *vlg_http_status_reason(guint status);
const char *vlg_http_method_to_string(VlgHttpMethod method);
VlgHttpMethod vlg_http_method_from_string(const char *name);

/* The value of @name in an application/x-www-form-urlencoded query, decoded; NULL if absent. */
char *vlg_http_query_get(const char *query, const char *name);

/* The answer to a request, delivered later (on the main loop). The server creates one per request
 * with @deliver; if the client went away first, the response is dropped. */
typedef void (*VlgHttpDeliver)(gpointer connection, VlgHttpResponse *response);
VlgHttpPending *vlg_http_pending_new(VlgHttpDeliver deliver, gpointer connection);
VlgHttpPending *vlg_http_pending_ref(VlgHttpPending *pending);
void vlg_http_pending_unref(VlgHttpPending *pending);
/* Takes @response. Completing twice, or after cancel, drops the response. */
void vlg_http_pending_complete(VlgHttpPending *pending, VlgHttpResponse *response);
/* The connection closed: whoever completes later finds nobody to answer. */
void vlg_http_pending_cancel(VlgHttpPending *pending);
gboolean vlg_http_pending_is_cancelled(VlgHttpPending *pending);

typedef VlgHttpResponse *(*VlgHttpHandler)(const VlgHttpRequest *request,
					   const char *const *params, gpointer user_data);

typedef struct _VlgHttpRouter VlgHttpRouter;

VlgHttpRouter *vlg_http_router_new(void);
VlgHttpRouter *vlg_http_router_free(VlgHttpRouter *router);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgHttpRouter, vlg_http_router_free)

/* Who may pass: the principal named by the request's Authorization header, or NULL (and the
 * reason logged by the authenticator). */
typedef VlgPrincipal *(*VlgHttpAuthenticate)(const char *authorization, const char *peer,
					     gpointer user_data);
void vlg_http_router_set_authenticator(VlgHttpRouter *router, VlgHttpAuthenticate authenticate,
				       gpointer user_data);
/* The 401 every refused request gets, whatever the reason: one body, so that a client cannot
 * tell an expired token from a forged one. */
VlgHttpResponse *vlg_http_response_new_unauthorized(void);

/* A route for principals only: the router authenticates before calling @handler, and refuses
 * with vlg_http_response_new_unauthorized() when it cannot (also when no authenticator is set,
 * so a route added without thought fails closed). */
void vlg_http_router_add(VlgHttpRouter *router, VlgHttpMethod method, const char *pattern,
			 VlgHttpHandler handler, gpointer user_data);
/* A route anyone may call: /healthz, the wall's static files, CORS preflights. */
void vlg_http_router_add_public(VlgHttpRouter *router, VlgHttpMethod method, const char *pattern,
				VlgHttpHandler handler, gpointer user_data);
/* 404 when no pattern matches, 405 (with Allow) when one does but not for this method, 400 when a
 * segment does not decode, 401 when the route is protected and the request names no principal. */
VlgHttpResponse *vlg_http_router_dispatch(VlgHttpRouter *router, const VlgHttpRequest *request);

G_END_DECLS
