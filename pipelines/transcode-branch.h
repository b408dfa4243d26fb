/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One transcoded profile's branch in a decoder pipeline: a bin (sink pad "sink") of videorate,
 * leaky queue, videoscale, videoconvert, x264enc (constrained baseline, no B-frames), h264parse
 * (SPS/PPS before every keyframe) and an appsink that pushes the access units, back in the
 * camera's time, into the profile's hub. It is attached to the decoder's tee while the pipeline
 * runs and detached from an IDLE probe on its tee pad, then taken out of the pipeline on the
 * main loop.
 *
 * Threads: everything here is main-loop only (the context given to _new) but for the reference
 * count and vlg_transcode_branch_silence(), callable from any thread. The appsink callback runs
 * on the branch's encoder thread; it touches only the branch (under its lock) and the hub
 * (thread-safe).
 *
 * Ownership: _new returns a reference; the appsink callback holds another until the pipeline
 * drops the bin, so the last one may go on the teardown worker. The branch keeps references to
 * @hub, @context and the host's owner; the pipeline owns the bin.
 */
#pragma once

#include <gst/gst.h>

#include "pipelines/hub.h"
#include "pipelines/transcoder.h"

G_BEGIN_DECLS

typedef struct _VlgTranscodeBranch VlgTranscodeBranch;

typedef enum {
	VLG_TRANSCODE_SCALED, /* width, height, fps, bit rate */
	VLG_TRANSCODE_MAIN,   /* passthrough asked of a transcoder: the camera's size and rate */
	VLG_TRANSCODE_KEY,    /* keyframes: forwarded (H.264) or encoded all-intra (H.265) */
} VlgTranscodeKind;

/* What one profile's encode is made of; borrowed for the duration of _new. */
typedef struct {
	const char *name; /* the bin's name */
	VlgTranscodeKind kind;
	guint width;
	guint height;
	guint fps;
	guint bitrate_kbps;
} VlgTranscodeRecipe;

/* The running decoder pipeline a branch joins, and who keeps it: the branch holds a reference
 * to @owner (owner_ref, owner_unref: any thread) until it is freed. */
typedef struct {
	GstElement *pipeline; /* borrowed: holds the branch's bin once added */
	GstElement *tee;      /* borrowed: the branch takes a request pad of it */
	gpointer owner;
	gpointer (*owner_ref)(gpointer owner);
	GDestroyNotify owner_unref;
	/* Main loop: TRUE once the pipeline went to the teardown worker (with the branch in it). */
	gboolean (*owner_stopped)(gpointer owner);
} VlgTranscodeHost;

/* The branch of @recipe pushing into @hub, added to @host's pipeline (playing) and linked to a
 * new pad of its tee; *@linked tells whether that link held (the branch is attached all the
 * same). NULL, with nothing added, when an element is missing or the bin does not link.
 * @camera_caps (borrowed, may be NULL) give the GOP of a VLG_TRANSCODE_MAIN encode. */
VlgTranscodeBranch *vlg_transcode_branch_new(const VlgTranscodeRecipe *recipe,
					     const VlgTranscoderSettings *settings,
					     GstCaps *camera_caps, VlgHub *hub,
					     GMainContext *context, const VlgTranscodeHost *host,
					     gboolean *linked);
VlgTranscodeBranch *vlg_transcode_branch_ref(VlgTranscodeBranch *branch);
/* Any thread. */
void vlg_transcode_branch_unref(VlgTranscodeBranch *branch);

/* Any thread. After this returns, the branch pushes nothing more into its hub. */
void vlg_transcode_branch_silence(VlgTranscodeBranch *branch);
/* Unlinks the branch from an IDLE probe on its tee pad, then releases the pad and takes the bin
 * out of the pipeline on the main loop (unless the owner stopped meanwhile). Consumes the
 * caller's reference; silence the branch first. */
void vlg_transcode_branch_detach(VlgTranscodeBranch *branch);

G_END_DECLS
