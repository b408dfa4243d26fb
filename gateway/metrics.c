/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/metrics.h"

#include "gateway/streams.h"
#include "pipelines/transcoder.h"

#include "gateway/wall.h"
#include "gateway/whep.h"

/* Label values are camera ids ([A-Za-z0-9_-]), so they need no escaping. */

typedef struct {
	const char *name;
	const char *type;
	const char *help;
	/* One sample for @camera; NULL for the state family, which has one line per state. */
	double (*value)(VlgCamera *camera);
} MetricFamily;

static double
camera_bytes(VlgCamera *camera)
{
	VlgHubStats stats;

	vlg_hub_get_stats(vlg_camera_get_hub(camera), &stats);
	return (double)stats.bytes;
}

static double
camera_reconnects(VlgCamera *camera)
{
	return vlg_camera_get_state(camera)->reconnects;
}

static double
camera_consumers(VlgCamera *camera)
{
	VlgHubStats stats;

	vlg_hub_get_stats(vlg_camera_get_hub(camera), &stats);
	return stats.consumers;
}

static const MetricFamily camera_families[] = {
	{ "vlg_camera_state", "gauge",
	  "1 for the camera's current state (idle, connecting, live, retrying, failed)", NULL },
	{ "vlg_camera_bytes_total", "counter", "Media bytes received from the camera", camera_bytes },
	{ "vlg_camera_reconnects_total", "counter", "Connection attempts after a failure",
	  camera_reconnects },
	{ "vlg_camera_consumers", "gauge", "Consumers attached to the camera's hub",
	  camera_consumers },
	{ "vlg_camera_bitrate_kbps", "gauge", "Media bit rate over the last seconds",
	  vlg_camera_get_bitrate_kbps },
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

	return state->kind != VLG_INGEST_IDLE || camera_bytes(camera) > 0 || state->last_error;
}

static void
render_camera(GString *out, const MetricFamily *family, VlgCamera *camera)
{
	const char *id = vlg_camera_get_info(camera)->id;
	VlgIngestStateKind current = vlg_camera_get_state(camera)->kind;

	if (family->value) {
		g_string_append_printf(out, "%s{camera=\"%s\"} %.15g\n", family->name, id,
				       family->value(camera));
		return;
	}
	for (VlgIngestStateKind k = VLG_INGEST_IDLE; k <= VLG_INGEST_FAILED; k++)
		g_string_append_printf(out, "%s{camera=\"%s\",state=\"%s\"} %d\n", family->name, id,
				       vlg_ingest_state_kind_to_string(k), current == k);
}

static void
render_gauge(GString *out, const char *name, const char *help, double value)
{
	g_string_append_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %.15g\n", name, help, name,
			       name, value);
}

char *
vlg_metrics_render(VlgApp *app)
{
	GString *out = g_string_new(NULL);
	g_autoptr(GPtrArray) shown = g_ptr_array_new();

	render_gauge(out, "vlg_cameras", "Cameras in the catalogue", app->camera_list->len);
	render_gauge(out, "vlg_cameras_live", "Cameras live now",
		     vlg_app_count_cameras_in_state(app, VLG_INGEST_LIVE));
	render_gauge(out, "vlg_uptime_seconds", "Seconds since start",
		     (double)((g_get_monotonic_time() - app->started_us) / G_USEC_PER_SEC));
	render_gauge(out, "vlg_whep_sessions", "WHEP sessions open", vlg_whep_session_count(app->whep));
	render_gauge(out, "vlg_walls", "Operator walls connected", vlg_wall_count());
	render_gauge(out, "vlg_transcodes", "Transcoded (camera, profile) streams open, each with "
		     "its own encoder: what [budget] transcodes counts",
		     vlg_streams_transcodes_running(app->streams));
	render_gauge(out, "vlg_transcode_encoders", "Encoders running now (they start with the "
		     "camera's first frames)", vlg_transcoder_running_encoders());
	render_gauge(out, "vlg_transcode_decoders", "Camera decoders feeding transcodes now",
		     vlg_transcoder_running_decoders());
	render_gauge(out, "vlg_transcode_budget", "Transcodes allowed at once ([budget] transcodes)",
		     app->config->max_transcodes);
	render_gauge(out, "vlg_streams", "Shared (camera, profile) streams open",
		     vlg_streams_count(app->streams));
	for (guint i = 0; i < app->camera_list->len; i++)
		if (camera_has_history(app->camera_list->pdata[i]))
			g_ptr_array_add(shown, app->camera_list->pdata[i]);
	for (guint f = 0; f < G_N_ELEMENTS(camera_families); f++) {
		family_header(out, &camera_families[f]);
		for (guint i = 0; i < shown->len; i++)
			render_camera(out, &camera_families[f], shown->pdata[i]);
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
	/* Counts only, no camera names nor credentials: open to a scraper unless the installer
	 * asks for tokens ([gateway] metrics-require-token). */
	if (app->config->metrics_require_token)
		vlg_http_router_add(router, VLG_HTTP_GET, "/metrics", get_metrics, app);
	else
		vlg_http_router_add_public(router, VLG_HTTP_GET, "/metrics", get_metrics, app);
}
