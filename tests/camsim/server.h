/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulator's RTSP server: mounts one camera per clip at rtsp://ADDRESS:PORT/NAME, applies
 * the cameras' faults to RTSP requests (through GstRTSPClient's pre-request signals), drops a
 * downed camera's clients and sessions, and optionally asks every client for digest credentials.
 * Media UDP sockets are bound to the server address only.
 *
 * Main thread only, apart from the signal handlers it installs (which run in RTSP client
 * threads and touch only camera state, which is locked). The server owns its cameras; cameras
 * are added before vlg_camsim_server_start() and stay until vlg_camsim_server_free().
 */
#pragma once

#include "tests/camsim/camera.h"

G_BEGIN_DECLS

typedef struct {
	const gchar *address; /* IP literal to listen on */
	guint port;	      /* 0: any free port */
	const gchar *user;    /* with password: digest auth on every camera; NULL: none */
	const gchar *password;
} VlgCamsimServerOptions;

typedef struct _VlgCamsimServer VlgCamsimServer;

VlgCamsimServer *vlg_camsim_server_new(const VlgCamsimServerOptions *options, GError **error);
void vlg_camsim_server_free(VlgCamsimServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgCamsimServer, vlg_camsim_server_free)

/* Load @path and serve it as @name. */
gboolean vlg_camsim_server_add_camera(VlgCamsimServer *server, const gchar *name, const gchar *path,
				      GError **error);
/* Every .mkv/.mp4 in @dir, named after the file without its extension, in name order. */
gboolean vlg_camsim_server_add_media_dir(VlgCamsimServer *server, const gchar *dir, GError **error);

/* Listen, on the thread-default main context. */
gboolean vlg_camsim_server_start(VlgCamsimServer *server, GError **error);
guint vlg_camsim_server_get_port(VlgCamsimServer *server);

/* Cameras in the order they were added (borrowed). */
const GPtrArray *vlg_camsim_server_get_cameras(VlgCamsimServer *server);
VlgCamsimCamera *vlg_camsim_server_find_camera(VlgCamsimServer *server, const gchar *name);
/* Apply a fault (or clear it with VLG_CAMSIM_STATE_NORMAL); going down closes the camera's RTSP
 * connections and ends its sessions. */
void vlg_camsim_server_set_state(VlgCamsimServer *server, VlgCamsimCamera *camera,
				 VlgCamsimState state, GstRTSPStatusCode code);
/* RTSP connections whose requests named @camera. */
guint vlg_camsim_server_count_clients(VlgCamsimServer *server, VlgCamsimCamera *camera);

G_END_DECLS
