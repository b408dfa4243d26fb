/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of linkage-camsim, the camera simulator, seen from an RTSP client. Each test spawns its
 * own simulator ($VLG_CAMSIM, serving $VLG_MEDIA_DIR on ports it picks, so tests can run side by
 * side) and pulls from it in-process with `rtspsrc ! rtph26Xdepay ! appsink`. Faults are injected
 * through the simulator's control socket.
 *
 * Check with CK_FORK: each test runs in its own process; the simulator dies with it
 * (PR_SET_PDEATHSIG) even when an assertion skips the teardown.
 */
#include <check.h>
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAMERA "h264-cbp-360p"
#define USER "viewer"
#define PASSWORD "s3cret"
/* rtspsrc's default jitterbuffer latency is 2 s: keep the tests short. */
#define LATENCY_MS 100

/* ---- the simulator process ----------------------------------------------------------------- */

typedef struct {
	GPid pid;
	guint rtsp_port;
	guint control_port;
	guint n_cameras;
} Camsim;

static Camsim sim;

static void
die_with_parent(gpointer user_data G_GNUC_UNUSED)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Read the ready line from @fd (blocking, bounded by the simulator's own start-up). */
static gboolean
read_ready_line(int fd, Camsim *camsim)
{
	gchar line[256];
	gsize len = 0;

	while (len < sizeof(line) - 1) {
		ssize_t n = read(fd, line + len, 1);

		if (n <= 0)
			return FALSE;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	return sscanf(line, "camsim ready rtsp=%u control=%u cameras=%u", &camsim->rtsp_port,
		      &camsim->control_port, &camsim->n_cameras) == 3;
}

static void
camsim_start(Camsim *camsim, const gchar *user, const gchar *password)
{
	const gchar *exe = g_getenv("VLG_CAMSIM");
	const gchar *media = g_getenv("VLG_MEDIA_DIR");
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	gint out = -1;

	ck_assert_msg(exe && media, "VLG_CAMSIM and VLG_MEDIA_DIR must be set");
	g_ptr_array_add(argv, (gpointer)exe);
	g_ptr_array_add(argv, "--port=0");
	g_ptr_array_add(argv, "--control-port=0");
	g_ptr_array_add(argv, "--media-dir");
	g_ptr_array_add(argv, (gpointer)media);
	if (user) {
		g_ptr_array_add(argv, "--user");
		g_ptr_array_add(argv, (gpointer)user);
		g_ptr_array_add(argv, "--password");
		g_ptr_array_add(argv, (gpointer)password);
	}
	g_ptr_array_add(argv, NULL);
	/* stderr (the simulator's event log) is inherited: it lands in the test log. */
	ck_assert_msg(g_spawn_async_with_pipes(NULL, (gchar **)argv->pdata, NULL,
					       G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent, NULL,
					       &camsim->pid, NULL, &out, NULL, &error),
		      "spawning %s: %s", exe, error ? error->message : "?");
	ck_assert_msg(read_ready_line(out, camsim), "no ready line from %s", exe);
	close(out);
}

/* Stop the simulator; returns its wait status. */
static int
camsim_stop(Camsim *camsim)
{
	int status = -1;

	if (camsim->pid <= 0)
		return status;
	kill(camsim->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(camsim->pid, &status, WNOHANG) == camsim->pid)
			break;
		g_usleep(50 * 1000);
		if (i == 99) {
			kill(camsim->pid, SIGKILL);
			waitpid(camsim->pid, &status, 0);
		}
	}
	g_spawn_close_pid(camsim->pid);
	camsim->pid = 0;
	return status;
}

static void
setup_camsim(void)
{
	camsim_start(&sim, NULL, NULL);
}

static void
setup_camsim_auth(void)
{
	camsim_start(&sim, USER, PASSWORD);
}

static void
teardown_camsim(void)
{
	camsim_stop(&sim);
}

/* Send one control command; returns every reply line (the last is "ok" or "error: ..."). */
static GStrv
control(const gchar *command)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GDataInputStream) in = NULL;
	g_autoptr(GStrvBuilder) lines = g_strv_builder_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *request = g_strdup_printf("%s\n", command);
	gchar *line;

	g_socket_client_set_timeout(client, 5);
	conn = g_socket_client_connect_to_host(client, "127.0.0.1", sim.control_port, NULL, &error);
	ck_assert_msg(conn, "control socket: %s", error ? error->message : "?");
	ck_assert(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
					    request, strlen(request), NULL, NULL, &error));
	in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
	while ((line = g_data_input_stream_read_line_utf8(in, NULL, NULL, &error))) {
		gboolean last = g_str_equal(line, "ok") || g_str_has_prefix(line, "error: ");

		g_strv_builder_add(lines, line);
		g_free(line);
		if (last)
			break;
	}
	return g_strv_builder_end(lines);
}

