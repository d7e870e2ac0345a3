/*
 * tests/unit/test_fencing.c
 *    When a master may accept writes: the fencing bounds the spec implies (always short of failInterval, the
 *    earliest moment the sentinel can fail a silent master over), the master's confirmation from its store reads
 *    and publishes, and the failsafe: who must promise, what a standby promises, and the bound a round of grants
 *    gives, including the safety property that the master stops before any promising standby may promote.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_json.h"
#include "fencing.h"

/* db0 master on k0 (synchronous, db1 its synchronous standby), db1 on k1, db2 on k2 (canBeMaster false) */
static void
load_cd(ClusterData *cd)
{
	FILE	   *f = fopen("tests/unit/data/clusterdata_full.json", "r");
	char	   *text = malloc(1 << 20);
	size_t		n;
	char		err[512];

	assert_non_null(f);
	assert_non_null(text);
	n = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	if (!cluster_data_decode(text, n, cd, err, sizeof(err)))
		fail_msg("%s", err);
	free(text);
}

static Db  *
db_of(ClusterData *cd, const char *uid)
{
	for (size_t i = 0; i < cd->db_count; i++)
		if (strcmp(cd->dbs[i]->uid, uid) == 0)
			return cd->dbs[i];
	fail_msg("no db %s", uid);
	return NULL;
}

static void
test_the_bounds_stay_short_of_failinterval(void **state)
{
	const struct
	{
		int64_t		sleep,
					fail,
					margin,
					fence,
					publish;
	}			cases[] = {
		{1000, 3000, 600, 2400, 800},	/* the defaults: a fifth of failInterval */
		{1000, 2000, 500, 1500, 500},	/* at least 500 ms */
		{2000, 2001, 500, 1501, 500},	/* publishes come faster than sleepInterval so 3 fit in fence_after */
		{100, 200, 100, 100, 100},	/* tiny: at most half of failInterval */
		{10000, 60000, 12000, 48000, 10000},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		ClusterSpec spec;
		FencingTimes t;

		cluster_spec_defaults(&spec);
		spec.sleep_interval_ms = cases[i].sleep;
		spec.fail_interval_ms = cases[i].fail;
		t = fencing_times(&spec);
		assert_int_equal(t.margin_ms, cases[i].margin);
		assert_int_equal(t.fence_after_ms, cases[i].fence);
		assert_int_equal(t.publish_every_ms, cases[i].publish);
		/* the master stops strictly before the sentinel may declare it failed */
		assert_true(t.fence_after_ms + t.margin_ms <= spec.fail_interval_ms);
		assert_true(t.fence_after_ms > 0 && t.margin_ms > 0);
		assert_true(t.promise_ms <= t.fence_after_ms);
	}
}

static void
test_the_master_is_confirmed_by_its_older_read_or_publish(void **state)
{
	ClusterSpec spec;
	FencingTimes t;
	MasterConfirmation c = {0};

	(void) state;
	cluster_spec_defaults(&spec);
	t = fencing_times(&spec);
	assert_int_equal(fencing_confirmed_until(&c, &t), 0);	/* never confirmed */
	c.read_sent_ms = 10000;
	assert_int_equal(fencing_confirmed_until(&c, &t), 0);	/* read but never published: not confirmed */
	c.publish_sent_ms = 10500;
	assert_int_equal(fencing_confirmed_until(&c, &t), 10000 + 2400);	/* the older of the two */
	c.read_sent_ms = 11000;
	assert_int_equal(fencing_confirmed_until(&c, &t), 10500 + 2400);
	c.failsafe_until_ms = 20000;	/* the failsafe extends it */
	assert_int_equal(fencing_confirmed_until(&c, &t), 20000);
	c.failsafe_until_ms = 5000;		/* an expired failsafe changes nothing */
	assert_int_equal(fencing_confirmed_until(&c, &t), 10500 + 2400);
}

static void
test_every_electable_keeper_must_promise(void **state)
{
	ClusterData cd;
	StringList	req;
	Db		   *m;

	(void) state;
	load_cd(&cd);
	m = db_of(&cd, "db0");
	/* synchronous mode: only db1, the synchronous standby, can be elected */
	string_list_init(&req);
	assert_true(failsafe_required_keepers(&cd, m, &req));
	assert_int_equal(req.count, 1);
	assert_string_equal(req.items[0], "k1");
	string_list_finish(&req);
	/* asynchronous: every keeper with a db, except k2 which cannot be master */
	m->spec.synchronous_replication = false;
	string_list_init(&req);
	assert_true(failsafe_required_keepers(&cd, m, &req));
	assert_int_equal(req.count, 1);
	assert_string_equal(req.items[0], "k1");
	string_list_finish(&req);
	cluster_data_find_keeper(&cd, "k2")->status.can_be_master = true;
	string_list_init(&req);
	assert_true(failsafe_required_keepers(&cd, m, &req));
	assert_int_equal(req.count, 2);
	assert_true(string_list_contains(&req, "k1") && string_list_contains(&req, "k2"));
	string_list_finish(&req);
	cluster_data_finish(&cd);
}

