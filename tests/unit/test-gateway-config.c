/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of gateway.conf loading (config/gateway-config.c) and of the key-file index under it
 * (config/keyfile-index.c): defaults, a full file, every kind of bad value naming its line, errors
 * reported together, and no secret in any message.
 */
#include <check.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "config/gateway-config.h"
#include "config/keyfile-index.h"
#include "config/vlg-error.h"

/* Loads @text as "bad.conf" and asserts it fails; the caller frees the message. */
static char *
load_error(const char *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgGatewayConfig) config = NULL;

	config = vlg_gateway_config_load_data(text, -1, "bad.conf", &error);
	ck_assert_msg(config == NULL, "loaded although bad:\n%s", text);
	ck_assert_ptr_nonnull(error);
	ck_assert(g_error_matches(error, VLG_ERROR, VLG_ERROR_CONFIG));
	return g_strdup(error->message);
}

static void
assert_profile(const VlgGatewayConfig *config, const char *name, gboolean passthrough,
	       gboolean keyframes_only, guint width, guint height, guint fps, guint bitrate)
{
	const VlgProfile *profile = vlg_gateway_config_find_profile(config, name);

	ck_assert_msg(profile != NULL, "no profile %s", name);
	ck_assert_str_eq(profile->name, name);
	ck_assert_int_eq(profile->passthrough, passthrough);
	ck_assert_int_eq(profile->keyframes_only, keyframes_only);
	ck_assert_uint_eq(profile->width, width);
	ck_assert_uint_eq(profile->height, height);
	ck_assert_uint_eq(profile->fps, fps);
	ck_assert_uint_eq(profile->bitrate_kbps, bitrate);
}

START_TEST(test_defaults_embedded)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgGatewayConfig) config = vlg_gateway_config_load_default(&error);

	ck_assert_msg(config != NULL, "%s", error ? error->message : "?");
	ck_assert_str_eq(config->listen_address, "127.0.0.1");
	ck_assert_uint_eq(config->listen_port, 8080);
	ck_assert_ptr_null(config->catalogue_path);
	ck_assert_str_eq(config->state_dir, "/tmp/linkage-gateway-demo");
	ck_assert_ptr_null(config->web_root);
	ck_assert_ptr_null(config->tls_certificate);
	ck_assert_ptr_null(config->tls_private_key);
	ck_assert_uint_eq(config->max_transcodes, 4);
	ck_assert_int_eq(config->default_transport, VLG_TRANSPORT_TCP);
	ck_assert_uint_eq(g_strv_length(config->stun_servers), 0);
	ck_assert_uint_eq(g_strv_length(config->turn_servers), 0);
	ck_assert_uint_eq(g_strv_length(config->ice_addresses), 0);
	ck_assert_uint_eq(config->profiles->len, 4);
	assert_profile(config, "main", TRUE, FALSE, 0, 0, 0, 0);
	assert_profile(config, "sub", FALSE, FALSE, 640, 360, 15, 600);
	assert_profile(config, "low", FALSE, FALSE, 320, 180, 5, 150);
	assert_profile(config, "key", FALSE, TRUE, 0, 0, 0, 0);
}
END_TEST

