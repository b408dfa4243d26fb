/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The catalogue loader. Three passes over the key-file index: [org CODE] groups make nodes,
 * [camera ID] groups make cameras, then the tree is linked (each node to the parent its code
 * names) and each camera to its node. Orgs and cameras may come in any order in the file. Lookups
 * go through hash tables so the 2,864-camera city loads in milliseconds. Every error goes to the
 * index, which returns them all, by line.
 */
#include "config/catalogue.h"

#include <gio/gio.h>
#include <string.h>

#include "config/keyfile-index.h"
#include "config/vlg-error.h"

#define VLG_CATALOGUE_RESOURCE "/org/linkage/gateway/config/defaults/catalogue.conf"
#define VLG_CAMERA_ID_MAX 64
#define VLG_DEFAULT_PRIORITY 50

struct _VlgCatalogue {
	GPtrArray *nodes;          /* of VlgOrgNode*, owned, file order */
	GHashTable *nodes_by_code; /* code -> VlgOrgNode*, borrowed */
	GPtrArray *cameras;        /* of VlgCameraInfo*, owned, file order */
	GHashTable *cameras_by_id; /* id -> VlgCameraInfo*, borrowed */
	VlgOrgNode *root;
};

typedef struct {
	VlgKeyfileIndex *index;
	VlgCatalogue *catalogue;
	VlgTransport default_transport;
} VlgCatalogueParse;

/* A camera while its group is read: what is only known once every key has been seen. */
typedef struct {
	VlgCameraInfo *camera;
	const char *group;
	char *org_code;
	char *url_user; /* credentials found in url and sub-url */
	char *url_password;
	char *sub_user;
	char *sub_password;
} VlgCameraDraft;

typedef void (*VlgCameraKeyParser)(VlgCatalogueParse *parse, VlgCameraDraft *draft,
				   const char *key);

typedef struct {
	const char *key;
	VlgCameraKeyParser parse;
} VlgCameraKey;

/* Digit ranges of a 12-digit code: province, city, district, street, community. */
static const struct {
	guint start;
	guint len;
} code_segments[] = { { 0, 2 }, { 2, 2 }, { 4, 2 }, { 6, 3 }, { 9, 3 } };

static const char *const level_names[] = { "city", "district", "street", "community" };

static gboolean
segment_is_zero(const char *code, guint segment)
{
	for (guint i = 0; i < code_segments[segment].len; i++) {
		if (code[code_segments[segment].start + i] != '0')
			return FALSE;
	}
	return TRUE;
}

gboolean
vlg_division_code_level(const char *code, VlgOrgLevel *level)
{
	guint last = 0;

	if (code == NULL || strlen(code) != 12)
		return FALSE;
	for (guint i = 0; i < 12; i++) {
		if (!g_ascii_isdigit(code[i]))
			return FALSE;
	}
	/* Nonzero segments from the province down, then only zeros: no gaps. */
	while (last + 1 < G_N_ELEMENTS(code_segments) && !segment_is_zero(code, last + 1))
		last++;
	for (guint i = last + 1; i < G_N_ELEMENTS(code_segments); i++) {
		if (!segment_is_zero(code, i))
			return FALSE;
	}
	if (segment_is_zero(code, 0) || last == 0)
		return FALSE; /* a province is not a node of our tree */
	if (level != NULL)
		*level = (VlgOrgLevel)(last - 1);
	return TRUE;
}

gboolean
vlg_division_code_parent(const char *code, char parent[13])
{
	VlgOrgLevel level;
	guint segment;

	if (!vlg_division_code_level(code, &level) || level == VLG_ORG_LEVEL_CITY)
		return FALSE;
	segment = (guint)level + 1;
	memcpy(parent, code, 13);
	memset(parent + code_segments[segment].start, '0', code_segments[segment].len);
	return TRUE;
}

const char *
vlg_org_level_to_string(VlgOrgLevel level)
{
	if ((guint)level >= G_N_ELEMENTS(level_names))
		return "unknown";
	return level_names[level];
}

