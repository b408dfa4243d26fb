/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/jwt.h"

#include <math.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define DEFAULT_MAX_LENGTH 4096
#define HS256_MIN_SECRET 32
#define HS256_SIGNATURE_LENGTH 32
#define ES256_COORDINATE_LENGTH 32
#define ES256_SIGNATURE_LENGTH (2 * ES256_COORDINATE_LENGTH)
#define MAX_SIGNATURE_LENGTH ES256_SIGNATURE_LENGTH
/* A PEM key is a few hundred bytes; anything much larger is not one, and BIO lengths are int. */
#define MAX_PEM_LENGTH (64 * 1024)

G_DEFINE_QUARK(vlg-jwt-error-quark, vlg_jwt_error)

struct _VlgJwtKey {
	VlgJwtAlgorithm algorithm;
	guint8 *secret; /* HS256; wiped on free */
	gsize secret_length;
	EVP_PKEY *pkey; /* ES256 */
	gboolean can_sign;
};

/* One entry per algorithm a key can be pinned to; the signature length is checked before either
 * function runs. */
typedef struct {
	const char *name;
	gsize signature_length;
	gboolean (*verify)(const VlgJwtKey *key, const guint8 *input, gsize length,
			   const guint8 *signature);
	gboolean (*sign)(const VlgJwtKey *key, const guint8 *input, gsize length,
			 guint8 *signature);
} Algorithm;

static void
set_error(GError **error, VlgJwtErrorCode code, const char *message)
{
	g_set_error_literal(error, VLG_JWT_ERROR, code, message);
}

/* ---- base64url (RFC 4648 section 5), without padding ---- */

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Strict: no padding, no whitespace, and the unused low bits of the last character must be zero,
 * so that each byte string has exactly one encoding and a signature cannot be re-spelled. */
static GBytes *
b64url_decode(const char *text, gsize length)
{
	g_autofree guint8 *out = NULL;
	guint32 bits = 0;
	guint n_bits = 0;
	gsize n = 0;

	if (length % 4 == 1)
		return NULL;
	out = g_malloc(length / 4 * 3 + 3);
	for (gsize i = 0; i < length; i++) {
		int value = b64url_value(text[i]);

		if (value < 0)
			return NULL;
		bits = bits << 6 | (guint32)value;
		n_bits += 6;
		if (n_bits >= 8) {
			n_bits -= 8;
			out[n++] = (guint8)(bits >> n_bits);
			bits &= (1u << n_bits) - 1;
		}
	}
	if (bits != 0)
		return NULL;
	return g_bytes_new_take(g_steal_pointer(&out), n);
}

static void
b64url_append(GString *out, const guint8 *data, gsize length)
{
	guint32 bits = 0;
	guint n_bits = 0;

	for (gsize i = 0; i < length; i++) {
		bits = bits << 8 | data[i];
		n_bits += 8;
		while (n_bits >= 6) {
			n_bits -= 6;
			g_string_append_c(out, b64url_alphabet[(bits >> n_bits) & 63]);
		}
		bits &= (1u << n_bits) - 1;
	}
	if (n_bits > 0)
		g_string_append_c(out, b64url_alphabet[(bits << (6 - n_bits)) & 63]);
}

/* ---- HS256 ---- */

static gboolean
hs256_sign(const VlgJwtKey *key, const guint8 *input, gsize length, guint8 *signature)
{
	size_t mac_length = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key->secret, key->secret_length, input,
		       length, signature, HS256_SIGNATURE_LENGTH, &mac_length)) {
		ERR_clear_error();
		return FALSE;
	}
	return mac_length == HS256_SIGNATURE_LENGTH;
}

static gboolean
hs256_verify(const VlgJwtKey *key, const guint8 *input, gsize length, const guint8 *signature)
{
	guint8 mac[HS256_SIGNATURE_LENGTH];
	gboolean ok;

	/* Constant time: a byte-by-byte compare that stops early tells an attacker how much of a
	 * forged MAC is right. */
	ok = hs256_sign(key, input, length, mac) &&
	     CRYPTO_memcmp(mac, signature, HS256_SIGNATURE_LENGTH) == 0;
	/* The MAC of an attacker's input is a valid signature for it: leave none on the stack. */
	OPENSSL_cleanse(mac, sizeof mac);
	return ok;
}

