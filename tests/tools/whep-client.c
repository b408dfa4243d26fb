/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vlg-whep-client: a minimal WHEP viewer for tests. It offers one receive-only H.264 video
 * transceiver, waits for ICE gathering to finish (so the offer carries every candidate and no
 * trickle is needed), POSTs the offer over plain HTTP/1.1, applies the answer, decodes what
 * arrives and ends the session with DELETE.
 *
 *   vlg-whep-client URL [--seconds N] [--bearer TOKEN] [--expect-frames N] [--verbose]
 *
 * It prints one line on stdout, `whep-client frames=F first_frame_ms=T status=S`, where T counts
 * from the POST to the first decoded frame (-1 if none) and S is OK, ERROR (pipeline error),
 * TIMEOUT or INTERRUPTED. Exit status: 0 if F >= --expect-frames (default 1), 1 otherwise (the
 * reason on stderr), 2 on an HTTP failure, which prints `whep-client error: <status> <body>`
 * instead (status 0 when no HTTP status was received). The receive window of --seconds starts
 * once the answer is applied; an explicit --expect-frames ends it early. Everything is bounded
 * by a hard timeout of --seconds + 10 from start.
 *
 * ICE is held to 127.0.0.1 (libnice's UPnP off, candidates in the answer on other addresses
 * dropped): run it inside a network namespace that has only `lo`.
 *
 * Threads: the main thread owns the state below and runs the GLib loop. webrtcbin callbacks,
 * streaming threads and the HTTP worker hand their results to it with g_main_context_invoke();
 * only the decoded-frame counters are touched from a streaming thread (atomics and a mutex).
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
#include <unistd.h>

#define VLG_WHEP_ICE_ADDRESS "127.0.0.1"
#define VLG_WHEP_MAX_HEADER_BYTES (16 * 1024)
#define VLG_WHEP_MAX_BODY_BYTES (1024 * 1024)
#define VLG_WHEP_HTTP_TIMEOUT_S 5
/* The loop's deadline comes first so the DELETE still goes out; the watchdog has the last word. */
#define VLG_WHEP_LOOP_DEADLINE_S 7
#define VLG_WHEP_WATCHDOG_S 10

/*
 * The offered formats, one payload type each. 42e01f (constrained baseline 3.1) is what the
 * gateway sends browsers; the others let an answerer whose stream says so pick it instead.
 */
static const gchar vlg_whep_video_caps[] =
    "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,"
    "packetization-mode=(string)1,profile-level-id=(string)42e01f,"
    "rtcp-fb-nack-pli=(boolean)true;"
    "application/x-rtp,media=video,encoding-name=H264,payload=97,clock-rate=90000,"
    "packetization-mode=(string)1,profile-level-id=(string)42001f,"
    "rtcp-fb-nack-pli=(boolean)true;"
    "application/x-rtp,media=video,encoding-name=H264,payload=98,clock-rate=90000,"
    "packetization-mode=(string)1,profile-level-id=(string)640c1f,"
    "rtcp-fb-nack-pli=(boolean)true";

typedef struct {
	gchar *method;
	gchar *url;
	gchar *bearer;	     /* nullable */
	gchar *content_type; /* nullable, with body */
	gchar *body;	     /* nullable */
	guint timeout_s;
} VlgHttpRequest;

typedef struct {
	guint status;
	GHashTable *headers; /* lower-case name -> value */
	gchar *body;	     /* NUL-terminated, never NULL */
	gsize body_len;
} VlgHttpResponse;

typedef struct {
	/* options */
	gchar *url;
	gint seconds;
	gchar *bearer;
	gint expect_frames;
	gboolean stop_on_frames;
	gboolean verbose;

	GMainLoop *loop;
	GstElement *pipeline;
	GstElement *webrtc;
	GCancellable *cancellable;
	guint bus_watch;
	guint stop_timer;
	guint deadline_timer;
	guint signal_sources[2];

	const gchar *stage; /* what we are waiting for, for timeout messages */
	gboolean offer_posted;
	gboolean http_busy;
	gboolean finishing;
	gint64 post_us;		      /* guarded by lock: the watchdog reads it */
	gchar *location;	      /* absolute, once the POST succeeded */
	const gchar *unusable_answer; /* why the answer cannot carry video, or NULL */

	/* written by the decoder's streaming thread */
	gint frames;
	GMutex lock;
	gint64 first_frame_us; /* guarded by lock; 0 until the first frame */

	/* the outcome */
	gint final_frames;
	const gchar *status;
	gchar *reason;	   /* why the run failed, for stderr */
	gchar *http_error; /* "<status> <body>" */
	gint exit_code;
} VlgWhepClient;

static void vlg_whep_finish(VlgWhepClient *client, const gchar *status, gchar *reason);

/* ---- HTTP/1.1 over GIO, run in a worker thread ---- */

static void
vlg_http_request_free(VlgHttpRequest *request)
{
	g_free(request->method);
	g_free(request->url);
	g_free(request->bearer);
	g_free(request->content_type);
	g_free(request->body);
	g_free(request);
}

static void
vlg_http_response_free(VlgHttpResponse *response)
{
	if (!response)
		return;
	g_clear_pointer(&response->headers, g_hash_table_unref);
	g_free(response->body);
	g_free(response);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgHttpResponse, vlg_http_response_free)

static const gchar *
vlg_http_header(const VlgHttpResponse *response, const gchar *lower_name)
{
	return g_hash_table_lookup(response->headers, lower_name);
}

