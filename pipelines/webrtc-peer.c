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

/* A viewer that cannot keep up loses packets here rather than growing without bound. */
#define SEND_QUEUE_BYTES (4u * 1024 * 1024)

/*
 * What webrtcbin's threads may touch: a link to the peer that the main loop clears when the peer
 * goes. Every cross-thread event is handed to the main loop with the link, never the peer.
 */
typedef struct {
	gint refcount;
	struct _VlgWebrtcPeer *peer; /* main loop only; NULL once the peer is freed */
	GMainContext *context;
} PeerLink;

/* The per-viewer end of an RTP source: retimes and re-types packets into this peer's appsrc. */
typedef struct {
	GstElement *appsrc; /* ref */
	guint8 payload_type;
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
	VlgPeerAnswerFunc on_answer;
	gpointer answer_data;
	gboolean answered;
	VlgHub *video_hub;
	VlgHubConsumer *video_consumer;
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
fail_answer(VlgWebrtcPeer *peer, const char *message)
{
	g_autoptr(GError) error = g_error_new(VLG_ERROR, VLG_ERROR_MEDIA, "%s", message);

	if (peer->answered)
		return;
	peer->answered = TRUE;
	peer->on_answer(peer, NULL, error, peer->answer_data);
}

/* ---- sending: packets from the shared RTP source into this peer ---- */

static void
sender_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	/* The appsrc keeps the caps agreed in the offer/answer; the browser reads the stream's
	 * own SPS/PPS, sent before every keyframe. */
}

static void
sender_buffer(gpointer data, VlgTrack track, GstBuffer *packet)
{
	Sender *sender = data;
	GstBuffer *copy = gst_buffer_copy(packet); /* shares the memory */
	GstMapInfo map;

	/* Timestamps of the camera's pipeline mean nothing here: appsrc stamps its own. */
	GST_BUFFER_PTS(copy) = GST_BUFFER_DTS(copy) = GST_CLOCK_TIME_NONE;
	if (gst_buffer_n_memory(copy) > 0) {
		GstMemory *header = gst_buffer_peek_memory(copy, 0);

		if (gst_memory_map(header, &map, GST_MAP_READ)) {
			if (map.size >= 2 && (map.data[1] & 0x7f) != sender->payload_type) {
				guint8 *bytes = g_memdup2(map.data, map.size);

				bytes[1] = (bytes[1] & 0x80) | sender->payload_type;
				gst_memory_unmap(header, &map);
				gst_buffer_replace_memory(copy, 0,
							  gst_memory_new_wrapped(0, bytes, map.size, 0,
										 map.size, bytes,
										 g_free));
			} else {
				gst_memory_unmap(header, &map);
			}
		}
	}
	gst_app_src_push_buffer(GST_APP_SRC(sender->appsrc), copy);
}

static void
sender_free(gpointer data)
{
	Sender *sender = data;

	gst_object_unref(sender->appsrc);
	g_free(sender);
}

static const VlgHubConsumerFuncs sender_funcs = { sender_caps, sender_buffer, NULL };

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
finish_answer(VlgWebrtcPeer *peer, gpointer data)
{
	GstWebRTCSessionDescription *local = NULL;
	g_autofree char *text = NULL;

	if (peer->answered)
		return;
	g_object_get(peer->webrtc, "local-description", &local, NULL);
	if (!local) {
		fail_answer(peer, "webrtcbin has no local description");
		return;
	}
	text = gst_sdp_message_as_text(local->sdp);
	gst_webrtc_session_description_free(local);
	peer->answered = TRUE;
	peer->on_answer(peer, text, NULL, peer->answer_data);
}

static void
gathering_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	GstWebRTCICEGatheringState state;

	g_object_get(peer->webrtc, "ice-gathering-state", &state, NULL);
	if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
		finish_answer(peer, NULL);
}

static void
on_gathering_state(GObject *webrtc, GParamSpec *pspec, gpointer data)
{
	on_main(data, gathering_on_main, NULL, NULL);
}

static void
local_set_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	gathering_on_main(peer, NULL);
}

static void
on_local_set(GstPromise *promise, gpointer data)
{
	gst_promise_unref(promise);
	on_main(data, local_set_on_main, NULL, NULL);
}

static void
answer_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	GstWebRTCSessionDescription *answer = data;
	GstPromise *promise = gst_promise_new_with_change_func(on_local_set, link_ref(peer->link),
							       link_unref);

	g_signal_emit_by_name(peer->webrtc, "set-local-description", answer, promise);
}

