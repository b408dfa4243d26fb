/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gateway.conf: the daemon's settings (listen address, limits, ingest timings, profiles, ICE,
 * budgets, paths), parsed from a GKeyFile and validated. Pure data, no threads of its own: load on
 * the main thread, then read it from anywhere (it is never changed after loading; a reload builds
 * a new one). The caller owns what the loaders return and frees it with vlg_gateway_config_free().
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
	VLG_TRANSPORT_TCP,
	VLG_TRANSPORT_UDP,
} VlgTransport;

/* One output profile: main is the camera's own stream; the others are sizes a wall may ask for. */
typedef struct {
	char *name;         /* "main", "sub", "low", "key" or a user-defined one */
	gboolean passthrough; /* TRUE for main: the camera's stream untouched */
	gboolean keyframes_only;
	guint width;        /* 0 when passthrough */
	guint height;
	guint fps;
	guint bitrate_kbps;
} VlgProfile;

typedef struct {
	/* [gateway] */
	char *listen_address; /* "127.0.0.1" */
	guint16 listen_port;  /* 8080 */
	char *catalogue_path; /* NULL: the embedded demo catalogue */
	char *state_dir;      /* /var/lib/linkage-gateway */
	char *web_root;       /* NULL: the built-in wall files */
	char *tls_certificate; /* NULL: plain HTTP */
	char *tls_private_key;
	gboolean metrics_require_token;

	/* [auth]: tokens (see gateway/auth.h) */
	gboolean hs256_enabled;        /* TRUE */
	char *hs256_secret_file;       /* NULL: STATE_DIR/jwt-secret, made on first start */
	char *es256_public_key_file;   /* NULL: no ES256 key */
	char *token_audience;          /* "linkage-gateway" */
	char *token_issuer;            /* NULL: not checked */
	guint token_leeway_seconds;    /* 30 */

	/* [limits] */
	guint max_body_bytes;           /* 65536: larger request bodies get 413 */
	guint max_connections_per_peer; /* 32 */
	guint max_websocket_message;    /* 65536 */

	/* [ingest] */
	VlgTransport default_transport; /* tcp */
	guint linger_seconds;           /* 10: keep pulling this long after the last viewer leaves */
	guint watchdog_seconds;         /* 5: no buffer for this long means the camera stalled */
	guint connect_timeout_seconds;  /* 10: connecting for longer than this is a failed attempt */
	guint rtsp_latency_ms;          /* 100: rtspsrc jitterbuffer */
	guint backoff_cap_seconds;      /* 30 */
	guint auth_backoff_seconds;     /* 60: delay after 401/404 */

	/* [budget] */
	guint egress_kbps;    /* 0 = unlimited */
	guint max_transcodes; /* 0 = none allowed */

	/* [ice] */
	char **stun_servers; /* NULL-terminated, stun://host:port */
	char **turn_servers; /* turn://user:pass@host:port */
	char **ice_addresses; /* local addresses to gather on; empty = all interfaces */

	/* [profile NAME] groups, in file order; always holds main, sub, low and key */
	GPtrArray *profiles; /* of VlgProfile*, owned */
} VlgGatewayConfig;

/* Parses @data (the text of a gateway.conf) named @source_name in messages. Every error found is
 * reported, one per line, as "source:line: [group] key: what is wrong". */
VlgGatewayConfig *vlg_gateway_config_load_data(const char *data, gsize length,
					       const char *source_name, GError **error);
VlgGatewayConfig *vlg_gateway_config_load_file(const char *path, GError **error);
/* The built-in defaults (embedded config/defaults/gateway.conf): the demo runs on these. */
VlgGatewayConfig *vlg_gateway_config_load_default(GError **error);

const VlgProfile *vlg_gateway_config_find_profile(const VlgGatewayConfig *config, const char *name);

VlgGatewayConfig *vlg_gateway_config_free(VlgGatewayConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgGatewayConfig, vlg_gateway_config_free)

const char *vlg_transport_to_string(VlgTransport transport);
/* "tcp", "udp": the names of the transports indexed by VlgTransport, NULL-terminated. */
const char *const *vlg_transport_names(void);

G_END_DECLS
