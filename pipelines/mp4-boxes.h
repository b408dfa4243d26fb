/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fragmented MP4 (ISO/IEC 14496-12) as Media Source Extensions take it: the init segment (ftyp +
 * moov with empty sample tables and mvex), the media segment header (moof + the mdat header; the
 * caller appends the sample bytes), the esds (14496-1) built from an AAC AudioSpecificConfig, its
 * RFC 6381 codec string, and a reader of box headers for tests and checks. The H.264/H.265 side
 * (Annex-B, SPS parsing, avcC/hvcC, codec strings) is in pipelines/h26x-params.h, included here.
 *
 * Threads: pure functions, any thread. Ownership: functions returning GBytes or char * give the
 * caller a new reference/string; inputs are borrowed.
 */
#pragma once

#include <glib.h>

#include "pipelines/h26x-params.h"

G_BEGIN_DECLS

typedef enum {
	VLG_MP4_CODEC_H264,
	VLG_MP4_CODEC_H265,
	VLG_MP4_CODEC_AAC,
} VlgMp4Codec;

/* ---- AAC codec string ---------------------------------------------------------------------- */

/* "mp4a.40.2" from an AudioSpecificConfig; NULL if it is shorter than 2 bytes. */
char *vlg_aac_codec_string(const guint8 *config, gsize size);

/* ---- Boxes --------------------------------------------------------------------------------- */

typedef struct {
	guint32 track_id; /* from 1 */
	VlgMp4Codec codec;
	guint32 timescale;
	/* Video: the coded size; config is the avcC or hvcC payload. */
	guint width;
	guint height;
	/* Audio (AAC): config is the AudioSpecificConfig. */
	guint channels;
	guint rate;
	GBytes *config;
} VlgMp4Track;

/* ftyp + moov. */
GBytes *vlg_mp4_make_init_segment(const VlgMp4Track *tracks, guint n_tracks);

/* trun sample flags */
#define VLG_MP4_SAMPLE_SYNC 0x02000000u     /* depends on no other sample */
#define VLG_MP4_SAMPLE_NON_SYNC 0x01010000u /* depends on others, not a sync sample */

typedef struct {
	guint32 duration; /* in the track's timescale */
	guint32 size;
	guint32 flags;
	gint32 composition_offset; /* PTS - DTS, >= 0 */
} VlgMp4Sample;

typedef struct {
	guint32 track_id;
	guint64 base_decode_time; /* tfdt */
	const VlgMp4Sample *samples;
	guint n_samples;
	gboolean composition_offsets; /* write them (video) */
} VlgMp4Run;

#define VLG_MP4_MAX_RUNS 8

/* Appends moof (mfhd, one traf per run with tfhd default-base-is-moof, tfdt, trun) and the mdat
 * header to @out. The caller then appends the samples' bytes: run after run, sample after
 * sample, exactly the sizes given. Runs without samples are left out. */
void vlg_mp4_write_fragment_header(GByteArray *out, guint32 sequence, const VlgMp4Run *runs,
				   guint n_runs);

/* Reads the box header at *@offset of @data[0..size): its type (as four characters in a
 * guint32, big-endian: 'moov' = 0x6d6f6f76) and payload; advances *@offset past the box. FALSE
 * at the end or on a box that does not fit. */
gboolean vlg_mp4_next_box(const guint8 *data, gsize size, gsize *offset, guint32 *type,
			  const guint8 **payload, gsize *payload_size);
#define VLG_MP4_FOURCC(a, b, c, d)                                                                 \
	(((guint32)(a) << 24) | ((guint32)(b) << 16) | ((guint32)(c) << 8) | (guint32)(d))

G_END_DECLS
