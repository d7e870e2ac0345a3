/*
 * tests/unit/test_keeper_plan.c
 *    The keeper's convergence decision table: given the local state (with the phase its dbstate recorded) and the
 *    assigned DB, the one action to carry out (fence until the sentinel saw this process, init, resume an init,
 *    resync by rewind or base backup, promote or redo an interrupted promotion, demote first, run), the state
 *    machine's transition table, the judgement of a standby that does not recover, and the retry pace.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "keeper/keeper_plan.h"

enum
{
	NO_DB = 0, MASTER_NEW, MASTER_NONE, STANDBY_RESYNC, STANDBY_NONE, STANDBY_EXTERNAL, PITR
};

typedef struct PlanCase
{
	const char *name;
	bool		has_cd;
	bool		registered;
	bool		boot_ok;
	int			db;				/* which DB is assigned (uid "db1") */
	const char *local_uid;
	DbPhase		phase;
	bool		initialized;
	bool		standby;
	bool		promotion_interrupted;
	bool		stuck;
	bool		promised;
	KeeperAction want;
	bool		want_base_backup;	/* RESYNC: no pg_rewind */
} PlanCase;

/* A keeper the sentinel knows and has seen, with DB kind db assigned, its local facts, and what it must do. */
#define SEEN_AS(n, kind, uid, ph, init, stby, act) \
	.name = n, .has_cd = true, .registered = true, .boot_ok = true, .db = kind, .local_uid = uid, .phase = ph, \
	.initialized = init, .standby = stby, .want = act
#define SEEN(...) {SEEN_AS(__VA_ARGS__)}
#define BASE_BACKUP .want_base_backup = true

