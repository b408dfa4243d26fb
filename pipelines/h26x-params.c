/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/h26x-params.h"

#include <string.h>

#include "pipelines/byte-writer.h"

/* An SPS is a few dozen bytes; anything past this is not one we want to parse. */
#define MAX_SPS_SIZE 4096

/* ---- Annex-B --------------------------------------------------------------------------------- */

/* Index of the first zero of the next 00 00 01 at or after @from, or @size. */
static gsize
find_start_code(const guint8 *data, gsize size, gsize from)
{
	gsize i = from + 2;

	while (i < size) {
		const guint8 *one = memchr(data + i, 1, size - i);

		if (!one)
			return size;
		i = (gsize)(one - data);
		if (data[i - 1] == 0 && data[i - 2] == 0)
			return i - 2;
		i++;
	}
	return size;
}

gboolean
vlg_annexb_next_nal(const guint8 *data, gsize size, gsize *offset, const guint8 **nal,
		    gsize *nal_size)
{
	gsize at = *offset;

	while (at < size) {
		gsize start = find_start_code(data, size, at), next, end;

		if (start >= size)
			break;
		start += 3;
		next = find_start_code(data, size, start);
		/* The zeros before the next start code (its fourth byte, trailing_zero_8bits) are
		 * not part of this unit. */
		end = next;
		while (end > start && data[end - 1] == 0)
			end--;
		at = next;
		if (end > start) {
			*nal = data + start;
			*nal_size = end - start;
			*offset = at;
			return TRUE;
		}
	}
	*offset = size;
	return FALSE;
}

guint
vlg_h264_nal_type(const guint8 *nal)
{
	return nal[0] & 0x1f;
}

guint
vlg_h265_nal_type(const guint8 *nal)
{
	return (nal[0] >> 1) & 0x3f;
}

/* ---- Bit reading ----------------------------------------------------------------------------- */

typedef struct {
	guint8 *data; /* RBSP: emulation prevention bytes removed */
	gsize size;
	gsize bit;
	gboolean overrun;
} BitReader;

static gboolean
bit_reader_init(BitReader *br, const guint8 *nal, gsize size, gsize header)
{
	gsize zeros = 0;

	memset(br, 0, sizeof(*br));
	if (size <= header || size > MAX_SPS_SIZE)
		return FALSE;
	br->data = g_malloc(size);
	for (gsize i = header; i < size; i++) {
		if (zeros >= 2 && nal[i] == 3) {
			zeros = 0;
			continue;
		}
		zeros = nal[i] == 0 ? zeros + 1 : 0;
		br->data[br->size++] = nal[i];
	}
	return TRUE;
}

static void
bit_reader_clear(BitReader *br)
{
	g_clear_pointer(&br->data, g_free);
}

static guint32
bits(BitReader *br, guint n)
{
	guint32 value = 0;

	for (guint i = 0; i < n; i++) {
		if (br->bit >= br->size * 8) {
			br->overrun = TRUE;
			return 0;
		}
		value = (value << 1) | ((br->data[br->bit / 8] >> (7 - br->bit % 8)) & 1);
		br->bit++;
	}
	return value;
}

static guint32
ue(BitReader *br)
{
	guint zeros = 0;

	while (!br->overrun && bits(br, 1) == 0)
		if (++zeros > 31) {
			br->overrun = TRUE;
			return 0;
		}
	if (br->overrun)
		return 0;
	return (guint32)(((guint64)1 << zeros) - 1 + bits(br, zeros));
}

static gint32
se(BitReader *br)
{
	guint32 code = ue(br);

	return (code & 1) ? (gint32)((code + 1) / 2) : -(gint32)(code / 2);
}

/* ---- H.264 SPS ------------------------------------------------------------------------------- */

static gboolean
h264_has_chroma_info(guint profile_idc)
{
	static const guint8 profiles[] = { 100, 110, 122, 244, 44,  83, 86,
					   118, 128, 138, 139, 134, 135 };

	return memchr(profiles, (int)profile_idc, sizeof(profiles)) != NULL;
}

static void
skip_scaling_list(BitReader *br, guint n)
{
	gint last = 8, next = 8;

	for (guint j = 0; j < n && !br->overrun; j++) {
		if (next != 0)
			next = (last + se(br) + 256) % 256;
		last = next == 0 ? last : next;
	}
}

