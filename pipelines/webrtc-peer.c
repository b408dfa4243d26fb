/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/webrtc-peer.h"

#include <agent.h>
#include <gst/app/gstappsrc.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <string.h>

#include "config/vlg-error.h"
#include "pipelines/teardown.h"

GST_DEBUG_CATEGORY_STATIC(vlg_peer_debug);
#define GST_CAT_DEFAULT vlg_peer_debug

/* A viewer that cannot keep up loses its oldest packets here rather than growing without bound.
 * About 2 s of a 2 Mbit/s camera: more only lets a starved viewer fall far behind live (a
 * benchmark at 100 viewers saw viewers stall, then burst to catch up, with 4 MB). */
#define SEND_QUEUE_BYTES (512u * 1024)

/*
 * What webrtcbin's threads may touch: a link to the peer that the main loop clears when the peer
 * goes. Every cross-thread event is handed to the main loop with the link, never the peer.
 */
typedef struct {
	gint refcount;
	struct _VlgWebrtcPeer *peer; /* main loop only; NULL once the peer is freed */
	GMainContext *context;
} PeerLink;

/*
 * The per-viewer end of an RTP source: one per transceiver (a wall tile, a WHEP stream). It gives
 * the viewer a stream of its own, as an SFU does: its payload type, its SSRC, sequence numbers
 * that run on and timestamps that continue when the tile switches camera or the camera restarts.
 * Only the 12-byte header is copied; the payload stays shared. Touched by one thread at a time:
 * the source hub's producer, or the main loop while it attaches (under the hub's lock).
 */
typedef struct {
	GstElement *appsrc; /* ref */
	GstPad *sinkpad;    /* webrtcbin's, ref */
	guint8 payload_type;
	guint32 ssrc;       /* 0: keep the source's */
	guint16 next_seq;
	guint32 last_timestamp;
	guint32 timestamp_offset;
	gboolean started;
	gboolean rebase;    /* the next packet starts a new source timeline */
	VlgHub *hub;        /* the source's RTP hub, or NULL */
	VlgHubConsumer *consumer;
	VlgRtpSource *when_connected; /* WHEP: attach once ICE and DTLS are up */
} Sender;

struct _VlgWebrtcPeer {
	char *name;
	PeerLink *link;
	GstElement *pipeline;
	GstElement *webrtc;
	char **ice_addresses;
	VlgPeerState state;
	VlgPeerStateFunc on_state;
	gpointer user_data;
	VlgPeerSdpFunc on_local; /* waiting for a local description with every candidate */
	gpointer local_data;
	gboolean local_pending;
	GPtrArray *senders; /* of Sender*, owned, in transceiver order */
	gboolean playing;
};

static PeerLink *
link_ref(PeerLink *link)
{
	g_atomic_int_inc(&link->refcount);
	return link;
}

static void link_unref(gpointer data);

static void
link_closure_unref(gpointer data, GClosure *closure)
{
	link_unref(data);
}

static void
link_unref(gpointer data)
{
	PeerLink *link = data;

	if (!g_atomic_int_dec_and_test(&link->refcount))
		return;
	g_main_context_unref(link->context);
	g_free(link);
}

typedef void (*MainFunc)(VlgWebrtcPeer *peer, gpointer data);

typedef struct {
	PeerLink *link;
	MainFunc func;
	gpointer data;
	GDestroyNotify destroy;
} MainCall;

static gboolean
main_call_run(gpointer data)
{
	MainCall *call = data;

	if (call->link->peer)
		call->func(call->link->peer, call->data);
	return G_SOURCE_REMOVE;
}

static void
main_call_free(gpointer data)
{
	MainCall *call = data;

	if (call->destroy)
		call->destroy(call->data);
	link_unref(call->link);
	g_free(call);
}

