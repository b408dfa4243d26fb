/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vlg-bare-sender: the baseline for the viewer benchmark, a WHEP server with nothing but what
 * webrtcbin needs. Per source, one pipeline:
 *
 *   rtspsrc ! rtph264depay ! h264parse ! rtph264pay config-interval=-1 aggregate-mode=zero-latency
 *     ! tee, and per viewer: tee. ! queue ! capssetter ! webrtcbin (sendonly, ICE on 127.0.0.1)
 *
 * The capssetter gives the viewer's branch the payload type and profile-level-id of its offer,
 * because webrtcbin 1.22 answers with the offer's caps intersected with its sink pad's.
 *
 *   vlg-bare-sender --rtsp URL [--rtsp URL...] [--port PORT]
 *
 * POST /whep/NAME takes an SDP offer (NAME is the last path segment of an --rtsp URL; with one
 * source any NAME will do) and answers 201 with every candidate, Location and ETag; DELETE on the
 * Location removes the branch. Prints `bare-sender ready port=P` once listening on 127.0.0.1.
 *
 * Threads: the main thread owns the pipelines and sessions and runs the GLib loop. HTTP
 * connections run on GThreadedSocketService threads, which hand each request to the main loop
 * and wait (bounded) for its reply. webrtcbin callbacks hand over with g_main_context_invoke().
 */
#include "loopback-ice.h"
#include <gio/gio.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BARE_ICE_ADDRESS "127.0.0.1"
#define BARE_PAYLOAD_TYPE 96
#define BARE_MAX_HEADER 16384
#define BARE_MAX_BODY 65536
#define BARE_REPLY_TIMEOUT_S 15
#define BARE_HTTP_THREADS 32

typedef struct {
	gchar *name;
	GstElement *pipeline;
	GstElement *tee; /* owned by pipeline */
	guint bus_watch;
} Source;

/* A request handed to the main loop; the connection thread waits for `reply`. */
typedef struct {
	gchar *method;
	gchar *path;
	gchar *content_type;
	gchar *body;
	GMutex lock;
	GCond cond;
	gboolean done;	  /* guarded by lock */
	gchar *reply;	  /* guarded by lock: the whole HTTP response */
	gint refcount;
} Request;

typedef struct {
	gchar *id;
	Source *source;
	GstElement *queue, *capssetter, *webrtc; /* owned by the pipeline while attached */
	GstPad *tee_pad;			 /* ref */
	Request *pending;			 /* waiting for the answer, ref */
	gboolean answered;
	gboolean detaching;
} Session;

static GPtrArray *sources;    /* Source* */
static GHashTable *sessions;  /* id -> Session*, main thread only */
static guint next_session_id;
static GMainLoop *loop;

/* ---- requests ---- */

static Request *
request_ref(Request *request)
{
	g_atomic_int_inc(&request->refcount);
	return request;
}

static void
request_unref(Request *request)
{
	if (!g_atomic_int_dec_and_test(&request->refcount))
		return;
	g_free(request->method);
	g_free(request->path);
	g_free(request->content_type);
	g_free(request->body);
	g_free(request->reply);
	g_mutex_clear(&request->lock);
	g_cond_clear(&request->cond);
	g_free(request);
}

/* Main thread: completes @request with a response; @extra_headers end with CRLF or are "". */
static void
request_complete(Request *request, guint status, const gchar *reason, const gchar *extra_headers,
		 const gchar *content_type, const gchar *body)
{
	g_mutex_lock(&request->lock);
	if (!request->done) {
		request->reply = g_strdup_printf(
		    "HTTP/1.1 %u %s\r\nConnection: close\r\nAccess-Control-Allow-Origin: *\r\n"
		    "%sContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
		    status, reason, extra_headers, content_type, strlen(body), body);
		request->done = TRUE;
		g_cond_signal(&request->cond);
	}
	g_mutex_unlock(&request->lock);
}

static void
request_fail(Request *request, guint status, const gchar *reason, const gchar *message)
{
	g_autofree gchar *body = g_strdup_printf("%s\n", message);

	request_complete(request, status, reason, "", "text/plain", body);
}

/* ---- sessions ---- */

