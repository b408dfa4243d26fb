/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The operator wall's WebSocket (/ws/wall): one RTCPeerConnection per wall with a transceiver for
 * each of the 16 tiles of the largest layout, negotiated once, the server the offerer (messages:
 * gateway/wall-protocol.md). Changing a tile's camera or the layout needs no renegotiation; tile
 * states are pushed as they change. A wall whose ICE has not connected 15 s after an offer is closed.
 *
 * Threads: main loop only. Ownership: each wall owns its peer and holds the RTP sources of its
 * tiles (so their cameras stay pulled); it borrows the app.
 */
#pragma once

#include "gateway/app.h"

G_BEGIN_DECLS

void vlg_wall_register(VlgHttpServer *server, VlgApp *app);
guint vlg_wall_count(void);

G_END_DECLS
