/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "vlg-auth"

#include "gateway/auth.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>

#include "config/vlg-error.h"
#include "gateway/jwt.h"

#define DEFAULT_SECRET_NAME "jwt-secret"
#define SECRET_RANDOM_BYTES 32
#define NAME_MAX_LENGTH 128

struct _VlgAuth {
	GPtrArray *keys; /* of VlgJwtKey*, owned; each pinned to its algorithm */
	char *audience;
	char *issuer;
	guint leeway_seconds;
	VlgJwtKey *signing_key; /* the HS256 key, borrowed from keys; NULL when HS256 is off */
};

static const char *const role_names[] = {
	[VLG_ROLE_VIEWER] = "viewer",
	[VLG_ROLE_OPERATOR] = "operator",
	[VLG_ROLE_ADMIN] = "admin",
};

const char *
vlg_role_to_string(VlgRole role)
{
	return (guint)role < G_N_ELEMENTS(role_names) ? role_names[role] : "unknown";
}

gboolean
vlg_role_from_string(const char *text, VlgRole *role)
{
	for (guint i = 0; text && i < G_N_ELEMENTS(role_names); i++) {
		if (strcmp(text, role_names[i]) == 0) {
			*role = (VlgRole)i;
			return TRUE;
		}
	}
	return FALSE;
}

VlgPrincipal *
vlg_principal_new(const char *org, VlgRole role, const char *name, gint64 expires_at)
{
	VlgPrincipal *principal = g_new0(VlgPrincipal, 1);

	principal->refcount = 1;
	g_strlcpy(principal->org, org, sizeof(principal->org));
	vlg_division_code_level(principal->org, &principal->level);
	principal->role = role;
	principal->name = g_strdup(name);
	principal->expires_at = expires_at;
	return principal;
}

VlgPrincipal *
vlg_principal_ref(VlgPrincipal *principal)
{
	principal->refcount++;
	return principal;
}

void
vlg_principal_unref(VlgPrincipal *principal)
{
	if (!principal || --principal->refcount > 0)
		return;
	g_free(principal->name);
	g_free(principal);
}

gboolean
vlg_principal_is_expired(const VlgPrincipal *principal, gint64 now_seconds)
{
	return now_seconds > principal->expires_at;
}

gboolean
vlg_principal_has_role(const VlgPrincipal *principal, VlgRole least)
{
	return principal->role >= least;
}

char *
vlg_auth_secret_path(const VlgGatewayConfig *config)
{
	if (config->hs256_secret_file)
		return g_strdup(config->hs256_secret_file);
	return g_build_filename(config->state_dir, DEFAULT_SECRET_NAME, NULL);
}

/* Writes a fresh random secret, hex so that it can be pasted into the platform's settings. */
static gboolean
create_secret_file(const char *path, GError **error)
{
	guint8 random[SECRET_RANDOM_BYTES];
	char hex[2 * SECRET_RANDOM_BYTES + 2];
	g_autofree char *directory = g_path_get_dirname(path);
	gboolean ok;

	if (RAND_bytes(random, sizeof(random)) != 1) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_CONFIG, "no randomness for a new secret");
		return FALSE;
	}
	for (guint i = 0; i < sizeof(random); i++)
		g_snprintf(hex + 2 * i, 3, "%02x", random[i]);
	hex[2 * SECRET_RANDOM_BYTES] = '\n';
	hex[2 * SECRET_RANDOM_BYTES + 1] = '\0';
	OPENSSL_cleanse(random, sizeof(random));
	if (g_mkdir_with_parents(directory, 0700) != 0) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_CONFIG, "cannot create %s: %s", directory,
			    g_strerror(errno));
		return FALSE;
	}
	ok = g_file_set_contents_full(path, hex, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
	OPENSSL_cleanse(hex, sizeof(hex));
	if (ok)
		g_message("made a new HS256 token secret at %s (share it with the command platform, "
			  "or replace it with the platform's)",
			  path);
	return ok;
}

