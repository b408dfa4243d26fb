/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/tls-context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config/vlg-error.h"

long
vlg_tls_options(void)
{
	return SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
	       SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
}

gboolean
vlg_tls_apply_policy(SSL_CTX *ctx)
{
	SSL_CTX_set_options(ctx, (uint64_t)vlg_tls_options());
	return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
	       SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1;
}

/* The last OpenSSL error as text, and the queue cleared so later checks start clean. */
static char *
openssl_reason(void)
{
	unsigned long code = ERR_peek_last_error();
	char text[256] = "unknown OpenSSL error";

	if (code)
		ERR_error_string_n(code, text, sizeof(text));
	ERR_clear_error();
	return g_strdup(text);
}

static gboolean
tls_error(GError **error, const char *path, const char *what)
{
	g_autofree char *reason = openssl_reason();

	g_set_error(error, VLG_ERROR, VLG_ERROR_CONFIG, "%s: %s (%s)", path, what, reason);
	return FALSE;
}

static gboolean
check_dates(SSL_CTX *ctx, const char *certificate, GError **error)
{
	X509 *leaf = SSL_CTX_get0_certificate(ctx);

	if (!leaf)
		return tls_error(error, certificate, "holds no certificate");
	if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_CONFIG, "%s: the certificate is not valid yet",
			    certificate);
		return FALSE;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_CONFIG, "%s: the certificate has expired",
			    certificate);
		return FALSE;
	}
	return TRUE;
}

/* Loads the pair into @ctx; used on a scratch context first, then on the live one. */
static gboolean
load_pair(SSL_CTX *ctx, const char *certificate, const char *private_key, GError **error)
{
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, certificate) != 1)
		return tls_error(error, certificate, "not a readable PEM certificate chain");
	if (SSL_CTX_use_PrivateKey_file(ctx, private_key, SSL_FILETYPE_PEM) != 1)
		return tls_error(error, private_key, "not a readable PEM private key");
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_error(error, private_key, "does not match the certificate");
	return check_dates(ctx, certificate, error);
}

gboolean
vlg_tls_check_pair(const char *certificate, const char *private_key, GError **error)
{
	SSL_CTX *scratch = SSL_CTX_new(TLS_server_method());
	gboolean ok;

	if (!scratch)
		return tls_error(error, certificate, "no OpenSSL context");
	ok = load_pair(scratch, certificate, private_key, error);
	SSL_CTX_free(scratch);
	return ok;
}

gboolean
vlg_tls_reload(SSL_CTX *ctx, const char *certificate, const char *private_key, GError **error)
{
	if (!vlg_tls_check_pair(certificate, private_key, error))
		return FALSE;
	/* The files were just proven good; loading them again into the live context can only fail
	 * if they changed in between, and then the next reload fixes it. */
	return load_pair(ctx, certificate, private_key, error);
}

char *
vlg_tls_describe(const char *certificate)
{
	BIO *file = BIO_new_file(certificate, "r");
	X509 *leaf = file ? PEM_read_bio_X509(file, NULL, NULL, NULL) : NULL;
	char subject[256] = "";
	char expires[64] = "";
	BIO *text;
	int length;

	BIO_free(file);
	if (!leaf) {
		ERR_clear_error();
		return NULL;
	}
	X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof(subject));
	text = BIO_new(BIO_s_mem());
	ASN1_TIME_print(text, X509_get0_notAfter(leaf));
	length = BIO_read(text, expires, sizeof(expires) - 1);
	expires[MAX(length, 0)] = '\0';
	BIO_free(text);
	X509_free(leaf);
	return g_strdup_printf("%s, expires %s", subject, expires);
}
