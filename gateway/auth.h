/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who is asking: tokens in, principals out. A principal is a viewer bound to one org node with a
 * role and a display name, taken from a JWT the command platform signed (jwt.h does the
 * cryptography; this module holds the keys named in gateway.conf and checks the application
 * claims). The HTTP router and the WebSocket layer call vlg_auth_check_token() for every request
 * that is not public, so no handler sees a request without a principal. Pure code: no GStreamer,
 * no libwebsockets.
 *
 * Threads: main loop (keys are read once; checks do not block). Ownership: the caller owns the
 * VlgAuth and every principal returned (refcounted, shared by a WebSocket and its wall).
 * Messages never contain a token or a secret.
 */
#pragma once

#include <glib.h>

#include "config/catalogue.h"
#include "config/gateway-config.h"

G_BEGIN_DECLS

typedef enum {
	VLG_ROLE_VIEWER,   /* watches */
	VLG_ROLE_OPERATOR, /* watches, pins feeds, declares emergencies */
	VLG_ROLE_ADMIN,    /* all of that, and reads the audit log */
} VlgRole;

typedef struct {
	gint refcount;
	char org[13];      /* the node this viewer is bound to: 12-digit division code */
	VlgOrgLevel level; /* derived from the code */
	VlgRole role;
	char *name;        /* display name from the token, for logs and the audit trail */
	gint64 expires_at; /* exp, seconds since the epoch */
} VlgPrincipal;

VlgPrincipal *vlg_principal_new(const char *org, VlgRole role, const char *name,
				gint64 expires_at);
VlgPrincipal *vlg_principal_ref(VlgPrincipal *principal);
void vlg_principal_unref(VlgPrincipal *principal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgPrincipal, vlg_principal_unref)
/* TRUE once exp (plus the configured leeway the token was checked with) has passed. */
gboolean vlg_principal_is_expired(const VlgPrincipal *principal, gint64 now_seconds);
/* TRUE when @principal's role is @least or above. */
gboolean vlg_principal_has_role(const VlgPrincipal *principal, VlgRole least);

const char *vlg_role_to_string(VlgRole role);
gboolean vlg_role_from_string(const char *text, VlgRole *role);

typedef struct _VlgAuth VlgAuth;

/* Loads the keys gateway.conf names ([auth]). With @create_secret, a missing default HS256
 * secret file (STATE_DIR/jwt-secret) is made with 32 random bytes, mode 0600; without it (as in
 * --check-config) a missing default file is fine and nothing is written. Errors name the key and
 * the file. */
VlgAuth *vlg_auth_new(const VlgGatewayConfig *config, gboolean create_secret, GError **error);
VlgAuth *vlg_auth_free(VlgAuth *auth);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgAuth, vlg_auth_free)

/* The principal a token names, or NULL with the reason in @error (for the log only: clients get
 * one answer whatever the reason). @now_seconds: wall-clock time, seconds since the epoch. */
VlgPrincipal *vlg_auth_check_token(VlgAuth *auth, const char *token, gint64 now_seconds,
				   GError **error);
/* The token in an "Authorization: Bearer TOKEN" header value (scheme case-insensitive). */
const char *vlg_auth_bearer_token(const char *authorization);

/* A new HS256 token for @org, for installers and tests. FALSE-y (NULL) when HS256 is off. */
char *vlg_auth_mint(VlgAuth *auth, const char *org, VlgRole role, const char *name,
		    guint ttl_seconds, gint64 now_seconds, GError **error);

/* Where the HS256 secret lives for @config (the configured file or the default one). */
char *vlg_auth_secret_path(const VlgGatewayConfig *config);

G_END_DECLS
