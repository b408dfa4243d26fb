/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket: a TCP line protocol on 127.0.0.1 through which a test injects faults into
 * cameras while they serve. One command per line, answered by one line, `ok` or
 * `error: <why>` (`list` first writes one line per camera):
 *
 *   down NAME                  drop the camera's clients, refuse it with 503
 *   up NAME                    back to normal (clears down, stall and status)
 *   stall NAME                 keep sessions, send no media
 *   status NAME 401|404|503    answer every request for it with that code
 *   list                       NAME state=normal|down|stall|status-CODE clients=N, per camera
 *
 * Main thread only: it runs on the thread-default main context. Connections are served one
 * command at a time, each in order. The control borrows the server, which must outlive it.
 */
#pragma once

#include "tests/camsim/server.h"

G_BEGIN_DECLS

typedef struct _VlgCamsimControl VlgCamsimControl;

/* Listen on @address:@port (0: any free port). */
VlgCamsimControl *vlg_camsim_control_new(VlgCamsimServer *server, const gchar *address, guint port,
					 GError **error);
guint vlg_camsim_control_get_port(VlgCamsimControl *control);
/* Closes the socket and every connection. Accepts NULL. */
void vlg_camsim_control_free(VlgCamsimControl *control);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgCamsimControl, vlg_camsim_control_free)

G_END_DECLS
