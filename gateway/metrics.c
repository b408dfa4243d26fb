/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/metrics.h"

/* Label values are camera ids ([A-Za-z0-9_-]), so they need no escaping. */

typedef struct {
	const char *name;
	const char *type;
	const char *help;
} MetricFamily;

static const MetricFamily camera_families[] = {
	{ "vlg_camera_state", "gauge", "1 for the camera's current state (idle, connecting, live, retrying, failed)" },
	{ "vlg_camera_bytes_total", "counter", "Media bytes received from the camera" },
	{ "vlg_camera_reconnects_total", "counter", "Connection attempts after a failure" },
	{ "vlg_camera_consumers", "gauge", "Consumers attached to the camera's hub" },
	{ "vlg_camera_bitrate_kbps", "gauge", "Media bit rate over the last seconds" },
};

static void
family_header(GString *out, const MetricFamily *family)
{
	g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", family->name, family->help,
			       family->name, family->type);
}

/* Idle cameras that were never pulled carry no information: 2,864 of them would drown the rest. */
static gboolean
camera_has_history(VlgCamera *camera)
{
	const VlgIngestState *state = vlg_camera_get_state(camera);
	VlgHubStats stats;

	vlg_hub_get_stats(vlg_camera_get_hub(camera), &stats);
	return state->kind != VLG_INGEST_IDLE || stats.bytes > 0 || state->last_error;
}

static void
render_camera(GString *out, guint family, VlgCamera *camera)
{
	const char *id = vlg_camera_get_info(camera)->id;
	const VlgIngestState *state = vlg_camera_get_state(camera);
	VlgHubStats stats;

	vlg_hub_get_stats(vlg_camera_get_hub(camera), &stats);
	switch (family) {
	case 0:
		for (VlgIngestStateKind k = VLG_INGEST_IDLE; k <= VLG_INGEST_FAILED; k++)
			g_string_append_printf(out, "vlg_camera_state{camera=\"%s\",state=\"%s\"} %d\n",
					       id, vlg_ingest_state_kind_to_string(k),
					       state->kind == k);
		break;
	case 1:
		g_string_append_printf(out, "vlg_camera_bytes_total{camera=\"%s\"} %" G_GUINT64_FORMAT "\n",
				       id, stats.bytes);
		break;
	case 2:
		g_string_append_printf(out, "vlg_camera_reconnects_total{camera=\"%s\"} %u\n", id,
				       state->reconnects);
		break;
	case 3:
		g_string_append_printf(out, "vlg_camera_consumers{camera=\"%s\"} %u\n", id,
				       stats.consumers);
		break;
	case 4:
		g_string_append_printf(out, "vlg_camera_bitrate_kbps{camera=\"%s\"} %.1f\n", id,
				       vlg_camera_get_bitrate_kbps(camera));
		break;
	}
}

char *
vlg_metrics_render(VlgApp *app)
{
	GString *out = g_string_new(NULL);
	g_autoptr(GPtrArray) shown = g_ptr_array_new();

	g_string_append(out, "# HELP vlg_cameras Cameras in the catalogue\n# TYPE vlg_cameras gauge\n");
	g_string_append_printf(out, "vlg_cameras %u\n", app->camera_list->len);
	g_string_append(out, "# HELP vlg_cameras_live Cameras live now\n# TYPE vlg_cameras_live gauge\n");
	g_string_append_printf(out, "vlg_cameras_live %u\n",
			       vlg_app_count_cameras_in_state(app, VLG_INGEST_LIVE));
	g_string_append(out, "# HELP vlg_uptime_seconds Seconds since start\n# TYPE vlg_uptime_seconds gauge\n");
	g_string_append_printf(out, "vlg_uptime_seconds %" G_GINT64_FORMAT "\n",
			       (g_get_monotonic_time() - app->started_us) / G_USEC_PER_SEC);
	for (guint i = 0; i < app->camera_list->len; i++)
		if (camera_has_history(app->camera_list->pdata[i]))
			g_ptr_array_add(shown, app->camera_list->pdata[i]);
	for (guint f = 0; f < G_N_ELEMENTS(camera_families); f++) {
		family_header(out, &camera_families[f]);
		for (guint i = 0; i < shown->len; i++)
			render_camera(out, f, shown->pdata[i]);
	}
	return g_string_free(out, FALSE);
}

static VlgHttpResponse *
get_metrics(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	g_autofree char *text = vlg_metrics_render(data);

	return vlg_http_response_new_text(200, "text/plain; version=0.0.4; charset=utf-8", text);
}

void
vlg_metrics_register(VlgHttpRouter *router, VlgApp *app)
{
	vlg_http_router_add(router, VLG_HTTP_GET, "/metrics", get_metrics, app);
}
