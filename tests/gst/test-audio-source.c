/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Audio source tests: cameras pulled from the simulator ($VLG_CAMSIM serving $VLG_MEDIA_DIR, one
 * camera per clip, started once for the suite) and the RTP packets their audio source publishes.
 * G.711 passes through in 20 ms packets, AAC comes out as Opus that decodes, a camera without
 * audio publishes nothing, and a camera that goes down and comes back resumes on one timeline.
 *
 * Check with CK_FORK: each test runs in its own process; the simulator, started by the parent,
 * dies with it (PR_SET_PDEATHSIG).
 */
#include <check.h>

#include "camsim-fixture.h"
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipelines/audio-source.h"
#include "pipelines/teardown.h"

#define PCMA_CLIP "h264-pcma-360p"
#define AAC_CLIP "h264-aac-360p"
#define SILENT_CLIP "h264-cbp-360p"

/* ---- what the source's hub publishes -------------------------------------------------------- */

typedef struct {
	guint8 payload_type;
	gboolean marker;
	guint16 sequence;
	guint32 timestamp;
	gsize payload_size;
	guint8 first_byte; /* of the payload: Opus's TOC */
	gboolean header_apart; /* the 12-byte header is a memory of its own */
	gint64 at_us;
} Packet;

/* Filled on the hub's producer thread, read on the test's: everything under lock. */
static struct {
	GMutex lock;
	GArray *packets; /* of Packet */
	GPtrArray *kept; /* the first packets themselves, for decoding */
	GstCaps *caps;
	guint resets;
	guint video_buffers; /* the camera's own hub, for the silent camera */
} seen; /* its static GMutex needs no init */

#define KEEP_PACKETS 150

/* The checked fixture: each test starts and ends with nothing seen (also with CK_FORK=no, where
 * the tests share this process and the leaks tracer looks at what is left). */
static void
seen_init(void)
{
	seen.packets = g_array_new(FALSE, TRUE, sizeof(Packet));
	seen.kept = g_ptr_array_new_with_free_func((GDestroyNotify)gst_buffer_unref);
}

static void
seen_clear(void)
{
	g_clear_pointer(&seen.packets, g_array_unref);
	g_clear_pointer(&seen.kept, g_ptr_array_unref);
	gst_clear_caps(&seen.caps);
	seen.resets = 0;
	seen.video_buffers = 0;
}

static void
on_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
	g_assert(track == VLG_TRACK_VIDEO);
	g_mutex_lock(&seen.lock);
	gst_caps_replace(&seen.caps, caps);
	g_mutex_unlock(&seen.lock);
}

static void
on_packet(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	Packet packet = { 0 };
	GstMapInfo map;

	g_assert(gst_buffer_map(buffer, &map, GST_MAP_READ));
	g_assert(map.size >= 12);
	packet.payload_type = map.data[1] & 0x7f;
	packet.marker = (map.data[1] & 0x80) != 0;
	packet.sequence = GST_READ_UINT16_BE(map.data + 2);
	packet.timestamp = GST_READ_UINT32_BE(map.data + 4);
	packet.payload_size = map.size - 12;
	packet.first_byte = map.size > 12 ? map.data[12] : 0;
	gst_buffer_unmap(buffer, &map);
	packet.header_apart =
		gst_buffer_n_memory(buffer) >= 2 &&
		gst_memory_get_sizes(gst_buffer_peek_memory(buffer, 0), NULL, NULL) == 12;
	packet.at_us = g_get_monotonic_time();
	g_mutex_lock(&seen.lock);
	g_array_append_val(seen.packets, packet);
	if (seen.kept->len < KEEP_PACKETS)
		g_ptr_array_add(seen.kept, gst_buffer_ref(buffer));
	g_mutex_unlock(&seen.lock);
}

static void
on_reset(gpointer data)
{
	g_mutex_lock(&seen.lock);
	seen.resets++;
	g_mutex_unlock(&seen.lock);
}

static const VlgHubConsumerFuncs packet_funcs = { on_caps, on_packet, on_reset };

static guint
packet_count(void)
{
	guint count;

	g_mutex_lock(&seen.lock);
	count = seen.packets->len;
	g_mutex_unlock(&seen.lock);
	return count;
}

static Packet
packet_at(guint i)
{
	Packet packet;

	g_mutex_lock(&seen.lock);
	packet = g_array_index(seen.packets, Packet, i);
	g_mutex_unlock(&seen.lock);
	return packet;
}

static gboolean
has_packets(gpointer data)
{
	return packet_count() >= GPOINTER_TO_UINT(data);
}

/* No packet for half a second (and at least one before). */
static gboolean
went_quiet(gpointer data)
{
	guint count = packet_count();

	return count > 0 &&
	       g_get_monotonic_time() - packet_at(count - 1).at_us > G_USEC_PER_SEC / 2;
}