static void
skip_hrd_parameters(BitReader *br)
{
	guint cpb_count = ue(br) + 1;

	if (cpb_count > 32) {
		br->overrun = TRUE;
		return;
	}
	bits(br, 8); /* bit_rate_scale, cpb_size_scale */
	for (guint i = 0; i < cpb_count && !br->overrun; i++) {
		ue(br);
		ue(br);
		bits(br, 1);
	}
	bits(br, 20); /* four delay/offset lengths */
}

static void
h264_parse_vui(BitReader *br, VlgSpsInfo *info)
{
	gboolean nal_hrd, vcl_hrd;

	if (bits(br, 1) && bits(br, 8) == 255) /* aspect_ratio_info, extended SAR */
		bits(br, 32);
	if (bits(br, 1)) /* overscan_info_present */
		bits(br, 1);
	if (bits(br, 1)) { /* video_signal_type_present */
		bits(br, 4);
		if (bits(br, 1))
			bits(br, 24);
	}
	if (bits(br, 1)) { /* chroma_loc_info_present */
		ue(br);
		ue(br);
	}
	if (bits(br, 1)) { /* timing_info_present */
		guint32 units = bits(br, 32), scale = bits(br, 32);

		bits(br, 1);
		if (units && scale && !br->overrun) {
			info->fps_n = scale;
			info->fps_d = 2 * units;
		}
	}
	nal_hrd = bits(br, 1);
	if (nal_hrd)
		skip_hrd_parameters(br);
	vcl_hrd = bits(br, 1);
	if (vcl_hrd)
		skip_hrd_parameters(br);
	if (nal_hrd || vcl_hrd)
		bits(br, 1); /* low_delay_hrd_flag */
	bits(br, 1);         /* pic_struct_present_flag */
	if (bits(br, 1)) {   /* bitstream_restriction_flag */
		guint reorder;

		bits(br, 1);
		for (guint i = 0; i < 4; i++)
			ue(br);
		reorder = ue(br);
		ue(br); /* max_dec_frame_buffering */
		if (!br->overrun && reorder <= 16)
			info->max_reorder = reorder;
	}
}

/* MaxDpbMbs of Table A-1 for a level_idc. */
static guint
h264_max_dpb_mbs(guint level_idc)
{
	static const struct {
		guint8 level;
		guint mbs;
	} table[] = { { 11, 900 },    { 20, 2376 },   { 21, 4752 },   { 30, 8100 },
		      { 31, 18000 },  { 32, 20480 },  { 41, 32768 },  { 42, 34816 },
		      { 50, 110400 }, { 52, 184320 }, { 255, 696320 } };

	if (level_idc <= 10)
		return 396;
	for (guint i = 0; i < G_N_ELEMENTS(table); i++)
		if (level_idc <= table[i].level)
			return table[i].mbs;
	return 696320;
}

static gboolean
h264_parse_frame_size(BitReader *br, VlgSpsInfo *info, gboolean separate_planes)
{
	guint width_mbs = ue(br) + 1, height_units = ue(br) + 1;
	gboolean frame_mbs_only = bits(br, 1);
	guint crop[4] = { 0 }, crop_x = 1, crop_y = 1, height_mbs;

	if (!frame_mbs_only)
		bits(br, 1);
	bits(br, 1); /* direct_8x8_inference_flag */
	if (bits(br, 1))
		for (guint i = 0; i < 4; i++)
			crop[i] = ue(br);
	if (br->overrun || width_mbs > 1024 || height_units > 1024)
		return FALSE;
	height_mbs = height_units * (frame_mbs_only ? 1 : 2);
	if (info->chroma_format_idc != 0 && !separate_planes) {
		crop_x = info->chroma_format_idc == 3 ? 1 : 2;
		crop_y = info->chroma_format_idc == 1 ? 2 : 1;
	}
	crop_y *= frame_mbs_only ? 1 : 2;
	if ((crop[0] + crop[1]) * crop_x >= width_mbs * 16 ||
	    (crop[2] + crop[3]) * crop_y >= height_mbs * 16)
		return FALSE;
	info->width = width_mbs * 16 - (crop[0] + crop[1]) * crop_x;
	info->height = height_mbs * 16 - (crop[2] + crop[3]) * crop_y;
	/* The level's DPB size: what a decoder must assume when the VUI does not say. */
	info->max_reorder = MIN(h264_max_dpb_mbs(info->level_idc) / (width_mbs * height_mbs), 16);
	return TRUE;
}