/* One line without its CR LF, charged to the header budget so a babbling peer cannot grow it. */
static gchar *
vlg_http_read_line(GDataInputStream *in, gsize *budget, GCancellable *cancellable, GError **error)
{
	gsize len = 0;
	g_autoptr(GError) local_error = NULL;
	gchar *line = g_data_input_stream_read_line(in, &len, cancellable, &local_error);

	if (!line) {
		if (local_error)
			g_propagate_error(error, g_steal_pointer(&local_error));
		else
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
				    "connection closed in the HTTP header");
		return NULL;
	}
	if (len + 1 > *budget) {
		g_free(line);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
			    "HTTP header longer than %d bytes", VLG_WHEP_MAX_HEADER_BYTES);
		return NULL;
	}
	*budget -= len + 1;
	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	return line;
}

static gboolean
vlg_http_parse_head(GDataInputStream *in, VlgHttpResponse *response, GCancellable *cancellable,
		    GError **error)
{
	gsize budget = VLG_WHEP_MAX_HEADER_BYTES;
	g_autofree gchar *status_line = vlg_http_read_line(in, &budget, cancellable, error);
	const gchar *code;

	if (!status_line)
		return FALSE;
	/* "HTTP/1.x NNN reason": three digits, then a space or the end of the line. */
	code = status_line + 9;
	if (!g_str_has_prefix(status_line, "HTTP/1.") || strlen(status_line) < 12 ||
	    status_line[8] != ' ' || !g_ascii_isdigit(code[0]) || !g_ascii_isdigit(code[1]) ||
	    !g_ascii_isdigit(code[2]) || (code[3] != ' ' && code[3] != '\0') || code[0] < '1' ||
	    code[0] > '5') {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "bad HTTP status line '%s'",
			    status_line);
		return FALSE;
	}
	response->status = (guint)((code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0'));

	for (;;) {
		g_autofree gchar *line = vlg_http_read_line(in, &budget, cancellable, error);
		gchar *colon;

		if (!line)
			return FALSE;
		if (line[0] == '\0')
			return TRUE;
		colon = strchr(line, ':');
		if (!colon || colon == line) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "bad HTTP header line '%s'", line);
			return FALSE;
		}
		*colon = '\0';
		/* A repeated header is folded into one value as RFC 9110 allows. */
		gchar *name = g_ascii_strdown(g_strstrip(line), -1);
		const gchar *old = g_hash_table_lookup(response->headers, name);
		gchar *value = old ? g_strdup_printf("%s, %s", old, g_strstrip(colon + 1))
				   : g_strdup(g_strstrip(colon + 1));
		g_hash_table_replace(response->headers, name, value);
	}
}

static gboolean
vlg_http_read_exact(GInputStream *in, GByteArray *body, gsize len, GCancellable *cancellable,
		    GError **error)
{
	gsize old_len = body->len;
	gsize got = 0;

	if (old_len + len > VLG_WHEP_MAX_BODY_BYTES) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
			    "HTTP body longer than %d bytes", VLG_WHEP_MAX_BODY_BYTES);
		return FALSE;
	}
	if (len == 0)
		return TRUE;
	g_byte_array_set_size(body, old_len + len);
	if (!g_input_stream_read_all(in, body->data + old_len, len, &got, cancellable, error))
		return FALSE;
	if (got != len) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
			    "connection closed after %zu of %zu body bytes", got, len);
		return FALSE;
	}
	return TRUE;
}

static gboolean
vlg_http_read_chunked(GDataInputStream *in, GByteArray *body, GCancellable *cancellable,
		      GError **error)
{
	gsize budget = VLG_WHEP_MAX_HEADER_BYTES;

	for (;;) {
		g_autofree gchar *size_line = vlg_http_read_line(in, &budget, cancellable, error);
		gchar *end = NULL;
		guint64 size;

		if (!size_line)
			return FALSE;
		size = g_ascii_strtoull(size_line, &end, 16);
		if (end == size_line || size > VLG_WHEP_MAX_BODY_BYTES) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "bad chunk size '%s'", size_line);
			return FALSE;
		}
		if (size == 0)
			break;
		if (!vlg_http_read_exact(G_INPUT_STREAM(in), body, size, cancellable, error))
			return FALSE;
		g_autofree gchar *crlf = vlg_http_read_line(in, &budget, cancellable, error);
		if (!crlf)
			return FALSE;
	}
	/* Trailer fields, up to the empty line; we have no use for them. */
	for (;;) {
		g_autofree gchar *line = vlg_http_read_line(in, &budget, cancellable, error);

		if (!line)
			return FALSE;
		if (line[0] == '\0')
			return TRUE;
	}
}

static gboolean
vlg_http_read_to_eof(GInputStream *in, GByteArray *body, GCancellable *cancellable, GError **error)
{
	guint8 buf[4096];

	for (;;) {
		gssize n = g_input_stream_read(in, buf, sizeof(buf), cancellable, error);

		if (n < 0)
			return FALSE;
		if (n == 0)
			return TRUE;
		if (body->len + (gsize)n > VLG_WHEP_MAX_BODY_BYTES) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
				    "HTTP body longer than %d bytes", VLG_WHEP_MAX_BODY_BYTES);
			return FALSE;
		}
		g_byte_array_append(body, buf, (guint)n);
	}
}

