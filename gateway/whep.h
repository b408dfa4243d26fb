/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * WHEP (WebRTC-HTTP Egress Protocol): POST /whep/{camera} with an SDP offer gets 201 Created, the
 * answer (every candidate included, so no trickle), a Location for the session and an ETag;
 * DELETE on the Location ends it; PATCH is 405 (no trickle); OPTIONS answers CORS preflights for
 * players served from another origin. A session whose ICE has not connected after 15 s, or whose
 * connection fails, is removed.
 *
 * Threads: main loop only. Ownership: the WHEP table owns its sessions; it borrows the app.
 */
#pragma once

#include "gateway/app.h"

G_BEGIN_DECLS

typedef struct _VlgWhep VlgWhep;

VlgWhep *vlg_whep_new(VlgApp *app);
VlgWhep *vlg_whep_free(VlgWhep *whep);
void vlg_whep_register(VlgWhep *whep, VlgHttpRouter *router);
guint vlg_whep_session_count(VlgWhep *whep);

G_END_DECLS
