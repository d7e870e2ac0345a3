/*
 * src/keeper/keeper.h
 *    The KeeperDaemon context (the model already names the cluster data's keeper object Keeper): the keeper's flags, its paths, the cluster data it last read, its local state, the
 *    last probe of PostgreSQL, its report lease and the snapshot its HTTP thread serves. One per process,
 *    passed by pointer; only the snapshot is shared with the HTTP thread, under the mutex.
 */
#ifndef BULWARK_KEEPER_H
#define BULWARK_KEEPER_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store_watch.h"
#include "cluster.h"
#include "fencing.h"
#include "http_server.h"
#include "keeper/keeper_children.h"
#include "keeper/keeper_plan.h"
#include "keeper/keeper_state.h"
#include "keeper/pgctl.h"
#include "keeper/pgsql.h"
#include "store_opts.h"

#define KEEPER_SECRET_MAX 1024

/* Paths the keeper derives from --data-dir; --data-dir itself is limited to KEEPER_DATA_DIR_MAX bytes. */
#define KEEPER_PATH_SIZE 1024
#define KEEPER_DATA_DIR_MAX 900

/* The flags of bulwark-keeper (docs/keeper.md). */
typedef struct KeeperConfig
{
	const char *uid;
	const char *data_dir;
	const char *pg_listen_address;
	int64_t		pg_port;
	const char *pg_advertise_address;	/* NULL = pg_listen_address */
	int64_t		pg_advertise_port;	/* 0 = pg_port */
	const char *pg_bin_path;
	const char *pg_su_username;
	const char *pg_su_password_file;
	const char *pg_repl_username;
	const char *pg_repl_password_file;
	const char *pg_su_auth_method;
	const char *pg_repl_auth_method;
	bool		can_be_master;
	bool		can_be_synchronous_replica;
	const char *http_listen_address;	/* NULL = no HTTP server */
	const char *os_user;
	int64_t		recovery_stall_ms;	/* --recovery-stall-timeout: a standby without progress this long is resynced */
	const char *http_advertise_address;	/* --http-advertise-address: host:port the others reach us at */
} KeeperConfig;

/* What the HTTP thread reads (under Keeper.lock). */
typedef struct KeeperSnapshot
{
	bool		pg_running;
	bool		pg_healthy;
	bool		in_recovery;
	bool		cd_says_master; /* the cluster data's master DB is ours */
	bool		has_master_xlog_pos;
	uint64_t	master_xlog_pos;	/* the master's last known xLogPos in the cluster data */
	uint64_t	xlog_pos;
	uint32_t	timeline_id;
	int64_t		last_store_read_ms; /* wall clock of the last successful cluster data read, 0 never */
	int64_t		last_pass_ms;	/* wall clock of the last finished loop pass, or program it ran */
	int64_t		last_converged_ms;	/* wall clock of the last fully successful pass */
	int64_t		sleep_interval_ms;
	int64_t		generation;
	KeeperState state;
	char		db_uid[UID_SIZE];
} KeeperSnapshot;