static gboolean
vlg_http_read_body(GDataInputStream *in, const gchar *method, VlgHttpResponse *response,
		   GCancellable *cancellable, GError **error)
{
	g_autoptr(GByteArray) body = g_byte_array_new();
	const gchar *encoding = vlg_http_header(response, "transfer-encoding");
	const gchar *length = vlg_http_header(response, "content-length");
	gboolean ok = TRUE;

	if (g_str_equal(method, "HEAD") || response->status == 204 || response->status == 304) {
		/* no body by definition */
	} else if (encoding && g_ascii_strcasecmp(encoding, "identity") != 0) {
		if (g_ascii_strcasecmp(encoding, "chunked") != 0) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
				    "unsupported Transfer-Encoding '%s'", encoding);
			return FALSE;
		}
		ok = vlg_http_read_chunked(in, body, cancellable, error);
	} else if (length) {
		guint64 len = 0;

		if (!g_ascii_string_to_unsigned(length, 10, 0, G_MAXUINT32, &len, error))
			return FALSE;
		ok = vlg_http_read_exact(G_INPUT_STREAM(in), body, len, cancellable, error);
	} else {
		/* We sent Connection: close, so the end of the stream ends the body. */
		ok = vlg_http_read_to_eof(G_INPUT_STREAM(in), body, cancellable, error);
	}
	if (!ok)
		return FALSE;
	g_byte_array_append(body, (const guint8 *)"", 1);
	response->body_len = body->len - 1;
	response->body = (gchar *)g_byte_array_free(g_steal_pointer(&body), FALSE);
	return TRUE;
}

static GString *
vlg_http_format_request(const VlgHttpRequest *request, GUri *uri)
{
	GString *out = g_string_new(NULL);
	const gchar *path = g_uri_get_path(uri);
	const gchar *query = g_uri_get_query(uri);
	const gchar *host = g_uri_get_host(uri);
	gint port = g_uri_get_port(uri);

	g_string_append_printf(out, "%s %s%s%s HTTP/1.1\r\n", request->method, path[0] ? path : "/",
			       query ? "?" : "", query ? query : "");
	/* An IPv6 literal keeps its brackets in Host. */
	g_string_append_printf(out, strchr(host, ':') ? "Host: [%s]" : "Host: %s", host);
	if (port > 0)
		g_string_append_printf(out, ":%d", port);
	g_string_append(out, "\r\nUser-Agent: vlg-whep-client\r\nConnection: close\r\n");
	if (request->bearer)
		g_string_append_printf(out, "Authorization: Bearer %s\r\n", request->bearer);
	if (g_str_equal(request->method, "POST"))
		g_string_append(out, "Accept: application/sdp\r\n");
	if (request->body) {
		if (request->content_type)
			g_string_append_printf(out, "Content-Type: %s\r\n", request->content_type);
		g_string_append_printf(out, "Content-Length: %zu\r\n", strlen(request->body));
	}
	g_string_append(out, "\r\n");
	if (request->body)
		g_string_append(out, request->body);
	return out;
}

/* A test tool talks to a gateway with a throwaway certificate: accept whatever it presents. */
static gboolean
vlg_http_accept_any_certificate(GTlsConnection *connection, GTlsCertificate *certificate,
				GTlsCertificateFlags errors, gpointer user_data)
{
	return TRUE;
}

static void
vlg_http_on_client_event(GSocketClient *client, GSocketClientEvent event,
			 GSocketConnectable *connectable, GIOStream *connection, gpointer user_data)
{
	if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING)
		g_signal_connect(connection, "accept-certificate",
				 G_CALLBACK(vlg_http_accept_any_certificate), NULL);
}

static VlgHttpResponse *
vlg_http_exchange(const VlgHttpRequest *request, GCancellable *cancellable, GError **error)
{
	g_autoptr(GUri) uri = g_uri_parse(request->url, G_URI_FLAGS_NONE, error);
	g_autoptr(GSocketClient) socket_client = NULL;
	g_autoptr(GSocketConnectable) address = NULL;
	g_autoptr(GSocketConnection) connection = NULL;
	g_autoptr(GDataInputStream) in = NULL;
	g_autoptr(GString) head = NULL;
	g_autoptr(VlgHttpResponse) response = NULL;

	gboolean tls;

	if (!uri)
		return NULL;
	tls = g_ascii_strcasecmp(g_uri_get_scheme(uri), "https") == 0;
	if ((!tls && g_ascii_strcasecmp(g_uri_get_scheme(uri), "http") != 0) ||
	    !g_uri_get_host(uri)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "only http:// and https://host[:port]/path URLs are supported, not '%s'",
			    request->url);
		return NULL;
	}
	socket_client = g_socket_client_new();
	/* No proxy lookup: it could leave loopback (WPAD) and tests never need one. */
	g_socket_client_set_enable_proxy(socket_client, FALSE);
	g_socket_client_set_timeout(socket_client, request->timeout_s);
	if (tls) {
		g_socket_client_set_tls(socket_client, TRUE);
		g_signal_connect(socket_client, "event", G_CALLBACK(vlg_http_on_client_event), NULL);
	}
	address = g_network_address_new(g_uri_get_host(uri),
					g_uri_get_port(uri) > 0 ? g_uri_get_port(uri) :
								  (tls ? 443 : 80));
	connection = g_socket_client_connect(socket_client, address, cancellable, error);
	if (!connection)
		return NULL;

	head = vlg_http_format_request(request, uri);
	if (!g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(connection)),
				       head->str, head->len, NULL, cancellable, error))
		return NULL;

	in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
	/* LF only: the CR is stripped per line, and ANY could wait for a byte after a lone CR. */
	g_data_input_stream_set_newline_type(in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	response = g_new0(VlgHttpResponse, 1);
	response->headers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (!vlg_http_parse_head(in, response, cancellable, error))
		return NULL;
	if (!vlg_http_read_body(in, request->method, response, cancellable, error))
		return NULL;
	return g_steal_pointer(&response);
}

static void
vlg_http_worker(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	GError *error = NULL;
	VlgHttpResponse *response = vlg_http_exchange(task_data, cancellable, &error);

	if (response)
		g_task_return_pointer(task, response, (GDestroyNotify)vlg_http_response_free);
	else
		g_task_return_error(task, error);
}

