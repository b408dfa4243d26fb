/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hub of one camera: fans its access units (parsed H.264/H.265 video, and audio frames) out to
 * any number of consumers, and keeps the stream since the last video keyframe so that a consumer
 * attaching mid-GOP starts on a keyframe at once. A consumer never gets a buffer before its first
 * video keyframe (after attach, a reset or a change of video caps). It outlives the camera's ingest pipelines: when a
 * camera reconnects, the hub stays and its consumers get reset(), new caps and a fresh keyframe.
 *
 * Threads: the producer side (set_caps, push, reset) is called from the ingest's streaming threads;
 * attach/detach from any thread (normally the main loop). Consumer callbacks run on the producer's
 * thread (or the attaching thread, for the cache replay) with the hub's lock held: they must be
 * quick (queue the buffer and return) and must not call back into the hub. After vlg_hub_detach()
 * returns, no callback of that consumer runs again.
 *
 * Ownership: vlg_hub_new() returns a reference; vlg_hub_push() takes the buffer; callbacks borrow
 * caps and buffers (ref them to keep them).
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
	VLG_TRACK_VIDEO,
	VLG_TRACK_AUDIO,
	VLG_TRACK_COUNT,
} VlgTrack;

typedef struct {
	/* The track's format; always called before the first buffer of a track, and again when the
	 * format changes. */
	void (*caps)(gpointer user_data, VlgTrack track, GstCaps *caps);
	void (*buffer)(gpointer user_data, VlgTrack track, GstBuffer *buffer);
	/* The source restarted: timestamps start over; caps and a keyframe follow. May be NULL. */
	void (*reset)(gpointer user_data);
} VlgHubConsumerFuncs;

typedef struct _VlgHub VlgHub;
typedef struct _VlgHubConsumer VlgHubConsumer;

typedef struct {
	guint64 bytes;          /* media bytes pushed, ever */
	guint64 buffers;
	guint64 keyframes;
	guint consumers;
	guint cached_buffers;   /* in the keyframe cache now */
	gsize cached_bytes;
} VlgHubStats;

VlgHub *vlg_hub_new(const char *name);
VlgHub *vlg_hub_ref(VlgHub *hub);
void vlg_hub_unref(VlgHub *hub);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgHub, vlg_hub_unref)

/* Adds a consumer. If the hub has caps, they are delivered at once, then the cached buffers since
 * the last keyframe, then live buffers. @destroy frees @user_data after detach. The returned handle
 * belongs to the hub; pass it to vlg_hub_detach() exactly once. */
VlgHubConsumer *vlg_hub_attach(VlgHub *hub, const VlgHubConsumerFuncs *funcs, gpointer user_data,
			       GDestroyNotify destroy);
void vlg_hub_detach(VlgHub *hub, VlgHubConsumer *consumer);

void vlg_hub_set_caps(VlgHub *hub, VlgTrack track, GstCaps *caps);
/* Takes @buffer. Video buffers without GST_BUFFER_FLAG_DELTA_UNIT are keyframes. */
void vlg_hub_push(VlgHub *hub, VlgTrack track, GstBuffer *buffer);
void vlg_hub_reset(VlgHub *hub);

/* A new reference to the track's current caps, or NULL. */
GstCaps *vlg_hub_get_caps(VlgHub *hub, VlgTrack track);
void vlg_hub_get_stats(VlgHub *hub, VlgHubStats *stats);

G_END_DECLS
