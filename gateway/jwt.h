/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON Web Tokens (RFC 7519) in compact JWS form, as a command platform issues them: HS256 with a
 * shared secret, ES256 with the platform's P-256 key. Verification follows RFC 8725: every key is
 * pinned to one algorithm, the token's "alg" only selects among the keys pinned to that algorithm
 * (so "none", an HS/ES swap or an unknown "alg" find no key), "exp" and "aud" are required, "nbf"
 * is honoured, all with a leeway; tokens longer than the policy's limit are refused before any
 * decoding; HMACs are compared in constant time. Pure code: OpenSSL, json-glib and GLib only.
 *
 * Threads: keys are immutable once made and may be shared between threads. Ownership: the caller
 * owns what the constructors and vlg_jwt_verify()/vlg_jwt_sign() return. Error messages never
 * contain the token, the secret or a claim's value.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define VLG_JWT_ERROR (vlg_jwt_error_quark())

/* Why a token was refused; tests check these, logs show the message. */
typedef enum {
	VLG_JWT_ERROR_TOO_LONG,      /* longer than the policy's max_length */
	VLG_JWT_ERROR_MALFORMED,     /* not three base64url parts, bad base64url, bad JSON (also
				      * duplicate members or more than one top-level value) */
	VLG_JWT_ERROR_ALGORITHM,     /* alg none/unknown/not pinned to any key; crit; typ not JWT */
	VLG_JWT_ERROR_SIGNATURE,     /* no key with that alg verifies the signature */
	VLG_JWT_ERROR_EXPIRED,       /* now > exp + leeway */
	VLG_JWT_ERROR_NOT_YET_VALID, /* now < nbf - leeway (or iat in the future beyond leeway) */
	VLG_JWT_ERROR_AUDIENCE,      /* aud missing, or neither equal to nor containing ours */
	VLG_JWT_ERROR_ISSUER,        /* the policy names an issuer and iss differs */
	VLG_JWT_ERROR_CLAIMS,        /* exp missing or not a number, other registered claims mistyped */
	VLG_JWT_ERROR_KEY,           /* a key cannot be made (short secret, not P-256, bad PEM) */
} VlgJwtErrorCode;

GQuark vlg_jwt_error_quark(void);

typedef enum {
	VLG_JWT_HS256,
	VLG_JWT_ES256,
} VlgJwtAlgorithm;

typedef struct _VlgJwtKey VlgJwtKey;

/* A shared secret of at least 32 bytes (RFC 7518 3.2: no shorter than the hash). */
VlgJwtKey *vlg_jwt_key_new_hs256(const guint8 *secret, gsize length, GError **error);
/* A P-256 public key (PEM "PUBLIC KEY"), to verify. */
VlgJwtKey *vlg_jwt_key_new_es256_public(const char *pem, gsize length, GError **error);
/* A P-256 private key (PEM, PKCS#8 or SEC1), to sign; it verifies too. */
VlgJwtKey *vlg_jwt_key_new_es256_private(const char *pem, gsize length, GError **error);
VlgJwtAlgorithm vlg_jwt_key_get_algorithm(const VlgJwtKey *key);
VlgJwtKey *vlg_jwt_key_free(VlgJwtKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgJwtKey, vlg_jwt_key_free)

typedef struct {
	const char *audience; /* required; "aud" must equal it or be an array holding it */
	const char *issuer;   /* NULL: "iss" is not checked */
	gint64 now;           /* seconds since the epoch */
	guint leeway_seconds; /* applied to exp, nbf and iat */
	gsize max_length;     /* of the whole token, bytes; 0 means 4096 */
} VlgJwtPolicy;

/* Verifies @token against @keys (@n_keys of them). Returns the claims (a new reference) or NULL
 * with @error set in VLG_JWT_ERROR. Application claims are the caller's to check. */
JsonObject *vlg_jwt_verify(const char *token, VlgJwtKey *const *keys, guint n_keys,
			   const VlgJwtPolicy *policy, GError **error);

/* A compact JWS of @claims signed with @key (header {"alg":..., "typ":"JWT"}). ES256 needs a
 * private key. */
char *vlg_jwt_sign(const VlgJwtKey *key, JsonObject *claims, GError **error);

G_END_DECLS