/* Runs the exchange off the main thread; callback takes the response with g_task_propagate_pointer.
 */
static void
vlg_http_send_async(VlgHttpRequest *request, GCancellable *cancellable,
		    GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

	g_task_set_task_data(task, request, (GDestroyNotify)vlg_http_request_free);
	g_task_set_return_on_cancel(task, FALSE);
	g_task_run_in_thread(task, vlg_http_worker);
}

/* "<status> <body>" on one line, body shortened: the text of `whep-client error:`. */
static gchar *
vlg_http_describe_failure(guint status, const gchar *body)
{
	g_autofree gchar *flat = g_strndup(body ? body : "", 300);

	g_strdelimit(flat, "\r\n\t", ' ');
	return g_strdup_printf("%u %s", status, g_strstrip(flat));
}

/* ---- the media side ---- */

static gboolean
vlg_whep_enough_frames(gpointer user_data)
{
	vlg_whep_finish(user_data, "OK", NULL);
	return G_SOURCE_REMOVE;
}

static GstPadProbeReturn
vlg_whep_on_decoded(GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
	VlgWhepClient *client = user_data;
	gint frames = g_atomic_int_add(&client->frames, 1) + 1;

	if (frames == 1) {
		g_mutex_lock(&client->lock);
		client->first_frame_us = g_get_monotonic_time();
		g_mutex_unlock(&client->lock);
	}
	if (client->stop_on_frames && frames == client->expect_frames)
		g_main_context_invoke(NULL, vlg_whep_enough_frames, client);
	return GST_PAD_PROBE_OK;
}

/* Anything that is not H.264 goes to a fakesink: no autoplugging of network input. */
static gboolean
vlg_whep_is_h264(GstPad *pad)
{
	g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
	const gchar *encoding;

	if (!caps)
		caps = gst_pad_query_caps(pad, NULL);
	if (!caps || gst_caps_is_empty(caps))
		return FALSE;
	encoding = gst_structure_get_string(gst_caps_get_structure(caps, 0), "encoding-name");
	return encoding && g_ascii_strcasecmp(encoding, "H264") == 0;
}

/* The decode branch; checked at startup, so only a broken install makes it fail. */
static const gchar *const vlg_whep_decoder[] = {"rtph264depay", "h264parse", "avdec_h264",
						"fakesink"};

/* Adds and starts the decode branch in the running pipeline; returns its first element. */
static GstElement *
vlg_whep_add_decoder(VlgWhepClient *client)
{
	GstElement *chain[G_N_ELEMENTS(vlg_whep_decoder)];
	g_autoptr(GstPad) decoded = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(chain); i++) {
		chain[i] = gst_element_factory_make(vlg_whep_decoder[i], NULL);
		if (!chain[i])
			return NULL;
		gst_bin_add(GST_BIN(client->pipeline), chain[i]);
		if (i > 0 && !gst_element_link(chain[i - 1], chain[i]))
			return NULL;
	}
	/* Like a browser: ask for a keyframe (a PLI, through rtpsession) when decoding cannot start
	 * or breaks, and count only frames that decoded cleanly. */
	g_object_set(chain[2], "automatic-request-sync-points", TRUE, "discard-corrupted-frames",
		     TRUE, NULL);
	/* sync=FALSE: frames count as decoded, not as rendered; async=FALSE: a sink added to a
	 * PLAYING pipeline must not take it back through PAUSED. */
	g_object_set(chain[3], "sync", FALSE, "async", FALSE, NULL);
	decoded = gst_element_get_static_pad(chain[2], "src");
	gst_pad_add_probe(decoded, GST_PAD_PROBE_TYPE_BUFFER, vlg_whep_on_decoded, client, NULL);
	for (guint i = G_N_ELEMENTS(chain); i-- > 0;)
		gst_element_sync_state_with_parent(chain[i]);
	return chain[0];
}

/* On a webrtcbin streaming thread, once the transceiver's stream shows up. */
static void
vlg_whep_on_pad_added(GstElement *webrtc, GstPad *pad, gpointer user_data)
{
	VlgWhepClient *client = user_data;
	GstElement *first = NULL;
	g_autoptr(GstPad) sink = NULL;

	if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
		return;
	if (vlg_whep_is_h264(pad)) {
		first = vlg_whep_add_decoder(client);
	} else {
		g_printerr("whep-client: pad %s is not H.264, discarding it\n", GST_PAD_NAME(pad));
		first = gst_element_factory_make("fakesink", NULL);
		g_object_set(first, "async", FALSE, NULL);
		gst_bin_add(GST_BIN(client->pipeline), first);
		gst_element_sync_state_with_parent(first);
	}
	if (first)
		sink = gst_element_get_static_pad(first, "sink");
	if (!sink || gst_pad_link(pad, sink) != GST_PAD_LINK_OK)
		g_printerr("whep-client: cannot link %s to the decoder\n", GST_PAD_NAME(pad));
	else if (client->verbose)
		g_printerr("whep-client: receiving on %s\n", GST_PAD_NAME(pad));
}

/*
 * libnice ignores loopback by default, so in a lo-only namespace gathering would never finish;
 * once an address is added it gathers on that one only, which is also what keeps a test off the
 * host's real interfaces. UPnP is off because Debian's libnice multicasts SSDP otherwise.
 */

/* ---- signalling ---- */

static void vlg_whep_on_post_done(GObject *source, GAsyncResult *result, gpointer user_data);