gboolean
vlg_org_node_is_within(const VlgOrgNode *node, const VlgOrgNode *ancestor)
{
	for (; node != NULL; node = node->parent) {
		if (node == ancestor)
			return TRUE;
	}
	return FALSE;
}

/* Where "user:password@" sits in @url: [*start, *end). FALSE when there is none. The userinfo
 * runs from "://" to the last '@' before the first '/', '?' or '#' (RFC 3986). */
static gboolean
find_userinfo(const char *url, gsize *start, gsize *end)
{
	const char *scheme_end = strstr(url, "://");
	const char *authority;
	gsize authority_len;
	const char *at;

	if (scheme_end == NULL)
		return FALSE;
	authority = scheme_end + 3;
	authority_len = strcspn(authority, "/?#");
	at = g_strrstr_len(authority, authority_len, "@");
	if (at == NULL)
		return FALSE;
	*start = authority - url;
	*end = at + 1 - url;
	return TRUE;
}

/* Everything up to the last '@' goes, not only a well-formed userinfo: a password with an
 * unescaped '/', '?' or '#' would otherwise leave a piece of itself in the URL. Stored URLs hold no
 * '@' (the loader refuses them), so this cuts nothing else from them. */
char *
vlg_url_redact(const char *url)
{
	const char *last_at;
	const char *scheme_end;
	gsize keep = 0;

	if (url == NULL)
		return NULL;
	last_at = strrchr(url, '@');
	if (last_at == NULL)
		return g_strdup(url);
	scheme_end = strstr(url, "://");
	if (scheme_end != NULL && scheme_end < last_at)
		keep = scheme_end + 3 - url;
	return g_strdup_printf("%.*s%s", (int)keep, url, last_at + 1);
}

gboolean
vlg_url_host_is_valid(const char *host)
{
	if (host == NULL || *host == '\0')
		return FALSE;
	if (g_hostname_is_ip_address(host))
		return TRUE;
	for (const char *p = host; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_')
			return FALSE;
	}
	return host[0] != '.' && strstr(host, "..") == NULL;
}

/* "user:password" -> decoded user and password, NULL for empty ones; FALSE on a bad %-escape. */
static gboolean
split_credentials(const char *userinfo, char **user, char **password)
{
	const char *colon = strchr(userinfo, ':');
	g_autofree char *raw_user = g_strndup(userinfo, colon ? (gsize)(colon - userinfo)
							     : strlen(userinfo));
	g_autofree char *decoded_user = g_uri_unescape_string(raw_user, NULL);
	g_autofree char *decoded_password = colon ? g_uri_unescape_string(colon + 1, NULL) : NULL;

	if (decoded_user == NULL || (colon != NULL && decoded_password == NULL))
		return FALSE;
	*user = *decoded_user != '\0' ? g_steal_pointer(&decoded_user) : NULL;
	*password = decoded_password != NULL && *decoded_password != '\0'
			    ? g_steal_pointer(&decoded_password)
			    : NULL;
	return TRUE;
}

/* Splits an RTSP URL into the URL without credentials (@bare) and the credentials it embedded.
 * NULL on success, else the reason, newly allocated; nothing is written on failure. The reason
 * never quotes the credentials: GUri only ever sees the URL without them. */
