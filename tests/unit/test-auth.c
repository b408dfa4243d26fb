/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tokens to principals: the application claims, the keys gateway.conf names, minting. The
 * cryptographic attacks are in test-jwt.c. */
#include <check.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/auth.h"
#include "gateway/jwt.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#define SECRET "0123456789abcdef0123456789abcdef-test-secret"
#define NOW 1800000000

static char *directory;

static void
setup(void)
{
	directory = g_dir_make_tmp("vlg-auth-XXXXXX", NULL);
	ck_assert_ptr_nonnull(directory);
}

static void
teardown(void)
{
	g_autoptr(GDir) dir = g_dir_open(directory, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *path = g_build_filename(directory, name, NULL);

		g_unlink(path);
	}
	g_rmdir(directory);
	g_clear_pointer(&directory, g_free);
}

/* A gateway.conf whose [auth] section is @auth_lines, state in the temp directory. */
static VlgGatewayConfig *
config_with(const char *auth_lines)
{
	g_autofree char *text = g_strdup_printf("[gateway]\nstate-dir=%s\n[auth]\n%s", directory,
						auth_lines);
	g_autoptr(GError) error = NULL;
	VlgGatewayConfig *config = vlg_gateway_config_load_data(text, strlen(text), "t.conf", &error);

	ck_assert_msg(config, "%s", error ? error->message : "?");
	return config;
}

static char *
write_file(const char *name, const char *contents)
{
	char *path = g_build_filename(directory, name, NULL);

	ck_assert(g_file_set_contents(path, contents, -1, NULL));
	g_chmod(path, 0600);
	return path;
}

static VlgAuth *
auth_with_secret(void)
{
	g_autofree char *path = write_file("secret", SECRET "\n");
	g_autofree char *line = g_strdup_printf("hs256-secret-file=%s\n", path);
	g_autoptr(VlgGatewayConfig) config = config_with(line);
	g_autoptr(GError) error = NULL;
	VlgAuth *auth = vlg_auth_new(config, FALSE, &error);

	ck_assert_msg(auth, "%s", error ? error->message : "?");
	return auth;
}

/* A token over @claims_json signed with the test secret. */
static char *
sign(const char *claims_json)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgJwtKey) key = vlg_jwt_key_new_hs256((const guint8 *)SECRET,
							 strlen(SECRET), &error);
	g_autoptr(JsonNode) node = json_from_string(claims_json, &error);
	char *token;

	ck_assert_msg(node, "%s", error ? error->message : "?");
	token = vlg_jwt_sign(key, json_node_get_object(node), &error);
	ck_assert_msg(token, "%s", error ? error->message : "?");
	return token;
}

#define BASE "\"aud\":\"linkage-gateway\",\"exp\":1800003600"

static const struct {
	const char *claims;
	const char *refusal; /* NULL: accepted */
} claims_table[] = {
	{ "{" BASE ",\"org\":\"330203001000\",\"role\":\"viewer\",\"name\":\"Ann\"}", NULL },
	{ "{" BASE ",\"org\":\"330203001001\",\"role\":\"admin\",\"name\":\"张三\"}", NULL },
	{ "{" BASE ",\"role\":\"viewer\",\"name\":\"Ann\"}", "org is missing" },
	{ "{" BASE ",\"org\":330203001000,\"role\":\"viewer\",\"name\":\"Ann\"}", "org is missing" },
	{ "{" BASE ",\"org\":\"33020300100\",\"role\":\"viewer\",\"name\":\"Ann\"}", "12-digit" },
	{ "{" BASE ",\"org\":\"330203001000 \",\"role\":\"viewer\",\"name\":\"Ann\"}", "12-digit" },
	{ "{" BASE ",\"org\":\"000000000000\",\"role\":\"viewer\",\"name\":\"Ann\"}", "12-digit" },
	{ "{" BASE ",\"org\":\"330203001000\",\"name\":\"Ann\"}", "role" },
	{ "{" BASE ",\"org\":\"330203001000\",\"role\":\"root\",\"name\":\"Ann\"}", "role" },
	{ "{" BASE ",\"org\":\"330203001000\",\"role\":[\"admin\"],\"name\":\"Ann\"}", "role" },
	{ "{" BASE ",\"org\":\"330203001000\",\"role\":\"viewer\"}", "name is missing" },
	{ "{" BASE ",\"org\":\"330203001000\",\"role\":\"viewer\",\"name\":\"\"}", "1-128" },
	{ "{" BASE ",\"org\":\"330203001000\",\"role\":\"viewer\",\"name\":\"a\\nb\"}", "control" },
	{ "{\"aud\":\"linkage-gateway\",\"exp\":1799999000,\"org\":\"330203001000\","
	  "\"role\":\"viewer\",\"name\":\"Ann\"}", "expired" },
	{ "{\"aud\":\"other\",\"exp\":1800003600,\"org\":\"330203001000\","
	  "\"role\":\"viewer\",\"name\":\"Ann\"}", "aud" },
};