static gboolean
vlg_whep_post_offer(gpointer user_data)
{
	VlgWhepClient *client = user_data;
	g_autoptr(GstWebRTCSessionDescription) offer = NULL;
	VlgHttpRequest *request;

	if (client->offer_posted || client->finishing)
		return G_SOURCE_REMOVE;
	client->offer_posted = TRUE;
	g_object_get(client->webrtc, "local-description", &offer, NULL);
	if (!offer) {
		vlg_whep_finish(client, "ERROR", g_strdup("no local description after gathering"));
		return G_SOURCE_REMOVE;
	}
	request = g_new0(VlgHttpRequest, 1);
	request->method = g_strdup("POST");
	request->url = g_strdup(client->url);
	request->bearer = g_strdup(client->bearer);
	request->content_type = g_strdup("application/sdp");
	request->body = gst_sdp_message_as_text(offer->sdp);
	request->timeout_s = VLG_WHEP_HTTP_TIMEOUT_S;
	if (client->verbose)
		g_printerr("whep-client: offer:\n%s", request->body);
	client->stage = "the POST answer";
	client->http_busy = TRUE;
	g_mutex_lock(&client->lock);
	client->post_us = g_get_monotonic_time();
	g_mutex_unlock(&client->lock);
	vlg_http_send_async(request, client->cancellable, vlg_whep_on_post_done, client);
	return G_SOURCE_REMOVE;
}

static void
vlg_whep_on_gathering_state(GObject *webrtc, GParamSpec *pspec, gpointer user_data)
{
	GstWebRTCICEGatheringState state;

	g_object_get(webrtc, "ice-gathering-state", &state, NULL);
	if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
		g_main_context_invoke(NULL, vlg_whep_post_offer, user_data);
}

/*
 * Runs on webrtcbin's thread: a failure is only printed here, the main thread acts on it.
 * set-*-description reply with no structure at all on success, and with an "error" field on
 * failure; create-offer replies with the offer or an "error".
 */
