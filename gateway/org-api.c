/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/org-api.h"

#include <string.h>

#include "gateway/access.h"

#define SEARCH_LIMIT 50
#define QUERY_MAX 64

static guint
count_cameras(const VlgOrgNode *node)
{
	guint count = node->cameras->len;

	for (guint i = 0; i < node->children->len; i++)
		count += count_cameras(node->children->pdata[i]);
	return count;
}

static void
add_node_fields(JsonBuilder *builder, const VlgOrgNode *node)
{
	json_builder_set_member_name(builder, "code");
	json_builder_add_string_value(builder, node->code);
	json_builder_set_member_name(builder, "name");
	json_builder_add_string_value(builder, node->name);
	json_builder_set_member_name(builder, "level");
	json_builder_add_string_value(builder, vlg_org_level_to_string(node->level));
}

static void
add_camera(JsonBuilder *builder, VlgApp *app, const VlgCameraInfo *info)
{
	VlgCamera *camera = vlg_app_find_camera(app, info->id);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, info->id);
	json_builder_set_member_name(builder, "name");
	json_builder_add_string_value(builder, info->name);
	json_builder_set_member_name(builder, "org");
	json_builder_add_string_value(builder, info->org->code);
	json_builder_set_member_name(builder, "state");
	json_builder_add_string_value(
		builder, vlg_ingest_state_kind_to_string(vlg_camera_get_state(camera)->kind));
	json_builder_end_object(builder);
}

static VlgHttpResponse *
node_reply(VlgApp *app, const VlgOrgNode *node)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "node");
	json_builder_begin_object(builder);
	add_node_fields(builder, node);
	json_builder_end_object(builder);
	json_builder_set_member_name(builder, "children");
	json_builder_begin_array(builder);
	for (guint i = 0; i < node->children->len; i++) {
		const VlgOrgNode *child = node->children->pdata[i];

		json_builder_begin_object(builder);
		add_node_fields(builder, child);
		json_builder_set_member_name(builder, "cameras");
		json_builder_add_int_value(builder, count_cameras(child));
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
	json_builder_set_member_name(builder, "cameras");
	json_builder_begin_array(builder);
	for (guint i = 0; i < node->cameras->len; i++)
		add_camera(builder, app, node->cameras->pdata[i]);
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	return vlg_http_response_new_json(200, json_builder_get_root(builder));
}

static VlgHttpResponse *
get_root(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgApp *app = data;
	const VlgOrgNode *root = vlg_access_root(request->principal, app->catalogue);

	/* The tree starts at the viewer's own node: nothing above or beside it is shown. */
	if (!root)
		return vlg_http_response_new_error(404, "no org node with this code");
	return node_reply(app, root);
}

static VlgHttpResponse *
get_node(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgApp *app = data;
	const VlgOrgNode *node = vlg_catalogue_find_node(app->catalogue, params[0]);

	if (!node || !vlg_access_node_visible(request->principal, node))
		return vlg_http_response_new_error(404, "no org node with this code");
	return node_reply(app, node);
}

/* Case-insensitive substring match on UTF-8 text. */
static gboolean
matches(const char *text, const char *folded_query)
{
	g_autofree char *folded = g_utf8_casefold(text, -1);

	return strstr(folded, folded_query) != NULL;
}

static VlgHttpResponse *
search(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgApp *app = data;
	g_autofree char *query = vlg_http_query_get(request->query, "q");
	g_autofree char *folded = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	GPtrArray *nodes = vlg_catalogue_nodes(app->catalogue);
	GPtrArray *cameras = vlg_catalogue_cameras(app->catalogue);
	guint found = 0;

	if (!query || !*query || strlen(query) > QUERY_MAX || !g_utf8_validate(query, -1, NULL))
		return vlg_http_response_new_error(400, "q must be 1 to %d bytes of text", QUERY_MAX);
	folded = g_utf8_casefold(query, -1);
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "nodes");
	json_builder_begin_array(builder);
	for (guint i = 0; i < nodes->len && found < SEARCH_LIMIT; i++) {
		const VlgOrgNode *node = nodes->pdata[i];

		if (!vlg_access_node_visible(request->principal, node))
			continue;
		if (!matches(node->name, folded) && !matches(node->code, folded))
			continue;
		json_builder_begin_object(builder);
		add_node_fields(builder, node);
		json_builder_end_object(builder);
		found++;
	}
	json_builder_end_array(builder);
	json_builder_set_member_name(builder, "cameras");
	json_builder_begin_array(builder);
	found = 0;
	for (guint i = 0; i < cameras->len && found < SEARCH_LIMIT; i++) {
		const VlgCameraInfo *info = cameras->pdata[i];

		if (!vlg_access_camera_visible(request->principal, info))
			continue;
		if (!matches(info->name, folded) && !matches(info->id, folded))
			continue;
		add_camera(builder, app, info);
		found++;
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	return vlg_http_response_new_json(200, json_builder_get_root(builder));
}

void
vlg_org_api_register(VlgHttpRouter *router, VlgApp *app)
{
	vlg_http_router_add(router, VLG_HTTP_GET, "/api/v1/org", get_root, app);
	vlg_http_router_add(router, VLG_HTTP_GET, "/api/v1/org/{code}", get_node, app);
	vlg_http_router_add(router, VLG_HTTP_GET, "/api/v1/search", search, app);
}
