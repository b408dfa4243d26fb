/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Feeder: plays a clip into the appsrcs of one RTSP media as a live camera would, for ever.
 *
 * One thread per feeder pushes the clip's buffers in decode order, each when the pipeline clock
 * reaches its decode time, and starts over at the end with every timestamp moved on by the clip's
 * length, so time runs on without a jump (B-frame PTS/DTS offsets are kept). The thread starts
 * when the video appsrc first asks for data (the media pipeline is then PLAYING and has a clock)
 * and always begins on the clip's first keyframe.
 *
 * A gate, asked before each buffer, lets a camera stall: while it is closed buffers are dropped,
 * and when it opens again video resumes on the next keyframe.
 *
 * vlg_camsim_feeder_new(), _stop() and _free() may be called from any thread but the feeder's
 * own. The feeder holds refs on the appsrcs and borrows the clip and the gate data, which must
 * outlive it.
 */
#pragma once

#include <gst/app/gstappsrc.h>

#include "tests/camsim/clip.h"

G_BEGIN_DECLS

typedef struct _VlgCamsimFeeder VlgCamsimFeeder;

/* TRUE while media may flow. Called from the feeder thread. */
typedef gboolean (*VlgCamsimGateFunc)(gpointer user_data);

/* @audio may be NULL (then the clip's audio, if any, is not played). */
VlgCamsimFeeder *vlg_camsim_feeder_new(const VlgCamsimClip *clip, GstAppSrc *video,
				       GstAppSrc *audio, VlgCamsimGateFunc gate,
				       gpointer gate_data);
/* Stop the thread and wait for it; idempotent. The feeder will not start again. */
void vlg_camsim_feeder_stop(VlgCamsimFeeder *feeder);
/* Stop, then free. Accepts NULL. */
void vlg_camsim_feeder_free(VlgCamsimFeeder *feeder);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgCamsimFeeder, vlg_camsim_feeder_free)

G_END_DECLS