static char *
split_rtsp_url(const char *url, char **bare, char **user, char **password)
{
	g_autofree char *stripped = NULL;
	g_autofree char *found_user = NULL;
	g_autofree char *found_password = NULL;
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GError) error = NULL;
	gsize start;
	gsize end;

	if (!g_str_has_prefix(url, "rtsp://") && !g_str_has_prefix(url, "rtsps://"))
		return g_strdup("must be an rtsp:// or rtsps:// URL");
	if (find_userinfo(url, &start, &end)) {
		g_autofree char *userinfo = g_strndup(url + start, end - 1 - start);

		if (!split_credentials(userinfo, &found_user, &found_password))
			return g_strdup("bad %-escape in the user:password@ part");
		stripped = g_strdup_printf("%.*s%s", (int)start, url, url + end);
	} else {
		stripped = g_strdup(url);
	}
	if (strchr(stripped, '@') != NULL)
		return g_strdup("an '@' outside user:password@ must be written %40");
	uri = g_uri_parse(stripped, G_URI_FLAGS_NONE, &error);
	if (uri == NULL)
		return g_strdup_printf("not a valid URL: %s", error->message);
	if (!vlg_url_host_is_valid(g_uri_get_host(uri)))
		return g_strdup("no valid host name or address after ://");
	if (g_uri_get_port(uri) == 0)
		return g_strdup("the port must be a number from 1 to 65535");
	*bare = g_steal_pointer(&stripped);
	*user = g_steal_pointer(&found_user);
	*password = g_steal_pointer(&found_password);
	return NULL;
}

static void
node_free(gpointer data)
{
	VlgOrgNode *node = data;

	g_free(node->name);
	g_ptr_array_unref(node->children);
	g_ptr_array_unref(node->cameras);
	g_free(node);
}

static void
camera_free(gpointer data)
{
	VlgCameraInfo *camera = data;

	g_free(camera->id);
	g_free(camera->name);
	g_free(camera->url);
	g_free(camera->sub_url);
	g_free(camera->username);
	g_free(camera->password);
	g_free(camera);
}

static void
parse_org(VlgCatalogueParse *parse, const char *group, const char *code)
{
	const char *const *keys = vlg_keyfile_index_keys(parse->index, group);
	g_autofree char *name = NULL;
	VlgOrgLevel level;
	VlgOrgNode *node;

	for (guint i = 0; keys[i] != NULL; i++) {
		if (g_str_equal(keys[i], "name"))
			vlg_keyfile_index_get_string(parse->index, group, "name", &name);
		else
			vlg_keyfile_index_error(parse->index, group, keys[i], NULL,
						"unknown key (an org takes only name)");
	}
	if (!vlg_division_code_level(code, &level)) {
		vlg_keyfile_index_error(parse->index, group, NULL, code,
					"not a 12-digit division code of a city, district, street "
					"or community");
		return;
	}
	if (name == NULL || *name == '\0') {
		vlg_keyfile_index_error(parse->index, group, name ? "name" : NULL, NULL,
					name ? "must not be empty" : "missing name");
		return;
	}
	node = g_new0(VlgOrgNode, 1);
	memcpy(node->code, code, sizeof(node->code));
	node->name = g_steal_pointer(&name);
	node->level = level;
	node->children = g_ptr_array_new();
	node->cameras = g_ptr_array_new();
	g_ptr_array_add(parse->catalogue->nodes, node);
	g_hash_table_insert(parse->catalogue->nodes_by_code, node->code, node);
}

static void
report_second_city(VlgCatalogueParse *parse, const char *group)
{
	const char *root = parse->catalogue->root->code;
	g_autofree char *root_group = g_strconcat("org ", root, NULL);

	vlg_keyfile_index_error(parse->index, group, NULL, NULL,
				"a second city: the one root is already [org %s] at line %u", root,
				vlg_keyfile_index_group_line(parse->index, root_group));
}

/* One root, and every other node under the parent its code names. */
static void
link_tree(VlgCatalogueParse *parse)
{
	VlgCatalogue *catalogue = parse->catalogue;

	for (guint i = 0; i < catalogue->nodes->len; i++) {
		VlgOrgNode *node = g_ptr_array_index(catalogue->nodes, i);
		g_autofree char *group = g_strconcat("org ", node->code, NULL);
		char parent_code[13];
		VlgOrgNode *parent;

		if (node->level == VLG_ORG_LEVEL_CITY) {
			if (catalogue->root != NULL)
				report_second_city(parse, group);
			else
				catalogue->root = node;
			continue;
		}
		vlg_division_code_parent(node->code, parent_code);
		parent = g_hash_table_lookup(catalogue->nodes_by_code, parent_code);
		if (parent == NULL) {
			vlg_keyfile_index_error(parse->index, group, NULL, NULL,
						"its parent %s (a %s) is not in the catalogue",
						parent_code,
						vlg_org_level_to_string(node->level - 1));
			continue;
		}
		node->parent = parent;
		g_ptr_array_add(parent->children, node);
	}
}

