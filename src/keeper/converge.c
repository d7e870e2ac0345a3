/*
 * src/keeper/converge.c
 *    Carrying out the keeper's plan (keeper_plan.c) on the local PostgreSQL. One table maps every action of
 *    keeper_plan_decide() to the step that carries it out; keeper_converge() asks the plan, runs the step, and
 *    asks again after a step that changed the data directory (initdb, resync, promotion), so that the next step
 *    is decided from the facts as they are now, never from a second copy of the rules. The generation is
 *    acknowledged after a fully successful pass.
 *
 * Order matters for safety: a keeper whose DB is no longer master stops PostgreSQL (fast) before anything
 * else (I5); a keeper the sentinel has not seen runs nothing (I6); every step that changes PGDATA first records
 * its phase in dbstate, so that a crash in the middle makes the next keeper redo the right step (an
 * interrupted pg_rewind leaves data that only a base backup can replace; an interrupted initdb, an incomplete
 * directory). A step that fails is retried at a slowing pace (KeeperBackoff), never by destroying the data
 * directory: only a failure that says the data directory is unusable leads to a new copy.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "buf.h"
#include "keeper/keeper.h"
#include "keeper/keeper_config.h"
#include "keeper/pgconf.h"
#include "log.h"
#include "timestamp.h"

/* At most this many steps in one pass (initdb -> start -> run master is three); a guard against a loop. */
#define KEEPER_MAX_STEPS_PER_PASS 5

/*
 * How long a pass waits for a standby it starts to accept connections before it lets the loop go on (and the
 * RecoveryWatch judge the progress): a standby that must replay much WAL is not a failure.
 */
#define KEEPER_STANDBY_START_WAIT_MS 10000

/* A base backup keeps the old data aside when the file system has room for both copies and this margin. */
#define KEEPER_MOVE_ASIDE_MARGIN (64ULL * 1024 * 1024)

typedef enum StepResult
{
	STEP_FAILED,				/* the step failed: logged, the problem recorded, retried later */
	STEP_WAITING,				/* nothing failed, but the DB is not converged (stopped on purpose, recovering) */
	STEP_AGAIN,					/* the step changed the data directory: decide again */
	STEP_DONE,					/* converged: acknowledge the generation */
} StepResult;

typedef StepResult (*KeeperStepFn) (KeeperDaemon *k, const Db *db, const KeeperPlan *plan);

static void
keeper_fsm_enter(KeeperDaemon *k, KeeperState to, const char *reason)
{
	const char *desc;

	if (to == k->state)
		return;
	if (keeper_fsm_transition_allowed(k->state, to, &desc))
		log_info("keeper state %s -> %s: %s reason=\"%s\"", keeper_state_to_string(k->state),
				 keeper_state_to_string(to), desc, reason);
	else
		log_warn("unexpected keeper state transition %s -> %s reason=\"%s\"", keeper_state_to_string(k->state),
				 keeper_state_to_string(to), reason);
	k->state = to;
}

void
keeper_problem_set(KeeperDaemon *k, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(k->problem, sizeof(k->problem), fmt, ap);
	va_end(ap);
}

static int64_t
keeper_ready_timeout_ms(const KeeperDaemon *k)
{
	int64_t		t = k->cd.cluster.spec.db_wait_ready_timeout_ms;

	return t > 0 ? t : 60000;
}

static bool
keeper_save_dbstate(KeeperDaemon *k, const char *uid, int64_t generation, DbPhase phase, bool rewound)
{
	DbLocalState s;

	memset(&s, 0, sizeof(s));
	snprintf(s.uid, sizeof(s.uid), "%s", uid);
	s.generation = generation;
	s.phase = phase;
	s.rewound = rewound;
	if (!db_state_write(k->dbstate_path, &s))
	{
		keeper_problem_set(k, "could not write the local state file %s", k->dbstate_path);
		return false;
	}
	if (s.phase != k->dbstate.phase || strcmp(s.uid, k->dbstate.uid) != 0)
		log_info("db phase %s -> %s db=%s", db_phase_to_string(k->dbstate.phase), db_phase_to_string(s.phase), uid);
	k->dbstate = s;
	return true;
}

/* keeper_set_phase: the DB stays, its phase changes. */
static bool
keeper_set_phase(KeeperDaemon *k, DbPhase phase, bool rewound)
{
	return keeper_save_dbstate(k, k->dbstate.uid, k->dbstate.generation, phase, rewound);
}

void
keeper_stop_postgres(KeeperDaemon *k)
{
	if (pgctl_is_running(&k->pgctl))
	{
		log_info("stopping postgres (fast shutdown)");
		if (!pgctl_stop(&k->pgctl, "fast", 60000))
		{
			log_error("could not stop postgres");
			keeper_problem_set(k, "could not stop postgres: %s", k->pgctl.failure);
		}
	}
}

