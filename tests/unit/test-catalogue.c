/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the camera catalogue (config/catalogue.c): the demo catalogue, bad catalogues
 * naming their lines, credentials moved out of URLs, the org tree helpers and the 2,864-camera
 * city catalogue.
 */
#include <check.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "config/catalogue.h"
#include "config/vlg-error.h"

#define ORGS                                                                                       \
	"[org 330200000000]\nname=City\n"                                                          \
	"[org 330203000000]\nname=District\n"                                                      \
	"[org 330203001000]\nname=Street\n"                                                        \
	"[org 330203001001]\nname=Community\n"
/* ORGS is 8 lines: groups of the tests below start at line 9. */

static VlgCatalogue *
load_ok(const char *text)
{
	g_autoptr(GError) error = NULL;
	VlgCatalogue *catalogue =
		vlg_catalogue_load_data(text, -1, "ok.conf", VLG_TRANSPORT_TCP, &error);

	ck_assert_msg(catalogue != NULL, "%s", error ? error->message : "?");
	return catalogue;
}

static char *
load_error(const char *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgCatalogue) catalogue =
		vlg_catalogue_load_data(text, -1, "bad.conf", VLG_TRANSPORT_TCP, &error);

	ck_assert_msg(catalogue == NULL, "loaded although bad:\n%s", text);
	ck_assert(g_error_matches(error, VLG_ERROR, VLG_ERROR_CATALOGUE));
	return g_strdup(error->message);
}

static void
assert_node(const VlgCatalogue *catalogue, const char *code, const char *name, VlgOrgLevel level,
	    const char *parent, guint n_children, guint n_cameras)
{
	const VlgOrgNode *node = vlg_catalogue_find_node(catalogue, code);

	ck_assert_msg(node != NULL, "no node %s", code);
	ck_assert_str_eq(node->code, code);
	ck_assert_str_eq(node->name, name);
	ck_assert_int_eq(node->level, level);
	if (parent == NULL)
		ck_assert_ptr_null(node->parent);
	else
		ck_assert_str_eq(node->parent->code, parent);
	ck_assert_uint_eq(node->children->len, n_children);
	ck_assert_uint_eq(node->cameras->len, n_cameras);
}

START_TEST(test_demo_default)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgCatalogue) catalogue = vlg_catalogue_load_default(VLG_TRANSPORT_UDP, &error);
	static const char *const ids[] = { "cam-h264-cbp", "cam-h264-main", "cam-h264-bframes",
					   "cam-h265",     "cam-pcma",      "cam-aac" };
	GPtrArray *cameras;
	const VlgCameraInfo *camera;

	ck_assert_msg(catalogue != NULL, "%s", error ? error->message : "?");
	cameras = vlg_catalogue_cameras(catalogue);
	ck_assert_uint_eq(cameras->len, 6);
	ck_assert_uint_eq(vlg_catalogue_node_count(catalogue), 6);
	ck_assert_str_eq(vlg_catalogue_root(catalogue)->code, "330200000000");
	assert_node(catalogue, "330200000000", "Demo City", VLG_ORG_LEVEL_CITY, NULL, 1, 0);
	assert_node(catalogue, "330203000000", "Haishu District", VLG_ORG_LEVEL_DISTRICT,
		    "330200000000", 2, 0);
	assert_node(catalogue, "330203001000", "Gulou Street", VLG_ORG_LEVEL_STREET, "330203000000",
		    1, 0);
	assert_node(catalogue, "330203002000", "Baiyun Street", VLG_ORG_LEVEL_STREET, "330203000000",
		    1, 0);
	assert_node(catalogue, "330203001001", "Xishu Community", VLG_ORG_LEVEL_COMMUNITY,
		    "330203001000", 0, 3);
	assert_node(catalogue, "330203002001", "Dongmen Community", VLG_ORG_LEVEL_COMMUNITY,
		    "330203002000", 0, 3);
	for (gsize i = 0; i < G_N_ELEMENTS(ids); i++) {
		camera = g_ptr_array_index(cameras, i);
		ck_assert_str_eq(camera->id, ids[i]);
		ck_assert_ptr_eq(vlg_catalogue_find_camera(catalogue, ids[i]), camera);
		ck_assert(g_str_has_prefix(camera->url, "rtsp://127.0.0.1:8554/"));
		ck_assert_int_eq(camera->always_on, TRUE); /* the demo shows live before any screen watches */
		ck_assert_int_eq(camera->transport, VLG_TRANSPORT_UDP);
		ck_assert_ptr_null(camera->username);
		ck_assert_ptr_null(camera->password);
		ck_assert_ptr_null(camera->sub_url);
		ck_assert_uint_gt(camera->line, 0);
	}
	camera = vlg_catalogue_find_camera(catalogue, "cam-h265");
	ck_assert_str_eq(camera->url, "rtsp://127.0.0.1:8554/h265-main-720p");
	ck_assert_str_eq(camera->org->code, "330203002001");
	ck_assert_ptr_null(vlg_catalogue_find_camera(catalogue, "cam-nope"));
	ck_assert_ptr_null(vlg_catalogue_find_node(catalogue, "330203001003"));
}
END_TEST