static void
session_free(Session *session)
{
	if (session->pending) {
		request_fail(session->pending, 500, "Internal Server Error", "session ended");
		request_unref(session->pending);
	}
	g_clear_object(&session->tee_pad);
	g_clear_object(&session->queue);
	g_clear_object(&session->capssetter);
	g_clear_object(&session->webrtc);
	g_free(session->id);
	g_free(session);
}

/* Main thread, once the branch is off the tee: stop and remove it. */
static gboolean
session_finish_detach(gpointer data)
{
	Session *session = data;
	GstBin *bin = GST_BIN(session->source->pipeline);
	GstElement *branch[] = {session->queue, session->capssetter, session->webrtc};

	if (session->tee_pad)
		gst_element_release_request_pad(session->source->tee, session->tee_pad);
	for (guint i = 0; i < G_N_ELEMENTS(branch); i++) {
		if (!branch[i])
			continue;
		gst_element_set_state(branch[i], GST_STATE_NULL);
		if (GST_OBJECT_PARENT(branch[i]) == GST_OBJECT(bin))
			gst_bin_remove(bin, branch[i]);
	}
	session_free(session);
	return G_SOURCE_REMOVE;
}

static GstPadProbeReturn
session_on_tee_idle(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	Session *session = data;
	g_autoptr(GstPad) peer = gst_pad_get_peer(pad);

	if (peer)
		gst_pad_unlink(pad, peer);
	/* Always later, never inside this probe: the pad it sits on is about to be released. */
	g_idle_add(session_finish_detach, session);
	return GST_PAD_PROBE_REMOVE;
}

/* Main thread. The session leaves the table now and is freed once detached. */
static void
session_remove(Session *session)
{
	g_hash_table_steal(sessions, session->id);
	session->detaching = TRUE;
	if (session->tee_pad)
		gst_pad_add_probe(session->tee_pad, GST_PAD_PROBE_TYPE_IDLE, session_on_tee_idle,
				  session, NULL);
	else
		session_finish_detach(session);
}


typedef struct {
	gchar *id;
	gchar *error; /* NULL: gathering is complete */
} SessionEvent;

/* Main thread: gathering complete (answer it) or a step failed (refuse it). */
static gboolean
session_on_event(gpointer data)
{
	SessionEvent *event = data;
	Session *session = g_hash_table_lookup(sessions, event->id);
	g_autoptr(GstWebRTCSessionDescription) answer = NULL;

	if (!session || session->answered) {
		/* gone, or answered already */
	} else if (event->error) {
		session->answered = TRUE;
		request_fail(session->pending, 500, "Internal Server Error", event->error);
		session_remove(session);
	} else {
		g_autofree gchar *sdp = NULL;
		g_autofree gchar *headers = NULL;

		g_object_get(session->webrtc, "local-description", &answer, NULL);
		session->answered = TRUE;
		if (!answer) {
			request_fail(session->pending, 500, "Internal Server Error",
				     "no local description");
			session_remove(session);
		} else {
			sdp = gst_sdp_message_as_text(answer->sdp);
			headers = g_strdup_printf("Location: /whep/%s/%s\r\nETag: \"%s\"\r\n",
						  session->source->name, session->id, session->id);
			request_complete(session->pending, 201, "Created", headers,
					 "application/sdp", sdp);
			g_clear_pointer(&session->pending, request_unref);
		}
	}
	g_free(event->id);
	g_free(event->error);
	g_free(event);
	return G_SOURCE_REMOVE;
}

static void
session_post_event(const gchar *id, gchar *error)
{
	SessionEvent *event = g_new0(SessionEvent, 1);

	event->id = g_strdup(id);
	event->error = error;
	g_main_context_invoke(NULL, session_on_event, event);
}

/* webrtcbin's thread; the id (a string owned by the closure) outlives nothing it needs. */
static gboolean
promise_ok(GstPromise *promise, const gchar *id, const gchar *what)
{
	const GstStructure *reply;
	g_autoptr(GError) error = NULL;

	if (gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED) {
		reply = gst_promise_get_reply(promise);
		if (!reply || !gst_structure_has_field(reply, "error"))
			return TRUE;
		gst_structure_get(reply, "error", G_TYPE_ERROR, &error, NULL);
	}
	session_post_event(id, g_strdup_printf("%s failed: %s", what,
					       error ? error->message : "no reply"));
	return FALSE;
}

