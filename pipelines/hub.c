/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/hub.h"

GST_DEBUG_CATEGORY_STATIC(vlg_hub_debug);
#define GST_CAT_DEFAULT vlg_hub_debug

/* A camera that never sends a keyframe must not grow the cache without end: past either bound
 * the cache is dropped and rebuilt from the next keyframe. 2 s GOPs at 8 Mbit/s fit easily. */
#define CACHE_MAX_BUFFERS 1500
#define CACHE_MAX_BYTES (8u * 1024 * 1024)

typedef struct {
	VlgTrack track;
	GstBuffer *buffer;
} CachedBuffer;

struct _VlgHubConsumer {
	VlgHubConsumerFuncs funcs;
	gpointer user_data;
	GDestroyNotify destroy;
	/* Guarded by the hub's lock: FALSE until the consumer got a keyframe. Nothing before it is
	 * delivered: a decoder cannot use deltas without their keyframe. */
	gboolean synced;
};

struct _VlgHub {
	gint refcount;
	char *name;

	GMutex lock;
	/* Guarded by lock: */
	GstCaps *caps[VLG_TRACK_COUNT];
	GPtrArray *consumers; /* of VlgHubConsumer* */
	GArray *cache;        /* of CachedBuffer; empty until the first keyframe */
	gboolean cache_valid; /* TRUE once it starts on a keyframe */
	gsize cache_bytes;
	VlgHubStats stats;
};

static void
ensure_debug_category(void)
{
	static gsize once = 0;

	if (g_once_init_enter(&once)) {
		GST_DEBUG_CATEGORY_INIT(vlg_hub_debug, "vlg-hub", 0, "linkage-gateway camera hub");
		g_once_init_leave(&once, 1);
	}
}

static void
cached_buffer_clear(gpointer data)
{
	CachedBuffer *cached = data;

	gst_buffer_unref(cached->buffer);
}

static void
consumer_free(VlgHubConsumer *consumer)
{
	if (consumer->destroy)
		consumer->destroy(consumer->user_data);
	g_free(consumer);
}

VlgHub *
vlg_hub_new(const char *name)
{
	VlgHub *hub = g_new0(VlgHub, 1);

	ensure_debug_category();
	hub->refcount = 1;
	hub->name = g_strdup(name);
	g_mutex_init(&hub->lock);
	hub->consumers = g_ptr_array_new();
	hub->cache = g_array_new(FALSE, FALSE, sizeof(CachedBuffer));
	g_array_set_clear_func(hub->cache, cached_buffer_clear);
	return hub;
}

VlgHub *
vlg_hub_ref(VlgHub *hub)
{
	g_atomic_int_inc(&hub->refcount);
	return hub;
}

void
vlg_hub_unref(VlgHub *hub)
{
	if (!hub || !g_atomic_int_dec_and_test(&hub->refcount))
		return;
	/* Consumers still attached at the last unref are a caller bug, but free them anyway. */
	for (guint i = 0; i < hub->consumers->len; i++)
		consumer_free(hub->consumers->pdata[i]);
	g_ptr_array_unref(hub->consumers);
	g_array_unref(hub->cache);
	for (guint i = 0; i < VLG_TRACK_COUNT; i++)
		gst_clear_caps(&hub->caps[i]);
	g_mutex_clear(&hub->lock);
	g_free(hub->name);
	g_free(hub);
}

static void
cache_drop_unlocked(VlgHub *hub)
{
	g_array_set_size(hub->cache, 0);
	hub->cache_bytes = 0;
	hub->cache_valid = FALSE;
}

static void
deliver_caps_unlocked(VlgHub *hub, VlgHubConsumer *consumer)
{
	for (guint t = 0; t < VLG_TRACK_COUNT; t++)
		if (hub->caps[t])
			consumer->funcs.caps(consumer->user_data, t, hub->caps[t]);
}

VlgHubConsumer *
vlg_hub_attach(VlgHub *hub, const VlgHubConsumerFuncs *funcs, gpointer user_data,
	       GDestroyNotify destroy)
{
	VlgHubConsumer *consumer = g_new0(VlgHubConsumer, 1);
	guint replayed;

	consumer->funcs = *funcs;
	consumer->user_data = user_data;
	consumer->destroy = destroy;

	g_mutex_lock(&hub->lock);
	/* Replay under the lock so that no live buffer slips between the cache and the live feed. */
	deliver_caps_unlocked(hub, consumer);
	for (guint i = 0; i < hub->cache->len; i++) {
		CachedBuffer *cached = &g_array_index(hub->cache, CachedBuffer, i);

		consumer->funcs.buffer(user_data, cached->track, cached->buffer);
	}
	consumer->synced = hub->cache->len > 0;
	g_ptr_array_add(hub->consumers, consumer);
	hub->stats.consumers = hub->consumers->len;
	replayed = hub->cache->len;
	g_mutex_unlock(&hub->lock);
	GST_DEBUG("%s: consumer %p attached, %u cached buffers replayed", hub->name, consumer,
		  replayed);
	return consumer;
}

