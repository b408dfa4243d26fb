/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fragmented MP4 of one hub (one camera profile) for Media Source Extensions players, made once
 * and shared by every client: an init segment (ftyp + moov) and media segments (moof + mdat).
 *
 * Design: the boxes are written here (pipelines/mp4-boxes.c), not by mp4mux. That keeps the
 * latency at one frame (a fragment per video frame, or per `fragment_ms`, sent when the next
 * frame tells its duration), lets every keyframe start a fragment so a client can join or skip
 * to any keyframe, gives exact control of B-frames (decode times are derived here from the
 * presentation times and the SPS reorder depth: RTP carries no DTS, and mp4mux stalls MSE without
 * h264timestamper) and of the timeline across camera reconnects, and needs no byte-stream
 * re-parsing or pipeline per hub.
 *
 * What is muxed: track 1 is the video (H.264 as 'avc1', H.265 as 'hvc1', parameter sets in the
 * init segment and removed from keyframes), timescale 90 kHz; track 2 is AAC audio, timescale
 * its sample rate, if the hub carries AAC. G.711 and other audio is left out (MSE cannot play it).
 *
 * Segments a client receives: the init segment first, then media segments starting with one
 * that starts on a video keyframe: when the muxer has the current GOP, at once (the segments
 * since the last keyframe are replayed, so a player should seek near the end of its buffered
 * range), otherwise from the next keyframe. Later, a new init segment (is_init) comes when the
 * format changes (resolution, parameter sets, audio appearing or going after a reconnect),
 * followed by a keyframe segment. MSE takes it in the same SourceBuffer when the codecs string
 * (get_mime) is unchanged, with changeType() when only the codecs differ, and needs a new
 * SourceBuffer when the number of tracks changed. To keep that rare, the first init segment
 * (and the one after a reconnect of a camera that had audio) waits up to 300 ms of video for
 * the hub to tell the audio format.
 *
 * Timeline: decode times start at 0 and run on across camera reconnects (the hub's reset) and
 * timestamp jumps, so one SourceBuffer keeps playing; with B-frames presentation starts a few
 * frames later. A client that skips segments (to the next starts_with_keyframe one, when its
 * queue is full) leaves a gap the player must seek over.

 * Threads: new/free/add_client/remove_client/set_fragment_duration from any thread (normally the
 * main loop); never from a sink. The muxer runs on the hub's streaming threads. Sinks are called
 * with the muxer's lock held (and, from streaming threads, the hub's lock): on a streaming thread
 * for live segments, and on the calling thread inside add_client() for the replay. A sink must
 * be quick (ref the segment, queue it, wake the main loop) and must not call back into the muxer
 * or the hub, except vlg_fmp4_muxer_get_mime(), which is safe there. After remove_client() or
 * free() returns, that client's sink is not called again.
 *
 * Ownership: the muxer holds a reference to the hub and a consumer of it until free(). Sinks
 * borrow @segment (g_bytes_ref() it to keep it). A client's @destroy runs on user_data at
 * remove_client() or free(), outside the muxer's lock.
 */
#pragma once

#include "pipelines/hub.h"

G_BEGIN_DECLS

typedef struct _VlgFmp4Muxer VlgFmp4Muxer;
typedef struct _VlgFmp4Client VlgFmp4Client;

/* @is_init: an init segment (ftyp + moov). @starts_with_keyframe: a media segment whose first
 * video sample is a keyframe (a sync sample). */
typedef void (*VlgFmp4Sink)(gpointer user_data, GBytes *segment, gboolean is_init,
			    gboolean starts_with_keyframe);

VlgFmp4Muxer *vlg_fmp4_muxer_new(VlgHub *source);
/* Detaches from the hub and destroys the remaining clients. Accepts NULL; returns NULL. */
VlgFmp4Muxer *vlg_fmp4_muxer_free(VlgFmp4Muxer *muxer);

/* 0 (the default): one media segment per video frame, the lowest latency. Otherwise segments of
 * at least @ms of video (still cut at every keyframe), for fewer and larger messages. */
void vlg_fmp4_muxer_set_fragment_duration(VlgFmp4Muxer *muxer, guint ms);

/* Sends the cached init segment and current GOP to @sink before returning (see above). The
 * handle belongs to the muxer; pass it to remove_client() exactly once. */
VlgFmp4Client *vlg_fmp4_muxer_add_client(VlgFmp4Muxer *muxer, VlgFmp4Sink sink, gpointer user_data,
					 GDestroyNotify destroy);
void vlg_fmp4_muxer_remove_client(VlgFmp4Muxer *muxer, VlgFmp4Client *client);

/* The MSE type of the current init segment, e.g. `video/mp4; codecs="avc1.64001f,mp4a.40.2"`,
 * or NULL before there is one. Called from a sink with is_init, it describes that segment.
 * Free with g_free(). */
char *vlg_fmp4_muxer_get_mime(VlgFmp4Muxer *muxer);

typedef struct {
	guint64 init_segments; /* made, ever */
	guint64 media_segments;
	guint64 bytes;           /* of all segments made */
	guint64 dropped_samples; /* that could not be muxed (no parameter sets, bad timestamps) */
	guint clients;
} VlgFmp4Stats;

void vlg_fmp4_muxer_get_stats(VlgFmp4Muxer *muxer, VlgFmp4Stats *stats);

G_END_DECLS