typedef struct {
	gchar *id;
	GstElement *webrtc; /* ref */
} PromiseData;

static void
promise_data_free(gpointer data)
{
	PromiseData *pd = data;

	g_free(pd->id);
	gst_object_unref(pd->webrtc);
	g_free(pd);
}

static PromiseData *
promise_data_new(const gchar *id, GstElement *webrtc)
{
	PromiseData *pd = g_new0(PromiseData, 1);

	pd->id = g_strdup(id);
	pd->webrtc = gst_object_ref(webrtc);
	return pd;
}

static void
session_on_local_set(GstPromise *promise, gpointer data)
{
	PromiseData *pd = data;

	promise_ok(promise, pd->id, "set-local-description");
	gst_promise_unref(promise);
}

static void
session_on_answer_created(GstPromise *promise, gpointer data)
{
	PromiseData *pd = data;
	GstWebRTCSessionDescription *answer = NULL;

	if (promise_ok(promise, pd->id, "create-answer"))
		gst_structure_get(gst_promise_get_reply(promise), "answer",
				  GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, NULL);
	gst_promise_unref(promise);
	if (!answer)
		return;
	g_signal_emit_by_name(pd->webrtc, "set-local-description", answer,
			      gst_promise_new_with_change_func(
				  session_on_local_set, promise_data_new(pd->id, pd->webrtc),
				  promise_data_free));
	gst_webrtc_session_description_free(answer);
}

static void
session_on_remote_set(GstPromise *promise, gpointer data)
{
	PromiseData *pd = data;
	gboolean ok = promise_ok(promise, pd->id, "set-remote-description");

	gst_promise_unref(promise);
	if (!ok)
		return;
	g_signal_emit_by_name(pd->webrtc, "create-answer", NULL,
			      gst_promise_new_with_change_func(
				  session_on_answer_created, promise_data_new(pd->id, pd->webrtc),
				  promise_data_free));
}

static void
session_on_gathering(GObject *webrtc, GParamSpec *pspec, gpointer data)
{
	GstWebRTCICEGatheringState state;

	g_object_get(webrtc, "ice-gathering-state", &state, NULL);
	if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
		session_post_event(data, NULL);
}

/* ---- the offer ---- */

/* The first H.264 packetization-mode=1 format of the first video m-line. */
static gboolean
offer_choose_h264(const GstSDPMessage *sdp, gint *pt, gchar **profile_level_id)
{
	for (guint m = 0; m < gst_sdp_message_medias_len(sdp); m++) {
		const GstSDPMedia *media = gst_sdp_message_get_media(sdp, m);

		if (g_strcmp0(gst_sdp_media_get_media(media), "video") != 0)
			continue;
		for (guint f = 0; f < gst_sdp_media_formats_len(media); f++) {
			gint format = atoi(gst_sdp_media_get_format(media, f));
			g_autoptr(GstCaps) caps = gst_sdp_media_get_caps_from_media(media, format);
			GstStructure *s = caps ? gst_caps_get_structure(caps, 0) : NULL;

			if (!s || g_strcmp0(gst_structure_get_string(s, "encoding-name"), "H264") ||
			    g_strcmp0(gst_structure_get_string(s, "packetization-mode"), "1"))
				continue;
			*pt = format;
			*profile_level_id = g_strdup(gst_structure_get_string(s, "profile-level-id"));
			if (!*profile_level_id)
				*profile_level_id = g_strdup("42e01f");
			return TRUE;
		}
		return FALSE;
	}
	return FALSE;
}

static void
offer_drop_foreign_candidates(GstSDPMessage *sdp)
{
	for (guint m = 0; m < gst_sdp_message_medias_len(sdp); m++) {
		GstSDPMedia *media = (GstSDPMedia *)gst_sdp_message_get_media(sdp, m);

		for (guint a = gst_sdp_media_attributes_len(media); a-- > 0;) {
			const GstSDPAttribute *attr = gst_sdp_media_get_attribute(media, a);
			g_auto(GStrv) fields = NULL;

			if (g_strcmp0(attr->key, "candidate") != 0 || !attr->value)
				continue;
			fields = g_strsplit(attr->value, " ", 6);
			if (g_strv_length(fields) < 5 || !g_str_equal(fields[4], BARE_ICE_ADDRESS))
				gst_sdp_media_remove_attribute(media, a);
		}
	}
}