static const PlanCase plan_cases[] = {
	{.name = "no cluster data: leave postgres alone", .db = NO_DB, .local_uid = "", .initialized = true,
	 .want = KEEPER_ACTION_WAIT},
	{.name = "not registered: fence", .has_cd = true, .db = MASTER_NONE, .local_uid = "db1", .initialized = true,
	 .want = KEEPER_ACTION_FENCE},
	{.name = "boot uuid not seen (I6): fence even as master", .has_cd = true, .registered = true, .db = MASTER_NONE,
	 .local_uid = "db1", .initialized = true, .want = KEEPER_ACTION_FENCE},
	SEEN("no db assigned: fence", NO_DB, "db1", DB_PHASE_READY, true, false, KEEPER_ACTION_FENCE),
	SEEN("new master db: initdb", MASTER_NEW, "", DB_PHASE_READY, false, false, KEEPER_ACTION_INIT_NEW),
	SEEN("interrupted initdb: redo", MASTER_NEW, "db1", DB_PHASE_INITDB, true, false, KEEPER_ACTION_INIT_NEW),
	SEEN("initdb done, start failed: resume without a new initdb", MASTER_NEW, "db1", DB_PHASE_INITIALIZED, true,
		 false, KEEPER_ACTION_INIT_RESUME),
	SEEN("initdb done but the directory vanished: initdb", MASTER_NEW, "db1", DB_PHASE_INITIALIZED, false, false,
		 KEEPER_ACTION_INIT_NEW),
	SEEN("an older keeper's interrupted init: redo initdb", MASTER_NEW, "db1", DB_PHASE_UNKNOWN, true, false,
		 KEEPER_ACTION_INIT_NEW),
	SEEN("new standby db: resync, rewind allowed", STANDBY_RESYNC, "", DB_PHASE_READY, false, false,
		 KEEPER_ACTION_RESYNC),
	SEEN("old master given a resync db: resync, rewind allowed", STANDBY_RESYNC, "db0", DB_PHASE_READY, true, false,
		 KEEPER_ACTION_RESYNC),
	{SEEN_AS("interrupted pg_rewind: base backup", STANDBY_RESYNC, "db1", DB_PHASE_REWIND, true, false,
		  KEEPER_ACTION_RESYNC), BASE_BACKUP},
	{SEEN_AS("interrupted base backup: redo it", STANDBY_RESYNC, "db1", DB_PHASE_BASEBACKUP, false, false,
		  KEEPER_ACTION_RESYNC), BASE_BACKUP},
	{SEEN_AS("an older keeper's interrupted resync: base backup", STANDBY_RESYNC, "db1", DB_PHASE_UNKNOWN, true, false,
		  KEEPER_ACTION_RESYNC), BASE_BACKUP},
	SEEN("rewound or backed up: start it as a standby", STANDBY_RESYNC, "db1", DB_PHASE_CATCHING_UP, true, true,
		 KEEPER_ACTION_RUN_STANDBY),
	SEEN("a fresh copy without standby.signal is no master to demote", STANDBY_RESYNC, "db1", DB_PHASE_CATCHING_UP,
		 true, false, KEEPER_ACTION_RUN_STANDBY),
	{SEEN_AS("a resynced standby that does not catch up: base backup", STANDBY_RESYNC, "db1", DB_PHASE_CATCHING_UP, true,
		  true, KEEPER_ACTION_RESYNC), .stuck = true, BASE_BACKUP},
	{SEEN_AS("a resynced standby whose data vanished: base backup", STANDBY_RESYNC, "db1", DB_PHASE_CATCHING_UP, false,
		  false, KEEPER_ACTION_RESYNC), BASE_BACKUP},
	{SEEN_AS("resynced standby whose data vanished later: base backup", STANDBY_RESYNC, "db1", DB_PHASE_READY, false,
		  false, KEEPER_ACTION_RESYNC), BASE_BACKUP},
	{SEEN_AS("a stuck standby: resync, rewind first", STANDBY_NONE, "db1", DB_PHASE_READY, true, true,
		  KEEPER_ACTION_RESYNC), .stuck = true},
	SEEN("master running as master: run", MASTER_NONE, "db1", DB_PHASE_READY, true, false, KEEPER_ACTION_RUN_MASTER),
	SEEN("standby told to be master: promote", MASTER_NONE, "db1", DB_PHASE_READY, true, true, KEEPER_ACTION_PROMOTE),
	SEEN("promotion requested, standby.signal still there: promote", MASTER_NONE, "db1", DB_PHASE_PROMOTING, true,
		 true, KEEPER_ACTION_PROMOTE),
	{SEEN_AS("promotion interrupted after standby.signal went: promote again", MASTER_NONE, "db1", DB_PHASE_PROMOTING,
		  true, false, KEEPER_ACTION_PROMOTE), .promotion_interrupted = true},
	{SEEN_AS("a failsafe promise to the old master defers a promotion", MASTER_NONE, "db1", DB_PHASE_READY, true,
			 true, KEEPER_ACTION_WAIT), .promised = true},
	{SEEN_AS("a promise does not stop a master that runs as one", MASTER_NONE, "db1", DB_PHASE_READY, true,
			 false, KEEPER_ACTION_RUN_MASTER), .promised = true},
	SEEN("promotion finished before the crash: run", MASTER_NONE, "db1", DB_PHASE_PROMOTING, true, false,
		 KEEPER_ACTION_RUN_MASTER),
	SEEN("promoting but no longer master: demote first (I5)", STANDBY_NONE, "db1", DB_PHASE_PROMOTING, true, false,
		 KEEPER_ACTION_DEMOTE),
	SEEN("master told to be standby: demote first (I5)", STANDBY_NONE, "db1", DB_PHASE_READY, true, false,
		 KEEPER_ACTION_DEMOTE),
	SEEN("standby running as standby: run", STANDBY_NONE, "db1", DB_PHASE_READY, true, true,
		 KEEPER_ACTION_RUN_STANDBY),
	SEEN("db with initMode none but no data here: lost", MASTER_NONE, "db0", DB_PHASE_READY, true, false,
		 KEEPER_ACTION_LOST_DATA),
	SEEN("master data vanished: lost", MASTER_NONE, "db1", DB_PHASE_READY, false, false, KEEPER_ACTION_LOST_DATA),
	SEEN("external follow: unsupported", STANDBY_EXTERNAL, "db1", DB_PHASE_READY, true, true,
		 KEEPER_ACTION_UNSUPPORTED),
	SEEN("pitr: unsupported", PITR, "", DB_PHASE_READY, false, false, KEEPER_ACTION_UNSUPPORTED),
};

static void
plan_db(Db *db, int kind)
{
	db_init(db);
	snprintf(db->uid, sizeof(db->uid), "db1");
	db->generation = 2;
	switch (kind)
	{
		case MASTER_NEW:
		case MASTER_NONE:
			db->spec.role = DB_ROLE_MASTER;
			db->spec.init_mode = kind == MASTER_NEW ? INIT_MODE_NEW : INIT_MODE_NONE;
			break;
		case PITR:
			db->spec.role = DB_ROLE_MASTER;
			db->spec.init_mode = INIT_MODE_PITR;
			break;
		case STANDBY_RESYNC:
		case STANDBY_NONE:
		case STANDBY_EXTERNAL:
			db->spec.role = DB_ROLE_STANDBY;
			db->spec.init_mode = kind == STANDBY_RESYNC ? INIT_MODE_RESYNC : INIT_MODE_NONE;
			db->spec.follow_config = follow_config_new();
			assert_non_null(db->spec.follow_config);
			db->spec.follow_config->type = kind == STANDBY_EXTERNAL ? FOLLOW_TYPE_EXTERNAL : FOLLOW_TYPE_INTERNAL;
			snprintf(db->spec.follow_config->db_uid, UID_SIZE, "db0");
			break;
	}
}

