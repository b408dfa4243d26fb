/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gateway.conf: start from the built-in defaults, then let each group of the file override them
 * through a table (group, key) -> parser. Every key is checked; unknown groups and keys are errors
 * because a typo silently ignored is a setting silently lost. All errors go to the key-file index,
 * which names their lines and returns them together.
 */
#include "config/gateway-config.h"

#include <gio/gio.h>
#include <string.h>

#include "config/catalogue.h"
#include "config/keyfile-index.h"
#include "config/vlg-error.h"

#define VLG_GATEWAY_CONFIG_RESOURCE "/org/linkage/gateway/config/defaults/gateway.conf"
#define VLG_PROFILE_NAME_MAX 32

typedef struct {
	VlgKeyfileIndex *index;
	VlgGatewayConfig *config;
} VlgConfigParse;

typedef enum {
	VLG_KEY_REQUIRED = 1 << 0, /* an empty value is an error, not "unset" */
	VLG_KEY_EVEN = 1 << 1,
} VlgKeyFlags;

typedef struct _VlgConfigKey VlgConfigKey;
/* Reads @def->key of @group and stores it at @base + @def->offset, or records an error. */
typedef void (*VlgConfigKeyParser)(VlgConfigParse *parse, const VlgConfigKey *def,
				   const char *group, guint8 *base);

struct _VlgConfigKey {
	const char *group; /* NULL for profile keys, which apply to every [profile NAME] */
	const char *key;
	VlgConfigKeyParser parse;
	gsize offset;
	guint min;
	guint max;
	VlgKeyFlags flags;
};

static void
parse_uint(VlgConfigParse *parse, const VlgConfigKey *def, const char *group, guint8 *base)
{
	guint number;

	if (!vlg_keyfile_index_get_uint(parse->index, group, def->key, def->min, def->max, &number))
		return;
	if ((def->flags & VLG_KEY_EVEN) && number % 2 != 0) {
		/* Read again to show the value as written: it was read without error once. */
		g_autofree char *value =
			g_key_file_get_string(vlg_keyfile_index_keyfile(parse->index), group,
					      def->key, NULL);

		vlg_keyfile_index_error(parse->index, group, def->key, value,
					"must be an even number");
		return;
	}
	*(guint *)(base + def->offset) = number;
}

static void
parse_bool(VlgConfigParse *parse, const VlgConfigKey *def, const char *group, guint8 *base)
{
	vlg_keyfile_index_get_boolean(parse->index, group, def->key,
				      (gboolean *)(base + def->offset));
}

/* A path, kept as written (relative ones too); empty means unset unless the key is required. */
static void
parse_path(VlgConfigParse *parse, const VlgConfigKey *def, const char *group, guint8 *base)
{
	char **field = (char **)(base + def->offset);
	g_autofree char *value = NULL;

	if (!vlg_keyfile_index_get_string(parse->index, group, def->key, &value))
		return;
	if (*value == '\0' && (def->flags & VLG_KEY_REQUIRED)) {
		vlg_keyfile_index_error(parse->index, group, def->key, NULL, "must not be empty");
		return;
	}
	g_free(*field);
	*field = *value != '\0' ? g_steal_pointer(&value) : NULL;
}

static void
parse_transport(VlgConfigParse *parse, const VlgConfigKey *def, const char *group, guint8 *base)
{
	guint choice;

	if (vlg_keyfile_index_get_choice(parse->index, group, def->key, vlg_transport_names(),
					 &choice))
		*(VlgTransport *)(base + def->offset) = (VlgTransport)choice;
}

static gboolean
is_ip_literal(const char *text, GSocketFamily family)
{
	g_autoptr(GInetAddress) address = g_inet_address_new_from_string(text);

	return address != NULL && g_inet_address_get_family(address) == family;
}