void
vlg_hub_detach(VlgHub *hub, VlgHubConsumer *consumer)
{
	gboolean found;

	g_mutex_lock(&hub->lock);
	found = g_ptr_array_remove(hub->consumers, consumer);
	hub->stats.consumers = hub->consumers->len;
	g_mutex_unlock(&hub->lock);
	g_return_if_fail(found);
	/* Outside the lock: the destroy notify may take locks of its own. */
	consumer_free(consumer);
}

void
vlg_hub_set_caps(VlgHub *hub, VlgTrack track, GstCaps *caps)
{
	g_return_if_fail(track < VLG_TRACK_COUNT);

	g_mutex_lock(&hub->lock);
	if (hub->caps[track] && gst_caps_is_equal(hub->caps[track], caps)) {
		g_mutex_unlock(&hub->lock);
		return;
	}
	gst_caps_replace(&hub->caps[track], caps);
	/* Cached buffers of the old format are useless to a newcomer, and everyone waits for a
	 * keyframe of the new one. */
	if (track == VLG_TRACK_VIDEO)
		cache_drop_unlocked(hub);
	for (guint i = 0; i < hub->consumers->len; i++) {
		VlgHubConsumer *consumer = hub->consumers->pdata[i];

		if (track == VLG_TRACK_VIDEO)
			consumer->synced = FALSE;
		consumer->funcs.caps(consumer->user_data, track, caps);
	}
	g_mutex_unlock(&hub->lock);
}

static void
cache_add_unlocked(VlgHub *hub, VlgTrack track, GstBuffer *buffer)
{
	gboolean keyframe = track == VLG_TRACK_VIDEO &&
			    !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
	CachedBuffer cached = { track, gst_buffer_ref(buffer) };

	if (keyframe) {
		cache_drop_unlocked(hub);
		hub->cache_valid = TRUE;
		hub->stats.keyframes++;
	}
	if (!hub->cache_valid) {
		gst_buffer_unref(cached.buffer);
		return;
	}
	g_array_append_val(hub->cache, cached);
	hub->cache_bytes += gst_buffer_get_size(buffer);
	if (hub->cache->len > CACHE_MAX_BUFFERS || hub->cache_bytes > CACHE_MAX_BYTES) {
		GST_WARNING("%s: %u buffers since the last keyframe, dropping the cache", hub->name,
			    hub->cache->len);
		cache_drop_unlocked(hub);
	}
}

void
vlg_hub_push(VlgHub *hub, VlgTrack track, GstBuffer *buffer)
{
	gboolean keyframe = track == VLG_TRACK_VIDEO &&
			    !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);

	g_return_if_fail(track < VLG_TRACK_COUNT);

	g_mutex_lock(&hub->lock);
	hub->stats.bytes += gst_buffer_get_size(buffer);
	hub->stats.buffers++;
	cache_add_unlocked(hub, track, buffer);
	for (guint i = 0; i < hub->consumers->len; i++) {
		VlgHubConsumer *consumer = hub->consumers->pdata[i];

		consumer->synced |= keyframe;
		if (consumer->synced)
			consumer->funcs.buffer(consumer->user_data, track, buffer);
	}
	g_mutex_unlock(&hub->lock);
	gst_buffer_unref(buffer);
}

void
vlg_hub_reset(VlgHub *hub)
{
	g_mutex_lock(&hub->lock);
	cache_drop_unlocked(hub);
	for (guint t = 0; t < VLG_TRACK_COUNT; t++)
		gst_clear_caps(&hub->caps[t]);
	for (guint i = 0; i < hub->consumers->len; i++) {
		VlgHubConsumer *consumer = hub->consumers->pdata[i];

		consumer->synced = FALSE;
		if (consumer->funcs.reset)
			consumer->funcs.reset(consumer->user_data);
	}
	g_mutex_unlock(&hub->lock);
}

GstCaps *
vlg_hub_get_caps(VlgHub *hub, VlgTrack track)
{
	GstCaps *caps = NULL;

	g_return_val_if_fail(track < VLG_TRACK_COUNT, NULL);
	g_mutex_lock(&hub->lock);
	if (hub->caps[track])
		caps = gst_caps_ref(hub->caps[track]);
	g_mutex_unlock(&hub->lock);
	return caps;
}

void
vlg_hub_get_stats(VlgHub *hub, VlgHubStats *stats)
{
	g_mutex_lock(&hub->lock);
	*stats = hub->stats;
	stats->cached_buffers = hub->cache->len;
	stats->cached_bytes = hub->cache_bytes;
	g_mutex_unlock(&hub->lock);
}
