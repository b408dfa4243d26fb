/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /metrics: Prometheus text exposition (format 0.0.4) of the gateway and every camera that is
 * or was pulled. Threads: main loop only. Borrows the app.
 */
#pragma once

#include "gateway/app.h"

G_BEGIN_DECLS

void vlg_metrics_register(VlgHttpRouter *router, VlgApp *app);
char *vlg_metrics_render(VlgApp *app);

G_END_DECLS