gboolean
vlg_h264_parse_sps(const guint8 *nal, gsize size, VlgSpsInfo *info)
{
	BitReader br;
	VlgSpsInfo parsed = { .chroma_format_idc = 1, .bit_depth_luma = 8, .bit_depth_chroma = 8 };
	gboolean separate_planes = FALSE, ok;

	if (size < 4 || vlg_h264_nal_type(nal) != VLG_H264_NAL_SPS ||
	    !bit_reader_init(&br, nal, size, 1))
		return FALSE;
	parsed.profile_idc = bits(&br, 8);
	parsed.constraint_flags = bits(&br, 8);
	parsed.level_idc = bits(&br, 8);
	ue(&br); /* seq_parameter_set_id */
	if (h264_has_chroma_info(parsed.profile_idc)) {
		parsed.chroma_format_idc = ue(&br);
		if (parsed.chroma_format_idc == 3)
			separate_planes = bits(&br, 1);
		parsed.bit_depth_luma = ue(&br) + 8;
		parsed.bit_depth_chroma = ue(&br) + 8;
		bits(&br, 1);       /* qpprime_y_zero_transform_bypass_flag */
		if (bits(&br, 1)) { /* seq_scaling_matrix_present_flag */
			for (guint i = 0; i < (parsed.chroma_format_idc != 3 ? 8u : 12u); i++)
				if (bits(&br, 1))
					skip_scaling_list(&br, i < 6 ? 16 : 64);
		}
	}
	ue(&br);           /* log2_max_frame_num_minus4 */
	switch (ue(&br)) { /* pic_order_cnt_type */
	case 0:
		ue(&br);
		break;
	case 1: {
		guint cycle;

		bits(&br, 1);
		se(&br);
		se(&br);
		cycle = ue(&br);
		for (guint i = 0; i < cycle && i < 256 && !br.overrun; i++)
			se(&br);
		break;
	}
	default:
		break;
	}
	ue(&br);      /* max_num_ref_frames */
	bits(&br, 1); /* gaps_in_frame_num_value_allowed_flag */
	ok = !br.overrun && parsed.chroma_format_idc <= 3 && parsed.bit_depth_luma <= 14 &&
	     parsed.bit_depth_chroma <= 14 && h264_parse_frame_size(&br, &parsed, separate_planes);
	/* Baseline has no B slices; the intra profiles (constraint_set3) do not reorder. */
	if (parsed.profile_idc == 66 ||
	    ((parsed.constraint_flags & 0x10) &&
	     (parsed.profile_idc == 44 || parsed.profile_idc == 86 || parsed.profile_idc == 100 ||
	      parsed.profile_idc == 110 || parsed.profile_idc == 122 || parsed.profile_idc == 244)))
		parsed.max_reorder = 0;
	if (ok && bits(&br, 1))
		h264_parse_vui(&br, &parsed); /* a truncated VUI leaves the defaults */
	bit_reader_clear(&br);
	if (ok)
		*info = parsed;
	return ok;
}

/* ---- H.265 SPS ------------------------------------------------------------------------------- */

static void
h265_parse_profile_tier_level(BitReader *br, VlgSpsInfo *info, guint max_sub_layers_minus1)
{
	gboolean profile_present[8] = { FALSE }, level_present[8] = { FALSE };

	info->profile_space = bits(br, 2);
	info->tier = bits(br, 1);
	info->profile_idc = bits(br, 5);
	info->compatibility_flags = bits(br, 32);
	for (guint i = 0; i < 6; i++)
		info->constraint_bytes[i] = bits(br, 8);
	info->level_idc = bits(br, 8);
	for (guint i = 0; i < max_sub_layers_minus1; i++) {
		profile_present[i] = bits(br, 1);
		level_present[i] = bits(br, 1);
	}
	if (max_sub_layers_minus1 > 0)
		for (guint i = max_sub_layers_minus1; i < 8; i++)
			bits(br, 2);
	for (guint i = 0; i < max_sub_layers_minus1; i++) {
		if (profile_present[i]) {
			bits(br, 32);
			bits(br, 32);
			bits(br, 24);
		}
		if (level_present[i])
			bits(br, 8);
	}
}

