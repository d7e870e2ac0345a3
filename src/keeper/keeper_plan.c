/*
 * src/keeper/keeper_plan.c
 *    The keeper's decision table and its state machine's transition table; see keeper_plan.h.
 */
#include "keeper/keeper_plan.h"

#include <stdio.h>
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
		case KEEPER_ACTION_INIT_RESUME:
			return "init_resume";
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
		case KEEPER_STATE_RECOVERING:
			return "recovering";
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
		case KEEPER_ACTION_INIT_RESUME:
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

#define PLAN(a, r) ((KeeperPlan) {.action = (a), .reason = (r)})
#define PLAN_BASE_BACKUP(r) ((KeeperPlan) {.action = KEEPER_ACTION_RESYNC, .reason = (r), .base_backup = true})

/* A DB assigned to us whose data is not (or not wholly) here: what its initMode says to do. */
static KeeperPlan
keeper_plan_create(const Db *db, bool redo)
{
	switch (db->spec.init_mode)
	{
		case INIT_MODE_NEW:
			return PLAN(KEEPER_ACTION_INIT_NEW, redo ? "redo an interrupted initdb" : "new db");
		case INIT_MODE_RESYNC:
			/* what an interrupted resync left cannot be rewound: a base backup */
			return redo ? PLAN_BASE_BACKUP("redo an interrupted resync") : PLAN(KEEPER_ACTION_RESYNC, "new standby db");
		case INIT_MODE_EXISTING:
			return PLAN(KEEPER_ACTION_ADOPT_EXISTING, "adopt the existing data");
		case INIT_MODE_PITR:
			return PLAN(KEEPER_ACTION_UNSUPPORTED, "pitr is not supported by this keeper");
		case INIT_MODE_NONE:
			return PLAN(KEEPER_ACTION_LOST_DATA,
						redo ? "an interrupted init left no usable data" : "db assigned but its data is not here");
	}
	return PLAN(KEEPER_ACTION_FENCE, "unknown init mode");
}

