/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fMP4 box writer and the codec facts it needs, against parameter sets recorded from the
 * test clips (x264 and x265 output, as matroskamux stored their avcC/hvcC).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/h26x-params.h"
#include "pipelines/mp4-boxes.h"

static GBytes *
hex_bytes(const char *hex)
{
	gsize size = strlen(hex) / 2;
	guint8 *data = g_malloc(size);

	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)(g_ascii_xdigit_value(hex[2 * i]) << 4 |
				   g_ascii_xdigit_value(hex[2 * i + 1]));
	return g_bytes_new_take(data, size);
}

static GPtrArray *
nal_array(const char *hex)
{
	GPtrArray *array = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);

	if (hex)
		g_ptr_array_add(array, hex_bytes(hex));
	return array;
}

static char *
bytes_hex(GBytes *bytes)
{
	gsize size;
	const guint8 *data = g_bytes_get_data(bytes, &size);
	GString *hex = g_string_new(NULL);

	for (gsize i = 0; i < size; i++)
		g_string_append_printf(hex, "%02x", data[i]);
	return g_string_free(hex, FALSE);
}

/* ---- H.264 ----------------------------------------------------------------------------------- */

typedef struct {
	const char *sps, *pps;
	guint profile, level, width, height, reorder;
	const char *codec;
	const char *avcc;
} H264Case;

static const H264Case h264_cases[] = {
	{ "6742c01eda0280bfe5c05a83030352800000030080000019478b1750", "68ce3c80", 66, 30, 640, 360,
	  0, "avc1.42c01e",
	  "0142c01effe1001c6742c01eda0280bfe5c05a83030352800000030080000019478b175001000468ce3c8"
	  "0" },
	{ "674d401fda014016ec05a808080a000003000200000300651e306540", "68ef3c80", 77, 31, 1280, 720,
	  0, "avc1.4d401f",
	  "014d401fffe1001c674d401fda014016ec05a808080a000003000200000300651e30654001000468ef3c8"
	  "0" },
	/* High: the record ends with chroma format and bit depths (14496-15 5.3.3.1.2). */
	{ "6764001facd9405005bb016a020202800000030080000019478c18cb", "68efbcb0", 100, 31, 1280,
	  720, 2, "avc1.64001f",
	  "0164001fffe1001c6764001facd9405005bb016a020202800000030080000019478c18cb01000468efbcb0"
	  "fdf8f800" },
};

START_TEST(test_h264_sps_and_avcc)
{
	const H264Case *c = &h264_cases[_i];
	g_autoptr(GBytes) sps = hex_bytes(c->sps);
	g_autoptr(GPtrArray) sps_array = nal_array(c->sps);
	g_autoptr(GPtrArray) pps_array = nal_array(c->pps);
	g_autoptr(GBytes) avcc = NULL;
	g_autofree char *codec = NULL, *hex = NULL;
	VlgSpsInfo info;

	ck_assert(vlg_h264_parse_sps(g_bytes_get_data(sps, NULL), g_bytes_get_size(sps), &info));
	ck_assert_uint_eq(info.profile_idc, c->profile);
	ck_assert_uint_eq(info.level_idc, c->level);
	ck_assert_uint_eq(info.width, c->width);
	ck_assert_uint_eq(info.height, c->height);
	ck_assert_uint_eq(info.max_reorder, c->reorder);
	ck_assert_uint_eq(info.fps_n * 1000 / info.fps_d, 25000);
	codec = vlg_h264_codec_string(&info);
	ck_assert_str_eq(codec, c->codec);
	avcc = vlg_h264_make_avcc(sps_array, pps_array);
	ck_assert_ptr_nonnull(avcc);
	hex = bytes_hex(avcc);
	ck_assert_str_eq(hex, c->avcc);
}
END_TEST