/* ---- retry pacing ---- */

/* True when the step paced by b may run now; otherwise says at debug level for how long it still waits. */
static bool
keeper_backoff_allows(const KeeperBackoff *b, const char *what)
{
	int64_t		wait = keeper_backoff_wait_ms(b, timestamp_monotonic_ms());

	if (wait == 0)
		return true;
	log_debug("%s: next attempt in %lld ms (%d failures in a row)", what, (long long) wait, b->failures);
	return false;
}

/* Records a failure of the step paced by b; the problem is PostgreSQL's reason when a program gave one. */
static void
keeper_backoff_note_failure(KeeperDaemon *k, KeeperBackoff *b, const char *what)
{
	int64_t		now = timestamp_monotonic_ms();

	keeper_backoff_failed(b, now);
	if (k->pgctl.failure[0])
		keeper_problem_set(k, "%s", k->pgctl.failure);
	else if (k->problem[0] == '\0')
		keeper_problem_set(k, "%s failed", what);
	log_warn("%s failed (%d in a row); next attempt in %lld ms: %s", what, b->failures,
			 (long long) (b->not_before_ms - now), k->problem);
}

/*
 * keeper_start: starts PostgreSQL unless it runs, waiting at most wait_ms for it to accept connections (*ready).
 * False when it did not start (the reason logged and recorded) or when the pace of retries says not yet.
 */
static bool
keeper_start(KeeperDaemon *k, int64_t wait_ms, bool *ready)
{
	PgRunState rs = pgctl_run_state(&k->pgctl);

	if (rs != PG_RUN_STOPPED)
	{
		*ready = rs == PG_RUN_READY;
		return true;
	}
	*ready = false;
	if (!keeper_backoff_allows(&k->start_backoff, "starting postgres"))
		return false;
	log_info("starting postgres");
	k->pg_log_offset = pgctl_log_offset(&k->pgctl);
	if (!pgctl_start(&k->pgctl, wait_ms, ready))
	{
		keeper_backoff_note_failure(k, &k->start_backoff, "starting postgres");
		return false;
	}
	keeper_backoff_reset(&k->start_backoff);
	return true;
}

static bool
keeper_restart(KeeperDaemon *k, int64_t wait_ms, bool *ready)
{
	log_info("restarting postgres");
	if (!pgctl_stop(&k->pgctl, "fast", 60000))
	{
		keeper_problem_set(k, "could not stop postgres: %s", k->pgctl.failure);
		return false;
	}
	return keeper_start(k, wait_ms, ready);
}

/*
 * keeper_master_confirmed: PostgreSQL may run as (or become) a master only while its role is confirmed by the
 * store or the failsafe (fence.c); otherwise the problem says so and the caller waits.
 */
static bool
keeper_master_confirmed(KeeperDaemon *k)
{
	int64_t		late;

	if (keeper_fence_master_allowed(k, &late))
		return true;
	keeper_problem_set(k, "the master role is not confirmed (no store read naming it master with a publish, and no "
					   "failsafe) since %lld ms: postgres is not run as a master until it is", (long long) late);
	return false;
}

/* ---- the pieces of a pass on a running server ---- */

/* Checks that PostgreSQL took every entry of the configuration files (a bad pgParameters value fails here). */
static bool
keeper_check_settings(KeeperDaemon *k, PGconn *conn, bool *pending_restart)
{
	PgLocalStatus st;
	bool		ok;

	pg_local_status_init(&st);
	ok = pgsql_get_status(conn, &st);
	if (ok && st.file_settings_error)
	{
		log_error("postgres refused a configuration file entry: %s", st.file_settings_error_text);
		keeper_problem_set(k, "postgres refused a configuration file entry: %s", st.file_settings_error_text);
		ok = false;
	}
	*pending_restart = ok && st.pending_restart;
	pg_local_status_finish(&st);
	return ok;
}

