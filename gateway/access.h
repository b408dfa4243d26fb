/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The four levels kept apart: what a principal may see. A viewer bound to node N sees the nodes
 * and cameras of N's subtree and nothing else; callers answer a forbidden camera or node exactly
 * as an unknown one. (Feeds escalated by an emergency are added here by the routing work.) Pure
 * code over the catalogue.
 *
 * Threads: any (reads immutable data). Ownership: borrows everything.
 */
#pragma once

#include "config/catalogue.h"
#include "gateway/auth.h"

G_BEGIN_DECLS

/* TRUE when @node is the principal's node or lies below it. */
gboolean vlg_access_node_visible(const VlgPrincipal *principal, const VlgOrgNode *node);
gboolean vlg_access_camera_visible(const VlgPrincipal *principal, const VlgCameraInfo *camera);
/* The highest node of @catalogue the principal sees (its own), or NULL when its node is not in
 * this catalogue (a token for another city: it sees nothing here). */
const VlgOrgNode *vlg_access_root(const VlgPrincipal *principal, const VlgCatalogue *catalogue);

G_END_DECLS