static void
control_ok(const gchar *command)
{
	g_auto(GStrv) reply = control(command);
	guint n = g_strv_length(reply);

	ck_assert_msg(n > 0 && g_str_equal(reply[n - 1], "ok"), "'%s' answered '%s'", command,
		      n ? reply[n - 1] : "nothing");
}

/* The `list` line of @camera. */
static gchar *
control_list_line(const gchar *camera)
{
	g_auto(GStrv) reply = control("list");
	g_autofree gchar *prefix = g_strconcat(camera, " ", NULL);

	for (guint i = 0; reply[i]; i++)
		if (g_str_has_prefix(reply[i], prefix))
			return g_strdup(reply[i]);
	ck_abort_msg("no list line for %s", camera);
	return NULL;
}

/* ---- the viewer: rtspsrc in this process ----------------------------------------------------- */

typedef struct {
	GstElement *pipeline;
	GMutex lock; /* guards everything below: appsinks and pad-added run in streaming threads */
	GArray *video_pts; /* GstClockTime per depayloaded video frame */
	guint audio_packets;
	gchar *video_encoding;
	gchar *audio_encoding;
	/* Set from the bus, in the test thread. */
	GError *error;
	gchar *error_debug;
	gboolean eos;
} Viewer;

static GstFlowReturn
on_video_sample(GstAppSink *sink, gpointer user_data)
{
	Viewer *viewer = user_data;
	GstSample *sample = gst_app_sink_pull_sample(sink);
	GstClockTime pts = GST_BUFFER_PTS(gst_sample_get_buffer(sample));

	g_mutex_lock(&viewer->lock);
	g_array_append_val(viewer->video_pts, pts);
	g_mutex_unlock(&viewer->lock);
	gst_sample_unref(sample);
	return GST_FLOW_OK;
}

static GstFlowReturn
on_audio_sample(GstAppSink *sink, gpointer user_data)
{
	Viewer *viewer = user_data;
	GstSample *sample = gst_app_sink_pull_sample(sink);

	g_mutex_lock(&viewer->lock);
	viewer->audio_packets++;
	g_mutex_unlock(&viewer->lock);
	gst_sample_unref(sample);
	return GST_FLOW_OK;
}

static GstElement *
make_sink(Viewer *viewer, gboolean video)
{
	GstAppSinkCallbacks callbacks = {.new_sample = video ? on_video_sample : on_audio_sample};
	GstElement *sink = gst_element_factory_make("appsink", NULL);

	g_object_set(sink, "sync", FALSE, NULL);
	gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, viewer, NULL);
	return sink;
}

