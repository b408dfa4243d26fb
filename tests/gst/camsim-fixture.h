/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The camera simulator for GStreamer tests: started on free loopback ports with every clip of
 * VLG_MEDIA_DIR (one camera per clip, named after it), ended with the test (also when the test
 * process dies), and driven through its control socket. Check assertions on failure.
 *
 * Threads: the test's thread. Ownership: one simulator per process at a time.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void vlg_test_camsim_start(void);
void vlg_test_camsim_stop(void);
/* The RTSP port (rtsp://127.0.0.1:PORT/<clip name>). */
guint vlg_test_camsim_port(void);
/* Sends one control command ("down NAME", "up NAME", ...) and asserts the reply is "ok". */
void vlg_test_camsim_control(const char *command);

G_END_DECLS
