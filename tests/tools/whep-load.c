/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vlg-whep-load: one process hosting N WHEP viewers for benchmarks. Each viewer is a pipeline of
 * its own with one webrtcbin (receive-only H.264, ICE on 127.0.0.1) whose stream goes through
 * rtph264depay into a fakesink: nothing is decoded, so a hundred viewers cost little next to the
 * sender under test. Probes count RTP packets and bytes (on the depayloader's sink, that is after
 * SRTP) and keyframes (access units without DELTA_UNIT on its source).
 *
 *   vlg-whep-load URL [URL...] --viewers N --seconds S [--stagger-ms MS] [--connect-timeout S]
 *
 * With several URLs the viewers go round-robin over them. Viewers join --stagger-ms apart; the
 * measuring window starts once every viewer has received a packet (or the connect timeout hit)
 * and lasts S seconds. Lines on stdout, flushed at once so a benchmark can time its samples:
 *
 *   whep-load window-start connected=C
 *   whep-load window-end
 *   whep-load viewers=N connected=C min_kbps=… mean_kbps=… max_kbps=… total_packets=…
 *             min_keyframes=… window_s=…
 *
 * kbps counts RTP bytes (header and payload) in the window. Every session is then ended with
 * DELETE. Exit 0 if every viewer connected and each received at least 90 % of the mean bit rate,
 * 1 otherwise (per-viewer figures on stderr with --verbose or on failure), 2 on bad usage.
 *
 * Threads: the main thread owns everything but the counters and runs the GLib loop; webrtcbin
 * callbacks and HTTP workers hand over with g_main_context_invoke(); streaming threads touch only
 * the atomic counters. A watchdog thread ends the process if the loop ever gets stuck.
 */
#include "loopback-ice.h"
#include <gio/gio.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOAD_ICE_ADDRESS "127.0.0.1"
#define LOAD_MAX_VIEWERS 1000
#define LOAD_MAX_REPLY (256 * 1024)
#define LOAD_HTTP_TIMEOUT_S 10
#define LOAD_DELETE_GRACE_S 5
#define LOAD_WATCHDOG_EXTRA_S 30
#define LOAD_SETTLE_MS 2000

/* One format: what the gateway sends browsers and what the bare sender answers with. */
static const gchar load_offer_caps[] =
    "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,"
    "packetization-mode=(string)1,profile-level-id=(string)42e01f,"
    "rtcp-fb-nack-pli=(boolean)true";

typedef struct _Load Load;

typedef struct {
	Load *load;
	guint index;
	const gchar *url; /* one of load->urls */
	GstElement *pipeline;
	GstElement *webrtc; /* owned by pipeline */
	guint bus_watch;
	gboolean offer_posted;
	gchar *location; /* absolute session URL once the POST succeeded */
	gchar *failure;	 /* why this viewer is out, or NULL */

	/* written by streaming threads */
	atomic_ullong packets;
	atomic_ullong bytes;
	atomic_uint keyframes;

	/* snapshots taken by the main thread */
	unsigned long long packets0, bytes0, packets1, bytes1;
	unsigned int keyframes0, keyframes1;
	gboolean had_packets_at_start;
} Viewer;

struct _Load {
	gchar **urls;
	guint n_urls;
	gint viewers_wanted;
	gint seconds;
	gint stagger_ms;
	gint connect_timeout;
	gboolean verbose;

	GMainLoop *loop;
	Viewer *viewers;
	guint started;
	guint stagger_timer;
	guint timer;
	gint64 window_start_us;
	gint64 window_end_us;
	gboolean finishing;
	guint deletes_pending;
	gint exit_code;
};

/* ---- HTTP/1.1, one request per connection, run in a worker thread ---- */

typedef struct {
	gchar *method;
	gchar *url;
	gchar *body; /* nullable; sent as application/sdp */
	/* results */
	guint status;
	gchar *location;
	gchar *etag;
	gchar *reply_body;
	gchar *error;
} HttpCall;