KeeperPlan
keeper_plan_decide(const KeeperPlanInput *in)
{
	const Db   *db = in->db;

	if (!in->has_cluster_data)
		return PLAN(KEEPER_ACTION_WAIT, "no cluster data read yet");
	if (!in->keeper_registered)
		return PLAN(KEEPER_ACTION_FENCE, "keeper not in the cluster data yet");
	if (!in->boot_uuid_matches)
		return PLAN(KEEPER_ACTION_FENCE, "the sentinel has not seen this keeper process yet");
	if (db == NULL)
		return PLAN(KEEPER_ACTION_FENCE, "no db assigned to this keeper");
	if (strcmp(in->local_db_uid, db->uid) != 0)
		return keeper_plan_create(db, false);

	/* the DB is ours: what the last keeper process was doing when it stopped decides what the data is */
	switch (in->local_phase)
	{
		case DB_PHASE_UNKNOWN:
			return keeper_plan_create(db, true);
		case DB_PHASE_INITDB:
			return PLAN(KEEPER_ACTION_INIT_NEW, "redo an interrupted initdb");
		case DB_PHASE_INITIALIZED:
			if (!in->pg_initialized)
				return PLAN(KEEPER_ACTION_INIT_NEW, "the initialized data directory disappeared");
			return PLAN(KEEPER_ACTION_INIT_RESUME, "initdb done: configure, start, create the roles");
		case DB_PHASE_REWIND:
			return PLAN_BASE_BACKUP("an interrupted pg_rewind leaves unusable data");
		case DB_PHASE_BASEBACKUP:
			return PLAN_BASE_BACKUP("redo an interrupted base backup");
		case DB_PHASE_CATCHING_UP:
			if (!in->pg_initialized)
				return PLAN_BASE_BACKUP("the resynced data directory disappeared");
			if (in->standby_stuck)
				return PLAN_BASE_BACKUP("the resynced standby does not catch up with its master");
			/* a fresh copy is a standby whatever it says of itself: never "demote" it */
			if (db->spec.role == DB_ROLE_STANDBY && db->spec.follow_config != NULL &&
				db->spec.follow_config->type == FOLLOW_TYPE_INTERNAL)
				return PLAN(KEEPER_ACTION_RUN_STANDBY, "resynced: start it as a standby until it streams");
			break;
		case DB_PHASE_READY:
		case DB_PHASE_PROMOTING:
			break;
	}
	if (!in->pg_initialized)
	{
		if (db->spec.role == DB_ROLE_STANDBY && db->spec.init_mode == INIT_MODE_RESYNC)
			return PLAN_BASE_BACKUP("data directory disappeared");
		return PLAN(KEEPER_ACTION_LOST_DATA, "data directory disappeared");
	}

	switch (db->spec.role)
	{
		case DB_ROLE_MASTER:
			/* a promise given to the old master in a store outage is kept: it fences itself relying on it */
			if ((in->promotion_interrupted || in->local_is_standby) && in->promotion_promised)
				return PLAN(KEEPER_ACTION_WAIT, "promotion deferred: a failsafe promise to the old master holds");
			if (in->promotion_interrupted)
				return (KeeperPlan) {.action = KEEPER_ACTION_PROMOTE, .restore_standby_signal = true,
					.reason = "redo a promotion interrupted before its end"};
			if (in->local_is_standby)
				return PLAN(KEEPER_ACTION_PROMOTE, "cluster data says master");
			return PLAN(KEEPER_ACTION_RUN_MASTER, "master");
		case DB_ROLE_STANDBY:
			if (db->spec.follow_config == NULL || db->spec.follow_config->type == FOLLOW_TYPE_EXTERNAL)
				return PLAN(KEEPER_ACTION_UNSUPPORTED, "external follow is not supported by this keeper");
			if (!in->local_is_standby)
				return PLAN(KEEPER_ACTION_DEMOTE, "no longer master: stop writes, wait for a resync db");
			if (in->standby_stuck)
				return PLAN(KEEPER_ACTION_RESYNC, "the standby does not become consistent or does not stream");
			return PLAN(KEEPER_ACTION_RUN_STANDBY, "standby");
	}
	return PLAN(KEEPER_ACTION_FENCE, "unknown role");
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
	{KEEPER_STATE_RESYNCING, KEEPER_STATE_RECOVERING, "resynced, catching up"},
	{KEEPER_STATE_RECOVERING, KEEPER_STATE_STANDBY, "consistent and streaming"},
	{KEEPER_STATE_STANDBY, KEEPER_STATE_RECOVERING, "restarted, not yet consistent or streaming"},
	{KEEPER_STATE_STARTING, KEEPER_STATE_RECOVERING, "restarted as standby, recovering"},
	{KEEPER_STATE_WAITING, KEEPER_STATE_RECOVERING, "cluster data read: standby, recovering"},
	{KEEPER_STATE_FENCED, KEEPER_STATE_RECOVERING, "fence lifted: standby, recovering"},
	{KEEPER_STATE_ADOPTING, KEEPER_STATE_RECOVERING, "adopted as standby, recovering"},
	{KEEPER_STATE_LOST_DATA, KEEPER_STATE_RECOVERING, "data back"},
	{KEEPER_STATE_RECOVERING, KEEPER_STATE_PROMOTING, "promotion requested"},
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

RecoveryVerdict
keeper_recovery_judge(RecoveryWatch *w, const RecoveryObservation *obs, int64_t now, int64_t stall_ms,
					  int64_t *waited_ms)
{
	const char *progress = obs->progress ? obs->progress : "";

	*waited_ms = 0;
	if (!obs->running || (obs->consistent && obs->streaming))
	{
		memset(w, 0, sizeof(*w));
		return RECOVERY_OK;
	}
	if (w->since_ms == 0 || w->consistent != obs->consistent)
	{
		/* a new stretch: not consistent (replay must progress), or consistent without streaming */
		w->since_ms = now;
		w->consistent = obs->consistent;
		w->progress_ms = now;
		snprintf(w->progress, sizeof(w->progress), "%s", progress);
	}
	else if (!obs->consistent && strcmp(w->progress, progress) != 0)
	{
		w->progress_ms = now;
		snprintf(w->progress, sizeof(w->progress), "%s", progress);
	}
	*waited_ms = now - (obs->consistent ? w->since_ms : w->progress_ms);
	return *waited_ms < stall_ms ? RECOVERY_WAITING : RECOVERY_STALLED;
}

/* PostgreSQL's words (its FATAL messages at startup) for a data directory that cannot be started from. */
static const char *const keeper_unusable_data_messages[] = {
	"could not locate a valid checkpoint record",
	"invalid checkpoint record",
	"invalid primary checkpoint record",
	"does not contain minimum recovery point",
	"is not a child of this server's history",
	"database files are incompatible with server",
	"incorrect checksum in control file",
	"could not open file \"global/pg_control\"",
	"WAL ends before end of online backup",
	"WAL ends before consistent recovery point",
	"backup_label contains data inconsistent with control file",
};

bool
keeper_pg_failure_unusable(const char *failure)
{
	if (failure == NULL)
		return false;
	for (size_t i = 0; i < sizeof(keeper_unusable_data_messages) / sizeof(keeper_unusable_data_messages[0]); i++)
		if (strstr(failure, keeper_unusable_data_messages[i]) != NULL)
			return true;
	return false;
}

int64_t
keeper_backoff_wait_ms(const KeeperBackoff *b, int64_t now)
{
	return b->failures > 0 && now < b->not_before_ms ? b->not_before_ms - now : 0;
}

void
keeper_backoff_failed(KeeperBackoff *b, int64_t now)
{
	int64_t		delay = b->min_ms;

	if (b->failures < 62)
		b->failures++;
	for (int i = 1; i < b->failures && delay < b->max_ms; i++)
		delay *= 2;
	if (delay > b->max_ms)
		delay = b->max_ms;
	b->not_before_ms = now + delay;
}

void
keeper_backoff_reset(KeeperBackoff *b)
{
	b->failures = 0;
	b->not_before_ms = 0;
}
