/*
 * tests/unit/test_hold.c
 *    The proxy's hold rules, table-driven: when a new connection is routed, held or refused (a fenced proxy
 *    never holds; the time and count bounds refuse; --hold-timeout 0 refuses as before holding existed); the
 *    default hold timeout derived from the cluster spec covers a failover of that spec; the retry delay after a
 *    database refused a held connection; and the wait-time histogram as /metrics shows it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "proxy/hold.h"

typedef struct DecideCase
{
	const char *name;
	HoldPolicy	policy;
	HoldInput	in;
	HoldVerdict want;
	HoldRefusal want_why;
} DecideCase;

#define ON {10000, 4}
#define OFF {0, 4}

static const DecideCase decide_cases[] = {
	/* name, policy, {fenced, have_target, already_held, held, now, deadline}, verdict, why */
	{"a target is routed at once", ON, {false, true, false, 0, 0, 10000}, HOLD_VERDICT_ROUTE, HOLD_REFUSAL_NONE},
	{"a target is routed with holding off", OFF, {false, true, false, 0, 0, 0}, HOLD_VERDICT_ROUTE, HOLD_REFUSAL_NONE},
	{"no target: held", ON, {false, false, false, 0, 0, 10000}, HOLD_VERDICT_HOLD, HOLD_REFUSAL_NONE},
	{"no target, holding off: refused at once", OFF, {false, false, false, 0, 0, 0}, HOLD_VERDICT_REFUSE,
	HOLD_REFUSAL_DISABLED},
	{"fenced: refused, never held", ON, {true, false, false, 0, 0, 10000}, HOLD_VERDICT_REFUSE, HOLD_REFUSAL_FENCED},
	{"fenced: refused even when held already", ON, {true, false, true, 1, 500, 10000}, HOLD_VERDICT_REFUSE,
	HOLD_REFUSAL_FENCED},
	{"fenced: refused even with a (stale) target", ON, {true, true, false, 0, 0, 10000}, HOLD_VERDICT_REFUSE,
	HOLD_REFUSAL_FENCED},
	{"held: still held before its deadline", ON, {false, false, true, 3, 9999, 10000}, HOLD_VERDICT_HOLD,
	HOLD_REFUSAL_NONE},
	{"held: refused at its deadline", ON, {false, false, true, 3, 10000, 10000}, HOLD_VERDICT_REFUSE,
	HOLD_REFUSAL_TIMEOUT},
	{"held: a target at its deadline is still routed", ON, {false, true, true, 3, 10000, 10000},
	HOLD_VERDICT_ROUTE, HOLD_REFUSAL_NONE},
	{"the limit reached: a new one is refused", ON, {false, false, false, 4, 0, 10000}, HOLD_VERDICT_REFUSE,
	HOLD_REFUSAL_LIMIT},
	{"below the limit: held", ON, {false, false, false, 3, 0, 10000}, HOLD_VERDICT_HOLD, HOLD_REFUSAL_NONE},
	{"the limit reached: one held already stays held", ON, {false, false, true, 4, 100, 10000},
	HOLD_VERDICT_HOLD, HOLD_REFUSAL_NONE},
	{"past the deadline before the limit: timeout", ON, {false, false, false, 9, 20000, 10000},
	HOLD_VERDICT_REFUSE, HOLD_REFUSAL_TIMEOUT},
};

static void
test_decide_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++)
	{
		const DecideCase *tc = &decide_cases[i];
		HoldRefusal why = HOLD_REFUSAL_LIMIT;
		HoldVerdict got = hold_decide(&tc->policy, &tc->in, &why);

		if (got != tc->want || why != tc->want_why)
			fail_msg("%s: got %s (%s), want %s (%s)", tc->name, hold_verdict_to_string(got),
					 hold_refusal_to_string(why), hold_verdict_to_string(tc->want),
					 hold_refusal_to_string(tc->want_why));
	}
}

/*
 * The default covers an unplanned failover of the spec: failInterval + 3 sleepInterval + 2 proxyTimeout, 12 s
 * with the defaults (a failover measures 3.5 s); it follows the spec when an operator slows the cluster down.
 */