/*
 * The payloader writes BARE_PAYLOAD_TYPE into every packet; a viewer that offered another one
 * gets its own copy of each header. Not taken by the benchmark, whose offer says 96.
 */
static GstPadProbeReturn
session_rewrite_pt(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	guint8 pt = (guint8)GPOINTER_TO_UINT(data);
	GstBuffer *buffer = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
	guint8 byte;

	if (gst_buffer_extract(buffer, 1, &byte, 1) == 1) {
		byte = (guint8)((byte & 0x80) | pt);
		gst_buffer_fill(buffer, 1, &byte, 1);
	}
	GST_PAD_PROBE_INFO_DATA(info) = buffer;
	return GST_PAD_PROBE_OK;
}

/* Main thread: builds and links the branch, then sets the offer. FALSE + @why on failure. */
static gboolean
session_attach_unowned(Session *session, GstSDPMessage *offer, gchar **why);

/* Takes @offer. */
static gboolean
session_attach(Session *session, GstSDPMessage *offer, gchar **why)
{
	gboolean ok = session_attach_unowned(session, offer, why);

	if (!ok)
		gst_sdp_message_free(offer);
	return ok;
}

/* On success @offer belongs to the session description handed to webrtcbin. */
static gboolean
session_attach_unowned(Session *session, GstSDPMessage *offer, gchar **why)
{
	Source *source = session->source;
	GstBin *bin = GST_BIN(source->pipeline);
	gint pt = 0;
	g_autofree gchar *plid = NULL;
	g_autoptr(GstCaps) caps = NULL;
	g_autoptr(GstPad) webrtc_sink = NULL;
	g_autoptr(GstPad) queue_sink = NULL;
	g_autoptr(GstPad) setter_src = NULL;
	g_autoptr(GstWebRTCRTPTransceiver) transceiver = NULL;
	GstWebRTCSessionDescription *description;

	if (!offer_choose_h264(offer, &pt, &plid)) {
		*why = g_strdup("the offer has no H.264 packetization-mode=1 video");
		return FALSE;
	}
	caps = gst_caps_new_simple("application/x-rtp", "payload", G_TYPE_INT, pt,
				   "profile-level-id", G_TYPE_STRING, plid, NULL);
	session->queue = gst_object_ref_sink(gst_element_factory_make("queue", NULL));
	session->capssetter = gst_object_ref_sink(gst_element_factory_make("capssetter", NULL));
	session->webrtc = gst_object_ref_sink(gst_element_factory_make("webrtcbin", NULL));
	if (!session->queue || !session->capssetter || !session->webrtc) {
		*why = g_strdup("queue, capssetter or webrtcbin is missing");
		return FALSE;
	}
	g_object_set(session->capssetter, "caps", caps, "join", TRUE, "replace", FALSE, NULL);
	gst_util_set_object_arg(G_OBJECT(session->webrtc), "bundle-policy", "max-bundle");
	if (!vlg_test_restrict_ice(session->webrtc, BARE_ICE_ADDRESS)) {
		*why = g_strdup("cannot restrict ICE to " BARE_ICE_ADDRESS);
		return FALSE;
	}
	g_signal_connect_data(session->webrtc, "notify::ice-gathering-state",
			      G_CALLBACK(session_on_gathering), g_strdup(session->id),
			      (GClosureNotify)(void (*)(void))g_free, 0);
	gst_bin_add_many(bin, session->queue, session->capssetter, session->webrtc, NULL);
	gst_element_link(session->queue, session->capssetter);
	webrtc_sink = gst_element_request_pad_simple(session->webrtc, "sink_%u");
	setter_src = gst_element_get_static_pad(session->capssetter, "src");
	if (!webrtc_sink || gst_pad_link(setter_src, webrtc_sink) != GST_PAD_LINK_OK) {
		*why = g_strdup("cannot link the branch to webrtcbin");
		return FALSE;
	}
	if (pt != BARE_PAYLOAD_TYPE)
		gst_pad_add_probe(setter_src, GST_PAD_PROBE_TYPE_BUFFER, session_rewrite_pt,
				  GUINT_TO_POINTER((guint)pt), NULL);
	g_object_get(webrtc_sink, "transceiver", &transceiver, NULL);
	if (transceiver)
		g_object_set(transceiver, "direction",
			     GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, NULL);
	gst_element_sync_state_with_parent(session->webrtc);
	gst_element_sync_state_with_parent(session->capssetter);
	gst_element_sync_state_with_parent(session->queue);
	session->tee_pad = gst_element_request_pad_simple(source->tee, "src_%u");
	queue_sink = gst_element_get_static_pad(session->queue, "sink");
	if (gst_pad_link(session->tee_pad, queue_sink) != GST_PAD_LINK_OK) {
		*why = g_strdup("cannot link the branch to the tee");
		return FALSE;
	}
	offer_drop_foreign_candidates(offer);
	description = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, offer);
	g_signal_emit_by_name(session->webrtc, "set-remote-description", description,
			      gst_promise_new_with_change_func(
				  session_on_remote_set, promise_data_new(session->id, session->webrtc),
				  promise_data_free));
	gst_webrtc_session_description_free(description);
	return TRUE;
}

