/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gateway/jwt.h"

/* Tokens here are made by the test's own code (GLib base64, OpenSSL directly), not by
 * vlg_jwt_sign(), so a shared mistake cannot pass unseen. */

#define NOW 1700000000
#define LEEWAY 60
#define AUDIENCE "linkage-gateway"
#define ISSUER "command-platform"
#define ACCEPTED (-1)

static const char secret[] = "test-secret-0123456789abcdef-0123456789";
static const char other_secret[] = "other-secret-0123456789abcdef-012345678";

/* Made per test by the fixture: a fresh P-256 key pair. */
static EVP_PKEY *es_pkey;
static char *es_public_pem;
static char *es_private_pem;
static VlgJwtKey *hs_key, *hs_other_key, *es_public_key, *es_private_key;

/* ---- helpers: encoding and signing without jwt.c ---- */

static char *
b64url(const void *data, gsize length)
{
	char *text = g_base64_encode(data, length);
	char *padding = strchr(text, '=');

	if (padding)
		*padding = '\0';
	g_strdelimit(text, "+", '-');
	g_strdelimit(text, "/", '_');
	return text;
}

static GBytes *
b64url_decode(const char *text, gsize length)
{
	GString *padded = g_string_new_len(text, (gssize)length);
	gsize size = 0;
	guchar *data;

	g_strdelimit(padded->str, "-", '+');
	g_strdelimit(padded->str, "_", '/');
	while (padded->len % 4)
		g_string_append_c(padded, '=');
	data = g_base64_decode(padded->str, &size);
	g_string_free(padded, TRUE);
	return g_bytes_new_take(data, size);
}

static char *
pem_of(EVP_PKEY *pkey, gboolean private_key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long length;
	char *pem;

	if (private_key)
		ck_assert(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL));
	else
		ck_assert(PEM_write_bio_PUBKEY(bio, pkey));
	length = BIO_get_mem_data(bio, &data);
	pem = g_strndup(data, (gsize)length);
	BIO_free(bio);
	return pem;
}

static GBytes *
hmac(const char *key, const char *input)
{
	guint8 mac[32];
	size_t length = 0;

	ck_assert(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key),
			    (const guint8 *)input, strlen(input), mac, sizeof mac, &length));
	return g_bytes_new(mac, length);
}

static GBytes *
es256_der(const char *input)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	guint8 der[128];
	size_t length = sizeof der;

	ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, es_pkey), 1);
	ck_assert_int_eq(EVP_DigestSign(ctx, der, &length, (const guint8 *)input, strlen(input)),
			 1);
	EVP_MD_CTX_free(ctx);
	return g_bytes_new(der, length);
}

static GBytes *
es256_raw(const char *input)
{
	g_autoptr(GBytes) der = es256_der(input);
	const guint8 *p = g_bytes_get_data(der, NULL);
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)g_bytes_get_size(der));
	const BIGNUM *r, *s;
	guint8 raw[64];

	ck_assert_ptr_nonnull(sig);
	ECDSA_SIG_get0(sig, &r, &s);
	ck_assert_int_eq(BN_bn2binpad(r, raw, 32), 32);
	ck_assert_int_eq(BN_bn2binpad(s, raw + 32, 32), 32);
	ECDSA_SIG_free(sig);
	return g_bytes_new(raw, sizeof raw);
}

/* ---- fixture ---- */

static VlgJwtKey *
must(VlgJwtKey *key, GError *error)
{
	ck_assert_msg(key, "key: %s", error ? error->message : "?");
	return key;
}

static void
setup(void)
{
	GError *error = NULL;

	es_pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(es_pkey);
	es_public_pem = pem_of(es_pkey, FALSE);
	es_private_pem = pem_of(es_pkey, TRUE);
	hs_key = must(vlg_jwt_key_new_hs256((const guint8 *)secret, strlen(secret), &error), error);
	hs_other_key = must(vlg_jwt_key_new_hs256((const guint8 *)other_secret,
						  strlen(other_secret), &error),
			    error);
	es_public_key = must(vlg_jwt_key_new_es256_public(es_public_pem, strlen(es_public_pem),
							  &error),
			     error);
	es_private_key = must(vlg_jwt_key_new_es256_private(es_private_pem,
							    strlen(es_private_pem), &error),
			      error);
}

static void
teardown(void)
{
	hs_key = vlg_jwt_key_free(hs_key);
	hs_other_key = vlg_jwt_key_free(hs_other_key);
	es_public_key = vlg_jwt_key_free(es_public_key);
	es_private_key = vlg_jwt_key_free(es_private_key);
	g_clear_pointer(&es_public_pem, g_free);
	g_clear_pointer(&es_private_pem, g_free);
	g_clear_pointer(&es_pkey, EVP_PKEY_free);
}

/* ---- what a verification must say ---- */

static const char *const never_in_messages[] = {
	secret, other_secret, "operator-7", "1700000", "1900000", "wrong-audience", "evil-issuer",
};

