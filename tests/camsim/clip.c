/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tests/camsim/clip.h"

#include <gst/app/gstappsink.h>
#include <stdlib.h>

#include "tests/camsim/camsim-error.h"

GST_DEBUG_CATEGORY_STATIC(vlg_camsim_clip_debug);
#define GST_CAT_DEFAULT vlg_camsim_clip_debug

/* Reading a 10 s clip takes well under a second; this only guards against a wedged demuxer. */
#define LOAD_TIMEOUT (60 * GST_SECOND)

typedef struct {
	VlgCamsimCodec codec;
	const gchar *caps_name;
	gboolean video;
	const gchar *name;
	const gchar *payloader;
} CodecInfo;

/* Payload types: the static ones for G.711 (RFC 3551), dynamic ones otherwise. config-interval=-1
 * repeats the parameter sets before every IDR, so a viewer joining mid-stream can decode. */
static const CodecInfo codecs[] = {
    {VLG_CAMSIM_CODEC_H264, "video/x-h264", TRUE, "H.264",
     "rtph264pay pt=96 config-interval=-1 aggregate-mode=zero-latency"},
    {VLG_CAMSIM_CODEC_H265, "video/x-h265", TRUE, "H.265",
     "rtph265pay pt=96 config-interval=-1 aggregate-mode=zero-latency"},
    {VLG_CAMSIM_CODEC_PCMA, "audio/x-alaw", FALSE, "PCMA", "rtppcmapay pt=8"},
    {VLG_CAMSIM_CODEC_PCMU, "audio/x-mulaw", FALSE, "PCMU", "rtppcmupay pt=0"},
    {VLG_CAMSIM_CODEC_AAC, "audio/mpeg", FALSE, "AAC", "rtpmp4gpay pt=97"},
};

const gchar *
vlg_camsim_codec_name(VlgCamsimCodec codec)
{
	g_return_val_if_fail(codec < G_N_ELEMENTS(codecs), NULL);
	return codecs[codec].name;
}

const gchar *
vlg_camsim_codec_payloader(VlgCamsimCodec codec)
{
	g_return_val_if_fail(codec < G_N_ELEMENTS(codecs), NULL);
	return codecs[codec].payloader;
}

/* The codec entry for @caps, or NULL. AAC only as raw MPEG-4 frames: that is what the RTP
 * payloader takes, and what MP4 and Matroska store. */
static const CodecInfo *
codec_for_caps(const GstCaps *caps)
{
	const GstStructure *s = gst_caps_get_structure(caps, 0);
	gint version = 0;

	for (guint i = 0; i < G_N_ELEMENTS(codecs); i++) {
		if (!gst_structure_has_name(s, codecs[i].caps_name))
			continue;
		if (codecs[i].codec == VLG_CAMSIM_CODEC_AAC &&
		    (!gst_structure_get_int(s, "mpegversion", &version) || version != 4 ||
		     g_strcmp0(gst_structure_get_string(s, "stream-format"), "raw") != 0))
			return NULL;
		return &codecs[i];
	}
	return NULL;
}

static VlgCamsimTrack *
track_new(VlgCamsimCodec codec, GstCaps *caps)
{
	VlgCamsimTrack *track = g_new0(VlgCamsimTrack, 1);

	track->codec = codec;
	track->caps = gst_caps_ref(caps);
	track->buffers = g_ptr_array_new_with_free_func((GDestroyNotify)gst_buffer_unref);
	return track;
}

static void
track_free(VlgCamsimTrack *track)
{
	if (!track)
		return;
	gst_caps_unref(track->caps);
	g_ptr_array_unref(track->buffers);
	g_free(track);
}

void
vlg_camsim_clip_free(VlgCamsimClip *clip)
{
	if (!clip)
		return;
	track_free(clip->video);
	track_free(clip->audio);
	g_free(clip->path);
	g_free(clip);
}

/* ---- reading the file ---------------------------------------------------------------------- */

typedef struct {
	const gchar *path;
	GstElement *pipeline;
	GMutex lock; /* guards video, audio and problem: parsebin adds pads from its threads */
	VlgCamsimTrack *video;
	VlgCamsimTrack *audio;
	gchar *problem; /* why the clip cannot be served, first reason only */
} Loader;

static GstFlowReturn
on_new_sample(GstAppSink *sink, gpointer user_data)
{
	VlgCamsimTrack *track = user_data;
	GstSample *sample = gst_app_sink_pull_sample(sink);

	if (!sample)
		return GST_FLOW_EOS;
	/* Only this appsink's streaming thread appends to this track. */
	g_ptr_array_add(track->buffers, gst_buffer_ref(gst_sample_get_buffer(sample)));
	gst_sample_unref(sample);
	return GST_FLOW_OK;
}