static void
test_a_standby_promises_only_to_the_master_it_knows(void **state)
{
	ClusterData cd;
	ClusterSpec spec;
	FencingTimes t;
	int64_t		granted;
	const char *why;
	FailsafeRequest ok = {"c0ffee01", "db0", "k0", 5000};
	const struct
	{
		const char *name;
		const char *keeper;
		FailsafeRequest req;
		bool		want;
	}			cases[] = {
		{"the standby of the master grants, at most promise_ms", "k1", ok, true},
		{"another cluster", "k1", {"deadbeef", "db0", "k0", 5000}, false},
		{"another master db", "k1", {"c0ffee01", "db1", "k1", 5000}, false},
		{"the master db on another keeper", "k1", {"c0ffee01", "db0", "k2", 5000}, false},
		{"the master itself holds no standby", "k0", ok, false},
		{"a keeper without a db", "k9", ok, false},
		{"nothing asked", "k1", {"c0ffee01", "db0", "k0", 0}, false},
	};

	(void) state;
	load_cd(&cd);
	cluster_spec_defaults(&spec);
	t = fencing_times(&spec);
	assert_false(failsafe_answer(NULL, "k1", true, &ok, &t, &granted, &why));
	/* a keeper that reaches the store never promises */
	assert_false(failsafe_answer(&cd, "k1", false, &ok, &t, &granted, &why));
	assert_string_equal(why, "the store is reachable from here: the sentinel decides");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		bool		got = failsafe_answer(&cd, cases[i].keeper, true, &cases[i].req, &t, &granted, &why);

		if (got != cases[i].want)
			fail_msg("case \"%s\": got %d (%s)", cases[i].name, got, why);
		assert_non_null(why);
		if (got)
			assert_int_equal(granted, t.promise_ms);	/* 5000 asked, 2400 promised */
		else
			assert_int_equal(granted, 0);
	}
	cd.cluster.spec.failsafe_mode = false;
	assert_false(failsafe_answer(&cd, "k1", true, &ok, &t, &granted, &why));
	assert_string_equal(why, "failsafeMode is off");
	cluster_data_finish(&cd);
}

static void
test_a_round_confirms_only_when_every_required_keeper_granted(void **state)
{
	ClusterSpec spec;
	FencingTimes t;
	StringList	req;
	FailsafeGrant both[] = {{"k1", true, 1000, 2400}, {"k2", true, 1100, 2400}};
	FailsafeGrant refused[] = {{"k1", true, 1000, 2400}, {"k2", false, 1100, 0}};
	FailsafeGrant shorter[] = {{"k1", true, 1000, 2400}, {"k2", true, 1100, 1000}};

	(void) state;
	cluster_spec_defaults(&spec);
	t = fencing_times(&spec);
	string_list_init(&req);
	/* nobody electable: the master holds for a promise's length from the round */
	assert_int_equal(failsafe_until(&req, NULL, 0, 1000, &t), 1000 + 2400 - 600);
	assert_true(string_list_append(&req, "k1") && string_list_append(&req, "k2"));
	assert_int_equal(failsafe_until(&req, both, 2, 1000, &t), 1000 + 2400 - 600);	/* the earliest grant */
	assert_int_equal(failsafe_until(&req, shorter, 2, 1000, &t), 1100 + 1000 - 600);
	assert_int_equal(failsafe_until(&req, refused, 2, 1000, &t), 0);	/* one refusal ends it */
	assert_int_equal(failsafe_until(&req, both, 1, 1000, &t), 0);	/* one missing ends it */
	string_list_finish(&req);
}

/*
 * The safety property of the failsafe, over a grid of delays: a standby that granted a promise promotes no
 * earlier than it received the request plus the promise; the master stops writing at the bound of the round, even
 * when the standby's clock runs faster by up to the allowed drift.
 */
static void
test_the_master_stops_before_a_promising_standby_can_promote(void **state)
{
	ClusterSpec spec;
	FencingTimes t;
	StringList	req;

	(void) state;
	cluster_spec_defaults(&spec);
	t = fencing_times(&spec);
	string_list_init(&req);
	assert_true(string_list_append(&req, "k1"));
	for (int64_t sent = 0; sent < 5000; sent += 250)
		for (int64_t transit = 0; transit < 2000; transit += 100)
		{
			FailsafeGrant g = {"k1", true, sent, t.promise_ms};
			int64_t		master_stops = failsafe_until(&req, &g, 1, sent, &t);
			int64_t		received = sent + transit;
			/* the standby's clock 1% fast: its promise ends earlier in real time */
			int64_t		standby_may_promote = received + t.promise_ms - t.promise_ms / 100;

			assert_true(master_stops > 0);
			assert_true(master_stops < standby_may_promote);
		}
	string_list_finish(&req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_bounds_stay_short_of_failinterval),
		cmocka_unit_test(test_the_master_is_confirmed_by_its_older_read_or_publish),
		cmocka_unit_test(test_every_electable_keeper_must_promise),
		cmocka_unit_test(test_a_standby_promises_only_to_the_master_it_knows),
		cmocka_unit_test(test_a_round_confirms_only_when_every_required_keeper_granted),
		cmocka_unit_test(test_the_master_stops_before_a_promising_standby_can_promote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