/* An empty file is valid: every key takes the default given in gateway-config.h. */
START_TEST(test_defaults_empty_file)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgGatewayConfig) config = vlg_gateway_config_load_data("", 0, "empty", &error);

	ck_assert_msg(config != NULL, "%s", error ? error->message : "?");
	ck_assert_str_eq(config->state_dir, "/var/lib/linkage-gateway");
	ck_assert_uint_eq(config->max_body_bytes, 65536);
	ck_assert_uint_eq(config->max_connections_per_peer, 32);
	ck_assert_uint_eq(config->max_websocket_message, 65536);
	ck_assert_uint_eq(config->linger_seconds, 10);
	ck_assert_uint_eq(config->watchdog_seconds, 5);
	ck_assert_uint_eq(config->connect_timeout_seconds, 10);
	ck_assert_uint_eq(config->rtsp_latency_ms, 100);
	ck_assert_uint_eq(config->backoff_cap_seconds, 30);
	ck_assert_uint_eq(config->auth_backoff_seconds, 60);
	ck_assert_uint_eq(config->egress_kbps, 0);
	ck_assert_uint_eq(config->max_transcodes, 4);
	ck_assert_int_eq(config->metrics_require_token, FALSE);
	ck_assert_int_eq(config->hs256_enabled, TRUE);
	ck_assert_ptr_null(config->hs256_secret_file);
	ck_assert_ptr_null(config->es256_public_key_file);
	ck_assert_str_eq(config->token_audience, "linkage-gateway");
	ck_assert_ptr_null(config->token_issuer);
	ck_assert_uint_eq(config->token_leeway_seconds, 30);
	ck_assert_str_eq(vlg_transport_to_string(config->default_transport), "tcp");
	ck_assert_uint_eq(config->profiles->len, 4);
}
END_TEST

/* The installed copy of the defaults is the embedded one, and loads from disk too. */
START_TEST(test_defaults_file_on_disk)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgGatewayConfig) config = vlg_gateway_config_load_file(
		VLG_SOURCE_ROOT "/config/defaults/gateway.conf", &error);

	ck_assert_msg(config != NULL, "%s", error ? error->message : "?");
	ck_assert_str_eq(config->state_dir, "/tmp/linkage-gateway-demo");
}
END_TEST

START_TEST(test_missing_file)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgGatewayConfig) config =
		vlg_gateway_config_load_file("/nonexistent/gateway.conf", &error);

	ck_assert_ptr_null(config);
	ck_assert(g_error_matches(error, VLG_ERROR, VLG_ERROR_CONFIG));
	ck_assert_ptr_nonnull(strstr(error->message, "/nonexistent/gateway.conf"));
}
END_TEST

static const char full_file[] =
	"# every key, none at its default\n"
	"[gateway]\n"
	"listen=[::1]:9443\n"
	"catalogue=etc/catalogue.conf\n"
	"state-dir=state\n"
	"web-root=/srv/wall\n"
	"tls-certificate=tls/cert.pem\n"
	"tls-private-key=tls/key.pem\n"
	"metrics-require-token=true\n"
	"; a semicolon comment\n"
	"[limits]\n"
	"max-body=1024\n"
	"max-connections-per-peer=10000\n"
	"max-websocket-message=16777216\n"
	"[ingest]\n"
	"transport=udp\n"
	"linger=0\n"
	"watchdog=300\n"
	"connect-timeout=1\n"
	"latency=5000\n"
	"backoff-cap=3600\n"
	"auth-backoff=1\n"
	"[budget]\n"
	"egress-kbps=50000\n"
	"transcodes=0\n"
	"[ice]\n"
	"stun=stun://stun.example.org:3478; stun://[2001:db8::1]:3478\n"
	"turn=turns://user:pa%3Bss@turn.example.org:5349?transport=tcp\n"
	"addresses=192.168.1.10;::1\n"
	"[profile sub]\n"
	"width=800\n"
	"bitrate=900\n"
	"[profile wall]\n"
	"width=1920\n"
	"height=1080\n"
	"fps=25\n"
	"bitrate=4000\n"
	"[profile key]\n"
	"passthrough=true\n";