typedef struct KeeperDaemon
{
	KeeperConfig cfg;
	StoreOptions store_opts;
	Store	   *store;
	StoreWatch *watch;

	char		uid[UID_SIZE];
	char		boot_uuid[UID_SIZE];
	char		data_dir[KEEPER_PATH_SIZE];
	char		pgdata[KEEPER_PATH_SIZE];
	char		socket_dir[KEEPER_PATH_SIZE];
	char		passfile[KEEPER_PATH_SIZE];
	char		log_file[KEEPER_PATH_SIZE];
	char		keeperstate_path[KEEPER_PATH_SIZE];
	char		dbstate_path[KEEPER_PATH_SIZE];
	char		old_pgdata[KEEPER_PATH_SIZE];	/* <data-dir>/postgres.old: the copy a base backup set aside */
	char		clusterdata_key[512];
	char		report_key[512];
	char		su_password[KEEPER_SECRET_MAX];	/* "" when none (trust) */
	char		repl_password[KEEPER_SECRET_MAX];
	PgCtl		pgctl;
	PgBinaryVersion pg_version;

	ClusterData cd;				/* the last valid cluster data */
	bool		has_cd;
	int64_t		cd_mod_revision;
	int64_t		last_read_sent_ms;	/* when the last cluster data read was sent (monotonic) */
	bool		cd_invalid_logged;	/* the current undecodable document was already logged */
	bool		store_down;		/* the last store call failed (log once per change) */

	KeeperLocalState kstate;
	DbLocalState dbstate;
	KeeperState state;

	/* what keeps the keeper from converging, in PostgreSQL's words when it gave them; "" when converged */
	char		problem[CLUSTER_PROBLEM_SIZE];
	KeeperBackoff start_backoff;	/* starting PostgreSQL: 1 s doubling to 30 s */
	KeeperBackoff init_backoff;	/* initdb: 2 s doubling to 60 s */
	KeeperBackoff resync_backoff;	/* pg_rewind / pg_basebackup: 2 s doubling to 120 s */
	RecoveryWatch recovery;		/* is the running standby getting anywhere */
	bool		standby_stuck;	/* the standby must be resynced: it does not recover, or cannot start */
	int64_t		pg_log_offset;	/* the server log's size when the keeper last started PostgreSQL */

	PgLocalStatus pgstatus;		/* the last probe */
	bool		pg_running;
	bool		pg_healthy;

	/*
	 * The reporter thread (report.c) publishes the last report every sleepInterval on a store handle of its
	 * own, so the keeper stays visibly alive while the main loop is busy in a long step (initdb, a base
	 * backup, a rewind, waiting for PostgreSQL to be ready). The fields below it shares are under lock.
	 */
	Store	   *report_store;
	pthread_t	reporter;
	bool		reporter_started;
	pthread_cond_t report_cond;
	KeeperInfo	report;			/* the report to publish, infoUID excepted */
	bool		report_ready;	/* report holds something (cluster data has been read once) */
	int64_t		report_built_ms;	/* monotonic time report was built from a probe */
	bool		report_now;		/* publish at once: a pass converged or the state changed */
	bool		report_stop;
	int64_t		report_interval_ms;
	int64_t		lease_id;		/* reporter thread only */
	int64_t		lease_ttl_s;
	bool		report_failing;

	/*
	 * fence.c: self-fencing and the failsafe (under lock). The confirmations of the master role, the bounds the
	 * spec implies, a copy of the last valid cluster data for the HTTP and failsafe threads, and on a standby the
	 * promise not to be promoted that it gave a master.
	 */
	MasterConfirmation confirm;
	FencingTimes fencing;
	bool		failsafe_mode;
	bool		fenced;			/* the role went unconfirmed: PostgreSQL is not run as a master until it is */
	int64_t		self_fence_count;
	ClusterData *fence_cd;
	int64_t		fence_cd_revision;
	int64_t		promise_until_ms;	/* monotonic */
	int64_t		store_read_started_ms;	/* a cluster data read in flight since then (monotonic), 0 = none */
	bool		store_read_failed;	/* the last cluster data read failed */
	char		promised_to[UID_SIZE];	/* the master DB promised to */
	pthread_t	watchdog;
	pthread_t	failsafe;
	bool		fence_started;
	bool		fence_stop;
	char		http_address[CLUSTER_HOST_SIZE + 8];	/* what the report advertises */

	pthread_mutex_t lock;
	KeeperSnapshot snap;
	ChildProgress child_progress;	/* /health: the child programs' counters at the last look */
	HttpServer *http;
} KeeperDaemon;

/* converge.c: one pass of the state machine over k->cd; true when the pass fully succeeded. */
bool keeper_converge(KeeperDaemon *k);

/* converge.c: stops PostgreSQL (fast) if it runs; used on SIGTERM. */
void keeper_stop_postgres(KeeperDaemon *k);

/* converge.c: records what keeps the keeper from converging (shown in its report and in status). */
void keeper_problem_set(KeeperDaemon *k, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* probe.c: probes the local PostgreSQL into k->pgstatus / pg_running / pg_healthy. */
void keeper_probe_postgres(KeeperDaemon *k);

/* probe.c: how the keeper connects to its own PostgreSQL (the socket directory, as the superuser). */
PgConnParams keeper_local_params(const KeeperDaemon *k);

/*
 * report.c: keeper_report_update builds the report from the keeper's current state (main thread) and hands it
 * to the reporter thread, which publishes it at once when now is true and every sleepInterval otherwise.
 * keeper_reporter_start opens the reporter's own store handle and starts it; keeper_reporter_stop stops it and
 * revokes the report's lease, so the sentinel sees the keeper gone at once.
 */
void keeper_report_update(KeeperDaemon *k, bool now);
bool keeper_reporter_start(KeeperDaemon *k, char *err, size_t errlen) __attribute__((warn_unused_result));
void keeper_reporter_stop(KeeperDaemon *k);

/* report.c: the sleep interval in effect (the spec's, or 1 s before any cluster data). */
int64_t keeper_sleep_interval_ms(const KeeperDaemon *k);

/*
 * fence.c: the fencing threads; the observations they judge from (a read naming this DB master, a publish,
 * both by send time); whether PostgreSQL may run as a master now (*late_ms: how long the role has gone
 * unconfirmed); a standby's failsafe promise and the answer to a master's request for one.
 */
bool keeper_fence_start(KeeperDaemon *k, char *err, size_t errlen) __attribute__((warn_unused_result));
void keeper_fence_stop(KeeperDaemon *k);
void keeper_fence_observe_read(KeeperDaemon *k, int64_t sent_ms);
void keeper_fence_observe_read_start(KeeperDaemon *k, int64_t now);
void keeper_fence_observe_read_end(KeeperDaemon *k, bool ok);
void keeper_fence_observe_publish(KeeperDaemon *k, int64_t sent_ms);
int64_t keeper_fence_confirmed_until(KeeperDaemon *k);
bool keeper_fence_master_allowed(KeeperDaemon *k, int64_t *late_ms);
bool keeper_fence_promise_holds(KeeperDaemon *k, char *master, size_t masterlen, int64_t *left_ms);
bool keeper_fence_answer(KeeperDaemon *k, const FailsafeRequest *req, int64_t *granted_ms, const char **reason);

/* keeper_http.c: refreshes the snapshot from k (main thread); starts/handles the HTTP server. */
void keeper_snapshot_update(KeeperDaemon *k);
bool keeper_http_start(KeeperDaemon *k, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