/* Video through its depayloader (so frames are counted), audio as RTP packets. */
static void
on_pad_added(GstElement *src G_GNUC_UNUSED, GstPad *pad, gpointer user_data)
{
	Viewer *viewer = user_data;
	g_autoptr(GstCaps) caps = gst_pad_query_caps(pad, NULL);
	const GstStructure *s = gst_caps_get_structure(caps, 0);
	const gchar *media = gst_structure_get_string(s, "media");
	const gchar *encoding = gst_structure_get_string(s, "encoding-name");
	gboolean video = g_strcmp0(media, "video") == 0;
	GstElement *sink = make_sink(viewer, video);
	GstElement *depay = NULL;
	g_autoptr(GstPad) sinkpad = NULL;

	if (video)
		depay = gst_element_factory_make(
		    g_strcmp0(encoding, "H265") == 0 ? "rtph265depay" : "rtph264depay", NULL);
	g_mutex_lock(&viewer->lock);
	g_free(video ? viewer->video_encoding : viewer->audio_encoding);
	*(video ? &viewer->video_encoding : &viewer->audio_encoding) = g_strdup(encoding);
	g_mutex_unlock(&viewer->lock);
	gst_bin_add(GST_BIN(viewer->pipeline), sink);
	if (depay) {
		gst_bin_add(GST_BIN(viewer->pipeline), depay);
		gst_element_link(depay, sink);
		gst_element_sync_state_with_parent(depay);
	}
	gst_element_sync_state_with_parent(sink);
	sinkpad = gst_element_get_static_pad(depay ? depay : sink, "sink");
	/* A streaming thread: no assertion here; the frame counts tell. */
	if (gst_pad_link(pad, sinkpad) != GST_PAD_LINK_OK)
		g_warning("cannot link the %s stream (%s)", media, encoding);
}

/* @exact_times: frame times straight from the RTP timestamps (rtspsrc buffer-mode=none) rather
 * than smoothed against arrival times, which jitter by tens of ms on B-frame streams. */
static Viewer *
viewer_start_full(const gchar *camera, const gchar *protocols, const gchar *user,
		  const gchar *password, gboolean exact_times)
{
	Viewer *viewer = g_new0(Viewer, 1);
	GstElement *src = gst_element_factory_make("rtspsrc", NULL);
	g_autofree gchar *url = g_strdup_printf("rtsp://127.0.0.1:%u/%s", sim.rtsp_port, camera);

	ck_assert(src);
	g_mutex_init(&viewer->lock);
	viewer->video_pts = g_array_new(FALSE, FALSE, sizeof(GstClockTime));
	viewer->pipeline = gst_pipeline_new(NULL);
	gst_util_set_object_arg(G_OBJECT(src), "protocols", protocols);
	g_object_set(src, "location", url, "latency", LATENCY_MS, NULL);
	if (user)
		g_object_set(src, "user-id", user, "user-pw", password, NULL);
	if (exact_times)
		gst_util_set_object_arg(G_OBJECT(src), "buffer-mode", "none");
	g_signal_connect(src, "pad-added", G_CALLBACK(on_pad_added), viewer);
	gst_bin_add(GST_BIN(viewer->pipeline), src);
	ck_assert(gst_element_set_state(viewer->pipeline, GST_STATE_PLAYING) !=
		  GST_STATE_CHANGE_FAILURE);
	return viewer;
}

static Viewer *
viewer_start(const gchar *camera, const gchar *protocols, const gchar *user, const gchar *password)
{
	return viewer_start_full(camera, protocols, user, password, FALSE);
}

static void
viewer_stop(Viewer *viewer)
{
	gst_element_set_state(viewer->pipeline, GST_STATE_NULL);
	gst_object_unref(viewer->pipeline);
	g_array_unref(viewer->video_pts);
	g_clear_error(&viewer->error);
	g_free(viewer->error_debug);
	g_free(viewer->video_encoding);
	g_free(viewer->audio_encoding);
	g_mutex_clear(&viewer->lock);
	g_free(viewer);
}

static guint
viewer_frames(Viewer *viewer)
{
	guint n;

	g_mutex_lock(&viewer->lock);
	n = viewer->video_pts->len;
	g_mutex_unlock(&viewer->lock);
	return n;
}

static guint
viewer_audio_packets(Viewer *viewer)
{
	guint n;

	g_mutex_lock(&viewer->lock);
	n = viewer->audio_packets;
	g_mutex_unlock(&viewer->lock);
	return n;
}