START_TEST(test_claims)
{
	g_autoptr(VlgAuth) auth = auth_with_secret();
	g_autofree char *token = sign(claims_table[_i].claims);
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgPrincipal) principal = vlg_auth_check_token(auth, token, NOW, &error);

	if (!claims_table[_i].refusal) {
		ck_assert_msg(principal, "%s", error ? error->message : "?");
		ck_assert_int_eq(principal->expires_at, 1800003600 + 30);
		return;
	}
	ck_assert_ptr_null(principal);
	ck_assert_msg(strstr(error->message, claims_table[_i].refusal), "'%s' lacks '%s'",
		      error->message, claims_table[_i].refusal);
	ck_assert(!strstr(error->message, token));
	ck_assert(!strstr(error->message, SECRET));
}
END_TEST

START_TEST(test_mint_round_trip)
{
	g_autoptr(VlgAuth) auth = auth_with_secret();
	g_autoptr(GError) error = NULL;
	g_autofree char *token =
		vlg_auth_mint(auth, "330203002001", VLG_ROLE_OPERATOR, "Desk 3", 8 * 3600, NOW, &error);
	g_autoptr(VlgPrincipal) principal = NULL;

	ck_assert_msg(token, "%s", error ? error->message : "?");
	principal = vlg_auth_check_token(auth, token, NOW + 60, &error);
	ck_assert_msg(principal, "%s", error ? error->message : "?");
	ck_assert_str_eq(principal->org, "330203002001");
	ck_assert_int_eq(principal->level, VLG_ORG_LEVEL_COMMUNITY);
	ck_assert_int_eq(principal->role, VLG_ROLE_OPERATOR);
	ck_assert_str_eq(principal->name, "Desk 3");
	/* Within the 30 s leeway after exp, then refused. */
	g_clear_pointer(&principal, vlg_principal_unref);
	principal = vlg_auth_check_token(auth, token, NOW + 8 * 3600 + 30, NULL);
	ck_assert_ptr_nonnull(principal);
	g_clear_pointer(&principal, vlg_principal_unref);
	ck_assert_ptr_null(vlg_auth_check_token(auth, token, NOW + 8 * 3600 + 31, NULL));
	/* Not before it was minted (beyond the leeway). */
	ck_assert_ptr_null(vlg_auth_check_token(auth, token, NOW - 31, NULL));
	ck_assert_ptr_null(vlg_auth_mint(auth, "3302", VLG_ROLE_VIEWER, "x", 60, NOW, NULL));
}
END_TEST

START_TEST(test_missing_or_empty_token)
{
	g_autoptr(VlgAuth) auth = auth_with_secret();

	ck_assert_ptr_null(vlg_auth_check_token(auth, NULL, NOW, NULL));
	ck_assert_ptr_null(vlg_auth_check_token(auth, "", NOW, NULL));
	ck_assert_ptr_null(vlg_auth_check_token(auth, "not.a.token", NOW, NULL));
	ck_assert_str_eq(vlg_auth_bearer_token("Bearer abc"), "abc");
	ck_assert_str_eq(vlg_auth_bearer_token("BEARER  abc"), "abc");
	ck_assert_ptr_null(vlg_auth_bearer_token("Bearer "));
	ck_assert_ptr_null(vlg_auth_bearer_token("Basic abc"));
	ck_assert_ptr_null(vlg_auth_bearer_token(NULL));
}
END_TEST

