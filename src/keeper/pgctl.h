/*
 * src/keeper/pgctl.h
 *    The PostgreSQL programs the keeper runs, through runprog (argv, logged, output captured, deadline):
 *    initdb, pg_ctl start/stop/reload/promote, pg_basebackup, pg_rewind, postgres --version; and what it reads
 *    from PGDATA without a server (is it initialized, is it a standby, is the postmaster alive, system id).
 *    Passwords reach the programs only through a password file named by PGPASSFILE.
 */
#ifndef BULWARK_KEEPER_PGCTL_H
#define BULWARK_KEEPER_PGCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"

#define PGCTL_FAILURE_SIZE 512

typedef struct PgCtl
{
	const char *bin_path;		/* directory of initdb, pg_ctl, ... */
	const char *pgdata;
	const char *log_file;		/* the server log (outside PGDATA, so a wipe or base backup keeps it) */
	const char *passfile;		/* libpq password file with the su and repl passwords, or NULL */
	const char *socket_dir;		/* unix_socket_directories: where the server's socket lock file is */
	int			port;

	/*
	 * Why the last program run failed, in the words that explain it best: PostgreSQL's own FATAL or PANIC line
	 * from its log for a start, stop or promotion, else the program's last line of output. "" after a success.
	 * The keeper shows it in its report and status.
	 */
	char		failure[PGCTL_FAILURE_SIZE];
} PgCtl;

/* The server's state as its control file records it (PostgreSQL's DBState, pg_control.h). */
typedef enum PgControlState
{
	PG_CONTROL_STARTUP = 0,
	PG_CONTROL_SHUT_DOWN = 1,
	PG_CONTROL_SHUT_DOWN_IN_RECOVERY = 2,
	PG_CONTROL_SHUTTING_DOWN = 3,
	PG_CONTROL_IN_CRASH_RECOVERY = 4,
	PG_CONTROL_IN_ARCHIVE_RECOVERY = 5,
	PG_CONTROL_IN_PRODUCTION = 6,
} PgControlState;

/* What the postmaster says of itself in postmaster.pid while it runs (PM_STATUS_*, pidfile.h). */
typedef enum PgRunState
{
	PG_RUN_STOPPED = 0,			/* no live postmaster for this data directory */
	PG_RUN_STARTING,			/* "starting": crash recovery, or a standby not yet consistent */
	PG_RUN_READY,				/* "ready": accepting connections (a primary, or a consistent hot standby) */
	PG_RUN_UP_NO_CONNECTIONS,	/* "standby": a standby that accepts no connections (hot_standby off) */
	PG_RUN_STOPPING,
} PgRunState;

/* pgctl_version: the major/minor of <bin>/postgres --version. */
bool pgctl_version(PgCtl *pg, PgBinaryVersion *out) __attribute__((warn_unused_result));

/* pgctl_initdb: initdb with data checksums as su_user; pwfile (may be NULL) holds the su password. */
bool pgctl_initdb(PgCtl *pg, const char *su_user, const char *pwfile, const NewConfig *nc)
	__attribute__((warn_unused_result));

/*
 * pgctl_start: pg_ctl start, waiting at most timeout_ms for the server to accept connections. True when a
 * postmaster runs afterwards; *ready says whether it accepts connections already (a standby that is still
 * replaying toward consistency is started but not ready). False when the server did not start: the last
 * lines of its log for this attempt are logged and its reason is in pg->failure. Stale lock files (a
 * postmaster.pid or socket lock file whose PID now belongs to another process) are removed first.
 */
bool pgctl_start(PgCtl *pg, int64_t timeout_ms, bool *ready) __attribute__((warn_unused_result));

/* pgctl_stop: pg_ctl stop -m mode ("fast" or "immediate") -w; true when it is stopped (or was). */
bool pgctl_stop(PgCtl *pg, const char *mode, int64_t timeout_ms) __attribute__((warn_unused_result));
bool pgctl_reload(PgCtl *pg) __attribute__((warn_unused_result));

/* pgctl_promote: pg_ctl promote, waiting at most timeout_ms for the server to run as a primary. */
bool pgctl_promote(PgCtl *pg, int64_t timeout_ms) __attribute__((warn_unused_result));