START_TEST(test_full_file)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgGatewayConfig) config =
		vlg_gateway_config_load_data(full_file, sizeof(full_file) - 1, "full.conf", &error);

	ck_assert_msg(config != NULL, "%s", error ? error->message : "?");
	ck_assert_str_eq(config->listen_address, "::1");
	ck_assert_uint_eq(config->listen_port, 9443);
	ck_assert_str_eq(config->catalogue_path, "etc/catalogue.conf");
	ck_assert_str_eq(config->state_dir, "state");
	ck_assert_str_eq(config->web_root, "/srv/wall");
	ck_assert_str_eq(config->tls_certificate, "tls/cert.pem");
	ck_assert_str_eq(config->tls_private_key, "tls/key.pem");
	ck_assert_int_eq(config->metrics_require_token, TRUE);
	ck_assert_uint_eq(config->max_body_bytes, 1024);
	ck_assert_uint_eq(config->max_connections_per_peer, 10000);
	ck_assert_uint_eq(config->max_websocket_message, 16777216);
	ck_assert_int_eq(config->default_transport, VLG_TRANSPORT_UDP);
	ck_assert_uint_eq(config->linger_seconds, 0);
	ck_assert_uint_eq(config->watchdog_seconds, 300);
	ck_assert_uint_eq(config->connect_timeout_seconds, 1);
	ck_assert_uint_eq(config->rtsp_latency_ms, 5000);
	ck_assert_uint_eq(config->backoff_cap_seconds, 3600);
	ck_assert_uint_eq(config->auth_backoff_seconds, 1);
	ck_assert_uint_eq(config->egress_kbps, 50000);
	ck_assert_uint_eq(config->max_transcodes, 0);
	ck_assert_uint_eq(g_strv_length(config->stun_servers), 2);
	ck_assert_str_eq(config->stun_servers[0], "stun://stun.example.org:3478");
	ck_assert_str_eq(config->stun_servers[1], "stun://[2001:db8::1]:3478");
	ck_assert_uint_eq(g_strv_length(config->turn_servers), 1);
	ck_assert_str_eq(config->turn_servers[0],
			 "turns://user:pa%3Bss@turn.example.org:5349?transport=tcp");
	ck_assert_uint_eq(g_strv_length(config->ice_addresses), 2);
	ck_assert_str_eq(config->ice_addresses[1], "::1");
	ck_assert_uint_eq(config->profiles->len, 5);
	assert_profile(config, "sub", FALSE, FALSE, 800, 360, 15, 900);
	assert_profile(config, "wall", FALSE, FALSE, 1920, 1080, 25, 4000);
	/* Saying passthrough=true drops the keyframes-only it inherited. */
	assert_profile(config, "key", TRUE, FALSE, 0, 0, 0, 0);
	ck_assert_str_eq(((VlgProfile *)g_ptr_array_index(config->profiles, 4))->name, "wall");
	ck_assert_ptr_null(vlg_gateway_config_find_profile(config, "nope"));
}
END_TEST

START_TEST(test_listen_forms)
{
	static const struct {
		const char *listen;
		const char *address;
		guint port;
	} forms[] = {
		{ "0.0.0.0:80", "0.0.0.0", 80 },
		{ "[::]:65535", "::", 65535 },
		{ "localhost:1", "localhost", 1 },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(forms); i++) {
		g_autofree char *text = g_strdup_printf("[gateway]\nlisten=%s\n", forms[i].listen);
		g_autoptr(GError) error = NULL;
		g_autoptr(VlgGatewayConfig) config =
			vlg_gateway_config_load_data(text, -1, "listen.conf", &error);

		ck_assert_msg(config != NULL, "%s", error ? error->message : "?");
		ck_assert_str_eq(config->listen_address, forms[i].address);
		ck_assert_uint_eq(config->listen_port, forms[i].port);
	}
}
END_TEST

