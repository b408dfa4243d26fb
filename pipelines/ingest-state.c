/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/ingest-state.h"

#include <string.h>

static VlgIngestAction
enter(VlgIngestState *state, VlgIngestStateKind kind, gint64 now_us)
{
	if (state->kind == kind)
		return VLG_INGEST_ACTION_NONE;
	state->kind = kind;
	state->since_us = now_us;
	return VLG_INGEST_ACTION_STATE_CHANGED;
}

static void
set_error(VlgIngestState *state, VlgFailureKind kind, const char *message)
{
	g_free(state->last_error);
	state->last_error = g_strdup(message ? message : "unknown error");
	state->last_failure = kind;
}

void
vlg_ingest_state_init(VlgIngestState *state, gint64 now_us)
{
	memset(state, 0, sizeof(*state));
	state->kind = VLG_INGEST_IDLE;
	state->since_us = now_us;
}

void
vlg_ingest_state_clear(VlgIngestState *state)
{
	g_clear_pointer(&state->last_error, g_free);
}

static VlgIngestAction
begin_attempt(VlgIngestState *state, gint64 now_us)
{
	state->last_data_us = now_us;
	return enter(state, VLG_INGEST_CONNECTING, now_us) | VLG_INGEST_ACTION_START_PIPELINE;
}

static VlgIngestAction
on_start(VlgIngestState *state, const VlgIngestEvent *event)
{
	switch (state->kind) {
	case VLG_INGEST_IDLE:
	case VLG_INGEST_FAILED:
		/* A new demand is a fresh start: a failed camera gets another look. */
		state->attempt = 0;
		return begin_attempt(state, event->now_us);
	default:
		return VLG_INGEST_ACTION_NONE;
	}
}

static VlgIngestAction
on_stop(VlgIngestState *state, const VlgIngestEvent *event)
{
	VlgIngestAction action = VLG_INGEST_ACTION_NONE;

	if (state->kind == VLG_INGEST_IDLE)
		return action;
	if (state->kind == VLG_INGEST_CONNECTING || state->kind == VLG_INGEST_LIVE)
		action |= VLG_INGEST_ACTION_STOP_PIPELINE;
	state->attempt = 0;
	return action | enter(state, VLG_INGEST_IDLE, event->now_us);
}

static VlgIngestAction
on_data(VlgIngestState *state, const VlgIngestEvent *event)
{
	if (state->kind != VLG_INGEST_CONNECTING && state->kind != VLG_INGEST_LIVE)
		return VLG_INGEST_ACTION_NONE; /* late buffer from a pipeline being torn down */
	state->last_data_us = event->now_us;
	state->attempt = 0;
	return enter(state, VLG_INGEST_LIVE, event->now_us);
}

static VlgIngestAction
fail(VlgIngestState *state, const VlgIngestTimings *timings, gint64 now_us, VlgFailureKind kind,
     const char *message, double unit_random)
{
	guint delay_ms;

	set_error(state, kind, message);
	if (kind == VLG_FAILURE_UNSUPPORTED)
		return VLG_INGEST_ACTION_STOP_PIPELINE | enter(state, VLG_INGEST_FAILED, now_us);
	state->attempt++;
	delay_ms = vlg_backoff_delay_ms(&timings->backoff, state->attempt, kind, unit_random);
	state->next_attempt_us = now_us + (gint64)delay_ms * 1000;
	/* Entering RETRYING from RETRYING cannot happen: failures only come while a pipeline runs. */
	return VLG_INGEST_ACTION_STOP_PIPELINE | enter(state, VLG_INGEST_RETRYING, now_us);
}

static VlgIngestAction
on_failure(VlgIngestState *state, const VlgIngestTimings *timings, const VlgIngestEvent *event)
{
	if (state->kind != VLG_INGEST_CONNECTING && state->kind != VLG_INGEST_LIVE)
		return VLG_INGEST_ACTION_NONE; /* a second report of the same loss */
	return fail(state, timings, event->now_us, event->failure, event->message,
		    event->unit_random);
}

static VlgIngestAction
on_tick(VlgIngestState *state, const VlgIngestTimings *timings, const VlgIngestEvent *event)
{
	gint64 now = event->now_us;
	char message[96];

	switch (state->kind) {
	case VLG_INGEST_LIVE:
		if (now - state->last_data_us < timings->watchdog_us)
			return VLG_INGEST_ACTION_NONE;
		g_snprintf(message, sizeof(message), "stalled: no media for %" G_GINT64_FORMAT " s",
			   (now - state->last_data_us) / G_USEC_PER_SEC);
		return fail(state, timings, now, VLG_FAILURE_TRANSIENT, message,
			    event->unit_random);
	case VLG_INGEST_CONNECTING:
		if (now - state->since_us < timings->connect_timeout_us)
			return VLG_INGEST_ACTION_NONE;
		g_snprintf(message, sizeof(message), "no media within %" G_GINT64_FORMAT " s of connecting",
			   timings->connect_timeout_us / G_USEC_PER_SEC);
		return fail(state, timings, now, VLG_FAILURE_TRANSIENT, message,
			    event->unit_random);
	case VLG_INGEST_RETRYING:
		if (now < state->next_attempt_us)
			return VLG_INGEST_ACTION_NONE;
		state->reconnects++;
		return begin_attempt(state, now);
	default:
		return VLG_INGEST_ACTION_NONE;
	}
}

VlgIngestAction
vlg_ingest_state_handle(VlgIngestState *state, const VlgIngestTimings *timings,
			const VlgIngestEvent *event)
{
	switch (event->type) {
	case VLG_INGEST_EVENT_START:
		return on_start(state, event);
	case VLG_INGEST_EVENT_STOP:
		return on_stop(state, event);
	case VLG_INGEST_EVENT_DATA:
		return on_data(state, event);
	case VLG_INGEST_EVENT_FAILURE:
		return on_failure(state, timings, event);
	case VLG_INGEST_EVENT_TICK:
		return on_tick(state, timings, event);
	}
	return VLG_INGEST_ACTION_NONE;
}

const char *
vlg_ingest_state_kind_to_string(VlgIngestStateKind kind)
{
	static const char *const names[] = {
		[VLG_INGEST_IDLE] = "idle",         [VLG_INGEST_CONNECTING] = "connecting",
		[VLG_INGEST_LIVE] = "live",         [VLG_INGEST_RETRYING] = "retrying",
		[VLG_INGEST_FAILED] = "failed",
	};
	return kind < G_N_ELEMENTS(names) ? names[kind] : "unknown";
}
