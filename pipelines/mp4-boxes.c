/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/mp4-boxes.h"

#include <string.h>

/* An SPS is a few dozen bytes; anything past this is not one we want to parse. */
#define MAX_SPS_SIZE 4096
#define MAX_AAC_CONFIG 64

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

/* ---- Byte writing ---------------------------------------------------------------------------- */

static void
put8(GByteArray *out, guint value)
{
	guint8 byte = (guint8)value;

	g_byte_array_append(out, &byte, 1);
}

static void
put16(GByteArray *out, guint value)
{
	guint8 bytes[2] = { (guint8)(value >> 8), (guint8)value };

	g_byte_array_append(out, bytes, 2);
}

static void
put32(GByteArray *out, guint32 value)
{
	guint8 bytes[4] = { (guint8)(value >> 24), (guint8)(value >> 16), (guint8)(value >> 8),
			    (guint8)value };

	g_byte_array_append(out, bytes, 4);
}

static void
put64(GByteArray *out, guint64 value)
{
	put32(out, (guint32)(value >> 32));
	put32(out, (guint32)value);
}

static void
put_zeros(GByteArray *out, guint count)
{
	static const guint8 zeros[64];

	g_byte_array_append(out, zeros, MIN(count, sizeof(zeros)));
}

static void
put_bytes(GByteArray *out, GBytes *bytes)
{
	gsize size;
	const guint8 *data = g_bytes_get_data(bytes, &size);

	g_byte_array_append(out, data, (guint)size);
}

static void
patch32(GByteArray *out, gsize at, guint32 value)
{
	out->data[at] = (guint8)(value >> 24);
	out->data[at + 1] = (guint8)(value >> 16);
	out->data[at + 2] = (guint8)(value >> 8);
	out->data[at + 3] = (guint8)value;
}

static guint32
read32(const guint8 *data)
{
	return ((guint32)data[0] << 24) | ((guint32)data[1] << 16) | ((guint32)data[2] << 8) |
	       data[3];
}

/* Opens a box: returns where its size goes, to be passed to box_end(). */
static gsize
box_begin(GByteArray *out, const char *type)
{
	gsize start = out->len;

	put32(out, 0);
	g_byte_array_append(out, (const guint8 *)type, 4);
	return start;
}

static gsize
full_box_begin(GByteArray *out, const char *type, guint version, guint32 flags)
{
	gsize start = box_begin(out, type);

	put32(out, (version << 24) | (flags & 0xffffff));
	return start;
}

static void
box_end(GByteArray *out, gsize start)
{
	patch32(out, start, (guint32)(out->len - start));
}

/* ---- Decoder configuration records ----------------------------------------------------------- */

