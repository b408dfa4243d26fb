/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/backoff.h"

#define SHORT_DELAY_LIMIT_MS 8000
#define SHORT_JITTER_MS 200.0
#define JITTER_FRACTION 0.2

static guint
apply_jitter(guint base_ms, double unit_random)
{
	double spread = base_ms * JITTER_FRACTION;
	double offset;

	if (base_ms < SHORT_DELAY_LIMIT_MS && spread > SHORT_JITTER_MS)
		spread = SHORT_JITTER_MS;
	if (unit_random < 0.0)
		unit_random = 0.0;
	if (unit_random >= 1.0)
		unit_random = 0.999999;
	offset = (unit_random * 2.0 - 1.0) * spread;
	return (guint)(base_ms + offset);
}

guint
vlg_backoff_delay_ms(const VlgBackoffPolicy *policy, guint attempt, VlgFailureKind kind,
		     double unit_random)
{
	guint64 base_ms = 1000;

	switch (kind) {
	case VLG_FAILURE_UNSUPPORTED:
		return 0;
	case VLG_FAILURE_AUTH:
	case VLG_FAILURE_NOT_FOUND:
		return apply_jitter(policy->auth_delay_ms, unit_random);
	case VLG_FAILURE_TRANSIENT:
		break;
	}
	if (attempt < 1)
		attempt = 1;
	/* 2^(attempt-1) s; stop doubling once past the cap so the shift cannot overflow. */
	for (guint i = 1; i < attempt && base_ms < policy->cap_ms; i++)
		base_ms *= 2;
	if (base_ms > policy->cap_ms)
		base_ms = policy->cap_ms;
	return apply_jitter((guint)base_ms, unit_random);
}

const char *
vlg_failure_kind_to_string(VlgFailureKind kind)
{
	static const char *const names[] = {
		[VLG_FAILURE_TRANSIENT] = "transient",
		[VLG_FAILURE_AUTH] = "unauthorized",
		[VLG_FAILURE_NOT_FOUND] = "not-found",
		[VLG_FAILURE_UNSUPPORTED] = "unsupported",
	};
	return kind < G_N_ELEMENTS(names) ? names[kind] : "unknown";
}