static void
assert_message_clean(const char *message, const char *token)
{
	g_auto(GStrv) parts = g_strsplit(token, ".", -1);

	ck_assert_msg(*message != '\0', "empty message");
	ck_assert_msg(!*token || !strstr(message, token), "message holds the token: %s", message);
	for (guint i = 0; parts[i]; i++)
		ck_assert_msg(strlen(parts[i]) < 8 || !strstr(message, parts[i]),
			      "message holds a token part: %s", message);
	for (guint i = 0; i < G_N_ELEMENTS(never_in_messages); i++)
		ck_assert_msg(!strstr(message, never_in_messages[i]), "message holds '%s': %s",
			      never_in_messages[i], message);
}

static void
check_verify(const char *token, VlgJwtKey *const *keys, guint n_keys,
	     const VlgJwtPolicy *policy, int expected)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) claims = vlg_jwt_verify(token, keys, n_keys, policy, &error);

	if (expected == ACCEPTED) {
		ck_assert_msg(claims, "refused (%s)", error ? error->message : "?");
		ck_assert_ptr_null(error);
		ck_assert_str_eq(json_object_get_string_member(claims, "sub"), "operator-7");
		return;
	}
	ck_assert_msg(!claims, "accepted, expected error code %d", expected);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(error->domain == VLG_JWT_ERROR && error->code == expected,
		      "error code %d (%s), expected %d", error->code, error->message, expected);
	assert_message_clean(error->message, token);
}

static void
check_token(const char *token, int expected)
{
	VlgJwtPolicy policy = { .audience = AUDIENCE, .now = NOW, .leeway_seconds = LEEWAY };

	check_verify(token, &hs_key, 1, &policy, expected);
}

/* ---- the main table: tokens built from header and payload text ---- */

typedef enum {
	SIGN_HS256,       /* HMAC with the secret of hs_key */
	SIGN_HS256_OTHER, /* HMAC with another secret */
	SIGN_HS256_PEM,   /* HMAC keyed with the ES256 public key's PEM: the HS/ES swap */
	SIGN_ES256,       /* R||S, as JWS wants */
	SIGN_ES256_DER,   /* DER, as OpenSSL makes it */
	SIGN_EMPTY,
} Signer;

typedef enum {
	MUTATE_NONE,
	MUTATE_PAYLOAD,  /* after signing, swap in TAMPERED_PAYLOAD */
	MUTATE_FLIP_BIT, /* flip one bit of the signature */
	MUTATE_TRUNCATE, /* drop the signature's last byte */
	MUTATE_EXTEND,   /* a valid signature and one more byte */
} Mutation;

typedef enum {
	KEYS_HS,
	KEYS_HS_OTHER_THEN_HS,
	KEYS_ES,
	KEYS_ES_PRIVATE,
	KEYS_ES_AND_HS,
	KEYS_ES_AND_HS_OTHER,
	KEYS_NONE,
} KeySet;

/* NOW = 1700000000, LEEWAY = 60 */
#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define ES "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"
#define SUB "\"sub\":\"operator-7\""
#define AUD "\"aud\":\"" AUDIENCE "\""
#define EXP "\"exp\":1700000600"
#define CLAIMS(...) "{" SUB "," __VA_ARGS__ "}"
#define GOOD CLAIMS(AUD "," EXP)
#define TAMPERED_PAYLOAD CLAIMS(AUD ",\"exp\":1900000000,\"role\":\"admin\"")

