/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one GError domain of linkage-gateway. Any thread may use it. Messages an operator reads
 * carry their place (file:line, camera id) in the message itself.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VLG_ERROR (vlg_error_quark())

typedef enum {
	VLG_ERROR_CONFIG,    /* gateway.conf is unreadable or invalid */
	VLG_ERROR_CATALOGUE, /* the camera catalogue is unreadable or invalid */
	VLG_ERROR_INGEST,    /* a camera cannot be pulled */
	VLG_ERROR_HTTP,      /* the HTTP/WebSocket server cannot start */
	VLG_ERROR_MEDIA,     /* a clip or stream cannot be used */
	VLG_ERROR_AUTH,      /* a token was refused, or one cannot be made */
} VlgErrorCode;

GQuark vlg_error_quark(void);

G_END_DECLS
