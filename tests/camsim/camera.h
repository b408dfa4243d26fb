/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One simulated camera: a name, its clip, the RTSP media factory that serves it, and the fault
 * the operator injected (down, stall, or a fixed status code).
 *
 * The factory makes one shared live media per camera, `appsrc name=video ! <payloader> name=pay0`
 * (plus `appsrc name=audio ! ... name=pay1`), and gives each new media a feeder that plays the
 * clip into it. The camera tags each media so that the server can find a camera's sessions.
 *
 * The fault state is read from RTSP client threads and feeder threads and written from the main
 * thread: it has its own lock. Everything else is set at creation and read-only. The camera owns
 * its clip and factory; it must outlive every media its factory made (the server tears the
 * sessions down before freeing cameras).
 */
#pragma once

#include <gst/rtsp-server/rtsp-server.h>

#include "tests/camsim/clip.h"

G_BEGIN_DECLS

typedef enum {
	VLG_CAMSIM_STATE_NORMAL,
	VLG_CAMSIM_STATE_DOWN,	 /* refuses requests with 503; the server drops its clients */
	VLG_CAMSIM_STATE_STALL,	 /* sessions stay, no media flows */
	VLG_CAMSIM_STATE_STATUS, /* answers every request with a fixed status code */
} VlgCamsimState;

typedef struct _VlgCamsimCamera VlgCamsimCamera;

/* Takes @clip. */
VlgCamsimCamera *vlg_camsim_camera_new(const gchar *name, VlgCamsimClip *clip);
void vlg_camsim_camera_free(VlgCamsimCamera *camera);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgCamsimCamera, vlg_camsim_camera_free)

const gchar *vlg_camsim_camera_get_name(const VlgCamsimCamera *camera);
const VlgCamsimClip *vlg_camsim_camera_get_clip(const VlgCamsimCamera *camera);
/* Borrowed: the server mounts it and sets its address pool and roles. */
GstRTSPMediaFactory *vlg_camsim_camera_get_factory(VlgCamsimCamera *camera);

/* @code is used with VLG_CAMSIM_STATE_STATUS only. */
void vlg_camsim_camera_set_state(VlgCamsimCamera *camera, VlgCamsimState state,
				 GstRTSPStatusCode code);
/* "normal", "down", "stall", "status-401"...: newly allocated. */
gchar *vlg_camsim_camera_describe_state(VlgCamsimCamera *camera);
/* The status to answer any request for this camera with: GST_RTSP_STS_OK to serve it. */
GstRTSPStatusCode vlg_camsim_camera_answer(VlgCamsimCamera *camera);
/* The camera whose factory made @media, or NULL. */
VlgCamsimCamera *vlg_camsim_camera_from_media(GstRTSPMedia *media);

/* Whether @name can be a camera name (and so a URL path segment). */
gboolean vlg_camsim_camera_name_is_valid(const gchar *name);

G_END_DECLS
