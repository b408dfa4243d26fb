/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The camera simulator for GStreamer tests: started on free loopback ports with every clip of
 * VLG_MEDIA_DIR (one camera per clip, named after it), ended with the test (also when the test
 * process dies), and driven through its control socket; and cameras pulling from it, and the
 * main loop run for a while. Check assertions on failure.
 *
 * Threads: the test's thread. Ownership: one simulator and one test camera per process at a time.
 */
#pragma once

#include <glib.h>

#include "pipelines/camera.h"

G_BEGIN_DECLS

void vlg_test_camsim_start(void);
void vlg_test_camsim_stop(void);
/* The RTSP port (rtsp://127.0.0.1:PORT/<clip name>). */
guint vlg_test_camsim_port(void);
/* Sends one control command ("down NAME", "up NAME", ...) and asserts the reply is "ok". */
void vlg_test_camsim_control(const char *command);

/* A camera pulling @clip from the simulator (watchdog 5 s, connect timeout 10 s, latency
 * 100 ms); free it with vlg_test_camera_free(), which also waits for its pipelines to go. */
VlgCamera *vlg_test_camera_new(const char *clip);
void vlg_test_camera_free(VlgCamera *camera);

/* Runs the default main context until @done or @seconds pass; TRUE if done. */
gboolean vlg_test_run_until(gboolean (*done)(gpointer), gpointer data, double seconds);
void vlg_test_run_for(double seconds);

G_END_DECLS