/* From any thread: run @func on the main loop if the peer still exists then. */
static void
on_main(PeerLink *link, MainFunc func, gpointer data, GDestroyNotify destroy)
{
	MainCall *call = g_new0(MainCall, 1);

	call->link = link_ref(link);
	call->func = func;
	call->data = data;
	call->destroy = destroy;
	g_main_context_invoke_full(link->context, G_PRIORITY_DEFAULT, main_call_run, call,
				   main_call_free);
}

const char *
vlg_peer_state_to_string(VlgPeerState state)
{
	static const char *const names[] = { "new", "connecting", "connected", "failed", "closed" };

	return state < G_N_ELEMENTS(names) ? names[state] : "unknown";
}

static void
set_state(VlgWebrtcPeer *peer, VlgPeerState state)
{
	if (peer->state == state)
		return;
	peer->state = state;
	GST_DEBUG("%s: %s", peer->name, vlg_peer_state_to_string(state));
	if (peer->on_state)
		peer->on_state(peer, state, peer->user_data);
}

static void
fail_local(VlgWebrtcPeer *peer, const char *message)
{
	g_autoptr(GError) error = g_error_new(VLG_ERROR, VLG_ERROR_MEDIA, "%s", message);

	if (!peer->local_pending)
		return;
	peer->local_pending = FALSE;
	peer->on_local(peer, NULL, error, peer->local_data);
}

/* ---- sending: packets from the shared RTP source into this peer ---- */

static void
sender_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	/* The appsrc keeps the caps agreed in the offer/answer; the browser reads the stream's
	 * own SPS/PPS, sent before every keyframe. */
}

static void
sender_reset(gpointer data)
{
	Sender *sender = data;

	sender->rebase = TRUE;
}

/* The viewer's header for @packet: its payload type, SSRC, sequence and timeline. */
static GstMemory *
rewrite_header(Sender *sender, GstMemory *header)
{
	GstMapInfo map;
	guint8 *bytes;
	gsize size;
	guint32 timestamp;

	if (!gst_memory_map(header, &map, GST_MAP_READ))
		return NULL;
	size = map.size;
	bytes = size >= 12 ? g_memdup2(map.data, size) : NULL;
	gst_memory_unmap(header, &map);
	if (!bytes)
		return NULL;
	timestamp = GST_READ_UINT32_BE(bytes + 4);
	if (sender->rebase || !sender->started) {
		/* One frame interval (90 kHz / 30) after the last packet sent, whatever came before. */
		sender->timestamp_offset = sender->started ? sender->last_timestamp + 3000 - timestamp : 0;
		sender->rebase = FALSE;
		sender->started = TRUE;
	}
	timestamp += sender->timestamp_offset;
	sender->last_timestamp = timestamp;
	bytes[1] = (bytes[1] & 0x80) | sender->payload_type;
	GST_WRITE_UINT16_BE(bytes + 2, sender->next_seq++);
	GST_WRITE_UINT32_BE(bytes + 4, timestamp);
	if (sender->ssrc)
		GST_WRITE_UINT32_BE(bytes + 8, sender->ssrc);
	return gst_memory_new_wrapped(0, bytes, size, 0, size, bytes, g_free);
}

static void
sender_buffer(gpointer data, VlgTrack track, GstBuffer *packet)
{
	Sender *sender = data;
	GstBuffer *copy;
	GstMemory *header;

	if (gst_buffer_n_memory(packet) == 0)
		return;
	header = rewrite_header(sender, gst_buffer_peek_memory(packet, 0));
	if (!header)
		return;
	copy = gst_buffer_copy(packet); /* shares the payload memory */
	gst_buffer_replace_memory(copy, 0, header);
	/* Timestamps of the camera's pipeline mean nothing here: appsrc stamps its own. */
	GST_BUFFER_PTS(copy) = GST_BUFFER_DTS(copy) = GST_CLOCK_TIME_NONE;
	gst_app_src_push_buffer(GST_APP_SRC(sender->appsrc), copy);
}

static const VlgHubConsumerFuncs sender_funcs = { sender_caps, sender_buffer, sender_reset };

