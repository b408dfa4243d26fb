/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The GError domain of the camera simulator (a test tool, so it keeps its own rather than
 * linking the gateway's). Any thread may use it. Messages name the file, camera or option.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VLG_CAMSIM_ERROR (vlg_camsim_error_quark())

typedef enum {
	VLG_CAMSIM_ERROR_CLIP,	 /* a clip cannot be read or served */
	VLG_CAMSIM_ERROR_CONFIG, /* a command-line option or camera name is invalid */
	VLG_CAMSIM_ERROR_SERVER, /* a socket cannot be set up */
} VlgCamsimErrorCode;

GQuark vlg_camsim_error_quark(void);

G_END_DECLS
