/*
 * tests/unit/test_duration.c
 *    Go-style durations: what parses to how many milliseconds, what is refused and why, the canonical form, and
 *    that every formatted duration parses back to itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

static void
test_parse_accepts_go_durations(void **state)
{
	static const struct
	{
		const char *text;
		int64_t		ms;
	}			cases[] = {
		{"5s", 5000},
		{"500ms", 500},
		{"1m30s", 90000},
		{"48h", 172800000},
		{"1.5s", 1500},
		{"0s", 0},
		{"0", 0},
		{"1h0m0s", 3600000},
		{"2h45m", 9900000},
		{"1.5m", 90000},
		{".5s", 500},
		{"1.s", 1000},
		{"0.001s", 1},
		{"1.000000000000000000000s", 1000},
		{"1000us", 1},
		{"2000\xc2\xb5s", 2},
		{"3000\xce\xbcs", 3},
		{"1000000ns", 1},
		{"1h1m1.001s", 3661001},
		{"1s500ms", 1500},
		{"0.25h", 900000},
		{"2562047h47m16.854s", DURATION_MAX_MS},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int64_t		ms = -1;
		char		err[128] = "";

		if (!duration_parse(cases[i].text, &ms, err, sizeof(err)))
			fail_msg("\"%s\" refused: %s", cases[i].text, err);
		if (ms != cases[i].ms)
			fail_msg("\"%s\" parsed to %lld ms, want %lld", cases[i].text, (long long) ms, (long long) cases[i].ms);
	}
}

static void
test_parse_refuses_with_reason(void **state)
{
	static const struct
	{
		const char *text;
		const char *reason;
	}			cases[] = {
		{"", "empty duration"},
		{"-5s", "negative durations are not allowed"},
		{"-0s", "negative durations are not allowed"},
		{"+5s", "missing number"},
		{"5", "missing unit (h, m, s, ms, us or ns)"},
		{"1m30", "missing unit (h, m, s, ms, us or ns)"},
		{"s", "missing number"},
		{".s", "missing number"},
		{"5x", "unknown unit \"x\" (expected h, m, s, ms, us or ns)"},
		{"5 s", "unknown unit \" s\" (expected h, m, s, ms, us or ns)"},
		{"5sec", "unknown unit \"sec\" (expected h, m, s, ms, us or ns)"},
		{"1d", "unknown unit \"d\" (expected h, m, s, ms, us or ns)"},
		{"5s\n", "unknown unit \"s\\x0a\" (expected h, m, s, ms, us or ns)"},
		{"1e3s", "unknown unit \"e\" (expected h, m, s, ms, us or ns)"},
		{"1.5ms", "finer than a millisecond"},
		{"1us", "finer than a millisecond"},
		{"1500us", "finer than a millisecond"},
		{"1ns", "finer than a millisecond"},
		{"0.0001s", "finer than a millisecond"},
		{"1.0000000000001h", "finer than a millisecond"},
		{"2562047h47m16.855s", "too large"},
		{"2562048h", "too large"},
		{"99999999999999999999h", "too large"},
		{"9223372036854775807ms", "too large"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int64_t		ms = 42;
		char		err[128] = "";

		if (duration_parse(cases[i].text, &ms, err, sizeof(err)))
			fail_msg("\"%s\" accepted as %lld ms", cases[i].text, (long long) ms);
		assert_int_equal(ms, 42);
		if (strcmp(err, cases[i].reason) != 0)
			fail_msg("\"%s\": reason \"%s\", want \"%s\"", cases[i].text, err, cases[i].reason);
	}
	assert_false(duration_parse(NULL, NULL, NULL, 0));
}

static void
test_format_is_canonical(void **state)
{
	static const struct
	{
		int64_t		ms;
		const char *text;
	}			cases[] = {
		{0, "0s"},
		{1, "1ms"},
		{500, "500ms"},
		{999, "999ms"},
		{1000, "1s"},
		{1500, "1.5s"},
		{1001, "1.001s"},
		{1010, "1.01s"},
		{60000, "1m0s"},
		{90000, "1m30s"},
		{3600000, "1h0m0s"},
		{172800000, "48h0m0s"},
		{3661001, "1h1m1.001s"},
		{-1500, "-1.5s"},
		{-1, "-1ms"},
		{DURATION_MAX_MS, "2562047h47m16.854s"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		buf[DURATION_FORMAT_SIZE];

		assert_string_equal(duration_format(cases[i].ms, buf, sizeof(buf)), cases[i].text);
	}
}

static void
test_formatted_duration_parses_back(void **state)
{
	uint64_t	x = 88172645463325252ULL;

	(void) state;
	for (int i = 0; i < 20000; i++)
	{
		char		buf[DURATION_FORMAT_SIZE];
		int64_t		ms;
		int64_t		back = -1;

		/* xorshift, over every magnitude from milliseconds to the maximum */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ms = (int64_t) (x % (uint64_t) DURATION_MAX_MS) >> (x % 43);
		duration_format(ms, buf, sizeof(buf));
		assert_true(duration_parse(buf, &back, NULL, 0));
		assert_int_equal(back, ms);
	}
}

static void
test_format_truncates_to_buffer(void **state)
{
	char		buf[4];

	(void) state;
	duration_format(90000, buf, sizeof(buf));
	assert_string_equal(buf, "1m3");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepts_go_durations),
		cmocka_unit_test(test_parse_refuses_with_reason),
		cmocka_unit_test(test_format_is_canonical),
		cmocka_unit_test(test_formatted_duration_parses_back),
		cmocka_unit_test(test_format_truncates_to_buffer),
	};

	return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