static void
sender_set_source(Sender *sender, VlgRtpSource *source)
{
	if (sender->consumer)
		vlg_hub_detach(sender->hub, sender->consumer);
	sender->consumer = NULL;
	g_clear_pointer(&sender->hub, vlg_hub_unref);
	if (!source)
		return;
	sender->rebase = TRUE;
	sender->hub = vlg_hub_ref(vlg_rtp_source_get_hub(source));
	/* The hub replays its keyframe cache inside attach: the tile starts at once. */
	sender->consumer = vlg_hub_attach(sender->hub, &sender_funcs, sender, NULL);
}

static void
sender_free(gpointer data)
{
	Sender *sender = data;

	sender_set_source(sender, NULL);
	gst_clear_object(&sender->sinkpad);
	gst_object_unref(sender->appsrc);
	g_free(sender);
}

/* ---- the offer ---- */

typedef struct {
	guint mline;
	guint payload_type;
	char *profile_level_id;
} VideoChoice;

/* The first H.264 format of the first video m-line that is packetization-mode=1. */
static gboolean
choose_video(const GstSDPMessage *sdp, VideoChoice *choice, GError **error)
{
	for (guint m = 0; m < gst_sdp_message_medias_len(sdp); m++) {
		const GstSDPMedia *media = gst_sdp_message_get_media(sdp, m);

		if (g_strcmp0(gst_sdp_media_get_media(media), "video") != 0)
			continue;
		for (guint f = 0; f < gst_sdp_media_formats_len(media); f++) {
			int pt = atoi(gst_sdp_media_get_format(media, f));
			g_autoptr(GstCaps) caps = gst_sdp_media_get_caps_from_media(media, pt);
			const GstStructure *s = caps ? gst_caps_get_structure(caps, 0) : NULL;
			const char *name = s ? gst_structure_get_string(s, "encoding-name") : NULL;
			const char *fmtp = s ? gst_structure_get_string(s, "packetization-mode") : NULL;

			if (g_strcmp0(name, "H264") != 0 || g_strcmp0(fmtp, "1") != 0)
				continue;
			choice->mline = m;
			choice->payload_type = pt;
			choice->profile_level_id =
				g_strdup(gst_structure_get_string(s, "profile-level-id"));
			return TRUE;
		}
		g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA,
			    "the video m-line offers no H.264 with packetization-mode=1");
		return FALSE;
	}
	g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA, "the offer has no video m-line");
	return FALSE;
}

static gboolean
has_fingerprint(const GstSDPMessage *sdp)
{
	if (gst_sdp_message_get_attribute_val(sdp, "fingerprint"))
		return TRUE;
	for (guint m = 0; m < gst_sdp_message_medias_len(sdp); m++)
		if (gst_sdp_media_get_attribute_val(gst_sdp_message_get_media(sdp, m), "fingerprint"))
			return TRUE;
	return FALSE;
}

static gboolean
address_allowed(VlgWebrtcPeer *peer, const char *candidate)
{
	g_auto(GStrv) fields = NULL;

	if (!peer->ice_addresses || !peer->ice_addresses[0])
		return TRUE;
	/* candidate:<foundation> <component> <transport> <priority> <address> <port> typ ... */
	fields = g_strsplit(candidate, " ", 7);
	if (g_strv_length(fields) < 6)
		return FALSE;
	return g_strv_contains((const char *const *)peer->ice_addresses, fields[4]);
}

/* Remote candidates outside the allowed addresses never reach ICE. */
static void
filter_candidates(VlgWebrtcPeer *peer, GstSDPMessage *sdp)
{
	for (guint m = 0; m < gst_sdp_message_medias_len(sdp); m++) {
		GstSDPMedia *media = (GstSDPMedia *)gst_sdp_message_get_media(sdp, m);

		for (gint a = (gint)gst_sdp_media_attributes_len(media) - 1; a >= 0; a--) {
			const GstSDPAttribute *attr = gst_sdp_media_get_attribute(media, a);

			if (g_strcmp0(attr->key, "candidate") == 0 &&
			    !address_allowed(peer, attr->value))
				gst_sdp_media_remove_attribute(media, a);
		}
	}
}

