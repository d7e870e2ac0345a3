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

typedef struct PgCtl
{
	const char *bin_path;		/* directory of initdb, pg_ctl, ... */
	const char *pgdata;
	const char *log_file;		/* the server log (outside PGDATA, so a wipe or base backup keeps it) */
	const char *passfile;		/* libpq password file with the su and repl passwords, or NULL */
} PgCtl;

/* pgctl_version: the major/minor of <bin>/postgres --version. */
bool pgctl_version(const PgCtl *pg, PgBinaryVersion *out) __attribute__((warn_unused_result));

/* pgctl_initdb: initdb with data checksums as su_user; pwfile (may be NULL) holds the su password. */
bool pgctl_initdb(const PgCtl *pg, const char *su_user, const char *pwfile, const NewConfig *nc)
	__attribute__((warn_unused_result));

/* pgctl_start: pg_ctl start -w, waiting at most timeout_ms for the server to accept connections. */
bool pgctl_start(const PgCtl *pg, int64_t timeout_ms) __attribute__((warn_unused_result));

/* pgctl_stop: pg_ctl stop -m mode ("fast" or "immediate") -w; true when it is stopped (or was). */
bool pgctl_stop(const PgCtl *pg, const char *mode, int64_t timeout_ms) __attribute__((warn_unused_result));
bool pgctl_reload(const PgCtl *pg) __attribute__((warn_unused_result));
bool pgctl_promote(const PgCtl *pg, int64_t timeout_ms) __attribute__((warn_unused_result));

/*
 * pgctl_basebackup: pg_basebackup from host:port as user into the (empty) PGDATA, WAL streamed, fast
 * checkpoint, with the replication slot when slot is not NULL.
 */
bool pgctl_basebackup(const PgCtl *pg, const char *host, int port, const char *user, const char *slot,
					  int64_t timeout_ms) __attribute__((warn_unused_result));

/* pgctl_rewind: pg_rewind of the stopped PGDATA from the server of source_conninfo (no password in it). */
bool pgctl_rewind(const PgCtl *pg, const char *source_conninfo, int64_t timeout_ms)
	__attribute__((warn_unused_result));

/* pgctl_is_initialized: PGDATA holds a cluster (PG_VERSION and global/pg_control exist). */
bool pgctl_is_initialized(const PgCtl *pg);

/* pgctl_is_standby: PGDATA has standby.signal. */
bool pgctl_is_standby(const PgCtl *pg);

/* pgctl_is_running: postmaster.pid names a live process. */
bool pgctl_is_running(const PgCtl *pg);

/* pgctl_system_id: the system identifier from global/pg_control, in decimal, into out; false when unreadable. */
bool pgctl_system_id(const PgCtl *pg, char *out, size_t outlen) __attribute__((warn_unused_result));

/* pgctl_wipe: removes everything in PGDATA (and creates it, mode 0700, when missing). */
/*
 * pgctl_shutdown_checkpoint: when the control file says a primary was shut down cleanly ("shut down"), the LSN
 * of that shutdown checkpoint into *lsn: every WAL record the instance wrote is before it. False otherwise
 * (running, crashed, a standby, another control file version, unreadable). Only meaningful while stopped.
 */
bool pgctl_shutdown_checkpoint(const PgCtl *pg, uint64_t *lsn);

bool pgctl_wipe(const PgCtl *pg) __attribute__((warn_unused_result));

/* pgctl_older_wal_file: the first 24-hex WAL file name in pg_wal, "" when none. */
void pgctl_older_wal_file(const PgCtl *pg, char *out, size_t outlen);

#endif
