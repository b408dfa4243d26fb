/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/teardown.h"

#define TEARDOWN_WORKERS 4

static GThreadPool *pool;
static GMutex lock;
static GCond done;
static guint pending;

static void
teardown_worker(gpointer data, gpointer user_data)
{
	GstElement *pipeline = data;

	gst_element_set_state(pipeline, GST_STATE_NULL);
	gst_object_unref(pipeline);
	g_mutex_lock(&lock);
	pending--;
	g_cond_broadcast(&done);
	g_mutex_unlock(&lock);
}

void
vlg_teardown_pipeline(GstElement *pipeline)
{
	g_mutex_lock(&lock);
	if (!pool)
		pool = g_thread_pool_new(teardown_worker, NULL, TEARDOWN_WORKERS, FALSE, NULL);
	pending++;
	g_mutex_unlock(&lock);
	g_thread_pool_push(pool, pipeline, NULL);
}

void
vlg_teardown_wait(void)
{
	g_mutex_lock(&lock);
	while (pending > 0)
		g_cond_wait(&done, &lock);
	g_mutex_unlock(&lock);
}