static void
test_default_timeout_follows_the_spec(void **state)
{
	ClusterSpec spec;

	(void) state;
	cluster_spec_defaults(&spec);
	assert_int_equal(hold_timeout_for_spec(&spec), 12000);
	assert_true(hold_timeout_for_spec(&spec) > spec.fail_interval_ms + spec.sleep_interval_ms);
	spec.fail_interval_ms = 20000;
	spec.sleep_interval_ms = 5000;
	spec.proxy_timeout_ms = 10000;
	assert_int_equal(hold_timeout_for_spec(&spec), 20000 + 15000 + 20000);
	cluster_spec_finish(&spec);
}

static void
test_retry_delay_doubles_up_to_a_second(void **state)
{
	static const struct
	{
		int			failures;
		int64_t		want;
	}			cases[] = {{1, 100}, {2, 200}, {3, 400}, {4, 800}, {5, 1000}, {6, 1000}, {1000, 1000}};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(hold_retry_delay_ms(cases[i].failures), cases[i].want);
}

static void
test_stats_histogram_counts_sums_and_max(void **state)
{
	HoldStats	a;
	HoldStats	b;
	Buf			out;
	const char *text;

	(void) state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	hold_stats_record(&a, HOLD_OUTCOME_FORWARDED, 30);	/* le 0.05 */
	hold_stats_record(&a, HOLD_OUTCOME_FORWARDED, 3500);	/* le 4 */
	hold_stats_record(&b, HOLD_OUTCOME_FORWARDED, 4000);	/* le 4: bounds are inclusive */
	hold_stats_record(&b, HOLD_OUTCOME_REFUSED, 12000);	/* le 16 */
	hold_stats_record(&b, HOLD_OUTCOME_CLOSED, 99000);	/* +Inf only */
	hold_stats_add(&a, &b);
	assert_int_equal(a.count[HOLD_OUTCOME_FORWARDED], 3);
	assert_int_equal(a.sum_ms[HOLD_OUTCOME_FORWARDED], 7530);
	assert_int_equal(a.max_ms, 99000);

	buf_init(&out, 1 << 16);
	assert_true(hold_stats_format(&out, &a));
	text = buf_cstr(&out);
	assert_non_null(strstr(text, "# TYPE bulwark_proxy_hold_wait_seconds histogram\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"forwarded\",le=\"0.05\"} 1\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"forwarded\",le=\"2\"} 1\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"forwarded\",le=\"4\"} 3\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"forwarded\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_sum{outcome=\"forwarded\"} 7.530\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_count{outcome=\"forwarded\"} 3\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"refused\",le=\"8\"} 0\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"refused\",le=\"16\"} 1\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"closed\",le=\"32\"} 0\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"closed\",le=\"+Inf\"} 1\n"));
	assert_non_null(strstr(text, "bulwark_proxy_hold_wait_max_seconds 99.000\n"));
	buf_finish(&out);

	/* a buffer too small fails rather than cutting a line */
	buf_init(&out, 100);
	assert_false(hold_stats_format(&out, &a));
	buf_finish(&out);
}

static void
test_every_enum_has_a_name(void **state)
{
	(void) state;
	for (int v = HOLD_VERDICT_ROUTE; v <= HOLD_VERDICT_REFUSE; v++)
		assert_string_not_equal(hold_verdict_to_string((HoldVerdict) v), "?");
	for (int r = HOLD_REFUSAL_NONE; r <= HOLD_REFUSAL_LIMIT; r++)
		assert_string_not_equal(hold_refusal_to_string((HoldRefusal) r), "?");
	for (int o = 0; o < HOLD_OUTCOMES; o++)
		assert_string_not_equal(hold_outcome_to_string((HoldOutcome) o), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_table),
		cmocka_unit_test(test_default_timeout_follows_the_spec),
		cmocka_unit_test(test_retry_delay_doubles_up_to_a_second),
		cmocka_unit_test(test_stats_histogram_counts_sums_and_max),
		cmocka_unit_test(test_every_enum_has_a_name),
	};

	return cmocka_run_group_tests_name("hold", tests, NULL, NULL);
}
