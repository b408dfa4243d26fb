/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Our packetizer against GStreamer's depayloaders: what rtph264depay/rtph265depay rebuild from our
 * packets must be the access unit we packetized, byte for byte.
 */
#include <check.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/rtp-packetizer.h"

#define MTU 1200

/* An Annex-B access unit of @count NAL units with 4-byte start codes; unit i has @sizes[i] bytes
 * and starts with the header bytes @headers[i] (1 byte for H.264, 2 for H.265). */
static GstBuffer *
make_access_unit(const guint8 (*headers)[2], gsize header_size, const gsize *sizes, guint count,
		 gboolean keyframe, GstClockTime pts)
{
	GByteArray *bytes = g_byte_array_new();
	GstBuffer *buffer;

	for (guint i = 0; i < count; i++) {
		static const guint8 start[] = { 0, 0, 0, 1 };

		g_byte_array_append(bytes, start, 4);
		g_byte_array_append(bytes, headers[i], header_size);
		for (gsize b = header_size; b < sizes[i]; b++) {
			/* Never 0 so that no start code appears inside a unit. */
			guint8 value = (guint8)(1 + (b * 7 + i) % 250);

			g_byte_array_append(bytes, &value, 1);
		}
	}
	buffer = gst_buffer_new_wrapped(bytes->data, bytes->len);
	g_byte_array_free(bytes, FALSE);
	GST_BUFFER_PTS(buffer) = pts;
	if (!keyframe)
		GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
	return buffer;
}

typedef struct {
	GPtrArray *packets;
} Collected;

static void
collect(GstBuffer *packet, gpointer data)
{
	g_ptr_array_add(((Collected *)data)->packets, packet);
}

static void
check_packets(GPtrArray *packets, guint32 timestamp, gboolean keyframe)
{
	guint16 previous = 0;

	for (guint i = 0; i < packets->len; i++) {
		GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
		GstBuffer *packet = packets->pdata[i];

		ck_assert_uint_le(gst_buffer_get_size(packet), MTU);
		ck_assert(gst_rtp_buffer_map(packet, GST_MAP_READ, &rtp));
		ck_assert_uint_eq(gst_rtp_buffer_get_payload_type(&rtp), 96);
		ck_assert_uint_eq(gst_rtp_buffer_get_ssrc(&rtp), 0x1234);
		ck_assert_uint_eq(gst_rtp_buffer_get_timestamp(&rtp), timestamp);
		ck_assert_int_eq(gst_rtp_buffer_get_marker(&rtp), i + 1 == packets->len);
		if (i > 0)
			ck_assert_uint_eq(gst_rtp_buffer_get_seq(&rtp), (guint16)(previous + 1));
		previous = gst_rtp_buffer_get_seq(&rtp);
		gst_rtp_buffer_unmap(&rtp);
		ck_assert_int_eq(!GST_BUFFER_FLAG_IS_SET(packet, GST_BUFFER_FLAG_DELTA_UNIT),
				 keyframe && i == 0);
	}
}

/* Runs @packets through the depayloader and returns what comes out, as one buffer. */
static GstBuffer *
depayload(VlgRtpCodec codec, GPtrArray *packets)
{
	const char *launch = codec == VLG_RTP_CODEC_H264 ?
				     "appsrc name=src format=time ! rtph264depay ! "
				     "video/x-h264,stream-format=byte-stream,alignment=au ! "
				     "appsink name=sink sync=false" :
				     "appsrc name=src format=time ! rtph265depay ! "
				     "video/x-h265,stream-format=byte-stream,alignment=au ! "
				     "appsink name=sink sync=false";
	g_autoptr(GstElement) pipeline = gst_parse_launch(launch, NULL);
	g_autoptr(GstElement) src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
	g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
	g_autoptr(GstCaps) caps = gst_caps_new_simple(
		"application/x-rtp", "media", G_TYPE_STRING, "video", "clock-rate", G_TYPE_INT, 90000,
		"encoding-name", G_TYPE_STRING, codec == VLG_RTP_CODEC_H264 ? "H264" : "H265",
		"payload", G_TYPE_INT, 96, NULL);
	GstBuffer *out = gst_buffer_new();
	GstSample *sample;

	g_object_set(src, "caps", caps, NULL);
	gst_element_set_state(pipeline, GST_STATE_PLAYING);
	for (guint i = 0; i < packets->len; i++)
		gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_ref(packets->pdata[i]));
	gst_app_src_end_of_stream(GST_APP_SRC(src));
	while ((sample = gst_app_sink_pull_sample(GST_APP_SINK(sink)))) {
		out = gst_buffer_append(out, gst_buffer_ref(gst_sample_get_buffer(sample)));
		gst_sample_unref(sample);
	}
	gst_element_set_state(pipeline, GST_STATE_NULL);
	return out;
}

static void
assert_same_bytes(GstBuffer *a, GstBuffer *b)
{
	GstMapInfo ma, mb;

	ck_assert(gst_buffer_map(a, &ma, GST_MAP_READ));
	ck_assert(gst_buffer_map(b, &mb, GST_MAP_READ));
	ck_assert_uint_eq(ma.size, mb.size);
	ck_assert_int_eq(memcmp(ma.data, mb.data, ma.size), 0);
	gst_buffer_unmap(a, &ma);
	gst_buffer_unmap(b, &mb);
}