static gboolean
viewer_ended(Viewer *viewer)
{
	return viewer->eos || viewer->error;
}

/* Take in bus messages for up to @ms. */
static void
viewer_poll(Viewer *viewer, guint ms)
{
	g_autoptr(GstBus) bus = gst_element_get_bus(viewer->pipeline);
	g_autoptr(GstMessage) msg =
	    gst_bus_timed_pop_filtered(bus, ms * GST_MSECOND, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);

	if (!msg)
		return;
	if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS)
		viewer->eos = TRUE;
	else if (!viewer->error)
		gst_message_parse_error(msg, &viewer->error, &viewer->error_debug);
}

/* Wait until @viewer has @frames video frames and @audio audio packets, or ends, or @ms pass. */
static gboolean
viewer_wait_media(Viewer *viewer, guint frames, guint audio, guint ms)
{
	gint64 deadline = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;

	while (g_get_monotonic_time() < deadline && !viewer_ended(viewer)) {
		if (viewer_frames(viewer) >= frames && viewer_audio_packets(viewer) >= audio)
			return TRUE;
		viewer_poll(viewer, 20);
	}
	return viewer_frames(viewer) >= frames && viewer_audio_packets(viewer) >= audio;
}

/* Wait up to @ms for EOS or an error. */
static gboolean
viewer_wait_end(Viewer *viewer, guint ms)
{
	gint64 deadline = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;

	while (g_get_monotonic_time() < deadline && !viewer_ended(viewer))
		viewer_poll(viewer, 20);
	return viewer_ended(viewer);
}

/* Let @ms pass while watching the bus. */
static void
viewer_idle(Viewer *viewer, guint ms)
{
	gint64 deadline = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;

	while (g_get_monotonic_time() < deadline && !viewer_ended(viewer))
		viewer_poll(viewer, 20);
}

static void
assert_playing(Viewer *viewer)
{
	ck_assert_msg(!viewer_ended(viewer), "stream ended: %s (%s)",
		      viewer->error ? viewer->error->message : "EOS",
		      viewer->error_debug ? viewer->error_debug : "");
}

/* ---- every clip serves --------------------------------------------------------------------- */

typedef struct {
	const gchar *camera;
	const gchar *video; /* RTP encoding-name */
	const gchar *audio; /* NULL: no audio stream */
} ClipCase;

static const ClipCase clip_cases[] = {
    {"h264-cbp-360p", "H264", NULL},	      {"h264-main-720p", "H264", NULL},
    {"h264-high-bframes-720p", "H264", NULL}, {"h265-main-720p", "H265", NULL},
    {"h264-pcma-360p", "H264", "PCMA"},	      {"h264-aac-360p", "H264", "MPEG4-GENERIC"},
};

START_TEST(test_every_clip_serves)
{
	const ClipCase *c = &clip_cases[_i];
	Viewer *viewer = viewer_start(c->camera, "tcp", NULL, NULL);

	ck_assert_uint_eq(sim.n_cameras, G_N_ELEMENTS(clip_cases));
	ck_assert_msg(viewer_wait_media(viewer, 25, c->audio ? 10 : 0, 10000),
		      "%s: %u frames, %u audio packets", c->camera, viewer_frames(viewer),
		      viewer_audio_packets(viewer));
	assert_playing(viewer);
	ck_assert_str_eq(viewer->video_encoding, c->video);
	if (c->audio)
		ck_assert_str_eq(viewer->audio_encoding, c->audio);
	else
		ck_assert_msg(!viewer->audio_encoding, "%s: unexpected audio %s", c->camera,
			      viewer->audio_encoding);
	viewer_stop(viewer);
}
END_TEST

/* ---- transports ---------------------------------------------------------------------------- */

static const gchar *const transports[] = {"tcp", "udp"};