START_TEST(test_demo_on_disk)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgCatalogue) catalogue = vlg_catalogue_load_file(
		VLG_SOURCE_ROOT "/config/defaults/catalogue.conf", VLG_TRANSPORT_TCP, &error);
	g_autoptr(VlgCatalogue) missing =
		vlg_catalogue_load_file("/nonexistent/catalogue.conf", VLG_TRANSPORT_TCP, NULL);
	GHashTable *priorities = g_hash_table_new(NULL, NULL);
	GPtrArray *cameras;

	ck_assert_msg(catalogue != NULL, "%s", error ? error->message : "?");
	ck_assert_ptr_null(missing);
	cameras = vlg_catalogue_cameras(catalogue);
	for (guint i = 0; i < cameras->len; i++) {
		const VlgCameraInfo *camera = g_ptr_array_index(cameras, i);

		g_hash_table_add(priorities, GUINT_TO_POINTER(camera->priority));
	}
	ck_assert_uint_ge(g_hash_table_size(priorities), 4); /* varied priorities */
	g_hash_table_unref(priorities);
}
END_TEST

/* Each bad catalogue, the "name:LINE: [group]" its message must hold, and a second fragment. */
static const struct {
	const char *text;
	const char *place;
	const char *detail;
} bad_catalogues[] = {
	{ ORGS "[org 3302030010]\nname=Short\n", "bad.conf:9: [org 3302030010]: ",
	  "12-digit division code" },
	{ ORGS "[org 330203001x01]\nname=X\n", "bad.conf:9: [org 330203001x01]: ",
	  "division code" },
	{ ORGS "[org 330200001000]\nname=Gap\n", "bad.conf:9: [org 330200001000]: ",
	  "division code" },
	{ ORGS "[org 330000000000]\nname=Province\n", "bad.conf:9: [org 330000000000]: ",
	  "division code" },
	{ ORGS "[org 330204001001]\nname=Orphan\n", "bad.conf:9: [org 330204001001]: ",
	  "parent 330204001000 (a street) is not in the catalogue" },
	{ ORGS "[org 330300000000]\nname=Second city\n", "bad.conf:9: [org 330300000000]: ",
	  "a second city" },
	{ ORGS "[org 330203001002]\n", "bad.conf:9: [org 330203001002]: ", "missing name" },
	{ ORGS "[org 330203001002]\nname=\n", "bad.conf:10: [org 330203001002] name: ", "empty" },
	{ ORGS "[org 330203001002]\nname=X\ncolour=red\n",
	  "bad.conf:11: [org 330203001002] colour: ", "unknown key" },
	{ "[org 330203000000]\nname=District\n", "bad.conf: ", "no city" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a\n"
	       "[camera a]\nname=B\norg=330203001001\nurl=rtsp://h/b\n",
	  "bad.conf:13: [camera a]: ", "repeated group (first at line 9)" },
	{ ORGS "[camera cam 1]\nname=A\norg=330203001001\nurl=rtsp://h/a\n",
	  "bad.conf:9: [camera cam 1]: ", "camera id" },
	{ ORGS "[camera cam.1]\nname=A\norg=330203001001\nurl=rtsp://h/a\n",
	  "bad.conf:9: [camera cam.1]: ", "(got 'cam.1')" },
	{ ORGS "[camera "
	       "a123456789b123456789c123456789d123456789e123456789f123456789g12345]\n"
	       "name=A\norg=330203001001\nurl=rtsp://h/a\n",
	  "bad.conf:9: [camera a123456789", "1-64" },
	{ ORGS "[camera a]\nname=A\norg=330203001009\nurl=rtsp://h/a\n",
	  "bad.conf:11: [camera a] org: ", "no such org in the catalogue (got '330203001009')" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=http://h/a\n",
	  "bad.conf:12: [camera a] url: ", "rtsp:// or rtsps://" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp:///a\n",
	  "bad.conf:12: [camera a] url: ", "host" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h:99999/a\n",
	  "bad.conf:12: [camera a] url: ", "(got 'rtsp://h:99999/a')" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a@b\n",
	  "bad.conf:12: [camera a] url: ", "%40" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a\nsub-url=rtmp://h/b\n",
	  "bad.conf:13: [camera a] sub-url: ", "rtsp://" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a\npriority=101\n",
	  "bad.conf:13: [camera a] priority: ", "0 to 100 (got '101')" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a\npriority=high\n",
	  "bad.conf:13: [camera a] priority: ", "(got 'high')" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a\nalways-on=sometimes\n",
	  "bad.conf:13: [camera a] always-on: ", "true or false" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a\ntransport=http\n",
	  "bad.conf:13: [camera a] transport: ", "tcp or udp" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a\nuser=admin\n",
	  "bad.conf:13: [camera a] user: ", "unknown key" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\n", "bad.conf:9: [camera a]: ",
	  "missing url" },
	{ ORGS "[camera a]\norg=330203001001\nurl=rtsp://h/a\n", "bad.conf:9: [camera a]: ",
	  "missing name" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://u:p@h/a\nsub-url=rtsp://v:q@h/b\n",
	  "bad.conf:13: [camera a] sub-url: ", "other credentials" },
	{ ORGS "[cameras a]\nname=A\n", "bad.conf:9: [cameras a]: ", "unknown group" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl rtsp://h/a\n", "bad.conf:12: ",
	  "not blank, a comment" },
	{ ORGS "\n\n[camera a\n", "bad.conf:11: ", "no closing ']'" },
	{ ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a\nname=B\n",
	  "bad.conf:13: [camera a] name: ", "repeated key (first at line 10)" },
};