/* Packets per second over @seconds of running. */
static double
measure_rate(double seconds)
{
	guint before = packet_count();

	vlg_test_run_for(seconds);
	return (packet_count() - before) / seconds;
}

/* Every packet from @first on follows the one before: one more in sequence, @samples later, no
 * marker; all with @payload_type. */
static void
assert_continuous(guint first, guint8 payload_type, guint32 samples)
{
	guint count = packet_count();

	for (guint i = first; i < count; i++) {
		Packet packet = packet_at(i), previous;

		ck_assert_uint_eq(packet.payload_type, payload_type);
		ck_assert_msg(packet.header_apart, "packet %u: header not a memory of its own", i);
		if (i == first)
			continue;
		previous = packet_at(i - 1);
		ck_assert_uint_eq((guint16)(packet.sequence - previous.sequence), 1);
		ck_assert_msg(packet.timestamp - previous.timestamp == samples,
			      "packet %u: timestamp %u after %u", i, packet.timestamp,
			      previous.timestamp);
		ck_assert_msg(!packet.marker, "packet %u: marker inside a talkspurt", i);
	}
}

static void
assert_caps(const char *encoding, gint clock_rate, gint payload_type)
{
	const GstStructure *s;
	gint value = 0;

	g_mutex_lock(&seen.lock);
	ck_assert_ptr_nonnull(seen.caps);
	s = gst_caps_get_structure(seen.caps, 0);
	ck_assert(gst_structure_has_name(s, "application/x-rtp"));
	ck_assert_str_eq(gst_structure_get_string(s, "media"), "audio");
	ck_assert_str_eq(gst_structure_get_string(s, "encoding-name"), encoding);
	ck_assert(gst_structure_get_int(s, "clock-rate", &value));
	ck_assert_int_eq(value, clock_rate);
	ck_assert(gst_structure_get_int(s, "payload", &value));
	ck_assert_int_eq(value, payload_type);
	if (g_str_equal(encoding, "OPUS"))
		ck_assert_str_eq(gst_structure_get_string(s, "encoding-params"), "2");
	g_mutex_unlock(&seen.lock);
}

/* ---- tests ---------------------------------------------------------------------------------- */

START_TEST(test_pcma_passes_through)
{
	VlgCamera *camera = vlg_test_camera_new(PCMA_CLIP);
	VlgAudioSource *source = vlg_audio_source_new(camera);
	VlgHubConsumer *consumer;
	double rate;

	ck_assert_int_eq(vlg_audio_source_get_codec(source), VLG_AUDIO_CODEC_NONE);
	consumer = vlg_hub_attach(vlg_audio_source_get_hub(source), &packet_funcs, NULL, NULL);
	ck_assert_msg(vlg_test_run_until(has_packets, GUINT_TO_POINTER(10), 10), "no PCMA packets");
	rate = measure_rate(2.0);
	g_printerr("PCMA: %.1f packets/s\n", rate);
	ck_assert_msg(rate > 40 && rate < 60, "%.1f packets/s", rate);

	ck_assert_int_eq(vlg_audio_source_get_codec(source), VLG_AUDIO_CODEC_PCMA);
	assert_caps("PCMA", 8000, 8);
	ck_assert(packet_at(0).marker);
	for (guint i = 0; i < packet_count(); i++)
		ck_assert_uint_eq(packet_at(i).payload_size, 160);
	assert_continuous(0, 8, 160);

	vlg_hub_detach(vlg_audio_source_get_hub(source), consumer);
	vlg_audio_source_free(source);
	vlg_test_camera_free(camera);
}
END_TEST

/* Frame duration in 48 kHz samples of an Opus TOC byte (RFC 6716 3.1), 0 if not one frame. */
static guint
opus_toc_samples(guint8 toc)
{
	static const guint silk[] = { 480, 960, 1920, 2880 }, celt[] = { 120, 240, 480, 960 };
	guint config = toc >> 3;

	if ((toc & 3) != 0)
		return 0;
	if (config < 12)
		return silk[config % 4];
	if (config < 16)
		return config % 2 ? 960 : 480;
	return celt[config % 4];
}

