/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/http-router.h"

#include <string.h>

typedef struct {
	VlgHttpMethod method;
	char **segments; /* pattern split on '/', without the leading empty one */
	VlgHttpHandler handler;
	gpointer user_data;
	gboolean public;
} Route;

struct _VlgHttpRouter {
	GPtrArray *routes; /* of Route* */
	VlgHttpAuthenticate authenticate;
	gpointer authenticate_data;
};

static const char *const method_names[] = {
	[VLG_HTTP_GET] = "GET",       [VLG_HTTP_HEAD] = "HEAD",     [VLG_HTTP_POST] = "POST",
	[VLG_HTTP_PUT] = "PUT",       [VLG_HTTP_PATCH] = "PATCH",   [VLG_HTTP_DELETE] = "DELETE",
	[VLG_HTTP_OPTIONS] = "OPTIONS",
};

const char *
vlg_http_method_to_string(VlgHttpMethod method)
{
	return method < G_N_ELEMENTS(method_names) ? method_names[method] : "UNKNOWN";
}

VlgHttpMethod
vlg_http_method_from_string(const char *name)
{
	for (guint i = 0; name && i < G_N_ELEMENTS(method_names); i++)
		if (strcmp(method_names[i], name) == 0)
			return i;
	return VLG_HTTP_METHOD_UNKNOWN;
}

const char *
vlg_http_status_reason(guint status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

VlgHttpResponse *
vlg_http_response_new(guint status, const char *content_type, GBytes *body)
{
	VlgHttpResponse *response = g_new0(VlgHttpResponse, 1);

	response->status = status;
	response->content_type = g_strdup(content_type);
	response->body = body ? g_bytes_ref(body) : g_bytes_new_static("", 0);
	response->headers = g_ptr_array_new_with_free_func(g_free);
	return response;
}

VlgHttpResponse *
vlg_http_response_new_text(guint status, const char *content_type, const char *text)
{
	g_autoptr(GBytes) body = g_bytes_new(text, strlen(text));

	return vlg_http_response_new(status, content_type, body);
}

VlgHttpResponse *
vlg_http_response_new_json(guint status, JsonNode *node)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(GBytes) body = NULL;
	gsize length = 0;
	char *text;

	json_generator_set_root(generator, node);
	json_generator_set_pretty(generator, TRUE);
	text = json_generator_to_data(generator, &length);
	json_node_unref(node);
	body = g_bytes_new_take(text, length);
	return vlg_http_response_new(status, "application/json", body);
}

VlgHttpResponse *
vlg_http_response_new_error(guint status, const char *format, ...)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "error");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "status");
	json_builder_add_int_value(builder, status);
	json_builder_set_member_name(builder, "reason");
	json_builder_add_string_value(builder, vlg_http_status_reason(status));
	json_builder_set_member_name(builder, "message");
	json_builder_add_string_value(builder, message);
	json_builder_end_object(builder);
	json_builder_end_object(builder);
	return vlg_http_response_new_json(status, json_builder_get_root(builder));
}

void
vlg_http_response_add_header(VlgHttpResponse *response, const char *name, const char *value)
{
	g_ptr_array_add(response->headers, g_strdup_printf("%s: %s", name, value));
}

VlgHttpResponse *
vlg_http_response_free(VlgHttpResponse *response)
{
	if (!response)
		return NULL;
	g_free(response->content_type);
	g_bytes_unref(response->body);
	g_ptr_array_unref(response->headers);
	g_free(response);
	return NULL;
}

char *
vlg_http_query_get(const char *query, const char *name)
{
	g_auto(GStrv) pairs = NULL;
	gsize name_length = strlen(name);

	if (!query)
		return NULL;
	pairs = g_strsplit(query, "&", -1);
	for (guint i = 0; pairs[i]; i++) {
		g_autofree char *plus_free = NULL;

		if (strncmp(pairs[i], name, name_length) != 0 || pairs[i][name_length] != '=')
			continue;
		plus_free = g_strdelimit(g_strdup(pairs[i] + name_length + 1), "+", ' ');
		return g_uri_unescape_string(plus_free, NULL);
	}
	return NULL;
}

struct _VlgHttpPending {
	gint refcount;
	VlgHttpDeliver deliver;
	gpointer connection; /* NULL once cancelled or completed */
};

VlgHttpPending *
vlg_http_pending_new(VlgHttpDeliver deliver, gpointer connection)
{
	VlgHttpPending *pending = g_new0(VlgHttpPending, 1);

	pending->refcount = 1;
	pending->deliver = deliver;
	pending->connection = connection;
	return pending;
}

VlgHttpPending *
vlg_http_pending_ref(VlgHttpPending *pending)
{
	pending->refcount++;
	return pending;
}

void
vlg_http_pending_unref(VlgHttpPending *pending)
{
	if (pending && --pending->refcount == 0)
		g_free(pending);
}

void
vlg_http_pending_complete(VlgHttpPending *pending, VlgHttpResponse *response)
{
	gpointer connection = pending->connection;

	pending->connection = NULL;
	if (connection)
		pending->deliver(connection, response);
	else
		vlg_http_response_free(response);
}

void
vlg_http_pending_cancel(VlgHttpPending *pending)
{
	pending->connection = NULL;
}

gboolean
vlg_http_pending_is_cancelled(VlgHttpPending *pending)
{
	return pending->connection == NULL;
}

static void
route_free(gpointer data)
{
	Route *route = data;

	g_strfreev(route->segments);
	g_free(route);
}

VlgHttpRouter *
vlg_http_router_new(void)
{
	VlgHttpRouter *router = g_new0(VlgHttpRouter, 1);

	router->routes = g_ptr_array_new_with_free_func(route_free);
	return router;
}