/* Each bad file, the "name:LINE: [group] key" its message must hold, and a second fragment. */
static const struct {
	const char *text;
	const char *place;
	const char *detail;
} bad_files[] = {
	{ "[gateway]\nlisten=127.0.0.1\n", "bad.conf:2: [gateway] listen: ", "'127.0.0.1'" },
	{ "[gateway]\n\nlisten=::1:8080\n", "bad.conf:3: [gateway] listen: ", "brackets" },
	{ "[gateway]\nlisten=127.0.0.1:70000\n", "bad.conf:2: [gateway] listen: ", "1 to 65535" },
	{ "[gateway]\nlisten=127.0.0.1:0\n", "bad.conf:2: [gateway] listen: ", "port" },
	{ "[gateway]\nlisten=example.com:80\n", "bad.conf:2: [gateway] listen: ", "IPv4" },
	{ "[gateway]\nlisten=[127.0.0.1]:80\n", "bad.conf:2: [gateway] listen: ", "IPv6" },
	{ "[ingest]\nlinger=4000\n", "bad.conf:2: [ingest] linger: ", "0 to 3600 (got '4000')" },
	{ "[ingest]\nwatchdog=0\n", "bad.conf:2: [ingest] watchdog: ", "1 to 300" },
	{ "[ingest]\nconnect-timeout=301\n", "bad.conf:2: [ingest] connect-timeout: ", "1 to 300" },
	{ "[ingest]\nlatency=5001\n", "bad.conf:2: [ingest] latency: ", "0 to 5000" },
	{ "[ingest]\nbackoff-cap=0\n", "bad.conf:2: [ingest] backoff-cap: ", "1 to 3600" },
	{ "[ingest]\nauth-backoff=3601\n", "bad.conf:2: [ingest] auth-backoff: ", "1 to 3600" },
	{ "[ingest]\ntransport=sctp\n", "bad.conf:2: [ingest] transport: ", "tcp or udp" },
	{ "[ingest]\nlinger=ten\n", "bad.conf:2: [ingest] linger: ", "(got 'ten')" },
	{ "[limits]\nmax-body=1023\n", "bad.conf:2: [limits] max-body: ", "1024 to 16777216" },
	{ "[limits]\nmax-connections-per-peer=0\n",
	  "bad.conf:2: [limits] max-connections-per-peer: ", "1 to 10000" },
	{ "[limits]\nmax-websocket-message=-1\n", "bad.conf:2: [limits] max-websocket-message: ",
	  "(got '-1')" },
	{ "[budget]\negress-kbps=lots\n", "bad.conf:2: [budget] egress-kbps: ", "whole number" },
	{ "[budget]\ntranscodes=1000\n", "bad.conf:2: [budget] transcodes: ", "0 to 256" },
	{ "[gateway]\nmetrics-require-token=yes\n", "bad.conf:2: [gateway] metrics-require-token: ",
	  "true or false (got 'yes')" },
	{ "[gateway]\nstate-dir=\n", "bad.conf:2: [gateway] state-dir: ", "empty" },
	{ "[gateway]\nweb-root=a\\qb\n", "bad.conf:2: [gateway] web-root: ", "escape" },
	{ "[gateway]\ntls-certificate=cert.pem\n", "bad.conf:2: [gateway] tls-certificate: ",
	  "both" },
	{ "[gateway]\n#\ntls-private-key=key.pem\n", "bad.conf:3: [gateway] tls-private-key: ",
	  "both" },
	{ "[ice]\nstun=http://stun.example.org\n", "bad.conf:2: [ice] stun: ", "stun://" },
	{ "[ice]\nstun=stun://bad host:3478\n", "bad.conf:2: [ice] stun: ", "stun://" },
	{ "[ice]\nstun=stun://a:1;;stun://b:2\n", "bad.conf:2: [ice] stun: ", "empty list item" },
	{ "[ice]\nturn=turn://turn.example.org:3478\n", "bad.conf:2: [ice] turn: ",
	  "user:password@" },
	{ "[ice]\nturn=turn://u:p@turn.example.org?transport=sctp\n", "bad.conf:2: [ice] turn: ",
	  "transport=" },
	{ "[ice]\naddresses=eth0\n", "bad.conf:2: [ice] addresses: ", "(got 'eth0')" },
	{ "[profile sub]\nwidth=641\n", "bad.conf:2: [profile sub] width: ", "even" },
	{ "[profile sub]\nheight=4322\n", "bad.conf:2: [profile sub] height: ", "16 to 4320" },
	{ "[profile low]\nfps=0\n", "bad.conf:2: [profile low] fps: ", "1 to 120" },
	{ "[profile low]\nbitrate=15\n", "bad.conf:2: [profile low] bitrate: ", "16 to 100000" },
	{ "[profile low]\nkeyframes-only=maybe\n", "bad.conf:2: [profile low] keyframes-only: ",
	  "true or false" },
	{ "[profile main]\nwidth=1280\n", "bad.conf:2: [profile main] width: ", "passthrough" },
	{ "[profile key]\nfps=1\n", "bad.conf:2: [profile key] fps: ", "keyframes-only" },
	{ "[profile x]\npassthrough=true\nkeyframes-only=true\n",
	  "bad.conf:3: [profile x] keyframes-only: ", "both" },
	{ "#\n[profile wall]\nwidth=1280\nheight=720\nfps=25\n", "bad.conf:2: [profile wall]: ",
	  "missing bitrate" },
	{ "[profile main]\npassthrough=false\n", "bad.conf:1: [profile main]: ", "missing width" },
	{ "[profile a.b]\nfps=1\n", "bad.conf:1: [profile a.b]: ", "profile name" },
	{ "[profile ]\n", "bad.conf:1: [profile ]: ", "profile name" },
	{ "[profile sub]\nframerate=25\n", "bad.conf:2: [profile sub] framerate: ", "unknown key" },
	{ "[gatway]\nlisten=127.0.0.1:8080\n", "bad.conf:1: [gatway]: ", "unknown group" },
	{ "[auth]\nhs256=maybe\n", "bad.conf:2: [auth] hs256: ", "true or false" },
	{ "[auth]\nhs256=false\n", "bad.conf:2: [auth] hs256: ", "no token could ever" },
	{ "[auth]\naudience=\n", "bad.conf:2: [auth] audience: ", "must not be empty" },
	{ "[auth]\nleeway=301\n", "bad.conf:2: [auth] leeway: ", "0" },
	{ "[auth]\nsecret=abc\n", "bad.conf:2: [auth] secret: ", "unknown key" },
	{ "[ingest]\nlingr=5\n", "bad.conf:2: [ingest] lingr: ", "unknown key" },
	{ "[gateway]\nlisten\n", "bad.conf:2: ", "not blank, a comment" },
	{ "listen=127.0.0.1:8080\n", "bad.conf:1: ", "before the first [group]" },
	{ "[gateway\nlisten=127.0.0.1:8080\n", "bad.conf:1: ", "no closing ']'" },
	{ "[gateway] # main\n", "bad.conf:1: ", "text after the ']'" },
	{ "[gateway]\n=1\n", "bad.conf:2: ", "key name is empty" },
	{ "[gateway]\nlisten[en]=1\n", "bad.conf:2: ", "key name" },
	{ "[gateway]\nlinger=1\n", "bad.conf:2: [gateway] linger: ", "unknown key" },
	{ "[ingest]\nlinger=1\nlinger=2\n", "bad.conf:3: [ingest] linger: ",
	  "repeated key (first at line 2)" },
	{ "[ingest]\n[budget]\n[ingest]\n", "bad.conf:3: [ingest]: ",
	  "repeated group (first at line 1)" },
	{ "[gateway]\nweb-root=\xff\xfe\n", "bad.conf:2: ", "UTF-8" },
	{ "[gateway]\r\nlisten=1.2.3.4:5\r\nstate-dir=\r\n", "bad.conf:3: [gateway] state-dir: ",
	  "empty" },
};

