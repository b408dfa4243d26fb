/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <stdlib.h>

#include "pipelines/ingest-branch.h"

/* First payload byte of an RTP H.264 packet (F, NRI, type) and whether we refuse it. */
static const struct {
	guint8 first;
	gboolean refused;
} table[] = {
	{ 0x65, FALSE }, /* IDR slice */
	{ 0x41, FALSE }, /* non-IDR slice */
	{ 0x67, FALSE }, /* SPS */
	{ 0x68, FALSE }, /* PPS */
	{ 0x78, FALSE }, /* STAP-A (24) */
	{ 0x7c, FALSE }, /* FU-A (28) */
	{ 0x79, FALSE }, /* STAP-B (25): depayloader handles it */
	{ 0x7a, TRUE },  /* MTAP16 (26) */
	{ 0x7b, TRUE },  /* MTAP24 (27) */
	{ 0x1a, TRUE },  /* MTAP16 with NRI 0 */
	{ 0x9b, TRUE },  /* MTAP24 with the F bit set */
};

START_TEST(test_refused_types)
{
	guint8 payload[4] = { table[_i].first, 0, 0, 0 };

	ck_assert_int_eq(vlg_ingest_h264_payload_is_refused(payload, sizeof(payload)),
			 table[_i].refused);
}
END_TEST

START_TEST(test_empty_payload_is_refused)
{
	ck_assert(vlg_ingest_h264_payload_is_refused(NULL, 0));
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("ingest-branch");
	TCase *tc = tcase_create("H.264 payloads refused before the depayloader");
	SRunner *runner;
	int failed;

	tcase_add_loop_test(tc, test_refused_types, 0, G_N_ELEMENTS(table));
	tcase_add_test(tc, test_empty_payload_is_refused);
	suite_add_tcase(suite, tc);
	runner = srunner_create(suite);
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