static void
http_call_free(HttpCall *call)
{
	g_free(call->method);
	g_free(call->url);
	g_free(call->body);
	g_free(call->location);
	g_free(call->etag);
	g_free(call->reply_body);
	g_free(call->error);
	g_free(call);
}

/* The value of header @name (lower case) in the CRLF-separated @head, or NULL. */
static gchar *
http_header(gchar **lines, const gchar *name)
{
	gsize len = strlen(name);

	for (guint i = 1; lines[i]; i++)
		if (g_ascii_strncasecmp(lines[i], name, len) == 0 && lines[i][len] == ':')
			return g_strstrip(g_strdup(lines[i] + len + 1));
	return NULL;
}

static gboolean
http_parse_reply(HttpCall *call, const gchar *data, gsize len)
{
	const gchar *end = g_strstr_len(data, (gssize)len, "\r\n\r\n");
	g_autofree gchar *head = NULL;
	g_auto(GStrv) lines = NULL;

	if (!data || !end || len < 12 || !g_str_has_prefix(data, "HTTP/1.") || data[8] != ' ')
		return FALSE;
	call->status = (guint)g_ascii_strtoull(data + 9, NULL, 10);
	head = g_strndup(data, (gsize)(end - data));
	lines = g_strsplit(head, "\r\n", -1);
	call->location = http_header(lines, "location");
	call->etag = http_header(lines, "etag");
	call->reply_body = g_strndup(end + 4, len - (gsize)(end + 4 - data));
	return TRUE;
}

static gboolean
http_exchange(HttpCall *call, GError **error)
{
	g_autoptr(GUri) uri = g_uri_parse(call->url, G_URI_FLAGS_NONE, error);
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GString) request = g_string_new(NULL);
	g_autoptr(GByteArray) reply = g_byte_array_new();
	const gchar *query;
	guint8 buf[8192];
	gint port;

	if (!uri)
		return FALSE;
	if (g_strcmp0(g_uri_get_scheme(uri), "http") != 0 || !g_uri_get_host(uri)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "not an http URL: %s",
			    call->url);
		return FALSE;
	}
	g_socket_client_set_enable_proxy(client, FALSE);
	g_socket_client_set_timeout(client, LOAD_HTTP_TIMEOUT_S);
	port = g_uri_get_port(uri) > 0 ? g_uri_get_port(uri) : 80;
	conn = g_socket_client_connect_to_host(client, g_uri_get_host(uri), (guint16)port, NULL,
					       error);
	if (!conn)
		return FALSE;
	query = g_uri_get_query(uri);
	g_string_append_printf(request, "%s %s%s%s HTTP/1.1\r\nHost: %s:%d\r\n", call->method,
			       g_uri_get_path(uri), query ? "?" : "", query ? query : "",
			       g_uri_get_host(uri), port);
	g_string_append(request, "User-Agent: vlg-whep-load\r\nConnection: close\r\n");
	/* From the environment, not argv, which any local user can read in /proc. */
	if (g_getenv("VLG_TOKEN"))
		g_string_append_printf(request, "Authorization: Bearer %s\r\n",
				       g_getenv("VLG_TOKEN"));
	if (call->body)
		g_string_append_printf(request,
				       "Content-Type: application/sdp\r\nAccept: "
				       "application/sdp\r\nContent-Length: %zu\r\n",
				       strlen(call->body));
	g_string_append(request, "\r\n");
	if (call->body)
		g_string_append(request, call->body);
	if (!g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
				       request->str, request->len, NULL, NULL, error))
		return FALSE;
	/* Connection: close, so the reply ends where the stream does. */
	for (;;) {
		gssize n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), buf,
					       sizeof(buf), NULL, error);
		if (n < 0)
			return FALSE;
		if (n == 0)
			break;
		if (reply->len + (gsize)n > LOAD_MAX_REPLY) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
				    "reply over %d bytes", LOAD_MAX_REPLY);
			return FALSE;
		}
		g_byte_array_append(reply, buf, (guint)n);
	}
	if (!http_parse_reply(call, (const gchar *)reply->data, reply->len)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "bad HTTP reply");
		return FALSE;
	}
	return TRUE;
}

