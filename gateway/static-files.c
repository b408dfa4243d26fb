/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/static-files.h"

#include <gio/gio.h>
#include <string.h>

#include "gateway/web-resources.h"

#define RESOURCE_PREFIX "/org/linkage/gateway/web/"

static const struct {
	const char *suffix;
	const char *type;
} content_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json" },
};

static const char *
content_type_of(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(content_types); i++)
		if (g_str_has_suffix(name, content_types[i].suffix))
			return content_types[i].type;
	return "application/octet-stream";
}

static GBytes *
load(const char *web_root, const char *name)
{
	g_autofree char *path = NULL;
	char *data = NULL;
	gsize length = 0;

	if (!web_root) {
		path = g_strconcat(RESOURCE_PREFIX, name, NULL);
		return g_resource_lookup_data(vlg_web_get_resource(), path,
					      G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
	}
	path = g_build_filename(web_root, name, NULL);
	/* No symlinks out of the web root: only regular files that are not links are served. */
	if (g_file_test(path, G_FILE_TEST_IS_SYMLINK) || !g_file_test(path, G_FILE_TEST_IS_REGULAR))
		return NULL;
	if (!g_file_get_contents(path, &data, &length, NULL))
		return NULL;
	return g_bytes_new_take(data, length);
}

static VlgHttpResponse *
serve(const char *web_root, const char *name)
{
	g_autoptr(GBytes) body = NULL;
	VlgHttpResponse *response;

	if (name[0] == '.' || strchr(name, '/') || strchr(name, '\\'))
		return vlg_http_response_new_error(404, "no such file");
	body = load(web_root, name);
	if (!body)
		return vlg_http_response_new_error(404, "no such file");
	response = vlg_http_response_new(200, content_type_of(name), body);
	vlg_http_response_add_header(response, "X-Content-Type-Options", "nosniff");
	return response;
}

static VlgHttpResponse *
get_index(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	return serve(data, "index.html");
}

static VlgHttpResponse *
get_file(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	return serve(data, params[0]);
}

void
vlg_static_files_register(VlgHttpRouter *router, const char *web_root)
{
	vlg_http_router_add_public(router, VLG_HTTP_GET, "/", get_index, (gpointer)web_root);
	vlg_http_router_add_public(router, VLG_HTTP_GET, "/static/{file}", get_file, (gpointer)web_root);
}
