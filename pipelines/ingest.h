/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pulls one camera: rtspsrc with explicit H.264/H.265 (and G.711/AAC) branches into the camera's
 * hub, a watchdog of its own (rtspsrc notices a stalled camera only after ~27 s and reports a lost
 * one as EOS), and retries with backoff. Every state change is reported through the notify callback.
 *
 * Threads: create, start, stop, query and free on the main loop only. Pipelines are torn down on a
 * worker thread (rtspsrc may block sending TEARDOWN to a dead camera), never on the main loop.
 * Ownership: the ingest borrows @info (it must outlive the ingest) and takes a ref on @hub.
 */
#pragma once

#include <gst/gst.h>

#include "config/catalogue.h"
#include "pipelines/hub.h"
#include "pipelines/ingest-state.h"

G_BEGIN_DECLS

typedef struct _VlgIngest VlgIngest;

typedef struct {
	VlgIngestTimings timings;
	guint latency_ms; /* rtspsrc jitterbuffer */
} VlgIngestSettings;

typedef void (*VlgIngestNotify)(VlgIngest *ingest, const VlgIngestState *state,
				gpointer user_data);

VlgIngest *vlg_ingest_new(const VlgCameraInfo *info, const VlgIngestSettings *settings,
			  VlgHub *hub);
/* Stops the camera if it runs; the pipeline is torn down in the background. Accepts NULL. */
VlgIngest *vlg_ingest_free(VlgIngest *ingest);

void vlg_ingest_set_notify(VlgIngest *ingest, VlgIngestNotify notify, gpointer user_data);
/* Idempotent: pulls from idle (or failed), otherwise nothing. */
void vlg_ingest_start(VlgIngest *ingest);
/* Idempotent: back to idle. */
void vlg_ingest_stop(VlgIngest *ingest);

const VlgIngestState *vlg_ingest_get_state(VlgIngest *ingest);
const VlgCameraInfo *vlg_ingest_get_info(VlgIngest *ingest);

G_END_DECLS
