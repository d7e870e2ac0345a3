/*
 * tests/unit/test_uid.c
 *    Random uids are 8 lowercase hex characters that pass the uid rule and differ between calls; UUIDs are
 *    version 4; the uid rule accepts exactly what can go into a replication slot name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "uid.h"

static void
test_random_uids_are_hex_valid_and_distinct(void **state)
{
	char		a[UID_SIZE];
	char		b[UID_SIZE];
	char		small[UID_RANDOM_LEN];

	(void) state;
	assert_true(uid_generate(a, sizeof(a)));
	assert_true(uid_generate(b, sizeof(b)));
	assert_int_equal(strlen(a), UID_RANDOM_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), UID_RANDOM_LEN);
	assert_true(uid_is_valid(a));
	assert_string_not_equal(a, b);
	assert_false(uid_generate(small, sizeof(small)));
	assert_string_equal(small, "");
}

static void
test_uuid_is_version_4(void **state)
{
	char		u[UUID_SIZE];

	(void) state;
	assert_true(uid_generate_uuid(u, sizeof(u)));
	assert_int_equal(strlen(u), 36);
	assert_int_equal(u[8], '-');
	assert_int_equal(u[13], '-');
	assert_int_equal(u[14], '4');
	assert_int_equal(u[18], '-');
	assert_non_null(strchr("89ab", u[19]));
	assert_int_equal(u[23], '-');
}

static void
test_uid_rule(void **state)
{
	static const struct
	{
		const char *uid;
		bool		valid;
	}			cases[] = {
		{"keeper0", true},
		{"a", true},
		{"db_1_x", true},
		{"123", true},
		{"", false},
		{"Keeper0", false},
		{"keeper-0", false},
		{"keeper.0", false},
		{"keeper 0", false},
		{"k\xc3\xa9", false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},	/* 63 */
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},	/* 64 */
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (uid_is_valid(cases[i].uid) != cases[i].valid)
			fail_msg("uid_is_valid(\"%s\") should be %d", cases[i].uid, cases[i].valid);
	assert_false(uid_is_valid(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_uids_are_hex_valid_and_distinct),
		cmocka_unit_test(test_uuid_is_version_4),
		cmocka_unit_test(test_uid_rule),
	};

	return cmocka_run_group_tests_name("uid", tests, NULL, NULL);
}