static gboolean
vlg_whep_report_promise_error(VlgWhepClient *client, GstPromise *promise, const gchar *what)
{
	const GstStructure *reply = NULL;
	g_autoptr(GError) error = NULL;

	if (gst_promise_wait(promise) != GST_PROMISE_RESULT_REPLIED) {
		g_printerr("whep-client: %s got no reply\n", what);
		return FALSE;
	}
	reply = gst_promise_get_reply(promise);
	if (reply && gst_structure_has_field(reply, "error"))
		gst_structure_get(reply, "error", G_TYPE_ERROR, &error, NULL);
	if (error) {
		g_printerr("whep-client: %s failed: %s\n", what, error->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean
vlg_whep_signalling_failed(gpointer user_data)
{
	vlg_whep_finish(user_data, "ERROR", g_strdup("webrtcbin refused a session description"));
	return G_SOURCE_REMOVE;
}

static void
vlg_whep_on_description_set(GstPromise *promise, gpointer user_data)
{
	if (!vlg_whep_report_promise_error(user_data, promise, "setting a description"))
		g_main_context_invoke(NULL, vlg_whep_signalling_failed, user_data);
	gst_promise_unref(promise);
}

static void
vlg_whep_on_offer_created(GstPromise *promise, gpointer user_data)
{
	VlgWhepClient *client = user_data;
	GstWebRTCSessionDescription *offer = NULL;

	if (vlg_whep_report_promise_error(client, promise, "create-offer") &&
	    gst_promise_get_reply(promise))
		gst_structure_get(gst_promise_get_reply(promise), "offer",
				  GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, NULL);
	gst_promise_unref(promise);
	if (!offer) {
		g_main_context_invoke(NULL, vlg_whep_signalling_failed, client);
		return;
	}
	/* Gathering starts here; its completion (notify::ice-gathering-state) posts the offer. */
	g_signal_emit_by_name(
	    client->webrtc, "set-local-description", offer,
	    gst_promise_new_with_change_func(vlg_whep_on_description_set, client, NULL));
	gst_webrtc_session_description_free(offer);
}

static gboolean
vlg_whep_on_stop_timer(gpointer user_data)
{
	VlgWhepClient *client = user_data;

	client->stop_timer = 0;
	vlg_whep_finish(client, "OK", NULL);
	return G_SOURCE_REMOVE;
}

/* Second layer behind the namespace: only loopback candidates from the answer reach libnice. */
static void
vlg_whep_drop_foreign_candidates(GstSDPMessage *sdp, gboolean verbose)
{
	for (guint m = 0; m < gst_sdp_message_medias_len(sdp); m++) {
		GstSDPMedia *media = (GstSDPMedia *)gst_sdp_message_get_media(sdp, m);

		for (guint a = gst_sdp_media_attributes_len(media); a-- > 0;) {
			const GstSDPAttribute *attr = gst_sdp_media_get_attribute(media, a);
			g_auto(GStrv) fields = NULL;

			if (g_strcmp0(attr->key, "candidate") != 0 || !attr->value)
				continue;
			/* foundation component transport priority address port typ type ... */
			fields = g_strsplit(attr->value, " ", 6);
			if (g_strv_length(fields) >= 5 &&
			    g_str_equal(fields[4], VLG_WHEP_ICE_ADDRESS))
				continue;
			if (verbose)
				g_printerr("whep-client: dropping candidate %s\n", attr->value);
			gst_sdp_media_remove_attribute(media, a);
		}
	}
}

/* NULL if the answer takes our video; otherwise why not, so the run can end at once. */
static const gchar *
vlg_whep_check_answer(const GstSDPMessage *sdp)
{
	for (guint m = 0; m < gst_sdp_message_medias_len(sdp); m++) {
		const GstSDPMedia *media = gst_sdp_message_get_media(sdp, m);

		if (g_strcmp0(gst_sdp_media_get_media(media), "video") != 0)
			continue;
		if (gst_sdp_media_get_port(media) == 0)
			return "the answer rejects the video m-line (port 0)";
		if (gst_sdp_media_get_attribute_val(media, "inactive") ||
		    gst_sdp_media_get_attribute_val(media, "recvonly"))
			return "the answer does not send video (inactive or recvonly)";
		return NULL;
	}
	return "the answer has no video m-line";
}

static gboolean
vlg_whep_apply_answer(VlgWhepClient *client, const VlgHttpResponse *response)
{
	GstSDPMessage *sdp = NULL;
	GstWebRTCSessionDescription *answer;

	if (gst_sdp_message_new_from_text(response->body, &sdp) != GST_SDP_OK ||
	    gst_sdp_message_medias_len(sdp) == 0) {
		if (sdp)
			gst_sdp_message_free(sdp);
		return FALSE;
	}
	client->unusable_answer = vlg_whep_check_answer(sdp);
	vlg_whep_drop_foreign_candidates(sdp, client->verbose);
	answer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
	g_signal_emit_by_name(
	    client->webrtc, "set-remote-description", answer,
	    gst_promise_new_with_change_func(vlg_whep_on_description_set, client, NULL));
	gst_webrtc_session_description_free(answer);
	return TRUE;
}

/* The session URL: Location resolved against the endpoint URL. */
static gchar *
vlg_whep_session_url(VlgWhepClient *client, const VlgHttpResponse *response)
{
	const gchar *location = vlg_http_header(response, "location");

	if (response->status != 201 || !location || !location[0])
		return NULL;
	return g_uri_resolve_relative(client->url, location, G_URI_FLAGS_NONE, NULL);
}

/* Checks a 201 and keeps the session URL; a failure becomes client->http_error. */
static gboolean
vlg_whep_accept_post(VlgWhepClient *client, const VlgHttpResponse *response)
{
	if (response->status != 201) {
		client->http_error = vlg_http_describe_failure(response->status, response->body);
		return FALSE;
	}
	client->location = vlg_whep_session_url(client, response);
	if (!client->location) {
		client->http_error = g_strdup_printf("201 %s", vlg_http_header(response, "location")
								   ? "bad Location header"
								   : "no Location header");
		return FALSE;
	}
	if (!vlg_http_header(response, "etag")) {
		client->http_error = g_strdup("201 no ETag header");
		return FALSE;
	}
	if (!vlg_whep_apply_answer(client, response)) {
		client->http_error = vlg_http_describe_failure(201, "the answer is not SDP");
		return FALSE;
	}
	return TRUE;
}

static void vlg_whep_teardown(VlgWhepClient *client);

static void
vlg_whep_on_post_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	VlgWhepClient *client = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgHttpResponse) response = g_task_propagate_pointer(G_TASK(result), &error);

	client->http_busy = FALSE;
	if (response && client->verbose)
		g_printerr("whep-client: POST %u, answer:\n%s", response->status, response->body);
	if (client->finishing) {
		/* Stopped while the POST was out; still end the session if one was made. */
		if (response)
			client->location = vlg_whep_session_url(client, response);
		vlg_whep_teardown(client);
		return;
	}
	if (!response) {
		client->http_error = vlg_http_describe_failure(0, error->message);
	} else if (vlg_whep_accept_post(client, response)) {
		if (client->unusable_answer) {
			vlg_whep_finish(client, "ERROR", g_strdup(client->unusable_answer));
			return;
		}
		client->stage = "frames";
		client->stop_timer =
		    g_timeout_add((guint)client->seconds * 1000, vlg_whep_on_stop_timer, client);
		return;
	}
	vlg_whep_finish(client, "ERROR", NULL);
}

/* ---- ending ---- */

/* Any thread (the watchdog too). */
static gint64
vlg_whep_first_frame_ms(VlgWhepClient *client)
{
	gint64 first_ms = -1;

	g_mutex_lock(&client->lock);
	if (client->first_frame_us && client->post_us)
		first_ms = (client->first_frame_us - client->post_us) / 1000;
	g_mutex_unlock(&client->lock);
	return first_ms;
}

static gint
vlg_whep_report(VlgWhepClient *client)
{
	gint64 first_ms = vlg_whep_first_frame_ms(client);

	if (client->http_error) {
		g_print("whep-client error: %s\n", client->http_error);
		if (client->final_frames > 0)
			g_printerr("whep-client: %d frames decoded before the HTTP failure\n",
				   client->final_frames);
		return 2;
	}
	g_print("whep-client frames=%d first_frame_ms=%" G_GINT64_FORMAT " status=%s\n",
		client->final_frames, first_ms, client->status);
	if (client->reason) {
		g_printerr("whep-client: %s\n", client->reason);
		return 1;
	}
	if (client->final_frames < client->expect_frames) {
		g_printerr("whep-client: %d frames decoded, expected at least %d\n",
			   client->final_frames, client->expect_frames);
		return 1;
	}
	return 0;
}

static void
vlg_whep_on_delete_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
	VlgWhepClient *client = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgHttpResponse) response = g_task_propagate_pointer(G_TASK(result), &error);

	g_autofree gchar *failure = NULL;

	if (!response)
		failure = vlg_http_describe_failure(0, error->message);
	else if (response->status < 200 || response->status > 299)
		failure = vlg_http_describe_failure(response->status, response->body);
	else if (client->verbose)
		g_printerr("whep-client: DELETE %u\n", response->status);
	/* An earlier HTTP failure (a 201 without ETag, say) is the one to report. */
	if (failure && !client->http_error)
		client->http_error = g_steal_pointer(&failure);
	client->exit_code = vlg_whep_report(client);
	g_main_loop_quit(client->loop);
}