/* host:port with host an IPv4 literal, [an IPv6 literal] or localhost; NULL or the reason. */
static const char *
split_listen(const char *value, char **host, guint16 *port)
{
	g_autofree char *name = NULL;
	const char *colon;
	guint64 number;

	if (*value == '[') {
		const char *close = strchr(value, ']');

		if (close == NULL || close[1] != ':')
			return "must be [IPV6]:PORT, as in [::1]:8080";
		name = g_strndup(value + 1, close - value - 1);
		if (!is_ip_literal(name, G_SOCKET_FAMILY_IPV6))
			return "the address in brackets is not an IPv6 literal";
		colon = close + 1;
	} else {
		colon = strrchr(value, ':');
		if (colon == NULL)
			return "must be ADDRESS:PORT, as in 127.0.0.1:8080";
		name = g_strndup(value, colon - value);
		if (strchr(name, ':') != NULL)
			return "an IPv6 address goes in brackets, as in [::1]:8080";
		if (!g_str_equal(name, "localhost") && !is_ip_literal(name, G_SOCKET_FAMILY_IPV4))
			return "the address must be an IPv4 literal, [an IPv6 one] or localhost";
	}
	if (!g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &number, NULL))
		return "the port must be a number from 1 to 65535";
	*host = g_steal_pointer(&name);
	*port = (guint16)number;
	return NULL;
}

static void
parse_listen(VlgConfigParse *parse, const VlgConfigKey *def, const char *group, guint8 *base)
{
	VlgGatewayConfig *config = (VlgGatewayConfig *)base;
	g_autofree char *value = NULL;
	char *host = NULL;
	guint16 port = 0;
	const char *why;

	if (!vlg_keyfile_index_get_string(parse->index, group, def->key, &value))
		return;
	why = split_listen(value, &host, &port);
	if (why != NULL) {
		vlg_keyfile_index_error(parse->index, group, def->key, value, "%s", why);
		return;
	}
	g_free(config->listen_address);
	config->listen_address = host;
	config->listen_port = port;
}

/* stun://host[:port] or turn[s]://user:password@host[:port][?transport=udp|tcp], as webrtcbin's
 * stun-server and turn-server take them; NULL or the reason. */
static const char *
check_ice_url(const char *url, gboolean turn)
{
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_HAS_PASSWORD, NULL);
	const char *scheme;
	const char *query;

	if (uri == NULL || !strstr(url, "://"))
		return turn ? "not a turn://user:password@host:port URL"
			    : "not a stun://host:port URL";
	scheme = g_uri_get_scheme(uri);
	if (!turn && !g_str_equal(scheme, "stun"))
		return "the scheme must be stun://";
	if (turn && !g_str_equal(scheme, "turn") && !g_str_equal(scheme, "turns"))
		return "the scheme must be turn:// or turns://";
	if (!vlg_url_host_is_valid(g_uri_get_host(uri)))
		return "no valid host";
	if (*g_uri_get_path(uri) != '\0' && !g_str_equal(g_uri_get_path(uri), "/"))
		return "an ICE server URL has no path";
	if (g_uri_get_fragment(uri) != NULL)
		return "an ICE server URL has no #fragment";
	query = g_uri_get_query(uri);
	if (!turn && (query != NULL || g_uri_get_user(uri) != NULL))
		return "a STUN URL has no user nor ?query";
	if (turn && query != NULL && !g_str_equal(query, "transport=udp") &&
	    !g_str_equal(query, "transport=tcp"))
		return "the only query a TURN URL takes is ?transport=udp or ?transport=tcp";
	if (turn && (g_uri_get_user(uri) == NULL || *g_uri_get_user(uri) == '\0' ||
		     g_uri_get_password(uri) == NULL || *g_uri_get_password(uri) == '\0'))
		return "a TURN URL needs user:password@";
	return NULL;
}

/* A ;-separated list; each item trimmed, then checked by @check (NULL or the reason). The items
 * are shown through vlg_url_redact() so that no TURN password reaches a message. */
static void
parse_list(VlgConfigParse *parse, const VlgConfigKey *def, const char *group, guint8 *base,
	   const char *(*check)(const char *item, gboolean turn), gboolean turn)
{
	char ***field = (char ***)(base + def->offset);
	g_auto(GStrv) items = NULL;
	g_autoptr(GStrvBuilder) kept = g_strv_builder_new();
	gboolean ok = TRUE;

	if (!vlg_keyfile_index_get_string_list(parse->index, group, def->key, &items))
		return;
	for (guint i = 0; items[i] != NULL; i++) {
		const char *item = g_strstrip(items[i]);
		const char *why = *item == '\0' ? "empty list item" : check(item, turn);

		if (why != NULL) {
			g_autofree char *shown = vlg_url_redact(item);

			vlg_keyfile_index_error(parse->index, group, def->key, shown, "%s", why);
			ok = FALSE;
			continue;
		}
		g_strv_builder_add(kept, item);
	}
	if (!ok)
		return;
	g_strfreev(*field);
	*field = g_strv_builder_end(kept);
}

