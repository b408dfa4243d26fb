/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/ingest.h"

#include <gst/rtsp/gstrtsptransport.h>
#include <stdatomic.h>

#include "pipelines/ingest-branch.h"
#include "pipelines/teardown.h"

GST_DEBUG_CATEGORY_STATIC(vlg_ingest_debug);
#define GST_CAT_DEFAULT vlg_ingest_debug

#define TICK_MS 250

/*
 * One attempt = one rtspsrc pipeline. Streaming threads only see the attempt (never the ingest):
 * they stamp last_data_us and, for the first buffer, invoke the main loop. The main loop ignores
 * whatever comes from an attempt that is no longer current.
 */
typedef struct {
	gint refcount;
	VlgIngest *ingest; /* main thread only, and only while attempt == ingest->attempt */
	VlgHub *hub;
	GstElement *pipeline;
	char *camera_id;
	GMainContext *context;
	atomic_int first_data_posted;
	_Atomic gint64 last_data_us;
} Attempt;

struct _VlgIngest {
	const VlgCameraInfo *info;
	VlgIngestSettings settings;
	VlgHub *hub;
	VlgIngestState state;
	Attempt *attempt; /* the running pipeline, or NULL */
	guint tick_source;  /* watchdog, while connecting or live */
	guint retry_source; /* one-shot at next_attempt_us, while retrying */
	VlgIngestNotify notify;
	gpointer notify_data;
};

static void handle_event(VlgIngest *ingest, const VlgIngestEvent *event);

static Attempt *
attempt_ref(Attempt *attempt)
{
	g_atomic_int_inc(&attempt->refcount);
	return attempt;
}

static void
attempt_unref(gpointer data)
{
	Attempt *attempt = data;

	if (!g_atomic_int_dec_and_test(&attempt->refcount))
		return;
	vlg_hub_unref(attempt->hub);
	g_main_context_unref(attempt->context);
	g_free(attempt->camera_id);
	g_free(attempt);
}

/* ---- streaming-thread side ---- */

static gboolean
first_data_on_main(gpointer data)
{
	Attempt *attempt = data;
	VlgIngestEvent event = { .type = VLG_INGEST_EVENT_DATA, .now_us = g_get_monotonic_time() };

	if (attempt->ingest && attempt->ingest->attempt == attempt)
		handle_event(attempt->ingest, &event);
	return G_SOURCE_REMOVE;
}

static void
attempt_saw_data(gpointer data)
{
	Attempt *attempt = data;

	int expected = 0;

	atomic_store(&attempt->last_data_us, g_get_monotonic_time());
	if (atomic_compare_exchange_strong(&attempt->first_data_posted, &expected, 1))
		g_main_context_invoke_full(attempt->context, G_PRIORITY_DEFAULT,
					   first_data_on_main, attempt_ref(attempt),
					   attempt_unref);
}

/* ---- main-thread side ---- */

static void
classify_error(GError *error, VlgFailureKind *kind)
{
	*kind = VLG_FAILURE_TRANSIENT;
	if (error->domain != GST_RESOURCE_ERROR)
		return;
	if (error->code == GST_RESOURCE_ERROR_NOT_AUTHORIZED)
		*kind = VLG_FAILURE_AUTH;
	else if (error->code == GST_RESOURCE_ERROR_NOT_FOUND)
		*kind = VLG_FAILURE_NOT_FOUND;
}

static void
report_failure(Attempt *attempt, VlgFailureKind kind, const char *message)
{
	VlgIngestEvent event = {
		.type = VLG_INGEST_EVENT_FAILURE,
		.now_us = g_get_monotonic_time(),
		.failure = kind,
		.message = message,
		.unit_random = g_random_double(),
	};

	if (attempt->ingest && attempt->ingest->attempt == attempt)
		handle_event(attempt->ingest, &event);
}