static void
camera_name(VlgCatalogueParse *parse, VlgCameraDraft *draft, const char *key)
{
	g_autofree char *value = NULL;

	if (!vlg_keyfile_index_get_string(parse->index, draft->group, key, &value))
		return;
	if (*value == '\0') {
		vlg_keyfile_index_error(parse->index, draft->group, key, NULL, "must not be empty");
		return;
	}
	draft->camera->name = g_steal_pointer(&value);
}

static void
camera_org(VlgCatalogueParse *parse, VlgCameraDraft *draft, const char *key)
{
	g_autofree char *value = NULL;
	VlgOrgNode *node;

	if (!vlg_keyfile_index_get_string(parse->index, draft->group, key, &value))
		return;
	node = g_hash_table_lookup(parse->catalogue->nodes_by_code, value);
	if (node == NULL) {
		vlg_keyfile_index_error(parse->index, draft->group, key, value,
					"no such org in the catalogue");
		return;
	}
	draft->camera->org = node;
}

/* url and sub-url: the credentials they embed go to the draft, the rest is stored. */
static void
camera_url(VlgCatalogueParse *parse, VlgCameraDraft *draft, const char *key)
{
	gboolean sub = g_str_equal(key, "sub-url");
	char **field = sub ? &draft->camera->sub_url : &draft->camera->url;
	g_autofree char *value = NULL;
	char *user = NULL;
	char *password = NULL;
	g_autofree char *why = NULL;

	if (!vlg_keyfile_index_get_string(parse->index, draft->group, key, &value))
		return;
	if (sub && *value == '\0')
		return; /* optional */
	why = split_rtsp_url(value, field, &user, &password);
	if (why != NULL) {
		g_autofree char *shown = vlg_url_redact(value);

		vlg_keyfile_index_error(parse->index, draft->group, key, shown, "%s", why);
		return;
	}
	*(sub ? &draft->sub_user : &draft->url_user) = user;
	*(sub ? &draft->sub_password : &draft->url_password) = password;
}

static void
camera_credential(VlgCatalogueParse *parse, VlgCameraDraft *draft, const char *key)
{
	char **field = g_str_equal(key, "password") ? &draft->camera->password
						      : &draft->camera->username;
	g_autofree char *value = NULL;

	if (!vlg_keyfile_index_get_string(parse->index, draft->group, key, &value) ||
	    *value == '\0')
		return; /* empty: as if absent, so credentials in url still count */
	*field = g_steal_pointer(&value);
}

static void
camera_priority(VlgCatalogueParse *parse, VlgCameraDraft *draft, const char *key)
{
	vlg_keyfile_index_get_uint(parse->index, draft->group, key, 0, 100,
				   &draft->camera->priority);
}

static void
camera_always_on(VlgCatalogueParse *parse, VlgCameraDraft *draft, const char *key)
{
	vlg_keyfile_index_get_boolean(parse->index, draft->group, key, &draft->camera->always_on);
}

static void
camera_transport(VlgCatalogueParse *parse, VlgCameraDraft *draft, const char *key)
{
	guint choice;

	if (vlg_keyfile_index_get_choice(parse->index, draft->group, key, vlg_transport_names(),
					 &choice))
		draft->camera->transport = (VlgTransport)choice;
}

static const VlgCameraKey camera_keys[] = {
	{ "name", camera_name },
	{ "org", camera_org },
	{ "url", camera_url },
	{ "sub-url", camera_url },
	{ "username", camera_credential },
	{ "password", camera_credential },
	{ "priority", camera_priority },
	{ "always-on", camera_always_on },
	{ "transport", camera_transport },
};

