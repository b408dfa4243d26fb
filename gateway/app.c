/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "linkage-gateway"

#include "gateway/app.h"

#include "gateway/access.h"
#include "gateway/api.h"
#include "gateway/fmp4.h"
#include "gateway/metrics.h"
#include "gateway/org-api.h"
#include "gateway/static-files.h"
#include "gateway/streams.h"
#include "config/vlg-error.h"
#include "gateway/wall.h"
#include "gateway/whep.h"
#include "pipelines/teardown.h"

static void
log_camera_state(VlgCamera *camera, const VlgIngestState *state, gpointer user_data)
{
	const VlgCameraInfo *info = vlg_camera_get_info(camera);
	const char *kind = vlg_ingest_state_kind_to_string(state->kind);

	switch (state->kind) {
	case VLG_INGEST_RETRYING:
		g_warning("camera %s: %s (attempt %u, next in %.1f s): %s", info->id, kind,
			  state->attempt,
			  (state->next_attempt_us - g_get_monotonic_time()) / (double)G_USEC_PER_SEC,
			  state->last_error);
		break;
	case VLG_INGEST_FAILED:
		g_warning("camera %s: %s: %s", info->id, kind, state->last_error);
		break;
	default:
		g_message("camera %s: %s", info->id, kind);
		break;
	}
}

static void
camera_free(gpointer camera)
{
	vlg_camera_free(camera);
}

static VlgCameraSettings
camera_settings_from(const VlgGatewayConfig *config)
{
	VlgCameraSettings settings = {
		.ingest = {
			.timings = {
				.watchdog_us = (gint64)config->watchdog_seconds * G_USEC_PER_SEC,
				.connect_timeout_us =
					(gint64)config->connect_timeout_seconds * G_USEC_PER_SEC,
				.backoff = {
					.cap_ms = config->backoff_cap_seconds * 1000,
					.auth_delay_ms = config->auth_backoff_seconds * 1000,
				},
			},
			.latency_ms = config->rtsp_latency_ms,
		},
		.linger_seconds = config->linger_seconds,
	};
	return settings;
}

static void
create_cameras(VlgApp *app)
{
	GPtrArray *infos = vlg_catalogue_cameras(app->catalogue);
	VlgCameraSettings settings = camera_settings_from(app->config);

	app->cameras = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					     camera_free);
	app->camera_list = g_ptr_array_sized_new(infos->len);
	for (guint i = 0; i < infos->len; i++) {
		const VlgCameraInfo *info = infos->pdata[i];
		VlgCamera *camera = vlg_camera_new(info, &settings);

		vlg_camera_set_notify(camera, log_camera_state, app);
		g_hash_table_insert(app->cameras, info->id, camera);
		g_ptr_array_add(app->camera_list, camera);
	}
}

static void
sub_camera_free(gpointer data)
{
	SubCamera *sub = data;

	vlg_camera_free(sub->camera);
	g_free(sub->info.id);
	g_free(sub);
}

/* Stops the sub-stream cameras; their infos stay until the teardown workers are done. */
static void
stop_sub_cameras(VlgApp *app)
{
	GHashTableIter iter;
	gpointer value;

	if (!app->sub_cameras)
		return;
	g_hash_table_iter_init(&iter, app->sub_cameras);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		SubCamera *sub = value;

		sub->camera = vlg_camera_free(sub->camera);
	}
}

/* A camera's native sub-stream (catalogue sub-url) is a camera of its own: pulled on demand,
 * with its own state, and used for the `sub` profile before any transcode. */
static void
create_sub_cameras(VlgApp *app)
{
	GPtrArray *infos = vlg_catalogue_cameras(app->catalogue);
	VlgCameraSettings settings = camera_settings_from(app->config);

	app->sub_cameras = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, sub_camera_free);
	for (guint i = 0; i < infos->len; i++) {
		const VlgCameraInfo *info = infos->pdata[i];
		SubCamera *sub;

		if (!info->sub_url)
			continue;
		sub = g_new0(SubCamera, 1);
		sub->info = *info;
		sub->info.id = g_strdup_printf("%s~sub", info->id);
		sub->info.url = info->sub_url;
		sub->info.sub_url = NULL;
		sub->info.always_on = FALSE;
		sub->camera = vlg_camera_new(&sub->info, &settings);
		g_hash_table_insert(app->sub_cameras, info->id, sub);
	}
}

static void
start_always_on(VlgApp *app)
{
	for (guint i = 0; i < app->camera_list->len; i++) {
		VlgCamera *camera = app->camera_list->pdata[i];

		if (vlg_camera_get_info(camera)->always_on)
			vlg_camera_hold(camera);
	}
}

static VlgPrincipal *
authenticate_header(const char *authorization, const char *peer, gpointer data)
{
	return vlg_app_authenticate(data, vlg_auth_bearer_token(authorization), peer);
}

