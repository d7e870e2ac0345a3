/*
 * src/keeper/keeper_plan.h
 *    The keeper's pure decision: given what it knows of its local PostgreSQL (including the phase its dbstate
 *    file recorded durably) and what the cluster data assigns it, the one action to carry out next (the steps
 *    of docs/design.md, "The keeper"). The action also names the state the keeper is in; states, their names and
 *    the allowed transitions live here too, and one dispatcher in converge.c carries out the action from its
 *    table and logs every transition through keeper_fsm_transition_allowed(). converge.c asks again after each
 *    step that changed something, so one pass can go initdb -> run the master, or resync -> run the standby.
 *
 *    Also pure and here: the judgement of a standby that does not recover (RecoveryWatch) and the pacing of
 *    retries of a failing step (KeeperBackoff), so that both are table-driven unit tests.
 */
#ifndef BULWARK_KEEPER_PLAN_H
#define BULWARK_KEEPER_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "keeper/keeper_state.h"

typedef enum KeeperAction
{
	KEEPER_ACTION_WAIT = 0,		/* no cluster data read yet: leave PostgreSQL as it is */
	KEEPER_ACTION_FENCE,		/* stop PostgreSQL: not registered, boot id not seen (I6) or no DB assigned */
	KEEPER_ACTION_INIT_NEW,		/* initdb a new master */
	KEEPER_ACTION_INIT_RESUME,	/* an initdb finished: configure, start, create the roles (no new initdb) */
	KEEPER_ACTION_RESYNC,		/* (re)build a standby: pg_rewind or pg_basebackup */
	KEEPER_ACTION_ADOPT_EXISTING,	/* take the existing PGDATA as the DB */
	KEEPER_ACTION_LOST_DATA,	/* the DB is ours but its data is gone and initMode is none: stop, report */
	KEEPER_ACTION_DEMOTE,		/* target standby but PostgreSQL is a primary: fast shutdown first (I5) */
	KEEPER_ACTION_PROMOTE,		/* target master while running as a standby */
	KEEPER_ACTION_RUN_MASTER,	/* converge a master: config, slots, sync names */
	KEEPER_ACTION_RUN_STANDBY,	/* converge a standby: config, primary_conninfo, no slots */
	KEEPER_ACTION_UNSUPPORTED,	/* pitr or external follow: not implemented, PostgreSQL stopped */
} KeeperAction;

#define KEEPER_ACTION_COUNT (KEEPER_ACTION_UNSUPPORTED + 1)

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
	KEEPER_STATE_RECOVERING,	/* a standby started that is not yet consistent and streaming */
} KeeperState;

#define KEEPER_STATE_COUNT (KEEPER_STATE_RECOVERING + 1)

typedef struct KeeperPlanInput
{
	bool		has_cluster_data;	/* a valid clusterdata has been read at least once */
	bool		keeper_registered;	/* cd.keepers has our uid */
	bool		boot_uuid_matches;	/* cd.keepers[uid].status.bootUUID == our boot uuid */
	const Db   *db;				/* the DB assigned to us, NULL when none */
	const char *local_db_uid;	/* dbstate uid, "" when no DB was ever set up here */
	DbPhase		local_phase;	/* dbstate: the step in progress, DB_PHASE_READY when none */
	bool		pg_initialized; /* PGDATA holds a cluster (PG_VERSION) */
	bool		local_is_standby;	/* PGDATA has standby.signal */

	/*
	 * Phase PROMOTING, PostgreSQL stopped, and its control file says it stopped in the middle of recovery: it was
	 * killed between the promotion request and its end, possibly after standby.signal was removed but before the
	 * end-of-recovery record. Started as it is, it would go on writing on the old timeline.
	 */
	bool		promotion_interrupted;
	bool		standby_stuck;	/* the RecoveryWatch gave up on this standby (see keeper_recovery_judge) */
	bool		promotion_promised; /* a failsafe promise to the master not to be promoted still holds */
} KeeperPlanInput;

typedef struct KeeperPlan
{
	KeeperAction action;
	const char *reason;			/* static text for the log */
	bool		base_backup;	/* RESYNC: no pg_rewind, a base backup (the local data cannot be rewound) */
	bool		restore_standby_signal; /* PROMOTE: put standby.signal back first (promotion_interrupted) */
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

/*
 * RecoveryWatch: whether a running standby gets anywhere. A standby that is not consistent yet (the server still
 * "starting") must show replay progress (the startup process's title changes as it moves from WAL segment to
 * segment); one that is consistent must stream from its master. One that does neither for stall_ms stalls
 * (RECOVERY_STALLED): if its master answers, it waits for WAL that master cannot give (a timeline that forked
 * before its minimum recovery point, WAL recycled away) and only a resync brings it back; if its master does not
 * answer, it is waiting for that master, and a resync could not help. converge.c tells the two apart.
 */
typedef struct RecoveryObservation
{
	bool		running;		/* a postmaster runs for PGDATA */
	bool		consistent;		/* it accepts connections (hot standby) */
	bool		streaming;		/* its WAL receiver streams */
	const char *progress;		/* the startup process's title, "" when unknown */
} RecoveryObservation;

#define RECOVERY_PROGRESS_SIZE 128

typedef struct RecoveryWatch
{
	int64_t		since_ms;		/* when the current not-consistent or not-streaming stretch began, 0 = none */
	bool		consistent;		/* the stretch is of the not-streaming kind */
	int64_t		progress_ms;	/* when progress last changed */
	char		progress[RECOVERY_PROGRESS_SIZE];
} RecoveryWatch;

typedef enum RecoveryVerdict
{
	RECOVERY_OK = 0,			/* streaming, or not running (start failures are paced elsewhere) */
	RECOVERY_WAITING,			/* not there yet, within the bound */
	RECOVERY_STALLED,			/* beyond the bound */
} RecoveryVerdict;

/*
 * keeper_recovery_judge: folds obs at now (monotonic ms) into w and judges it; *waited_ms says for how long
 * the standby has been without progress (not consistent) or without streaming (consistent).
 */
RecoveryVerdict keeper_recovery_judge(RecoveryWatch *w, const RecoveryObservation *obs, int64_t now,
									  int64_t stall_ms, int64_t *waited_ms);

/*
 * keeper_pg_failure_unusable: true when PostgreSQL's reason for not starting (pgctl's failure text) says that
 * the data directory itself cannot be started from (no valid checkpoint, a timeline that does not hold its
 * minimum recovery point, an incompatible or damaged control file): for a standby, only a new copy helps.
 */
bool keeper_pg_failure_unusable(const char *failure);

/*
 * KeeperBackoff: the pace of retries of a step that keeps failing (starting PostgreSQL, initdb, a resync), so
 * that a failure is not answered by the same heavy work every pass: after the n-th failure in a row the step
 * waits min_ms * 2^(n-1), at most max_ms. A success resets it.
 */
typedef struct KeeperBackoff
{
	int64_t		min_ms;
	int64_t		max_ms;
	int			failures;		/* in a row */
	int64_t		not_before_ms;	/* monotonic */
} KeeperBackoff;

/* keeper_backoff_wait_ms: 0 when the step may run at now, else how long it must still wait. */
int64_t keeper_backoff_wait_ms(const KeeperBackoff *b, int64_t now);
void keeper_backoff_failed(KeeperBackoff *b, int64_t now);
void keeper_backoff_reset(KeeperBackoff *b);

#endif