START_TEST(test_bad_catalogue)
{
	g_autofree char *message = load_error(bad_catalogues[_i].text);

	ck_assert_msg(strstr(message, bad_catalogues[_i].place) != NULL, "'%s' not in:\n%s",
		      bad_catalogues[_i].place, message);
	ck_assert_msg(strstr(message, bad_catalogues[_i].detail) != NULL, "'%s' not in:\n%s",
		      bad_catalogues[_i].detail, message);
}
END_TEST

START_TEST(test_errors_together)
{
	g_autofree char *message = load_error(ORGS "[camera b]\n"
						   "name=B\n"
						   "org=330203001001\n"
						   "url=ftp://h/b\n"
						   "priority=-1\n"
						   "[org 330203009001]\n"
						   "name=Lost\n");
	g_auto(GStrv) lines = g_strsplit(message, "\n", -1);

	ck_assert_uint_eq(g_strv_length(lines), 3);
	ck_assert(g_str_has_prefix(lines[0], "bad.conf:12: [camera b] url: "));
	ck_assert(g_str_has_prefix(lines[1], "bad.conf:13: [camera b] priority: "));
	ck_assert(g_str_has_prefix(lines[2], "bad.conf:14: [org 330203009001]: its parent"));
}
END_TEST

START_TEST(test_credentials_moved)
{
	g_autoptr(VlgCatalogue) catalogue = load_ok(
		ORGS "[camera a]\nname=A\norg=330203001001\n"
		     "url=rtsp://admin:pa%40ss:w@10.0.0.5:554/Streaming/Channels/101?x=1\n"
		     "sub-url=rtsp://admin:pa%40ss:w@10.0.0.5/Streaming/Channels/102\n"
		     "[camera b]\nname=B\norg=330203001000\n"
		     "url=rtsps://olduser:oldpass@[2001:db8::5]:322/live\n"
		     "username=newuser\npassword=newpass\ntransport=udp\npriority=0\n"
		     "always-on=true\n"
		     "[camera c]\nname=C\norg=330203000000\nurl=rtsp://cam.example.org/live\n"
		     "sub-url=rtsp://only:sub@cam.example.org/sub\n"
		     "[camera d]\nname=D\norg=330200000000\nurl=rtsp://user:p@ss@h/a\n"
		     "password=\n");
	const VlgCameraInfo *a = vlg_catalogue_find_camera(catalogue, "a");
	const VlgCameraInfo *b = vlg_catalogue_find_camera(catalogue, "b");
	const VlgCameraInfo *c = vlg_catalogue_find_camera(catalogue, "c");
	const VlgCameraInfo *d = vlg_catalogue_find_camera(catalogue, "d");

	ck_assert_str_eq(a->url, "rtsp://10.0.0.5:554/Streaming/Channels/101?x=1");
	ck_assert_str_eq(a->sub_url, "rtsp://10.0.0.5/Streaming/Channels/102");
	ck_assert_str_eq(a->username, "admin");
	ck_assert_str_eq(a->password, "pa@ss:w");
	ck_assert_uint_eq(a->priority, 50);
	ck_assert_int_eq(a->transport, VLG_TRANSPORT_TCP);
	ck_assert_str_eq(b->url, "rtsps://[2001:db8::5]:322/live");
	ck_assert_str_eq(b->username, "newuser");
	ck_assert_str_eq(b->password, "newpass");
	ck_assert_int_eq(b->transport, VLG_TRANSPORT_UDP);
	ck_assert_uint_eq(b->priority, 0);
	ck_assert_int_eq(b->always_on, TRUE);
	ck_assert_str_eq(c->url, "rtsp://cam.example.org/live");
	ck_assert_str_eq(c->sub_url, "rtsp://cam.example.org/sub");
	ck_assert_str_eq(c->username, "only");
	ck_assert_str_eq(c->password, "sub");
	/* An unescaped '@' in a password: the last '@' ends the credentials; an empty
	 * password= does not override them. */
	ck_assert_str_eq(d->url, "rtsp://h/a");
	ck_assert_str_eq(d->password, "p@ss");
	ck_assert_str_eq(d->org->code, "330200000000");
}
END_TEST

