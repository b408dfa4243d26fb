/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The camera catalogue: the four-level org tree (city > district > street > community, each node
 * named by its 12-digit statistical division code) and the cameras, each on one node. Parsed from a
 * key file, validated, then immutable: load on the main thread, read from anywhere. The catalogue
 * owns its nodes and cameras; pointers into it live as long as the catalogue.
 */
#pragma once

#include <glib.h>

#include "config/gateway-config.h"

G_BEGIN_DECLS

typedef enum {
	VLG_ORG_LEVEL_CITY,
	VLG_ORG_LEVEL_DISTRICT,
	VLG_ORG_LEVEL_STREET,
	VLG_ORG_LEVEL_COMMUNITY,
} VlgOrgLevel;

typedef struct _VlgOrgNode VlgOrgNode;
struct _VlgOrgNode {
	char code[13];      /* 12 digits */
	char *name;
	VlgOrgLevel level;  /* derived from the code */
	VlgOrgNode *parent; /* NULL for the root (city) */
	GPtrArray *children; /* of VlgOrgNode*, not owned */
	GPtrArray *cameras;  /* of VlgCameraInfo*, not owned: the cameras on this node itself */
};

typedef struct {
	char *id;        /* [A-Za-z0-9_-]{1,64}, unique */
	char *name;
	VlgOrgNode *org; /* not owned */
	char *url;       /* rtsp:// or rtsps://, without credentials */
	char *sub_url;   /* native sub-stream, or NULL */
	char *username;  /* or NULL */
	char *password;  /* or NULL; never logged nor shown */
	guint priority;  /* 0..100, higher wins */
	gboolean always_on;
	VlgTransport transport;
	guint line;      /* where its group starts in the file, for messages */
} VlgCameraInfo;

typedef struct _VlgCatalogue VlgCatalogue;

/* Parses @data, a catalogue key file named @source_name in messages. Every error is reported, one per
 * line, as "source:line: [group] key: what is wrong". @default_transport applies to cameras that do
 * not name one. */
VlgCatalogue *vlg_catalogue_load_data(const char *data, gsize length, const char *source_name,
				      VlgTransport default_transport, GError **error);
VlgCatalogue *vlg_catalogue_load_file(const char *path, VlgTransport default_transport,
				      GError **error);
/* The embedded demo catalogue (config/defaults/catalogue.conf): six cameras on camsim. */
VlgCatalogue *vlg_catalogue_load_default(VlgTransport default_transport, GError **error);

VlgCatalogue *vlg_catalogue_free(VlgCatalogue *catalogue);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgCatalogue, vlg_catalogue_free)

const VlgOrgNode *vlg_catalogue_root(const VlgCatalogue *catalogue);
const VlgOrgNode *vlg_catalogue_find_node(const VlgCatalogue *catalogue, const char *code);
const VlgCameraInfo *vlg_catalogue_find_camera(const VlgCatalogue *catalogue, const char *id);
/* All cameras, in file order; the array belongs to the catalogue. */
GPtrArray *vlg_catalogue_cameras(const VlgCatalogue *catalogue);
guint vlg_catalogue_node_count(const VlgCatalogue *catalogue);
/* All org nodes, in file order; the array belongs to the catalogue. */
GPtrArray *vlg_catalogue_nodes(const VlgCatalogue *catalogue);

/* TRUE when @node is @ancestor or lies in its subtree. */
gboolean vlg_org_node_is_within(const VlgOrgNode *node, const VlgOrgNode *ancestor);
const char *vlg_org_level_to_string(VlgOrgLevel level);

/* Level of a 12-digit division code, FALSE when it is not a well-formed code. */
gboolean vlg_division_code_level(const char *code, VlgOrgLevel *level);
/* The parent's code of a well-formed code below city level, written to @parent (13 bytes). */
gboolean vlg_division_code_parent(const char *code, char parent[13]);

/* @url with any user:password@ removed, for logs and API replies; newly allocated. */
char *vlg_url_redact(const char *url);
/* TRUE for a DNS name or an IP literal, as GUri gives a URL's host (IPv6 without brackets). */
gboolean vlg_url_host_is_valid(const char *host);

G_END_DECLS