static void
no_answer_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	fail_answer(peer, "webrtcbin created no answer");
}

static void
on_answer_created(GstPromise *promise, gpointer data)
{
	const GstStructure *reply = gst_promise_get_reply(promise);
	GstWebRTCSessionDescription *answer = NULL;

	if (reply)
		gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, NULL);
	gst_promise_unref(promise);
	if (!answer) {
		on_main(data, no_answer_on_main, NULL, NULL);
		return;
	}
	on_main(data, answer_on_main, answer,
		(GDestroyNotify)gst_webrtc_session_description_free);
}

static void
remote_set_on_main(VlgWebrtcPeer *peer, gpointer data)
{
	GstPromise *promise = gst_promise_new_with_change_func(on_answer_created,
							       link_ref(peer->link), link_unref);

	g_signal_emit_by_name(peer->webrtc, "create-answer", NULL, promise);
}

static void
on_remote_set(GstPromise *promise, gpointer data)
{
	gst_promise_unref(promise);
	on_main(data, remote_set_on_main, NULL, NULL);
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
		fail_answer(link->peer, error->message);
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

static gboolean
add_video_sender(VlgWebrtcPeer *peer, VlgRtpSource *video, const VideoChoice *choice,
		 GError **error)
{
	GstElement *appsrc = gst_element_factory_make("appsrc", NULL);
	g_autofree char *pad_name = g_strdup_printf("sink_%u", choice->mline);
	g_autoptr(GstPad) sinkpad = NULL;
	g_autoptr(GstPad) srcpad = NULL;
	g_autoptr(GstCaps) caps = gst_caps_new_simple(
		"application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name", G_TYPE_STRING,
		"H264", "clock-rate", G_TYPE_INT, VLG_RTP_CLOCK_RATE, "payload", G_TYPE_INT,
		(int)choice->payload_type, "packetization-mode", G_TYPE_STRING, "1",
		"profile-level-id", G_TYPE_STRING,
		choice->profile_level_id ? choice->profile_level_id : "42e01f", NULL);
	GstWebRTCRTPTransceiver *transceiver = NULL;
	Sender *sender;

	g_object_set(appsrc, "caps", caps, "is-live", TRUE, "format", GST_FORMAT_TIME,
		     "do-timestamp", TRUE, "max-bytes", (guint64)SEND_QUEUE_BYTES, "block", FALSE,
		     "leaky-type", 2 /* downstream: drop the oldest */, NULL);
	gst_bin_add(GST_BIN(peer->pipeline), appsrc);
	sinkpad = gst_element_request_pad_simple(peer->webrtc, pad_name);
	srcpad = gst_element_get_static_pad(appsrc, "src");
	if (!sinkpad || gst_pad_link(srcpad, sinkpad) != GST_PAD_LINK_OK) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA, "cannot attach video to m-line %u",
			    choice->mline);
		return FALSE;
	}
	g_object_get(sinkpad, "transceiver", &transceiver, NULL);
	if (transceiver) {
		g_object_set(transceiver, "direction",
			     GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, NULL);
		gst_object_unref(transceiver);
	}
	sender = g_new0(Sender, 1);
	sender->appsrc = gst_object_ref(appsrc);
	sender->payload_type = (guint8)choice->payload_type;
	peer->video_hub = vlg_hub_ref(vlg_rtp_source_get_hub(video));
	peer->video_consumer = vlg_hub_attach(peer->video_hub, &sender_funcs, sender, sender_free);
	return TRUE;
}

gboolean
vlg_webrtc_peer_answer(VlgWebrtcPeer *peer, const char *offer_sdp, VlgRtpSource *video,
		       VlgPeerAnswerFunc on_answer, gpointer user_data, GError **error)
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
	peer->on_answer = on_answer;
	peer->answer_data = user_data;
	ok = add_video_sender(peer, video, &choice, error);
	g_free(choice.profile_level_id);
	if (!ok) {
		gst_sdp_message_free(sdp);
		return FALSE;
	}
	gst_element_set_state(peer->pipeline, GST_STATE_PLAYING);
	offer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
	promise = gst_promise_new_with_change_func(on_remote_set, link_ref(peer->link), link_unref);
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
	if (peer->video_consumer)
		vlg_hub_detach(peer->video_hub, peer->video_consumer);
	g_clear_pointer(&peer->video_hub, vlg_hub_unref);
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