START_TEST(test_secrets_not_shown)
{
	static const char *const files[] = {
		ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://u:s3cret@h:0/a\n",
		ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://u:s3c/ret@h/a\n",
		ORGS "[camera a]\nname=A\norg=330203001001\nurl=http://u:s3cret@h/a\n",
		ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://h/a\npassword=s3cret\\q\n",
		ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://u:s3cret%zz@h/a\n",
		ORGS "[camera a]\nname=A\norg=330203001001\nurl=rtsp://u:s3cret@h/a\n"
		     "sub-url=rtsp://u:s3cre7@h/b\n",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *message = load_error(files[i]);

		ck_assert_msg(strstr(message, "s3c") == NULL, "secret shown:\n%s", message);
		ck_assert_msg(strstr(message, "bad.conf:") != NULL, "%s", message);
	}
}
END_TEST

START_TEST(test_url_redact)
{
	static const char *const cases[][2] = {
		{ "rtsp://h/a", "rtsp://h/a" },
		{ "rtsp://u:p@h:554/a?b=c", "rtsp://h:554/a?b=c" },
		{ "rtsp://u@h/a", "rtsp://h/a" },
		{ "rtsp://u:p@ss@h/a", "rtsp://h/a" },
		{ "rtsp://u:p/ss@h/a", "rtsp://h/a" },
		{ "u:p@h", "h" },
		{ "", "" },
	};

	ck_assert_ptr_null(vlg_url_redact(NULL));
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *redacted = vlg_url_redact(cases[i][0]);

		ck_assert_str_eq(redacted, cases[i][1]);
	}
}
END_TEST

