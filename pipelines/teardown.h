/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pipelines are stopped (NULL state) and unreffed on worker threads, never on the main loop:
 * rtspsrc may block for seconds sending TEARDOWN to a dead camera, and webrtcbin joins threads.
 * Callable from the main loop; takes the caller's reference to the pipeline.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

void vlg_teardown_pipeline(GstElement *pipeline);
/* Blocks until every pipeline handed over so far is gone (daemon exit, tests). */
void vlg_teardown_wait(void);

G_END_DECLS