static void
http_worker(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	HttpCall *call = task_data;
	g_autoptr(GError) error = NULL;

	if (!http_exchange(call, &error))
		call->error = g_strdup(error->message);
	g_task_return_boolean(task, TRUE);
}

/* @call is owned by the task; the callback reads it with g_task_get_task_data(). */
static void
http_send_async(HttpCall *call, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);

	g_task_set_task_data(task, call, (GDestroyNotify)http_call_free);
	g_task_run_in_thread(task, http_worker);
}

/* ---- one viewer ---- */

static void load_finish(Load *load);

static void
viewer_fail(Viewer *viewer, gchar *why)
{
	if (viewer->failure) {
		g_free(why);
		return;
	}
	viewer->failure = why;
	g_printerr("whep-load: viewer %u: %s\n", viewer->index, why);
}


static GstPadProbeReturn
viewer_on_rtp(GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
	Viewer *viewer = user_data;
	GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);

	atomic_fetch_add_explicit(&viewer->packets, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&viewer->bytes, gst_buffer_get_size(buffer),
				  memory_order_relaxed);
	return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
viewer_on_access_unit(GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
	Viewer *viewer = user_data;

	if (!GST_BUFFER_FLAG_IS_SET(GST_PAD_PROBE_INFO_BUFFER(info), GST_BUFFER_FLAG_DELTA_UNIT))
		atomic_fetch_add_explicit(&viewer->keyframes, 1, memory_order_relaxed);
	return GST_PAD_PROBE_OK;
}

/* On a streaming thread: depayload and drop, counting on the way. */
static void
viewer_on_pad_added(GstElement *webrtc, GstPad *pad, gpointer user_data)
{
	Viewer *viewer = user_data;
	GstElement *depay, *sink;
	g_autoptr(GstPad) depay_sink = NULL;
	g_autoptr(GstPad) depay_src = NULL;

	if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
		return;
	depay = gst_element_factory_make("rtph264depay", NULL);
	sink = gst_element_factory_make("fakesink", NULL);
	g_object_set(sink, "sync", FALSE, "async", FALSE, NULL);
	gst_bin_add_many(GST_BIN(viewer->pipeline), depay, sink, NULL);
	if (!gst_element_link(depay, sink)) {
		g_printerr("whep-load: viewer %u: cannot link the depayloader\n", viewer->index);
		return;
	}
	depay_sink = gst_element_get_static_pad(depay, "sink");
	depay_src = gst_element_get_static_pad(depay, "src");
	gst_pad_add_probe(depay_sink, GST_PAD_PROBE_TYPE_BUFFER, viewer_on_rtp, viewer, NULL);
	gst_pad_add_probe(depay_src, GST_PAD_PROBE_TYPE_BUFFER, viewer_on_access_unit, viewer,
			  NULL);
	gst_element_sync_state_with_parent(sink);
	gst_element_sync_state_with_parent(depay);
	if (gst_pad_link(pad, depay_sink) != GST_PAD_LINK_OK)
		g_printerr("whep-load: viewer %u: cannot link %s\n", viewer->index,
			   GST_PAD_NAME(pad));
}

/* Second layer behind the namespace: only loopback candidates reach libnice. */
static void
drop_foreign_candidates(GstSDPMessage *sdp)
{
	for (guint m = 0; m < gst_sdp_message_medias_len(sdp); m++) {
		GstSDPMedia *media = (GstSDPMedia *)gst_sdp_message_get_media(sdp, m);

		for (guint a = gst_sdp_media_attributes_len(media); a-- > 0;) {
			const GstSDPAttribute *attr = gst_sdp_media_get_attribute(media, a);
			g_auto(GStrv) fields = NULL;

			if (g_strcmp0(attr->key, "candidate") != 0 || !attr->value)
				continue;
			fields = g_strsplit(attr->value, " ", 6);
			if (g_strv_length(fields) < 5 || !g_str_equal(fields[4], LOAD_ICE_ADDRESS))
				gst_sdp_media_remove_attribute(media, a);
		}
	}
}