static const struct {
	const char *header;
	const char *payload;
	Signer signer;
	Mutation mutation;
	KeySet keys;
	const char *issuer; /* the policy's */
	int expected;
} token_table[] = {
	/* accepted */
	{ HS, GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, ACCEPTED },
	{ HS, GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS_OTHER_THEN_HS, NULL, ACCEPTED },
	{ HS, GOOD, SIGN_HS256, MUTATE_NONE, KEYS_ES_AND_HS, NULL, ACCEPTED },
	{ ES, GOOD, SIGN_ES256, MUTATE_NONE, KEYS_ES, NULL, ACCEPTED },
	{ ES, GOOD, SIGN_ES256, MUTATE_NONE, KEYS_ES_PRIVATE, NULL, ACCEPTED },
	{ ES, GOOD, SIGN_ES256, MUTATE_NONE, KEYS_ES_AND_HS, NULL, ACCEPTED },
	{ "{\"alg\":\"HS256\"}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, ACCEPTED },
	{ "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  ACCEPTED },
	{ HS, CLAIMS("\"aud\":[\"other\",\"" AUDIENCE "\"]," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS,
	  NULL, ACCEPTED },
	{ ES, CLAIMS("\"aud\":[\"" AUDIENCE "\"]," EXP), SIGN_ES256, MUTATE_NONE, KEYS_ES, NULL,
	  ACCEPTED },
	{ HS, CLAIMS(AUD ",\"exp\":1700000600.5"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  ACCEPTED },
	{ HS, CLAIMS(AUD ",\"iss\":\"" ISSUER "\"," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, ISSUER,
	  ACCEPTED },
	{ HS, CLAIMS(AUD ",\"iss\":\"evil-issuer\"," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  ACCEPTED },
	/* tampering */
	{ HS, GOOD, SIGN_HS256, MUTATE_PAYLOAD, KEYS_HS, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ ES, GOOD, SIGN_ES256, MUTATE_PAYLOAD, KEYS_ES, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ HS, GOOD, SIGN_HS256, MUTATE_FLIP_BIT, KEYS_HS, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ ES, GOOD, SIGN_ES256, MUTATE_FLIP_BIT, KEYS_ES, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ HS, GOOD, SIGN_HS256_OTHER, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ HS, GOOD, SIGN_HS256, MUTATE_NONE, KEYS_ES_AND_HS_OTHER, NULL, VLG_JWT_ERROR_SIGNATURE },
	/* signature formats */
	{ ES, GOOD, SIGN_ES256, MUTATE_TRUNCATE, KEYS_ES, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ ES, GOOD, SIGN_ES256_DER, MUTATE_NONE, KEYS_ES, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ HS, GOOD, SIGN_HS256, MUTATE_TRUNCATE, KEYS_HS, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ HS, GOOD, SIGN_HS256, MUTATE_EXTEND, KEYS_HS, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ ES, GOOD, SIGN_ES256, MUTATE_EXTEND, KEYS_ES, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ HS, GOOD, SIGN_EMPTY, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_SIGNATURE },
	/* algorithm confusion */
	{ "{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD, SIGN_EMPTY, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	{ "{\"alg\":\"none\"}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	{ "{\"alg\":\"None\"}", GOOD, SIGN_EMPTY, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	{ HS, GOOD, SIGN_HS256_PEM, MUTATE_NONE, KEYS_ES, NULL, VLG_JWT_ERROR_ALGORITHM },
	{ HS, GOOD, SIGN_HS256_PEM, MUTATE_NONE, KEYS_ES_AND_HS, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ ES, GOOD, SIGN_ES256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_ALGORITHM },
	{ HS, GOOD, SIGN_HS256, MUTATE_NONE, KEYS_ES, NULL, VLG_JWT_ERROR_ALGORITHM },
	{ HS, GOOD, SIGN_HS256, MUTATE_NONE, KEYS_NONE, NULL, VLG_JWT_ERROR_ALGORITHM },
	{ "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	{ "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	{ "{\"alg\":\"hs256\"}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	{ "{\"typ\":\"JWT\"}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	{ "{\"alg\":256}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_ALGORITHM },
	{ "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	{ "{\"alg\":\"HS256\",\"typ\":\"JWS-other\"}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	{ "{\"alg\":\"HS256\",\"typ\":1}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_ALGORITHM },
	/* header and payload that are not JSON objects */
	{ "not json", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_MALFORMED },
	{ "[\"HS256\"]", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_MALFORMED },
	{ "{\"alg\":\"HS256\",\"alg\":\"none\"}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_MALFORMED },
	{ HS "{}", GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_MALFORMED },
	{ HS, "not json", SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_MALFORMED },
	{ ES, "{\"exp\":", SIGN_ES256, MUTATE_NONE, KEYS_ES, NULL, VLG_JWT_ERROR_MALFORMED },
	{ HS, "not json", SIGN_HS256_OTHER, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_SIGNATURE },
	{ HS, "[" GOOD "]", SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_MALFORMED },
	{ HS, GOOD GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_MALFORMED },
	{ HS, "var x = " GOOD ";", SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_MALFORMED },
	{ HS, CLAIMS(AUD "," EXP ",\"exp\":1900000000"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_MALFORMED },
	{ HS, CLAIMS(AUD "," EXP ",\"x\":{\"a\":1,\"a\":2}"), SIGN_HS256, MUTATE_NONE, KEYS_HS,
	  NULL, VLG_JWT_ERROR_MALFORMED },
	{ HS, CLAIMS(AUD "," EXP ",\"x\":\"\xff\""), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_MALFORMED },
	{ HS, "", SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_MALFORMED },
	/* exp, nbf, iat */
	{ HS, CLAIMS(AUD ",\"exp\":1699999939"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_EXPIRED },
	{ ES, CLAIMS(AUD ",\"exp\":1699999939"), SIGN_ES256, MUTATE_NONE, KEYS_ES, NULL,
	  VLG_JWT_ERROR_EXPIRED },
	{ HS, CLAIMS(AUD ",\"exp\":1699999939.5"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_EXPIRED },
	{ HS, CLAIMS(AUD ",\"exp\":1699999940"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, ACCEPTED },
	{ HS, CLAIMS(AUD ",\"exp\":-1"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_EXPIRED },
	{ HS, CLAIMS(AUD ",\"nbf\":1700000061," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_NOT_YET_VALID },
	{ HS, CLAIMS(AUD ",\"nbf\":1700000060," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  ACCEPTED },
	{ HS, CLAIMS(AUD ",\"iat\":1700000061," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_NOT_YET_VALID },
	{ HS, CLAIMS(AUD ",\"iat\":1700000060," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  ACCEPTED },
	{ HS, CLAIMS(AUD), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_CLAIMS },
	{ HS, CLAIMS(AUD ",\"exp\":\"1700000600\""), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_CLAIMS },
	{ HS, CLAIMS(AUD ",\"exp\":true"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_CLAIMS },
	{ HS, CLAIMS(AUD ",\"exp\":null"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_CLAIMS },
	{ HS, CLAIMS(AUD ",\"exp\":1e999"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_CLAIMS },
	{ HS, CLAIMS(AUD ",\"exp\":[1700000600]"), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_CLAIMS },
	{ HS, CLAIMS(AUD ",\"nbf\":\"1700000000\"," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_CLAIMS },
	{ HS, CLAIMS(AUD ",\"iat\":{}," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_CLAIMS },
	/* aud and iss */
	{ HS, CLAIMS("\"aud\":\"wrong-audience\"," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_AUDIENCE },
	{ HS, CLAIMS(EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL, VLG_JWT_ERROR_AUDIENCE },
	{ HS, CLAIMS("\"aud\":[\"wrong-audience\"]," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_AUDIENCE },
	{ HS, CLAIMS("\"aud\":[]," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_AUDIENCE },
	{ HS, CLAIMS("\"aud\":7," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_AUDIENCE },
	{ HS, CLAIMS("\"aud\":\"linkage-gateway-2\"," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, NULL,
	  VLG_JWT_ERROR_AUDIENCE },
	{ HS, CLAIMS(AUD ",\"iss\":\"evil-issuer\"," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS, ISSUER,
	  VLG_JWT_ERROR_ISSUER },
	{ HS, GOOD, SIGN_HS256, MUTATE_NONE, KEYS_HS, ISSUER, VLG_JWT_ERROR_ISSUER },
	{ HS, CLAIMS(AUD ",\"iss\":[\"" ISSUER "\"]," EXP), SIGN_HS256, MUTATE_NONE, KEYS_HS,
	  ISSUER, VLG_JWT_ERROR_ISSUER },
};

static GBytes *
sign_input(Signer signer, const char *input)
{
	switch (signer) {
	case SIGN_HS256: return hmac(secret, input);
	case SIGN_HS256_OTHER: return hmac(other_secret, input);
	case SIGN_HS256_PEM: return hmac(es_public_pem, input);
	case SIGN_ES256: return es256_raw(input);
	case SIGN_ES256_DER: return es256_der(input);
	case SIGN_EMPTY: break;
	}
	return g_bytes_new(NULL, 0);
}

static char *
build_token(const char *header, const char *payload, Signer signer, Mutation mutation)
{
	g_autofree char *header64 = b64url(header, strlen(header));
	g_autofree char *payload64 = b64url(payload, strlen(payload));
	g_autofree char *input = g_strconcat(header64, ".", payload64, NULL);
	g_autoptr(GBytes) signature = sign_input(signer, input);
	gsize length = g_bytes_get_size(signature);
	g_autofree guint8 *bytes = g_malloc0(length + 1);
	g_autofree char *signature64 = NULL;

	if (length)
		memcpy(bytes, g_bytes_get_data(signature, NULL), length);
	if (mutation == MUTATE_PAYLOAD) {
		g_free(payload64);
		payload64 = b64url(TAMPERED_PAYLOAD, strlen(TAMPERED_PAYLOAD));
		g_free(input);
		input = g_strconcat(header64, ".", payload64, NULL);
	} else if (mutation == MUTATE_FLIP_BIT) {
		bytes[length / 2] ^= 0x10;
	} else if (mutation == MUTATE_TRUNCATE) {
		length--;
	} else if (mutation == MUTATE_EXTEND) {
		length++;
	}
	signature64 = b64url(bytes, length);
	return g_strconcat(input, ".", signature64, NULL);
}

static guint
key_set(KeySet set, VlgJwtKey **keys)
{
	switch (set) {
	case KEYS_HS: keys[0] = hs_key; return 1;
	case KEYS_HS_OTHER_THEN_HS: keys[0] = hs_other_key; keys[1] = hs_key; return 2;
	case KEYS_ES: keys[0] = es_public_key; return 1;
	case KEYS_ES_PRIVATE: keys[0] = es_private_key; return 1;
	case KEYS_ES_AND_HS: keys[0] = es_public_key; keys[1] = hs_key; return 2;
	case KEYS_ES_AND_HS_OTHER: keys[0] = es_public_key; keys[1] = hs_other_key; return 2;
	case KEYS_NONE: break;
	}
	return 0;
}

START_TEST(test_token)
{
	g_autofree char *token = build_token(token_table[_i].header, token_table[_i].payload,
					     token_table[_i].signer, token_table[_i].mutation);
	VlgJwtPolicy policy = { .audience = AUDIENCE, .issuer = token_table[_i].issuer,
				.now = NOW, .leeway_seconds = LEEWAY };
	VlgJwtKey *keys[2] = { NULL, NULL };
	guint n_keys = key_set(token_table[_i].keys, keys);

	check_verify(token, keys, n_keys, &policy, token_table[_i].expected);
}
END_TEST

/* ---- the compact form itself ---- */

/* Characters outside base64url, put in place of the second character of each part. */
static const char bad_characters[] = { '+', '/', '=', ' ', '%', '\n', '~', '\xc3' };

START_TEST(test_bad_character)
{
	g_autofree char *token = build_token(HS, GOOD, SIGN_HS256, MUTATE_NONE);
	guint part = _i / G_N_ELEMENTS(bad_characters);
	char *p = token;

	for (guint i = 0; i < part; i++)
		p = strchr(p, '.') + 1;
	p[1] = bad_characters[_i % G_N_ELEMENTS(bad_characters)];
	check_token(token, VLG_JWT_ERROR_MALFORMED);
}
END_TEST

static char *
two_parts(const char *token)
{
	return g_strndup(token, (gsize)(strrchr(token, '.') - token));
}

static char *
four_parts(const char *token)
{
	return g_strconcat(token, ".AAAA", NULL);
}

static char *
empty(const char *token)
{
	return g_strdup("");
}

static char *
only_dots(const char *token)
{
	return g_strdup("..");
}

static char *
padded_signature(const char *token)
{
	/* 32 bytes are 43 characters: "=" makes the padded standard form. */
	return g_strconcat(token, "=", NULL);
}

static char *
trailing_bits(const char *token)
{
	/* The last of 43 characters carries 4 bits of the MAC and 2 unused ones: setting one of
	 * those spells the same signature differently. */
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *copy = g_strdup(token);
	char *last = copy + strlen(copy) - 1;

	*last = alphabet[(strchr(alphabet, *last) - alphabet) | 1];
	return copy;
}

static char *
header_one_too_long(const char *token)
{
	/* The header part is 36 characters; 37 is never a base64 length. */
	const char *dot = strchr(token, '.');

	return g_strdup_printf("%.*sA%s", (int)(dot - token), token, dot);
}

static char *
leading_space(const char *token)
{
	return g_strconcat(" ", token, NULL);
}

static char *
trailing_newline(const char *token)
{
	return g_strconcat(token, "\n", NULL);
}

static char *
empty_signature(const char *token)
{
	return g_strndup(token, (gsize)(strrchr(token, '.') - token + 1));
}

static char *
oversize_garbage(const char *token)
{
	/* Refused for its length, before anything looks at the characters. */
	char *garbage = g_malloc(5001);

	memset(garbage, '!', 5000);
	garbage[5000] = '\0';
	return garbage;
}

static const struct {
	char *(*mutate)(const char *token);
	int expected;
	const char *message; /* a fragment of it */
} compact_table[] = {
	{ two_parts, VLG_JWT_ERROR_MALFORMED, "three parts" },
	{ four_parts, VLG_JWT_ERROR_MALFORMED, "three parts" },
	{ empty, VLG_JWT_ERROR_MALFORMED, "three parts" },
	{ only_dots, VLG_JWT_ERROR_MALFORMED, "JSON" },
	{ padded_signature, VLG_JWT_ERROR_MALFORMED, "base64url" },
	{ trailing_bits, VLG_JWT_ERROR_MALFORMED, "base64url" },
	{ header_one_too_long, VLG_JWT_ERROR_MALFORMED, "base64url" },
	{ leading_space, VLG_JWT_ERROR_MALFORMED, "base64url" },
	{ trailing_newline, VLG_JWT_ERROR_MALFORMED, "base64url" },
	{ empty_signature, VLG_JWT_ERROR_SIGNATURE, "wrong length" },
	{ oversize_garbage, VLG_JWT_ERROR_TOO_LONG, "4096" },
};

START_TEST(test_compact_form)
{
	g_autofree char *good = build_token(HS, GOOD, SIGN_HS256, MUTATE_NONE);
	g_autofree char *token = compact_table[_i].mutate(good);
	VlgJwtPolicy policy = { .audience = AUDIENCE, .now = NOW };
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) claims = vlg_jwt_verify(token, &hs_key, 1, &policy, &error);

	check_token(good, ACCEPTED);
	check_token(token, compact_table[_i].expected);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strstr(error->message, compact_table[_i].message), "'%s' lacks '%s'",
		      error->message, compact_table[_i].message);
}
END_TEST

/* json-glib is given the length, but a NUL would end its reading early and leave what follows
 * unread. */
START_TEST(test_nul_in_payload)
{
	static const char payload[] = GOOD "\0{\"exp\":";
	g_autofree char *header64 = b64url(HS, strlen(HS));
	g_autofree char *payload64 = b64url(payload, sizeof payload - 1);
	g_autofree char *input = g_strconcat(header64, ".", payload64, NULL);
	g_autoptr(GBytes) mac = hmac(secret, input);
	g_autofree char *mac64 = b64url(g_bytes_get_data(mac, NULL), g_bytes_get_size(mac));
	g_autofree char *token = g_strconcat(input, ".", mac64, NULL);

	check_token(token, VLG_JWT_ERROR_MALFORMED);
}
END_TEST

/* A valid token of exactly @length bytes, padded with a claim. */
static char *
token_of_length(gsize length)
{
	for (gsize pad = 0; pad < length; pad++) {
		g_autofree char *filler = g_strnfill(pad, 'x');
		g_autofree char *payload = g_strdup_printf(CLAIMS(AUD "," EXP ",\"pad\":\"%s\""),
							   filler);
		char *token = build_token(HS, payload, SIGN_HS256, MUTATE_NONE);

		if (strlen(token) == length)
			return token;
		g_free(token);
	}
	ck_abort_msg("no token of %zu bytes", length);
	return NULL;
}

START_TEST(test_default_length_limit)
{
	g_autofree char *at_limit = token_of_length(4096);
	g_autofree char *over_limit = token_of_length(4097);

	check_token(at_limit, ACCEPTED);
	check_token(over_limit, VLG_JWT_ERROR_TOO_LONG);
}
END_TEST

START_TEST(test_policy_length_limit)
{
	g_autofree char *token = build_token(HS, GOOD, SIGN_HS256, MUTATE_NONE);
	VlgJwtPolicy policy = { .audience = AUDIENCE, .now = NOW, .max_length = strlen(token) };

	check_verify(token, &hs_key, 1, &policy, ACCEPTED);
	policy.max_length--;
	check_verify(token, &hs_key, 1, &policy, VLG_JWT_ERROR_TOO_LONG);
}
END_TEST

/* ---- RFC 7515 appendix A.1 and A.3: someone else's tokens ---- */

/* Both carry exp 1300819380 and no aud: refused for the audience, which is only looked at once
 * the signature verified. */
#define RFC_PAYLOAD                                                                                \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0" \
	"cnVlfQ"
static const char rfc_hs256_token[] =
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
	"." RFC_PAYLOAD
	".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char rfc_hs256_key[] =
	"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
static const char rfc_es256_token[] =
	"eyJhbGciOiJFUzI1NiJ9"
	"." RFC_PAYLOAD
	".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char rfc_es256_public_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
	"6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
	"-----END PUBLIC KEY-----\n";

static const struct {
	const char *token;
	gint64 now;
	int expected;
} rfc_table[] = {
	{ rfc_hs256_token, 1300819000, VLG_JWT_ERROR_AUDIENCE },
	{ rfc_hs256_token, 1300819441, VLG_JWT_ERROR_EXPIRED },
	{ rfc_es256_token, 1300819000, VLG_JWT_ERROR_AUDIENCE },
	{ rfc_es256_token, 1300819441, VLG_JWT_ERROR_EXPIRED },
};

START_TEST(test_rfc7515_examples)
{
	g_autoptr(GBytes) secret_bytes = b64url_decode(rfc_hs256_key, strlen(rfc_hs256_key));
	g_autoptr(VlgJwtKey) rfc_hs = vlg_jwt_key_new_hs256(g_bytes_get_data(secret_bytes, NULL),
							    g_bytes_get_size(secret_bytes), NULL);
	g_autoptr(VlgJwtKey) rfc_es = vlg_jwt_key_new_es256_public(
		rfc_es256_public_pem, strlen(rfc_es256_public_pem), NULL);
	VlgJwtKey *keys[] = { rfc_hs, rfc_es };
	VlgJwtPolicy policy = { .audience = AUDIENCE, .now = rfc_table[_i].now,
				.leeway_seconds = LEEWAY };
	g_autofree char *tampered = g_strdup(rfc_table[_i].token);

	ck_assert_ptr_nonnull(rfc_hs);
	ck_assert_ptr_nonnull(rfc_es);
	check_verify(rfc_table[_i].token, keys, G_N_ELEMENTS(keys), &policy,
		     rfc_table[_i].expected);
	/* The same with one character of the claims changed. */
	tampered[strchr(tampered, '.') - tampered + 9] ^= 1;
	check_verify(tampered, keys, G_N_ELEMENTS(keys), &policy, VLG_JWT_ERROR_SIGNATURE);
}
END_TEST

/* ---- keys ---- */

typedef enum {
	PEM_P256_PUBLIC,
	PEM_P256_PKCS8,
	PEM_P256_SEC1,
	PEM_P256_ENCRYPTED,
	PEM_P384_PUBLIC,
	PEM_P384_PRIVATE,
	PEM_ED25519_PUBLIC,
	PEM_GARBAGE,
	PEM_EMPTY,
} PemKind;

static void
write_pem(BIO *bio, PemKind kind)
{
	EVP_PKEY *other = NULL;

	switch (kind) {
	case PEM_P256_PUBLIC: ck_assert(PEM_write_bio_PUBKEY(bio, es_pkey)); break;
	case PEM_P256_PKCS8:
		ck_assert(PEM_write_bio_PrivateKey(bio, es_pkey, NULL, NULL, 0, NULL, NULL));
		break;
	case PEM_P256_SEC1:
		ck_assert(PEM_write_bio_PrivateKey_traditional(bio, es_pkey, NULL, NULL, 0, NULL,
							       NULL));
		break;
	case PEM_P256_ENCRYPTED:
		ck_assert(PEM_write_bio_PrivateKey(bio, es_pkey, EVP_aes_256_cbc(),
						   (unsigned char *)"passphrase", 10, NULL, NULL));
		break;
	case PEM_P384_PUBLIC:
		other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		ck_assert(PEM_write_bio_PUBKEY(bio, other));
		break;
	case PEM_P384_PRIVATE:
		other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		ck_assert(PEM_write_bio_PrivateKey(bio, other, NULL, NULL, 0, NULL, NULL));
		break;
	case PEM_ED25519_PUBLIC:
		other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		ck_assert(PEM_write_bio_PUBKEY(bio, other));
		break;
	case PEM_GARBAGE: BIO_puts(bio, "-----BEGIN PUBLIC KEY-----\nnot a key\n"); break;
	case PEM_EMPTY: break;
	}
	EVP_PKEY_free(other);
}

static char *
make_pem(PemKind kind)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long length;
	char *pem;

	write_pem(bio, kind);
	length = BIO_get_mem_data(bio, &data);
	/* An empty BIO has no data at all, and g_strndup(NULL) is NULL. */
	pem = g_strndup(length > 0 ? data : "", (gsize)length);
	BIO_free(bio);
	return pem;
}

static const struct {
	PemKind kind;
	gboolean private_key; /* which constructor */
	int expected;
} pem_table[] = {
	{ PEM_P256_PUBLIC, FALSE, ACCEPTED },
	{ PEM_P256_PKCS8, TRUE, ACCEPTED },
	{ PEM_P256_SEC1, TRUE, ACCEPTED },
	{ PEM_P256_PKCS8, FALSE, VLG_JWT_ERROR_KEY },
	{ PEM_P256_PUBLIC, TRUE, VLG_JWT_ERROR_KEY },
	{ PEM_P256_ENCRYPTED, TRUE, VLG_JWT_ERROR_KEY },
	{ PEM_P384_PUBLIC, FALSE, VLG_JWT_ERROR_KEY },
	{ PEM_P384_PRIVATE, TRUE, VLG_JWT_ERROR_KEY },
	{ PEM_ED25519_PUBLIC, FALSE, VLG_JWT_ERROR_KEY },
	{ PEM_GARBAGE, FALSE, VLG_JWT_ERROR_KEY },
	{ PEM_GARBAGE, TRUE, VLG_JWT_ERROR_KEY },
	{ PEM_EMPTY, FALSE, VLG_JWT_ERROR_KEY },
};

START_TEST(test_es256_key)
{
	g_autofree char *pem = make_pem(pem_table[_i].kind);
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgJwtKey) key = NULL;

	if (pem_table[_i].private_key)
		key = vlg_jwt_key_new_es256_private(pem, strlen(pem), &error);
	else
		key = vlg_jwt_key_new_es256_public(pem, strlen(pem), &error);
	if (pem_table[_i].expected == ACCEPTED) {
		ck_assert_msg(key, "refused: %s", error ? error->message : "?");
		ck_assert_int_eq(vlg_jwt_key_get_algorithm(key), VLG_JWT_ES256);
		return;
	}
	ck_assert_ptr_null(key);
	ck_assert_ptr_nonnull(error);
	ck_assert(g_error_matches(error, VLG_JWT_ERROR, VLG_JWT_ERROR_KEY));
}
END_TEST

static const struct {
	gsize length;
	int expected;
} secret_table[] = {
	{ 0, VLG_JWT_ERROR_KEY },
	{ 1, VLG_JWT_ERROR_KEY },
	{ 31, VLG_JWT_ERROR_KEY },
	{ 32, ACCEPTED },
	{ sizeof secret - 1, ACCEPTED },
};

START_TEST(test_hs256_secret_length)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgJwtKey) key = vlg_jwt_key_new_hs256((const guint8 *)secret,
							 secret_table[_i].length, &error);

	if (secret_table[_i].expected == ACCEPTED) {
		ck_assert_msg(key, "refused: %s", error ? error->message : "?");
		ck_assert_int_eq(vlg_jwt_key_get_algorithm(key), VLG_JWT_HS256);
		return;
	}
	ck_assert_ptr_null(key);
	ck_assert(g_error_matches(error, VLG_JWT_ERROR, VLG_JWT_ERROR_KEY));
	/* Not even the part of the secret that was given. */
	ck_assert(!strstr(error->message, "test-secret"));
}
END_TEST

START_TEST(test_free_accepts_null)
{
	ck_assert_ptr_null(vlg_jwt_key_free(NULL));
}
END_TEST

/* ---- signing ---- */

static JsonObject *
sample_claims(void)
{
	JsonObject *claims = json_object_new();

	json_object_set_string_member(claims, "sub", "operator-7");
	json_object_set_string_member(claims, "aud", AUDIENCE);
	json_object_set_int_member(claims, "exp", NOW + 600);
	return claims;
}

static char *
decoded_part(const char *token, guint part)
{
	g_auto(GStrv) parts = g_strsplit(token, ".", -1);
	g_autoptr(GBytes) bytes = NULL;

	ck_assert_uint_eq(g_strv_length(parts), 3);
	bytes = b64url_decode(parts[part], strlen(parts[part]));
	return g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
}

static void
check_signed_shape(const char *token, const char *header)
{
	g_autofree char *header_text = decoded_part(token, 0);
	g_autofree char *payload_text = decoded_part(token, 1);

	ck_assert_str_eq(header_text, header);
	ck_assert_str_eq(payload_text, "{\"sub\":\"operator-7\",\"aud\":\"" AUDIENCE
				       "\",\"exp\":1700000600}");
	ck_assert_msg(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789-_.") == strlen(token),
		      "not base64url: %s", token);
}

START_TEST(test_sign_hs256)
{
	g_autoptr(JsonObject) claims = sample_claims();
	g_autoptr(GError) error = NULL;
	g_autofree char *token = vlg_jwt_sign(hs_key, claims, &error);
	g_autofree char *input = NULL;
	g_autoptr(GBytes) expected = NULL;
	g_autofree char *expected64 = NULL;

	ck_assert_msg(token, "%s", error ? error->message : "?");
	check_signed_shape(token, HS);
	input = g_strndup(token, (gsize)(strrchr(token, '.') - token));
	expected = hmac(secret, input);
	expected64 = b64url(g_bytes_get_data(expected, NULL), g_bytes_get_size(expected));
	ck_assert_str_eq(strrchr(token, '.') + 1, expected64);
	check_token(token, ACCEPTED);
}
END_TEST

/* OpenSSL, given the R||S the token carries as DER, agrees. */
static void
check_es256_independently(const char *token)
{
	g_auto(GStrv) parts = g_strsplit(token, ".", -1);
	g_autoptr(GBytes) raw = b64url_decode(parts[2], strlen(parts[2]));
	g_autofree char *input = g_strconcat(parts[0], ".", parts[1], NULL);
	const guint8 *rs = g_bytes_get_data(raw, NULL);
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *der = NULL;
	int der_length;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	ck_assert_uint_eq(g_bytes_get_size(raw), 64);
	ck_assert(ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL)));
	der_length = i2d_ECDSA_SIG(sig, &der);
	ck_assert_int_gt(der_length, 0);
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, es_pkey), 1);
	ck_assert_int_eq(EVP_DigestVerify(ctx, der, (size_t)der_length, (const guint8 *)input,
					  strlen(input)),
			 1);
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
}

START_TEST(test_sign_es256)
{
	g_autoptr(JsonObject) claims = sample_claims();
	g_autoptr(GError) error = NULL;
	g_autofree char *token = vlg_jwt_sign(es_private_key, claims, &error);
	VlgJwtPolicy policy = { .audience = AUDIENCE, .now = NOW };

	ck_assert_msg(token, "%s", error ? error->message : "?");
	check_signed_shape(token, ES);
	check_es256_independently(token);
	check_verify(token, &es_public_key, 1, &policy, ACCEPTED);
	check_verify(token, &hs_key, 1, &policy, VLG_JWT_ERROR_ALGORITHM);
}
END_TEST

START_TEST(test_sign_needs_private_key)
{
	g_autoptr(JsonObject) claims = sample_claims();
	g_autoptr(GError) error = NULL;
	g_autofree char *token = vlg_jwt_sign(es_public_key, claims, &error);

	ck_assert_ptr_null(token);
	ck_assert(g_error_matches(error, VLG_JWT_ERROR, VLG_JWT_ERROR_KEY));
}
END_TEST

static Suite *
jwt_suite(void)
{
	Suite *suite = suite_create("jwt");
	TCase *tc = tcase_create("verify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_token, 0, G_N_ELEMENTS(token_table));
	suite_add_tcase(suite, tc);
	tc = tcase_create("compact form");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad_character, 0, 3 * G_N_ELEMENTS(bad_characters));
	tcase_add_loop_test(tc, test_compact_form, 0, G_N_ELEMENTS(compact_table));
	tcase_add_test(tc, test_nul_in_payload);
	tcase_add_test(tc, test_default_length_limit);
	tcase_add_test(tc, test_policy_length_limit);
	suite_add_tcase(suite, tc);
	tc = tcase_create("rfc 7515");
	tcase_add_loop_test(tc, test_rfc7515_examples, 0, G_N_ELEMENTS(rfc_table));
	suite_add_tcase(suite, tc);
	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_es256_key, 0, G_N_ELEMENTS(pem_table));
	tcase_add_loop_test(tc, test_hs256_secret_length, 0, G_N_ELEMENTS(secret_table));
	tcase_add_test(tc, test_free_accepts_null);
	suite_add_tcase(suite, tc);
	tc = tcase_create("sign");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sign_hs256);
	tcase_add_test(tc, test_sign_es256);
	tcase_add_test(tc, test_sign_needs_private_key);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(jwt_suite());
	int failed;

	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
