/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reconnect delays for a camera: exponential 1, 2, 4 ... s up to a cap, with jitter so that the
 * cameras of a box that lost its uplink do not all knock again in the same instant. Pure functions,
 * callable from any thread; the caller supplies the random draw so tests can pin it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
	VLG_FAILURE_TRANSIENT,   /* refused, dropped, stalled, timed out: retry soon */
	VLG_FAILURE_AUTH,        /* 401: wrong credentials */
	VLG_FAILURE_NOT_FOUND,   /* 404: wrong path */
	VLG_FAILURE_UNSUPPORTED, /* a stream we will not take (codec, packetization): give up */
} VlgFailureKind;

typedef struct {
	guint cap_ms;        /* 30000 */
	guint auth_delay_ms; /* 60000: after 401/404 */
} VlgBackoffPolicy;

/*
 * Delay before attempt number @attempt (1 = the first retry after a failure). @unit_random is a
 * uniform draw in [0, 1). Transient failures: 2^(attempt-1) s capped at cap_ms, ±20 % jitter; below
 * 8 s the jitter is held to ±200 ms so that a camera back after a short outage is picked up within
 * about 3 s (the sum of the early delays stays close to 1 + 2 + 4 s). Auth and not-found failures
 * wait auth_delay_ms (±20 %): hammering a camera with a wrong password locks its account on many
 * models. Unsupported streams return 0: no retry.
 */
guint vlg_backoff_delay_ms(const VlgBackoffPolicy *policy, guint attempt, VlgFailureKind kind,
			   double unit_random);

const char *vlg_failure_kind_to_string(VlgFailureKind kind);

G_END_DECLS