START_TEST(test_h264_refuses_garbage)
{
	static const guint8 not_sps[] = { 0x68, 0xce, 0x3c, 0x80 };
	static const guint8 truncated[] = { 0x67, 0x64, 0x00, 0x1f, 0xac };
	g_autoptr(GPtrArray) empty = nal_array(NULL);
	g_autoptr(GPtrArray) sps =
	    nal_array("674d401fda014016ec05a808080a000003000200000300651e306540");
	guint8 random[64];
	VlgSpsInfo info;

	ck_assert(!vlg_h264_parse_sps(not_sps, sizeof(not_sps), &info));
	ck_assert(!vlg_h264_parse_sps(truncated, sizeof(truncated), &info));
	ck_assert_ptr_null(vlg_h264_make_avcc(sps, empty));
	/* Random bytes after an SPS header must not crash or loop. */
	for (guint round = 0; round < 2000; round++) {
		for (guint i = 0; i < sizeof(random); i++)
			random[i] = (guint8)g_random_int();
		random[0] = 0x67;
		vlg_h264_parse_sps(random, 1 + round % sizeof(random), &info);
		random[0] = 0x42;
		random[1] = 0x01;
		vlg_h265_parse_sps(random, 1 + round % sizeof(random), &info);
	}
}
END_TEST

/* ---- H.265 ----------------------------------------------------------------------------------- */

#define X265_VPS "40010c01ffff01600000030090000003000003005dba0240"
#define X265_SPS                                                                                   \
	"42010101600000030090000003000003005da00280802d165ba924cafff000100016a0202020800000030080" \
	"00000c84"
#define X265_PPS "4401c172b46240"

START_TEST(test_h265_sps_and_hvcc)
{
	g_autoptr(GBytes) sps = hex_bytes(X265_SPS);
	g_autoptr(GPtrArray) vps_array = nal_array(X265_VPS);
	g_autoptr(GPtrArray) sps_array = nal_array(X265_SPS);
	g_autoptr(GPtrArray) pps_array = nal_array(X265_PPS);
	g_autoptr(GPtrArray) empty = nal_array(NULL);
	g_autoptr(GBytes) hvcc = NULL;
	g_autofree char *codec = NULL, *hex = NULL;
	VlgSpsInfo info;

	ck_assert(vlg_h265_parse_sps(g_bytes_get_data(sps, NULL), g_bytes_get_size(sps), &info));
	ck_assert_uint_eq(info.profile_idc, 1);
	ck_assert_uint_eq(info.level_idc, 93);
	ck_assert_uint_eq(info.width, 1280);
	ck_assert_uint_eq(info.height, 720);
	ck_assert_uint_eq(info.max_reorder, 0);
	ck_assert_uint_eq(info.chroma_format_idc, 1);
	codec = vlg_h265_codec_string(&info);
	ck_assert_str_eq(codec, "hvc1.1.6.L93.90");
	hvcc = vlg_h265_make_hvcc(vps_array, sps_array, pps_array);
	ck_assert_ptr_nonnull(hvcc);
	hex = bytes_hex(hvcc);
	/* x265's record, with array_completeness set (0xa0.. instead of 0x20..). */
	ck_assert_str_eq(hex, "0101600000009000000000005df000fcfdf8f800000f03"
			      "a000010018" X265_VPS "a100010030" X265_SPS "a200010007" X265_PPS);
	ck_assert_ptr_null(vlg_h265_make_hvcc(empty, sps_array, pps_array));
}
END_TEST

START_TEST(test_aac_codec_strings)
{
	static const guint8 lc[] = { 0x14, 0x08 };
	static const guint8 he[] = { 0x2b, 0x88 };
	static const guint8 escaped[] = { 0xf8, 0x40 }; /* object type 31 + 2 = 33 */
	g_autofree char *a = vlg_aac_codec_string(lc, sizeof(lc));
	g_autofree char *b = vlg_aac_codec_string(he, sizeof(he));
	g_autofree char *c = vlg_aac_codec_string(escaped, sizeof(escaped));

	ck_assert_str_eq(a, "mp4a.40.2");
	ck_assert_str_eq(b, "mp4a.40.5");
	ck_assert_str_eq(c, "mp4a.40.34");
	ck_assert_ptr_null(vlg_aac_codec_string(lc, 1));
}
END_TEST

