/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * H.264/H.265 parameter sets: splitting Annex-B byte streams into NAL units, parsing sequence
 * parameter sets, building the decoder configuration records avcC/hvcC (ISO/IEC 14496-15) from
 * them, and the RFC 6381 codec strings. The SPS parsers read just what the records and the
 * muxer need (profile, size, bit depth, how many frames the encoder may reorder); they trust
 * nothing in the input.
 *
 * Threads: pure functions, any thread. Ownership: functions returning GBytes or char * give the
 * caller a new reference/string; inputs are borrowed, and NAL pointers handed out point into the
 * caller's buffer.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* ---- Annex-B byte streams ---------------------------------------------------------------- */

/* Finds the next NAL unit at or after *@offset in an Annex-B buffer (00 00 01 or 00 00 00 01
 * start codes). On success sets @nal/@nal_size (start code excluded, trailing zero bytes
 * trimmed), advances *@offset past it and returns TRUE. */
gboolean vlg_annexb_next_nal(const guint8 *data, gsize size, gsize *offset, const guint8 **nal,
			     gsize *nal_size);

/* NAL unit types the muxer cares about. */
guint vlg_h264_nal_type(const guint8 *nal);
guint vlg_h265_nal_type(const guint8 *nal);
#define VLG_H264_NAL_SPS 7
#define VLG_H264_NAL_PPS 8
#define VLG_H264_NAL_AUD 9
#define VLG_H265_NAL_VPS 32
#define VLG_H265_NAL_SPS 33
#define VLG_H265_NAL_PPS 34
#define VLG_H265_NAL_AUD 35

/* ---- Sequence parameter sets ------------------------------------------------------------- */

typedef struct {
	/* H.264: profile_idc, constraint_set flags byte, level_idc. H.265: the general
	 * profile_tier_level: profile_space, tier, profile_idc, 32 compatibility flags, 6 bytes of
	 * constraint flags, level_idc. */
	guint8 profile_idc;
	guint8 constraint_flags;
	guint8 level_idc;
	guint8 profile_space;
	guint8 tier;
	guint32 compatibility_flags;
	guint8 constraint_bytes[6];
	guint8 max_sub_layers; /* H.265 */
	gboolean temporal_id_nesting;
	guint chroma_format_idc;
	guint bit_depth_luma;
	guint bit_depth_chroma;
	guint width; /* after cropping */
	guint height;
	/* Frames that may precede a frame in decoding order and follow it in output order: 0
	 * without B-frames. From the VUI/SPS, or the level's DPB size when the stream does not say.
	 */
	guint max_reorder;
	/* From the VUI timing info, 0/0 when absent. */
	guint fps_n;
	guint fps_d;
} VlgSpsInfo;

/* @nal: the whole NAL unit, header included, emulation prevention bytes still in. FALSE when
 * the SPS is truncated or uses something outside what the parser knows. */
gboolean vlg_h264_parse_sps(const guint8 *nal, gsize size, VlgSpsInfo *info);
gboolean vlg_h265_parse_sps(const guint8 *nal, gsize size, VlgSpsInfo *info);

/* ---- Decoder configuration records and codec strings --------------------------------------- */

/* avcC from SPS and PPS NAL units (arrays of GBytes, each a NAL unit without start code), or
 * NULL if there is no parsable SPS or no PPS. */
GBytes *vlg_h264_make_avcc(GPtrArray *sps, GPtrArray *pps);
/* hvcC from VPS, SPS and PPS NAL units; array_completeness is set (the muxer keeps parameter
 * sets out of the samples, as 'hvc1' requires). NULL when one kind is missing. */
GBytes *vlg_h265_make_hvcc(GPtrArray *vps, GPtrArray *sps, GPtrArray *pps);

/* "avc1.64001f", "hvc1.1.6.L93.90" from a parsed SPS. */
char *vlg_h264_codec_string(const VlgSpsInfo *sps);
char *vlg_h265_codec_string(const VlgSpsInfo *sps);

G_END_DECLS
