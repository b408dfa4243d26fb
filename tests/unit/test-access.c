/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Four levels kept apart: every level's viewer against cameras inside and outside its subtree. */
#include <check.h>
#include <stdlib.h>

#include "gateway/access.h"

/* Two districts; district 03 has two streets; street 001 has two communities. One camera per
 * node, named after it. */
static const char catalogue_text[] =
	"[org 330200000000]\nname=City\n"
	"[org 330203000000]\nname=District A\n"
	"[org 330205000000]\nname=District B\n"
	"[org 330203001000]\nname=Street A1\n"
	"[org 330203002000]\nname=Street A2\n"
	"[org 330205001000]\nname=Street B1\n"
	"[org 330203001001]\nname=Community A1a\n"
	"[org 330203001002]\nname=Community A1b\n"
	"[org 330203002001]\nname=Community A2a\n"
	"[org 330205001001]\nname=Community B1a\n"
	"[camera city]\nname=c\norg=330200000000\nurl=rtsp://127.0.0.1/c\n"
	"[camera dA]\nname=c\norg=330203000000\nurl=rtsp://127.0.0.1/c\n"
	"[camera dB]\nname=c\norg=330205000000\nurl=rtsp://127.0.0.1/c\n"
	"[camera sA1]\nname=c\norg=330203001000\nurl=rtsp://127.0.0.1/c\n"
	"[camera sA2]\nname=c\norg=330203002000\nurl=rtsp://127.0.0.1/c\n"
	"[camera sB1]\nname=c\norg=330205001000\nurl=rtsp://127.0.0.1/c\n"
	"[camera cA1a]\nname=c\norg=330203001001\nurl=rtsp://127.0.0.1/c\n"
	"[camera cA1b]\nname=c\norg=330203001002\nurl=rtsp://127.0.0.1/c\n"
	"[camera cA2a]\nname=c\norg=330203002001\nurl=rtsp://127.0.0.1/c\n"
	"[camera cB1a]\nname=c\norg=330205001001\nurl=rtsp://127.0.0.1/c\n";

static const char *const cameras[] = { "city", "dA",   "dB",   "sA1",  "sA2",
				       "sB1",  "cA1a", "cA1b", "cA2a", "cB1a" };

/* For each viewer node, the cameras it sees, as a string of 0/1 in the order of cameras[]. */
static const struct {
	const char *org;
	const char *visible;
} table[] = {
	{ "330200000000", "1111111111" }, /* city: all */
	{ "330203000000", "0101101110" }, /* district A: itself, its streets, their communities */
	{ "330205000000", "0010010001" }, /* district B */
	{ "330203001000", "0001001100" }, /* street A1: itself and its two communities */
	{ "330203002000", "0000100010" }, /* street A2 */
	{ "330205001000", "0000010001" }, /* street B1 */
	{ "330203001001", "0000001000" }, /* community A1a: only its own */
	{ "330203001002", "0000000100" }, /* community A1b: not its neighbour A1a */
	{ "330203002001", "0000000010" },
	{ "330205001001", "0000000001" },
	{ "330207000000", "0000000000" }, /* a district this box does not know */
	{ "330300000000", "0000000000" }, /* another city */
};

static VlgCatalogue *catalogue;

static void
setup(void)
{
	g_autoptr(GError) error = NULL;

	catalogue = vlg_catalogue_load_data(catalogue_text, sizeof(catalogue_text) - 1, "t.conf",
					    VLG_TRANSPORT_TCP, &error);
	ck_assert_msg(catalogue, "%s", error ? error->message : "?");
}

static void
teardown(void)
{
	catalogue = vlg_catalogue_free(catalogue);
}

START_TEST(test_cameras_by_level)
{
	for (VlgRole role = VLG_ROLE_VIEWER; role <= VLG_ROLE_ADMIN; role++) {
		g_autoptr(VlgPrincipal) viewer =
			vlg_principal_new(table[_i].org, role, "v", G_MAXINT64);

		for (guint c = 0; c < G_N_ELEMENTS(cameras); c++) {
			const VlgCameraInfo *camera = vlg_catalogue_find_camera(catalogue, cameras[c]);
			gboolean want = table[_i].visible[c] == '1';

			ck_assert_msg(vlg_access_camera_visible(viewer, camera) == want,
				      "%s (%s) %s camera %s", table[_i].org,
				      vlg_role_to_string(role), want ? "must see" : "must not see",
				      cameras[c]);
			/* A camera's node is visible exactly when the camera is. */
			ck_assert(vlg_access_node_visible(viewer, camera->org) == want);
		}
	}
}
END_TEST

START_TEST(test_root_is_own_node)
{
	g_autoptr(VlgPrincipal) street = vlg_principal_new("330203001000", VLG_ROLE_VIEWER, "s", 0);
	g_autoptr(VlgPrincipal) stranger =
		vlg_principal_new("330300000000", VLG_ROLE_ADMIN, "x", 0);

	ck_assert_str_eq(vlg_access_root(street, catalogue)->code, "330203001000");
	ck_assert_ptr_null(vlg_access_root(stranger, catalogue));
	ck_assert(!vlg_access_camera_visible(street, NULL));
}
END_TEST

START_TEST(test_principal_levels_and_roles)
{
	g_autoptr(VlgPrincipal) community =
		vlg_principal_new("330203001001", VLG_ROLE_OPERATOR, "o", 100);

	ck_assert_int_eq(community->level, VLG_ORG_LEVEL_COMMUNITY);
	ck_assert(vlg_principal_has_role(community, VLG_ROLE_VIEWER));
	ck_assert(vlg_principal_has_role(community, VLG_ROLE_OPERATOR));
	ck_assert(!vlg_principal_has_role(community, VLG_ROLE_ADMIN));
	ck_assert(!vlg_principal_is_expired(community, 100));
	ck_assert(vlg_principal_is_expired(community, 101));
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("access");
	TCase *tc = tcase_create("levels");
	SRunner *runner;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_cameras_by_level, 0, G_N_ELEMENTS(table));
	tcase_add_test(tc, test_root_is_own_node);
	tcase_add_test(tc, test_principal_levels_and_roles);
	suite_add_tcase(suite, tc);
	runner = srunner_create(suite);
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
