/*
 * tests/unit/test_keeper_plan.c
 *    The keeper's convergence decision table: given the local state and the assigned DB, the one action of a
 *    pass (fence until the sentinel saw this process, init, resync, promote, demote first, run), and the state
 *    machine's transition table.
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
	bool		initializing;
	bool		initialized;
	bool		standby;
	KeeperAction want;
} PlanCase;

static const PlanCase plan_cases[] = {
	{"no cluster data: leave postgres alone", false, false, false, NO_DB, "", false, true, false, KEEPER_ACTION_WAIT},
	{"not registered: fence", true, false, false, MASTER_NONE, "db1", false, true, false, KEEPER_ACTION_FENCE},
	{"boot uuid not seen (I6): fence even as master", true, true, false, MASTER_NONE, "db1", false, true, false, KEEPER_ACTION_FENCE},
	{"no db assigned: fence", true, true, true, NO_DB, "db1", false, true, false, KEEPER_ACTION_FENCE},
	{"new master db: initdb", true, true, true, MASTER_NEW, "", false, false, false, KEEPER_ACTION_INIT_NEW},
	{"interrupted initdb: redo", true, true, true, MASTER_NEW, "db1", true, true, false, KEEPER_ACTION_INIT_NEW},
	{"new standby db: resync", true, true, true, STANDBY_RESYNC, "", false, false, false, KEEPER_ACTION_RESYNC},
	{"old master given a resync db: resync", true, true, true, STANDBY_RESYNC, "db0", false, true, false, KEEPER_ACTION_RESYNC},
	{"interrupted base backup: redo", true, true, true, STANDBY_RESYNC, "db1", true, false, false, KEEPER_ACTION_RESYNC},
	{"resynced standby whose data vanished: resync", true, true, true, STANDBY_RESYNC, "db1", false, false, false, KEEPER_ACTION_RESYNC},
	{"master running as master: run", true, true, true, MASTER_NONE, "db1", false, true, false, KEEPER_ACTION_RUN_MASTER},
	{"standby told to be master: promote", true, true, true, MASTER_NONE, "db1", false, true, true, KEEPER_ACTION_PROMOTE},
	{"master told to be standby: demote first (I5)", true, true, true, STANDBY_NONE, "db1", false, true, false, KEEPER_ACTION_DEMOTE},
	{"standby running as standby: run", true, true, true, STANDBY_NONE, "db1", false, true, true, KEEPER_ACTION_RUN_STANDBY},
	{"db with initMode none but no data here: lost", true, true, true, MASTER_NONE, "db0", false, true, false, KEEPER_ACTION_LOST_DATA},
	{"master data vanished: lost", true, true, true, MASTER_NONE, "db1", false, false, false, KEEPER_ACTION_LOST_DATA},
	{"external follow: unsupported", true, true, true, STANDBY_EXTERNAL, "db1", false, true, true, KEEPER_ACTION_UNSUPPORTED},
	{"pitr: unsupported", true, true, true, PITR, "", false, false, false, KEEPER_ACTION_UNSUPPORTED},
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
			.local_db_uid = c->local_uid, .local_initializing = c->initializing, .pg_initialized = c->initialized,
			.local_is_standby = c->standby,
		};
		KeeperPlan	plan;

		plan_db(&db, c->db);
		in.db = c->db == NO_DB ? NULL : &db;
		plan = keeper_plan_decide(&in);
		if (plan.action != c->want)
			fail_msg("case \"%s\": got %s, want %s", c->name, keeper_action_to_string(plan.action),
					 keeper_action_to_string(c->want));
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

static void
test_every_action_and_state_has_a_name(void **state)
{
	(void) state;
	for (int a = KEEPER_ACTION_WAIT; a <= KEEPER_ACTION_UNSUPPORTED; a++)
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
		cmocka_unit_test(test_every_action_and_state_has_a_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