static gboolean
read_key_file(const char *key, const char *path, char **contents, gsize *length, GError **error)
{
	g_autoptr(GError) local = NULL;
	GStatBuf info;

	if (!g_file_get_contents(path, contents, length, &local)) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_CONFIG, "[auth] %s: %s", key,
			    local->message);
		return FALSE;
	}
	if (g_stat(path, &info) == 0 && (info.st_mode & 0077) &&
	    g_str_equal(key, "hs256-secret-file"))
		g_warning("[auth] %s: %s can be read by other users; chmod 600 it", key, path);
	return TRUE;
}

static VlgJwtKey *
load_hs256(const VlgGatewayConfig *config, gboolean create_secret, gboolean *skipped,
	   GError **error)
{
	g_autofree char *path = vlg_auth_secret_path(config);
	g_autofree char *contents = NULL;
	g_autoptr(GError) local = NULL;
	VlgJwtKey *key;
	gsize length = 0;

	*skipped = FALSE;
	if (!config->hs256_secret_file && !g_file_test(path, G_FILE_TEST_EXISTS)) {
		if (!create_secret) {
			/* --check-config: the daemon makes it on its first start. */
			*skipped = TRUE;
			return NULL;
		}
		if (!create_secret_file(path, error))
			return NULL;
	}
	if (!read_key_file("hs256-secret-file", path, &contents, &length, error))
		return NULL;
	/* An editor's trailing newline is not part of the secret. */
	while (length > 0 && (contents[length - 1] == '\n' || contents[length - 1] == '\r'))
		length--;
	key = vlg_jwt_key_new_hs256((const guint8 *)contents, length, &local);
	OPENSSL_cleanse(contents, length);
	if (!key)
		g_set_error(error, VLG_ERROR, VLG_ERROR_CONFIG, "[auth] hs256-secret-file: %s: %s",
			    path, local->message);
	return key;
}

static VlgJwtKey *
load_es256(const char *path, GError **error)
{
	g_autofree char *contents = NULL;
	g_autoptr(GError) local = NULL;
	VlgJwtKey *key;
	gsize length = 0;

	if (!read_key_file("es256-public-key-file", path, &contents, &length, error))
		return NULL;
	key = vlg_jwt_key_new_es256_public(contents, length, &local);
	if (!key)
		g_set_error(error, VLG_ERROR, VLG_ERROR_CONFIG,
			    "[auth] es256-public-key-file: %s: %s", path, local->message);
	return key;
}

static void
key_free(gpointer key)
{
	vlg_jwt_key_free(key);
}

VlgAuth *
vlg_auth_new(const VlgGatewayConfig *config, gboolean create_secret, GError **error)
{
	g_autoptr(VlgAuth) auth = g_new0(VlgAuth, 1);

	auth->keys = g_ptr_array_new_with_free_func(key_free);
	auth->audience = g_strdup(config->token_audience);
	auth->issuer = g_strdup(config->token_issuer);
	auth->leeway_seconds = config->token_leeway_seconds;
	if (config->hs256_enabled) {
		gboolean skipped;
		VlgJwtKey *key = load_hs256(config, create_secret, &skipped, error);

		if (!key && !skipped)
			return NULL;
		if (key) {
			g_ptr_array_add(auth->keys, key);
			auth->signing_key = key;
		}
	}
	if (config->es256_public_key_file) {
		VlgJwtKey *key = load_es256(config->es256_public_key_file, error);

		if (!key)
			return NULL;
		g_ptr_array_add(auth->keys, key);
	}
	return g_steal_pointer(&auth);
}

VlgAuth *
vlg_auth_free(VlgAuth *auth)
{
	if (!auth)
		return NULL;
	g_ptr_array_unref(auth->keys);
	g_free(auth->audience);
	g_free(auth->issuer);
	g_free(auth);
	return NULL;
}