/* ---- webrtcbin signals (its threads) ---- */

/* A WHEP viewer's camera is attached when the connection is up: the hub's keyframe cache then
 * reaches a viewer that can use it at once (attached earlier, the replay met a pipeline not yet
 * playing and was lost, and viewers sometimes stalled until a keyframe that never decoded). */
static void
attach_waiting_senders(VlgWebrtcPeer *peer)
{
	for (guint i = 0; i < peer->senders->len; i++) {
		Sender *sender = peer->senders->pdata[i];

		if (sender->when_connected)
			sender_set_source(sender, g_steal_pointer(&sender->when_connected));
	}
}

static void
connection_state_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	GstWebRTCPeerConnectionState state;

	g_object_get(peer->webrtc, "connection-state", &state, NULL);
	switch (state) {
	case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
		set_state(peer, VLG_PEER_CONNECTING);
		break;
	case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
		attach_waiting_senders(peer);
		set_state(peer, VLG_PEER_CONNECTED);
		break;
	case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
		set_state(peer, VLG_PEER_FAILED);
		break;
	case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
		set_state(peer, VLG_PEER_CLOSED);
		break;
	default:
		break;
	}
}

static void
on_connection_state(GObject *webrtc, GParamSpec *pspec, gpointer data)
{
	on_main(data, connection_state_on_main, NULL, NULL);
}

static void
finish_local(VlgWebrtcPeer *peer, gpointer data)
{
	GstWebRTCSessionDescription *local = NULL;
	g_autofree char *text = NULL;

	if (!peer->local_pending)
		return;
	g_object_get(peer->webrtc, "local-description", &local, NULL);
	if (!local) {
		fail_local(peer, "webrtcbin has no local description");
		return;
	}
	text = gst_sdp_message_as_text(local->sdp);
	gst_webrtc_session_description_free(local);
	peer->local_pending = FALSE;
	peer->on_local(peer, text, NULL, peer->local_data);
}

static void
gathering_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	GstWebRTCICEGatheringState state;

	g_object_get(peer->webrtc, "ice-gathering-state", &state, NULL);
	if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
		finish_local(peer, NULL);
}

static void
on_gathering_state(GObject *webrtc, GParamSpec *pspec, gpointer data)
{
	on_main(data, gathering_on_main, NULL, NULL);
}

/* A promise's error, if its reply carries one (1.22 replies NULL on success). */
static char *
promise_error(GstPromise *promise)
{
	const GstStructure *reply;
	GError *error = NULL;
	char *message;

	if (gst_promise_wait(promise) != GST_PROMISE_RESULT_REPLIED)
		return g_strdup("the operation was interrupted");
	reply = gst_promise_get_reply(promise);
	if (!reply || !gst_structure_has_field(reply, "error"))
		return NULL;
	gst_structure_get(reply, "error", G_TYPE_ERROR, &error, NULL);
	message = g_strdup(error ? error->message : "unknown error");
	g_clear_error(&error);
	return message;
}

static void
local_failed_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	fail_local(peer, data);
}

static void
on_local_set(GstPromise *promise, gpointer data)
{
	char *error = promise_error(promise);

	gst_promise_unref(promise);
	if (error)
		on_main(data, local_failed_on_main, error, g_free);
	else
		on_main(data, gathering_on_main, NULL, NULL);
}

static void
set_local_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	GstWebRTCSessionDescription *description = data;
	GstPromise *promise = gst_promise_new_with_change_func(on_local_set, link_ref(peer->link),
							       link_unref);

	g_signal_emit_by_name(peer->webrtc, "set-local-description", description, promise);
}