START_TEST(test_transport)
{
	Viewer *viewer = viewer_start("h264-main-720p", transports[_i], NULL, NULL);

	ck_assert_msg(viewer_wait_media(viewer, 50, 0, 10000), "over %s: %u frames", transports[_i],
		      viewer_frames(viewer));
	assert_playing(viewer);
	viewer_stop(viewer);
}
END_TEST

/* ---- looping ------------------------------------------------------------------------------- */

static int
compare_clock_time(gconstpointer a, gconstpointer b)
{
	GstClockTime x = *(const GstClockTime *)a, y = *(const GstClockTime *)b;

	return (x > y) - (x < y);
}

/* Frame times must run on across the 10 s loop point: one frame every 40 ms, no step back, no
 * repeat, no hole. Frames of a B-frame stream come in decode order, so they are checked sorted. */
static void
assert_continuous(Viewer *viewer, const gchar *camera, gboolean sort)
{
	g_autoptr(GArray) pts = NULL;
	GstClockTime span;

	g_mutex_lock(&viewer->lock);
	pts = g_array_copy(viewer->video_pts);
	g_mutex_unlock(&viewer->lock);
	if (sort) {
		g_array_sort(pts, compare_clock_time);
		/* The B-frames shown before the last P-frame received are still on their way. */
		g_array_set_size(pts, pts->len - 3);
	}
	for (guint i = 1; i < pts->len; i++) {
		GstClockTime prev = g_array_index(pts, GstClockTime, i - 1);
		GstClockTime cur = g_array_index(pts, GstClockTime, i);

		ck_assert_msg(GST_CLOCK_TIME_IS_VALID(cur) && cur > prev &&
				  cur - prev > 39 * GST_MSECOND && cur - prev < 41 * GST_MSECOND,
			      "%s: frame %u at %" GST_TIME_FORMAT " after %" GST_TIME_FORMAT,
			      camera, i, GST_TIME_ARGS(cur), GST_TIME_ARGS(prev));
	}
	span = g_array_index(pts, GstClockTime, pts->len - 1) - g_array_index(pts, GstClockTime, 0);
	ck_assert_msg(span >= 11500 * GST_MSECOND, "%s: only %" GST_TIME_FORMAT " of video", camera,
		      GST_TIME_ARGS(span));
}

START_TEST(test_loops_continuously)
{
	Viewer *plain = viewer_start_full(CAMERA, "tcp", NULL, NULL, TRUE);
	Viewer *bframes = viewer_start_full("h264-high-bframes-720p", "tcp", NULL, NULL, TRUE);
	const guint frames = 12 * 25 + 5;

	/* Both pull at once: the clips are 10 s long, 12 s crosses a loop point. */
	ck_assert_msg(viewer_wait_media(plain, frames, 0, 16000), "%u frames",
		      viewer_frames(plain));
	ck_assert_msg(viewer_wait_media(bframes, frames, 0, 4000), "%u frames",
		      viewer_frames(bframes));
	viewer_poll(plain, 0);
	viewer_poll(bframes, 0);
	assert_playing(plain);
	assert_playing(bframes);
	assert_continuous(plain, CAMERA, FALSE);
	assert_continuous(bframes, "h264-high-bframes-720p", TRUE);
	viewer_stop(plain);
	viewer_stop(bframes);
}
END_TEST

/* ---- faults -------------------------------------------------------------------------------- */

START_TEST(test_down_drops_and_refuses)
{
	Viewer *viewer = viewer_start(CAMERA, "tcp", NULL, NULL);
	Viewer *refused, *back;
	g_autofree gchar *listed = NULL;

	ck_assert(viewer_wait_media(viewer, 10, 0, 10000));
	control_ok("down " CAMERA);
	ck_assert_msg(viewer_wait_end(viewer, 5000), "stream still up after 'down'");
	viewer_stop(viewer);

	refused = viewer_start(CAMERA, "tcp", NULL, NULL);
	ck_assert_msg(viewer_wait_end(refused, 5000), "down camera was not refused");
	ck_assert_msg(refused->error && strstr(refused->error_debug, "503"), "refusal: %s",
		      refused->error_debug ? refused->error_debug : "EOS");
	ck_assert_uint_eq(viewer_frames(refused), 0);
	viewer_stop(refused);
	listed = control_list_line(CAMERA);
	ck_assert_str_eq(listed, CAMERA " state=down clients=0");

	control_ok("up " CAMERA);
	back = viewer_start(CAMERA, "tcp", NULL, NULL);
	ck_assert_msg(viewer_wait_media(back, 10, 0, 10000), "no media after 'up'");
	viewer_stop(back);
}
END_TEST