/* Depayloads and decodes the kept packets; returns the samples decoded and their mean square. */
static guint
decode_kept(double *power)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GstElement) pipeline = gst_parse_launch(
		"appsrc name=src format=time ! rtpopusdepay ! opusdec ! audioconvert ! "
		"audio/x-raw,format=S16LE,rate=48000,channels=1 ! appsink name=sink sync=false",
		&error);
	g_autoptr(GstElement) src = NULL, sink = NULL;
	GstSample *sample;
	double squares = 0;
	guint samples = 0;

	ck_assert_msg(pipeline, "%s", error ? error->message : "?");
	src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
	sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
	g_mutex_lock(&seen.lock);
	gst_app_src_set_caps(GST_APP_SRC(src), seen.caps);
	ck_assert_int_ne(gst_element_set_state(pipeline, GST_STATE_PLAYING),
			 GST_STATE_CHANGE_FAILURE);
	for (guint i = 0; i < seen.kept->len; i++)
		gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_ref(seen.kept->pdata[i]));
	g_mutex_unlock(&seen.lock);
	gst_app_src_end_of_stream(GST_APP_SRC(src));
	while ((sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 5 * GST_SECOND))) {
		GstMapInfo map;

		ck_assert(gst_buffer_map(gst_sample_get_buffer(sample), &map, GST_MAP_READ));
		for (gsize i = 0; i + 1 < map.size; i += 2, samples++) {
			/* The first 100 ms: the encoder and the decoder fade in. */
			if (samples >= 4800) {
				double value = GST_READ_UINT16_LE(map.data + i);

				value = (gint16)(guint16)value;
				squares += value * value;
			}
		}
		gst_buffer_unmap(gst_sample_get_buffer(sample), &map);
		gst_sample_unref(sample);
	}
	gst_element_set_state(pipeline, GST_STATE_NULL);
	*power = samples > 4800 ? squares / (samples - 4800) : 0;
	return samples;
}

START_TEST(test_aac_becomes_opus)
{
	VlgCamera *camera = vlg_test_camera_new(AAC_CLIP);
	VlgAudioSource *source = vlg_audio_source_new(camera);
	VlgHubConsumer *consumer;
	double rate, power = 0;
	guint kept, decoded;

	consumer = vlg_hub_attach(vlg_audio_source_get_hub(source), &packet_funcs, NULL, NULL);
	ck_assert_msg(vlg_test_run_until(has_packets, GUINT_TO_POINTER(10), 15), "no Opus packets");
	rate = measure_rate(2.0);
	g_printerr("Opus: %.1f packets/s\n", rate);
	ck_assert_msg(rate > 40 && rate < 60, "%.1f packets/s", rate);

	ck_assert_int_eq(vlg_audio_source_get_codec(source), VLG_AUDIO_CODEC_OPUS);
	assert_caps("OPUS", 48000, 111);
	ck_assert(packet_at(0).marker);
	for (guint i = 0; i < packet_count(); i++) {
		Packet packet = packet_at(i);

		ck_assert_uint_gt(packet.payload_size, 1);
		ck_assert_msg(opus_toc_samples(packet.first_byte) == 960, "TOC %#x",
			      packet.first_byte);
	}
	assert_continuous(0, 111, 960);

	/* The 660 Hz tone of the clip comes out of an Opus decoder. */
	g_mutex_lock(&seen.lock);
	kept = seen.kept->len;
	g_mutex_unlock(&seen.lock);
	decoded = decode_kept(&power);
	g_printerr("Opus: %u samples decoded from %u packets, mean square %.3g\n", decoded, kept,
		   power);
	ck_assert_msg(decoded >= kept * 960 * 9 / 10, "%u samples from %u packets", decoded, kept);
	/* An RMS above 2000 of 32767: the tone, not silence or noise. */
	ck_assert_msg(power > 2000.0 * 2000.0, "mean square %.0f: no tone", power);

	vlg_hub_detach(vlg_audio_source_get_hub(source), consumer);
	vlg_audio_source_free(source);
	vlg_test_camera_free(camera);
}
END_TEST

static void
count_video(gpointer data, VlgTrack track, GstBuffer *buffer)
{
	g_mutex_lock(&seen.lock);
	seen.video_buffers += track == VLG_TRACK_VIDEO;
	g_mutex_unlock(&seen.lock);
}

static void
ignore_caps(gpointer data, VlgTrack track, GstCaps *caps)
{
}

static const VlgHubConsumerFuncs video_funcs = { ignore_caps, count_video, NULL };

static gboolean
has_video(gpointer data)
{
	guint count;

	g_mutex_lock(&seen.lock);
	count = seen.video_buffers;
	g_mutex_unlock(&seen.lock);
	return count >= 50;
}