/* ---- ES256: JWS carries R||S (RFC 7518 3.4), OpenSSL speaks DER ---- */

static unsigned char *
es256_raw_to_der(const guint8 *raw, int *der_length)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, ES256_COORDINATE_LENGTH, NULL);
	BIGNUM *s = BN_bin2bn(raw + ES256_COORDINATE_LENGTH, ES256_COORDINATE_LENGTH, NULL);
	unsigned char *der = NULL;

	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return NULL;
	}
	*der_length = i2d_ECDSA_SIG(sig, &der);
	ECDSA_SIG_free(sig);
	if (*der_length <= 0) {
		OPENSSL_free(der);
		return NULL;
	}
	return der;
}

static gboolean
es256_der_to_raw(const unsigned char *der, size_t der_length, guint8 *raw)
{
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &der, (long)der_length);
	const BIGNUM *r, *s;
	gboolean ok;

	if (!sig)
		return FALSE;
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, raw, ES256_COORDINATE_LENGTH) == ES256_COORDINATE_LENGTH &&
	     BN_bn2binpad(s, raw + ES256_COORDINATE_LENGTH, ES256_COORDINATE_LENGTH) ==
		     ES256_COORDINATE_LENGTH;
	ECDSA_SIG_free(sig);
	return ok;
}

static gboolean
es256_verify(const VlgJwtKey *key, const guint8 *input, gsize length, const guint8 *signature)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int der_length = 0;
	unsigned char *der = es256_raw_to_der(signature, &der_length);
	int result = 0;

	if (ctx && der &&
	    EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, key->pkey, NULL) == 1)
		result = EVP_DigestVerify(ctx, der, (size_t)der_length, input, length);
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	/* A bad signature leaves errors on this thread's queue, where the next TLS call would read
	 * them as its own. */
	ERR_clear_error();
	return result == 1;
}

static gboolean
es256_sign(const VlgJwtKey *key, const guint8 *input, gsize length, guint8 *signature)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	size_t der_length = 0;
	gboolean ok = FALSE;

	if (ctx && EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key->pkey, NULL) == 1 &&
	    EVP_DigestSign(ctx, NULL, &der_length, input, length) == 1) {
		der = OPENSSL_malloc(der_length);
		ok = der && EVP_DigestSign(ctx, der, &der_length, input, length) == 1 &&
		     es256_der_to_raw(der, der_length, signature);
	}
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ERR_clear_error();
	return ok;
}

static const Algorithm algorithms[] = {
	[VLG_JWT_HS256] = { "HS256", HS256_SIGNATURE_LENGTH, hs256_verify, hs256_sign },
	[VLG_JWT_ES256] = { "ES256", ES256_SIGNATURE_LENGTH, es256_verify, es256_sign },
};

/* Names that are refused by design, so the message can say which one without echoing the
 * token's own text. */
static const char *const refused_algorithms[] = {
	"none",	 "HS384", "HS512", "RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512", "ES384", "ES512", "EdDSA",
};

static gboolean
algorithm_from_name(const char *name, VlgJwtAlgorithm *algorithm)
{
	for (guint i = 0; i < G_N_ELEMENTS(algorithms); i++) {
		if (strcmp(algorithms[i].name, name) == 0) {
			*algorithm = i;
			return TRUE;
		}
	}
	return FALSE;
}

static void
set_unknown_algorithm_error(const char *name, GError **error)
{
	for (guint i = 0; i < G_N_ELEMENTS(refused_algorithms); i++) {
		if (strcmp(refused_algorithms[i], name) == 0) {
			g_set_error(error, VLG_JWT_ERROR, VLG_JWT_ERROR_ALGORITHM,
				    "algorithm '%s' is not accepted", refused_algorithms[i]);
			return;
		}
	}
	set_error(error, VLG_JWT_ERROR_ALGORITHM, "algorithm is not recognised");
}

/* ---- keys ---- */

VlgJwtKey *
vlg_jwt_key_new_hs256(const guint8 *secret, gsize length, GError **error)
{
	VlgJwtKey *key;

	if (!secret || length < HS256_MIN_SECRET) {
		g_set_error(error, VLG_JWT_ERROR, VLG_JWT_ERROR_KEY,
			    "HS256 secret is shorter than %d bytes", HS256_MIN_SECRET);
		return NULL;
	}
	key = g_new0(VlgJwtKey, 1);
	key->algorithm = VLG_JWT_HS256;
	key->secret = g_memdup2(secret, length);
	key->secret_length = length;
	key->can_sign = TRUE;
	return key;
}

