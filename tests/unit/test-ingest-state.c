/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/ingest-state.h"

#define S(x) ((gint64)(x) * G_USEC_PER_SEC)

static const VlgIngestTimings timings = {
	.watchdog_us = S(5),
	.connect_timeout_us = S(10),
	.backoff = { .cap_ms = 30000, .auth_delay_ms = 60000 },
};

static VlgIngestState state;

static void
setup(void)
{
	vlg_ingest_state_init(&state, 0);
}

static void
teardown(void)
{
	vlg_ingest_state_clear(&state);
}

static VlgIngestAction
send_event(VlgIngestEventType type, gint64 now)
{
	VlgIngestEvent event = { .type = type, .now_us = now, .unit_random = 0.5 };

	return vlg_ingest_state_handle(&state, &timings, &event);
}

static VlgIngestAction
send_failure(VlgFailureKind kind, const char *message, gint64 now)
{
	VlgIngestEvent event = { .type = VLG_INGEST_EVENT_FAILURE, .now_us = now, .failure = kind,
				 .message = message, .unit_random = 0.5 };

	return vlg_ingest_state_handle(&state, &timings, &event);
}

START_TEST(test_start_connects_and_data_goes_live)
{
	VlgIngestAction action = send_event(VLG_INGEST_EVENT_START, S(1));

	ck_assert_int_eq(state.kind, VLG_INGEST_CONNECTING);
	ck_assert(action & VLG_INGEST_ACTION_START_PIPELINE);
	ck_assert(action & VLG_INGEST_ACTION_STATE_CHANGED);
	action = send_event(VLG_INGEST_EVENT_DATA, S(2));
	ck_assert_int_eq(state.kind, VLG_INGEST_LIVE);
	ck_assert_int_eq(action, VLG_INGEST_ACTION_STATE_CHANGED);
	/* More data: no state change, nothing to log. */
	ck_assert_int_eq(send_event(VLG_INGEST_EVENT_DATA, S(3)), VLG_INGEST_ACTION_NONE);
}
END_TEST

START_TEST(test_start_twice_is_one_pipeline)
{
	send_event(VLG_INGEST_EVENT_START, S(1));
	ck_assert_int_eq(send_event(VLG_INGEST_EVENT_START, S(1)), VLG_INGEST_ACTION_NONE);
}
END_TEST

START_TEST(test_loss_retries_with_backoff)
{
	VlgIngestAction action;

	send_event(VLG_INGEST_EVENT_START, 0);
	send_event(VLG_INGEST_EVENT_DATA, S(1));
	action = send_failure(VLG_FAILURE_TRANSIENT, "the camera ended the stream", S(10));
	ck_assert(action & VLG_INGEST_ACTION_STOP_PIPELINE);
	ck_assert_int_eq(state.kind, VLG_INGEST_RETRYING);
	ck_assert_uint_eq(state.attempt, 1);
	ck_assert_int_eq(state.next_attempt_us, S(11));
	ck_assert_str_eq(state.last_error, "the camera ended the stream");
	/* Not due yet. */
	ck_assert_int_eq(send_event(VLG_INGEST_EVENT_TICK, S(10) + 500000), VLG_INGEST_ACTION_NONE);
	action = send_event(VLG_INGEST_EVENT_TICK, S(11));
	ck_assert(action & VLG_INGEST_ACTION_START_PIPELINE);
	ck_assert_int_eq(state.kind, VLG_INGEST_CONNECTING);
	ck_assert_uint_eq(state.reconnects, 1);
	/* Second failure doubles the delay. */
	send_failure(VLG_FAILURE_TRANSIENT, "connection refused", S(11));
	ck_assert_uint_eq(state.attempt, 2);
	ck_assert_int_eq(state.next_attempt_us, S(13));
	/* Media again resets the schedule. */
	send_event(VLG_INGEST_EVENT_TICK, S(13));
	send_event(VLG_INGEST_EVENT_DATA, S(14));
	ck_assert_uint_eq(state.attempt, 0);
}
END_TEST

START_TEST(test_watchdog_detects_stall)
{
	send_event(VLG_INGEST_EVENT_START, 0);
	send_event(VLG_INGEST_EVENT_DATA, S(1));
	ck_assert_int_eq(send_event(VLG_INGEST_EVENT_TICK, S(5)), VLG_INGEST_ACTION_NONE);
	ck_assert(send_event(VLG_INGEST_EVENT_TICK, S(6)) & VLG_INGEST_ACTION_STOP_PIPELINE);
	ck_assert_int_eq(state.kind, VLG_INGEST_RETRYING);
	ck_assert_ptr_nonnull(strstr(state.last_error, "stalled"));
}
END_TEST

