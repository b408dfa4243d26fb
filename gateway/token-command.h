/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `linkage-gateway token`: mints an HS256 token from the configured secret, for installers and
 * tests; and the demo's ready links, one screen per level. The token goes to stdout only, never
 * to the log.
 *
 * Threads: main thread, before or outside the main loop. Ownership: borrows the app.
 */
#pragma once

#include "gateway/app.h"

G_BEGIN_DECLS

/* argv[0] is "token". Returns the process exit status (0, or 2 with the reason on stderr). */
int vlg_token_command(int argc, char **argv);

/* Parses a duration: 90, 90s, 30m, 8h, 2d. FALSE on anything else, zero, or over 366 days. */
gboolean vlg_parse_duration(const char *text, guint *seconds);

/* Prints, for one node of each level (one with cameras where possible), a wall link whose
 * #fragment carries an operator token valid for 8 hours. */
void vlg_print_demo_links(VlgApp *app);

G_END_DECLS