static int
refuse_passphrase(char *buffer, int size, int rwflag, void *data)
{
	/* Without this, an encrypted key makes OpenSSL prompt on the daemon's terminal. */
	return -1;
}

static EVP_PKEY *
read_pem(const char *pem, gsize length, gboolean private_key)
{
	EVP_PKEY *pkey;
	BIO *bio;

	if (!pem || length == 0 || length > MAX_PEM_LENGTH)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)length);
	if (!bio)
		return NULL;
	if (private_key)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase, NULL);
	else
		pkey = PEM_read_bio_PUBKEY(bio, NULL, refuse_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return pkey;
}

static gboolean
is_p256(EVP_PKEY *pkey)
{
	char group[64];
	size_t length = 0;

	if (!EVP_PKEY_is_a(pkey, "EC"))
		return FALSE;
	/* Fails for a key with explicit curve parameters, which is refused along with the rest. */
	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
					    &length)) {
		ERR_clear_error();
		return FALSE;
	}
	return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

static VlgJwtKey *
es256_key_new(const char *pem, gsize length, gboolean private_key, GError **error)
{
	EVP_PKEY *pkey = read_pem(pem, length, private_key);
	VlgJwtKey *key;

	if (!pkey) {
		set_error(error, VLG_JWT_ERROR_KEY,
			  private_key ? "not an unencrypted PEM private key"
				      : "not a PEM public key");
		return NULL;
	}
	if (!is_p256(pkey)) {
		EVP_PKEY_free(pkey);
		set_error(error, VLG_JWT_ERROR_KEY, "ES256 needs an EC key on the P-256 curve");
		return NULL;
	}
	key = g_new0(VlgJwtKey, 1);
	key->algorithm = VLG_JWT_ES256;
	key->pkey = pkey;
	key->can_sign = private_key;
	return key;
}

VlgJwtKey *
vlg_jwt_key_new_es256_public(const char *pem, gsize length, GError **error)
{
	return es256_key_new(pem, length, FALSE, error);
}

VlgJwtKey *
vlg_jwt_key_new_es256_private(const char *pem, gsize length, GError **error)
{
	return es256_key_new(pem, length, TRUE, error);
}

VlgJwtAlgorithm
vlg_jwt_key_get_algorithm(const VlgJwtKey *key)
{
	return key->algorithm;
}

VlgJwtKey *
vlg_jwt_key_free(VlgJwtKey *key)
{
	if (!key)
		return NULL;
	if (key->secret)
		OPENSSL_cleanse(key->secret, key->secret_length);
	g_free(key->secret);
	EVP_PKEY_free(key->pkey);
	g_free(key);
	return NULL;
}

/* ---- JSON ---- */

/* What json-glib does not refuse by itself: a member named twice (the last one would silently
 * win, so a header could say "alg" twice and two readers disagree) and several top-level
 * values (it keeps the first). */
typedef struct {
	GArray *members; /* per open object: members parsed so far */
	guint depth;
	guint roots;
	gboolean duplicate;
} JsonShape;

static void
on_container_start(JsonParser *parser, JsonShape *shape)
{
	shape->depth++;
}

static void
on_container_end(JsonShape *shape)
{
	if (shape->depth > 0 && --shape->depth == 0)
		shape->roots++;
}

static void
on_object_start(JsonParser *parser, JsonShape *shape)
{
	guint zero = 0;

	g_array_append_val(shape->members, zero);
	on_container_start(parser, shape);
}

static void
on_object_member(JsonParser *parser, JsonObject *object, const char *name, JsonShape *shape)
{
	if (shape->members->len > 0)
		g_array_index(shape->members, guint, shape->members->len - 1)++;
}

static void
on_object_end(JsonParser *parser, JsonObject *object, JsonShape *shape)
{
	guint n = shape->members->len;

	/* json-glib replaces a repeated member, so the object holds fewer than were parsed. */
	if (n > 0) {
		if (g_array_index(shape->members, guint, n - 1) != json_object_get_size(object))
			shape->duplicate = TRUE;
		g_array_set_size(shape->members, n - 1);
	}
	on_container_end(shape);
}