typedef struct {
	Viewer *viewer;
	gchar *what; /* what failed, or NULL */
} PromiseDone;

static gboolean
viewer_promise_failed(gpointer data)
{
	PromiseDone *done = data;

	viewer_fail(done->viewer, g_steal_pointer(&done->what));
	g_free(done);
	return G_SOURCE_REMOVE;
}

/* On webrtcbin's thread: a failure is handed to the main loop. */
static gboolean
promise_ok(Viewer *viewer, GstPromise *promise, const gchar *what)
{
	const GstStructure *reply;
	g_autoptr(GError) error = NULL;
	PromiseDone *done;

	if (gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED) {
		reply = gst_promise_get_reply(promise);
		if (!reply || !gst_structure_has_field(reply, "error"))
			return TRUE;
		gst_structure_get(reply, "error", G_TYPE_ERROR, &error, NULL);
	}
	done = g_new0(PromiseDone, 1);
	done->viewer = viewer;
	done->what = g_strdup_printf("%s failed: %s", what, error ? error->message : "no reply");
	g_main_context_invoke(NULL, viewer_promise_failed, done);
	return FALSE;
}

static void
viewer_on_description_set(GstPromise *promise, gpointer user_data)
{
	promise_ok(user_data, promise, "setting a description");
	gst_promise_unref(promise);
}

static void
viewer_on_post_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Viewer *viewer = user_data;
	HttpCall *call = g_task_get_task_data(G_TASK(result));
	GstSDPMessage *sdp = NULL;
	GstWebRTCSessionDescription *answer;

	if (call->location)
		viewer->location = g_uri_resolve_relative(viewer->url, call->location,
							  G_URI_FLAGS_NONE, NULL);
	if (viewer->load->finishing)
		return; /* load_finish() already counted the DELETEs; this one is late */
	if (call->error) {
		viewer_fail(viewer, g_strdup_printf("POST: %s", call->error));
		return;
	}
	if (call->status != 201 || !viewer->location || !call->etag) {
		g_strdelimit(call->reply_body, "\r\n", ' ');
		viewer_fail(viewer, g_strdup_printf("POST answered %u (Location %s, ETag %s): %.200s",
						    call->status, call->location ? "set" : "missing",
						    call->etag ? "set" : "missing",
						    call->reply_body));
		return;
	}
	if (gst_sdp_message_new_from_text(call->reply_body, &sdp) != GST_SDP_OK) {
		viewer_fail(viewer, g_strdup("the answer is not SDP"));
		return;
	}
	drop_foreign_candidates(sdp);
	answer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
	g_signal_emit_by_name(viewer->webrtc, "set-remote-description", answer,
			      gst_promise_new_with_change_func(viewer_on_description_set, viewer,
							       NULL));
	gst_webrtc_session_description_free(answer);
}

static gboolean
viewer_post_offer(gpointer user_data)
{
	Viewer *viewer = user_data;
	g_autoptr(GstWebRTCSessionDescription) offer = NULL;
	HttpCall *call;

	if (viewer->offer_posted || viewer->load->finishing)
		return G_SOURCE_REMOVE;
	viewer->offer_posted = TRUE;
	g_object_get(viewer->webrtc, "local-description", &offer, NULL);
	if (!offer) {
		viewer_fail(viewer, g_strdup("no local description after gathering"));
		return G_SOURCE_REMOVE;
	}
	call = g_new0(HttpCall, 1);
	call->method = g_strdup("POST");
	call->url = g_strdup(viewer->url);
	call->body = gst_sdp_message_as_text(offer->sdp);
	http_send_async(call, viewer_on_post_done, viewer);
	return G_SOURCE_REMOVE;
}