/* create-offer or create-answer replied: set what it made as the local description. */
static void
on_description_created(GstPromise *promise, gpointer data)
{
	const GstStructure *reply = gst_promise_get_reply(promise);
	GstWebRTCSessionDescription *description = NULL;

	if (reply && gst_structure_has_field(reply, "answer"))
		gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &description,
				  NULL);
	else if (reply && gst_structure_has_field(reply, "offer"))
		gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &description,
				  NULL);
	gst_promise_unref(promise);
	if (!description) {
		on_main(data, local_failed_on_main, g_strdup("webrtcbin made no description"), g_free);
		return;
	}
	on_main(data, set_local_on_main, description,
		(GDestroyNotify)gst_webrtc_session_description_free);
}

static void
remote_set_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	GstPromise *promise = gst_promise_new_with_change_func(on_description_created,
							       link_ref(peer->link), link_unref);

	g_signal_emit_by_name(peer->webrtc, "create-answer", NULL, promise);
}

static void
on_remote_offer_set(GstPromise *promise, gpointer data)
{
	char *error = promise_error(promise);

	gst_promise_unref(promise);
	if (error)
		on_main(data, local_failed_on_main, error, g_free);
	else
		on_main(data, remote_set_on_main, NULL, NULL);
}

static void
remote_answer_failed_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	GST_WARNING("%s: the remote answer was refused: %s", peer->name, (char *)data);
	set_state(peer, VLG_PEER_FAILED);
}

static void
on_remote_answer_set(GstPromise *promise, gpointer data)
{
	char *error = promise_error(promise);

	gst_promise_unref(promise);
	if (error)
		on_main(data, remote_answer_failed_on_main, error, g_free);
}

/* ---- construction ---- */

static void
restrict_ice(VlgWebrtcPeer *peer)
{
	GstWebRTCICE *ice = NULL;
	NiceAgent *agent = NULL;

	g_object_get(peer->webrtc, "ice-agent", &ice, NULL);
	if (!ice)
		return;
	g_object_get(ice, "agent", &agent, NULL);
	if (agent) {
		/* Debian's libnice would otherwise multicast SSDP on every interface. Keepalives that
		 * want an answer let a vanished browser fail the connection instead of lingering. */
		g_object_set(agent, "upnp", FALSE, "keepalive-conncheck", TRUE, NULL);
		for (guint i = 0; peer->ice_addresses && peer->ice_addresses[i]; i++) {
			NiceAddress address;

			if (nice_address_set_from_string(&address, peer->ice_addresses[i]))
				nice_agent_add_local_address(agent, &address);
		}
		g_object_unref(agent);
	}
	gst_object_unref(ice);
}

static void
configure_servers(VlgWebrtcPeer *peer, const VlgIceSettings *ice)
{
	gboolean added;

	if (ice->stun_servers && ice->stun_servers[0])
		g_object_set(peer->webrtc, "stun-server", ice->stun_servers[0], NULL);
	for (guint i = 0; ice->turn_servers && ice->turn_servers[i]; i++)
		g_signal_emit_by_name(peer->webrtc, "add-turn-server", ice->turn_servers[i], &added);
}

static gboolean
on_bus_message(GstBus *bus, GstMessage *message, gpointer data)
{
	PeerLink *link = data;
	g_autoptr(GError) error = NULL;

	if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR && link->peer) {
		gst_message_parse_error(message, &error, NULL);
		GST_WARNING("%s: %s", link->peer->name, error->message);
		fail_local(link->peer, error->message);
		set_state(link->peer, VLG_PEER_FAILED);
	}
	return G_SOURCE_CONTINUE;
}

