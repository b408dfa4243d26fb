/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transcodes of one camera: per output profile a hub of H.264 access units that browsers can
 * take (constrained baseline, no B-frames, SPS/PPS before every keyframe), carried exactly like a
 * camera hub's video track (video/x-h264, byte-stream, au; keyframes lack DELTA_UNIT; timestamps
 * are the camera's), so rtp-source and the fMP4 muxer consume it unchanged.
 *
 * One decoder per camera (avdec_h264/avdec_h265, from the camera's caps) feeds every transcoded
 * profile through a tee; each profile is a branch (videorate, leaky queue, videoscale, x264enc,
 * h264parse, appsink) added to and removed from the running pipeline. The decoder runs while a
 * profile needs it and is torn down on a worker (teardown.h) when the last one goes. The `key`
 * profile of an H.264 camera is the camera's own keyframes (no decoding); of an H.265 camera,
 * all-intra H.264 at 1 frame/s at most (the decoder then takes keyframes only when nothing else
 * needs it). A passthrough profile asked of a transcoder (the camera is H.265 or has B-frames:
 * vlg_transcoder_needs_transcode()) is a transcode at the camera's own size and frame rate.
 * A camera reconnect (hub reset) or a change of codec or size rebuilds the decoder; the profile
 * hubs are reset with the camera's.
 *
 * Threads: everything here is main-loop only (the thread-default context at vlg_transcoder_new).
 * Media flows on the camera's streaming thread (into the decoder), the decoder's thread and one
 * thread per profile (the encoder, pushing into the profile's hub).
 *
 * Ownership: the transcoder borrows @camera (it must outlive the transcoder) and attaches to it
 * (keeping it pulled) while any profile is acquired. It owns the profile hubs; the hub that
 * acquire returns is borrowed until the matching release (take a vlg_hub_ref() to keep it
 * longer: it then simply receives nothing more).
 */
#pragma once

#include "config/gateway-config.h"
#include "pipelines/camera.h"

G_BEGIN_DECLS

#define VLG_TRANSCODER_DEFAULT_MAIN_BITRATE_KBPS 2500

typedef struct _VlgTranscoder VlgTranscoder;

typedef struct {
	guint encoder_threads;    /* x264 threads per encode; 0: 1 */
	gboolean sliced_threads;  /* x264 sliced threads (only matters with 2+ threads) */
	guint decoder_threads;    /* avdec threads; 0: 1 */
	guint main_bitrate_kbps;  /* a passthrough profile transcoded; 0: 2500 */
	const char *speed_preset; /* x264enc speed-preset nick; NULL: "superfast" (copied) */
} VlgTranscoderSettings;

typedef struct {
	guint outputs;          /* profiles acquired now */
	guint encoders;         /* encoder branches running now */
	gboolean decoding;      /* a decoder pipeline runs now */
	guint decoder_starts;   /* decoder pipelines built, ever (rebuilds after a reset count) */
	guint decoder_errors;   /* decoder pipelines that failed, ever */
	guint64 frames_in;      /* access units fed to the decoder, ever */
	guint64 frames_dropped; /* access units not fed: the decoder fell behind (ever) */
} VlgTranscoderStats;

/* TRUE when browsers cannot take the camera's stream as is: H.265, or H.264 with B-frames (see
 * vlg_rtp_source_get_passthrough(), which detects those). NULL caps: FALSE. */
gboolean vlg_transcoder_needs_transcode(GstCaps *video_caps, gboolean has_b_frames);

VlgTranscoder *vlg_transcoder_new(VlgCamera *camera, const VlgTranscoderSettings *settings);
/* Releases every profile still acquired. Accepts NULL. */
VlgTranscoder *vlg_transcoder_free(VlgTranscoder *transcoder);

/* The hub of @profile (by name) for this camera; a second acquire of the same name returns the
 * same hub and counts one more user. Fails (VLG_ERROR_MEDIA) when the profile is not usable (no
 * size, rate or bit rate) or a GStreamer element is missing. Caps and buffers follow once the
 * camera is live. */
VlgHub *vlg_transcoder_acquire(VlgTranscoder *transcoder, const VlgProfile *profile,
			       GError **error);
/* Drops one user of @profile (by name); at zero its branch stops, and with the last profile the
 * decoder and the camera attachment. */
void vlg_transcoder_release(VlgTranscoder *transcoder, const VlgProfile *profile);

void vlg_transcoder_get_stats(VlgTranscoder *transcoder, VlgTranscoderStats *stats);

/* Over every transcoder of the process, for metrics and the caller's budget: encoder branches
 * running now ((camera, profile) pairs), and decoders running now. Any thread. */
guint vlg_transcoder_running_encoders(void);
guint vlg_transcoder_running_decoders(void);

G_END_DECLS