static VlgPrincipal *
authenticate_token(const char *token, const char *peer, gpointer data)
{
	return vlg_app_authenticate(data, token, peer);
}

VlgPrincipal *
vlg_app_authenticate(VlgApp *app, const char *token, const char *peer)
{
	g_autoptr(GError) error = NULL;
	VlgPrincipal *principal =
		vlg_auth_check_token(app->auth, token, g_get_real_time() / G_USEC_PER_SEC, &error);

	if (!principal)
		g_warning("auth refused for %s: %s", peer ? peer : "?", error->message);
	return principal;
}

VlgCamera *
vlg_app_find_visible_camera(VlgApp *app, const VlgPrincipal *principal, const char *id)
{
	VlgCamera *camera = vlg_app_find_camera(app, id);

	if (!camera || !principal || !vlg_access_camera_visible(principal, vlg_camera_get_info(camera)))
		return NULL;
	return camera;
}

VlgApp *
vlg_app_new(VlgGatewayConfig *config, VlgCatalogue *catalogue, VlgAuth *auth, GMainLoop *loop,
	    GError **error)
{
	g_autoptr(VlgApp) app = g_new0(VlgApp, 1);
	VlgHttpServerSettings http = {
		.address = config->listen_address,
		.port = config->listen_port,
		.max_body_bytes = config->max_body_bytes,
		.max_websocket_message = config->max_websocket_message,
		.tls_certificate = config->tls_certificate,
		.tls_private_key = config->tls_private_key,
	};

	app->config = config;
	app->catalogue = catalogue;
	app->auth = auth;
	app->loop = g_main_loop_ref(loop);
	app->started_us = g_get_monotonic_time();
	create_cameras(app);
	create_sub_cameras(app);
	app->router = vlg_http_router_new();
	vlg_http_router_set_authenticator(app->router, authenticate_header, app);
	vlg_api_register(app->router, app);
	vlg_metrics_register(app->router, app);
	app->streams = vlg_streams_new(config, app->sub_cameras);
	app->whep = vlg_whep_new(app);
	vlg_whep_register(app->whep, app->router);
	vlg_org_api_register(app->router, app);
	vlg_static_files_register(app->router, app->config->web_root);
	app->server = vlg_http_server_new(&http, app->router, loop, error);
	if (!app->server)
		return NULL;
	vlg_http_server_set_ws_authenticator(app->server, authenticate_token, app);
	vlg_wall_register(app->server, app);
	app->fmp4 = vlg_fmp4_endpoint_new(app, app->server);
	start_always_on(app);
	return g_steal_pointer(&app);
}

VlgApp *
vlg_app_free(VlgApp *app)
{
	if (!app)
		return NULL;
	app->server = vlg_http_server_free(app->server);
	app->fmp4 = vlg_fmp4_endpoint_free(app->fmp4);
	app->whep = vlg_whep_free(app->whep);
	app->streams = vlg_streams_free(app->streams);
	g_clear_pointer(&app->camera_list, g_ptr_array_unref);
	g_clear_pointer(&app->cameras, g_hash_table_unref);
	stop_sub_cameras(app);
	/* Cameras hand their pipelines to teardown workers: let them finish before the catalogue
	 * (which the pipelines' settings came from) goes. */
	vlg_teardown_wait();
	g_clear_pointer(&app->sub_cameras, g_hash_table_unref);
	app->router = vlg_http_router_free(app->router);
	g_clear_pointer(&app->catalogue, vlg_catalogue_free);
	g_clear_pointer(&app->config, vlg_gateway_config_free);
	g_clear_pointer(&app->auth, vlg_auth_free);
	g_clear_pointer(&app->loop, g_main_loop_unref);
	g_free(app);
	return NULL;
}

VlgCamera *
vlg_app_find_camera(VlgApp *app, const char *id)
{
	return g_hash_table_lookup(app->cameras, id);
}

VlgRtpSource *
vlg_app_acquire_stream(VlgApp *app, const char *camera_id, const char *profile_name,
		       gboolean transcode_main, GError **error)
{
	VlgCamera *camera = vlg_app_find_camera(app, camera_id);
	const VlgProfile *profile =
		vlg_gateway_config_find_profile(app->config, profile_name ? profile_name : "main");

	if (!camera || !profile) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA, "no %s",
			    camera ? "such profile" : "such camera");
		return NULL;
	}
	return vlg_streams_acquire(app->streams, camera, profile, transcode_main, error);
}

void
vlg_app_release_stream(VlgApp *app, VlgRtpSource *source)
{
	vlg_streams_release(app->streams, source);
}

guint
vlg_app_count_cameras_in_state(VlgApp *app, VlgIngestStateKind kind)
{
	guint count = 0;

	for (guint i = 0; i < app->camera_list->len; i++)
		if (vlg_camera_get_state(app->camera_list->pdata[i])->kind == kind)
			count++;
	return count;
}
