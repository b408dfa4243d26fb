/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tests/camsim/feeder.h"

GST_DEBUG_CATEGORY_STATIC(vlg_camsim_feeder_debug);
#define GST_CAT_DEFAULT vlg_camsim_feeder_debug

enum { LANE_VIDEO, LANE_AUDIO, N_LANES };

/* Running this far behind the clock means the pipeline was paused or the machine starved: shift
 * the timeline forward instead of bursting to catch up, as a camera cannot send the past. */
#define LATE_LIMIT (500 * GST_MSECOND)
/* Paced pushing keeps the appsrc queue near empty; past this the pipeline is not pulling. */
#define QUEUE_LIMIT (4u * 1024 * 1024)

typedef struct {
	GstAppSrc *src;		     /* owned; NULL for an unused lane */
	const VlgCamsimTrack *track; /* borrowed from the clip */
	guint index;		     /* next buffer to play */
	guint64 loop;		     /* how many times the track wrapped */
	gboolean primed;	     /* a buffer or a gap went out: the media could preroll */
	gboolean discont;	     /* buffers were dropped since the last push */
} Lane;

struct _VlgCamsimFeeder {
	const VlgCamsimClip *clip;
	VlgCamsimGateFunc gate;
	gpointer gate_data;

	GMutex lock; /* guards thread, stopping and wait_id */
	GThread *thread;
	gboolean stopping;
	GstClockID wait_id;

	/* Feeder thread only. */
	Lane lanes[N_LANES];
	GstClock *clock;
	GstClockTime anchor; /* running time at which the clip's decode time 0 (loop 0) plays */
	gboolean need_keyframe;
};

static gpointer feeder_thread(gpointer data);

/* appsrc's need-data arrives once the pipeline is PLAYING: the moment a camera would start. */
static void
on_need_data(GstAppSrc *src G_GNUC_UNUSED, guint length G_GNUC_UNUSED, gpointer user_data)
{
	VlgCamsimFeeder *feeder = user_data;

	g_mutex_lock(&feeder->lock);
	if (!feeder->thread && !feeder->stopping)
		feeder->thread = g_thread_new("camsim-feed", feeder_thread, feeder);
	g_mutex_unlock(&feeder->lock);
}

static void
lane_init(Lane *lane, GstAppSrc *src, const VlgCamsimTrack *track)
{
	if (!src || !track)
		return;
	lane->src = gst_object_ref(src);
	lane->track = track;
	g_object_set(src, "caps", track->caps, "format", GST_FORMAT_TIME, "is-live", TRUE,
		     "do-timestamp", FALSE, "stream-type", GST_APP_STREAM_TYPE_STREAM, NULL);
}

VlgCamsimFeeder *
vlg_camsim_feeder_new(const VlgCamsimClip *clip, GstAppSrc *video, GstAppSrc *audio,
		      VlgCamsimGateFunc gate, gpointer gate_data)
{
	VlgCamsimFeeder *feeder;
	GstAppSrcCallbacks callbacks = {.need_data = on_need_data};

	g_return_val_if_fail(clip != NULL && GST_IS_APP_SRC(video) && gate != NULL, NULL);
	if (!vlg_camsim_feeder_debug)
		GST_DEBUG_CATEGORY_INIT(vlg_camsim_feeder_debug, "vlg-camsim-feeder", 0,
					"camera simulator feeder");
	feeder = g_new0(VlgCamsimFeeder, 1);
	feeder->clip = clip;
	feeder->gate = gate;
	feeder->gate_data = gate_data;
	g_mutex_init(&feeder->lock);
	lane_init(&feeder->lanes[LANE_VIDEO], video, clip->video);
	lane_init(&feeder->lanes[LANE_AUDIO], audio, clip->audio);
	gst_app_src_set_callbacks(video, &callbacks, feeder, NULL);
	return feeder;
}

void
vlg_camsim_feeder_stop(VlgCamsimFeeder *feeder)
{
	GThread *thread;

	g_mutex_lock(&feeder->lock);
	feeder->stopping = TRUE;
	if (feeder->wait_id)
		gst_clock_id_unschedule(feeder->wait_id);
	thread = g_steal_pointer(&feeder->thread);
	g_mutex_unlock(&feeder->lock);
	if (thread)
		g_thread_join(thread);
}

void
vlg_camsim_feeder_free(VlgCamsimFeeder *feeder)
{
	GstAppSrcCallbacks none = {0};

	if (!feeder)
		return;
	vlg_camsim_feeder_stop(feeder);
	/* The appsrc may outlive us inside the media pipeline: it must not call back. */
	gst_app_src_set_callbacks(feeder->lanes[LANE_VIDEO].src, &none, NULL, NULL);
	for (guint i = 0; i < N_LANES; i++)
		g_clear_object(&feeder->lanes[i].src);
	g_mutex_clear(&feeder->lock);
	g_free(feeder);
}

/* ---- feeder thread ------------------------------------------------------------------------- */

static GstClockTime
lane_offset(const VlgCamsimFeeder *feeder, const Lane *lane)
{
	return lane->loop * feeder->clip->duration;
}

static GstBuffer *
lane_peek(const Lane *lane)
{
	return g_ptr_array_index(lane->track->buffers, lane->index);
}

static void
lane_advance(Lane *lane)
{
	if (++lane->index < lane->track->buffers->len)
		return;
	lane->index = 0;
	lane->loop++;
}

