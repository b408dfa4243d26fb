/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/api.h"

#include "gateway/access.h"

#include "gateway/whep.h"
#include "vlg-build.h"

static char *
monotonic_to_iso8601(gint64 monotonic_us)
{
	gint64 wall_us = g_get_real_time() + (monotonic_us - g_get_monotonic_time());
	g_autoptr(GDateTime) seconds = g_date_time_new_from_unix_utc(wall_us / G_USEC_PER_SEC);
	g_autoptr(GDateTime) time = seconds ? g_date_time_add(seconds, wall_us % G_USEC_PER_SEC) : NULL;

	return time ? g_date_time_format(time, "%Y-%m-%dT%H:%M:%S.%fZ") : g_strdup("");
}

static void
add_string(JsonBuilder *builder, const char *name, const char *value)
{
	json_builder_set_member_name(builder, name);
	if (value)
		json_builder_add_string_value(builder, value);
	else
		json_builder_add_null_value(builder);
}

static void
add_int(JsonBuilder *builder, const char *name, gint64 value)
{
	json_builder_set_member_name(builder, name);
	json_builder_add_int_value(builder, value);
}

static void
add_time(JsonBuilder *builder, const char *name, gint64 monotonic_us)
{
	g_autofree char *text = monotonic_to_iso8601(monotonic_us);

	add_string(builder, name, text);
}

static void
add_org(JsonBuilder *builder, const VlgOrgNode *node)
{
	json_builder_set_member_name(builder, "org");
	json_builder_begin_object(builder);
	add_string(builder, "code", node->code);
	add_string(builder, "name", node->name);
	add_string(builder, "level", vlg_org_level_to_string(node->level));
	json_builder_end_object(builder);
}

static const char *
codec_name(const GstStructure *s)
{
	static const struct {
		const char *media_type;
		const char *name;
	} names[] = {
		{ "video/x-h264", "H.264" }, { "video/x-h265", "H.265" },
		{ "audio/x-alaw", "G.711 A-law" }, { "audio/x-mulaw", "G.711 mu-law" },
		{ "audio/mpeg", "AAC" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(names); i++)
		if (gst_structure_has_name(s, names[i].media_type))
			return names[i].name;
	return gst_structure_get_name(s);
}

static void
add_track(JsonBuilder *builder, VlgHub *hub, VlgTrack track)
{
	g_autoptr(GstCaps) caps = vlg_hub_get_caps(hub, track);
	const GstStructure *s;
	int value;

	json_builder_set_member_name(builder, track == VLG_TRACK_VIDEO ? "video" : "audio");
	if (!caps || gst_caps_is_empty(caps)) {
		json_builder_add_null_value(builder);
		return;
	}
	s = gst_caps_get_structure(caps, 0);
	json_builder_begin_object(builder);
	add_string(builder, "codec", codec_name(s));
	if (gst_structure_get_string(s, "profile"))
		add_string(builder, "profile", gst_structure_get_string(s, "profile"));
	if (gst_structure_get_int(s, "width", &value))
		add_int(builder, "width", value);
	if (gst_structure_get_int(s, "height", &value))
		add_int(builder, "height", value);
	if (gst_structure_get_int(s, "rate", &value))
		add_int(builder, "rate", value);
	json_builder_end_object(builder);
}

static void
add_live_state(JsonBuilder *builder, VlgCamera *camera)
{
	const VlgIngestState *state = vlg_camera_get_state(camera);
	VlgHubStats stats;

	vlg_hub_get_stats(vlg_camera_get_hub(camera), &stats);
	add_string(builder, "state", vlg_ingest_state_kind_to_string(state->kind));
	add_time(builder, "state_since", state->since_us);
	add_int(builder, "attempt", state->attempt);
	json_builder_set_member_name(builder, "next_attempt_at");
	if (state->kind == VLG_INGEST_RETRYING) {
		g_autofree char *text = monotonic_to_iso8601(state->next_attempt_us);

		json_builder_add_string_value(builder, text);
	} else {
		json_builder_add_null_value(builder);
	}
	add_string(builder, "last_error", state->last_error);
	json_builder_set_member_name(builder, "bitrate_kbps");
	json_builder_add_double_value(builder, vlg_camera_get_bitrate_kbps(camera));
	add_int(builder, "consumers", stats.consumers);
	add_int(builder, "holders", vlg_camera_get_holders(camera));
	add_int(builder, "reconnects", state->reconnects);
	add_int(builder, "bytes", (gint64)stats.bytes);
	add_track(builder, vlg_camera_get_hub(camera), VLG_TRACK_VIDEO);
	add_track(builder, vlg_camera_get_hub(camera), VLG_TRACK_AUDIO);
}

static void
build_camera(JsonBuilder *builder, VlgCamera *camera)
{
	const VlgCameraInfo *info = vlg_camera_get_info(camera);

	json_builder_begin_object(builder);
	add_string(builder, "id", info->id);
	add_string(builder, "name", info->name);
	add_org(builder, info->org);
	/* Catalogue URLs hold no credentials (the loader moves them out), but redact regardless. */
	{
		g_autofree char *url = vlg_url_redact(info->url);
		g_autofree char *sub_url = info->sub_url ? vlg_url_redact(info->sub_url) : NULL;

		add_string(builder, "url", url);
		add_string(builder, "sub_url", sub_url);
	}
	add_string(builder, "transport", vlg_transport_to_string(info->transport));
	add_int(builder, "priority", info->priority);
	json_builder_set_member_name(builder, "always_on");
	json_builder_add_boolean_value(builder, info->always_on);
	add_live_state(builder, camera);
	json_builder_end_object(builder);
}

JsonNode *
vlg_api_camera_to_json(VlgCamera *camera)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	build_camera(builder, camera);
	return json_builder_get_root(builder);
}

