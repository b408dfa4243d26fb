/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One WebRTC PeerConnection on webrtcbin, sending (never receiving) media that comes as ready RTP
 * packets from shared VlgRtpSources: no per-viewer payloader or encoder, only the viewer's own
 * SRTP. ICE is restricted to the configured local addresses, and remote candidates outside them
 * are dropped.
 *
 * Threads: every call and every callback on the main loop (webrtcbin's own threads hand over via
 * g_main_context_invoke). Ownership: the peer holds a ref on each RTP source's hub it sends from;
 * vlg_webrtc_peer_free() stops it, and its pipeline is torn down in the background.
 */
#pragma once

#include "pipelines/rtp-source.h"

G_BEGIN_DECLS

typedef struct {
	const char *const *ice_addresses; /* local IP literals to gather on; NULL/empty: all */
	const char *const *stun_servers;  /* stun://host:port */
	const char *const *turn_servers;  /* turn://user:pass@host:port */
} VlgIceSettings;

typedef enum {
	VLG_PEER_NEW,
	VLG_PEER_CONNECTING,
	VLG_PEER_CONNECTED,
	VLG_PEER_FAILED,
	VLG_PEER_CLOSED,
} VlgPeerState;

typedef struct _VlgWebrtcPeer VlgWebrtcPeer;

/* A local description (answer or offer) holding every gathered candidate, or an error. */
typedef void (*VlgPeerSdpFunc)(VlgWebrtcPeer *peer, const char *sdp, const GError *error,
			       gpointer user_data);
typedef void (*VlgPeerStateFunc)(VlgWebrtcPeer *peer, VlgPeerState state, gpointer user_data);

VlgWebrtcPeer *vlg_webrtc_peer_new(const char *name, const VlgIceSettings *ice,
				   VlgPeerStateFunc on_state, gpointer user_data);
VlgWebrtcPeer *vlg_webrtc_peer_free(VlgWebrtcPeer *peer);

/*
 * Answers a remote offer (WHEP): checks it (a video m-line that takes H.264 packetization-mode 1,
 * a DTLS fingerprint), sends @video on that m-line with the payload type the offer chose, and calls
 * @on_answer once ICE gathering is complete (the answer carries every candidate). FALSE with
 * @error when the offer is unusable; nothing is called then.
 */
gboolean vlg_webrtc_peer_answer(VlgWebrtcPeer *peer, const char *offer_sdp, VlgRtpSource *video,
				VlgPeerSdpFunc on_answer, gpointer user_data, GError **error);

/*
 * Offerer mode (a wall: one connection, one transceiver per tile). Slots are sendonly H.264
 * transceivers advertised as constrained baseline (VLG_WALL_PROFILE_LEVEL_ID), each with an SSRC of
 * its own; a slot's camera changes without renegotiation, at the new camera's cached keyframe.
 * The peer never offers by itself (it ignores on-negotiation-needed, so a rejected m-line cannot
 * start an endless renegotiation): the caller offers when it added slots.
 */
#define VLG_WALL_PROFILE_LEVEL_ID "42e01f"

guint vlg_webrtc_peer_add_slot(VlgWebrtcPeer *peer);
guint vlg_webrtc_peer_slot_count(VlgWebrtcPeer *peer);
/* @source may be NULL: the slot sends nothing. */
void vlg_webrtc_peer_set_slot_source(VlgWebrtcPeer *peer, guint slot, VlgRtpSource *source);
/* The slot's transceiver mid once negotiated, or NULL; free it. */
char *vlg_webrtc_peer_get_slot_mid(VlgWebrtcPeer *peer, guint slot);
/* Calls @on_offer with an offer holding every candidate. One at a time. */
void vlg_webrtc_peer_create_offer(VlgWebrtcPeer *peer, VlgPeerSdpFunc on_offer, gpointer user_data);
gboolean vlg_webrtc_peer_set_answer(VlgWebrtcPeer *peer, const char *answer_sdp, GError **error);
/* A trickled remote candidate; FALSE when its address is not allowed (it is dropped). */
gboolean vlg_webrtc_peer_add_remote_candidate(VlgWebrtcPeer *peer, guint mline,
					      const char *candidate);

VlgPeerState vlg_webrtc_peer_get_state(VlgWebrtcPeer *peer);
const char *vlg_peer_state_to_string(VlgPeerState state);

G_END_DECLS