/* Plug @sink (floating) into the pipeline after @pad and start it. */
static void
plug_sink(Loader *loader, GstPad *pad, GstElement *sink)
{
	g_autoptr(GstPad) sinkpad = gst_element_get_static_pad(sink, "sink");

	gst_bin_add(GST_BIN(loader->pipeline), sink);
	if (gst_pad_link(pad, sinkpad) != GST_PAD_LINK_OK)
		GST_WARNING("clip %s: cannot link %s", loader->path, GST_PAD_NAME(pad));
	gst_element_sync_state_with_parent(sink);
}

/* Sinks do not preroll: with one demuxer thread feeding several sinks (qtdemux in push mode),
 * the first sink to block in preroll would starve the others and the pipeline would never
 * reach PAUSED. */
static GstElement *
make_discard_sink(void)
{
	GstElement *sink = gst_element_factory_make("fakesink", NULL);

	g_object_set(sink, "sync", FALSE, "async", FALSE, NULL);
	return sink;
}

static GstElement *
make_track_sink(VlgCamsimTrack *track)
{
	GstAppSinkCallbacks callbacks = {.new_sample = on_new_sample};
	GstElement *sink = gst_element_factory_make("appsink", NULL);

	/* Not a playback: read as fast as the file allows, keep everything. */
	g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 0, "drop", FALSE, NULL);
	gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, track, NULL);
	return sink;
}

/* Decide what to do with a stream: keep it in a track, or drop it (with a reason). Returns the
 * track to fill, or NULL to discard the stream. Called with the loader lock held. */
static VlgCamsimTrack *
claim_stream_unlocked(Loader *loader, GstCaps *caps)
{
	const CodecInfo *info = codec_for_caps(caps);
	const gchar *media = gst_structure_get_name(gst_caps_get_structure(caps, 0));
	VlgCamsimTrack **slot;

	if (!info) {
		if (g_str_has_prefix(media, "video/") && !loader->problem)
			loader->problem =
			    g_strdup_printf("clip %s: video is %s, only H.264 and H.265 are served",
					    loader->path, media);
		else if (g_str_has_prefix(media, "audio/"))
			g_warning("clip %s: ignoring audio %s (PCMA, PCMU and AAC are served)",
				  loader->path, media);
		return NULL;
	}
	slot = info->video ? &loader->video : &loader->audio;
	if (*slot) {
		g_warning("clip %s: ignoring a second %s stream", loader->path,
			  info->video ? "video" : "audio");
		return NULL;
	}
	*slot = track_new(info->codec, caps);
	return *slot;
}

static void
on_pad_added(GstElement *parsebin G_GNUC_UNUSED, GstPad *pad, gpointer user_data)
{
	Loader *loader = user_data;
	g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
	VlgCamsimTrack *track;

	if (!caps)
		caps = gst_pad_query_caps(pad, NULL);
	g_mutex_lock(&loader->lock);
	track = gst_caps_is_empty(caps) ? NULL : claim_stream_unlocked(loader, caps);
	g_mutex_unlock(&loader->lock);
	GST_DEBUG("clip %s: stream %" GST_PTR_FORMAT " %s", loader->path, caps,
		  track ? "kept" : "dropped");
	plug_sink(loader, pad, track ? make_track_sink(track) : make_discard_sink());
}

static gboolean
build_pipeline(Loader *loader, GError **error)
{
	GstElement *src = gst_element_factory_make("filesrc", NULL);
	GstElement *parse = gst_element_factory_make("parsebin", NULL);

	if (!src || !parse) {
		g_clear_object(&src);
		g_clear_object(&parse);
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CLIP,
			    "clip %s: GStreamer elements filesrc/parsebin are missing",
			    loader->path);
		return FALSE;
	}
	loader->pipeline = gst_pipeline_new(NULL);
	g_object_set(src, "location", loader->path, NULL);
	g_signal_connect(parse, "pad-added", G_CALLBACK(on_pad_added), loader);
	gst_bin_add_many(GST_BIN(loader->pipeline), src, parse, NULL);
	gst_element_link(src, parse);
	return TRUE;
}

