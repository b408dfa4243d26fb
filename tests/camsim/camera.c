/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tests/camsim/camera.h"

#include "tests/camsim/feeder.h"

#define MEDIA_CAMERA_KEY "vlg-camsim-camera"
#define MEDIA_FEEDER_KEY "vlg-camsim-feeder"

struct _VlgCamsimCamera {
	gchar *name;
	VlgCamsimClip *clip;
	GstRTSPMediaFactory *factory;

	GMutex lock; /* guards state and code */
	VlgCamsimState state;
	GstRTSPStatusCode code;
};

gboolean
vlg_camsim_camera_name_is_valid(const gchar *name)
{
	if (!name || !*name)
		return FALSE;
	for (const gchar *p = name; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
			return FALSE;
	return TRUE;
}

/* Feeder gate: media flows unless the camera is stalled. */
static gboolean
camera_gate(gpointer user_data)
{
	VlgCamsimCamera *camera = user_data;
	gboolean open;

	g_mutex_lock(&camera->lock);
	open = camera->state != VLG_CAMSIM_STATE_STALL;
	g_mutex_unlock(&camera->lock);
	return open;
}

static void
on_media_unprepared(GstRTSPMedia *media, gpointer user_data G_GNUC_UNUSED)
{
	VlgCamsimCamera *camera = g_object_get_data(G_OBJECT(media), MEDIA_CAMERA_KEY);

	vlg_camsim_feeder_stop(g_object_get_data(G_OBJECT(media), MEDIA_FEEDER_KEY));
	g_message("camera %s: media stopped", camera->name);
}

/* A new media for this camera: give it a feeder, which lives as long as the media. */
static void
on_media_configure(GstRTSPMediaFactory *factory G_GNUC_UNUSED, GstRTSPMedia *media,
		   gpointer user_data)
{
	VlgCamsimCamera *camera = user_data;
	g_autoptr(GstElement) bin = gst_rtsp_media_get_element(media);
	g_autoptr(GstElement) video = gst_bin_get_by_name(GST_BIN(bin), "video");
	g_autoptr(GstElement) audio = gst_bin_get_by_name(GST_BIN(bin), "audio");
	VlgCamsimFeeder *feeder;

	feeder = vlg_camsim_feeder_new(camera->clip, GST_APP_SRC(video),
				       audio ? GST_APP_SRC(audio) : NULL, camera_gate, camera);
	g_object_set_data(G_OBJECT(media), MEDIA_CAMERA_KEY, camera);
	g_object_set_data_full(G_OBJECT(media), MEDIA_FEEDER_KEY, feeder,
			       (GDestroyNotify)vlg_camsim_feeder_free);
	g_signal_connect(media, "unprepared", G_CALLBACK(on_media_unprepared), NULL);
	g_message("camera %s: new media", camera->name);
}

static gchar *
launch_description(const VlgCamsimClip *clip)
{
	GString *launch = g_string_new("( ");

	g_string_append_printf(launch, "appsrc name=video ! %s name=pay0 ",
			       vlg_camsim_codec_payloader(clip->video->codec));
	if (clip->audio)
		g_string_append_printf(launch, "appsrc name=audio ! %s name=pay1 ",
				       vlg_camsim_codec_payloader(clip->audio->codec));
	g_string_append(launch, ")");
	return g_string_free(launch, FALSE);
}

VlgCamsimCamera *
vlg_camsim_camera_new(const gchar *name, VlgCamsimClip *clip)
{
	VlgCamsimCamera *camera;
	g_autofree gchar *launch = NULL;

	g_return_val_if_fail(vlg_camsim_camera_name_is_valid(name) && clip != NULL, NULL);
	camera = g_new0(VlgCamsimCamera, 1);
	camera->name = g_strdup(name);
	camera->clip = clip;
	g_mutex_init(&camera->lock);
	launch = launch_description(clip);
	camera->factory = gst_rtsp_media_factory_new();
	gst_rtsp_media_factory_set_launch(camera->factory, launch);
	/* One live stream per camera, whoever watches: a real camera does not restart its clock
	 * for each viewer. */
	gst_rtsp_media_factory_set_shared(camera->factory, TRUE);
	g_signal_connect(camera->factory, "media-configure", G_CALLBACK(on_media_configure),
			 camera);
	return camera;
}

void
vlg_camsim_camera_free(VlgCamsimCamera *camera)
{
	if (!camera)
		return;
	g_signal_handlers_disconnect_by_data(camera->factory, camera);
	g_object_unref(camera->factory);
	vlg_camsim_clip_free(camera->clip);
	g_mutex_clear(&camera->lock);
	g_free(camera->name);
	g_free(camera);
}

const gchar *
vlg_camsim_camera_get_name(const VlgCamsimCamera *camera)
{
	return camera->name;
}

const VlgCamsimClip *
vlg_camsim_camera_get_clip(const VlgCamsimCamera *camera)
{
	return camera->clip;
}

GstRTSPMediaFactory *
vlg_camsim_camera_get_factory(VlgCamsimCamera *camera)
{
	return camera->factory;
}

void
vlg_camsim_camera_set_state(VlgCamsimCamera *camera, VlgCamsimState state, GstRTSPStatusCode code)
{
	g_mutex_lock(&camera->lock);
	camera->state = state;
	camera->code = state == VLG_CAMSIM_STATE_STATUS ? code : GST_RTSP_STS_OK;
	g_mutex_unlock(&camera->lock);
}

gchar *
vlg_camsim_camera_describe_state(VlgCamsimCamera *camera)
{
	static const gchar *const names[] = {"normal", "down", "stall", "status"};
	gchar *text;

	g_mutex_lock(&camera->lock);
	if (camera->state == VLG_CAMSIM_STATE_STATUS)
		text = g_strdup_printf("status-%u", (guint)camera->code);
	else
		text = g_strdup(names[camera->state]);
	g_mutex_unlock(&camera->lock);
	return text;
}

GstRTSPStatusCode
vlg_camsim_camera_answer(VlgCamsimCamera *camera)
{
	GstRTSPStatusCode code = GST_RTSP_STS_OK;

	g_mutex_lock(&camera->lock);
	if (camera->state == VLG_CAMSIM_STATE_DOWN)
		code = GST_RTSP_STS_SERVICE_UNAVAILABLE;
	else if (camera->state == VLG_CAMSIM_STATE_STATUS)
		code = camera->code;
	g_mutex_unlock(&camera->lock);
	return code;
}

VlgCamsimCamera *
vlg_camsim_camera_from_media(GstRTSPMedia *media)
{
	return g_object_get_data(G_OBJECT(media), MEDIA_CAMERA_KEY);
}