static void
parse_camera_keys(VlgCatalogueParse *parse, VlgCameraDraft *draft)
{
	const char *const *keys = vlg_keyfile_index_keys(parse->index, draft->group);

	for (guint i = 0; keys[i] != NULL; i++) {
		gsize k = 0;

		while (k < G_N_ELEMENTS(camera_keys) && !g_str_equal(camera_keys[k].key, keys[i]))
			k++;
		if (k < G_N_ELEMENTS(camera_keys))
			camera_keys[k].parse(parse, draft, keys[i]);
		else
			vlg_keyfile_index_error(parse->index, draft->group, keys[i], NULL,
						"unknown key");
	}
}

/* Explicit username= and password= win; then what url embeds; then what sub-url embeds. Two
 * different embedded pairs with nothing explicit are ambiguous: the camera has one login. */
static void
merge_credentials(VlgCatalogueParse *parse, VlgCameraDraft *draft)
{
	VlgCameraInfo *camera = draft->camera;
	gboolean url_has = draft->url_user != NULL || draft->url_password != NULL;
	gboolean sub_has = draft->sub_user != NULL || draft->sub_password != NULL;

	if (url_has && sub_has &&
	    (g_strcmp0(draft->url_user, draft->sub_user) != 0 ||
	     g_strcmp0(draft->url_password, draft->sub_password) != 0) &&
	    (camera->username == NULL || camera->password == NULL)) {
		vlg_keyfile_index_error(parse->index, draft->group, "sub-url", NULL,
					"embeds other credentials than url: set username= and "
					"password= instead");
		return;
	}
	if (camera->username == NULL)
		camera->username = g_strdup(url_has ? draft->url_user : draft->sub_user);
	if (camera->password == NULL)
		camera->password = g_strdup(url_has ? draft->url_password : draft->sub_password);
}

static void
parse_camera(VlgCatalogueParse *parse, const char *group, const char *id)
{
	VlgCameraInfo *camera = g_new0(VlgCameraInfo, 1);
	VlgCameraDraft draft = { .camera = camera, .group = group };
	guint errors = vlg_keyfile_index_n_errors(parse->index);
	static const char *const required[] = { "name", "org", "url" };

	camera->id = g_strdup(id);
	camera->priority = VLG_DEFAULT_PRIORITY;
	camera->transport = parse->default_transport;
	camera->line = vlg_keyfile_index_group_line(parse->index, group);
	vlg_keyfile_index_check_name(parse->index, group, "a camera id", id, VLG_CAMERA_ID_MAX);
	parse_camera_keys(parse, &draft);
	for (gsize i = 0; i < G_N_ELEMENTS(required); i++) {
		if (vlg_keyfile_index_key_line(parse->index, group, required[i]) == 0)
			vlg_keyfile_index_error(parse->index, group, NULL, NULL, "missing %s",
						required[i]);
	}
	merge_credentials(parse, &draft);
	g_free(draft.url_user);
	g_free(draft.url_password);
	g_free(draft.sub_user);
	g_free(draft.sub_password);
	if (vlg_keyfile_index_n_errors(parse->index) > errors) {
		camera_free(camera);
		return;
	}
	g_ptr_array_add(parse->catalogue->cameras, camera);
	g_hash_table_insert(parse->catalogue->cameras_by_id, camera->id, camera);
	g_ptr_array_add(camera->org->cameras, camera);
}

static VlgCatalogue *
catalogue_new(void)
{
	VlgCatalogue *catalogue = g_new0(VlgCatalogue, 1);

	catalogue->nodes = g_ptr_array_new_with_free_func(node_free);
	catalogue->nodes_by_code = g_hash_table_new(g_str_hash, g_str_equal);
	catalogue->cameras = g_ptr_array_new_with_free_func(camera_free);
	catalogue->cameras_by_id = g_hash_table_new(g_str_hash, g_str_equal);
	return catalogue;
}