/* The lane whose next buffer decodes first: the clip is replayed in decode order overall. */
static Lane *
next_lane(VlgCamsimFeeder *feeder)
{
	Lane *best = NULL;
	GstClockTime best_dts = GST_CLOCK_TIME_NONE;

	for (guint i = 0; i < N_LANES; i++) {
		Lane *lane = &feeder->lanes[i];
		GstClockTime dts;

		if (!lane->src)
			continue;
		dts = GST_BUFFER_DTS(lane_peek(lane)) + lane_offset(feeder, lane);
		if (!best || dts < best_dts) {
			best = lane;
			best_dts = dts;
		}
	}
	return best;
}

static GstClockTime
running_time_now(VlgCamsimFeeder *feeder)
{
	GstClockTime now = gst_clock_get_time(feeder->clock);
	GstClockTime base = gst_element_get_base_time(GST_ELEMENT(feeder->lanes[LANE_VIDEO].src));

	return now > base ? now - base : 0;
}

/* Sleep until the pipeline's running time reaches @running_time. FALSE when told to stop. */
static gboolean
wait_until(VlgCamsimFeeder *feeder, GstClockTime running_time)
{
	GstClockTime base = gst_element_get_base_time(GST_ELEMENT(feeder->lanes[LANE_VIDEO].src));
	GstClockID id;
	gboolean stopping;

	g_mutex_lock(&feeder->lock);
	if (feeder->stopping) {
		g_mutex_unlock(&feeder->lock);
		return FALSE;
	}
	id = gst_clock_new_single_shot_id(feeder->clock, base + running_time);
	feeder->wait_id = id;
	g_mutex_unlock(&feeder->lock);

	gst_clock_id_wait(id, NULL);

	g_mutex_lock(&feeder->lock);
	feeder->wait_id = NULL;
	stopping = feeder->stopping;
	g_mutex_unlock(&feeder->lock);
	gst_clock_id_unref(id);
	return !stopping;
}

/* A gap lets the server preroll a media made while the camera is stalled: rtsp-stream counts a
 * GAP event as the first data, so DESCRIBE is answered and still no frame is sent. */
static void
send_gap(Lane *lane, GstClockTime running_time, GstClockTime duration)
{
	gst_element_send_event(GST_ELEMENT(lane->src), gst_event_new_gap(running_time, duration));
	lane->primed = TRUE;
}

/* Whether @buf may go out now; keeps track of what was dropped. */
static gboolean
lane_may_send(VlgCamsimFeeder *feeder, Lane *lane, GstBuffer *buf, GstClockTime dts)
{
	gboolean video = lane == &feeder->lanes[LANE_VIDEO];

	if (!feeder->gate(feeder->gate_data)) {
		if (!lane->primed)
			send_gap(lane, dts, GST_BUFFER_DURATION(buf));
		feeder->need_keyframe |= video;
		lane->discont = TRUE;
		return FALSE;
	}
	if (gst_app_src_get_current_level_bytes(lane->src) > QUEUE_LIMIT) {
		GST_DEBUG_OBJECT(lane->src, "not pulling: dropping");
		feeder->need_keyframe |= video;
		lane->discont = TRUE;
		return FALSE;
	}
	if (video && feeder->need_keyframe) {
		if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT))
			return FALSE;
		feeder->need_keyframe = FALSE;
	}
	return TRUE;
}

static void
lane_push(VlgCamsimFeeder *feeder, Lane *lane, GstBuffer *buf)
{
	GstClockTime offset = feeder->anchor + lane_offset(feeder, lane);
	/* A shallow copy: new timestamps, the clip's memory. */
	GstBuffer *out = gst_buffer_copy(buf);

	GST_BUFFER_PTS(out) = GST_BUFFER_PTS(buf) + offset;
	GST_BUFFER_DTS(out) = GST_BUFFER_DTS(buf) + offset;
	if (lane->discont)
		GST_BUFFER_FLAG_SET(out, GST_BUFFER_FLAG_DISCONT);
	lane->discont = FALSE;
	lane->primed = TRUE;
	/* FLUSHING while the media shuts down is expected: the thread is about to be stopped. */
	gst_app_src_push_buffer(lane->src, out);
}

/* Play the next buffer at its time. FALSE when told to stop. */
static gboolean
feed_one(VlgCamsimFeeder *feeder)
{
	Lane *lane = next_lane(feeder);
	GstBuffer *buf = lane_peek(lane);
	GstClockTime dts = feeder->anchor + GST_BUFFER_DTS(buf) + lane_offset(feeder, lane);
	GstClockTime now;

	if (!wait_until(feeder, dts))
		return FALSE;
	now = running_time_now(feeder);
	if (now > dts + LATE_LIMIT) {
		GST_DEBUG("late by %" GST_TIME_FORMAT ": moving on", GST_TIME_ARGS(now - dts));
		feeder->anchor += now - dts;
		dts = now;
	}
	if (lane_may_send(feeder, lane, buf, dts))
		lane_push(feeder, lane, buf);
	lane_advance(lane);
	return TRUE;
}

static gpointer
feeder_thread(gpointer data)
{
	VlgCamsimFeeder *feeder = data;

	feeder->clock = gst_element_get_clock(GST_ELEMENT(feeder->lanes[LANE_VIDEO].src));
	if (!feeder->clock) {
		GST_WARNING("media has no clock: not feeding");
		return NULL;
	}
	feeder->anchor = running_time_now(feeder);
	GST_DEBUG("feeding %s from running time %" GST_TIME_FORMAT, feeder->clip->path,
		  GST_TIME_ARGS(feeder->anchor));
	while (feed_one(feeder))
		;
	gst_clear_object(&feeder->clock);
	return NULL;
}