VlgWebrtcPeer *
vlg_webrtc_peer_new(const char *name, const VlgIceSettings *ice, VlgPeerStateFunc on_state,
		    gpointer user_data)
{
	VlgWebrtcPeer *peer = g_new0(VlgWebrtcPeer, 1);
	g_autoptr(GstBus) bus = NULL;

	if (!vlg_peer_debug)
		GST_DEBUG_CATEGORY_INIT(vlg_peer_debug, "vlg-peer", 0, "linkage-gateway WebRTC peer");
	peer->name = g_strdup(name);
	peer->on_state = on_state;
	peer->user_data = user_data;
	peer->ice_addresses = g_strdupv((char **)ice->ice_addresses);
	peer->link = g_new0(PeerLink, 1);
	peer->link->refcount = 1;
	peer->link->peer = peer;
	peer->link->context = g_main_context_ref_thread_default();
	peer->senders = g_ptr_array_new_with_free_func(sender_free);
	peer->pipeline = gst_pipeline_new(name);
	peer->webrtc = gst_element_factory_make("webrtcbin", NULL);
	g_object_set(peer->webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, NULL);
	gst_bin_add(GST_BIN(peer->pipeline), peer->webrtc);
	restrict_ice(peer);
	configure_servers(peer, ice);
	g_signal_connect_data(peer->webrtc, "notify::connection-state",
			      G_CALLBACK(on_connection_state), link_ref(peer->link),
			      link_closure_unref, 0);
	g_signal_connect_data(peer->webrtc, "notify::ice-gathering-state",
			      G_CALLBACK(on_gathering_state), link_ref(peer->link),
			      link_closure_unref, 0);
	bus = gst_element_get_bus(peer->pipeline);
	gst_bus_add_watch_full(bus, G_PRIORITY_DEFAULT, on_bus_message, link_ref(peer->link),
			       link_unref);
	return peer;
}

static void
ensure_playing(VlgWebrtcPeer *peer)
{
	if (peer->playing)
		return;
	peer->playing = TRUE;
	gst_element_set_state(peer->pipeline, GST_STATE_PLAYING);
}

/* A new appsrc → webrtcbin sink pad, its transceiver sendonly; the appsrc's caps are exactly what
 * the SDP says (1.22 builds answers by intersecting the offer with the pad's caps). */
static Sender *
add_sender(VlgWebrtcPeer *peer, GstCaps *caps, GError **error)
{
	GstElement *appsrc = gst_element_factory_make("appsrc", NULL);
	g_autoptr(GstPad) srcpad = NULL;
	GstWebRTCRTPTransceiver *transceiver = NULL;
	Sender *sender;

	g_object_set(appsrc, "caps", caps, "is-live", TRUE, "format", GST_FORMAT_TIME,
		     "do-timestamp", TRUE, "max-bytes", (guint64)SEND_QUEUE_BYTES, "block", FALSE,
		     "leaky-type", 2 /* downstream: drop the oldest */, NULL);
	gst_bin_add(GST_BIN(peer->pipeline), appsrc);
	sender = g_new0(Sender, 1);
	sender->appsrc = gst_object_ref(appsrc);
	sender->next_seq = (guint16)g_random_int();
	sender->sinkpad = gst_element_request_pad_simple(peer->webrtc, "sink_%u");
	srcpad = gst_element_get_static_pad(appsrc, "src");
	if (!sender->sinkpad || gst_pad_link(srcpad, sender->sinkpad) != GST_PAD_LINK_OK) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA, "cannot attach a stream to webrtcbin");
		sender_free(sender);
		return NULL;
	}
	g_object_get(sender->sinkpad, "transceiver", &transceiver, NULL);
	if (transceiver) {
		g_object_set(transceiver, "direction",
			     GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, NULL);
		gst_object_unref(transceiver);
	}
	if (peer->playing)
		gst_element_sync_state_with_parent(appsrc);
	g_ptr_array_add(peer->senders, sender);
	return sender;
}

static gboolean
add_video_sender(VlgWebrtcPeer *peer, VlgRtpSource *video, const VideoChoice *choice,
		 GError **error)
{
	g_autoptr(GstCaps) caps = gst_caps_new_simple(
		"application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name", G_TYPE_STRING,
		"H264", "clock-rate", G_TYPE_INT, VLG_RTP_CLOCK_RATE, "payload", G_TYPE_INT,
		(int)choice->payload_type, "packetization-mode", G_TYPE_STRING, "1",
		"profile-level-id", G_TYPE_STRING,
		choice->profile_level_id ? choice->profile_level_id : "42e01f", NULL);
	Sender *sender = add_sender(peer, caps, error);

	if (!sender)
		return FALSE;
	sender->payload_type = (guint8)choice->payload_type;
	sender->when_connected = video;
	return TRUE;
}