/* The default secret is made on the first start only, private, and reused after. */
START_TEST(test_default_secret_created)
{
	g_autoptr(VlgGatewayConfig) config = config_with("");
	g_autofree char *path = vlg_auth_secret_path(config);
	g_autofree char *first = NULL, *second = NULL;
	g_autoptr(VlgAuth) check_only = vlg_auth_new(config, FALSE, NULL);
	g_autoptr(VlgAuth) started = NULL, restarted = NULL;
	GStatBuf info;

	ck_assert_ptr_nonnull(check_only);
	ck_assert(!g_file_test(path, G_FILE_TEST_EXISTS)); /* --check-config writes nothing */
	started = vlg_auth_new(config, TRUE, NULL);
	ck_assert_ptr_nonnull(started);
	ck_assert_int_eq(g_stat(path, &info), 0);
	ck_assert_int_eq(info.st_mode & 0777, 0600);
	ck_assert(g_file_get_contents(path, &first, NULL, NULL));
	ck_assert_uint_eq(strlen(first), 65); /* 64 hex digits and a newline */
	restarted = vlg_auth_new(config, TRUE, NULL);
	ck_assert(g_file_get_contents(path, &second, NULL, NULL));
	ck_assert_str_eq(first, second);
}
END_TEST

START_TEST(test_bad_keys_named)
{
	g_autofree char *short_secret = write_file("short", "too short\n");
	g_autofree char *not_pem = write_file("key.pem", "-----BEGIN PUBLIC KEY-----\nxx\n");
	g_autofree char *line1 = g_strdup_printf("hs256-secret-file=%s\n", short_secret);
	g_autofree char *line2 =
		g_strdup_printf("hs256=false\nes256-public-key-file=%s\n", not_pem);
	g_autoptr(VlgGatewayConfig) config1 = config_with(line1);
	g_autoptr(VlgGatewayConfig) config2 = config_with(line2);
	g_autoptr(VlgGatewayConfig) config3 =
		config_with("hs256-secret-file=/nonexistent/vlg/secret\n");
	g_autoptr(GError) error = NULL;

	ck_assert_ptr_null(vlg_auth_new(config1, TRUE, &error));
	ck_assert(strstr(error->message, "[auth] hs256-secret-file"));
	ck_assert(strstr(error->message, short_secret));
	ck_assert(!strstr(error->message, "too short"));
	g_clear_error(&error);
	ck_assert_ptr_null(vlg_auth_new(config2, TRUE, &error));
	ck_assert(strstr(error->message, "[auth] es256-public-key-file"));
	g_clear_error(&error);
	ck_assert_ptr_null(vlg_auth_new(config3, TRUE, &error));
	ck_assert(strstr(error->message, "/nonexistent/vlg/secret"));
}
END_TEST

/* With only an ES256 key, nothing can be minted here and HS256 tokens are refused. */
START_TEST(test_es256_only)
{
	g_autoptr(GError) error = NULL;
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *pem;
	g_autofree char *path = NULL, *line = NULL, *hs_token = NULL;
	g_autoptr(VlgGatewayConfig) config = NULL;
	g_autoptr(VlgAuth) auth = NULL;

	ck_assert(PEM_write_bio_PUBKEY(bio, pkey) == 1);
	BIO_get_mem_ptr(bio, &pem);
	path = g_build_filename(directory, "platform.pem", NULL);
	ck_assert(g_file_set_contents(path, pem->data, pem->length, NULL));
	line = g_strdup_printf("hs256=false\nes256-public-key-file=%s\n", path);
	config = config_with(line);
	auth = vlg_auth_new(config, TRUE, &error);
	ck_assert_msg(auth, "%s", error ? error->message : "?");
	ck_assert_ptr_null(vlg_auth_mint(auth, "330200000000", VLG_ROLE_ADMIN, "x", 60, NOW, &error));
	ck_assert(strstr(error->message, "HS256 is off"));
	hs_token = sign("{" BASE ",\"org\":\"330200000000\",\"role\":\"admin\",\"name\":\"x\"}");
	ck_assert_ptr_null(vlg_auth_check_token(auth, hs_token, NOW, NULL));
	BIO_free(bio);
	EVP_PKEY_free(pkey);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("auth");
	TCase *tc = tcase_create("tokens");
	SRunner *runner;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_claims, 0, G_N_ELEMENTS(claims_table));
	tcase_add_test(tc, test_mint_round_trip);
	tcase_add_test(tc, test_missing_or_empty_token);
	tcase_add_test(tc, test_default_secret_created);
	tcase_add_test(tc, test_bad_keys_named);
	tcase_add_test(tc, test_es256_only);
	suite_add_tcase(suite, tc);
	runner = srunner_create(suite);
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