START_TEST(test_no_audio_no_packets)
{
	VlgCamera *camera = vlg_test_camera_new(SILENT_CLIP);
	VlgAudioSource *source = vlg_audio_source_new(camera);
	VlgHubConsumer *consumer, *video;

	consumer = vlg_hub_attach(vlg_audio_source_get_hub(source), &packet_funcs, NULL, NULL);
	video = vlg_camera_attach(camera, &video_funcs, NULL, NULL);
	/* Two seconds of video, then one more for any audio to show up. */
	ck_assert_msg(vlg_test_run_until(has_video, NULL, 10), "no video");
	vlg_test_run_for(1.0);

	ck_assert_int_eq(vlg_audio_source_get_codec(source), VLG_AUDIO_CODEC_NONE);
	ck_assert_uint_eq(packet_count(), 0);
	ck_assert_ptr_null(seen.caps);
	ck_assert_ptr_null(vlg_hub_get_caps(vlg_audio_source_get_hub(source), VLG_TRACK_VIDEO));

	vlg_camera_detach(camera, video);
	vlg_hub_detach(vlg_audio_source_get_hub(source), consumer);
	vlg_audio_source_free(source);
	vlg_test_camera_free(camera);
}
END_TEST

static const struct {
	const char *clip;
	guint8 payload_type;
	guint32 clock_rate;
	guint32 samples;
} restart_cases[] = {
	{ PCMA_CLIP, 8, 8000, 160 },
	{ AAC_CLIP, 111, 48000, 960 },
};

START_TEST(test_resumes_after_camera_restart)
{
	VlgCamera *camera = vlg_test_camera_new(restart_cases[_i].clip);
	VlgAudioSource *source = vlg_audio_source_new(camera);
	g_autofree char *down = g_strdup_printf("down %s", restart_cases[_i].clip);
	g_autofree char *up = g_strdup_printf("up %s", restart_cases[_i].clip);
	VlgHubConsumer *consumer;
	Packet last, next;
	guint before;
	double gap_s, stamped_s;

	consumer = vlg_hub_attach(vlg_audio_source_get_hub(source), &packet_funcs, NULL, NULL);
	ck_assert_msg(vlg_test_run_until(has_packets, GUINT_TO_POINTER(20), 15), "no packets");
	vlg_test_camsim_control(down);
	ck_assert_msg(vlg_test_run_until(went_quiet, NULL, 5), "packets still flow after 'down'");
	before = packet_count();
	last = packet_at(before - 1);
	vlg_test_camsim_control(up);
	ck_assert_msg(vlg_test_run_until(has_packets, GUINT_TO_POINTER(before + 20), 15),
		      "no packets after 'up'");

	g_mutex_lock(&seen.lock);
	ck_assert_uint_ge(seen.resets, 1);
	g_mutex_unlock(&seen.lock);
	next = packet_at(before);
	/* One stream for a viewer: the sequence runs on, the timeline goes forward by about the
	 * time the camera was away, and the marker says a talkspurt starts. */
	ck_assert_uint_eq((guint16)(next.sequence - last.sequence), 1);
	ck_assert_msg((gint32)(next.timestamp - last.timestamp) > 0, "timestamp %u after %u",
		      next.timestamp, last.timestamp);
	gap_s = (next.at_us - last.at_us) / (double)G_USEC_PER_SEC;
	stamped_s = (next.timestamp - last.timestamp) / (double)restart_cases[_i].clock_rate;
	g_printerr("%s: away %.3f s, stamped %.3f s\n", restart_cases[_i].clip, gap_s, stamped_s);
	ck_assert_msg(ABS(gap_s - stamped_s) < 0.1, "%.3f s away, stamped %.3f s", gap_s,
		      stamped_s);
	ck_assert(next.marker);
	ck_assert_int_eq(vlg_audio_source_get_codec(source),
			 _i ? VLG_AUDIO_CODEC_OPUS : VLG_AUDIO_CODEC_PCMA);
	/* The packets after the first one of the new session are plain again. */
	assert_continuous(before + 1, restart_cases[_i].payload_type, restart_cases[_i].samples);

	vlg_hub_detach(vlg_audio_source_get_hub(source), consumer);
	vlg_audio_source_free(source);
	vlg_test_camera_free(camera);
}
END_TEST

static Suite *
audio_source_suite(void)
{
	Suite *suite = suite_create("audio-source");
	TCase *tc = tcase_create("audio");

	tcase_add_unchecked_fixture(tc, vlg_test_camsim_start, vlg_test_camsim_stop);
	tcase_add_checked_fixture(tc, seen_init, seen_clear);
	tcase_add_test(tc, test_pcma_passes_through);
	tcase_add_test(tc, test_aac_becomes_opus);
	tcase_add_test(tc, test_no_audio_no_packets);
	tcase_add_loop_test(tc, test_resumes_after_camera_restart, 0,
			    G_N_ELEMENTS(restart_cases));
	tcase_set_timeout(tc, 40);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(int argc, char **argv)
{
	SRunner *runner;
	int failed;

	g_setenv("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
	gst_init(&argc, &argv);
	runner = srunner_create(audio_source_suite());
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	/* Lets GST_TRACERS=leaks report (with CK_FORK=no: each forked test exits without it). */
	gst_deinit();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