/* Play the private pipeline to its end. */
static gboolean
run_pipeline(Loader *loader, GError **error)
{
	g_autoptr(GstBus) bus = gst_element_get_bus(loader->pipeline);
	g_autoptr(GstMessage) msg = NULL;
	g_autoptr(GError) gst_error = NULL;

	/* A failed start (say, no such file) has posted its reason: it is read below. */
	if (gst_element_set_state(loader->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
		msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
	else
		msg = gst_bus_timed_pop_filtered(bus, LOAD_TIMEOUT,
						 GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
	if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS)
		return TRUE;
	if (msg)
		gst_message_parse_error(msg, &gst_error, NULL);
	g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CLIP, "clip %s: %s", loader->path,
		    gst_error ? gst_error->message : "reading it timed out");
	return FALSE;
}

/* ---- timestamps ---------------------------------------------------------------------------- */

static int
compare_gint64(const void *a, const void *b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

	return (x > y) - (x < y);
}

void
vlg_camsim_synthesize_dts(const gint64 *pts, guint n, gint64 *dts)
{
	g_autofree gint64 *sorted = g_memdup2(pts, n * sizeof(gint64));
	gint64 delay = 0;

	qsort(sorted, n, sizeof(gint64), compare_gint64);
	for (guint i = 0; i < n; i++)
		delay = MAX(delay, sorted[i] - pts[i]);
	for (guint i = 0; i < n; i++)
		dts[i] = sorted[i] - delay;
}

/* Fill @pts and @dts (signed, container time) for every buffer of @track. */
static gboolean
track_times(const VlgCamsimTrack *track, const gchar *path, gint64 *pts, gint64 *dts,
	    GError **error)
{
	gboolean have_dts = TRUE;

	for (guint i = 0; i < track->buffers->len; i++) {
		GstBuffer *buf = g_ptr_array_index(track->buffers, i);

		if (GST_BUFFER_PTS_IS_VALID(buf))
			pts[i] = GST_BUFFER_PTS(buf);
		else if (GST_BUFFER_DTS_IS_VALID(buf))
			pts[i] = GST_BUFFER_DTS(buf);
		else {
			g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CLIP,
				    "clip %s: %s frame %u has no timestamp", path,
				    vlg_camsim_codec_name(track->codec), i);
			return FALSE;
		}
		have_dts = have_dts && GST_BUFFER_DTS_IS_VALID(buf);
		dts[i] = GST_BUFFER_DTS(buf);
	}
	if (!have_dts)
		vlg_camsim_synthesize_dts(pts, track->buffers->len, dts);
	return TRUE;
}

/* Typical frame length, for buffers the container gave no duration. */
static GstClockTime
track_frame_interval(const gint64 *pts, guint n)
{
	gint64 lo = G_MAXINT64, hi = G_MININT64;

	for (guint i = 0; i < n; i++) {
		lo = MIN(lo, pts[i]);
		hi = MAX(hi, pts[i]);
	}
	return n > 1 && hi > lo ? (GstClockTime)(hi - lo) / (n - 1) : 40 * GST_MSECOND;
}

typedef struct {
	gint64 *pts;
	gint64 *dts;
	guint n;
} TrackTimes;

static void
track_times_clear(TrackTimes *t)
{
	g_free(t->pts);
	g_free(t->dts);
}

/* Write rebased timestamps back into the track's buffers, giving a length to those without. */
static void
track_rebase(VlgCamsimTrack *track, const TrackTimes *t, gint64 origin)
{
	GstClockTime interval = track_frame_interval(t->pts, t->n);

	for (guint i = 0; i < t->n; i++) {
		GstBuffer *buf = gst_buffer_make_writable(g_ptr_array_index(track->buffers, i));

		/* make_writable may have swapped the buffer for a copy: store what it returned. */
		track->buffers->pdata[i] = buf;
		if (!GST_BUFFER_DURATION_IS_VALID(buf))
			GST_BUFFER_DURATION(buf) = interval;
		GST_BUFFER_PTS(buf) = MAX(t->pts[i] - origin, 0);
		GST_BUFFER_DTS(buf) = t->dts[i] - origin;
		/* The feeder decides discontinuities; the demuxer's first-buffer flags would lie on
		 * every loop. */
		GST_BUFFER_FLAG_UNSET(buf, GST_BUFFER_FLAG_DISCONT);
		GST_BUFFER_FLAG_UNSET(buf, GST_BUFFER_FLAG_RESYNC);
	}
}

/* The presentation interval [*first, *end) of the video, in container time. */
static void
video_span(const VlgCamsimTrack *track, const TrackTimes *t, gint64 *first, gint64 *end)
{
	GstClockTime interval = track_frame_interval(t->pts, t->n);

	*first = G_MAXINT64;
	*end = G_MININT64;
	for (guint i = 0; i < t->n; i++) {
		GstBuffer *buf = g_ptr_array_index(track->buffers, i);
		GstClockTime duration = GST_BUFFER_DURATION(buf);

		*first = MIN(*first, t->pts[i]);
		*end =
		    MAX(*end, t->pts[i] + (gint64)(GST_CLOCK_TIME_IS_VALID(duration) ? duration
										     : interval));
	}
}

/* The clip loops on its video. Audio starting outside the video's span would overlap the next
 * loop or play before the first picture: drop it (files often start audio a few frames early). */
