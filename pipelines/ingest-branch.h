/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-stream branches behind rtspsrc: for each pad it exposes, an explicit chain chosen by the
 * RTP encoding (never autoplugged: camera data is untrusted) ending in an appsink that feeds the hub.
 *   H264: [drop NAL 26/27] rtph264depay ! h264parse ! byte-stream/au      (packetization-mode 2 refused)
 *   H265: rtph265depay ! h265parse ! byte-stream/au
 *   PCMA/PCMU: depay;  MPEG4-GENERIC/MP4A-LATM: depay ! aacparse
 * Unsupported video posts an application message named VLG_INGEST_UNSUPPORTED_MESSAGE (field
 * "reason") on the bus; unsupported audio is discarded.
 *
 * Threads: pad-added and the appsink callbacks run on rtspsrc's streaming threads; they touch only
 * the hub (thread-safe) and call @saw_data for every buffer. The branch holds @data until the
 * rtspsrc is finalized, then calls @destroy.
 */
#pragma once

#include <gst/gst.h>

#include "pipelines/hub.h"

G_BEGIN_DECLS

#define VLG_INGEST_UNSUPPORTED_MESSAGE "vlg-ingest-unsupported"

void vlg_ingest_branch_connect(GstElement *rtspsrc, VlgHub *hub, const char *camera_id,
			       void (*saw_data)(gpointer data), gpointer data,
			       GDestroyNotify destroy);

/* TRUE for an RTP H.264 payload this gateway refuses to depayload (NAL types 26/27, MTAP). */
gboolean vlg_ingest_h264_payload_is_refused(const guint8 *payload, gsize size);

G_END_DECLS