/* ---- routes (main thread) ---- */

static Source *
source_by_name(const gchar *name)
{
	for (guint i = 0; i < sources->len; i++) {
		Source *source = g_ptr_array_index(sources, i);

		if (g_str_equal(source->name, name))
			return source;
	}
	return sources->len == 1 ? g_ptr_array_index(sources, 0) : NULL;
}

static void
route_post(Request *request, const gchar *camera)
{
	Source *source = source_by_name(camera);
	GstSDPMessage *sdp = NULL;
	Session *session;
	g_autofree gchar *why = NULL;

	if (!source) {
		request_fail(request, 404, "Not Found", "no such camera");
		return;
	}
	if (!request->content_type || g_ascii_strncasecmp(request->content_type,
							  "application/sdp", 15) != 0) {
		request_fail(request, 415, "Unsupported Media Type", "want application/sdp");
		return;
	}
	if (gst_sdp_message_new_from_text(request->body, &sdp) != GST_SDP_OK ||
	    gst_sdp_message_medias_len(sdp) == 0) {
		if (sdp)
			gst_sdp_message_free(sdp);
		request_fail(request, 400, "Bad Request", "the body is not an SDP offer");
		return;
	}
	session = g_new0(Session, 1);
	session->id = g_strdup_printf("s%u", ++next_session_id);
	session->source = source;
	session->pending = request_ref(request);
	g_hash_table_insert(sessions, session->id, session);
	if (!session_attach(session, sdp, &why)) {
		session->answered = TRUE;
		request_fail(request, 400, "Bad Request", why);
		session_remove(session);
	}
}

static void
route_delete(Request *request, const gchar *id)
{
	Session *session = g_hash_table_lookup(sessions, id);

	if (!session) {
		request_fail(request, 404, "Not Found", "no such session");
		return;
	}
	session_remove(session);
	request_complete(request, 200, "OK", "", "text/plain", "");
}

static gboolean
route(gpointer data)
{
	Request *request = data;
	g_auto(GStrv) parts = g_strsplit(request->path, "/", 0);
	guint n = g_strv_length(parts); /* "", "whep", camera[, id] */

	if (n < 3 || !g_str_equal(parts[1], "whep") || !parts[2][0])
		request_fail(request, 404, "Not Found", "not a WHEP path");
	else if (n == 3 && g_str_equal(request->method, "POST"))
		route_post(request, parts[2]);
	else if (n == 4 && g_str_equal(request->method, "DELETE"))
		route_delete(request, parts[3]);
	else if (g_str_equal(request->method, "OPTIONS"))
		request_complete(request, 204, "No Content",
				 "Access-Control-Allow-Methods: POST, DELETE, OPTIONS\r\n"
				 "Access-Control-Allow-Headers: Content-Type\r\n",
				 "text/plain", "");
	else
		request_fail(request, 405, "Method Not Allowed", "method not allowed");
	request_unref(request);
	return G_SOURCE_REMOVE;
}

/* ---- HTTP/1.1 server, one request per connection ---- */