START_TEST(test_bad_file)
{
	g_autofree char *message = load_error(bad_files[_i].text);

	ck_assert_msg(strstr(message, bad_files[_i].place) != NULL, "'%s' not in:\n%s",
		      bad_files[_i].place, message);
	ck_assert_msg(strstr(message, bad_files[_i].detail) != NULL, "'%s' not in:\n%s",
		      bad_files[_i].detail, message);
}
END_TEST

START_TEST(test_errors_together)
{
	g_autofree char *message = load_error("[gateway]\n"
					      "listen=nowhere\n"
					      "bogus=1\n"
					      "[ingest]\n"
					      "linger=9999\n"
					      "garbage line\n"
					      "[profile sub]\n"
					      "width=3\n"
					      "[nonsense]\n");
	g_auto(GStrv) lines = g_strsplit(message, "\n", -1);

	ck_assert_uint_eq(g_strv_length(lines), 6);
	ck_assert(g_str_has_prefix(lines[0], "bad.conf:2: [gateway] listen: "));
	ck_assert(g_str_has_prefix(lines[1], "bad.conf:3: [gateway] bogus: unknown key"));
	ck_assert(g_str_has_prefix(lines[2], "bad.conf:5: [ingest] linger: "));
	ck_assert(g_str_has_prefix(lines[3], "bad.conf:6: line is not blank"));
	ck_assert(g_str_has_prefix(lines[4], "bad.conf:8: [profile sub] width: "));
	ck_assert(g_str_has_prefix(lines[5], "bad.conf:9: [nonsense]: unknown group"));
}
END_TEST