gboolean
vlg_h265_parse_sps(const guint8 *nal, gsize size, VlgSpsInfo *info)
{
	BitReader br;
	VlgSpsInfo parsed = { 0 };
	guint max_sub_layers_minus1, width, height, crop[4] = { 0 }, sub_w = 1, sub_h = 1;
	gboolean ordering_info, separate_planes = FALSE, ok;

	if (size < 4 || vlg_h265_nal_type(nal) != VLG_H265_NAL_SPS ||
	    !bit_reader_init(&br, nal, size, 2))
		return FALSE;
	bits(&br, 4); /* sps_video_parameter_set_id */
	max_sub_layers_minus1 = bits(&br, 3);
	if (max_sub_layers_minus1 > 6) {
		bit_reader_clear(&br);
		return FALSE;
	}
	parsed.max_sub_layers = max_sub_layers_minus1 + 1;
	parsed.temporal_id_nesting = bits(&br, 1);
	h265_parse_profile_tier_level(&br, &parsed, max_sub_layers_minus1);
	ue(&br); /* sps_seq_parameter_set_id */
	parsed.chroma_format_idc = ue(&br);
	/* Separate colour planes are cropped like 4:0:0. */
	if (parsed.chroma_format_idc == 3)
		separate_planes = bits(&br, 1);
	if (!separate_planes && (parsed.chroma_format_idc == 1 || parsed.chroma_format_idc == 2))
		sub_w = 2;
	if (!separate_planes && parsed.chroma_format_idc == 1)
		sub_h = 2;
	width = ue(&br);
	height = ue(&br);
	if (bits(&br, 1))
		for (guint i = 0; i < 4; i++)
			crop[i] = ue(&br);
	parsed.bit_depth_luma = ue(&br) + 8;
	parsed.bit_depth_chroma = ue(&br) + 8;
	ue(&br); /* log2_max_pic_order_cnt_lsb_minus4 */
	ordering_info = bits(&br, 1);
	for (guint i = ordering_info ? 0 : max_sub_layers_minus1; i <= max_sub_layers_minus1; i++) {
		ue(&br);
		parsed.max_reorder = ue(&br);
		ue(&br);
	}
	ok = !br.overrun && parsed.chroma_format_idc <= 3 && width > 0 && height > 0 &&
	     width <= 16888 && height <= 16888 && (crop[0] + crop[1]) * sub_w < width &&
	     (crop[2] + crop[3]) * sub_h < height && parsed.bit_depth_luma <= 16 &&
	     parsed.bit_depth_chroma <= 16 && parsed.max_reorder <= 16;
	if (ok) {
		parsed.width = width - (crop[0] + crop[1]) * sub_w;
		parsed.height = height - (crop[2] + crop[3]) * sub_h;
		*info = parsed;
	}
	bit_reader_clear(&br);
	return ok;
}

/* ---- Decoder configuration records ----------------------------------------------------------- */

static gboolean
put_nal_array(GByteArray *out, GPtrArray *nals)
{
	for (guint i = 0; i < nals->len; i++) {
		gsize size = g_bytes_get_size(nals->pdata[i]);

		if (size > G_MAXUINT16)
			return FALSE;
		vlg_put16(out, (guint)size);
		vlg_put_bytes(out, nals->pdata[i]);
	}
	return TRUE;
}

static GBytes *
finish_record(GByteArray *out, gboolean ok)
{
	if (!ok) {
		g_byte_array_unref(out);
		return NULL;
	}
	return g_byte_array_free_to_bytes(out);
}

