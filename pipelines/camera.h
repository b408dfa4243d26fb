/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One camera as the gateway runs it: its hub, its ingest, and the demand that drives them. The
 * camera is pulled while anyone holds it (a consumer, an emergency, always-on) and for `linger`
 * seconds after the last one lets go, so that a viewer flipping tiles does not reconnect it.
 *
 * Threads: main loop only (hold/release/attach/detach/queries). Ownership: borrows @info (from the
 * catalogue, which must outlive the camera); owns its hub and ingest.
 */
#pragma once

#include "config/catalogue.h"
#include "pipelines/hub.h"
#include "pipelines/ingest.h"

G_BEGIN_DECLS

typedef struct _VlgCamera VlgCamera;

typedef struct {
	VlgIngestSettings ingest;
	guint linger_seconds;
} VlgCameraSettings;

typedef void (*VlgCameraStateNotify)(VlgCamera *camera, const VlgIngestState *state,
				     gpointer user_data);

VlgCamera *vlg_camera_new(const VlgCameraInfo *info, const VlgCameraSettings *settings);
/* Stops pulling at once (no linger). Accepts NULL. */
VlgCamera *vlg_camera_free(VlgCamera *camera);

void vlg_camera_set_notify(VlgCamera *camera, VlgCameraStateNotify notify, gpointer user_data);

/* Demand without media: keeps the camera pulled (always-on, emergencies). */
void vlg_camera_hold(VlgCamera *camera);
void vlg_camera_release(VlgCamera *camera);

/* Demand with media: holds the camera and attaches a hub consumer (see hub.h). */
VlgHubConsumer *vlg_camera_attach(VlgCamera *camera, const VlgHubConsumerFuncs *funcs,
				  gpointer user_data, GDestroyNotify destroy);
void vlg_camera_detach(VlgCamera *camera, VlgHubConsumer *consumer);

const VlgCameraInfo *vlg_camera_get_info(VlgCamera *camera);
const VlgIngestState *vlg_camera_get_state(VlgCamera *camera);
VlgHub *vlg_camera_get_hub(VlgCamera *camera);
/* TRUE when the camera's video, as far as it is known yet, is @media_type (video/x-h265 ...). */
gboolean vlg_camera_video_is(VlgCamera *camera, const char *media_type);
guint vlg_camera_get_holders(VlgCamera *camera);
/* Media bit rate over the last few seconds, kbit/s; 0 when not live. */
double vlg_camera_get_bitrate_kbps(VlgCamera *camera);

G_END_DECLS