static void
trim_audio(VlgCamsimTrack *track, gint64 first, gint64 end)
{
	for (guint i = track->buffers->len; i-- > 0;) {
		GstBuffer *buf = g_ptr_array_index(track->buffers, i);
		GstClockTime pts =
		    GST_BUFFER_PTS_IS_VALID(buf) ? GST_BUFFER_PTS(buf) : GST_BUFFER_DTS(buf);

		if (GST_CLOCK_TIME_IS_VALID(pts) && ((gint64)pts < first || (gint64)pts >= end))
			g_ptr_array_remove_index(track->buffers, i);
	}
}

/* A live viewer must start on a keyframe: drop whatever comes before the first one. */
static gboolean
trim_to_keyframe(VlgCamsimClip *clip, GError **error)
{
	GPtrArray *frames = clip->video->buffers;
	guint first = 0;

	while (first < frames->len &&
	       GST_BUFFER_FLAG_IS_SET(g_ptr_array_index(frames, first), GST_BUFFER_FLAG_DELTA_UNIT))
		first++;
	if (first == frames->len) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CLIP,
			    "clip %s: the video has no keyframe", clip->path);
		return FALSE;
	}
	if (first > 0)
		g_warning("clip %s: dropping %u frames before the first keyframe", clip->path,
			  first);
	g_ptr_array_remove_range(frames, 0, first);
	return TRUE;
}

static gboolean
times_for(const VlgCamsimClip *clip, const VlgCamsimTrack *track, TrackTimes *t, GError **error)
{
	t->n = track ? track->buffers->len : 0;
	t->pts = g_new(gint64, MAX(t->n, 1));
	t->dts = g_new(gint64, MAX(t->n, 1));
	return !track || track_times(track, clip->path, t->pts, t->dts, error);
}

/* Rebase every track so that the first decode time is 0, and set the loop period: the video's
 * length, so that frame times run on evenly from one loop to the next. */
static gboolean
normalize(VlgCamsimClip *clip, GError **error)
{
	TrackTimes v = {0}, a = {0};
	gint64 origin = G_MAXINT64, first, end;
	gboolean ok = FALSE;

	if (!times_for(clip, clip->video, &v, error))
		goto out;
	video_span(clip->video, &v, &first, &end);
	if (clip->audio)
		trim_audio(clip->audio, first, end);
	if (!times_for(clip, clip->audio, &a, error))
		goto out;
	for (guint i = 0; i < v.n; i++)
		origin = MIN(origin, v.dts[i]);
	for (guint i = 0; i < a.n; i++)
		origin = MIN(origin, a.dts[i]);
	track_rebase(clip->video, &v, origin);
	if (clip->audio)
		track_rebase(clip->audio, &a, origin);
	clip->duration = end - first;
	ok = clip->duration > 0;
	if (!ok)
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CLIP,
			    "clip %s: it lasts no time", clip->path);
out:
	track_times_clear(&v);
	track_times_clear(&a);
	return ok;
}

static VlgCamsimClip *
clip_from_loader(Loader *loader, GError **error)
{
	g_autoptr(VlgCamsimClip) clip = g_new0(VlgCamsimClip, 1);

	clip->path = g_strdup(loader->path);
	clip->video = g_steal_pointer(&loader->video);
	clip->audio = g_steal_pointer(&loader->audio);
	if (loader->problem) {
		g_set_error_literal(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CLIP,
				    loader->problem);
		return NULL;
	}
	if (!clip->video || clip->video->buffers->len == 0) {
		g_set_error(error, VLG_CAMSIM_ERROR, VLG_CAMSIM_ERROR_CLIP,
			    "clip %s: no H.264 or H.265 video in it", clip->path);
		return NULL;
	}
	if (!trim_to_keyframe(clip, error) || !normalize(clip, error))
		return NULL;
	if (clip->audio && clip->audio->buffers->len == 0)
		g_clear_pointer(&clip->audio, track_free);
	return g_steal_pointer(&clip);
}

VlgCamsimClip *
vlg_camsim_clip_load(const gchar *path, GError **error)
{
	Loader loader = {.path = path};
	VlgCamsimClip *clip = NULL;

	g_return_val_if_fail(path != NULL, NULL);
	if (!vlg_camsim_clip_debug)
		GST_DEBUG_CATEGORY_INIT(vlg_camsim_clip_debug, "vlg-camsim-clip", 0,
					"camera simulator clip loading");
	g_mutex_init(&loader.lock);
	if (build_pipeline(&loader, error) && run_pipeline(&loader, error))
		clip = clip_from_loader(&loader, error);
	if (loader.pipeline) {
		gst_element_set_state(loader.pipeline, GST_STATE_NULL);
		gst_object_unref(loader.pipeline);
	}
	track_free(loader.video);
	track_free(loader.audio);
	g_free(loader.problem);
	g_mutex_clear(&loader.lock);
	return clip;
}
