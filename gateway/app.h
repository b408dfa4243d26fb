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

typedef struct {
	VlgGatewayConfig *config;
	VlgCatalogue *catalogue;
	GHashTable *cameras;   /* id -> VlgCamera*, owned */
	GPtrArray *camera_list; /* VlgCamera* in catalogue order, borrowed from cameras */
	VlgHttpRouter *router;
	VlgHttpServer *server;
	GMainLoop *loop;
	gint64 started_us; /* monotonic */
	GHashTable *rtp_sources; /* camera id -> shared RTP source entry, owned */
	struct _VlgWhep *whep;
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

/* The camera's shared RTP source, created on first use; release it once per acquire. The camera
 * is pulled while anyone holds its source. NULL for an unknown camera. */
VlgRtpSource *vlg_app_acquire_rtp_source(VlgApp *app, const char *camera_id);
void vlg_app_release_rtp_source(VlgApp *app, VlgRtpSource *source);
guint vlg_app_count_cameras_in_state(VlgApp *app, VlgIngestStateKind kind);

G_END_DECLS