START_TEST(test_is_within)
{
	g_autoptr(VlgCatalogue) catalogue =
		load_ok(ORGS "[org 330203001002]\nname=Other\n[org 330205000000]\nname=North\n");
	const VlgOrgNode *city = vlg_catalogue_find_node(catalogue, "330200000000");
	const VlgOrgNode *district = vlg_catalogue_find_node(catalogue, "330203000000");
	const VlgOrgNode *street = vlg_catalogue_find_node(catalogue, "330203001000");
	const VlgOrgNode *community = vlg_catalogue_find_node(catalogue, "330203001001");
	const VlgOrgNode *other = vlg_catalogue_find_node(catalogue, "330203001002");
	const VlgOrgNode *north = vlg_catalogue_find_node(catalogue, "330205000000");

	ck_assert(vlg_org_node_is_within(community, community));
	ck_assert(vlg_org_node_is_within(community, street));
	ck_assert(vlg_org_node_is_within(community, district));
	ck_assert(vlg_org_node_is_within(community, city));
	ck_assert(!vlg_org_node_is_within(community, other));
	ck_assert(!vlg_org_node_is_within(street, community));
	ck_assert(!vlg_org_node_is_within(city, district));
	ck_assert(!vlg_org_node_is_within(community, north));
	ck_assert(vlg_org_node_is_within(north, city));
	ck_assert(!vlg_org_node_is_within(NULL, city));
	ck_assert_uint_eq(city->children->len, 2);
}
END_TEST

START_TEST(test_division_codes)
{
	static const struct {
		const char *code;
		int level; /* -1: not a code */
		const char *parent;
	} codes[] = {
		{ "330200000000", VLG_ORG_LEVEL_CITY, NULL },
		{ "330203000000", VLG_ORG_LEVEL_DISTRICT, "330200000000" },
		{ "330203001000", VLG_ORG_LEVEL_STREET, "330203000000" },
		{ "330203001001", VLG_ORG_LEVEL_COMMUNITY, "330203001000" },
		{ "330203100000", VLG_ORG_LEVEL_STREET, "330203000000" },
		{ "330203000100", -1, NULL },
		{ "330000000000", -1, NULL },
		{ "000200000000", -1, NULL },
		{ "33020300100", -1, NULL },
		{ "3302030010010", -1, NULL },
		{ "33020300100a", -1, NULL },
		{ "", -1, NULL },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(codes); i++) {
		VlgOrgLevel level = 99;
		char parent[13] = "unchanged";

		ck_assert_int_eq(vlg_division_code_level(codes[i].code, &level),
				 codes[i].level >= 0);
		if (codes[i].level >= 0)
			ck_assert_int_eq(level, codes[i].level);
		ck_assert_int_eq(vlg_division_code_parent(codes[i].code, parent),
				 codes[i].parent != NULL);
		ck_assert_str_eq(parent, codes[i].parent ? codes[i].parent : "unchanged");
	}
	ck_assert(!vlg_division_code_level(NULL, NULL));
	ck_assert_str_eq(vlg_org_level_to_string(VLG_ORG_LEVEL_CITY), "city");
	ck_assert_str_eq(vlg_org_level_to_string(VLG_ORG_LEVEL_COMMUNITY), "community");
}
END_TEST

