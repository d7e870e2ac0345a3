/*
 * src/keeper/keeper_plan.c
 *    The keeper's decision table and its state machine's transition table; see keeper_plan.h.
 */
#include "keeper/keeper_plan.h"

#include <string.h>

const char *
keeper_action_to_string(KeeperAction action)
{
	switch (action)
	{
		case KEEPER_ACTION_WAIT:
			return "wait";
		case KEEPER_ACTION_FENCE:
			return "fence";
		case KEEPER_ACTION_INIT_NEW:
			return "init_new";
		case KEEPER_ACTION_RESYNC:
			return "resync";
		case KEEPER_ACTION_ADOPT_EXISTING:
			return "adopt_existing";
		case KEEPER_ACTION_LOST_DATA:
			return "lost_data";
		case KEEPER_ACTION_DEMOTE:
			return "demote";
		case KEEPER_ACTION_PROMOTE:
			return "promote";
		case KEEPER_ACTION_RUN_MASTER:
			return "run_master";
		case KEEPER_ACTION_RUN_STANDBY:
			return "run_standby";
		case KEEPER_ACTION_UNSUPPORTED:
			return "unsupported";
	}
	return "unknown";
}

const char *
keeper_state_to_string(KeeperState state)
{
	switch (state)
	{
		case KEEPER_STATE_STARTING:
			return "starting";
		case KEEPER_STATE_WAITING:
			return "waiting";
		case KEEPER_STATE_FENCED:
			return "fenced";
		case KEEPER_STATE_INITIALIZING:
			return "initializing";
		case KEEPER_STATE_RESYNCING:
			return "resyncing";
		case KEEPER_STATE_ADOPTING:
			return "adopting";
		case KEEPER_STATE_LOST_DATA:
			return "lost_data";
		case KEEPER_STATE_DEMOTED:
			return "demoted";
		case KEEPER_STATE_PROMOTING:
			return "promoting";
		case KEEPER_STATE_MASTER:
			return "master";
		case KEEPER_STATE_STANDBY:
			return "standby";
		case KEEPER_STATE_UNSUPPORTED:
			return "unsupported";
	}
	return "unknown";
}

KeeperState
keeper_action_state(KeeperAction action)
{
	switch (action)
	{
		case KEEPER_ACTION_WAIT:
			return KEEPER_STATE_WAITING;
		case KEEPER_ACTION_FENCE:
			return KEEPER_STATE_FENCED;
		case KEEPER_ACTION_INIT_NEW:
			return KEEPER_STATE_INITIALIZING;
		case KEEPER_ACTION_RESYNC:
			return KEEPER_STATE_RESYNCING;
		case KEEPER_ACTION_ADOPT_EXISTING:
			return KEEPER_STATE_ADOPTING;
		case KEEPER_ACTION_LOST_DATA:
			return KEEPER_STATE_LOST_DATA;
		case KEEPER_ACTION_DEMOTE:
			return KEEPER_STATE_DEMOTED;
		case KEEPER_ACTION_PROMOTE:
			return KEEPER_STATE_PROMOTING;
		case KEEPER_ACTION_RUN_MASTER:
			return KEEPER_STATE_MASTER;
		case KEEPER_ACTION_RUN_STANDBY:
			return KEEPER_STATE_STANDBY;
		case KEEPER_ACTION_UNSUPPORTED:
			return KEEPER_STATE_UNSUPPORTED;
	}
	return KEEPER_STATE_WAITING;
}

KeeperPlan
keeper_plan_decide(const KeeperPlanInput *in)
{
	const Db   *db = in->db;
	bool		ours;

	if (!in->has_cluster_data)
		return (KeeperPlan) {KEEPER_ACTION_WAIT, "no cluster data read yet"};
	if (!in->keeper_registered)
		return (KeeperPlan) {KEEPER_ACTION_FENCE, "keeper not in the cluster data yet"};
	if (!in->boot_uuid_matches)
		return (KeeperPlan) {KEEPER_ACTION_FENCE, "the sentinel has not seen this keeper process yet"};
	if (db == NULL)
		return (KeeperPlan) {KEEPER_ACTION_FENCE, "no db assigned to this keeper"};

	ours = strcmp(in->local_db_uid, db->uid) == 0;
	if (!ours || in->local_initializing)
	{
		switch (db->spec.init_mode)
		{
			case INIT_MODE_NEW:
				return (KeeperPlan) {KEEPER_ACTION_INIT_NEW, ours ? "redo an interrupted initdb" : "new db"};
			case INIT_MODE_RESYNC:
				return (KeeperPlan) {KEEPER_ACTION_RESYNC, ours ? "redo an interrupted resync" : "new standby db"};
			case INIT_MODE_EXISTING:
				return (KeeperPlan) {KEEPER_ACTION_ADOPT_EXISTING, "adopt the existing data"};
			case INIT_MODE_PITR:
				return (KeeperPlan) {KEEPER_ACTION_UNSUPPORTED, "pitr is not supported by this keeper"};
			case INIT_MODE_NONE:
				return (KeeperPlan) {KEEPER_ACTION_LOST_DATA,
					ours ? "an interrupted init left no usable data" : "db assigned but its data is not here"};
		}
	}
	if (!in->pg_initialized)
	{
		if (db->spec.role == DB_ROLE_STANDBY && db->spec.init_mode == INIT_MODE_RESYNC)
			return (KeeperPlan) {KEEPER_ACTION_RESYNC, "data directory disappeared"};
		return (KeeperPlan) {KEEPER_ACTION_LOST_DATA, "data directory disappeared"};
	}

	switch (db->spec.role)
	{
		case DB_ROLE_MASTER:
			if (in->local_is_standby)
				return (KeeperPlan) {KEEPER_ACTION_PROMOTE, "cluster data says master"};
			return (KeeperPlan) {KEEPER_ACTION_RUN_MASTER, "master"};
		case DB_ROLE_STANDBY:
			if (db->spec.follow_config == NULL || db->spec.follow_config->type == FOLLOW_TYPE_EXTERNAL)
				return (KeeperPlan) {KEEPER_ACTION_UNSUPPORTED, "external follow is not supported by this keeper"};
			if (!in->local_is_standby)
				return (KeeperPlan) {KEEPER_ACTION_DEMOTE, "no longer master: stop writes, wait for a resync db"};
			return (KeeperPlan) {KEEPER_ACTION_RUN_STANDBY, "standby"};
	}
	return (KeeperPlan) {KEEPER_ACTION_FENCE, "unknown role"};
}