VlgHttpRouter *
vlg_http_router_free(VlgHttpRouter *router)
{
	if (!router)
		return NULL;
	g_ptr_array_unref(router->routes);
	g_free(router);
	return NULL;
}

void
vlg_http_router_set_authenticator(VlgHttpRouter *router, VlgHttpAuthenticate authenticate,
				  gpointer user_data)
{
	router->authenticate = authenticate;
	router->authenticate_data = user_data;
}

VlgHttpResponse *
vlg_http_response_new_unauthorized(void)
{
	VlgHttpResponse *response =
		vlg_http_response_new_error(401, "a valid token is required");

	vlg_http_response_add_header(response, "WWW-Authenticate",
				     "Bearer realm=\"linkage-gateway\"");
	/* A player on another origin (WHEP) must be able to read the refusal. Tokens travel in a
	 * header, never a cookie, so an open origin grants nothing. */
	vlg_http_response_add_header(response, "Access-Control-Allow-Origin", "*");
	return response;
}

static void
add_route(VlgHttpRouter *router, VlgHttpMethod method, const char *pattern,
	  VlgHttpHandler handler, gpointer user_data, gboolean public)
{
	Route *route = g_new0(Route, 1);

	g_return_if_fail(pattern[0] == '/');
	route->method = method;
	route->segments = g_strsplit(pattern + 1, "/", -1);
	route->handler = handler;
	route->user_data = user_data;
	route->public = public;
	g_ptr_array_add(router->routes, route);
}

void
vlg_http_router_add(VlgHttpRouter *router, VlgHttpMethod method, const char *pattern,
		    VlgHttpHandler handler, gpointer user_data)
{
	add_route(router, method, pattern, handler, user_data, FALSE);
}

void
vlg_http_router_add_public(VlgHttpRouter *router, VlgHttpMethod method, const char *pattern,
			   VlgHttpHandler handler, gpointer user_data)
{
	add_route(router, method, pattern, handler, user_data, TRUE);
}

/* Calls @route's handler, after authenticating when the route is protected. */
static VlgHttpResponse *
call_route(VlgHttpRouter *router, const Route *route, const VlgHttpRequest *request,
	   const char *const *params)
{
	g_autoptr(VlgPrincipal) principal = NULL;
	VlgHttpRequest authenticated = *request;

	authenticated.principal = NULL;
	if (!route->public) {
		if (router->authenticate)
			principal = router->authenticate(request->authorization, request->peer,
							 router->authenticate_data);
		if (!principal)
			return vlg_http_response_new_unauthorized();
		authenticated.principal = principal;
	}
	return route->handler(&authenticated, params, route->user_data);
}

/* Matches decoded @segments against @route; on success fills @params (borrowed strings). */
static gboolean
route_matches(const Route *route, char **segments, GPtrArray *params)
{
	guint i;

	g_ptr_array_set_size(params, 0);
	for (i = 0; route->segments[i] && segments[i]; i++) {
		const char *want = route->segments[i];

		if (want[0] == '{') {
			if (segments[i][0] == '\0')
				return FALSE;
			g_ptr_array_add(params, segments[i]);
		} else if (strcmp(want, segments[i]) != 0) {
			return FALSE;
		}
	}
	return route->segments[i] == NULL && segments[i] == NULL;
}

/* Splits and percent-decodes @path; NULL when a segment does not decode to clean text. */
static char **
decode_segments(const char *path)
{
	g_auto(GStrv) raw = g_strsplit(path + 1, "/", -1);
	guint count = g_strv_length(raw);
	char **decoded = g_new0(char *, count + 1);

	for (guint i = 0; i < count; i++) {
		/* "/" and NUL may not hide inside a segment: they would change what it names. */
		decoded[i] = g_uri_unescape_segment(raw[i], NULL, "/");
		if (!decoded[i] || !g_utf8_validate(decoded[i], -1, NULL)) {
			g_strfreev(decoded);
			return NULL;
		}
	}
	return decoded;
}

static VlgHttpResponse *
method_not_allowed(VlgHttpRouter *router, char **segments, GPtrArray *params)
{
	g_autoptr(GString) allow = g_string_new(NULL);
	VlgHttpResponse *response;

	for (guint i = 0; i < router->routes->len; i++) {
		Route *route = router->routes->pdata[i];

		if (!route_matches(route, segments, params))
			continue;
		if (strstr(allow->str, vlg_http_method_to_string(route->method)))
			continue;
		g_string_append_printf(allow, "%s%s", allow->len ? ", " : "",
				       vlg_http_method_to_string(route->method));
	}
	if (allow->len == 0)
		return NULL;
	response = vlg_http_response_new_error(405, "allowed methods: %s", allow->str);
	vlg_http_response_add_header(response, "Allow", allow->str);
	return response;
}

VlgHttpResponse *
vlg_http_router_dispatch(VlgHttpRouter *router, const VlgHttpRequest *request)
{
	g_auto(GStrv) segments = NULL;
	g_autoptr(GPtrArray) params = g_ptr_array_new();
	VlgHttpResponse *response;

	if (!request->path || request->path[0] != '/')
		return vlg_http_response_new_error(400, "the request path must start with '/'");
	segments = decode_segments(request->path);
	if (!segments)
		return vlg_http_response_new_error(400, "the request path is not valid");
	for (guint i = 0; i < router->routes->len; i++) {
		Route *route = router->routes->pdata[i];

		if (route->method != request->method || !route_matches(route, segments, params))
			continue;
		g_ptr_array_add(params, NULL);
		return call_route(router, route, request, (const char *const *)params->pdata);
	}
	response = method_not_allowed(router, segments, params);
	if (response)
		return response;
	return vlg_http_response_new_error(404, "nothing is served at this path");
}