static gboolean
put_nal_array(GByteArray *out, GPtrArray *nals)
{
	for (guint i = 0; i < nals->len; i++) {
		gsize size = g_bytes_get_size(nals->pdata[i]);

		if (size > G_MAXUINT16)
			return FALSE;
		put16(out, (guint)size);
		put_bytes(out, nals->pdata[i]);
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
	put8(out, 1);
	put8(out, first[1]); /* profile, constraint flags, level: as in the SPS */
	put8(out, first[2]);
	put8(out, first[3]);
	put8(out, 0xfc | 3); /* four-byte NAL unit lengths */
	put8(out, 0xe0 | sps->len);
	ok = put_nal_array(out, sps);
	put8(out, pps->len);
	ok = ok && put_nal_array(out, pps);
	if (info.profile_idc == 100 || info.profile_idc == 110 || info.profile_idc == 122 ||
	    info.profile_idc == 144) {
		put8(out, 0xfc | info.chroma_format_idc);
		put8(out, 0xf8 | (info.bit_depth_luma - 8));
		put8(out, 0xf8 | (info.bit_depth_chroma - 8));
		put8(out, 0); /* numOfSequenceParameterSetExt */
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
	put8(out, 1);
	put8(out, (info.profile_space << 6) | (info.tier << 5) | info.profile_idc);
	put32(out, info.compatibility_flags);
	g_byte_array_append(out, info.constraint_bytes, 6);
	put8(out, info.level_idc);
	put16(out, 0xf000); /* min_spatial_segmentation_idc: unknown */
	put8(out, 0xfc);    /* parallelismType: unknown */
	put8(out, 0xfc | info.chroma_format_idc);
	put8(out, 0xf8 | (info.bit_depth_luma - 8));
	put8(out, 0xf8 | (info.bit_depth_chroma - 8));
	put16(out, 0); /* avgFrameRate: unspecified */
	put8(out, (info.max_sub_layers << 3) | (info.temporal_id_nesting << 2) | 3);
	put8(out, G_N_ELEMENTS(arrays));
	for (guint i = 0; i < G_N_ELEMENTS(arrays) && ok; i++) {
		put8(out, 0x80 | types[i]); /* array_completeness */
		put16(out, arrays[i]->len);
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

char *
vlg_aac_codec_string(const guint8 *config, gsize size)
{
	guint object_type;

	if (size < 2)
		return NULL;
	object_type = config[0] >> 3;
	if (object_type == 31)
		object_type = 32 + (((config[0] & 7) << 3) | (config[1] >> 5));
	return g_strdup_printf("mp4a.40.%u", object_type);
}

/* ---- Init segment ---------------------------------------------------------------------------- */

static void
put_matrix(GByteArray *out)
{
	static const guint32 unity[9] = { 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000 };

	for (guint i = 0; i < 9; i++)
		put32(out, unity[i]);
}

static void
put_ftyp(GByteArray *out)
{
	gsize box = box_begin(out, "ftyp");

	g_byte_array_append(out, (const guint8 *)"isom", 4);
	put32(out, 0x200);
	g_byte_array_append(out, (const guint8 *)"isomiso5iso6mp41", 16);
	box_end(out, box);
}

static void
put_mvhd(GByteArray *out, guint32 next_track_id)
{
	gsize box = full_box_begin(out, "mvhd", 0, 0);

	put32(out, 0);    /* creation_time */
	put32(out, 0);    /* modification_time */
	put32(out, 1000); /* timescale */
	put32(out, 0);    /* duration: unknown (fragmented) */
	put32(out, 0x10000);
	put16(out, 0x100);
	put_zeros(out, 10);
	put_matrix(out);
	put_zeros(out, 24);
	put32(out, next_track_id);
	box_end(out, box);
}

static void
put_tkhd(GByteArray *out, const VlgMp4Track *track)
{
	gboolean audio = track->codec == VLG_MP4_CODEC_AAC;
	gsize box = full_box_begin(out, "tkhd", 0, 3); /* enabled, in movie */

	put32(out, 0);
	put32(out, 0);
	put32(out, track->track_id);
	put32(out, 0);
	put32(out, 0); /* duration */
	put_zeros(out, 8);
	put16(out, 0); /* layer */
	put16(out, 0); /* alternate_group */
	put16(out, audio ? 0x100 : 0);
	put16(out, 0);
	put_matrix(out);
	put32(out, audio ? 0 : track->width << 16);
	put32(out, audio ? 0 : track->height << 16);
	box_end(out, box);
}

static void
put_descriptor_header(GByteArray *out, guint tag, gsize size)
{
	/* Every descriptor here is far below 128 bytes: one size byte. */
	put8(out, tag);
	put8(out, (guint)size);
}

static void
put_esds(GByteArray *out, const VlgMp4Track *track)
{
	gsize config_size = MIN(g_bytes_get_size(track->config), MAX_AAC_CONFIG);
	gsize decoder_config = 13 + 2 + config_size;
	gsize box = full_box_begin(out, "esds", 0, 0);

	put_descriptor_header(out, 0x03, 3 + 2 + decoder_config + 3); /* ES_Descriptor */
	put16(out, track->track_id);
	put8(out, 0);
	put_descriptor_header(out, 0x04, decoder_config); /* DecoderConfigDescriptor */
	put8(out, 0x40);                                  /* Audio ISO/IEC 14496-3 */
	put8(out, (0x05 << 2) | 1);                       /* audio stream */
	put_zeros(out, 3);                                /* bufferSizeDB */
	put32(out, 0);                                    /* maxBitrate */
	put32(out, 0);                                    /* avgBitrate */
	put_descriptor_header(out, 0x05, config_size);    /* DecoderSpecificInfo */
	g_byte_array_append(out, g_bytes_get_data(track->config, NULL), (guint)config_size);
	put_descriptor_header(out, 0x06, 1); /* SLConfigDescriptor */
	put8(out, 2);
	box_end(out, box);
}

static void
put_sample_entry(GByteArray *out, const VlgMp4Track *track)
{
	static const char *const entries[] = { "avc1", "hvc1", "mp4a" };
	static const char *const records[] = { "avcC", "hvcC", NULL };
	gsize entry = box_begin(out, entries[track->codec]), record;

	put_zeros(out, 6);
	put16(out, 1); /* data_reference_index */
	if (track->codec == VLG_MP4_CODEC_AAC) {
		put_zeros(out, 8);
		put16(out, track->channels);
		put16(out, 16); /* samplesize */
		put32(out, 0);
		put32(out, track->rate <= G_MAXUINT16 ? track->rate << 16 : 0);
		put_esds(out, track);
	} else {
		put_zeros(out, 16);
		put16(out, track->width);
		put16(out, track->height);
		put32(out, 0x480000); /* 72 dpi */
		put32(out, 0x480000);
		put32(out, 0);
		put16(out, 1); /* frame_count */
		put_zeros(out, 32);
		put16(out, 0x18);
		put16(out, 0xffff);
		record = box_begin(out, records[track->codec]);
		put_bytes(out, track->config);
		box_end(out, record);
	}
	box_end(out, entry);
}

static void
put_empty_tables(GByteArray *out)
{
	static const char *const tables[] = { "stts", "stsc", "stco" };
	gsize box;

	for (guint i = 0; i < G_N_ELEMENTS(tables); i++) {
		box = full_box_begin(out, tables[i], 0, 0);
		put32(out, 0);
		box_end(out, box);
	}
	box = full_box_begin(out, "stsz", 0, 0);
	put32(out, 0);
	put32(out, 0);
	box_end(out, box);
}

static void
put_minf(GByteArray *out, const VlgMp4Track *track)
{
	gsize minf = box_begin(out, "minf"), box, dref, url, stbl, stsd;

	if (track->codec == VLG_MP4_CODEC_AAC) {
		box = full_box_begin(out, "smhd", 0, 0);
		put32(out, 0);
	} else {
		box = full_box_begin(out, "vmhd", 0, 1);
		put_zeros(out, 8);
	}
	box_end(out, box);
	box = box_begin(out, "dinf");
	dref = full_box_begin(out, "dref", 0, 0);
	put32(out, 1);
	url = full_box_begin(out, "url ", 0, 1); /* media in this file */
	box_end(out, url);
	box_end(out, dref);
	box_end(out, box);
	stbl = box_begin(out, "stbl");
	stsd = full_box_begin(out, "stsd", 0, 0);
	put32(out, 1);
	put_sample_entry(out, track);
	box_end(out, stsd);
	put_empty_tables(out);
	box_end(out, stbl);
	box_end(out, minf);
}

static void
put_trak(GByteArray *out, const VlgMp4Track *track)
{
	gboolean audio = track->codec == VLG_MP4_CODEC_AAC;
	gsize trak = box_begin(out, "trak"), mdia, box;

	put_tkhd(out, track);
	mdia = box_begin(out, "mdia");
	box = full_box_begin(out, "mdhd", 0, 0);
	put32(out, 0);
	put32(out, 0);
	put32(out, track->timescale);
	put32(out, 0);
	put16(out, 0x55c4); /* "und" */
	put16(out, 0);
	box_end(out, box);
	box = full_box_begin(out, "hdlr", 0, 0);
	put32(out, 0);
	g_byte_array_append(out, (const guint8 *)(audio ? "soun" : "vide"), 4);
	put_zeros(out, 12);
	g_byte_array_append(out, (const guint8 *)(audio ? "SoundHandler" : "VideoHandler"), 13);
	box_end(out, box);
	put_minf(out, track);
	box_end(out, mdia);
	box_end(out, trak);
}

GBytes *
vlg_mp4_make_init_segment(const VlgMp4Track *tracks, guint n_tracks)
{
	GByteArray *out = g_byte_array_sized_new(1024);
	guint32 next_track_id = 1;
	gsize moov, mvex, trex;

	put_ftyp(out);
	moov = box_begin(out, "moov");
	for (guint i = 0; i < n_tracks; i++)
		next_track_id = MAX(next_track_id, tracks[i].track_id + 1);
	put_mvhd(out, next_track_id);
	for (guint i = 0; i < n_tracks; i++)
		put_trak(out, &tracks[i]);
	mvex = box_begin(out, "mvex");
	for (guint i = 0; i < n_tracks; i++) {
		trex = full_box_begin(out, "trex", 0, 0);
		put32(out, tracks[i].track_id);
		put32(out, 1); /* default_sample_description_index */
		put32(out, 0);
		put32(out, 0);
		put32(out, 0);
		box_end(out, trex);
	}
	box_end(out, mvex);
	box_end(out, moov);
	return g_byte_array_free_to_bytes(out);
}

/* ---- Media segments -------------------------------------------------------------------------- */

#define TFHD_DEFAULT_BASE_IS_MOOF 0x020000
#define TRUN_DATA_OFFSET 0x000001
#define TRUN_DURATION 0x000100
#define TRUN_SIZE 0x000200
#define TRUN_FLAGS 0x000400
#define TRUN_COMPOSITION_OFFSET 0x000800

/* Writes one traf; returns where its trun's data_offset goes. */
static gsize
put_traf(GByteArray *out, const VlgMp4Run *run)
{
	guint32 flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
	gsize traf = box_begin(out, "traf"), box, data_offset;

	if (run->composition_offsets)
		flags |= TRUN_COMPOSITION_OFFSET;
	box = full_box_begin(out, "tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
	put32(out, run->track_id);
	box_end(out, box);
	box = full_box_begin(out, "tfdt", 1, 0);
	put64(out, run->base_decode_time);
	box_end(out, box);
	box = full_box_begin(out, "trun", 0, flags);
	put32(out, run->n_samples);
	data_offset = out->len;
	put32(out, 0);
	for (guint i = 0; i < run->n_samples; i++) {
		const VlgMp4Sample *sample = &run->samples[i];

		put32(out, sample->duration);
		put32(out, sample->size);
		put32(out, sample->flags);
		if (run->composition_offsets)
			put32(out, (guint32)MAX(sample->composition_offset, 0));
	}
	box_end(out, box);
	box_end(out, traf);
	return data_offset;
}

void
vlg_mp4_write_fragment_header(GByteArray *out, guint32 sequence, const VlgMp4Run *runs,
			      guint n_runs)
{
	gsize moof, box, offsets[VLG_MP4_MAX_RUNS];
	guint64 data_size = 0;

	g_return_if_fail(n_runs <= VLG_MP4_MAX_RUNS);
	moof = box_begin(out, "moof");

	box = full_box_begin(out, "mfhd", 0, 0);
	put32(out, sequence);
	box_end(out, box);
	for (guint i = 0; i < n_runs; i++)
		offsets[i] = runs[i].n_samples > 0 ? put_traf(out, &runs[i]) : 0;
	box_end(out, moof);
	/* data_offset counts from the start of the moof (default-base-is-moof). */
	for (guint i = 0; i < n_runs; i++) {
		if (runs[i].n_samples == 0)
			continue;
		patch32(out, offsets[i], (guint32)(out->len - moof + 8 + data_size));
		for (guint j = 0; j < runs[i].n_samples; j++)
			data_size += runs[i].samples[j].size;
	}
	put32(out, (guint32)(8 + data_size));
	g_byte_array_append(out, (const guint8 *)"mdat", 4);
}

gboolean
vlg_mp4_next_box(const guint8 *data, gsize size, gsize *offset, guint32 *type,
		 const guint8 **payload, gsize *payload_size)
{
	gsize at = *offset, header = 8;
	guint64 box_size;

	if (at >= size || size - at < 8)
		return FALSE;
	box_size = read32(data + at);
	if (box_size == 1) {
		if (size - at < 16)
			return FALSE;
		box_size = ((guint64)read32(data + at + 8) << 32) | read32(data + at + 12);
		header = 16;
	} else if (box_size == 0) {
		box_size = size - at;
	}
	if (box_size < header || box_size > size - at)
		return FALSE;
	*type = read32(data + at + 4);
	*payload = data + at + header;
	*payload_size = (gsize)box_size - header;
	*offset = at + (gsize)box_size;
	return TRUE;
}