static const char *
check_address(const char *item, G_GNUC_UNUSED gboolean turn)
{
	return g_hostname_is_ip_address(item) ? NULL : "not an IP address literal";
}

static void
parse_stun(VlgConfigParse *parse, const VlgConfigKey *def, const char *group, guint8 *base)
{
	parse_list(parse, def, group, base, check_ice_url, FALSE);
}

static void
parse_turn(VlgConfigParse *parse, const VlgConfigKey *def, const char *group, guint8 *base)
{
	parse_list(parse, def, group, base, check_ice_url, TRUE);
}

static void
parse_addresses(VlgConfigParse *parse, const VlgConfigKey *def, const char *group, guint8 *base)
{
	parse_list(parse, def, group, base, check_address, FALSE);
}

#define CONFIG_FIELD(name) G_STRUCT_OFFSET(VlgGatewayConfig, name)
#define PROFILE_FIELD(name) G_STRUCT_OFFSET(VlgProfile, name)

static const VlgConfigKey config_keys[] = {
	{ "gateway", "listen", parse_listen, 0, 0, 0, 0 },
	{ "gateway", "catalogue", parse_path, CONFIG_FIELD(catalogue_path), 0, 0, 0 },
	{ "gateway", "state-dir", parse_path, CONFIG_FIELD(state_dir), 0, 0, VLG_KEY_REQUIRED },
	{ "gateway", "web-root", parse_path, CONFIG_FIELD(web_root), 0, 0, 0 },
	{ "gateway", "tls-certificate", parse_path, CONFIG_FIELD(tls_certificate), 0, 0, 0 },
	{ "gateway", "tls-private-key", parse_path, CONFIG_FIELD(tls_private_key), 0, 0, 0 },
	{ "gateway", "metrics-require-token", parse_bool, CONFIG_FIELD(metrics_require_token), 0,
	  0, 0 },
	{ "auth", "hs256", parse_bool, CONFIG_FIELD(hs256_enabled), 0, 0, 0 },
	{ "auth", "hs256-secret-file", parse_path, CONFIG_FIELD(hs256_secret_file), 0, 0, 0 },
	{ "auth", "es256-public-key-file", parse_path, CONFIG_FIELD(es256_public_key_file), 0, 0,
	  0 },
	{ "auth", "audience", parse_path, CONFIG_FIELD(token_audience), 0, 0, VLG_KEY_REQUIRED },
	{ "auth", "issuer", parse_path, CONFIG_FIELD(token_issuer), 0, 0, 0 },
	{ "auth", "leeway", parse_uint, CONFIG_FIELD(token_leeway_seconds), 0, 300, 0 },
	{ "limits", "max-body", parse_uint, CONFIG_FIELD(max_body_bytes), 1024, 16777216, 0 },
	{ "limits", "max-connections-per-peer", parse_uint, CONFIG_FIELD(max_connections_per_peer),
	  1, 10000, 0 },
	{ "limits", "max-websocket-message", parse_uint, CONFIG_FIELD(max_websocket_message), 1024,
	  16777216, 0 },
	{ "ingest", "transport", parse_transport, CONFIG_FIELD(default_transport), 0, 0, 0 },
	{ "ingest", "linger", parse_uint, CONFIG_FIELD(linger_seconds), 0, 3600, 0 },
	{ "ingest", "watchdog", parse_uint, CONFIG_FIELD(watchdog_seconds), 1, 300, 0 },
	{ "ingest", "connect-timeout", parse_uint, CONFIG_FIELD(connect_timeout_seconds), 1, 300,
	  0 },
	{ "ingest", "latency", parse_uint, CONFIG_FIELD(rtsp_latency_ms), 0, 5000, 0 },
	{ "ingest", "backoff-cap", parse_uint, CONFIG_FIELD(backoff_cap_seconds), 1, 3600, 0 },
	{ "ingest", "auth-backoff", parse_uint, CONFIG_FIELD(auth_backoff_seconds), 1, 3600, 0 },
	{ "budget", "egress-kbps", parse_uint, CONFIG_FIELD(egress_kbps), 0, 100000000, 0 },
	{ "budget", "transcodes", parse_uint, CONFIG_FIELD(max_transcodes), 0, 256, 0 },
	{ "ice", "stun", parse_stun, CONFIG_FIELD(stun_servers), 0, 0, 0 },
	{ "ice", "turn", parse_turn, CONFIG_FIELD(turn_servers), 0, 0, 0 },
	{ "ice", "addresses", parse_addresses, CONFIG_FIELD(ice_addresses), 0, 0, 0 },
};