static void
on_array_end(JsonParser *parser, JsonArray *array, JsonShape *shape)
{
	on_container_end(shape);
}

static JsonParser *
shape_parser_new(JsonShape *shape)
{
	JsonParser *parser = json_parser_new();

	g_signal_connect(parser, "object-start", G_CALLBACK(on_object_start), shape);
	g_signal_connect(parser, "object-member", G_CALLBACK(on_object_member), shape);
	g_signal_connect(parser, "object-end", G_CALLBACK(on_object_end), shape);
	g_signal_connect(parser, "array-start", G_CALLBACK(on_container_start), shape);
	g_signal_connect(parser, "array-end", G_CALLBACK(on_array_end), shape);
	return parser;
}

/* @what is "header" or "payload", for the message. */
static JsonObject *
parse_object(GBytes *bytes, const char *what, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	JsonShape shape = { 0 };
	gsize length;
	const char *data = g_bytes_get_data(bytes, &length);
	JsonNode *root = NULL;

	/* json-glib 1.6 checks this too; checked here so that a NUL byte (where a C string would
	 * end) is refused whatever the json-glib version. */
	if (length == 0 || !g_utf8_validate(data, (gssize)length, NULL)) {
		g_set_error(error, VLG_JWT_ERROR, VLG_JWT_ERROR_MALFORMED,
			    "token %s is not UTF-8 JSON", what);
		return NULL;
	}
	shape.members = g_array_new(FALSE, FALSE, sizeof(guint));
	parser = shape_parser_new(&shape);
	if (json_parser_load_from_data(parser, data, (gssize)length, NULL) &&
	    !json_parser_has_assignment(parser, NULL))
		root = json_parser_get_root(parser);
	g_array_unref(shape.members);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root) || shape.roots != 1) {
		g_set_error(error, VLG_JWT_ERROR, VLG_JWT_ERROR_MALFORMED,
			    "token %s is not a JSON object", what);
		return NULL;
	}
	if (shape.duplicate) {
		g_set_error(error, VLG_JWT_ERROR, VLG_JWT_ERROR_MALFORMED,
			    "token %s names a member twice", what);
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

static gboolean
node_is_string(JsonNode *node)
{
	return node && JSON_NODE_HOLDS_VALUE(node) &&
	       json_node_get_value_type(node) == G_TYPE_STRING;
}

/* RFC 7519 NumericDate: an integer or not, but a finite number (json-glib reads 1e999 as inf). */
static gboolean
node_get_number(JsonNode *node, double *value)
{
	if (!node || !JSON_NODE_HOLDS_VALUE(node))
		return FALSE;
	switch (json_node_get_value_type(node)) {
	case G_TYPE_INT64: *value = (double)json_node_get_int(node); break;
	case G_TYPE_DOUBLE: *value = json_node_get_double(node); break;
	default: return FALSE;
	}
	return isfinite(*value);
}

/* ---- verification ---- */

typedef struct {
	gsize signed_length; /* "header.payload", what the signature covers */
	GBytes *header;
	GBytes *payload;
	GBytes *signature;
} Compact;

static void
compact_clear(Compact *compact)
{
	g_clear_pointer(&compact->header, g_bytes_unref);
	g_clear_pointer(&compact->payload, g_bytes_unref);
	g_clear_pointer(&compact->signature, g_bytes_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Compact, compact_clear)

static gboolean
split_token(const char *token, gsize length, Compact *compact, GError **error)
{
	const char *end = token + length;
	const char *dot1 = memchr(token, '.', length);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (gsize)(end - dot1 - 1)) : NULL;

	if (!dot2 || memchr(dot2 + 1, '.', (gsize)(end - dot2 - 1))) {
		set_error(error, VLG_JWT_ERROR_MALFORMED, "token does not have three parts");
		return FALSE;
	}
	compact->signed_length = (gsize)(dot2 - token);
	compact->header = b64url_decode(token, (gsize)(dot1 - token));
	compact->payload = b64url_decode(dot1 + 1, (gsize)(dot2 - dot1 - 1));
	compact->signature = b64url_decode(dot2 + 1, (gsize)(end - dot2 - 1));
	if (!compact->header || !compact->payload || !compact->signature) {
		set_error(error, VLG_JWT_ERROR_MALFORMED, "token is not base64url");
		return FALSE;
	}
	return TRUE;
}

/* The header's only say is which of our algorithms to use; everything it could add is refused. */
static gboolean
check_header(JsonObject *header, VlgJwtAlgorithm *algorithm, GError **error)
{
	JsonNode *alg = json_object_get_member(header, "alg");
	JsonNode *typ = json_object_get_member(header, "typ");

	/* RFC 7515 4.1.11: extensions we do not know must not be ignored. */
	if (json_object_has_member(header, "crit")) {
		set_error(error, VLG_JWT_ERROR_ALGORITHM,
			  "critical header parameters are not supported");
		return FALSE;
	}
	if (typ &&
	    !(node_is_string(typ) && g_ascii_strcasecmp(json_node_get_string(typ), "JWT") == 0)) {
		set_error(error, VLG_JWT_ERROR_ALGORITHM, "token type is not JWT");
		return FALSE;
	}
	if (!node_is_string(alg)) {
		set_error(error, VLG_JWT_ERROR_ALGORITHM, "token header names no algorithm");
		return FALSE;
	}
	if (!algorithm_from_name(json_node_get_string(alg), algorithm)) {
		set_unknown_algorithm_error(json_node_get_string(alg), error);
		return FALSE;
	}
	return TRUE;
}

static gboolean
verify_signature(const char *token, const Compact *compact, VlgJwtAlgorithm algorithm,
		 VlgJwtKey *const *keys, guint n_keys, GError **error)
{
	const Algorithm *alg = &algorithms[algorithm];
	gsize length = 0;
	const guint8 *signature = g_bytes_get_data(compact->signature, &length);
	gboolean pinned = FALSE;

	for (guint i = 0; i < n_keys; i++)
		pinned = pinned || keys[i]->algorithm == algorithm;
	if (!pinned) {
		g_set_error(error, VLG_JWT_ERROR, VLG_JWT_ERROR_ALGORITHM,
			    "no key accepts algorithm '%s'", alg->name);
		return FALSE;
	}
	/* DER-encoded ECDSA and truncated MACs end here. */
	if (length != alg->signature_length) {
		g_set_error(error, VLG_JWT_ERROR, VLG_JWT_ERROR_SIGNATURE,
			    "signature has the wrong length for %s", alg->name);
		return FALSE;
	}
	for (guint i = 0; i < n_keys; i++)
		if (keys[i]->algorithm == algorithm &&
		    alg->verify(keys[i], (const guint8 *)token, compact->signed_length, signature))
			return TRUE;
	set_error(error, VLG_JWT_ERROR_SIGNATURE, "signature does not verify");
	return FALSE;
}

/* exp is a limit in the past (sign +1), nbf and iat in the future (sign -1). */
static const struct {
	const char *name;
	gboolean required;
	int sign;
	VlgJwtErrorCode code;
	const char *message;
} time_claims[] = {
	{ "exp", TRUE, 1, VLG_JWT_ERROR_EXPIRED, "token has expired" },
	{ "nbf", FALSE, -1, VLG_JWT_ERROR_NOT_YET_VALID, "token is not valid yet" },
	{ "iat", FALSE, -1, VLG_JWT_ERROR_NOT_YET_VALID, "token was issued in the future" },
};

static gboolean
check_times(JsonObject *claims, const VlgJwtPolicy *policy, GError **error)
{
	for (guint i = 0; i < G_N_ELEMENTS(time_claims); i++) {
		JsonNode *node = json_object_get_member(claims, time_claims[i].name);
		double when = 0;

		if (!node && !time_claims[i].required)
			continue;
		if (!node_get_number(node, &when)) {
			g_set_error(error, VLG_JWT_ERROR, VLG_JWT_ERROR_CLAIMS,
				    node ? "claim '%s' is not a number" : "claim '%s' is missing",
				    time_claims[i].name);
			return FALSE;
		}
		/* In doubles: a claim near G_MAXINT64 must not overflow; fractions are allowed. */
		if (time_claims[i].sign * ((double)policy->now - when) > policy->leeway_seconds) {
			set_error(error, time_claims[i].code, time_claims[i].message);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
audience_matches(JsonNode *aud, const char *audience)
{
	JsonArray *array;

	if (node_is_string(aud))
		return strcmp(json_node_get_string(aud), audience) == 0;
	if (!aud || !JSON_NODE_HOLDS_ARRAY(aud))
		return FALSE;
	array = json_node_get_array(aud);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *element = json_array_get_element(array, i);

		if (node_is_string(element) && strcmp(json_node_get_string(element), audience) == 0)
			return TRUE;
	}
	return FALSE;
}

static gboolean
check_claims(JsonObject *claims, const VlgJwtPolicy *policy, GError **error)
{
	JsonNode *aud = json_object_get_member(claims, "aud");
	JsonNode *iss = json_object_get_member(claims, "iss");

	if (!check_times(claims, policy, error))
		return FALSE;
	if (!aud) {
		set_error(error, VLG_JWT_ERROR_AUDIENCE, "claim 'aud' is missing");
		return FALSE;
	}
	if (!audience_matches(aud, policy->audience)) {
		set_error(error, VLG_JWT_ERROR_AUDIENCE, "token is not meant for this audience");
		return FALSE;
	}
	if (policy->issuer &&
	    !(node_is_string(iss) && strcmp(json_node_get_string(iss), policy->issuer) == 0)) {
		set_error(error, VLG_JWT_ERROR_ISSUER, "token is not from the expected issuer");
		return FALSE;
	}
	return TRUE;
}

JsonObject *
vlg_jwt_verify(const char *token, VlgJwtKey *const *keys, guint n_keys,
	       const VlgJwtPolicy *policy, GError **error)
{
	g_auto(Compact) compact = { 0 };
	g_autoptr(JsonObject) header = NULL;
	g_autoptr(JsonObject) claims = NULL;
	VlgJwtAlgorithm algorithm;
	gsize max_length, length;

	g_return_val_if_fail(token != NULL, NULL);
	g_return_val_if_fail(keys != NULL || n_keys == 0, NULL);
	g_return_val_if_fail(policy != NULL && policy->audience != NULL, NULL);

	/* Bounded scan: a megabyte of garbage costs no more than the limit. */
	max_length = MIN(policy->max_length ? policy->max_length : DEFAULT_MAX_LENGTH,
			 G_MAXSIZE - 1);
	length = strnlen(token, max_length + 1);
	if (length > max_length) {
		g_set_error(error, VLG_JWT_ERROR, VLG_JWT_ERROR_TOO_LONG,
			    "token is longer than %" G_GSIZE_FORMAT " bytes", max_length);
		return NULL;
	}
	if (!split_token(token, length, &compact, error))
		return NULL;
	header = parse_object(compact.header, "header", error);
	if (!header || !check_header(header, &algorithm, error))
		return NULL;
	if (!verify_signature(token, &compact, algorithm, keys, n_keys, error))
		return NULL;
	/* Only now is the payload the issuer's and worth parsing. */
	claims = parse_object(compact.payload, "payload", error);
	if (!claims || !check_claims(claims, policy, error))
		return NULL;
	return g_steal_pointer(&claims);
}

/* ---- signing ---- */

static char *
claims_to_json(JsonObject *claims, gsize *length)
{
	g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), claims);
	g_autoptr(JsonGenerator) generator = json_generator_new();

	json_generator_set_root(generator, root);
	return json_generator_to_data(generator, length);
}

char *
vlg_jwt_sign(const VlgJwtKey *key, JsonObject *claims, GError **error)
{
	const Algorithm *alg;
	g_autofree char *header = NULL;
	g_autofree char *payload = NULL;
	GString *token;
	guint8 signature[MAX_SIGNATURE_LENGTH];
	gsize payload_length = 0;

	g_return_val_if_fail(key != NULL && claims != NULL, NULL);

	alg = &algorithms[key->algorithm];
	if (!key->can_sign) {
		set_error(error, VLG_JWT_ERROR_KEY, "an ES256 public key cannot sign");
		return NULL;
	}
	header = g_strdup_printf("{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg->name);
	payload = claims_to_json(claims, &payload_length);
	token = g_string_new(NULL);
	b64url_append(token, (const guint8 *)header, strlen(header));
	g_string_append_c(token, '.');
	b64url_append(token, (const guint8 *)payload, payload_length);
	if (!alg->sign(key, (const guint8 *)token->str, token->len, signature)) {
		g_string_free(token, TRUE);
		set_error(error, VLG_JWT_ERROR_KEY, "the key failed to sign");
		return NULL;
	}
	g_string_append_c(token, '.');
	b64url_append(token, signature, alg->signature_length);
	return g_string_free(token, FALSE);
}