/* KEEPER_STATE_COUNT as "from" means any state. */
typedef struct KeeperTransition
{
	KeeperState from;
	KeeperState to;
	const char *description;
} KeeperTransition;

#define ANY_STATE KEEPER_STATE_COUNT

static const KeeperTransition keeper_transitions[] = {
	{ANY_STATE, KEEPER_STATE_WAITING, "waiting for cluster data"},
	{ANY_STATE, KEEPER_STATE_FENCED, "postgres kept stopped until the cluster data assigns this keeper a db"},
	{ANY_STATE, KEEPER_STATE_RESYNCING, "rebuilding as a standby"},
	{ANY_STATE, KEEPER_STATE_INITIALIZING, "initializing a new db"},
	{ANY_STATE, KEEPER_STATE_LOST_DATA, "the assigned db has no data here"},
	{ANY_STATE, KEEPER_STATE_UNSUPPORTED, "unsupported assignment"},
	{KEEPER_STATE_STARTING, KEEPER_STATE_MASTER, "restarted as master"},
	{KEEPER_STATE_STARTING, KEEPER_STATE_STANDBY, "restarted as standby"},
	{KEEPER_STATE_STARTING, KEEPER_STATE_PROMOTING, "restarted, promoting"},
	{KEEPER_STATE_STARTING, KEEPER_STATE_DEMOTED, "restarted as a demoted master"},
	{KEEPER_STATE_STARTING, KEEPER_STATE_ADOPTING, "adopting existing data"},
	{KEEPER_STATE_WAITING, KEEPER_STATE_MASTER, "cluster data read: master"},
	{KEEPER_STATE_WAITING, KEEPER_STATE_STANDBY, "cluster data read: standby"},
	{KEEPER_STATE_WAITING, KEEPER_STATE_PROMOTING, "cluster data read: promoting"},
	{KEEPER_STATE_WAITING, KEEPER_STATE_DEMOTED, "cluster data read: demoted"},
	{KEEPER_STATE_FENCED, KEEPER_STATE_MASTER, "fence lifted: master"},
	{KEEPER_STATE_FENCED, KEEPER_STATE_STANDBY, "fence lifted: standby"},
	{KEEPER_STATE_FENCED, KEEPER_STATE_PROMOTING, "fence lifted: promoting"},
	{KEEPER_STATE_FENCED, KEEPER_STATE_DEMOTED, "fence lifted: demoted master"},
	{KEEPER_STATE_FENCED, KEEPER_STATE_ADOPTING, "fence lifted: adopting"},
	{KEEPER_STATE_INITIALIZING, KEEPER_STATE_MASTER, "initialized"},
	{KEEPER_STATE_ADOPTING, KEEPER_STATE_MASTER, "adopted as master"},
	{KEEPER_STATE_ADOPTING, KEEPER_STATE_STANDBY, "adopted as standby"},
	{KEEPER_STATE_RESYNCING, KEEPER_STATE_STANDBY, "resynced, streaming"},
	{KEEPER_STATE_STANDBY, KEEPER_STATE_PROMOTING, "promotion requested"},
	{KEEPER_STATE_PROMOTING, KEEPER_STATE_MASTER, "promoted"},
	{KEEPER_STATE_MASTER, KEEPER_STATE_DEMOTED, "demoted: writes stopped"},
	{KEEPER_STATE_LOST_DATA, KEEPER_STATE_MASTER, "data back"},
	{KEEPER_STATE_LOST_DATA, KEEPER_STATE_STANDBY, "data back"},
};

bool
keeper_fsm_transition_allowed(KeeperState from, KeeperState to, const char **description)
{
	for (size_t i = 0; i < sizeof(keeper_transitions) / sizeof(keeper_transitions[0]); i++)
	{
		const KeeperTransition *t = &keeper_transitions[i];

		if ((t->from == from || t->from == ANY_STATE) && t->to == to)
		{
			*description = t->description;
			return true;
		}
	}
	*description = NULL;
	return false;
}