/* ---- Annex-B --------------------------------------------------------------------------------- */

START_TEST(test_annexb_split)
{
	static const guint8 stream[] = { 0,    0,    0, 1, 0x09, 0xf0, 0,    0,    1,
					 0x67, 0xaa, 0, 0, 0,    0,    1,    0x68, 0xbb,
					 0,    0,    1, 0, 0,    1,    0x65, 0xcc, 0xdd };
	static const char *const expected[] = { "09f0", "67aa", "68bb", "65ccdd" };
	gsize offset = 0, size;
	const guint8 *nal;
	guint count = 0;

	while (vlg_annexb_next_nal(stream, sizeof(stream), &offset, &nal, &size)) {
		g_autoptr(GBytes) bytes = g_bytes_new(nal, size);
		g_autofree char *hex = bytes_hex(bytes);

		ck_assert_uint_lt(count, G_N_ELEMENTS(expected));
		ck_assert_str_eq(hex, expected[count]);
		count++;
	}
	ck_assert_uint_eq(count, G_N_ELEMENTS(expected));
	offset = 0;
	ck_assert(!vlg_annexb_next_nal(stream, 3, &offset, &nal, &size));
}
END_TEST

/* ---- Boxes ----------------------------------------------------------------------------------- */

/* The payload of the first child of type @type, after @skip bytes of the parent's own fields. */
static gboolean
find_child(const guint8 *data, gsize size, gsize skip, guint32 type, const guint8 **payload,
	   gsize *payload_size)
{
	gsize offset = skip;
	guint32 found;

	while (vlg_mp4_next_box(data, size, &offset, &found, payload, payload_size))
		if (found == type)
			return TRUE;
	return FALSE;
}