static const VlgConfigKey profile_keys[] = {
	{ NULL, "passthrough", parse_bool, PROFILE_FIELD(passthrough), 0, 0, 0 },
	{ NULL, "keyframes-only", parse_bool, PROFILE_FIELD(keyframes_only), 0, 0, 0 },
	{ NULL, "width", parse_uint, PROFILE_FIELD(width), 16, 7680, VLG_KEY_EVEN },
	{ NULL, "height", parse_uint, PROFILE_FIELD(height), 16, 4320, VLG_KEY_EVEN },
	{ NULL, "fps", parse_uint, PROFILE_FIELD(fps), 1, 120, 0 },
	{ NULL, "bitrate", parse_uint, PROFILE_FIELD(bitrate_kbps), 16, 100000, 0 },
};

/* The keys a transcoded profile must have and the others must not: profile_keys[2..5]. */
#define VLG_PROFILE_SIZE_KEYS 2

static const VlgConfigKey *
find_key(const VlgConfigKey *table, gsize n, const char *group, const char *key)
{
	for (gsize i = 0; i < n; i++) {
		if ((table[i].group == NULL || g_str_equal(table[i].group, group)) &&
		    g_str_equal(table[i].key, key))
			return &table[i];
	}
	return NULL;
}

/* Parses every key of @group against @table into @base; keys not in the table are errors. */
static void
parse_group_keys(VlgConfigParse *parse, const char *group, const VlgConfigKey *table, gsize n,
		 guint8 *base)
{
	const char *const *keys = vlg_keyfile_index_keys(parse->index, group);

	for (guint i = 0; keys[i] != NULL; i++) {
		const VlgConfigKey *def = find_key(table, n, group, keys[i]);

		if (def == NULL)
			vlg_keyfile_index_error(parse->index, group, keys[i], NULL, "unknown key");
		else
			def->parse(parse, def, group, base);
	}
}

static gboolean
group_has_keys(const char *group)
{
	for (gsize i = 0; i < G_N_ELEMENTS(config_keys); i++) {
		if (g_str_equal(config_keys[i].group, group))
			return TRUE;
	}
	return FALSE;
}

static VlgProfile *
profile_new(const char *name, gboolean passthrough, gboolean keyframes_only, guint width,
	    guint height, guint fps, guint bitrate_kbps)
{
	VlgProfile *profile = g_new0(VlgProfile, 1);

	profile->name = g_strdup(name);
	profile->passthrough = passthrough;
	profile->keyframes_only = keyframes_only;
	profile->width = width;
	profile->height = height;
	profile->fps = fps;
	profile->bitrate_kbps = bitrate_kbps;
	return profile;
}

static void
profile_free(gpointer data)
{
	VlgProfile *profile = data;

	g_free(profile->name);
	g_free(profile);
}

/* A profile is exactly one of: passthrough, keyframes-only (the camera's own keyframes), or
 * transcoded (all of width, height, fps and bitrate). Settings it inherits from a built-in profile
 * give way to what its group says; contradictions written in the group are errors. */
