/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <stdlib.h>

#include "pipelines/backoff.h"

static const VlgBackoffPolicy policy = { .cap_ms = 30000, .auth_delay_ms = 60000 };

/* attempt, draw, expected delay: the schedule 1, 2, 4 ... capped at 30 s. */
static const struct {
	guint attempt;
	double draw;
	guint expected_ms;
} transient_table[] = {
	{ 1, 0.5, 1000 },   { 2, 0.5, 2000 },   { 3, 0.5, 4000 },   { 4, 0.5, 8000 },
	{ 5, 0.5, 16000 },  { 6, 0.5, 30000 },  { 7, 0.5, 30000 },  { 100, 0.5, 30000 },
	{ 1, 0.0, 800 },    { 1, 0.999999, 1199 }, /* ±20 % of 1 s */
	{ 2, 0.0, 1800 },   { 3, 0.999999, 4199 }, /* held to ±200 ms below 8 s */
	{ 4, 0.0, 6400 },   { 6, 0.999999, 35999 }, /* ±20 % from 8 s on */
	{ 0, 0.5, 1000 },   { 5000, 0.5, 30000 }, /* out-of-range attempts stay sane */
};

START_TEST(test_transient_schedule)
{
	guint delay = vlg_backoff_delay_ms(&policy, transient_table[_i].attempt,
					   VLG_FAILURE_TRANSIENT, transient_table[_i].draw);

	ck_assert_uint_eq(delay, transient_table[_i].expected_ms);
}
END_TEST

START_TEST(test_first_retry_within_two_seconds)
{
	for (double draw = 0; draw < 1.0; draw += 0.01)
		ck_assert_uint_le(vlg_backoff_delay_ms(&policy, 1, VLG_FAILURE_TRANSIENT, draw), 2000);
}
END_TEST

START_TEST(test_short_outage_schedule)
{
	/* A camera back after 5 s down must be tried again by 8 s: 1 + 2 + 4 s plus worst jitter. */
	guint total = 0;

	for (guint attempt = 1; attempt <= 3; attempt++)
		total += vlg_backoff_delay_ms(&policy, attempt, VLG_FAILURE_TRANSIENT, 0.999999);
	ck_assert_uint_le(total, 7600);
}
END_TEST

START_TEST(test_auth_and_not_found_wait_long)
{
	ck_assert_uint_eq(vlg_backoff_delay_ms(&policy, 1, VLG_FAILURE_AUTH, 0.5), 60000);
	ck_assert_uint_eq(vlg_backoff_delay_ms(&policy, 1, VLG_FAILURE_NOT_FOUND, 0.5), 60000);
	ck_assert_uint_ge(vlg_backoff_delay_ms(&policy, 9, VLG_FAILURE_AUTH, 0.0), 48000);
	ck_assert_uint_le(vlg_backoff_delay_ms(&policy, 9, VLG_FAILURE_AUTH, 0.999999), 72000);
}
END_TEST

START_TEST(test_unsupported_is_not_retried)
{
	ck_assert_uint_eq(vlg_backoff_delay_ms(&policy, 1, VLG_FAILURE_UNSUPPORTED, 0.5), 0);
}
END_TEST

START_TEST(test_jitter_spreads)
{
	guint low = vlg_backoff_delay_ms(&policy, 6, VLG_FAILURE_TRANSIENT, 0.1);
	guint high = vlg_backoff_delay_ms(&policy, 6, VLG_FAILURE_TRANSIENT, 0.9);

	ck_assert_uint_lt(low, high);
}
END_TEST

static Suite *
backoff_suite(void)
{
	Suite *suite = suite_create("backoff");
	TCase *tc;

	tc = tcase_create("transient schedule");
	tcase_add_loop_test(tc, test_transient_schedule, 0, G_N_ELEMENTS(transient_table));
	tcase_add_test(tc, test_first_retry_within_two_seconds);
	tcase_add_test(tc, test_short_outage_schedule);
	tcase_add_test(tc, test_jitter_spreads);
	suite_add_tcase(suite, tc);
	tc = tcase_create("permanent-looking failures");
	tcase_add_test(tc, test_auth_and_not_found_wait_long);
	tcase_add_test(tc, test_unsupported_is_not_retried);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(backoff_suite());
	int failed;

	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
