/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The life of one camera pull as a pure state machine: idle, connecting, live, retrying, failed.
 * No GStreamer, no clocks: events carry the time, and the answer says what the caller must do to the
 * pipeline. The caller (ingest.c, main thread) owns the struct and serialises events.
 */
#pragma once

#include <glib.h>

#include "pipelines/backoff.h"

G_BEGIN_DECLS

typedef enum {
	VLG_INGEST_IDLE,       /* nobody watches: not pulled */
	VLG_INGEST_CONNECTING, /* pipeline started, no media yet */
	VLG_INGEST_LIVE,       /* media flowing */
	VLG_INGEST_RETRYING,   /* an attempt failed; the next one is due at next_attempt_us */
	VLG_INGEST_FAILED,     /* the camera sends what we will not take; no retry until restarted */
} VlgIngestStateKind;

typedef struct {
	gint64 watchdog_us;        /* live with no data this long: stalled */
	gint64 connect_timeout_us; /* connecting this long without data: failed attempt */
	VlgBackoffPolicy backoff;
} VlgIngestTimings;

typedef struct {
	VlgIngestStateKind kind;
	guint attempt;          /* failed attempts since media last flowed */
	guint reconnects;       /* attempts started after a failure, ever */
	gint64 since_us;        /* when this state began */
	gint64 next_attempt_us; /* RETRYING: when to try again */
	gint64 last_data_us;    /* last media seen */
	VlgFailureKind last_failure;
	char *last_error;       /* owned; NULL until something failed */
} VlgIngestState;

typedef enum {
	VLG_INGEST_EVENT_START,   /* a consumer wants the camera (or it is always-on) */
	VLG_INGEST_EVENT_STOP,    /* nobody wants it any more */
	VLG_INGEST_EVENT_DATA,    /* media arrived */
	VLG_INGEST_EVENT_FAILURE, /* the pipeline reported an error or end of stream */
	VLG_INGEST_EVENT_TICK,    /* periodic: watchdog and retry timer */
} VlgIngestEventType;

typedef struct {
	VlgIngestEventType type;
	gint64 now_us;
	VlgFailureKind failure; /* FAILURE only */
	const char *message;    /* FAILURE only */
	double unit_random;     /* FAILURE and TICK: draw in [0,1) for the backoff jitter */
} VlgIngestEvent;

/* What the caller does after an event; both flags may be set (stop the old pipeline first). */
typedef enum {
	VLG_INGEST_ACTION_NONE = 0,
	VLG_INGEST_ACTION_STOP_PIPELINE = 1 << 0,
	VLG_INGEST_ACTION_START_PIPELINE = 1 << 1,
	VLG_INGEST_ACTION_STATE_CHANGED = 1 << 2, /* log it, once */
} VlgIngestAction;

void vlg_ingest_state_init(VlgIngestState *state, gint64 now_us);
void vlg_ingest_state_clear(VlgIngestState *state);

VlgIngestAction vlg_ingest_state_handle(VlgIngestState *state, const VlgIngestTimings *timings,
					const VlgIngestEvent *event);

const char *vlg_ingest_state_kind_to_string(VlgIngestStateKind kind);

G_END_DECLS