/* On the master: one slot per follower plus the additional ones; other bulwark_ slots dropped. */
static bool
keeper_reconcile_slots(PGconn *conn, const Db *db, bool master)
{
	StringList	have,
				want;
	char		name[UID_SIZE + 16];
	bool		ok = true;

	string_list_init(&have);
	string_list_init(&want);
	if (master)
	{
		for (size_t i = 0; i < db->spec.followers.count && ok; i++)
		{
			snprintf(name, sizeof(name), "%s%s", CLUSTER_SLOT_PREFIX, db->spec.followers.items[i]);
			ok = string_list_append(&want, name);
		}
		for (size_t i = 0; i < db->spec.additional_replication_slots.count && ok; i++)
		{
			snprintf(name, sizeof(name), "%s%s", CLUSTER_SLOT_PREFIX, db->spec.additional_replication_slots.items[i]);
			ok = string_list_append(&want, name);
		}
	}
	ok = ok && pgsql_list_slots(conn, CLUSTER_SLOT_PREFIX, &have);
	for (size_t i = 0; ok && i < have.count; i++)
		if (!string_list_contains(&want, have.items[i]) && !pgsql_drop_slot(conn, have.items[i]))
			ok = false;
	for (size_t i = 0; ok && i < want.count; i++)
		if (!string_list_contains(&have, want.items[i]) && !pgsql_create_slot(conn, want.items[i]))
			ok = false;
	string_list_finish(&have);
	string_list_finish(&want);
	return ok;
}

static bool
keeper_finish_pass(KeeperDaemon *k, const Db *db, bool master)
{
	PgConnParams p = keeper_local_params(k);
	PGconn	   *conn = pgsql_connect(&p, false);
	bool		pending = false;
	bool		ready;
	bool		ok;

	if (conn == NULL)
	{
		keeper_problem_set(k, "could not connect to the local postgres");
		return false;
	}
	ok = keeper_reconcile_slots(conn, db, master) && keeper_check_settings(k, conn, &pending);
	PQfinish(conn);
	if (ok && pending)
	{
		if (k->cd.cluster.spec.automatic_pg_restart)
			ok = keeper_restart(k, keeper_ready_timeout_ms(k), &ready) && ready;
		else
			log_info("a parameter change needs a restart; automaticPgRestart is off");
	}
	return ok;
}

/*
 * keeper_apply_sync_names: before a promotion in synchronous mode, reload the configuration (when it changed) and
 * wait until the server shows the synchronous_standby_names just written. A standby ignores the setting, and
 * reloading only after pg_ctl promote left a window in which the new master acknowledged commits that no
 * synchronous standby had (I4). False when it does not show within the ready timeout: no promotion.
 */
static bool
keeper_apply_sync_names(KeeperDaemon *k, const Db *db, bool changed)
{
	PgConnParams p = keeper_local_params(k);
	int64_t		deadline = timestamp_monotonic_ms() + keeper_ready_timeout_ms(k);
	Buf			want;
	bool		applied = false;

	if (!db->spec.synchronous_replication)
		return true;
	if (changed && !pgctl_reload(&k->pgctl))
		return false;
	buf_init(&want, 64 * 1024);
	if (!pgconf_render_sync_standby_names(&db->spec, &want))
	{
		buf_finish(&want);
		return false;
	}
	while (!applied && timestamp_monotonic_ms() < deadline)
	{
		PGconn	   *conn = pgsql_connect(&p, true);	/* a new backend: it starts with the reloaded values */

		applied = conn != NULL && pgsql_setting_is(conn, "synchronous_standby_names", buf_cstr(&want));
		PQfinish(conn);
		if (!applied)
			usleep(20 * 1000);
	}
	if (!applied)
	{
		log_error("synchronous_standby_names \"%s\" not in effect after the reload: not promoting yet",
				  buf_cstr(&want));
		keeper_problem_set(k, "synchronous_standby_names not in effect after a reload: promotion delayed");
	}
	buf_finish(&want);
	return applied;
}

static bool
keeper_write_temp_secret(const char *path, const char *secret)
{
	char		line[KEEPER_SECRET_MAX + 2];

	snprintf(line, sizeof(line), "%s\n", secret);
	return keeper_file_write_atomic(path, line, strlen(line), 0600);
}

/*
 * keeper_source_answers: a replication connection to the DB we would copy from, and IDENTIFY_SYSTEM on it,
 * before anything local is changed: a resync from a source that is down would only destroy what we have.
 */
static bool
keeper_source_answers(KeeperDaemon *k, const Db *followed)
{
	PgConnParams p = {
		.host = followed->status.listen_address,
		.port = followed->status.port,
		.user = k->cfg.pg_repl_username,
		.password = k->repl_password[0] ? k->repl_password : NULL,
		.dbname = "postgres",
		.connect_timeout_s = 5,
		.replication = true,
	};
	uint32_t	tli;
	uint64_t	pos;
	char		sysid[CLUSTER_SYSTEM_ID_SIZE];

	if (pgsql_identify_system(&p, &tli, &pos, sysid, sizeof(sysid)))
		return true;
	keeper_problem_set(k, "the db to copy from (%s at %s:%d) does not answer a replication connection", followed->uid,
					   followed->status.listen_address, followed->status.port);
	return false;
}