static VlgHttpResponse *
get_health(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgApp *app = data;
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	add_string(builder, "status", "ok");
	add_string(builder, "version", VLG_VERSION);
	add_int(builder, "uptime_s", (g_get_monotonic_time() - app->started_us) / G_USEC_PER_SEC);
	add_int(builder, "cameras", app->camera_list->len);
	add_int(builder, "cameras_live", vlg_app_count_cameras_in_state(app, VLG_INGEST_LIVE));
	add_int(builder, "whep_sessions", vlg_whep_session_count(app->whep));
	json_builder_end_object(builder);
	return vlg_http_response_new_json(200, json_builder_get_root(builder));
}

/* Filters of GET /api/v1/cameras: ?org=CODE (the subtree) and ?state=live|idle|... */
typedef struct {
	const VlgPrincipal *principal; /* only cameras of its subtree, always */
	const VlgOrgNode *org;
	char *state;
} CameraFilter;

static gboolean
filter_accepts(const CameraFilter *filter, VlgCamera *camera)
{
	const VlgCameraInfo *info = vlg_camera_get_info(camera);

	if (!vlg_access_camera_visible(filter->principal, info))
		return FALSE;
	if (filter->org && !vlg_org_node_is_within(info->org, filter->org))
		return FALSE;
	if (filter->state &&
	    g_strcmp0(filter->state,
		      vlg_ingest_state_kind_to_string(vlg_camera_get_state(camera)->kind)) != 0)
		return FALSE;
	return TRUE;
}

static VlgHttpResponse *
list_cameras(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgApp *app = data;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autofree char *org = vlg_http_query_get(request->query, "org");
	CameraFilter filter = { request->principal, NULL,
				vlg_http_query_get(request->query, "state") };
	guint count = 0;

	if (org && (!(filter.org = vlg_catalogue_find_node(app->catalogue, org)) ||
		    !vlg_access_node_visible(request->principal, filter.org))) {
		g_free(filter.state);
		return vlg_http_response_new_error(404, "no org node with code '%s'", org);
	}
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "cameras");
	json_builder_begin_array(builder);
	for (guint i = 0; i < app->camera_list->len; i++) {
		VlgCamera *camera = app->camera_list->pdata[i];

		if (!filter_accepts(&filter, camera))
			continue;
		build_camera(builder, camera);
		count++;
	}
	json_builder_end_array(builder);
	add_int(builder, "count", count);
	json_builder_end_object(builder);
	g_free(filter.state);
	return vlg_http_response_new_json(200, json_builder_get_root(builder));
}

static VlgHttpResponse *
get_camera(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	VlgApp *app = data;
	VlgCamera *camera = vlg_app_find_visible_camera(app, request->principal, params[0]);

	if (!camera)
		return vlg_http_response_new_error(404, "no camera with this id");
	return vlg_http_response_new_json(200, vlg_api_camera_to_json(camera));
}

void
vlg_api_register(VlgHttpRouter *router, VlgApp *app)
{
	vlg_http_router_add_public(router, VLG_HTTP_GET, "/healthz", get_health, app);
	vlg_http_router_add(router, VLG_HTTP_GET, "/api/v1/cameras", list_cameras, app);
	vlg_http_router_add(router, VLG_HTTP_GET, "/api/v1/cameras/{id}", get_camera, app);
}
