/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vlg-transcode-bench: N cameras, each pulled from URL and transcoded into one profile by its own
 * VlgTranscoder (pipelines/transcoder.h), for benchmarks. `none` pulls without transcoding (the
 * ingest's own cost, to subtract).
 *
 *   vlg-transcode-bench --url URL --profile sub|low|key|main|none --count N
 *                       [--warmup S] [--seconds S] [--threads T] [--sliced] [--preset P]
 *
 * Lines on stdout, flushed at once so that a benchmark can time its CPU samples:
 *
 *   transcode-bench t=SECONDS frames=TOTAL min=… max=…   every second (frames in that second)
 *   transcode-bench window-start                          after the warm-up
 *   transcode-bench window-end
 *   transcode-bench count=N profile=P min_fps=… mean_fps=… max_fps=… encoders=E decoders=D
 *                   dropped=… errors=…
 *
 * fps are output access units per second over the window, per transcoder; dropped counts access
 * units not fed to a decoder that fell behind, errors decoder pipelines that failed (both over
 * the whole run, all transcoders). Exit 0 when every
 * transcoder produced frames in the window, 1 otherwise, 2 on bad usage.
 *
 * Threads: the main thread runs the GLib loop and owns everything; encoder threads only bump the
 * atomic counters.
 */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/teardown.h"
#include "pipelines/transcoder.h"

#define BENCH_MAX_COUNT 256

typedef struct {
	VlgCameraInfo info;
	VlgCamera *camera;
	VlgTranscoder *transcoder;
	VlgHub *hub;
	VlgHubConsumer *consumer;
	gint frames;       /* atomic: output access units, ever */
	gint last_second;  /* frames at the last tick */
	gint window_start; /* frames at window-start */
} Bench;

typedef struct {
	char *url;
	char *profile_name;
	char *preset;
	gint count;
	gint warmup;
	gint seconds;
	gint threads;
	gboolean sliced;
} Options;

static const VlgProfile profiles[] = {
	{ "main", TRUE, FALSE, 0, 0, 0, 0 },
	{ "sub", FALSE, FALSE, 640, 360, 15, 600 },
	{ "low", FALSE, FALSE, 320, 180, 5, 150 },
	{ "key", FALSE, TRUE, 0, 0, 0, 0 },
};

static Bench benches[BENCH_MAX_COUNT];
static GMainLoop *loop;
static gint elapsed;
static gint64 window_start_us;
static gint64 window_end_us;

static void
count_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
}

static void
count_buffer(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	Bench *bench = data;

	if (track == VLG_TRACK_VIDEO)
		g_atomic_int_inc(&bench->frames);
}

static const VlgHubConsumerFuncs count_funcs = { count_caps, count_buffer, NULL };

static gboolean
on_tick(gpointer data)
{
	const Options *options = data;
	gint total = 0, min = G_MAXINT, max = 0;

	elapsed++;
	for (gint i = 0; i < options->count; i++) {
		gint now = g_atomic_int_get(&benches[i].frames);
		gint delta = now - benches[i].last_second;

		benches[i].last_second = now;
		total += delta;
		min = MIN(min, delta);
		max = MAX(max, delta);
	}
	printf("transcode-bench t=%d frames=%d min=%d max=%d\n", elapsed, total, min, max);
	if (elapsed == options->warmup) {
		for (gint i = 0; i < options->count; i++)
			benches[i].window_start = g_atomic_int_get(&benches[i].frames);
		window_start_us = g_get_monotonic_time();
		printf("transcode-bench window-start\n");
	}
	if (elapsed == options->warmup + options->seconds) {
		window_end_us = g_get_monotonic_time();
		printf("transcode-bench window-end\n");
		g_main_loop_quit(loop);
	}
	fflush(stdout);
	return G_SOURCE_CONTINUE;
}

static gboolean
parse_options(Options *options, int *argc, char ***argv)
{
	const GOptionEntry entries[] = {
		{ "url", 0, 0, G_OPTION_ARG_STRING, &options->url, "Camera URL", "URL" },
		{ "profile", 0, 0, G_OPTION_ARG_STRING, &options->profile_name,
		  "main, sub, low, key or none", "P" },
		{ "count", 0, 0, G_OPTION_ARG_INT, &options->count, "Transcoders (cameras)", "N" },
		{ "warmup", 0, 0, G_OPTION_ARG_INT, &options->warmup, "Seconds before the window",
		  "S" },
		{ "seconds", 0, 0, G_OPTION_ARG_INT, &options->seconds, "Window length", "S" },
		{ "threads", 0, 0, G_OPTION_ARG_INT, &options->threads, "x264 threads", "T" },
		{ "sliced", 0, 0, G_OPTION_ARG_NONE, &options->sliced, "x264 sliced threads",
		  NULL },
		{ "preset", 0, 0, G_OPTION_ARG_STRING, &options->preset, "x264 speed-preset", "P" },
		{ NULL },
	};
	g_autoptr(GOptionContext) context = g_option_context_new("- transcoder benchmark");
	g_autoptr(GError) error = NULL;

	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_add_group(context, gst_init_get_option_group());
	if (!g_option_context_parse(context, argc, argv, &error)) {
		fprintf(stderr, "vlg-transcode-bench: %s\n", error->message);
		return FALSE;
	}
	if (!options->url || !options->profile_name || options->count < 1 ||
	    options->count > BENCH_MAX_COUNT || options->warmup < 1 || options->seconds < 1) {
		fprintf(stderr,
			"vlg-transcode-bench: --url, --profile and --count (1-%d) are "
			"needed; --warmup and --seconds at least 1\n",
			BENCH_MAX_COUNT);
		return FALSE;
	}
	return TRUE;
}