static guint32
be32(const guint8 *p)
{
	return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

START_TEST(test_init_segment_tree)
{
	g_autoptr(GBytes) avcc = hex_bytes(h264_cases[1].avcc);
	g_autoptr(GBytes) asc = hex_bytes("1408");
	VlgMp4Track tracks[] = {
		{ .track_id = 1,
		  .codec = VLG_MP4_CODEC_H264,
		  .timescale = 90000,
		  .width = 1280,
		  .height = 720,
		  .config = avcc },
		{ .track_id = 2,
		  .codec = VLG_MP4_CODEC_AAC,
		  .timescale = 16000,
		  .channels = 1,
		  .rate = 16000,
		  .config = asc },
	};
	g_autoptr(GBytes) init = vlg_mp4_make_init_segment(tracks, 2);
	gsize size, offset = 0, n, traks = 0;
	const guint8 *data = g_bytes_get_data(init, &size), *p, *moov, *q;
	guint32 type;
	gsize moov_size, qn;

	ck_assert(vlg_mp4_next_box(data, size, &offset, &type, &p, &n));
	ck_assert_uint_eq(type, VLG_MP4_FOURCC('f', 't', 'y', 'p'));
	ck_assert(vlg_mp4_next_box(data, size, &offset, &type, &moov, &moov_size));
	ck_assert_uint_eq(type, VLG_MP4_FOURCC('m', 'o', 'o', 'v'));
	ck_assert_uint_eq(offset, size);
	ck_assert(find_child(moov, moov_size, 0, VLG_MP4_FOURCC('m', 'v', 'h', 'd'), &p, &n));
	ck_assert_uint_eq(be32(p + n - 4), 3); /* next_track_ID */
	ck_assert(find_child(moov, moov_size, 0, VLG_MP4_FOURCC('m', 'v', 'e', 'x'), &p, &n));
	ck_assert(find_child(p, n, 0, VLG_MP4_FOURCC('t', 'r', 'e', 'x'), &q, &qn));
	offset = 0;
	while (vlg_mp4_next_box(moov, moov_size, &offset, &type, &p, &n)) {
		const guint8 *mdia, *minf, *stbl, *stsd, *entry, *record;
		gsize mdia_n, minf_n, stbl_n, stsd_n, entry_n, record_n;
		gboolean video = traks == 0;

		if (type != VLG_MP4_FOURCC('t', 'r', 'a', 'k'))
			continue;
		ck_assert(find_child(p, n, 0, VLG_MP4_FOURCC('t', 'k', 'h', 'd'), &q, &qn));
		ck_assert_uint_eq(be32(q + 12), video ? 1 : 2);
		ck_assert(find_child(p, n, 0, VLG_MP4_FOURCC('m', 'd', 'i', 'a'), &mdia, &mdia_n));
		ck_assert(find_child(mdia, mdia_n, 0, VLG_MP4_FOURCC('m', 'd', 'h', 'd'), &q, &qn));
		ck_assert_uint_eq(be32(q + 12), video ? 90000 : 16000);
		ck_assert(find_child(mdia, mdia_n, 0, VLG_MP4_FOURCC('m', 'i', 'n', 'f'), &minf,
				     &minf_n));
		ck_assert(find_child(minf, minf_n, 0, VLG_MP4_FOURCC('s', 't', 'b', 'l'), &stbl,
				     &stbl_n));
		ck_assert(find_child(stbl, stbl_n, 0, VLG_MP4_FOURCC('s', 't', 's', 'd'), &stsd,
				     &stsd_n));
		ck_assert(find_child(stbl, stbl_n, 0, VLG_MP4_FOURCC('s', 't', 's', 'z'), &q, &qn));
		if (video) {
			g_autoptr(GBytes) got = NULL;

			ck_assert(find_child(stsd, stsd_n, 8, VLG_MP4_FOURCC('a', 'v', 'c', '1'),
					     &entry, &entry_n));
			ck_assert_uint_eq(entry[24] << 8 | entry[25], 1280);
			ck_assert_uint_eq(entry[26] << 8 | entry[27], 720);
			ck_assert(find_child(entry, entry_n, 78, VLG_MP4_FOURCC('a', 'v', 'c', 'C'),
					     &record, &record_n));
			got = g_bytes_new(record, record_n);
			ck_assert(g_bytes_equal(got, avcc));
		} else {
			ck_assert(find_child(stsd, stsd_n, 8, VLG_MP4_FOURCC('m', 'p', '4', 'a'),
					     &entry, &entry_n));
			ck_assert_uint_eq(entry[16] << 8 | entry[17], 1); /* channels */
			ck_assert_uint_eq(be32(entry + 24) >> 16, 16000);
			ck_assert(find_child(entry, entry_n, 28, VLG_MP4_FOURCC('e', 's', 'd', 's'),
					     &record, &record_n));
			/* The AudioSpecificConfig sits in the DecoderSpecificInfo (tag 5). */
			ck_assert_ptr_nonnull(memmem(record, record_n, "\x05\x02\x14\x08", 4));
		}
		traks++;
	}
	ck_assert_uint_eq(traks, 2);
}
END_TEST

START_TEST(test_fragment_offsets)
{
	VlgMp4Sample video[] = { { 3600, 5, VLG_MP4_SAMPLE_SYNC, 7200 },
				 { 3600, 3, VLG_MP4_SAMPLE_NON_SYNC, 0 } };
	VlgMp4Sample audio[] = { { 1024, 4, VLG_MP4_SAMPLE_SYNC, 0 } };
	VlgMp4Run runs[] = { { 1, 90000ull * 3600 * 24, video, 2, TRUE },
			     { 7, 0, NULL, 0, FALSE },
			     { 2, 48000, audio, 1, FALSE } };
	g_autoptr(GByteArray) out = g_byte_array_new();
	const guint8 *moof, *mdat, *p, *traf;
	gsize offset = 0, moof_n, mdat_n, n, traf_n;
	guint32 type;
	guint trafs = 0;

	g_byte_array_append(out, (const guint8 *)"VVVVVvvvAAAA", 0); /* nothing yet */
	vlg_mp4_write_fragment_header(out, 42, runs, G_N_ELEMENTS(runs));
	g_byte_array_append(out, (const guint8 *)"VVVVVvvvAAAA", 12);
	ck_assert(vlg_mp4_next_box(out->data, out->len, &offset, &type, &moof, &moof_n));
	ck_assert_uint_eq(type, VLG_MP4_FOURCC('m', 'o', 'o', 'f'));
	ck_assert(vlg_mp4_next_box(out->data, out->len, &offset, &type, &mdat, &mdat_n));
	ck_assert_uint_eq(type, VLG_MP4_FOURCC('m', 'd', 'a', 't'));
	ck_assert_uint_eq(mdat_n, 12);
	ck_assert_uint_eq(offset, out->len);
	ck_assert(find_child(moof, moof_n, 0, VLG_MP4_FOURCC('m', 'f', 'h', 'd'), &p, &n));
	ck_assert_uint_eq(be32(p + 4), 42);
	offset = 0;
	while (vlg_mp4_next_box(moof, moof_n, &offset, &type, &traf, &traf_n)) {
		const guint8 *tfhd, *tfdt, *trun;
		gsize tfhd_n, tfdt_n, trun_n;
		guint32 data_offset;

		if (type != VLG_MP4_FOURCC('t', 'r', 'a', 'f'))
			continue;
		ck_assert(find_child(traf, traf_n, 0, VLG_MP4_FOURCC('t', 'f', 'h', 'd'), &tfhd,
				     &tfhd_n));
		ck_assert(find_child(traf, traf_n, 0, VLG_MP4_FOURCC('t', 'f', 'd', 't'), &tfdt,
				     &tfdt_n));
		ck_assert(find_child(traf, traf_n, 0, VLG_MP4_FOURCC('t', 'r', 'u', 'n'), &trun,
				     &trun_n));
		ck_assert_uint_eq(tfdt[0], 1); /* 64-bit */
		data_offset = be32(trun + 8);
		if (trafs == 0) {
			ck_assert_uint_eq(be32(tfhd + 4), 1);
			ck_assert_uint_eq(((guint64)be32(tfdt + 4) << 32 | be32(tfdt + 8)),
					  90000ull * 3600 * 24);
			ck_assert_uint_eq(be32(trun + 4), 2);
			ck_assert_uint_eq(be32(trun + 12 + 12), 7200); /* composition offset */
			ck_assert_int_eq(out->data[data_offset], 'V');
			ck_assert_int_eq(out->data[data_offset + 5], 'v');
		} else {
			ck_assert_uint_eq(be32(tfhd + 4), 2);
			ck_assert_uint_eq(be32(trun + 4), 1);
			ck_assert_int_eq(memcmp(out->data + data_offset, "AAAA", 4), 0);
		}
		trafs++;
	}
	ck_assert_uint_eq(trafs, 2); /* the empty run is left out */
}
END_TEST

static Suite *
mp4_boxes_suite(void)
{
	Suite *suite = suite_create("mp4-boxes");
	TCase *tc;

	tc = tcase_create("h264");
	tcase_add_loop_test(tc, test_h264_sps_and_avcc, 0, G_N_ELEMENTS(h264_cases));
	tcase_add_test(tc, test_h264_refuses_garbage);
	suite_add_tcase(suite, tc);
	tc = tcase_create("h265");
	tcase_add_test(tc, test_h265_sps_and_hvcc);
	suite_add_tcase(suite, tc);
	tc = tcase_create("aac");
	tcase_add_test(tc, test_aac_codec_strings);
	suite_add_tcase(suite, tc);
	tc = tcase_create("annex-b");
	tcase_add_test(tc, test_annexb_split);
	suite_add_tcase(suite, tc);
	tc = tcase_create("boxes");
	tcase_add_test(tc, test_init_segment_tree);
	tcase_add_test(tc, test_fragment_offsets);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(mp4_boxes_suite());
	int failed;

	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