static void
test_plan_decision_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++)
	{
		const PlanCase *c = &plan_cases[i];
		Db			db;
		KeeperPlanInput in = {
			.has_cluster_data = c->has_cd, .keeper_registered = c->registered, .boot_uuid_matches = c->boot_ok,
			.local_db_uid = c->local_uid, .local_phase = c->phase, .pg_initialized = c->initialized,
			.local_is_standby = c->standby, .promotion_interrupted = c->promotion_interrupted,
			.standby_stuck = c->stuck, .promotion_promised = c->promised,
		};
		KeeperPlan	plan;

		plan_db(&db, c->db);
		in.db = c->db == NO_DB ? NULL : &db;
		plan = keeper_plan_decide(&in);
		if (plan.action != c->want)
			fail_msg("case \"%s\": got %s, want %s", c->name, keeper_action_to_string(plan.action),
					 keeper_action_to_string(c->want));
		if (plan.action == KEEPER_ACTION_RESYNC && plan.base_backup != c->want_base_backup)
			fail_msg("case \"%s\": base_backup %d, want %d", c->name, plan.base_backup, c->want_base_backup);
		if (plan.restore_standby_signal != (c->promotion_interrupted && c->want == KEEPER_ACTION_PROMOTE))
			fail_msg("case \"%s\": restore_standby_signal %d", c->name, plan.restore_standby_signal);
		assert_non_null(plan.reason);
		db_finish(&db);
	}
}

static void
test_expected_transitions_are_in_the_table(void **state)
{
	const char *desc;

	(void) state;
	assert_true(keeper_fsm_transition_allowed(KEEPER_STATE_STANDBY, KEEPER_STATE_PROMOTING, &desc));
	assert_non_null(desc);
	assert_true(keeper_fsm_transition_allowed(KEEPER_STATE_PROMOTING, KEEPER_STATE_MASTER, &desc));
	assert_true(keeper_fsm_transition_allowed(KEEPER_STATE_MASTER, KEEPER_STATE_DEMOTED, &desc));
	assert_true(keeper_fsm_transition_allowed(KEEPER_STATE_DEMOTED, KEEPER_STATE_RESYNCING, &desc));
	assert_true(keeper_fsm_transition_allowed(KEEPER_STATE_MASTER, KEEPER_STATE_FENCED, &desc));
	/* a master never becomes a streaming standby without a resync in between */
	assert_false(keeper_fsm_transition_allowed(KEEPER_STATE_MASTER, KEEPER_STATE_STANDBY, &desc));
	assert_null(desc);
}

/* ---- RecoveryWatch: a running standby that gets nowhere ---- */

typedef struct RecoveryStep
{
	int64_t		at_ms;
	bool		running;
	bool		consistent;
	bool		streaming;
	const char *progress;
	RecoveryVerdict want;
} RecoveryStep;

static void
run_recovery_steps(const char *name, const RecoveryStep *steps, size_t n)
{
	RecoveryWatch w;
	int64_t		waited;

	memset(&w, 0, sizeof(w));
	for (size_t i = 0; i < n; i++)
	{
		RecoveryObservation obs = {steps[i].running, steps[i].consistent, steps[i].streaming, steps[i].progress};
		RecoveryVerdict v = keeper_recovery_judge(&w, &obs, steps[i].at_ms, 30000, &waited);

		if (v != steps[i].want)
			fail_msg("%s, step %zu (t=%lld ms): verdict %d, want %d", name, i, (long long) steps[i].at_ms, v,
					 steps[i].want);
	}
}

#define SEG1 "startup recovering 000000020000000000000001"
#define SEG2 "startup recovering 000000020000000000000002"

static void
test_recovery_replay_that_progresses_is_never_stalled(void **state)
{
	const RecoveryStep steps[] = {
		{1000, true, false, false, SEG1, RECOVERY_WAITING},
		{25000, true, false, false, SEG1, RECOVERY_WAITING},
		{30000, true, false, false, SEG2, RECOVERY_WAITING},	/* progress: the clock starts again */
		{59000, true, false, false, SEG2, RECOVERY_WAITING},
		{61000, true, true, true, "", RECOVERY_OK},
	};

	(void) state;
	run_recovery_steps("progressing replay", steps, sizeof(steps) / sizeof(steps[0]));
}

