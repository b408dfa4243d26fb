/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The running gateway: config, catalogue, one VlgCamera per catalogue camera, the router and the
 * HTTP server. It is the top level that logs operator events (camera state changes), once each.
 *
 * Threads: main loop only. Ownership: vlg_app_new() takes the config and the catalogue.
 */
#pragma once

#include "config/catalogue.h"
#include "config/gateway-config.h"
#include "gateway/auth.h"
#include "gateway/http-router.h"
#include "gateway/http-server.h"
#include "pipelines/camera.h"
#include "pipelines/rtp-source.h"

G_BEGIN_DECLS

/* A camera's native sub-stream, run as a camera of its own. */
typedef struct {
	VlgCameraInfo info; /* a copy of the main camera's, with url = sub-url; owns only id */
	VlgCamera *camera;
} SubCamera;

typedef struct {
	VlgGatewayConfig *config;
	VlgCatalogue *catalogue;
	GHashTable *cameras;   /* id -> VlgCamera*, owned */
	GPtrArray *camera_list; /* VlgCamera* in catalogue order, borrowed from cameras */
	GHashTable *sub_cameras; /* camera id -> SubCamera*, owned: cameras with a sub-url */
	VlgHttpRouter *router;
	VlgHttpServer *server;
	GMainLoop *loop;
	gint64 started_us; /* monotonic */
	struct _VlgStreams *streams; /* one RTP source per (camera, profile), shared */
	struct _VlgWhep *whep;
	struct _VlgFmp4Endpoint *fmp4;
	VlgAuth *auth;
} VlgApp;

/* Takes @config, @catalogue and @auth. */
VlgApp *vlg_app_new(VlgGatewayConfig *config, VlgCatalogue *catalogue, VlgAuth *auth,
		    GMainLoop *loop, GError **error);
VlgApp *vlg_app_free(VlgApp *app);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgApp, vlg_app_free)

VlgCamera *vlg_app_find_camera(VlgApp *app, const char *id);
/* The camera @principal may see, or NULL, whether it is unknown or outside its subtree (callers
 * answer both the same way). */
VlgCamera *vlg_app_find_visible_camera(VlgApp *app, const VlgPrincipal *principal,
				       const char *id);
/* The principal a token names, or NULL; refusals are logged here, once, without the token. */
VlgPrincipal *vlg_app_authenticate(VlgApp *app, const char *token, const char *peer);

/* The shared RTP source of @camera_id in @profile_name (NULL: main), created on first use (a
 * transcode when the profile needs one, or @transcode_main); release it once per acquire. The
 * camera is pulled while anyone holds a source of it. NULL with @error for an unknown camera or
 * profile, or past the transcode budget. */
VlgRtpSource *vlg_app_acquire_stream(VlgApp *app, const char *camera_id,
				     const char *profile_name, gboolean transcode_main,
				     GError **error);
void vlg_app_release_stream(VlgApp *app, VlgRtpSource *source);
guint vlg_app_count_cameras_in_state(VlgApp *app, VlgIngestStateKind kind);

G_END_DECLS
