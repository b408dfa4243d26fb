/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /ws/fmp4/{camera}?profile=NAME: fMP4 over a WebSocket for MSE players, where UDP (WebRTC) is
 * blocked. One muxer per (camera, profile), shared by every client; each client gets a text
 * message naming the MSE type, the init segment, then media segments from a keyframe, as binary
 * messages. A client that reads too slowly loses media segments up to the next keyframe, never
 * the init segment, and never slows the others. Messages in gateway/wall-protocol.md.
 *
 * Threads: main loop; the muxer's sinks run on streaming threads and hand segments over under a
 * lock. Ownership: the module owns its muxers and clients; borrows the app.
 */
#pragma once

#include "gateway/app.h"

G_BEGIN_DECLS

/* Per-client queue: past this many bytes waiting (to be written or in the socket's queue), media
 * segments are dropped until the next keyframe. */
#define VLG_FMP4_CLIENT_QUEUE_MAX (1024u * 1024u)

typedef struct _VlgFmp4Endpoint VlgFmp4Endpoint;

VlgFmp4Endpoint *vlg_fmp4_endpoint_new(VlgApp *app, VlgHttpServer *server);
VlgFmp4Endpoint *vlg_fmp4_endpoint_free(VlgFmp4Endpoint *endpoint);
guint vlg_fmp4_endpoint_client_count(VlgFmp4Endpoint *endpoint);
guint vlg_fmp4_endpoint_muxer_count(VlgFmp4Endpoint *endpoint);

G_END_DECLS