/* pg_rewind from followed; false when it is not possible or failed (the caller falls back to a base backup). */
static bool
keeper_try_rewind(KeeperDaemon *k, const Db *followed)
{
	char		local_sysid[CLUSTER_SYSTEM_ID_SIZE];
	PgConnParams p = {
		.host = followed->status.listen_address,
		.port = followed->status.port,
		.user = k->cfg.pg_su_username,
		.password = k->su_password[0] ? k->su_password : NULL,
		.dbname = "postgres",
		.connect_timeout_s = 5,
	};
	PGconn	   *conn;
	Buf			ci;
	char		port[16];
	char		autoconf[PATH_MAX];
	bool		ok;

	if (!pgctl_system_id(&k->pgctl, local_sysid, sizeof(local_sysid)) ||
		(followed->status.system_id[0] && strcmp(local_sysid, followed->status.system_id) != 0))
	{
		log_info("not using pg_rewind: the local data has another system id local=%s master=%s", local_sysid,
				 followed->status.system_id);
		return false;
	}
	/* a checkpoint on the source first, so that pg_rewind sees its current timeline */
	if ((conn = pgsql_connect(&p, false)) == NULL)
		return false;
	ok = pgsql_exec(conn, "CHECKPOINT");
	PQfinish(conn);
	if (!ok)
		return false;
	/* our symlink to /dev/null would be "of different type" than the source's file for pg_rewind */
	snprintf(autoconf, sizeof(autoconf), "%s/postgresql.auto.conf", k->pgdata);
	if (unlink(autoconf) < 0 && errno != ENOENT)
	{
		log_error("could not remove \"%s\": %m", autoconf);
		return false;
	}
	buf_init(&ci, 8192);
	snprintf(port, sizeof(port), "%d", followed->status.port);
	ok = pgconf_conninfo_append(&ci, "host", followed->status.listen_address) &&
		pgconf_conninfo_append(&ci, "port", port) &&
		pgconf_conninfo_append(&ci, "user", k->cfg.pg_su_username) &&
		pgconf_conninfo_append(&ci, "dbname", "postgres") &&
		pgconf_conninfo_append(&ci, "options", "-c synchronous_commit=off");
	ok = ok && pgctl_rewind(&k->pgctl, buf_cstr(&ci), 600000);
	buf_finish(&ci);
	return ok;
}

/*
 * Before a base backup: the old data goes aside (one copy, <data-dir>/postgres.old) when the file system has room
 * for it and a copy of the same size, else it is removed. A copy of a standby is removed once the new standby
 * streams; a copy of a former master is kept, because it may hold commits that no standby received.
 */
static bool
keeper_clear_for_base_backup(KeeperDaemon *k)
{
	struct statvfs fs;
	uint64_t	used;
	uint64_t	avail;

	if (!pgctl_is_initialized(&k->pgctl))
		return pgctl_wipe(&k->pgctl);
	used = pgctl_dir_bytes(k->pgdata);
	if (statvfs(k->data_dir, &fs) == 0)
	{
		avail = (uint64_t) fs.f_bavail * fs.f_frsize;
		if (avail >= used + used / 5 + KEEPER_MOVE_ASIDE_MARGIN && pgctl_move_aside(&k->pgctl, k->old_pgdata))
			return true;
		log_info("not enough room to keep the old data aside (%llu bytes used, %llu free): removing it",
				 (unsigned long long) used, (unsigned long long) avail);
	}
	return pgctl_wipe(&k->pgctl);
}

/* Once a resynced standby streams: the set-aside copy goes, unless it was a master's. */
static void
keeper_drop_old_copy(KeeperDaemon *k)
{
	char		signal[PATH_MAX];

	if (access(k->old_pgdata, F_OK) < 0)
		return;
	snprintf(signal, sizeof(signal), "%s/standby.signal", k->old_pgdata);
	if (access(signal, F_OK) < 0)
	{
		log_info("keeping the former master's data in \"%s\": it may hold commits that the new master does not "
				 "have; remove it when it is no longer needed", k->old_pgdata);
		return;
	}
	log_info("removing the previous copy \"%s\": the new standby streams", k->old_pgdata);
	if (!pgctl_remove_dir(k->old_pgdata))
		log_warn("could not remove \"%s\" completely", k->old_pgdata);
}

/* ---- the steps, one per action ---- */

static StepResult
step_wait(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	(void) k, (void) db, (void) plan;
	return STEP_WAITING;
}

static StepResult
step_fence(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	(void) db, (void) plan;
	keeper_stop_postgres(k);
	if (pgctl_is_running(&k->pgctl))
		return STEP_FAILED;
	k->problem[0] = '\0';
	return STEP_DONE;
}