gboolean
vlg_webrtc_peer_answer(VlgWebrtcPeer *peer, const char *offer_sdp, VlgRtpSource *video,
		       VlgPeerSdpFunc on_answer, gpointer user_data, GError **error)
{
	GstSDPMessage *sdp = NULL;
	GstWebRTCSessionDescription *offer;
	VideoChoice choice = { 0 };
	GstPromise *promise;
	gboolean ok;

	if (gst_sdp_message_new_from_text(offer_sdp, &sdp) != GST_SDP_OK || !sdp ||
	    gst_sdp_message_medias_len(sdp) == 0) {
		if (sdp)
			gst_sdp_message_free(sdp);
		g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA, "the offer is not valid SDP");
		return FALSE;
	}
	if (!has_fingerprint(sdp)) {
		gst_sdp_message_free(sdp);
		g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA, "the offer has no DTLS fingerprint");
		return FALSE;
	}
	if (!choose_video(sdp, &choice, error)) {
		gst_sdp_message_free(sdp);
		return FALSE;
	}
	filter_candidates(peer, sdp);
	ok = add_video_sender(peer, video, &choice, error);
	g_free(choice.profile_level_id);
	if (!ok) {
		gst_sdp_message_free(sdp);
		return FALSE;
	}
	peer->on_local = on_answer;
	peer->local_data = user_data;
	peer->local_pending = TRUE;
	ensure_playing(peer);
	offer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
	promise = gst_promise_new_with_change_func(on_remote_offer_set, link_ref(peer->link),
						   link_unref);
	g_signal_emit_by_name(peer->webrtc, "set-remote-description", offer, promise);
	gst_webrtc_session_description_free(offer);
	return TRUE;
}

VlgPeerState
vlg_webrtc_peer_get_state(VlgWebrtcPeer *peer)
{
	return peer->state;
}

VlgWebrtcPeer *
vlg_webrtc_peer_free(VlgWebrtcPeer *peer)
{
	g_autoptr(GstBus) bus = NULL;

	if (!peer)
		return NULL;
	g_clear_pointer(&peer->senders, g_ptr_array_unref);
	peer->link->peer = NULL;
	g_signal_handlers_disconnect_by_data(peer->webrtc, peer->link);
	bus = gst_element_get_bus(peer->pipeline);
	gst_bus_remove_watch(bus);
	vlg_teardown_pipeline(peer->pipeline);
	link_unref(peer->link);
	g_strfreev(peer->ice_addresses);
	g_free(peer->name);
	g_free(peer);
	return NULL;
}

/* ---- offerer (a wall) ---- */

guint
vlg_webrtc_peer_add_slot(VlgWebrtcPeer *peer)
{
	guint32 ssrc = g_random_int() | 1;
	g_autoptr(GstCaps) caps = gst_caps_new_simple(
		"application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name", G_TYPE_STRING,
		"H264", "clock-rate", G_TYPE_INT, VLG_RTP_CLOCK_RATE, "payload", G_TYPE_INT,
		VLG_RTP_SOURCE_PAYLOAD_TYPE, "packetization-mode", G_TYPE_STRING, "1",
		"profile-level-id", G_TYPE_STRING, VLG_WALL_PROFILE_LEVEL_ID, "ssrc", G_TYPE_UINT,
		ssrc, NULL);
	Sender *sender = add_sender(peer, caps, NULL);
	GstWebRTCRTPTransceiver *transceiver = NULL;

	g_return_val_if_fail(sender != NULL, 0);
	/* The offer must not depend on whether the slot's appsrc answers a caps query in time: it
	 * did not always (offers came out with m-lines missing), so the codec is stated up front. */
	g_object_get(sender->sinkpad, "transceiver", &transceiver, NULL);
	if (transceiver) {
		g_object_set(transceiver, "codec-preferences", caps, NULL);
		gst_object_unref(transceiver);
	}
	sender->payload_type = VLG_RTP_SOURCE_PAYLOAD_TYPE;
	/* Every tile shares the payload type inside one BUNDLE, so the browser tells tiles apart by
	 * SSRC: each tile keeps its own whatever camera it shows. */
	sender->ssrc = ssrc;
	/* Not PLAYING yet: the pipeline starts with the offer, once every slot exists. */
	return peer->senders->len - 1;
}