static gboolean
on_bus_message(GstBus *bus, GstMessage *message, gpointer data)
{
	Attempt *attempt = data;
	g_autoptr(GError) error = NULL;
	g_autofree char *debug = NULL;
	g_autofree char *text = NULL;
	VlgFailureKind kind;

	switch (GST_MESSAGE_TYPE(message)) {
	case GST_MESSAGE_ERROR:
		gst_message_parse_error(message, &error, &debug);
		GST_DEBUG("%s: error from %s: %s (%s)", attempt->camera_id,
			  GST_MESSAGE_SRC_NAME(message), error->message, debug);
		classify_error(error, &kind);
		text = g_strdup_printf("%s%s", error->message,
				       kind == VLG_FAILURE_AUTH ? " (check username and password)" :
				       kind == VLG_FAILURE_NOT_FOUND ? " (check the URL path)" : "");
		report_failure(attempt, kind, text);
		break;
	case GST_MESSAGE_EOS:
		report_failure(attempt, VLG_FAILURE_TRANSIENT, "the camera ended the stream");
		break;
	case GST_MESSAGE_APPLICATION:
		if (gst_message_has_name(message, VLG_INGEST_UNSUPPORTED_MESSAGE))
			report_failure(attempt, VLG_FAILURE_UNSUPPORTED,
				       gst_structure_get_string(gst_message_get_structure(message),
								"reason"));
		break;
	default:
		/* Everything else is drained and dropped: a bus nobody empties grows without end. */
		break;
	}
	return G_SOURCE_CONTINUE;
}

static GstElement *
build_pipeline(VlgIngest *ingest, Attempt *attempt)
{
	const VlgCameraInfo *info = ingest->info;
	GstElement *pipeline = gst_pipeline_new(info->id);
	GstElement *src = gst_element_factory_make("rtspsrc", NULL);
	GstRTSPLowerTrans protocols = info->transport == VLG_TRANSPORT_UDP ?
					      GST_RTSP_LOWER_TRANS_UDP :
					      GST_RTSP_LOWER_TRANS_TCP;

	g_object_set(src, "location", info->url, "protocols", protocols, "latency",
		     ingest->settings.latency_ms, "tcp-timeout",
		     (guint64)ingest->settings.timings.connect_timeout_us, "do-retransmission", FALSE,
		     NULL);
	if (info->username)
		g_object_set(src, "user-id", info->username, NULL);
	if (info->password)
		g_object_set(src, "user-pw", info->password, NULL);
	gst_bin_add(GST_BIN(pipeline), src);
	vlg_ingest_branch_connect(src, attempt->hub, info->id, attempt_saw_data, attempt_ref(attempt),
				  attempt_unref);
	return pipeline;
}

static void
start_pipeline(VlgIngest *ingest)
{
	Attempt *attempt = g_new0(Attempt, 1);
	g_autoptr(GstBus) bus = NULL;

	attempt->refcount = 1;
	attempt->ingest = ingest;
	attempt->hub = vlg_hub_ref(ingest->hub);
	attempt->camera_id = g_strdup(ingest->info->id);
	attempt->context = g_main_context_ref_thread_default();
	attempt->pipeline = build_pipeline(ingest, attempt);
	ingest->attempt = attempt;

	/* Consumers learn that timestamps start over and new caps and a keyframe follow. */
	vlg_hub_reset(ingest->hub);
	bus = gst_element_get_bus(attempt->pipeline);
	gst_bus_add_watch_full(bus, G_PRIORITY_DEFAULT, on_bus_message, attempt_ref(attempt),
			       attempt_unref);
	if (gst_element_set_state(attempt->pipeline, GST_STATE_PLAYING) ==
	    GST_STATE_CHANGE_FAILURE)
		report_failure(attempt, VLG_FAILURE_TRANSIENT, "the pipeline could not start");
}

static void
stop_pipeline(VlgIngest *ingest)
{
	Attempt *attempt = ingest->attempt;
	g_autoptr(GstBus) bus = NULL;

	if (!attempt)
		return;
	ingest->attempt = NULL;
	attempt->ingest = NULL;
	bus = gst_element_get_bus(attempt->pipeline);
	gst_bus_remove_watch(bus);
	vlg_teardown_pipeline(g_steal_pointer(&attempt->pipeline));
	attempt_unref(attempt);
}

static gboolean
on_tick(gpointer data)
{
	VlgIngest *ingest = data;
	VlgIngestEvent event = { .type = VLG_INGEST_EVENT_TICK,
				 .now_us = g_get_monotonic_time(),
				 .unit_random = g_random_double() };

	/* Feed the watchdog from the streaming side's stamp before judging it. */
	if (ingest->attempt) {
		gint64 last = atomic_load(&ingest->attempt->last_data_us);

		if (last > ingest->state.last_data_us &&
		    atomic_load(&ingest->attempt->first_data_posted))
			ingest->state.last_data_us = last;
	}
	handle_event(ingest, &event);
	return G_SOURCE_CONTINUE;
}