/* LOST_DATA, UNSUPPORTED, DEMOTE: PostgreSQL stopped until the cluster data says something else (I5 for DEMOTE). */
static StepResult
step_stop_and_wait(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	(void) db;
	keeper_problem_set(k, "%s", plan->reason);
	keeper_stop_postgres(k);
	return pgctl_is_running(&k->pgctl) ? STEP_FAILED : STEP_WAITING;
}

static StepResult
step_init_new(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	char		pwfile[PATH_MAX];
	bool		ok;

	(void) plan;
	if (!keeper_backoff_allows(&k->init_backoff, "initdb"))
		return STEP_WAITING;
	if (!keeper_save_dbstate(k, db->uid, 0, DB_PHASE_INITDB, false))
		return STEP_FAILED;
	if (!pgctl_stop(&k->pgctl, "immediate", 60000) || !pgctl_wipe(&k->pgctl))
	{
		keeper_backoff_note_failure(k, &k->init_backoff, "clearing the data directory for initdb");
		return STEP_FAILED;
	}
	snprintf(pwfile, sizeof(pwfile), "%s/initdb.pw", k->data_dir);
	if (k->su_password[0] && !keeper_write_temp_secret(pwfile, k->su_password))
		return STEP_FAILED;
	ok = pgctl_initdb(&k->pgctl, k->cfg.pg_su_username, k->su_password[0] ? pwfile : NULL, db->spec.new_config);
	unlink(pwfile);
	if (!ok)
	{
		keeper_backoff_note_failure(k, &k->init_backoff, "initdb");
		return STEP_FAILED;
	}
	keeper_backoff_reset(&k->init_backoff);
	return keeper_set_phase(k, DB_PHASE_INITIALIZED, false) ? STEP_AGAIN : STEP_FAILED;
}

/* After initdb: our configuration, the first start, the roles. A failure here never leads to a new initdb. */
static StepResult
step_init_resume(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	ConfChange	chg;
	PGconn	   *conn;
	PgConnParams p;
	bool		ready;
	bool		ok;

	(void) plan;
	/* the first start runs a primary: the watchdog would fence one whose role the store has not confirmed yet */
	if (!keeper_master_confirmed(k))
		return STEP_WAITING;
	if (!keeper_write_config(k, db, NULL, &chg) || !keeper_set_standby_signal(k, false) ||
		!keeper_start(k, keeper_ready_timeout_ms(k), &ready))
		return STEP_FAILED;
	if (!ready)
	{
		keeper_problem_set(k, "postgres is starting and does not accept connections yet");
		return STEP_WAITING;
	}
	p = keeper_local_params(k);
	if ((conn = pgsql_connect(&p, false)) == NULL)
		return STEP_FAILED;
	ok = pgsql_setup_roles(conn, k->cfg.pg_su_username, NULL, k->cfg.pg_repl_username,
						   k->repl_password[0] ? k->repl_password : NULL);
	PQfinish(conn);
	if (!ok)
	{
		keeper_problem_set(k, "could not create the roles");
		return STEP_FAILED;
	}
	return keeper_save_dbstate(k, db->uid, 0, DB_PHASE_READY, false) ? STEP_AGAIN : STEP_FAILED;
}

static StepResult
step_resync(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	const Db   *followed = keeper_followed_db(k, db);
	char		slot[UID_SIZE + 16];

	if (followed == NULL)
	{
		keeper_problem_set(k, "cannot resync: the followed db has no known address yet");
		log_warn("cannot resync: the followed db has no known address yet db=%s", db->uid);
		return STEP_WAITING;
	}
	if (!keeper_backoff_allows(&k->resync_backoff, "resync"))
		return STEP_WAITING;
	/* stop first: an old master must not take writes while it is being turned into a standby (I5) */
	if (!pgctl_stop(&k->pgctl, "fast", 60000))
	{
		keeper_backoff_note_failure(k, &k->resync_backoff, "stopping postgres for a resync");
		return STEP_FAILED;
	}
	/* nothing is changed before the source has answered */
	if (!keeper_source_answers(k, followed))
	{
		keeper_backoff_note_failure(k, &k->resync_backoff, "resync");
		return STEP_FAILED;
	}
	memset(&k->recovery, 0, sizeof(k->recovery));
	k->standby_stuck = false;
	if (!plan->base_backup && db->spec.use_pg_rewind && pgctl_is_initialized(&k->pgctl))
	{
		if (!keeper_save_dbstate(k, db->uid, 0, DB_PHASE_REWIND, false))
			return STEP_FAILED;
		if (keeper_try_rewind(k, followed))
			return keeper_set_standby_signal(k, true) && keeper_set_phase(k, DB_PHASE_CATCHING_UP, true) ?
				STEP_AGAIN : STEP_FAILED;
		log_info("falling back to pg_basebackup");
	}
	if (!keeper_save_dbstate(k, db->uid, 0, DB_PHASE_BASEBACKUP, false))
		return STEP_FAILED;
	snprintf(slot, sizeof(slot), "%s%s", CLUSTER_SLOT_PREFIX, db->uid);
	if (!keeper_clear_for_base_backup(k) ||
		!pgctl_basebackup(&k->pgctl, followed->status.listen_address, followed->status.port,
						  k->cfg.pg_repl_username, slot, 3600000))
	{
		keeper_backoff_note_failure(k, &k->resync_backoff, "base backup");
		return STEP_FAILED;
	}
	/* a copy of a master has no standby.signal: it is a standby from here on */
	return keeper_set_standby_signal(k, true) && keeper_set_phase(k, DB_PHASE_CATCHING_UP, false) ?
		STEP_AGAIN : STEP_FAILED;
}