static void
viewer_on_gathering_state(GObject *webrtc, GParamSpec *pspec, gpointer user_data)
{
	GstWebRTCICEGatheringState state;

	g_object_get(webrtc, "ice-gathering-state", &state, NULL);
	if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
		g_main_context_invoke(NULL, viewer_post_offer, user_data);
}

static void
viewer_on_offer_created(GstPromise *promise, gpointer user_data)
{
	Viewer *viewer = user_data;
	GstWebRTCSessionDescription *offer = NULL;

	if (promise_ok(viewer, promise, "create-offer"))
		gst_structure_get(gst_promise_get_reply(promise), "offer",
				  GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, NULL);
	gst_promise_unref(promise);
	if (!offer)
		return;
	g_signal_emit_by_name(viewer->webrtc, "set-local-description", offer,
			      gst_promise_new_with_change_func(viewer_on_description_set, viewer,
							       NULL));
	gst_webrtc_session_description_free(offer);
}

/* Drains every pipeline's bus, so nothing piles up; errors end only that viewer. */
static gboolean
viewer_on_bus(GstBus *bus, GstMessage *message, gpointer user_data)
{
	Viewer *viewer = user_data;
	g_autoptr(GError) error = NULL;

	if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
		gst_message_parse_error(message, &error, NULL);
		viewer_fail(viewer, g_strdup_printf("pipeline error from %s: %s",
						    GST_MESSAGE_SRC_NAME(message), error->message));
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
viewer_start(Viewer *viewer)
{
	g_autoptr(GstCaps) caps = gst_caps_from_string(load_offer_caps);
	g_autoptr(GstWebRTCRTPTransceiver) transceiver = NULL;
	g_autoptr(GstBus) bus = NULL;

	viewer->pipeline = gst_pipeline_new(NULL);
	viewer->webrtc = gst_element_factory_make("webrtcbin", NULL);
	if (!viewer->webrtc) {
		g_printerr("whep-load: webrtcbin is missing (gstreamer1.0-plugins-bad)\n");
		return FALSE;
	}
	gst_bin_add(GST_BIN(viewer->pipeline), viewer->webrtc);
	gst_util_set_object_arg(G_OBJECT(viewer->webrtc), "bundle-policy", "max-bundle");
	if (!vlg_test_restrict_ice(viewer->webrtc, LOAD_ICE_ADDRESS)) {
		g_printerr("whep-load: cannot restrict ICE to " LOAD_ICE_ADDRESS "\n");
		return FALSE;
	}
	g_signal_emit_by_name(viewer->webrtc, "add-transceiver",
			      GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps, &transceiver);
	if (!transceiver) {
		g_printerr("whep-load: webrtcbin refused a receive-only transceiver\n");
		return FALSE;
	}
	g_signal_connect(viewer->webrtc, "pad-added", G_CALLBACK(viewer_on_pad_added), viewer);
	g_signal_connect(viewer->webrtc, "notify::ice-gathering-state",
			 G_CALLBACK(viewer_on_gathering_state), viewer);
	bus = gst_pipeline_get_bus(GST_PIPELINE(viewer->pipeline));
	viewer->bus_watch = gst_bus_add_watch(bus, viewer_on_bus, viewer);
	if (gst_element_set_state(viewer->pipeline, GST_STATE_PLAYING) ==
	    GST_STATE_CHANGE_FAILURE) {
		viewer_fail(viewer, g_strdup("the pipeline would not start"));
		return TRUE;
	}
	/* One offer by hand, not from on-negotiation-needed, which 1.22 may fire repeatedly. */
	g_signal_emit_by_name(viewer->webrtc, "create-offer", NULL,
			      gst_promise_new_with_change_func(viewer_on_offer_created, viewer,
							       NULL));
	return TRUE;
}

static void
viewer_clear(Viewer *viewer)
{
	if (viewer->bus_watch)
		g_source_remove(viewer->bus_watch);
	if (viewer->pipeline) {
		gst_element_set_state(viewer->pipeline, GST_STATE_NULL);
		gst_object_unref(viewer->pipeline);
	}
	g_free(viewer->location);
	g_free(viewer->failure);
}

/* ---- the run ---- */

static guint
load_connected(Load *load)
{
	guint n = 0;

	for (guint i = 0; i < load->started; i++)
		if (!load->viewers[i].failure &&
		    atomic_load_explicit(&load->viewers[i].packets, memory_order_relaxed) > 0)
			n++;
	return n;
}

static void
load_snapshot(Load *load, gboolean start)
{
	for (guint i = 0; i < load->started; i++) {
		Viewer *v = &load->viewers[i];
		unsigned long long packets = atomic_load(&v->packets);
		unsigned long long bytes = atomic_load(&v->bytes);
		unsigned int keyframes = atomic_load(&v->keyframes);

		if (start) {
			v->packets0 = packets;
			v->bytes0 = bytes;
			v->keyframes0 = keyframes;
			v->had_packets_at_start = packets > 0 && !v->failure;
		} else {
			v->packets1 = packets;
			v->bytes1 = bytes;
			v->keyframes1 = keyframes;
		}
	}
}

static gint
load_report(Load *load)
{
	gdouble window_s = (gdouble)(load->window_end_us - load->window_start_us) / G_USEC_PER_SEC;
	gdouble min_kbps = G_MAXDOUBLE, max_kbps = 0, sum_kbps = 0, mean_kbps;
	unsigned long long total_packets = 0;
	guint connected = 0, min_keyframes = G_MAXUINT, n = (guint)load->viewers_wanted;
	gboolean ok;

	if (window_s <= 0)
		window_s = 1e-9;
	for (guint i = 0; i < n; i++) {
		Viewer *v = &load->viewers[i];
		gdouble kbps = i < load->started
				   ? (gdouble)(v->bytes1 - v->bytes0) * 8 / window_s / 1000
				   : 0;

		if (i < load->started && v->had_packets_at_start && !v->failure)
			connected++;
		min_kbps = MIN(min_kbps, kbps);
		max_kbps = MAX(max_kbps, kbps);
		sum_kbps += kbps;
		total_packets += i < load->started ? v->packets1 - v->packets0 : 0;
		min_keyframes = MIN(min_keyframes, i < load->started ? v->keyframes1 - v->keyframes0 : 0);
	}
	mean_kbps = sum_kbps / n;
	ok = connected == n && mean_kbps > 0 && min_kbps >= 0.9 * mean_kbps;
	g_print("whep-load viewers=%u connected=%u min_kbps=%.0f mean_kbps=%.0f max_kbps=%.0f "
		"total_packets=%llu min_keyframes=%u window_s=%.1f\n",
		n, connected, min_kbps, mean_kbps, max_kbps, total_packets, min_keyframes, window_s);
	if (load->verbose || !ok)
		for (guint i = 0; i < load->started; i++) {
			Viewer *v = &load->viewers[i];

			g_printerr("whep-load: viewer %u %s kbps=%.0f packets=%llu keyframes=%u%s%s\n",
				   i, v->url, (gdouble)(v->bytes1 - v->bytes0) * 8 / window_s / 1000,
				   v->packets1 - v->packets0, v->keyframes1 - v->keyframes0,
				   v->failure ? " failed: " : "", v->failure ? v->failure : "");
		}
	return ok ? 0 : 1;
}

static void
load_quit_if_done(Load *load)
{
	if (load->deletes_pending == 0)
		g_main_loop_quit(load->loop);
}

static void
load_on_delete_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Viewer *viewer = user_data;
	HttpCall *call = g_task_get_task_data(G_TASK(result));

	if (call->error || call->status < 200 || call->status > 299)
		g_printerr("whep-load: viewer %u: DELETE %s: %u %s\n", viewer->index,
			   viewer->location, call->status, call->error ? call->error : "");
	viewer->load->deletes_pending--;
	load_quit_if_done(viewer->load);
}