static gchar *
http_read_line(GDataInputStream *in, gsize *budget, GError **error)
{
	gsize len = 0;
	gchar *line = g_data_input_stream_read_line(in, &len, NULL, error);

	if (!line) {
		if (error && !*error)
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "closed");
		return NULL;
	}
	if (len + 1 > *budget) {
		g_free(line);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "header too long");
		return NULL;
	}
	*budget -= len + 1;
	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	return line;
}

static Request *
http_read_request(GDataInputStream *in, GError **error)
{
	gsize budget = BARE_MAX_HEADER;
	g_autofree gchar *first = http_read_line(in, &budget, error);
	g_auto(GStrv) words = NULL;
	guint64 length = 0;
	Request *request;
	gsize got = 0;

	if (!first)
		return NULL;
	words = g_strsplit(first, " ", 3);
	if (g_strv_length(words) != 3 || !g_str_has_prefix(words[2], "HTTP/1.")) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "bad request line");
		return NULL;
	}
	request = g_new0(Request, 1);
	request->refcount = 1;
	g_mutex_init(&request->lock);
	g_cond_init(&request->cond);
	request->method = g_strdup(words[0]);
	request->path = g_strdup(words[1]);
	for (;;) {
		g_autofree gchar *line = http_read_line(in, &budget, error);
		gchar *colon;

		if (!line) {
			request_unref(request);
			return NULL;
		}
		if (!line[0])
			break;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (!g_ascii_strcasecmp(line, "content-length"))
			length = g_ascii_strtoull(g_strstrip(colon + 1), NULL, 10);
		else if (!g_ascii_strcasecmp(line, "content-type"))
			request->content_type = g_strdup(g_strstrip(colon + 1));
	}
	if (length > BARE_MAX_BODY) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "body too large");
		request_unref(request);
		return NULL;
	}
	request->body = g_malloc0(length + 1);
	if (length && (!g_input_stream_read_all(G_INPUT_STREAM(in), request->body, length, &got,
						NULL, error) ||
		       got != length)) {
		if (error && !*error)
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "short body");
		request_unref(request);
		return NULL;
	}
	return request;
}

/* A GThreadedSocketService thread: read, hand to the main loop, wait for the reply, write. */
static gboolean
http_on_run(GThreadedSocketService *service, GSocketConnection *connection, GObject *unused,
	    gpointer data)
{
	g_autoptr(GDataInputStream) in =
	    g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
	g_autoptr(GError) error = NULL;
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
	Request *request;
	gint64 deadline = g_get_monotonic_time() + BARE_REPLY_TIMEOUT_S * G_USEC_PER_SEC;
	g_autofree gchar *reply = NULL;

	g_data_input_stream_set_newline_type(in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(in), FALSE);
	request = http_read_request(in, &error);
	if (!request)
		return TRUE;
	g_main_context_invoke(NULL, route, request_ref(request));
	g_mutex_lock(&request->lock);
	while (!request->done)
		if (!g_cond_wait_until(&request->cond, &request->lock, deadline))
			break;
	reply = request->done ? g_strdup(request->reply)
			      : g_strdup("HTTP/1.1 504 Gateway Timeout\r\nConnection: close\r\n"
					 "Content-Length: 0\r\n\r\n");
	/* A late answer still completes the request, to nobody. */
	request->done = TRUE;
	g_mutex_unlock(&request->lock);
	request_unref(request);
	g_output_stream_write_all(out, reply, strlen(reply), NULL, NULL, NULL);
	g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
	return TRUE;
}

/* ---- sources ---- */

static gboolean
source_on_bus(GstBus *bus, GstMessage *message, gpointer data)
{
	Source *source = data;
	g_autoptr(GError) error = NULL;

	/* Drains everything; an ending camera ends the baseline. */
	switch (GST_MESSAGE_TYPE(message)) {
	case GST_MESSAGE_ERROR:
		gst_message_parse_error(message, &error, NULL);
		g_printerr("bare-sender: %s: error from %s: %s\n", source->name,
			   GST_MESSAGE_SRC_NAME(message), error->message);
		g_main_loop_quit(loop);
		break;
	case GST_MESSAGE_EOS:
		g_printerr("bare-sender: %s: end of stream\n", source->name);
		g_main_loop_quit(loop);
		break;
	default:
		break;
	}
	return G_SOURCE_CONTINUE;
}