static const VlgProfile *
find_profile(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(profiles); i++)
		if (g_str_equal(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}

static gboolean
start_bench(Bench *bench, gint index, const Options *options, const VlgProfile *profile)
{
	VlgCameraSettings camera_settings = {
		.ingest = { .timings = { .watchdog_us = 5 * G_USEC_PER_SEC,
					 .connect_timeout_us = 10 * G_USEC_PER_SEC,
					 .backoff = { 30000, 60000 } },
			    .latency_ms = 100 },
	};
	VlgTranscoderSettings settings = {
		.encoder_threads = (guint)options->threads,
		.sliced_threads = options->sliced,
		.speed_preset = options->preset,
	};
	g_autoptr(GError) error = NULL;

	bench->info.id = g_strdup_printf("bench-%02d", index);
	bench->info.name = bench->info.id;
	bench->info.url = options->url;
	bench->camera = vlg_camera_new(&bench->info, &camera_settings);
	if (!profile) {
		bench->consumer = vlg_camera_attach(bench->camera, &count_funcs, bench, NULL);
		return TRUE;
	}
	bench->transcoder = vlg_transcoder_new(bench->camera, &settings);
	bench->hub = vlg_transcoder_acquire(bench->transcoder, profile, &error);
	if (!bench->hub) {
		fprintf(stderr, "vlg-transcode-bench: %s\n", error->message);
		return FALSE;
	}
	bench->consumer = vlg_hub_attach(bench->hub, &count_funcs, bench, NULL);
	return TRUE;
}

static void
stop_bench(Bench *bench, const VlgProfile *profile)
{
	if (bench->hub) {
		vlg_hub_detach(bench->hub, bench->consumer);
		vlg_transcoder_release(bench->transcoder, profile);
	} else if (bench->consumer) {
		vlg_camera_detach(bench->camera, bench->consumer);
	}
	vlg_transcoder_free(bench->transcoder);
	vlg_camera_free(bench->camera);
	g_free(bench->info.id);
}

int
main(int argc, char **argv)
{
	Options options = { .count = 1, .warmup = 3, .seconds = 5, .threads = 1 };
	const VlgProfile *profile;
	double window_s, min = G_MAXDOUBLE, max = 0, sum = 0;
	guint encoders, decoders, errors = 0;
	guint64 dropped = 0;
	gboolean ok = TRUE;

	g_setenv("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
	if (!parse_options(&options, &argc, &argv))
		return 2;
	profile = find_profile(options.profile_name);
	if (!profile && !g_str_equal(options.profile_name, "none")) {
		fprintf(stderr, "vlg-transcode-bench: unknown profile %s\n", options.profile_name);
		return 2;
	}
	loop = g_main_loop_new(NULL, FALSE);
	for (gint i = 0; i < options.count && ok; i++)
		ok = start_bench(&benches[i], i, &options, profile);
	if (!ok)
		return 1;
	g_timeout_add_seconds(1, on_tick, &options);
	g_main_loop_run(loop);

	window_s = (window_end_us - window_start_us) / (double)G_USEC_PER_SEC;
	encoders = vlg_transcoder_running_encoders();
	decoders = vlg_transcoder_running_decoders();
	for (gint i = 0; i < options.count; i++) {
		double fps =
			(g_atomic_int_get(&benches[i].frames) - benches[i].window_start) / window_s;

		min = MIN(min, fps);
		max = MAX(max, fps);
		sum += fps;
		ok &= fps > 0;
		if (benches[i].transcoder) {
			VlgTranscoderStats stats;

			vlg_transcoder_get_stats(benches[i].transcoder, &stats);
			dropped += stats.frames_dropped;
			errors += stats.decoder_errors;
		}
	}
	printf("transcode-bench count=%d profile=%s min_fps=%.2f mean_fps=%.2f max_fps=%.2f "
	       "encoders=%u decoders=%u dropped=%" G_GUINT64_FORMAT " errors=%u\n",
	       options.count, options.profile_name, min, sum / options.count, max, encoders,
	       decoders, dropped, errors);
	fflush(stdout);
	for (gint i = 0; i < options.count; i++)
		stop_bench(&benches[i], profile);
	vlg_teardown_wait();
	g_main_loop_unref(loop);
	return ok ? 0 : 1;
}
