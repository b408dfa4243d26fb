/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A recorded clip held in memory: the camera simulator reads each MP4/MKV file once at start,
 * demuxed and parsed but not decoded, and replays its buffers for ever.
 *
 * vlg_camsim_clip_load() runs a private pipeline and blocks until the file is read; call it from
 * the main thread before serving. A loaded clip is immutable: any thread may read it, and the
 * feeders of every media of a camera share it. The caller owns the clip; it must outlive every
 * feeder reading it. Buffers keep their payload, flags and timestamps, rebased so that the first
 * decode time is 0, and are in decode order; video always has a DTS (made up from the PTS order
 * when the container stores none, as Matroska does).
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
	VLG_CAMSIM_CODEC_H264,
	VLG_CAMSIM_CODEC_H265,
	VLG_CAMSIM_CODEC_PCMA,
	VLG_CAMSIM_CODEC_PCMU,
	VLG_CAMSIM_CODEC_AAC,
} VlgCamsimCodec;

typedef struct {
	VlgCamsimCodec codec;
	GstCaps *caps;	    /* as the parser gave them, codec_data included */
	GPtrArray *buffers; /* GstBuffer *, decode order, PTS and DTS always valid */
} VlgCamsimTrack;

typedef struct {
	gchar *path;
	VlgCamsimTrack *video; /* never NULL: H.264 or H.265, starts with a keyframe */
	VlgCamsimTrack *audio; /* NULL when the clip has no supported audio */
	GstClockTime duration; /* loop period: the next loop's timestamps are this much later */
} VlgCamsimClip;

VlgCamsimClip *vlg_camsim_clip_load(const gchar *path, GError **error);
void vlg_camsim_clip_free(VlgCamsimClip *clip);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgCamsimClip, vlg_camsim_clip_free)

/* "H.264", "PCMA"... for logs. */
const gchar *vlg_camsim_codec_name(VlgCamsimCodec codec);
/* gst-launch description of the RTP payloader for @codec, without its name. */
const gchar *vlg_camsim_codec_payloader(VlgCamsimCodec codec);

/*
 * Decode times for @n frames whose presentation times are @pts, in decode order, when the
 * container stored none: the n-th smallest PTS, moved back by the largest reordering delay so
 * that no frame is decoded after it is shown. Writes @dts (n entries, may be negative).
 */
void vlg_camsim_synthesize_dts(const gint64 *pts, guint n, gint64 *dts);

G_END_DECLS