static gboolean
load_on_delete_grace(gpointer user_data)
{
	Load *load = user_data;

	g_printerr("whep-load: %u DELETEs unanswered after %d s\n", load->deletes_pending,
		   LOAD_DELETE_GRACE_S);
	g_main_loop_quit(load->loop);
	return G_SOURCE_REMOVE;
}

/* Idempotent: reports, then ends every session that has a Location. */
static void
load_finish(Load *load)
{
	if (load->finishing)
		return;
	load->finishing = TRUE;
	if (load->timer)
		g_source_remove(load->timer);
	load->timer = 0;
	if (load->stagger_timer)
		g_source_remove(load->stagger_timer);
	load->stagger_timer = 0;
	if (!load->window_start_us) {
		load->window_start_us = g_get_monotonic_time();
		load_snapshot(load, TRUE);
	}
	load->window_end_us = g_get_monotonic_time();
	load_snapshot(load, FALSE);
	load->exit_code = load_report(load);
	for (guint i = 0; i < load->started; i++) {
		Viewer *v = &load->viewers[i];
		HttpCall *call;

		if (!v->location)
			continue;
		call = g_new0(HttpCall, 1);
		call->method = g_strdup("DELETE");
		call->url = g_strdup(v->location);
		load->deletes_pending++;
		http_send_async(call, load_on_delete_done, v);
	}
	g_timeout_add_seconds(LOAD_DELETE_GRACE_S, load_on_delete_grace, load);
	load_quit_if_done(load);
}