static const struct {
	VlgRtpCodec codec;
	gsize sizes[3];
	guint expected_packets;
} table[] = {
	/* SPS, PPS, IDR slice small enough for one packet each */
	{ VLG_RTP_CODEC_H264, { 20, 6, 900 }, 3 },
	/* a 5,000-byte slice: 5 fragments of up to 1,186 payload bytes */
	{ VLG_RTP_CODEC_H264, { 20, 6, 5000 }, 2 + 5 },
	/* exactly one MTU of payload: still a single packet */
	{ VLG_RTP_CODEC_H264, { 20, 6, MTU - 12 }, 3 },
	{ VLG_RTP_CODEC_H264, { 20, 6, MTU - 11 }, 4 },
	{ VLG_RTP_CODEC_H265, { 24, 40, 900 }, 3 },
	{ VLG_RTP_CODEC_H265, { 24, 40, 7000 }, 2 + 6 },
};

START_TEST(test_round_trip)
{
	/* H.264: SPS (7), PPS (8), IDR (5); H.265: VPS (32), SPS (33), IDR_W_RADL (19). */
	static const guint8 h264_headers[3][2] = { { 0x67 }, { 0x68 }, { 0x65 } };
	static const guint8 h265_headers[3][2] = { { 32 << 1, 1 }, { 33 << 1, 1 }, { 19 << 1, 1 } };
	VlgRtpCodec codec = table[_i].codec;
	g_autoptr(GstBuffer) access_unit =
		make_access_unit(codec == VLG_RTP_CODEC_H264 ? h264_headers : h265_headers,
				 codec == VLG_RTP_CODEC_H264 ? 1 : 2, table[_i].sizes, 3, TRUE,
				 GST_SECOND);
	VlgRtpPacketizer *packetizer = vlg_rtp_packetizer_new(codec, 96, 0x1234, MTU);
	Collected collected = { g_ptr_array_new_with_free_func((GDestroyNotify)gst_buffer_unref) };
	g_autoptr(GstBuffer) rebuilt = NULL;

	ck_assert_uint_eq(vlg_rtp_packetizer_push(packetizer, access_unit, collect, &collected),
			  table[_i].expected_packets);
	ck_assert_uint_eq(collected.packets->len, table[_i].expected_packets);
	check_packets(collected.packets, 90000, TRUE);
	rebuilt = depayload(codec, collected.packets);
	assert_same_bytes(access_unit, rebuilt);
	g_ptr_array_unref(collected.packets);
	vlg_rtp_packetizer_free(packetizer);
}
END_TEST

START_TEST(test_delta_and_sequence_across_units)
{
	static const guint8 headers[1][2] = { { 0x41 } };
	static const gsize sizes[] = { 3000 };
	VlgRtpPacketizer *packetizer = vlg_rtp_packetizer_new(VLG_RTP_CODEC_H264, 96, 0x1234, MTU);
	Collected collected = { g_ptr_array_new_with_free_func((GDestroyNotify)gst_buffer_unref) };

	for (int i = 0; i < 3; i++) {
		g_autoptr(GstBuffer) au = make_access_unit(headers, 1, sizes, 1, FALSE, GST_SECOND);

		vlg_rtp_packetizer_push(packetizer, au, collect, &collected);
	}
	/* Three units of 3 fragments: sequence numbers run on, every packet is a delta. */
	ck_assert_uint_eq(collected.packets->len, 9);
	for (guint i = 0; i < 9; i++)
		ck_assert(GST_BUFFER_FLAG_IS_SET(collected.packets->pdata[i],
						 GST_BUFFER_FLAG_DELTA_UNIT));
	g_ptr_array_unref(collected.packets);
	vlg_rtp_packetizer_free(packetizer);
}
END_TEST

START_TEST(test_garbage_is_not_packetized)
{
	static const guint8 junk[] = { 1, 2, 3, 4, 5 };
	g_autoptr(GstBuffer) buffer = gst_buffer_new_memdup(junk, sizeof(junk));
	g_autoptr(GstBuffer) empty = gst_buffer_new();
	VlgRtpPacketizer *packetizer = vlg_rtp_packetizer_new(VLG_RTP_CODEC_H264, 96, 1, MTU);
	Collected collected = { g_ptr_array_new_with_free_func((GDestroyNotify)gst_buffer_unref) };

	ck_assert_uint_eq(vlg_rtp_packetizer_push(packetizer, buffer, collect, &collected), 0);
	ck_assert_uint_eq(vlg_rtp_packetizer_push(packetizer, empty, collect, &collected), 0);
	g_ptr_array_unref(collected.packets);
	vlg_rtp_packetizer_free(packetizer);
}
END_TEST

START_TEST(test_timestamps)
{
	ck_assert_uint_eq(vlg_rtp_timestamp_from_pts(0), 0);
	ck_assert_uint_eq(vlg_rtp_timestamp_from_pts(GST_SECOND), 90000);
	ck_assert_uint_eq(vlg_rtp_timestamp_from_pts(40 * GST_MSECOND), 3600);
	ck_assert_uint_eq(vlg_rtp_timestamp_from_pts(GST_CLOCK_TIME_NONE), 0);
}
END_TEST

static Suite *
packetizer_suite(void)
{
	Suite *suite = suite_create("rtp-packetizer");
	TCase *tc = tcase_create("round trip through GStreamer's depayloaders");

	tcase_add_loop_test(tc, test_round_trip, 0, G_N_ELEMENTS(table));
	suite_add_tcase(suite, tc);
	tc = tcase_create("packets");
	tcase_add_test(tc, test_delta_and_sequence_across_units);
	tcase_add_test(tc, test_garbage_is_not_packetized);
	tcase_add_test(tc, test_timestamps);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(int argc, char **argv)
{
	SRunner *runner;
	int failed;

	gst_init(&argc, &argv);
	runner = srunner_create(packetizer_suite());
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