static void
test_recovery_replay_without_progress_stalls_after_the_bound(void **state)
{
	const RecoveryStep steps[] = {
		{1000, true, false, false, SEG1, RECOVERY_WAITING},
		{30999, true, false, false, SEG1, RECOVERY_WAITING},
		{31000, true, false, false, SEG1, RECOVERY_STALLED},
		{40000, true, false, false, SEG1, RECOVERY_STALLED},
	};

	(void) state;
	run_recovery_steps("stalled replay", steps, sizeof(steps) / sizeof(steps[0]));
}

static void
test_recovery_consistent_standby_must_stream(void **state)
{
	const RecoveryStep steps[] = {
		{0, true, false, false, SEG1, RECOVERY_WAITING},
		{5000, true, true, false, "", RECOVERY_WAITING},	/* consistent: the not-streaming clock starts here */
		{34000, true, true, false, "", RECOVERY_WAITING},
		{35000, true, true, false, "", RECOVERY_STALLED},
		{36000, true, true, true, "", RECOVERY_OK},
		{37000, true, true, false, "", RECOVERY_WAITING},	/* a new stretch after streaming */
	};

	(void) state;
	run_recovery_steps("consistent without streaming", steps, sizeof(steps) / sizeof(steps[0]));
}

static void
test_recovery_stopped_server_resets_the_watch(void **state)
{
	const RecoveryStep steps[] = {
		{0, true, false, false, SEG1, RECOVERY_WAITING},
		{29000, false, false, false, "", RECOVERY_OK},
		{31000, true, false, false, SEG1, RECOVERY_WAITING},
		{60000, true, false, false, SEG1, RECOVERY_WAITING},
		{61000, true, false, false, SEG1, RECOVERY_STALLED},
	};

	(void) state;
	run_recovery_steps("restart in between", steps, sizeof(steps) / sizeof(steps[0]));
}

static void
test_backoff_doubles_to_its_cap_and_resets(void **state)
{
	KeeperBackoff b = {.min_ms = 1000, .max_ms = 30000};
	const int64_t want[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};

	(void) state;
	assert_int_equal(keeper_backoff_wait_ms(&b, 0), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
	{
		keeper_backoff_failed(&b, 100000);
		assert_int_equal(b.not_before_ms - 100000, want[i]);
		assert_int_equal(keeper_backoff_wait_ms(&b, 100000), want[i]);
		assert_int_equal(keeper_backoff_wait_ms(&b, 100000 + want[i]), 0);
	}
	keeper_backoff_reset(&b);
	assert_int_equal(keeper_backoff_wait_ms(&b, 100000), 0);
	keeper_backoff_failed(&b, 0);
	assert_int_equal(b.not_before_ms, 1000);
}

static void
test_unusable_data_is_recognized_from_postgres_reasons(void **state)
{
	(void) state;
	assert_true(keeper_pg_failure_unusable("postgres did not start: FATAL: could not locate a valid checkpoint record"));
	assert_true(keeper_pg_failure_unusable("postgres did not start: FATAL: requested timeline 3 does not contain "
										   "minimum recovery point 0/5000000 on timeline 2"));
	assert_true(keeper_pg_failure_unusable("postgres did not start: FATAL: requested timeline 4 is not a child of "
										   "this server's history"));
	assert_false(keeper_pg_failure_unusable("postgres did not start: FATAL: could not create lock file "
											"\"/tmp/.s.PGSQL.5432.lock\": File exists"));
	assert_false(keeper_pg_failure_unusable("postgres did not start: LOG: could not bind IPv4 address "
											"\"127.0.0.1\": Address already in use"));
	assert_false(keeper_pg_failure_unusable(""));
	assert_false(keeper_pg_failure_unusable(NULL));
}

static void
test_every_action_and_state_has_a_name(void **state)
{
	(void) state;
	for (int a = KEEPER_ACTION_WAIT; a < KEEPER_ACTION_COUNT; a++)
		assert_string_not_equal(keeper_action_to_string((KeeperAction) a), "unknown");
	for (int s = KEEPER_STATE_STARTING; s < KEEPER_STATE_COUNT; s++)
		assert_string_not_equal(keeper_state_to_string((KeeperState) s), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_decision_table),
		cmocka_unit_test(test_expected_transitions_are_in_the_table),
		cmocka_unit_test(test_recovery_replay_that_progresses_is_never_stalled),
		cmocka_unit_test(test_recovery_replay_without_progress_stalls_after_the_bound),
		cmocka_unit_test(test_recovery_consistent_standby_must_stream),
		cmocka_unit_test(test_recovery_stopped_server_resets_the_watch),
		cmocka_unit_test(test_backoff_doubles_to_its_cap_and_resets),
		cmocka_unit_test(test_unusable_data_is_recognized_from_postgres_reasons),
		cmocka_unit_test(test_every_action_and_state_has_a_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
