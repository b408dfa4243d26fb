/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * For the test tools' webrtcbin peers: gather ICE candidates on one address only (127.0.0.1 in a
 * loopback-only namespace), over UDP, with libnice's UPnP off. Call before the pipeline plays,
 * from the thread that owns @webrtc.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* FALSE when webrtcbin has no libnice agent or @address is not an IP literal. */
gboolean vlg_test_restrict_ice(GstElement *webrtc, const gchar *address);

G_END_DECLS
