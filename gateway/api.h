/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The REST API: /healthz, /api/v1/cameras, /api/v1/cameras/{id}. JSON in, JSON out, errors in
 * the router's one error shape. Threads: main loop only. Borrows the app.
 */
#pragma once

#include "gateway/app.h"

G_BEGIN_DECLS

void vlg_api_register(VlgHttpRouter *router, VlgApp *app);

/* The camera as the API shows it: catalogue entry plus live state; never credentials. */
JsonNode *vlg_api_camera_to_json(VlgCamera *camera);

G_END_DECLS