static Source *
source_new(const gchar *url, GError **error)
{
	g_autofree gchar *description = g_strdup_printf(
	    "rtspsrc location=\"%s\" protocols=tcp latency=100 ! rtph264depay ! h264parse ! "
	    "rtph264pay config-interval=-1 pt=%d aggregate-mode=zero-latency ! "
	    "tee name=t allow-not-linked=true",
	    url, BARE_PAYLOAD_TYPE);
	g_autoptr(GstBus) bus = NULL;
	const gchar *slash = strrchr(url, '/');
	Source *source;
	GstElement *pipeline = gst_parse_launch(description, error);

	if (!pipeline)
		return NULL;
	source = g_new0(Source, 1);
	source->name = g_strdup(slash && slash[1] ? slash + 1 : url);
	source->pipeline = pipeline;
	source->tee = gst_bin_get_by_name(GST_BIN(pipeline), "t");
	gst_object_unref(source->tee); /* the pipeline keeps it */
	bus = gst_pipeline_get_bus(GST_PIPELINE(pipeline));
	source->bus_watch = gst_bus_add_watch(bus, source_on_bus, source);
	return source;
}

static void
source_free(Source *source)
{
	g_source_remove(source->bus_watch);
	gst_element_set_state(source->pipeline, GST_STATE_NULL);
	gst_object_unref(source->pipeline);
	g_free(source->name);
	g_free(source);
}

static gboolean
on_signal(gpointer data)
{
	g_main_loop_quit(loop);
	return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
	gchar **urls = NULL;
	gint port = 0;
	const GOptionEntry entries[] = {
	    {"rtsp", 0, 0, G_OPTION_ARG_STRING_ARRAY, &urls, "An RTSP H.264 source (repeatable)",
	     "URL"},
	    {"port", 0, 0, G_OPTION_ARG_INT, &port, "Port on 127.0.0.1 (0: any)", "PORT"},
	    {NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new("- baseline WHEP sender");
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketService) service = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GSocketAddress) bound = NULL;
	guint signals[2];

	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_add_group(context, gst_init_get_option_group());
	if (!g_option_context_parse(context, &argc, &argv, &error) || !urls || !urls[0] ||
	    port < 0 || port > 65535) {
		g_printerr("usage: vlg-bare-sender --rtsp URL [--rtsp URL...] [--port PORT]%s%s\n",
			   error ? ": " : "", error ? error->message : "");
		g_strfreev(urls);
		return 2;
	}
	loop = g_main_loop_new(NULL, FALSE);
	sessions = g_hash_table_new(g_str_hash, g_str_equal);
	sources = g_ptr_array_new_with_free_func((GDestroyNotify)source_free);
	for (guint i = 0; urls[i]; i++) {
		Source *source = source_new(urls[i], &error);

		if (!source) {
			g_printerr("bare-sender: %s: %s\n", urls[i], error->message);
			return 1;
		}
		g_ptr_array_add(sources, source);
		gst_element_set_state(source->pipeline, GST_STATE_PLAYING);
	}
	g_strfreev(urls);

	service = g_threaded_socket_service_new(BARE_HTTP_THREADS);
	address = g_inet_socket_address_new(loopback, (guint16)port);
	if (!g_socket_listener_add_address(G_SOCKET_LISTENER(service), address,
					   G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
					   &bound, &error)) {
		g_printerr("bare-sender: cannot listen on 127.0.0.1:%d: %s\n", port,
			   error->message);
		return 1;
	}
	g_signal_connect(service, "run", G_CALLBACK(http_on_run), NULL);
	g_socket_service_start(service);
	g_print("bare-sender ready port=%u\n",
		g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
	fflush(stdout);

	signals[0] = g_unix_signal_add(SIGINT, on_signal, NULL);
	signals[1] = g_unix_signal_add(SIGTERM, on_signal, NULL);
	g_main_loop_run(loop);
	g_source_remove(signals[0]);
	g_source_remove(signals[1]);
	g_socket_service_stop(service);
	/* Sessions go with their pipelines. */
	g_hash_table_destroy(sessions);
	g_ptr_array_unref(sources);
	g_main_loop_unref(loop);
	return 0;
}