static StepResult
step_adopt(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	(void) plan;
	if (!pgctl_is_initialized(&k->pgctl))
	{
		log_error("initMode existing but \"%s\" holds no cluster", k->pgdata);
		keeper_problem_set(k, "initMode existing but the data directory holds no cluster");
		return STEP_FAILED;
	}
	return keeper_save_dbstate(k, db->uid, 0, DB_PHASE_READY, false) ? STEP_AGAIN : STEP_FAILED;
}

static StepResult
step_promote(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	ConfChange	chg;
	bool		ready;

	if (plan->restore_standby_signal)
		log_warn("the last promotion was interrupted before it finished: starting as a standby to promote again");
	if ((plan->restore_standby_signal && !keeper_set_standby_signal(k, true)) ||
		!keeper_set_phase(k, DB_PHASE_PROMOTING, false) || !keeper_write_config(k, db, NULL, &chg))
		return STEP_FAILED;
	if (!pgctl_is_running(&k->pgctl))
	{
		/*
		 * Stopped: start it as a standby (standby.signal stays, no upstream) and promote it like a running one.
		 * Starting it straight as a primary would end recovery without a new timeline: it would go on writing
		 * on the timeline it had followed, which the old master wrote on too, so two histories would share one
		 * timeline ID, which pg_rewind and the sentinel's fork checks cannot tell apart.
		 */
		log_info("starting stopped postgres as a standby to promote it db=%s", db->uid);
		if (!keeper_start(k, keeper_ready_timeout_ms(k), &ready))
			return STEP_FAILED;
		chg.any = false;		/* it started with the configuration just written */
	}
	else
		ready = pgctl_run_state(&k->pgctl) == PG_RUN_READY;
	if (!ready)
	{
		/* promoting before the standby is consistent would end recovery short of its consistent point */
		keeper_problem_set(k, "waiting for the standby to become consistent before promoting it");
		return STEP_WAITING;
	}
	if (!keeper_apply_sync_names(k, db, chg.any))
		return STEP_FAILED;
	if (!keeper_master_confirmed(k))
		return STEP_WAITING;
	log_info("promoting postgres db=%s", db->uid);
	if (!pgctl_promote(&k->pgctl, keeper_ready_timeout_ms(k)) || !pgctl_reload(&k->pgctl))
	{
		keeper_problem_set(k, "%s", k->pgctl.failure[0] ? k->pgctl.failure : "promotion failed");
		return STEP_FAILED;
	}
	return STEP_AGAIN;
}

static StepResult
step_run_master(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	ConfChange	chg;
	bool		was_running = pgctl_is_running(&k->pgctl);
	bool		ready = true;

	(void) plan;
	if (!keeper_master_confirmed(k))
		return STEP_WAITING;
	if (!keeper_write_config(k, db, NULL, &chg) || !keeper_set_standby_signal(k, false))
		return STEP_FAILED;
	if (!was_running)
	{
		if (!keeper_start(k, keeper_ready_timeout_ms(k), &ready))
			return STEP_FAILED;
	}
	else if (chg.any && !pgctl_reload(&k->pgctl))
		return STEP_FAILED;
	if (!ready || pgctl_run_state(&k->pgctl) != PG_RUN_READY)
	{
		keeper_problem_set(k, "postgres is starting and does not accept connections yet");
		return STEP_WAITING;
	}
	if (!keeper_finish_pass(k, db, true))
		return STEP_FAILED;
	if (k->dbstate.phase != DB_PHASE_READY && !keeper_set_phase(k, DB_PHASE_READY, false))
		return STEP_FAILED;
	k->problem[0] = '\0';
	return STEP_DONE;
}

