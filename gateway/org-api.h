/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The org tree for the wall, a level at a time (the city's 2,864 points never go out at once):
 * GET /api/v1/org (the root), GET /api/v1/org/{code} (a node, its children with camera counts, and
 * the cameras on the node itself), GET /api/v1/search?q= (nodes and cameras by name, code or id,
 * 50 of each at most). Threads: main loop only. Borrows the app.
 */
#pragma once

#include "gateway/app.h"

G_BEGIN_DECLS

void vlg_org_api_register(VlgHttpRouter *router, VlgApp *app);

G_END_DECLS
