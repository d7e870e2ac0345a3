/*
 * src/keeper/keeper_plan.h
 *    The keeper's pure decision: given what it knows of its local PostgreSQL and what the cluster data assigns
 *    it, the one action of this pass (Stolon §4.5 steps 2-5, with DESIGN.md I5/I6). The action also names
 *    the state the keeper is in; states, their names and the allowed transitions live here too, and one
 *    dispatcher in converge.c logs every transition through keeper_fsm_transition_allowed().
 */
#ifndef BULWARK_KEEPER_PLAN_H
#define BULWARK_KEEPER_PLAN_H

#include <stdbool.h>

#include "cluster.h"

typedef enum KeeperAction
{
	KEEPER_ACTION_WAIT = 0,		/* no cluster data read yet: leave PostgreSQL as it is */
	KEEPER_ACTION_FENCE,		/* stop PostgreSQL: not registered, boot id not seen (I6) or no DB assigned */
	KEEPER_ACTION_INIT_NEW,		/* initdb a new master */
	KEEPER_ACTION_RESYNC,		/* (re)build a standby: pg_rewind or pg_basebackup */
	KEEPER_ACTION_ADOPT_EXISTING,	/* take the existing PGDATA as the DB */
	KEEPER_ACTION_LOST_DATA,	/* the DB is ours but its data is gone and initMode is none: stop, report */
	KEEPER_ACTION_DEMOTE,		/* target standby but PostgreSQL is a primary: fast shutdown first (I5) */
	KEEPER_ACTION_PROMOTE,		/* target master while running as a standby */
	KEEPER_ACTION_RUN_MASTER,	/* converge a master: config, slots, sync names */
	KEEPER_ACTION_RUN_STANDBY,	/* converge a standby: config, primary_conninfo, no slots */
	KEEPER_ACTION_UNSUPPORTED,	/* pitr or external follow: not implemented, PostgreSQL stopped */
} KeeperAction;

typedef enum KeeperState
{
	KEEPER_STATE_STARTING = 0,
	KEEPER_STATE_WAITING,
	KEEPER_STATE_FENCED,
	KEEPER_STATE_INITIALIZING,
	KEEPER_STATE_RESYNCING,
	KEEPER_STATE_ADOPTING,
	KEEPER_STATE_LOST_DATA,
	KEEPER_STATE_DEMOTED,
	KEEPER_STATE_PROMOTING,
	KEEPER_STATE_MASTER,
	KEEPER_STATE_STANDBY,
	KEEPER_STATE_UNSUPPORTED,
} KeeperState;

#define KEEPER_STATE_COUNT (KEEPER_STATE_UNSUPPORTED + 1)

typedef struct KeeperPlanInput
{
	bool		has_cluster_data;	/* a valid clusterdata has been read at least once */
	bool		keeper_registered;	/* cd.keepers has our uid */
	bool		boot_uuid_matches;	/* cd.keepers[uid].status.bootUUID == our boot uuid */
	const Db   *db;				/* the DB assigned to us, NULL when none */
	const char *local_db_uid;	/* dbstate uid, "" when no DB was ever set up here */
	bool		local_initializing; /* dbstate says an init/resync did not finish */
	bool		pg_initialized; /* PGDATA holds a cluster (PG_VERSION) */
	bool		local_is_standby;	/* PGDATA has standby.signal */
} KeeperPlanInput;

typedef struct KeeperPlan
{
	KeeperAction action;
	const char *reason;			/* static text for the log */
} KeeperPlan;

/* keeper_plan_decide: the action for this pass (pure). */
KeeperPlan keeper_plan_decide(const KeeperPlanInput *in);

/* keeper_action_state: the state the keeper is in while (and after) carrying out action. */
KeeperState keeper_action_state(KeeperAction action);

const char *keeper_action_to_string(KeeperAction action);
const char *keeper_state_to_string(KeeperState state);

/*
 * keeper_fsm_transition_allowed: true when from -> to is in the transition table (a transition the design
 * expects); *description gets the table's text for it, or NULL. Unexpected transitions are still carried out
 * (the cluster data is the authority) but logged as warnings.
 */
bool keeper_fsm_transition_allowed(KeeperState from, KeeperState to, const char **description);

#endif
