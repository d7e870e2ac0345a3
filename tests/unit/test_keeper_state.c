/*
 * tests/unit/test_keeper_state.c
 *    The keeper's dbstate file: every phase survives a write and a read, a file written by a keeper before phases
 *    (only "initializing") reads as an unknown step in progress (redo it all), and a damaged file is an error,
 *    not an empty state.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keeper/keeper_state.h"

static char dir[] = "/tmp/bulwark-test-keeper-state-XXXXXX";
static char path[512];

static int
setup(void **state)
{
	(void) state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/dbstate", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void) state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void
write_text(const char *text)
{
	FILE	   *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_every_phase_round_trips(void **state)
{
	(void) state;
	for (int p = DB_PHASE_READY; p < DB_PHASE_COUNT; p++)
	{
		DbLocalState in = {.generation = 7, .phase = (DbPhase) p, .rewound = p % 2 == 0};
		DbLocalState out;
		DbPhase		parsed;
		bool		found;

		snprintf(in.uid, sizeof(in.uid), "db%d", p);
		assert_true(db_state_write(path, &in));
		assert_true(db_state_read(path, &out, &found));
		assert_true(found);
		assert_string_equal(out.uid, in.uid);
		assert_int_equal(out.generation, 7);
		assert_int_equal(out.phase, p);
		assert_int_equal(out.rewound, in.rewound);
		assert_true(db_phase_from_string(db_phase_to_string((DbPhase) p), &parsed));
		assert_int_equal(parsed, p);
	}
}

static void
test_an_older_keepers_initializing_is_an_unknown_step_to_redo(void **state)
{
	DbLocalState out;
	bool		found;

	(void) state;
	write_text("{\"uid\":\"db1\",\"generation\":3,\"initializing\":true}");
	assert_true(db_state_read(path, &out, &found));
	assert_int_equal(out.phase, DB_PHASE_UNKNOWN);
	write_text("{\"uid\":\"db1\",\"generation\":3,\"initializing\":false}");
	assert_true(db_state_read(path, &out, &found));
	assert_int_equal(out.phase, DB_PHASE_READY);
	assert_int_equal(out.generation, 3);
}

static void
test_a_damaged_file_is_an_error_and_a_missing_one_is_not(void **state)
{
	DbLocalState out;
	bool		found;

	(void) state;
	write_text("{\"uid\":\"db1\",\"phase\":\"rewinding-maybe\"}");
	assert_false(db_state_read(path, &out, &found));
	write_text("{\"uid\":\"db1\",\"generation\":");
	assert_false(db_state_read(path, &out, &found));
	unlink(path);
	assert_true(db_state_read(path, &out, &found));
	assert_false(found);
	assert_int_equal(out.phase, DB_PHASE_READY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_phase_round_trips),
		cmocka_unit_test(test_an_older_keepers_initializing_is_an_unknown_step_to_redo),
		cmocka_unit_test(test_a_damaged_file_is_an_error_and_a_missing_one_is_not),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