START_TEST(test_connect_timeout)
{
	send_event(VLG_INGEST_EVENT_START, 0);
	ck_assert_int_eq(send_event(VLG_INGEST_EVENT_TICK, S(9)), VLG_INGEST_ACTION_NONE);
	ck_assert(send_event(VLG_INGEST_EVENT_TICK, S(10)) & VLG_INGEST_ACTION_STOP_PIPELINE);
	ck_assert_int_eq(state.kind, VLG_INGEST_RETRYING);
}
END_TEST

START_TEST(test_auth_failure_waits_long)
{
	send_event(VLG_INGEST_EVENT_START, 0);
	send_failure(VLG_FAILURE_AUTH, "Unauthorized", S(1));
	ck_assert_int_eq(state.kind, VLG_INGEST_RETRYING);
	ck_assert_int_eq(state.last_failure, VLG_FAILURE_AUTH);
	ck_assert_int_eq(state.next_attempt_us, S(61));
}
END_TEST

START_TEST(test_unsupported_fails_until_restarted)
{
	send_event(VLG_INGEST_EVENT_START, 0);
	ck_assert(send_failure(VLG_FAILURE_UNSUPPORTED, "video encoding MP4V-ES", S(1)) &
		  VLG_INGEST_ACTION_STOP_PIPELINE);
	ck_assert_int_eq(state.kind, VLG_INGEST_FAILED);
	ck_assert_int_eq(send_event(VLG_INGEST_EVENT_TICK, S(100)), VLG_INGEST_ACTION_NONE);
	ck_assert(send_event(VLG_INGEST_EVENT_START, S(101)) & VLG_INGEST_ACTION_START_PIPELINE);
}
END_TEST

START_TEST(test_stop_from_every_state)
{
	send_event(VLG_INGEST_EVENT_START, 0);
	ck_assert(send_event(VLG_INGEST_EVENT_STOP, S(1)) & VLG_INGEST_ACTION_STOP_PIPELINE);
	ck_assert_int_eq(state.kind, VLG_INGEST_IDLE);
	send_event(VLG_INGEST_EVENT_START, S(2));
	send_failure(VLG_FAILURE_TRANSIENT, "refused", S(2));
	/* Retrying has no pipeline to stop. */
	ck_assert_int_eq(send_event(VLG_INGEST_EVENT_STOP, S(3)), VLG_INGEST_ACTION_STATE_CHANGED);
	ck_assert_int_eq(send_event(VLG_INGEST_EVENT_STOP, S(4)), VLG_INGEST_ACTION_NONE);
}
END_TEST

START_TEST(test_stale_events_are_ignored)
{
	/* A late buffer or error from a pipeline already torn down changes nothing. */
	ck_assert_int_eq(send_event(VLG_INGEST_EVENT_DATA, S(1)), VLG_INGEST_ACTION_NONE);
	ck_assert_int_eq(send_failure(VLG_FAILURE_TRANSIENT, "late", S(1)), VLG_INGEST_ACTION_NONE);
	ck_assert_int_eq(state.kind, VLG_INGEST_IDLE);
	send_event(VLG_INGEST_EVENT_START, S(2));
	send_failure(VLG_FAILURE_TRANSIENT, "first", S(2));
	ck_assert_int_eq(send_failure(VLG_FAILURE_TRANSIENT, "second", S(2)), VLG_INGEST_ACTION_NONE);
	ck_assert_uint_eq(state.attempt, 1);
	ck_assert_str_eq(state.last_error, "first");
}
END_TEST

static Suite *
ingest_state_suite(void)
{
	Suite *suite = suite_create("ingest-state");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "start and live", test_start_connects_and_data_goes_live },
		{ "start is idempotent", test_start_twice_is_one_pipeline },
		{ "loss and backoff", test_loss_retries_with_backoff },
		{ "watchdog", test_watchdog_detects_stall },
		{ "connect timeout", test_connect_timeout },
		{ "auth failure", test_auth_failure_waits_long },
		{ "unsupported", test_unsupported_fails_until_restarted },
		{ "stop", test_stop_from_every_state },
		{ "stale events", test_stale_events_are_ignored },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(suite, tc);
	}
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(ingest_state_suite());
	int failed;

	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