guint
vlg_webrtc_peer_slot_count(VlgWebrtcPeer *peer)
{
	return peer->senders->len;
}

void
vlg_webrtc_peer_set_slot_source(VlgWebrtcPeer *peer, guint slot, VlgRtpSource *source)
{
	Sender *sender;

	g_return_if_fail(slot < peer->senders->len);
	sender = peer->senders->pdata[slot];
	/* A WHEP sender still waiting for the connection takes the new source when it comes up;
	 * the old one may be gone by then. */
	if (sender->when_connected) {
		sender->when_connected = source;
		return;
	}
	sender_set_source(sender, source);
}

char *
vlg_webrtc_peer_get_slot_mid(VlgWebrtcPeer *peer, guint slot)
{
	Sender *sender;
	GstWebRTCRTPTransceiver *transceiver = NULL;
	char *mid = NULL;

	g_return_val_if_fail(slot < peer->senders->len, NULL);
	sender = peer->senders->pdata[slot];
	g_object_get(sender->sinkpad, "transceiver", &transceiver, NULL);
	if (transceiver) {
		g_object_get(transceiver, "mid", &mid, NULL);
		gst_object_unref(transceiver);
	}
	return mid;
}

void
vlg_webrtc_peer_create_offer(VlgWebrtcPeer *peer, VlgPeerSdpFunc on_offer, gpointer user_data)
{
	GstPromise *promise;

	peer->on_local = on_offer;
	peer->local_data = user_data;
	peer->local_pending = TRUE;
	ensure_playing(peer);
	promise = gst_promise_new_with_change_func(on_description_created, link_ref(peer->link),
						   link_unref);
	g_signal_emit_by_name(peer->webrtc, "create-offer", NULL, promise);
}

gboolean
vlg_webrtc_peer_set_answer(VlgWebrtcPeer *peer, const char *answer_sdp, GError **error)
{
	GstSDPMessage *sdp = NULL;
	GstWebRTCSessionDescription *answer;
	GstPromise *promise;

	if (gst_sdp_message_new_from_text(answer_sdp, &sdp) != GST_SDP_OK || !sdp ||
	    gst_sdp_message_medias_len(sdp) == 0 || !has_fingerprint(sdp)) {
		if (sdp)
			gst_sdp_message_free(sdp);
		g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA,
			    "the answer is not valid SDP with a DTLS fingerprint");
		return FALSE;
	}
	filter_candidates(peer, sdp);
	answer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
	promise = gst_promise_new_with_change_func(on_remote_answer_set, link_ref(peer->link),
						   link_unref);
	g_signal_emit_by_name(peer->webrtc, "set-remote-description", answer, promise);
	gst_webrtc_session_description_free(answer);
	return TRUE;
}

gboolean
vlg_webrtc_peer_add_remote_candidate(VlgWebrtcPeer *peer, guint mline, const char *candidate)
{
	const char *text = g_str_has_prefix(candidate, "candidate:") ? candidate + 10 : candidate;
	g_autofree char *full = g_strconcat("candidate:", text, NULL);

	if (!address_allowed(peer, text))
		return FALSE;
	g_signal_emit_by_name(peer->webrtc, "add-ice-candidate", mline, full);
	return TRUE;
}
