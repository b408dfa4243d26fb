/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The server's TLS policy on an OpenSSL context, and certificate renewal without a restart.
 * libwebsockets creates the SSL_CTX; http-server.c hands it here once. Policy: TLS 1.2 and 1.3
 * only, no renegotiation, no compression, forward-secret AEAD ciphers (Mozilla "intermediate"
 * without DHE). Renewal checks the new pair on a scratch context first and only then installs
 * it, so a bad file never replaces a good certificate. Sessions already open keep the
 * certificate they started with (OpenSSL copies it into each connection).
 *
 * Threads: main loop only. Ownership: borrows the SSL_CTX (libwebsockets owns it).
 */
#pragma once

#include <glib.h>
#include <openssl/ssl.h>

G_BEGIN_DECLS

/* TLS 1.2 suites (OpenSSL names); TLS 1.3 suites are the next list. */
#define VLG_TLS12_CIPHERS                                                                     \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                          \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                          \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define VLG_TLS13_CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* SSL_OP_* flags the server sets. */
long vlg_tls_options(void);
/* Applies the version floor and ceiling to @ctx; FALSE if OpenSSL refuses. */
gboolean vlg_tls_apply_policy(SSL_CTX *ctx);

/* Checks that @certificate (PEM chain) and @private_key (PEM) load, match each other and that
 * the certificate is valid now; the error names the file and the reason. */
gboolean vlg_tls_check_pair(const char *certificate, const char *private_key, GError **error);
/* Checks the pair, then installs it in @ctx for new connections. On failure @ctx is untouched. */
gboolean vlg_tls_reload(SSL_CTX *ctx, const char *certificate, const char *private_key,
			GError **error);
/* "subject, expires DATE" of @certificate's leaf, for the log; NULL if unreadable. */
char *vlg_tls_describe(const char *certificate);

G_END_DECLS
