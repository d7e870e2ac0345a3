/*
 * tests/unit/test_timestamp.c
 *    RFC 3339 times of the cluster data: UTC with milliseconds out, any RFC 3339 offset in, calendar edges, and
 *    that formatting and parsing are inverse over the whole range.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "timestamp.h"

static void
test_format_utc_milliseconds(void **state)
{
	static const struct
	{
		int64_t		ms;
		const char *text;
	}			cases[] = {
		{0, "1970-01-01T00:00:00.000Z"},
		{1700000000123LL, "2023-11-14T22:13:20.123Z"},
		{-1, "1969-12-31T23:59:59.999Z"},
		{951782400000LL, "2000-02-29T00:00:00.000Z"},
		{TIMESTAMP_MIN_MS, "0001-01-01T00:00:00.000Z"},
		{TIMESTAMP_MAX_MS, "9999-12-31T23:59:59.999Z"},
		{TIMESTAMP_MAX_MS + 1000, "9999-12-31T23:59:59.999Z"},
		{INT64_MIN, "0001-01-01T00:00:00.000Z"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		buf[TIMESTAMP_FORMAT_SIZE];

		assert_string_equal(timestamp_format(cases[i].ms, buf, sizeof(buf)), cases[i].text);
	}
}

static void
test_parse_rfc3339(void **state)
{
	static const struct
	{
		const char *text;
		int64_t		ms;
	}			cases[] = {
		{"2023-11-14T22:13:20.123Z", 1700000000123LL},
		{"2023-11-14T22:13:20Z", 1700000000000LL},
		{"2023-11-14t22:13:20.1z", 1700000000100LL},
		{"2023-11-14T22:13:20.123456789Z", 1700000000123LL},
		{"2023-11-14T23:13:20.123+01:00", 1700000000123LL},
		{"2023-11-14T16:43:20.123-05:30", 1700000000123LL},
		{"2024-02-29T00:00:00Z", 1709164800000LL},
		{"0001-01-01T00:00:00Z", TIMESTAMP_MIN_MS},
		{"9999-12-31T23:59:59.999Z", TIMESTAMP_MAX_MS},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int64_t		ms = 0;

		if (!timestamp_parse(cases[i].text, &ms))
			fail_msg("\"%s\" refused", cases[i].text);
		assert_int_equal(ms, cases[i].ms);
	}
}

static void
test_parse_refuses_non_rfc3339(void **state)
{
	static const char *const cases[] = {
		"",
		"2023-11-14",
		"2023-11-14T22:13:20",
		"2023-11-14 22:13:20Z",
		"2023-11-14T22:13:20.Z",
		"2023-11-14T22:13:20ZZ",
		"2023-11-14T22:13:20+0100",
		"2023-11-14T22:13:20+24:00",
		"2023-13-01T00:00:00Z",
		"2023-00-01T00:00:00Z",
		"2023-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z",
		"2023-04-31T00:00:00Z",
		"2023-11-14T24:00:00Z",
		"2023-11-14T23:60:00Z",
		"2023-11-14T23:59:60Z",
		"0000-12-31T23:59:59Z",
		"0001-01-01T00:00:00+00:01",
		"9999-12-31T23:59:59-00:01",
		"20231-11-14T22:13:20Z",
		"2023-1-14T22:13:20Z",
		"yesterday",
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int64_t		ms = 7;

		if (timestamp_parse(cases[i], &ms))
			fail_msg("\"%s\" accepted", cases[i]);
		assert_int_equal(ms, 7);
	}
	assert_false(timestamp_parse(NULL, NULL));
}

static void
test_format_then_parse_is_identity(void **state)
{
	uint64_t	x = 2463534242ULL;
	const uint64_t span = (uint64_t) (TIMESTAMP_MAX_MS - TIMESTAMP_MIN_MS) + 1;

	(void) state;
	for (int i = 0; i < 50000; i++)
	{
		char		buf[TIMESTAMP_FORMAT_SIZE];
		int64_t		ms;
		int64_t		back = 0;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ms = TIMESTAMP_MIN_MS + (int64_t) (x % span);
		timestamp_format(ms, buf, sizeof(buf));
		assert_true(timestamp_parse(buf, &back));
		assert_int_equal(back, ms);
	}
}

static void
test_now_is_after_2024(void **state)
{
	(void) state;
	assert_true(timestamp_now_ms() > 1704067200000LL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_utc_milliseconds),
		cmocka_unit_test(test_parse_rfc3339),
		cmocka_unit_test(test_parse_refuses_non_rfc3339),
		cmocka_unit_test(test_format_then_parse_is_identity),
		cmocka_unit_test(test_now_is_after_2024),
	};

	return cmocka_run_group_tests_name("timestamp", tests, NULL, NULL);
}