static const struct {
	const gchar *command;
	gint code;
} status_cases[] = {
    {"status " CAMERA " 404", GST_RESOURCE_ERROR_NOT_FOUND},
    {"status " CAMERA " 401", GST_RESOURCE_ERROR_NOT_AUTHORIZED},
};

START_TEST(test_status_code)
{
	Viewer *viewer;

	control_ok(status_cases[_i].command);
	viewer = viewer_start(CAMERA, "tcp", NULL, NULL);
	ck_assert_msg(viewer_wait_end(viewer, 5000), "'%s' was not refused",
		      status_cases[_i].command);
	ck_assert_msg(viewer->error, "EOS instead of an error");
	ck_assert_msg(g_error_matches(viewer->error, GST_RESOURCE_ERROR, status_cases[_i].code),
		      "'%s' gave: %s", status_cases[_i].command, viewer->error->message);
	viewer_stop(viewer);
}
END_TEST

START_TEST(test_stall_keeps_connection)
{
	Viewer *viewer = viewer_start(CAMERA, "tcp", NULL, NULL);
	Viewer *late;
	g_autofree gchar *listed = NULL;
	guint before;

	ck_assert(viewer_wait_media(viewer, 10, 0, 10000));
	control_ok("stall " CAMERA);
	/* What was in flight (jitterbuffer latency) drains first. */
	viewer_idle(viewer, 500);
	before = viewer_frames(viewer);
	late = viewer_start(CAMERA, "tcp", NULL, NULL);
	viewer_idle(viewer, 2500);
	viewer_poll(late, 0);
	ck_assert_uint_eq(viewer_frames(viewer), before);
	assert_playing(viewer);
	/* A viewer joining a stalled camera gets a session and no media. */
	ck_assert_uint_eq(viewer_frames(late), 0);
	assert_playing(late);
	listed = control_list_line(CAMERA);
	ck_assert_str_eq(listed, CAMERA " state=stall clients=2");

	control_ok("up " CAMERA);
	ck_assert_msg(viewer_wait_media(viewer, before + 25, 0, 5000), "no media after 'up'");
	ck_assert_msg(viewer_wait_media(late, 25, 0, 5000), "no media for the late viewer");
	viewer_stop(viewer);
	viewer_stop(late);
}
END_TEST

/* ---- digest authentication ----------------------------------------------------------------- */

static const struct {
	const gchar *user;
	const gchar *password;
	gboolean admitted;
} auth_cases[] = {
    {NULL, NULL, FALSE},
    {USER, "wrong", FALSE},
    {"nobody", PASSWORD, FALSE},
    {USER, PASSWORD, TRUE},
};

START_TEST(test_digest_auth)
{
	Viewer *viewer = viewer_start(CAMERA, "tcp", auth_cases[_i].user, auth_cases[_i].password);

	if (auth_cases[_i].admitted) {
		ck_assert_msg(viewer_wait_media(viewer, 10, 0, 10000), "good credentials refused");
		assert_playing(viewer);
	} else {
		ck_assert_msg(viewer_wait_end(viewer, 5000), "bad credentials admitted");
		ck_assert_msg(viewer->error && g_error_matches(viewer->error, GST_RESOURCE_ERROR,
							       GST_RESOURCE_ERROR_NOT_AUTHORIZED),
			      "gave: %s", viewer->error ? viewer->error->message : "EOS");
		ck_assert_uint_eq(viewer_frames(viewer), 0);
	}
	viewer_stop(viewer);
}
END_TEST