const char *
vlg_auth_bearer_token(const char *authorization)
{
	if (!authorization || g_ascii_strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	authorization += 7;
	while (*authorization == ' ')
		authorization++;
	return *authorization ? authorization : NULL;
}

static gboolean
claims_error(GError **error, const char *what)
{
	g_set_error(error, VLG_ERROR, VLG_ERROR_AUTH, "token claims: %s", what);
	return FALSE;
}

/* The application's claims: org (a division code), role, name. */
static gboolean
read_claims(JsonObject *claims, const char **org, VlgRole *role, const char **name,
	    GError **error)
{
	JsonNode *node;
	VlgOrgLevel level;

	node = json_object_get_member(claims, "org");
	if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
		return claims_error(error, "org is missing or not a string");
	*org = json_node_get_string(node);
	if (!vlg_division_code_level(*org, &level))
		return claims_error(error, "org is not a 12-digit division code");
	node = json_object_get_member(claims, "role");
	if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING ||
	    !vlg_role_from_string(json_node_get_string(node), role))
		return claims_error(error, "role is missing or not viewer, operator or admin");
	node = json_object_get_member(claims, "name");
	if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
		return claims_error(error, "name is missing or not a string");
	*name = json_node_get_string(node);
	if (**name == '\0' || strlen(*name) > NAME_MAX_LENGTH || !g_utf8_validate(*name, -1, NULL))
		return claims_error(error, "name must be 1-128 characters of UTF-8");
	for (const char *p = *name; *p; p++)
		if ((guchar)*p < 0x20 || *p == 0x7f)
			return claims_error(error, "name holds control characters");
	return TRUE;
}

/* exp plus leeway, clamped: a far-future exp is a valid claim, and casting a huge double to an
 * integer is undefined. */
static gint64
expiry_of(JsonObject *claims, guint leeway_seconds)
{
	/* json-glib reads an integer member as a double too; jwt.c made sure exp is a number. */
	double exp = json_node_get_double(json_object_get_member(claims, "exp"));

	exp = CLAMP(exp, 0.0, 1e15);
	return (gint64)exp + leeway_seconds;
}

VlgPrincipal *
vlg_auth_check_token(VlgAuth *auth, const char *token, gint64 now_seconds, GError **error)
{
	VlgJwtPolicy policy = {
		.audience = auth->audience,
		.issuer = auth->issuer,
		.now = now_seconds,
		.leeway_seconds = auth->leeway_seconds,
		.max_length = 4096,
	};
	g_autoptr(JsonObject) claims = NULL;
	g_autoptr(GError) local = NULL;
	const char *org = NULL, *name = NULL;
	VlgRole role = VLG_ROLE_VIEWER;

	if (!token || !*token) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_AUTH, "no token");
		return NULL;
	}
	claims = vlg_jwt_verify(token, (VlgJwtKey *const *)auth->keys->pdata, auth->keys->len,
				&policy, &local);
	if (!claims) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_AUTH, "%s", local->message);
		return NULL;
	}
	if (!read_claims(claims, &org, &role, &name, error))
		return NULL;
	return vlg_principal_new(org, role, name,
				 expiry_of(claims, auth->leeway_seconds));
}

char *
vlg_auth_mint(VlgAuth *auth, const char *org, VlgRole role, const char *name, guint ttl_seconds,
	      gint64 now_seconds, GError **error)
{
	g_autoptr(JsonObject) claims = json_object_new();
	VlgOrgLevel level;

	if (!auth->signing_key) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_AUTH,
			    "HS256 is off ([auth] hs256=false): tokens come from the platform's "
			    "ES256 key, which this gateway cannot sign with");
		return NULL;
	}
	if (!vlg_division_code_level(org, &level)) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_AUTH,
			    "--org: '%s' is not a 12-digit division code", org);
		return NULL;
	}
	json_object_set_string_member(claims, "org", org);
	json_object_set_string_member(claims, "role", vlg_role_to_string(role));
	json_object_set_string_member(claims, "name", name);
	json_object_set_string_member(claims, "aud", auth->audience);
	if (auth->issuer)
		json_object_set_string_member(claims, "iss", auth->issuer);
	json_object_set_int_member(claims, "iat", now_seconds);
	json_object_set_int_member(claims, "nbf", now_seconds);
	json_object_set_int_member(claims, "exp", now_seconds + ttl_seconds);
	return vlg_jwt_sign(auth->signing_key, claims, error);
}