/* A typo in a key name must fail the load, even when its value would have been fine. */
START_TEST(test_unknown_key)
{
	g_autofree char *message = load_error("[limits]\nmax-body=2048\nmax_body=2048\n");

	ck_assert_str_eq(message, "bad.conf:3: [limits] max_body: unknown key");
}
END_TEST

START_TEST(test_secrets_not_shown)
{
	static const char *const files[] = {
		"[ice]\nturn=turn://user:s3cret@turn.example.org:99999\n",
		"[ice]\nturn=turn://user:s3cret@/nohost\n",
		"[ice]\nturn=turn://user:s3c/ret@turn.example.org\n",
		"[ice]\nturn=turn://user:s3cret@turn.example.org:3478/path\n",
		"[ice]\nturn=turns://user:s3cret@turn.example.org?x=1;stun://s3cret@x\n",
		"[ice]\nturn=turn://user:s3cret\\q@turn.example.org\n",
		"[ice]\nstun=stun://user:s3cret@stun.example.org\n",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *message = load_error(files[i]);

		ck_assert_msg(strstr(message, "s3c") == NULL, "secret shown:\n%s", message);
		ck_assert_msg(strstr(message, "bad.conf:2: [ice] ") != NULL, "%s", message);
	}
}
END_TEST

START_TEST(test_index_lines)
{
	static const char text[] = "\xef\xbb\xbf# comment\n"
				   "[one]\n"
				   "  a = x y  \n"
				   "\n"
				   "b=\\s1\\t\n"
				   "[two words]\n"
				   "c=;d\n";
	g_autoptr(VlgKeyfileIndex) index = vlg_keyfile_index_new(text, sizeof(text) - 1, "i");
	GKeyFile *keyfile = vlg_keyfile_index_keyfile(index);
	const char *const *groups = vlg_keyfile_index_groups(index);
	const char *const *keys = vlg_keyfile_index_keys(index, "one");
	g_autofree char *a = g_key_file_get_string(keyfile, "one", "a", NULL);
	g_autofree char *b = g_key_file_get_string(keyfile, "one", "b", NULL);
	g_autofree char *c = g_key_file_get_string(keyfile, "two words", "c", NULL);

	ck_assert_uint_eq(vlg_keyfile_index_n_errors(index), 0);
	ck_assert(vlg_keyfile_index_check(index, VLG_ERROR_CONFIG, NULL));
	ck_assert_str_eq(vlg_keyfile_index_source(index), "i");
	ck_assert_uint_eq(g_strv_length((char **)groups), 2);
	ck_assert_str_eq(groups[1], "two words");
	ck_assert_uint_eq(g_strv_length((char **)keys), 2);
	ck_assert_str_eq(keys[0], "a");
	ck_assert_uint_eq(vlg_keyfile_index_group_line(index, "one"), 2);
	ck_assert_uint_eq(vlg_keyfile_index_group_line(index, "two words"), 6);
	ck_assert_uint_eq(vlg_keyfile_index_group_line(index, "three"), 0);
	ck_assert_uint_eq(vlg_keyfile_index_key_line(index, "one", "a"), 3);
	ck_assert_uint_eq(vlg_keyfile_index_key_line(index, "one", "b"), 5);
	ck_assert_uint_eq(vlg_keyfile_index_key_line(index, "two words", "c"), 7);
	ck_assert_uint_eq(vlg_keyfile_index_key_line(index, "one", "c"), 0);
	ck_assert_ptr_null(vlg_keyfile_index_keys(index, "three"));
	ck_assert_str_eq(a, "x y");
	ck_assert_str_eq(b, " 1\t");
	ck_assert_str_eq(c, ";d");
}
END_TEST