/* Orgs first, so that cameras find their node whatever the order of the file. */
static void
parse_groups(VlgCatalogueParse *parse)
{
	const char *const *groups = vlg_keyfile_index_groups(parse->index);

	for (guint i = 0; groups[i] != NULL; i++) {
		if (g_str_has_prefix(groups[i], "org "))
			parse_org(parse, groups[i], groups[i] + strlen("org "));
		else if (!g_str_has_prefix(groups[i], "camera "))
			vlg_keyfile_index_error(parse->index, groups[i], NULL, NULL,
						"unknown group (known: org CODE, camera ID)");
	}
	link_tree(parse);
	for (guint i = 0; groups[i] != NULL; i++) {
		if (g_str_has_prefix(groups[i], "camera "))
			parse_camera(parse, groups[i], groups[i] + strlen("camera "));
	}
}

static VlgCatalogue *
catalogue_load(VlgKeyfileIndex *index, VlgTransport default_transport, GError **error)
{
	g_autoptr(VlgCatalogue) catalogue = catalogue_new();
	VlgCatalogueParse parse = { index, catalogue, default_transport };

	parse_groups(&parse);
	if (catalogue->root == NULL)
		vlg_keyfile_index_error(index, NULL, NULL, NULL,
					"no city: the catalogue needs one [org XXXX00000000] as "
					"its root");
	if (!vlg_keyfile_index_check(index, VLG_ERROR_CATALOGUE, error))
		return NULL;
	return g_steal_pointer(&catalogue);
}

VlgCatalogue *
vlg_catalogue_load_data(const char *data, gsize length, const char *source_name,
			VlgTransport default_transport, GError **error)
{
	g_autoptr(VlgKeyfileIndex) index = vlg_keyfile_index_new(data, length, source_name);

	return catalogue_load(index, default_transport, error);
}

VlgCatalogue *
vlg_catalogue_load_file(const char *path, VlgTransport default_transport, GError **error)
{
	g_autoptr(VlgKeyfileIndex) index =
		vlg_keyfile_index_new_from_file(path, VLG_ERROR_CATALOGUE, error);

	return index != NULL ? catalogue_load(index, default_transport, error) : NULL;
}

VlgCatalogue *
vlg_catalogue_load_default(VlgTransport default_transport, GError **error)
{
	g_autoptr(VlgKeyfileIndex) index =
		vlg_keyfile_index_new_from_resource(VLG_CATALOGUE_RESOURCE, VLG_ERROR_CATALOGUE,
						    error);

	return index != NULL ? catalogue_load(index, default_transport, error) : NULL;
}

VlgCatalogue *
vlg_catalogue_free(VlgCatalogue *catalogue)
{
	if (catalogue == NULL)
		return NULL;
	/* The tables borrow from the arrays: drop them first. */
	g_hash_table_unref(catalogue->cameras_by_id);
	g_hash_table_unref(catalogue->nodes_by_code);
	g_ptr_array_unref(catalogue->cameras);
	g_ptr_array_unref(catalogue->nodes);
	g_free(catalogue);
	return NULL;
}

const VlgOrgNode *
vlg_catalogue_root(const VlgCatalogue *catalogue)
{
	return catalogue->root;
}

const VlgOrgNode *
vlg_catalogue_find_node(const VlgCatalogue *catalogue, const char *code)
{
	return code != NULL ? g_hash_table_lookup(catalogue->nodes_by_code, code) : NULL;
}

const VlgCameraInfo *
vlg_catalogue_find_camera(const VlgCatalogue *catalogue, const char *id)
{
	return id != NULL ? g_hash_table_lookup(catalogue->cameras_by_id, id) : NULL;
}

GPtrArray *
vlg_catalogue_cameras(const VlgCatalogue *catalogue)
{
	return catalogue->cameras;
}

guint
vlg_catalogue_node_count(const VlgCatalogue *catalogue)
{
	return catalogue->nodes->len;
}

GPtrArray *
vlg_catalogue_nodes(const VlgCatalogue *catalogue)
{
	return catalogue->nodes;
}
