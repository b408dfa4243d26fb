/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The wall's static files: GET / (index.html) and GET /static/{file}, from the files built into the
 * daemon (gateway/web/, a GResource) or, when gateway.conf sets web-root, from that folder. A file
 * name is one path segment (the router never lets '/' through) and may not start with '.'.
 * Threads: main loop only.
 */
#pragma once

#include "gateway/http-router.h"

G_BEGIN_DECLS

/* @web_root: NULL for the built-in files; borrowed, must outlive the router. */
void vlg_static_files_register(VlgHttpRouter *router, const char *web_root);

G_END_DECLS