static void
vlg_whep_teardown(VlgWhepClient *client)
{
	VlgHttpRequest *request;

	gst_element_set_state(client->pipeline, GST_STATE_NULL);
	if (!client->location) {
		client->exit_code = vlg_whep_report(client);
		g_main_loop_quit(client->loop);
		return;
	}
	request = g_new0(VlgHttpRequest, 1);
	request->method = g_strdup("DELETE");
	request->url = g_strdup(client->location);
	request->bearer = g_strdup(client->bearer);
	/* Short: the loop deadline may already have passed, and the watchdog is near. */
	request->timeout_s = 2;
	client->stage = "the DELETE answer";
	g_clear_object(&client->cancellable);
	client->cancellable = g_cancellable_new();
	vlg_http_send_async(request, client->cancellable, vlg_whep_on_delete_done, client);
}

/* Idempotent. Takes reason. A POST in flight is cancelled; its callback continues the teardown. */
static void
vlg_whep_finish(VlgWhepClient *client, const gchar *status, gchar *reason)
{
	if (client->finishing) {
		g_free(reason);
		return;
	}
	client->finishing = TRUE;
	client->final_frames = g_atomic_int_get(&client->frames);
	client->status = status;
	client->reason = reason;
	if (client->stop_timer)
		g_source_remove(client->stop_timer);
	client->stop_timer = 0;
	if (client->http_busy) {
		g_cancellable_cancel(client->cancellable);
		return;
	}
	vlg_whep_teardown(client);
}

static gboolean
vlg_whep_on_deadline(gpointer user_data)
{
	VlgWhepClient *client = user_data;

	client->deadline_timer = 0;
	vlg_whep_finish(client, "TIMEOUT",
			g_strdup_printf("hard timeout while waiting for %s", client->stage));
	return G_SOURCE_REMOVE;
}

static gboolean
vlg_whep_on_signal(gpointer user_data)
{
	vlg_whep_finish(user_data, "INTERRUPTED", g_strdup("interrupted"));
	return G_SOURCE_CONTINUE;
}

/* Last resort if the loop itself is stuck (a blocked state change, a hung worker). */
static gpointer
vlg_whep_watchdog(gpointer user_data)
{
	VlgWhepClient *client = user_data;

	g_usleep((gulong)(client->seconds + VLG_WHEP_WATCHDOG_S) * G_USEC_PER_SEC);
	fprintf(stdout,
		"whep-client frames=%d first_frame_ms=%" G_GINT64_FORMAT " status=TIMEOUT\n",
		g_atomic_int_get(&client->frames), vlg_whep_first_frame_ms(client));
	fprintf(stderr, "whep-client: hard timeout after %d s, waiting for %s\n",
		client->seconds + VLG_WHEP_WATCHDOG_S, client->stage);
	fflush(NULL);
	_exit(1);
}

static gboolean
vlg_whep_on_bus(GstBus *bus, GstMessage *message, gpointer user_data)
{
	VlgWhepClient *client = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *debug = NULL;

	/* Everything else is dropped here, which is the point: the bus must never pile up. */
	switch (GST_MESSAGE_TYPE(message)) {
	case GST_MESSAGE_ERROR:
		gst_message_parse_error(message, &error, &debug);
		g_printerr("whep-client: ERROR from %s: %s (%s)\n", GST_MESSAGE_SRC_NAME(message),
			   error->message, debug ? debug : "");
		vlg_whep_finish(client, "ERROR",
				g_strdup_printf("pipeline error: %s", error->message));
		break;
	case GST_MESSAGE_WARNING:
		gst_message_parse_warning(message, &error, &debug);
		g_printerr("whep-client: WARNING from %s: %s\n", GST_MESSAGE_SRC_NAME(message),
			   error->message);
		break;
	default:
		break;
	}
	return G_SOURCE_CONTINUE;
}

/* ---- setup ---- */

static gboolean
vlg_whep_build(VlgWhepClient *client)
{
	g_autoptr(GstCaps) caps = gst_caps_from_string(vlg_whep_video_caps);
	g_autoptr(GstWebRTCRTPTransceiver) transceiver = NULL;
	g_autoptr(GstBus) bus = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(vlg_whep_decoder); i++) {
		g_autoptr(GstElementFactory) factory =
		    gst_element_factory_find(vlg_whep_decoder[i]);

		if (!factory) {
			g_printerr("whep-client: GStreamer element '%s' is missing\n",
				   vlg_whep_decoder[i]);
			return FALSE;
		}
	}
	client->pipeline = gst_pipeline_new("whep-client");
	client->webrtc = gst_element_factory_make("webrtcbin", "webrtc");
	if (!client->webrtc) {
		g_printerr("whep-client: webrtcbin is missing (gstreamer1.0-plugins-bad)\n");
		return FALSE;
	}
	gst_object_ref_sink(client->webrtc);
	gst_bin_add(GST_BIN(client->pipeline), client->webrtc);
	gst_util_set_object_arg(G_OBJECT(client->webrtc), "bundle-policy", "max-bundle");
	if (!vlg_test_restrict_ice(client->webrtc, VLG_WHEP_ICE_ADDRESS)) {
		g_printerr("whep-client: cannot restrict ICE to " VLG_WHEP_ICE_ADDRESS "\n");
		return FALSE;
	}
	g_signal_emit_by_name(client->webrtc, "add-transceiver",
			      GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps, &transceiver);
	if (!transceiver) {
		g_printerr("whep-client: webrtcbin refused the receive-only transceiver\n");
		return FALSE;
	}
	g_signal_connect(client->webrtc, "pad-added", G_CALLBACK(vlg_whep_on_pad_added), client);
	g_signal_connect(client->webrtc, "notify::ice-gathering-state",
			 G_CALLBACK(vlg_whep_on_gathering_state), client);

	bus = gst_pipeline_get_bus(GST_PIPELINE(client->pipeline));
	client->bus_watch = gst_bus_add_watch(bus, vlg_whep_on_bus, client);
	return TRUE;
}