START_TEST(test_index_errors)
{
	g_autoptr(VlgKeyfileIndex) index = vlg_keyfile_index_new("[g]\nk=v\nbad\n", -1, "s");
	g_autoptr(GError) error = NULL;

	vlg_keyfile_index_error(index, "g", "k", "a\nb", "wrong");
	vlg_keyfile_index_error(index, "g", "missing", NULL, "absent key names its group");
	vlg_keyfile_index_error(index, NULL, NULL, NULL, "no place");
	vlg_keyfile_index_error_at(index, 1, "at %d", 1);
	ck_assert_uint_eq(vlg_keyfile_index_n_errors(index), 5);
	ck_assert(!vlg_keyfile_index_check(index, VLG_ERROR_CATALOGUE, &error));
	ck_assert(g_error_matches(error, VLG_ERROR, VLG_ERROR_CATALOGUE));
	ck_assert_str_eq(error->message, "s:1: [g] missing: absent key names its group\n"
					 "s:1: at 1\n"
					 "s:2: [g] k: wrong (got 'a\\x0ab')\n"
					 "s:3: line is not blank, a comment, a [group] header or "
					 "key=value\n"
					 "s: no place");
}
END_TEST

/* Thousands of bad lines make a message of a hundred and a count, not a wall of text. */
START_TEST(test_index_error_cap)
{
	g_autoptr(GString) text = g_string_new("[g]\n");
	g_autoptr(VlgKeyfileIndex) index = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) lines = NULL;

	for (guint i = 0; i < 5000; i++)
		g_string_append(text, "junk\n");
	index = vlg_keyfile_index_new(text->str, text->len, "big");
	ck_assert_uint_eq(vlg_keyfile_index_n_errors(index), 5000);
	ck_assert(!vlg_keyfile_index_check(index, VLG_ERROR_CONFIG, &error));
	lines = g_strsplit(error->message, "\n", -1);
	ck_assert_uint_eq(g_strv_length(lines), 101);
	ck_assert_str_eq(lines[100], "big: 4900 more errors not shown");
}
END_TEST

static Suite *
gateway_config_suite(void)
{
	Suite *suite = suite_create("gateway-config");
	TCase *tc;

	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults_embedded);
	tcase_add_test(tc, test_defaults_empty_file);
	tcase_add_test(tc, test_defaults_file_on_disk);
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(suite, tc);

	tc = tcase_create("full-file");
	tcase_add_test(tc, test_full_file);
	tcase_add_test(tc, test_listen_forms);
	suite_add_tcase(suite, tc);

	tc = tcase_create("bad-files");
	tcase_add_loop_test(tc, test_bad_file, 0, G_N_ELEMENTS(bad_files));
	suite_add_tcase(suite, tc);

	tc = tcase_create("errors-together");
	tcase_add_test(tc, test_errors_together);
	suite_add_tcase(suite, tc);

	tc = tcase_create("unknown-key");
	tcase_add_test(tc, test_unknown_key);
	suite_add_tcase(suite, tc);

	tc = tcase_create("secrets");
	tcase_add_test(tc, test_secrets_not_shown);
	suite_add_tcase(suite, tc);
	return suite;
}

static Suite *
keyfile_index_suite(void)
{
	Suite *suite = suite_create("keyfile-index");
	TCase *tc;

	tc = tcase_create("lines");
	tcase_add_test(tc, test_index_lines);
	suite_add_tcase(suite, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_index_errors);
	tcase_add_test(tc, test_index_error_cap);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(gateway_config_suite());
	int failed;

	srunner_add_suite(runner, keyfile_index_suite());
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