/*
 * Whether the running standby gets anywhere (RecoveryWatch): the problem says what it waits for, in
 * PostgreSQL's words when its log has them; k->standby_stuck makes the next decision resync it.
 */
static void
keeper_watch_recovery(KeeperDaemon *k, const Db *followed, bool consistent, bool streaming)
{
	RecoveryObservation obs = {.running = true, .consistent = consistent, .streaming = streaming};
	char		progress[RECOVERY_PROGRESS_SIZE] = "";
	char		reason[PGCTL_FAILURE_SIZE];
	int64_t		waited;
	RecoveryVerdict v;

	if (!consistent)
		pgctl_recovery_progress(&k->pgctl, progress, sizeof(progress));
	obs.progress = progress;
	v = keeper_recovery_judge(&k->recovery, &obs, timestamp_monotonic_ms(), k->cfg.recovery_stall_ms, &waited);
	if (v == RECOVERY_OK)
		return;
	pgctl_log_reason(&k->pgctl, k->pg_log_offset, reason, sizeof(reason));
	if (consistent)
		keeper_problem_set(k, "recovering: consistent but not streaming from db %s for %llds%s%s", followed->uid,
						   (long long) (waited / 1000), reason[0] ? "; postgres: " : "", reason);
	else
		keeper_problem_set(k, "recovering: not yet consistent, %llds without progress (%s)%s%s",
						   (long long) (waited / 1000), progress[0] ? progress : "no startup process",
						   reason[0] ? "; postgres: " : "", reason);
	/* stalled while its master answers: it waits for WAL that master cannot give; without one, it waits for it */
	if (v == RECOVERY_STALLED && !k->standby_stuck && keeper_source_answers(k, followed))
	{
		log_warn("the standby does not recover (it waits for WAL its master cannot give?), resyncing it: %s",
				 k->problem);
		k->standby_stuck = true;
	}
}

static StepResult
step_run_standby(KeeperDaemon *k, const Db *db, const KeeperPlan *plan)
{
	const Db   *followed = keeper_followed_db(k, db);
	ConfChange	chg;
	bool		ready = true;
	bool		streaming = false;
	PgRunState	rs;

	(void) plan;
	if (followed == NULL)
	{
		keeper_problem_set(k, "the followed db has no known address yet");
		log_warn("the followed db has no known address yet db=%s", db->uid);
		return STEP_WAITING;
	}
	if (!keeper_write_config(k, db, followed, &chg) || !keeper_set_standby_signal(k, true))
		return STEP_FAILED;
	if (!pgctl_is_running(&k->pgctl))
	{
		if (!keeper_start(k, KEEPER_STANDBY_START_WAIT_MS, &ready))
		{
			/* a data directory PostgreSQL says it cannot start from is only fixed by a new copy */
			if (keeper_pg_failure_unusable(k->pgctl.failure))
			{
				log_warn("the standby's data directory cannot be started, resyncing it: %s", k->pgctl.failure);
				k->standby_stuck = true;
				return STEP_AGAIN;
			}
			return STEP_FAILED;
		}
	}
	else if (chg.recovery)
	{
		/* a new master or a new address: the walreceiver must reconnect to it */
		log_info("followed master changed followed_db=%s host=%s port=%d", followed->uid,
				 followed->status.listen_address, followed->status.port);
		if (!keeper_restart(k, KEEPER_STANDBY_START_WAIT_MS, &ready))
			return STEP_FAILED;
	}
	else if (chg.any && !pgctl_reload(&k->pgctl))
		return STEP_FAILED;

	/* a hot standby says "ready" once consistent: it accepts read-only connections */
	rs = pgctl_run_state(&k->pgctl);
	if (rs == PG_RUN_READY)
	{
		PgConnParams p = keeper_local_params(k);
		PGconn	   *conn = pgsql_connect(&p, true);

		streaming = conn != NULL && pgsql_wal_receiver_streaming(conn);
		PQfinish(conn);
	}
	keeper_watch_recovery(k, followed, rs == PG_RUN_READY, streaming);
	if (k->standby_stuck)
		return STEP_AGAIN;
	if (rs != PG_RUN_READY)
	{
		keeper_fsm_enter(k, KEEPER_STATE_RECOVERING, "not yet consistent");
		return STEP_WAITING;
	}
	if (!streaming)
		keeper_fsm_enter(k, KEEPER_STATE_RECOVERING, "consistent, not streaming");
	if (!keeper_finish_pass(k, db, false))
		return STEP_FAILED;
	if (streaming)
	{
		k->problem[0] = '\0';
		keeper_fsm_enter(k, KEEPER_STATE_STANDBY, "consistent and streaming");
		if (k->dbstate.phase == DB_PHASE_CATCHING_UP)
		{
			if (!keeper_set_phase(k, DB_PHASE_READY, false))
				return STEP_FAILED;
			keeper_drop_old_copy(k);
		}
		keeper_backoff_reset(&k->resync_backoff);
	}
	return STEP_DONE;
}