/* Nodes per level in the subtree of @node, through the children links. */
static void
count_levels(const VlgOrgNode *node, guint levels[4])
{
	levels[node->level]++;
	for (guint i = 0; i < node->children->len; i++) {
		const VlgOrgNode *child = g_ptr_array_index(node->children, i);

		ck_assert_ptr_eq(child->parent, node);
		ck_assert_int_eq(child->level, node->level + 1);
		count_levels(child, levels);
	}
}

/* The committed city catalogue: its size, its four levels, and (printed, not asserted) how long
 * it takes to load. */
START_TEST(test_city_catalogue)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgCatalogue) catalogue = NULL;
	guint levels[4] = { 0 };
	GPtrArray *cameras;
	gint64 start = g_get_monotonic_time();
	gint64 elapsed;

	catalogue = vlg_catalogue_load_file(VLG_SOURCE_ROOT "/config/city-catalogue.conf",
					    VLG_TRANSPORT_TCP, &error);
	elapsed = g_get_monotonic_time() - start;
	ck_assert_msg(catalogue != NULL, "%s", error ? error->message : "?");
	cameras = vlg_catalogue_cameras(catalogue);
	ck_assert_uint_eq(cameras->len, 2864);
	for (guint i = 0; i < cameras->len; i++) {
		const VlgCameraInfo *camera = g_ptr_array_index(cameras, i);

		ck_assert(vlg_org_node_is_within(camera->org, vlg_catalogue_root(catalogue)));
		levels[camera->org->level]++;
	}
	ck_assert_uint_gt(levels[VLG_ORG_LEVEL_DISTRICT], 0);
	ck_assert_uint_gt(levels[VLG_ORG_LEVEL_STREET], 0);
	ck_assert_uint_gt(levels[VLG_ORG_LEVEL_COMMUNITY], 0);
	levels[0] = levels[1] = levels[2] = levels[3] = 0;
	count_levels(vlg_catalogue_root(catalogue), levels);
	ck_assert_uint_eq(levels[0] + levels[1] + levels[2] + levels[3],
			  vlg_catalogue_node_count(catalogue));
	ck_assert_uint_eq(levels[VLG_ORG_LEVEL_CITY], 1);
	ck_assert_uint_gt(levels[VLG_ORG_LEVEL_DISTRICT], 0);
	ck_assert_uint_gt(levels[VLG_ORG_LEVEL_STREET], 0);
	ck_assert_uint_gt(levels[VLG_ORG_LEVEL_COMMUNITY], 0);
	g_printerr("# city catalogue: %u cameras, %u nodes loaded in %.1f ms\n", cameras->len,
		vlg_catalogue_node_count(catalogue), elapsed / 1000.0);
}
END_TEST

static Suite *
catalogue_suite(void)
{
	Suite *suite = suite_create("catalogue");
	TCase *tc;

	tc = tcase_create("demo");
	tcase_add_test(tc, test_demo_default);
	tcase_add_test(tc, test_demo_on_disk);
	suite_add_tcase(suite, tc);

	tc = tcase_create("bad-catalogues");
	tcase_add_loop_test(tc, test_bad_catalogue, 0, G_N_ELEMENTS(bad_catalogues));
	tcase_add_test(tc, test_errors_together);
	suite_add_tcase(suite, tc);

	tc = tcase_create("credentials");
	tcase_add_test(tc, test_credentials_moved);
	tcase_add_test(tc, test_secrets_not_shown);
	tcase_add_test(tc, test_url_redact);
	suite_add_tcase(suite, tc);

	tc = tcase_create("org-tree");
	tcase_add_test(tc, test_is_within);
	tcase_add_test(tc, test_division_codes);
	suite_add_tcase(suite, tc);

	tc = tcase_create("city");
	tcase_set_timeout(tc, 60); /* valgrind */
	tcase_add_test(tc, test_city_catalogue);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(catalogue_suite());
	int failed;

	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