/*
 * pgctl_basebackup: pg_basebackup from host:port as user into the (empty) PGDATA, WAL streamed, fast
 * checkpoint, with the replication slot when slot is not NULL.
 */
bool pgctl_basebackup(PgCtl *pg, const char *host, int port, const char *user, const char *slot,
					  int64_t timeout_ms) __attribute__((warn_unused_result));

/* pgctl_rewind: pg_rewind of the stopped PGDATA from the server of source_conninfo (no password in it). */
bool pgctl_rewind(PgCtl *pg, const char *source_conninfo, int64_t timeout_ms)
	__attribute__((warn_unused_result));

/* pgctl_is_initialized: PGDATA holds a cluster (PG_VERSION and global/pg_control exist). */
bool pgctl_is_initialized(const PgCtl *pg);

/* pgctl_is_standby: PGDATA has standby.signal. */
bool pgctl_is_standby(const PgCtl *pg);

/*
 * pgctl_is_running: postmaster.pid names a live postmaster of this data directory (its working directory is
 * PGDATA): a PID that a killed postmaster left behind and another process reuses now does not count.
 */
bool pgctl_is_running(const PgCtl *pg);

/*
 * pgctl_request_fast_stop: SIGINT to this data directory's postmaster (a fast shutdown: every session is
 * terminated, no new one accepted), without waiting. False when no postmaster of ours runs or kill failed.
 * For the fencing watchdog, which must not wait for a program.
 */
bool pgctl_request_fast_stop(const PgCtl *pg);

/* pgctl_run_state: the postmaster's own status line in postmaster.pid (PG_RUN_STOPPED when not running). */
PgRunState pgctl_run_state(const PgCtl *pg);

/*
 * pgctl_recovery_progress: while a standby is starting, the startup process's title ("recovering
 * 000000020000000000000005"): it changes as replay moves on. "" when there is none.
 */
void pgctl_recovery_progress(const PgCtl *pg, char *out, size_t outlen);

/* pgctl_control_state: the state recorded in global/pg_control; false when unreadable or another version. */
bool pgctl_control_state(const PgCtl *pg, PgControlState *state) __attribute__((warn_unused_result));

/*
 * pgctl_log_offset / pgctl_log_reason: the server log's size now, and after an attempt the reason PostgreSQL
 * gave in what it logged since offset (its last FATAL, PANIC or ERROR line, else its last line), "" when it
 * logged nothing. pgctl_log_show logs those lines (at most the last 12) as the keeper's own.
 */
int64_t pgctl_log_offset(const PgCtl *pg);
void pgctl_log_reason(const PgCtl *pg, int64_t offset, char *out, size_t outlen);
void pgctl_log_show(const PgCtl *pg, int64_t offset, const char *what);

/* pgctl_system_id: the system identifier from global/pg_control, in decimal, into out; false when unreadable. */
bool pgctl_system_id(const PgCtl *pg, char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * pgctl_shutdown_checkpoint: when the control file says a primary was shut down cleanly ("shut down"), the LSN
 * of that shutdown checkpoint into *lsn: every WAL record the instance wrote is before it. False otherwise
 * (running, crashed, a standby, another control file version, unreadable). Only meaningful while stopped.
 */
bool pgctl_shutdown_checkpoint(const PgCtl *pg, uint64_t *lsn);

/* pgctl_wipe: removes everything in PGDATA (and creates it, mode 0700, when missing). */
bool pgctl_wipe(const PgCtl *pg) __attribute__((warn_unused_result));

/*
 * pgctl_move_aside: renames PGDATA to old_dir (replacing an older copy there) and creates an empty PGDATA, so that
 * a base backup does not destroy the only copy before the new one is complete. False (logged) on failure.
 */
bool pgctl_move_aside(const PgCtl *pg, const char *old_dir) __attribute__((warn_unused_result));

/* pgctl_remove_dir: removes dir and everything in it (a set-aside copy); true when it is gone. */
bool pgctl_remove_dir(const char *dir);

/* pgctl_dir_bytes: the bytes the files under dir take (0 when it does not exist). */
uint64_t pgctl_dir_bytes(const char *dir);

/* pgctl_older_wal_file: the first 24-hex WAL file name in pg_wal, "" when none. */
void pgctl_older_wal_file(const PgCtl *pg, char *out, size_t outlen);

#endif