GBytes *
vlg_h264_make_avcc(GPtrArray *sps, GPtrArray *pps)
{
	GByteArray *out;
	VlgSpsInfo info;
	gsize size;
	const guint8 *first;
	gboolean ok;

	if (sps->len == 0 || sps->len > 31 || pps->len == 0 || pps->len > 255)
		return NULL;
	first = g_bytes_get_data(sps->pdata[0], &size);
	if (!vlg_h264_parse_sps(first, size, &info))
		return NULL;
	out = g_byte_array_new();
	vlg_put8(out, 1);
	vlg_put8(out, first[1]); /* profile, constraint flags, level: as in the SPS */
	vlg_put8(out, first[2]);
	vlg_put8(out, first[3]);
	vlg_put8(out, 0xfc | 3); /* four-byte NAL unit lengths */
	vlg_put8(out, 0xe0 | sps->len);
	ok = put_nal_array(out, sps);
	vlg_put8(out, pps->len);
	ok = ok && put_nal_array(out, pps);
	if (info.profile_idc == 100 || info.profile_idc == 110 || info.profile_idc == 122 ||
	    info.profile_idc == 144) {
		vlg_put8(out, 0xfc | info.chroma_format_idc);
		vlg_put8(out, 0xf8 | (info.bit_depth_luma - 8));
		vlg_put8(out, 0xf8 | (info.bit_depth_chroma - 8));
		vlg_put8(out, 0); /* numOfSequenceParameterSetExt */
	}
	return finish_record(out, ok);
}

GBytes *
vlg_h265_make_hvcc(GPtrArray *vps, GPtrArray *sps, GPtrArray *pps)
{
	static const guint types[] = { VLG_H265_NAL_VPS, VLG_H265_NAL_SPS, VLG_H265_NAL_PPS };
	GPtrArray *arrays[] = { vps, sps, pps };
	GByteArray *out;
	VlgSpsInfo info;
	gsize size;
	const guint8 *first;
	gboolean ok = TRUE;

	for (guint i = 0; i < G_N_ELEMENTS(arrays); i++)
		if (arrays[i]->len == 0 || arrays[i]->len > G_MAXUINT16)
			return NULL;
	first = g_bytes_get_data(sps->pdata[0], &size);
	if (!vlg_h265_parse_sps(first, size, &info))
		return NULL;
	out = g_byte_array_new();
	vlg_put8(out, 1);
	vlg_put8(out, (info.profile_space << 6) | (info.tier << 5) | info.profile_idc);
	vlg_put32(out, info.compatibility_flags);
	g_byte_array_append(out, info.constraint_bytes, 6);
	vlg_put8(out, info.level_idc);
	vlg_put16(out, 0xf000); /* min_spatial_segmentation_idc: unknown */
	vlg_put8(out, 0xfc);    /* parallelismType: unknown */
	vlg_put8(out, 0xfc | info.chroma_format_idc);
	vlg_put8(out, 0xf8 | (info.bit_depth_luma - 8));
	vlg_put8(out, 0xf8 | (info.bit_depth_chroma - 8));
	vlg_put16(out, 0); /* avgFrameRate: unspecified */
	vlg_put8(out, (info.max_sub_layers << 3) | (info.temporal_id_nesting << 2) | 3);
	vlg_put8(out, G_N_ELEMENTS(arrays));
	for (guint i = 0; i < G_N_ELEMENTS(arrays) && ok; i++) {
		vlg_put8(out, 0x80 | types[i]); /* array_completeness */
		vlg_put16(out, arrays[i]->len);
		ok = put_nal_array(out, arrays[i]);
	}
	return finish_record(out, ok);
}

char *
vlg_h264_codec_string(const VlgSpsInfo *sps)
{
	return g_strdup_printf("avc1.%02x%02x%02x", sps->profile_idc, sps->constraint_flags,
			       sps->level_idc);
}

char *
vlg_h265_codec_string(const VlgSpsInfo *sps)
{
	GString *codec = g_string_new("hvc1.");
	guint32 reversed = 0;
	guint last = 6;

	if (sps->profile_space > 0)
		g_string_append_c(codec, (char)('A' + sps->profile_space - 1));
	for (guint i = 0; i < 32; i++)
		if (sps->compatibility_flags & (1u << i))
			reversed |= 1u << (31 - i);
	g_string_append_printf(codec, "%u.%X.%c%u", sps->profile_idc, reversed,
			       sps->tier ? 'H' : 'L', sps->level_idc);
	while (last > 0 && sps->constraint_bytes[last - 1] == 0)
		last--;
	for (guint i = 0; i < last; i++)
		g_string_append_printf(codec, ".%X", sps->constraint_bytes[i]);
	return g_string_free(codec, FALSE);
}
