/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/camera.h"

#define RATE_SAMPLE_MS 1000
/* Weight of the newest one-second sample in the smoothed bit rate. */
#define RATE_SMOOTHING 0.5

struct _VlgCamera {
	const VlgCameraInfo *info;
	VlgCameraSettings settings;
	VlgHub *hub;
	VlgIngest *ingest;
	guint holders;
	guint linger_source;
	guint rate_source;
	guint64 rate_last_bytes;
	gint64 rate_last_us;
	double bitrate_kbps;
	VlgCameraStateNotify notify;
	gpointer notify_data;
};

static gboolean
sample_rate(gpointer data)
{
	VlgCamera *camera = data;
	VlgHubStats stats;
	gint64 now = g_get_monotonic_time();
	double seconds = (now - camera->rate_last_us) / (double)G_USEC_PER_SEC;

	vlg_hub_get_stats(camera->hub, &stats);
	if (seconds > 0) {
		double kbps = (stats.bytes - camera->rate_last_bytes) * 8.0 / 1000.0 / seconds;

		camera->bitrate_kbps = camera->bitrate_kbps == 0 ?
					       kbps :
					       RATE_SMOOTHING * kbps +
						       (1 - RATE_SMOOTHING) * camera->bitrate_kbps;
	}
	camera->rate_last_bytes = stats.bytes;
	camera->rate_last_us = now;
	return G_SOURCE_CONTINUE;
}

static void
on_ingest_state(VlgIngest *ingest, const VlgIngestState *state, gpointer data)
{
	VlgCamera *camera = data;
	gboolean pulling = state->kind == VLG_INGEST_LIVE;

	if (pulling && !camera->rate_source) {
		VlgHubStats stats;

		vlg_hub_get_stats(camera->hub, &stats);
		camera->rate_last_bytes = stats.bytes;
		camera->rate_last_us = g_get_monotonic_time();
		camera->rate_source = g_timeout_add(RATE_SAMPLE_MS, sample_rate, camera);
	} else if (!pulling && camera->rate_source) {
		g_clear_handle_id(&camera->rate_source, g_source_remove);
		camera->bitrate_kbps = 0;
	}
	if (camera->notify)
		camera->notify(camera, state, camera->notify_data);
}

VlgCamera *
vlg_camera_new(const VlgCameraInfo *info, const VlgCameraSettings *settings)
{
	VlgCamera *camera = g_new0(VlgCamera, 1);

	camera->info = info;
	camera->settings = *settings;
	camera->hub = vlg_hub_new(info->id);
	camera->ingest = vlg_ingest_new(info, &settings->ingest, camera->hub);
	vlg_ingest_set_notify(camera->ingest, on_ingest_state, camera);
	return camera;
}

VlgCamera *
vlg_camera_free(VlgCamera *camera)
{
	if (!camera)
		return NULL;
	g_clear_handle_id(&camera->linger_source, g_source_remove);
	g_clear_handle_id(&camera->rate_source, g_source_remove);
	camera->ingest = vlg_ingest_free(camera->ingest);
	vlg_hub_unref(camera->hub);
	g_free(camera);
	return NULL;
}

void
vlg_camera_set_notify(VlgCamera *camera, VlgCameraStateNotify notify, gpointer user_data)
{
	camera->notify = notify;
	camera->notify_data = user_data;
}

static gboolean
linger_expired(gpointer data)
{
	VlgCamera *camera = data;

	camera->linger_source = 0;
	if (camera->holders == 0)
		vlg_ingest_stop(camera->ingest);
	return G_SOURCE_REMOVE;
}

void
vlg_camera_hold(VlgCamera *camera)
{
	camera->holders++;
	g_clear_handle_id(&camera->linger_source, g_source_remove);
	vlg_ingest_start(camera->ingest);
}

void
vlg_camera_release(VlgCamera *camera)
{
	g_return_if_fail(camera->holders > 0);

	if (--camera->holders > 0)
		return;
	if (camera->settings.linger_seconds == 0) {
		vlg_ingest_stop(camera->ingest);
		return;
	}
	camera->linger_source =
		g_timeout_add_seconds(camera->settings.linger_seconds, linger_expired, camera);
}

VlgHubConsumer *
vlg_camera_attach(VlgCamera *camera, const VlgHubConsumerFuncs *funcs, gpointer user_data,
		  GDestroyNotify destroy)
{
	vlg_camera_hold(camera);
	return vlg_hub_attach(camera->hub, funcs, user_data, destroy);
}

void
vlg_camera_detach(VlgCamera *camera, VlgHubConsumer *consumer)
{
	vlg_hub_detach(camera->hub, consumer);
	vlg_camera_release(camera);
}

const VlgCameraInfo *
vlg_camera_get_info(VlgCamera *camera)
{
	return camera->info;
}

const VlgIngestState *
vlg_camera_get_state(VlgCamera *camera)
{
	return vlg_ingest_get_state(camera->ingest);
}

VlgHub *
vlg_camera_get_hub(VlgCamera *camera)
{
	return camera->hub;
}

gboolean
vlg_camera_video_is(VlgCamera *camera, const char *media_type)
{
	g_autoptr(GstCaps) caps = vlg_hub_get_caps(camera->hub, VLG_TRACK_VIDEO);

	return caps && gst_structure_has_name(gst_caps_get_structure(caps, 0), media_type);
}

guint
vlg_camera_get_holders(VlgCamera *camera)
{
	return camera->holders;
}

double
vlg_camera_get_bitrate_kbps(VlgCamera *camera)
{
	return camera->bitrate_kbps;
}