/* The step of every action of keeper_plan_decide(), in the enum's order. */
static const KeeperStepFn keeper_steps[] = {
	[KEEPER_ACTION_WAIT] = step_wait,
	[KEEPER_ACTION_FENCE] = step_fence,
	[KEEPER_ACTION_INIT_NEW] = step_init_new,
	[KEEPER_ACTION_INIT_RESUME] = step_init_resume,
	[KEEPER_ACTION_RESYNC] = step_resync,
	[KEEPER_ACTION_ADOPT_EXISTING] = step_adopt,
	[KEEPER_ACTION_LOST_DATA] = step_stop_and_wait,
	[KEEPER_ACTION_DEMOTE] = step_stop_and_wait,
	[KEEPER_ACTION_PROMOTE] = step_promote,
	[KEEPER_ACTION_RUN_MASTER] = step_run_master,
	[KEEPER_ACTION_RUN_STANDBY] = step_run_standby,
	[KEEPER_ACTION_UNSUPPORTED] = step_stop_and_wait,
};

_Static_assert(sizeof(keeper_steps) / sizeof(keeper_steps[0]) == KEEPER_ACTION_COUNT,
			   "every keeper action has a step");

/* The facts the plan decides from, as they are now. */
static void
keeper_plan_input(KeeperDaemon *k, KeeperPlanInput *in, const Db **db)
{
	const Keeper *me = NULL;
	PgControlState cs;

	*db = NULL;
	memset(in, 0, sizeof(*in));
	in->has_cluster_data = k->has_cd;
	if (k->has_cd)
	{
		me = cluster_data_find_keeper(&k->cd, k->uid);
		*db = cluster_data_find_db_by_keeper(&k->cd, k->uid);
	}
	in->keeper_registered = me != NULL;
	in->boot_uuid_matches = me != NULL && strcmp(me->status.boot_uuid, k->boot_uuid) == 0;
	in->db = *db;
	in->local_db_uid = k->dbstate.uid;
	in->local_phase = k->dbstate.phase;
	in->pg_initialized = pgctl_is_initialized(&k->pgctl);
	in->local_is_standby = pgctl_is_standby(&k->pgctl);
	in->promotion_interrupted = k->dbstate.phase == DB_PHASE_PROMOTING && in->pg_initialized &&
		!in->local_is_standby && !pgctl_is_running(&k->pgctl) &&
		(!pgctl_control_state(&k->pgctl, &cs) || (cs != PG_CONTROL_IN_PRODUCTION && cs != PG_CONTROL_SHUT_DOWN));
	in->standby_stuck = k->standby_stuck;
	{
		char		master[UID_SIZE];
		int64_t		left;

		in->promotion_promised = keeper_fence_promise_holds(k, master, sizeof(master), &left);
	}
}



bool
keeper_converge(KeeperDaemon *k)
{
	for (int n = 0; n < KEEPER_MAX_STEPS_PER_PASS; n++)
	{
		KeeperPlanInput in;
		KeeperPlan	plan;
		const Db   *db;

		keeper_plan_input(k, &in, &db);
		plan = keeper_plan_decide(&in);
		/* recovering is the standby state's own sub-state: its step says when the standby streams again */
		if (plan.action != KEEPER_ACTION_RUN_STANDBY || k->state != KEEPER_STATE_RECOVERING)
			keeper_fsm_enter(k, keeper_action_state(plan.action), plan.reason);
		if (plan.action != KEEPER_ACTION_RUN_STANDBY)
			memset(&k->recovery, 0, sizeof(k->recovery));
		switch (keeper_steps[plan.action] (k, db, &plan))
		{
			case STEP_AGAIN:
				continue;
			case STEP_WAITING:
			case STEP_FAILED:
				return false;
			case STEP_DONE:
				/* the acknowledgement: only after everything above succeeded */
				if (db != NULL && k->dbstate.generation != db->generation)
				{
					if (!keeper_save_dbstate(k, db->uid, db->generation, k->dbstate.phase, k->dbstate.rewound))
						return false;
					log_info("converged db=%s generation=%lld", db->uid, (long long) db->generation);
				}
				return true;
		}
	}
	log_error("no stable keeper action after %d steps in one pass", KEEPER_MAX_STEPS_PER_PASS);
	return false;
}