static gboolean
load_on_window_end(gpointer user_data)
{
	Load *load = user_data;

	load->timer = 0;
	g_print("whep-load window-end\n");
	load_finish(load);
	return G_SOURCE_REMOVE;
}

static gboolean
load_start_window(gpointer user_data)
{
	Load *load = user_data;

	load_snapshot(load, TRUE);
	load->window_start_us = g_get_monotonic_time();
	g_print("whep-load window-start connected=%u\n", load_connected(load));
	load->timer = g_timeout_add((guint)load->seconds * 1000, load_on_window_end, load);
	return G_SOURCE_REMOVE;
}

/* Polls until every viewer has a packet, or the connect timeout. */
static gboolean
load_on_connect_poll(gpointer user_data)
{
	Load *load = user_data;
	gint64 waited_s = (g_get_monotonic_time() - load->window_start_us) / G_USEC_PER_SEC;

	guint failed = 0;

	for (guint i = 0; i < load->started; i++)
		failed += load->viewers[i].failure != NULL;
	if (load_connected(load) + failed < (guint)load->viewers_wanted &&
	    waited_s < load->connect_timeout)
		return G_SOURCE_CONTINUE;
	if (load->verbose)
		g_printerr("whep-load: %u of %d connected after %" G_GINT64_FORMAT " s\n",
			   load_connected(load), load->viewers_wanted, waited_s);
	load->window_start_us = 0;
	/* A GOP for the last joiners to settle (a bare sender makes them wait for an IDR). */
	load->timer = g_timeout_add(LOAD_SETTLE_MS, load_start_window, load);
	return G_SOURCE_REMOVE;
}

static gboolean
load_on_stagger(gpointer user_data)
{
	Load *load = user_data;
	Viewer *viewer = &load->viewers[load->started];

	viewer->load = load;
	viewer->index = load->started;
	viewer->url = load->urls[load->started % load->n_urls];
	load->started++;
	if (!viewer_start(viewer)) {
		load->stagger_timer = 0;
		load->exit_code = 1;
		load_finish(load);
		return G_SOURCE_REMOVE;
	}
	if (load->started < (guint)load->viewers_wanted)
		return G_SOURCE_CONTINUE;
	load->stagger_timer = 0;
	/* window_start_us holds the connect phase's start until the window begins. */
	load->window_start_us = g_get_monotonic_time();
	load->timer = g_timeout_add(100, load_on_connect_poll, load);
	return G_SOURCE_REMOVE;
}

static gboolean
load_on_signal(gpointer user_data)
{
	load_finish(user_data);
	return G_SOURCE_CONTINUE;
}

