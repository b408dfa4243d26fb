/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/access.h"

#include <string.h>

gboolean
vlg_access_node_visible(const VlgPrincipal *principal, const VlgOrgNode *node)
{
	/* Compare codes, not pointers: the principal outlives any one catalogue (reloads). */
	for (; node; node = node->parent)
		if (strcmp(node->code, principal->org) == 0)
			return TRUE;
	return FALSE;
}

gboolean
vlg_access_camera_visible(const VlgPrincipal *principal, const VlgCameraInfo *camera)
{
	return camera && vlg_access_node_visible(principal, camera->org);
}

const VlgOrgNode *
vlg_access_root(const VlgPrincipal *principal, const VlgCatalogue *catalogue)
{
	return vlg_catalogue_find_node(catalogue, principal->org);
}