/* ---- the control protocol and the process ---------------------------------------------------- */

START_TEST(test_control_protocol)
{
	g_auto(GStrv) list = control("list");
	static const gchar *const refused[] = {
	    "",
	    "reboot " CAMERA,
	    "down",
	    "down nosuchcamera",
	    "status " CAMERA " 500",
	    "status " CAMERA,
	    "up " CAMERA " extra",
	};

	ck_assert_uint_eq(g_strv_length(list), sim.n_cameras + 1);
	for (guint i = 0; i < sim.n_cameras; i++)
		ck_assert_msg(
		    g_regex_match_simple("^[a-z0-9-]+ state=normal clients=0$", list[i], 0, 0),
		    "list line '%s'", list[i]);
	ck_assert_str_eq(list[sim.n_cameras], "ok");
	for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
		g_auto(GStrv) reply = control(refused[i]);

		ck_assert_uint_eq(g_strv_length(reply), 1);
		ck_assert_msg(g_str_has_prefix(reply[0], "error: "), "'%s' answered '%s'",
			      refused[i], reply[0]);
	}
	control_ok("status " CAMERA " 503");
	g_free(control_list_line(CAMERA));
	control_ok("up " CAMERA);
}
END_TEST

START_TEST(test_exits_cleanly)
{
	Viewer *viewer = viewer_start("h264-aac-360p", "udp", NULL, NULL);
	int status;

	ck_assert(viewer_wait_media(viewer, 10, 1, 10000));
	status = camsim_stop(&sim);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status %d", status);
	viewer_stop(viewer);
}
END_TEST

/* ---- suite --------------------------------------------------------------------------------- */

static TCase *
camsim_tcase(const gchar *name, gboolean auth)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, auth ? setup_camsim_auth : setup_camsim, teardown_camsim);
	tcase_set_timeout(tc, 40);
	return tc;
}

static Suite *
camsim_suite(void)
{
	Suite *s = suite_create("camsim");
	TCase *tc;

	tc = camsim_tcase("serve", FALSE);
	tcase_add_loop_test(tc, test_every_clip_serves, 0, G_N_ELEMENTS(clip_cases));
	suite_add_tcase(s, tc);

	tc = camsim_tcase("transport", FALSE);
	tcase_add_loop_test(tc, test_transport, 0, G_N_ELEMENTS(transports));
	suite_add_tcase(s, tc);

	tc = camsim_tcase("loop", FALSE);
	tcase_add_test(tc, test_loops_continuously);
	suite_add_tcase(s, tc);

	tc = camsim_tcase("down", FALSE);
	tcase_add_test(tc, test_down_drops_and_refuses);
	suite_add_tcase(s, tc);

	tc = camsim_tcase("status", FALSE);
	tcase_add_loop_test(tc, test_status_code, 0, G_N_ELEMENTS(status_cases));
	suite_add_tcase(s, tc);

	tc = camsim_tcase("stall", FALSE);
	tcase_add_test(tc, test_stall_keeps_connection);
	suite_add_tcase(s, tc);

	tc = camsim_tcase("auth", TRUE);
	tcase_add_loop_test(tc, test_digest_auth, 0, G_N_ELEMENTS(auth_cases));
	suite_add_tcase(s, tc);

	tc = camsim_tcase("control", FALSE);
	tcase_add_test(tc, test_control_protocol);
	tcase_add_test(tc, test_exits_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	SRunner *runner;
	int failed;

	gst_init(&argc, &argv);
	runner = srunner_create(camsim_suite());
	/* TAP on stdout (as meson runs it) must not be mixed with Check's own report. */
	srunner_run_all(runner,
			g_strcmp0(g_getenv("CK_TAP_LOG_FILE_NAME"), "-") == 0 ? CK_SILENT : CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