static gint watchdog_seconds;

static gpointer
load_watchdog(gpointer unused)
{
	g_usleep((gulong)watchdog_seconds * G_USEC_PER_SEC);
	fprintf(stderr, "whep-load: hard timeout after %d s\n", watchdog_seconds);
	fflush(NULL);
	_exit(1);
}

static gboolean
load_parse_args(Load *load, gint *argc, gchar ***argv)
{
	const GOptionEntry entries[] = {
	    {"viewers", 0, 0, G_OPTION_ARG_INT, &load->viewers_wanted, "Viewers (default 1)", "N"},
	    {"seconds", 0, 0, G_OPTION_ARG_INT, &load->seconds, "Measuring window (default 10)",
	     "S"},
	    {"stagger-ms", 0, 0, G_OPTION_ARG_INT, &load->stagger_ms,
	     "Pause between joins (default 50)", "MS"},
	    {"connect-timeout", 0, 0, G_OPTION_ARG_INT, &load->connect_timeout,
	     "Seconds after the last join to wait for packets (default 15)", "S"},
	    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &load->verbose, "Per-viewer figures", NULL},
	    {NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new("URL... - WHEP load generator");
	g_autoptr(GError) error = NULL;

	g_option_context_set_description(context,
					 "Environment: VLG_TOKEN, a token sent as "
					 "Authorization: Bearer.");
	load->viewers_wanted = 1;
	load->seconds = 10;
	load->stagger_ms = 50;
	load->connect_timeout = 15;
	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_add_group(context, gst_init_get_option_group());
	if (!g_option_context_parse(context, argc, argv, &error)) {
		g_printerr("whep-load: %s\n", error->message);
		return FALSE;
	}
	if (*argc < 2 || load->viewers_wanted < 1 || load->viewers_wanted > LOAD_MAX_VIEWERS ||
	    load->seconds < 1 || load->seconds > 3600 || load->stagger_ms < 0 ||
	    load->stagger_ms > 10000 || load->connect_timeout < 1 || load->connect_timeout > 600) {
		g_printerr("usage: vlg-whep-load URL [URL...] --viewers 1..%d --seconds 1..3600 "
			   "[--stagger-ms 0..10000] [--connect-timeout 1..600] [--verbose]\n",
			   LOAD_MAX_VIEWERS);
		return FALSE;
	}
	load->n_urls = (guint)*argc - 1;
	load->urls = g_new0(gchar *, load->n_urls + 1);
	for (guint i = 0; i < load->n_urls; i++)
		load->urls[i] = g_strdup((*argv)[i + 1]);
	return TRUE;
}

int
main(int argc, char **argv)
{
	Load load = {0};
	guint signals[2];

	if (!load_parse_args(&load, &argc, &argv)) {
		g_strfreev(load.urls);
		return 2;
	}
	watchdog_seconds = (gint)((gint64)load.viewers_wanted * load.stagger_ms / 1000) +
			   load.connect_timeout + load.seconds + LOAD_DELETE_GRACE_S +
			   LOAD_WATCHDOG_EXTRA_S;
	g_thread_unref(g_thread_new("watchdog", load_watchdog, NULL));
	load.loop = g_main_loop_new(NULL, FALSE);
	load.viewers = g_new0(Viewer, (gsize)load.viewers_wanted);
	load.exit_code = 1;
	signals[0] = g_unix_signal_add(SIGINT, load_on_signal, &load);
	signals[1] = g_unix_signal_add(SIGTERM, load_on_signal, &load);
	load.stagger_timer = g_timeout_add((guint)MAX(load.stagger_ms, 1), load_on_stagger, &load);
	g_main_loop_run(load.loop);

	g_source_remove(signals[0]);
	g_source_remove(signals[1]);
	for (guint i = 0; i < load.started; i++)
		viewer_clear(&load.viewers[i]);
	g_free(load.viewers);
	g_strfreev(load.urls);
	g_main_loop_unref(load.loop);
	return load.exit_code;
}
