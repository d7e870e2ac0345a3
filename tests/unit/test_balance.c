/*
 * tests/unit/test_balance.c
 *    The read-only balance shared by the forwarding workers: a new connection goes to the backend with the
 *    fewest open connections (the first of equals), a closed one gives its place back, and a backend with no
 *    connection left is forgotten.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "proxy/balance.h"

static void
targets_make(RouteTarget *t, size_t n)
{
	memset(t, 0, n * sizeof(*t));
	for (size_t i = 0; i < n; i++)
	{
		snprintf(t[i].db_uid, sizeof(t[i].db_uid), "db%zu", i);
		snprintf(t[i].host, sizeof(t[i].host), "10.0.0.%zu", i + 1);
		t[i].port = 5432;
	}
}

static void
test_new_connections_go_to_the_least_loaded_backend(void **state)
{
	Balance		b;
	RouteTarget t[3];
	bool		counted;
	size_t		picks[3] = {0};

	(void) state;
	balance_init(&b);
	targets_make(t, 3);
	for (int i = 0; i < 9; i++)
	{
		const RouteTarget *got = balance_acquire(&b, t, 3, &counted);

		assert_true(counted);
		picks[got - t]++;
	}
	assert_int_equal(picks[0], 3);
	assert_int_equal(picks[1], 3);
	assert_int_equal(picks[2], 3);

	/* two of db1's connections close: the next two go to db1 */
	balance_release(&b, &t[1]);
	balance_release(&b, &t[1]);
	assert_int_equal(balance_count(&b, &t[1]), 1);
	assert_ptr_equal(balance_acquire(&b, t, 3, &counted), &t[1]);
	assert_ptr_equal(balance_acquire(&b, t, 3, &counted), &t[1]);
	assert_ptr_equal(balance_acquire(&b, t, 3, &counted), &t[0]);
	balance_finish(&b);
}

static void
test_counts_follow_the_backend_not_its_position(void **state)
{
	Balance		b;
	RouteTarget t[2];
	RouteTarget reordered[2];
	bool		counted;

	(void) state;
	balance_init(&b);
	targets_make(t, 2);
	(void) balance_acquire(&b, t, 2, &counted);	/* db0: 1 */
	/* a new table lists db1 first: db0 still has its connection, so db1 is the least loaded */
	reordered[0] = t[1];
	reordered[1] = t[0];
	assert_string_equal(balance_acquire(&b, reordered, 2, &counted)->db_uid, "db1");
	/* a backend at another address is another backend */
	reordered[0].port = 5433;
	assert_int_equal(balance_count(&b, &reordered[0]), 0);
	balance_release(&b, &t[0]);
	balance_release(&b, &t[1]);
	assert_int_equal(b.n, 0);
	balance_release(&b, &t[1]);	/* one release too many is harmless */
	assert_int_equal(b.n, 0);
	balance_finish(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_connections_go_to_the_least_loaded_backend),
		cmocka_unit_test(test_counts_follow_the_backend_not_its_position),
	};

	return cmocka_run_group_tests_name("balance", tests, NULL, NULL);
}