/*
 * The offer is made by hand once PLAYING, not from on-negotiation-needed: that signal can fire
 * again and again in 1.22 (a rejected m-line), and one offer is all WHEP wants.
 */
static gboolean
vlg_whep_start(gpointer user_data)
{
	VlgWhepClient *client = user_data;

	if (gst_element_set_state(client->pipeline, GST_STATE_PLAYING) ==
	    GST_STATE_CHANGE_FAILURE) {
		vlg_whep_finish(client, "ERROR", g_strdup("the pipeline would not start"));
		return G_SOURCE_REMOVE;
	}
	client->stage = "ICE gathering";
	g_signal_emit_by_name(
	    client->webrtc, "create-offer", NULL,
	    gst_promise_new_with_change_func(vlg_whep_on_offer_created, client, NULL));
	return G_SOURCE_REMOVE;
}

static gboolean
vlg_whep_parse_args(VlgWhepClient *client, gint *argc, gchar ***argv)
{
	const GOptionEntry entries[] = {
	    {"seconds", 0, 0, G_OPTION_ARG_INT, &client->seconds,
	     "Receive for N seconds after the answer (default 5)", "N"},
	    {"bearer", 0, 0, G_OPTION_ARG_STRING, &client->bearer,
	     "Send Authorization: Bearer TOKEN", "TOKEN"},
	    {"expect-frames", 0, 0, G_OPTION_ARG_INT, &client->expect_frames,
	     "Succeed with at least N decoded frames, and stop once there (default 1)", "N"},
	    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &client->verbose,
	     "Print the SDP and HTTP statuses on stderr", NULL},
	    {NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new("URL - minimal WHEP viewer");
	g_autoptr(GError) error = NULL;

	client->seconds = 5;
	client->expect_frames = -1;
	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_add_group(context, gst_init_get_option_group());
	if (!g_option_context_parse(context, argc, argv, &error)) {
		g_printerr("whep-client: %s\n", error->message);
		return FALSE;
	}
	if (*argc != 2 || client->seconds < 1 || client->seconds > 3600 ||
	    client->expect_frames < -1) {
		g_printerr("usage: vlg-whep-client URL [--seconds 1..3600] [--bearer TOKEN] "
			   "[--expect-frames N] [--verbose]\n");
		return FALSE;
	}
	/* A bad URL fails here, before any WebRTC peer exists. */
	g_autoptr(GUri) uri = g_uri_parse((*argv)[1], G_URI_FLAGS_NONE, NULL);
	if (!uri ||
	    (g_ascii_strcasecmp(g_uri_get_scheme(uri), "http") != 0 &&
	     g_ascii_strcasecmp(g_uri_get_scheme(uri), "https") != 0) ||
	    !g_uri_get_host(uri)) {
		g_print("whep-client error: 0 only http:// and https://host[:port]/path URLs are "
			"supported, not '%s'\n",
			(*argv)[1]);
		return FALSE;
	}
	client->stop_on_frames = client->expect_frames > 0;
	if (client->expect_frames < 0)
		client->expect_frames = 1;
	client->url = g_strdup((*argv)[1]);
	return TRUE;
}

static void
vlg_whep_client_clear(VlgWhepClient *client)
{
	if (client->deadline_timer)
		g_source_remove(client->deadline_timer);
	for (guint i = 0; i < G_N_ELEMENTS(client->signal_sources); i++)
		if (client->signal_sources[i])
			g_source_remove(client->signal_sources[i]);
	if (client->bus_watch)
		g_source_remove(client->bus_watch);
	if (client->pipeline)
		gst_element_set_state(client->pipeline, GST_STATE_NULL);
	g_clear_object(&client->webrtc);
	g_clear_object(&client->pipeline);
	g_clear_object(&client->cancellable);
	g_clear_pointer(&client->loop, g_main_loop_unref);
	g_free(client->url);
	g_free(client->bearer);
	g_free(client->location);
	g_free(client->reason);
	g_free(client->http_error);
	g_mutex_clear(&client->lock);
}

int
main(int argc, char **argv)
{
	VlgWhepClient client = {0};

	g_mutex_init(&client.lock);
	client.stage = "startup";
	client.exit_code = 1;
	if (!vlg_whep_parse_args(&client, &argc, &argv)) {
		vlg_whep_client_clear(&client);
		return 2;
	}
	g_thread_unref(g_thread_new("watchdog", vlg_whep_watchdog, &client));
	client.loop = g_main_loop_new(NULL, FALSE);
	client.cancellable = g_cancellable_new();
	if (!vlg_whep_build(&client)) {
		vlg_whep_client_clear(&client);
		return 1;
	}
	client.deadline_timer =
	    g_timeout_add((guint)(client.seconds + VLG_WHEP_LOOP_DEADLINE_S) * 1000,
			  vlg_whep_on_deadline, &client);
	client.signal_sources[0] = g_unix_signal_add(SIGINT, vlg_whep_on_signal, &client);
	client.signal_sources[1] = g_unix_signal_add(SIGTERM, vlg_whep_on_signal, &client);
	g_idle_add(vlg_whep_start, &client);
	g_main_loop_run(client.loop);

	gint exit_code = client.exit_code;
	vlg_whep_client_clear(&client);
	/* Lets GST_TRACERS=leaks report. */
	gst_deinit();
	return exit_code;
}