static void
check_profile(VlgConfigParse *parse, const char *group, VlgProfile *profile)
{
	VlgKeyfileIndex *index = parse->index;
	gboolean set_pass = vlg_keyfile_index_key_line(index, group, "passthrough") > 0;
	gboolean set_key = vlg_keyfile_index_key_line(index, group, "keyframes-only") > 0;
	g_autoptr(GString) missing = g_string_new(NULL);

	if (set_pass && !set_key && profile->passthrough)
		profile->keyframes_only = FALSE;
	if (set_key && !set_pass && profile->keyframes_only)
		profile->passthrough = FALSE;
	if (profile->passthrough && profile->keyframes_only) {
		vlg_keyfile_index_error(index, group, "keyframes-only", NULL,
					"a profile cannot be both passthrough and keyframes-only");
		return;
	}
	for (gsize i = VLG_PROFILE_SIZE_KEYS; i < G_N_ELEMENTS(profile_keys); i++) {
		const char *key = profile_keys[i].key;
		guint *field = (guint *)((guint8 *)profile + profile_keys[i].offset);
		gboolean set = vlg_keyfile_index_key_line(index, group, key) > 0;

		if (profile->passthrough || profile->keyframes_only) {
			if (set)
				vlg_keyfile_index_error(index, group, key, NULL,
							"a %s profile keeps the camera's frames, "
							"so it takes no %s",
							profile->passthrough ? "passthrough"
									     : "keyframes-only",
							key);
			*field = 0;
		} else if (*field == 0 && !set) {
			g_string_append_printf(missing, "%s%s", missing->len > 0 ? ", " : "", key);
		}
	}
	if (missing->len > 0)
		vlg_keyfile_index_error(index, group, NULL, NULL,
					"missing %s: a transcoded profile needs width, height, fps "
					"and bitrate",
					missing->str);
}

static void
parse_profile(VlgConfigParse *parse, const char *group, const char *name)
{
	VlgProfile *profile;

	if (!vlg_keyfile_index_check_name(parse->index, group, "a profile name", name,
					  VLG_PROFILE_NAME_MAX))
		return;
	profile = (VlgProfile *)vlg_gateway_config_find_profile(parse->config, name);
	if (profile == NULL) {
		profile = profile_new(name, FALSE, FALSE, 0, 0, 0, 0);
		g_ptr_array_add(parse->config->profiles, profile);
	}
	parse_group_keys(parse, group, profile_keys, G_N_ELEMENTS(profile_keys),
			 (guint8 *)profile);
	check_profile(parse, group, profile);
}

static void
check_tls(VlgConfigParse *parse)
{
	VlgGatewayConfig *config = parse->config;
	const char *key;

	if ((config->tls_certificate == NULL) == (config->tls_private_key == NULL))
		return;
	key = config->tls_certificate != NULL ? "tls-certificate" : "tls-private-key";
	vlg_keyfile_index_error(parse->index, "gateway", key, NULL,
				"set both tls-certificate and tls-private-key, or neither");
}

/* A gateway nobody can open is a mistake, not a secure setting. */
static void
check_auth_keys(VlgConfigParse *parse)
{
	VlgGatewayConfig *config = parse->config;

	if (config->hs256_enabled || config->es256_public_key_file != NULL)
		return;
	vlg_keyfile_index_error(parse->index, "auth", "hs256", NULL,
				"with hs256=false, es256-public-key-file must name a key, or no "
				"token could ever be accepted");
}

/* The defaults the comments in gateway-config.h give: a file may leave out any key. */
static VlgGatewayConfig *
config_new_defaults(void)
{
	VlgGatewayConfig *config = g_new0(VlgGatewayConfig, 1);

	config->listen_address = g_strdup("127.0.0.1");
	config->listen_port = 8080;
	config->state_dir = g_strdup("/var/lib/linkage-gateway");
	config->hs256_enabled = TRUE;
	config->token_audience = g_strdup("linkage-gateway");
	config->token_leeway_seconds = 30;
	config->max_body_bytes = 65536;
	config->max_connections_per_peer = 32;
	config->max_websocket_message = 65536;
	config->default_transport = VLG_TRANSPORT_TCP;
	config->linger_seconds = 10;
	config->watchdog_seconds = 5;
	config->connect_timeout_seconds = 10;
	config->rtsp_latency_ms = 100;
	config->backoff_cap_seconds = 30;
	config->auth_backoff_seconds = 60;
	config->max_transcodes = 4;
	config->stun_servers = g_new0(char *, 1);
	config->turn_servers = g_new0(char *, 1);
	config->ice_addresses = g_new0(char *, 1);
	config->profiles = g_ptr_array_new_with_free_func(profile_free);
	g_ptr_array_add(config->profiles, profile_new("main", TRUE, FALSE, 0, 0, 0, 0));
	g_ptr_array_add(config->profiles, profile_new("sub", FALSE, FALSE, 640, 360, 15, 600));
	g_ptr_array_add(config->profiles, profile_new("low", FALSE, FALSE, 320, 180, 5, 150));
	g_ptr_array_add(config->profiles, profile_new("key", FALSE, TRUE, 0, 0, 0, 0));
	return config;
}