static gboolean
on_retry_due(gpointer data)
{
	VlgIngest *ingest = data;

	ingest->retry_source = 0;
	on_tick(ingest);
	return G_SOURCE_REMOVE;
}

/* The watchdog ticks while a pipeline runs; a retry gets a timer of its own, to the millisecond,
 * so that a camera back after a short outage is not also kept waiting for the next tick. */
static void
update_timers(VlgIngest *ingest)
{
	VlgIngestStateKind kind = ingest->state.kind;
	gboolean tick = kind == VLG_INGEST_CONNECTING || kind == VLG_INGEST_LIVE;

	if (tick && !ingest->tick_source)
		ingest->tick_source = g_timeout_add(TICK_MS, on_tick, ingest);
	else if (!tick && ingest->tick_source)
		g_clear_handle_id(&ingest->tick_source, g_source_remove);
	if (kind == VLG_INGEST_RETRYING && !ingest->retry_source) {
		gint64 wait_us = ingest->state.next_attempt_us - g_get_monotonic_time();

		ingest->retry_source = g_timeout_add(wait_us > 0 ? (guint)((wait_us + 999) / 1000) : 0,
						     on_retry_due, ingest);
	} else if (kind != VLG_INGEST_RETRYING && ingest->retry_source) {
		g_clear_handle_id(&ingest->retry_source, g_source_remove);
	}
}

static void
handle_event(VlgIngest *ingest, const VlgIngestEvent *event)
{
	VlgIngestAction action;

	action = vlg_ingest_state_handle(&ingest->state, &ingest->settings.timings, event);
	if (action & VLG_INGEST_ACTION_STOP_PIPELINE)
		stop_pipeline(ingest);
	if (action & VLG_INGEST_ACTION_START_PIPELINE)
		start_pipeline(ingest);
	update_timers(ingest);
	if ((action & VLG_INGEST_ACTION_STATE_CHANGED) && ingest->notify)
		ingest->notify(ingest, &ingest->state, ingest->notify_data);
}

VlgIngest *
vlg_ingest_new(const VlgCameraInfo *info, const VlgIngestSettings *settings, VlgHub *hub)
{
	VlgIngest *ingest = g_new0(VlgIngest, 1);

	if (!vlg_ingest_debug)
		GST_DEBUG_CATEGORY_INIT(vlg_ingest_debug, "vlg-ingest", 0,
					"linkage-gateway camera ingest");
	ingest->info = info;
	ingest->settings = *settings;
	ingest->hub = vlg_hub_ref(hub);
	vlg_ingest_state_init(&ingest->state, g_get_monotonic_time());
	return ingest;
}

VlgIngest *
vlg_ingest_free(VlgIngest *ingest)
{
	if (!ingest)
		return NULL;
	stop_pipeline(ingest);
	g_clear_handle_id(&ingest->tick_source, g_source_remove);
	g_clear_handle_id(&ingest->retry_source, g_source_remove);
	vlg_ingest_state_clear(&ingest->state);
	vlg_hub_unref(ingest->hub);
	g_free(ingest);
	return NULL;
}

void
vlg_ingest_set_notify(VlgIngest *ingest, VlgIngestNotify notify, gpointer user_data)
{
	ingest->notify = notify;
	ingest->notify_data = user_data;
}

void
vlg_ingest_start(VlgIngest *ingest)
{
	VlgIngestEvent event = { .type = VLG_INGEST_EVENT_START, .now_us = g_get_monotonic_time() };

	handle_event(ingest, &event);
}

void
vlg_ingest_stop(VlgIngest *ingest)
{
	VlgIngestEvent event = { .type = VLG_INGEST_EVENT_STOP, .now_us = g_get_monotonic_time() };

	handle_event(ingest, &event);
}

const VlgIngestState *
vlg_ingest_get_state(VlgIngest *ingest)
{
	return &ingest->state;
}

const VlgCameraInfo *
vlg_ingest_get_info(VlgIngest *ingest)
{
	return ingest->info;
}