static VlgGatewayConfig *
config_load(VlgKeyfileIndex *index, GError **error)
{
	g_autoptr(VlgGatewayConfig) config = config_new_defaults();
	VlgConfigParse parse = { index, config };
	const char *const *groups = vlg_keyfile_index_groups(index);

	for (guint i = 0; groups[i] != NULL; i++) {
		const char *group = groups[i];

		if (group_has_keys(group))
			parse_group_keys(&parse, group, config_keys, G_N_ELEMENTS(config_keys),
					 (guint8 *)config);
		else if (g_str_has_prefix(group, "profile "))
			parse_profile(&parse, group, group + strlen("profile "));
		else
			vlg_keyfile_index_error(index, group, NULL, NULL,
						"unknown group (known: gateway, auth, limits, "
						"ingest, budget, ice, profile NAME)");
	}
	check_tls(&parse);
	check_auth_keys(&parse);
	if (!vlg_keyfile_index_check(index, VLG_ERROR_CONFIG, error))
		return NULL;
	return g_steal_pointer(&config);
}

VlgGatewayConfig *
vlg_gateway_config_load_data(const char *data, gsize length, const char *source_name,
			     GError **error)
{
	g_autoptr(VlgKeyfileIndex) index = vlg_keyfile_index_new(data, length, source_name);

	return config_load(index, error);
}

VlgGatewayConfig *
vlg_gateway_config_load_file(const char *path, GError **error)
{
	g_autoptr(VlgKeyfileIndex) index =
		vlg_keyfile_index_new_from_file(path, VLG_ERROR_CONFIG, error);

	return index != NULL ? config_load(index, error) : NULL;
}

VlgGatewayConfig *
vlg_gateway_config_load_default(GError **error)
{
	g_autoptr(VlgKeyfileIndex) index =
		vlg_keyfile_index_new_from_resource(VLG_GATEWAY_CONFIG_RESOURCE, VLG_ERROR_CONFIG,
						    error);

	return index != NULL ? config_load(index, error) : NULL;
}

const VlgProfile *
vlg_gateway_config_find_profile(const VlgGatewayConfig *config, const char *name)
{
	for (guint i = 0; i < config->profiles->len; i++) {
		const VlgProfile *profile = g_ptr_array_index(config->profiles, i);

		if (g_str_equal(profile->name, name))
			return profile;
	}
	return NULL;
}

VlgGatewayConfig *
vlg_gateway_config_free(VlgGatewayConfig *config)
{
	if (config == NULL)
		return NULL;
	g_free(config->listen_address);
	g_free(config->catalogue_path);
	g_free(config->state_dir);
	g_free(config->web_root);
	g_free(config->tls_certificate);
	g_free(config->tls_private_key);
	g_free(config->hs256_secret_file);
	g_free(config->es256_public_key_file);
	g_free(config->token_audience);
	g_free(config->token_issuer);
	g_strfreev(config->stun_servers);
	g_strfreev(config->turn_servers);
	g_strfreev(config->ice_addresses);
	if (config->profiles != NULL)
		g_ptr_array_unref(config->profiles);
	g_free(config);
	return NULL;
}

/* Indexed by VlgTransport. */
static const char *const transport_names[] = {
	[VLG_TRANSPORT_TCP] = "tcp",
	[VLG_TRANSPORT_UDP] = "udp",
	NULL,
};

const char *
vlg_transport_to_string(VlgTransport transport)
{
	if ((guint)transport >= G_N_ELEMENTS(transport_names) - 1)
		return "unknown";
	return transport_names[transport];
}

const char *const *
vlg_transport_names(void)
{
	return transport_names;
}
