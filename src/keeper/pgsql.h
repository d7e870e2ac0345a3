/*
 * src/keeper/pgsql.h
 *    The keeper's SQL over libpq: connections (always with connect_timeout, parameters through
 *    PQconnectdbParams so that no password is ever formatted into a string), the state it reports (recovery,
 *    LSN, timeline and its history, system id, file parameters, in-sync standbys), role setup after initdb,
 *    replication slots and CHECKPOINT. Every failure is logged once here.
 */
#ifndef BULWARK_KEEPER_PGSQL_H
#define BULWARK_KEEPER_PGSQL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"

typedef struct PgConnParams
{
	const char *host;			/* a host name, an address, or a unix socket directory */
	int			port;
	const char *user;
	const char *password;		/* NULL = none (trust) */
	const char *dbname;
	int			connect_timeout_s;
	bool		replication;	/* a physical replication connection (replication=true) */
} PgConnParams;

/* pgsql_connect: a connection, or NULL (logged at warn level unless quiet). Caller PQfinish()es it. */
PGconn	   *pgsql_connect(const PgConnParams *p, bool quiet);

typedef struct PgLocalStatus
{
	bool		in_recovery;
	uint64_t	xlog_pos;		/* current LSN on a primary, last replayed on a standby */
	uint32_t	timeline_id;
	char		system_id[CLUSTER_SYSTEM_ID_SIZE];
	TimelinesHistory history;	/* entries of the current timeline's history file */
	PgParameters file_params;	/* pg_file_settings, applied entries, managed names left out */
	bool		file_settings_error;	/* a configuration file entry PostgreSQL refused */
	char		file_settings_error_text[256];
	StringList	sync_standbys;	/* application names in sync_state 'sync' */
	bool		pending_restart;
} PgLocalStatus;

void pg_local_status_init(PgLocalStatus *s);
void pg_local_status_finish(PgLocalStatus *s);

/* pgsql_get_status: fills *s (initialized) from the server; false (logged) when a query fails. */
bool pgsql_get_status(PGconn *conn, PgLocalStatus *s) __attribute__((warn_unused_result));

/* pgsql_setup_roles: sets the su password and creates the replication role, with statement logging off. */
bool pgsql_setup_roles(PGconn *conn, const char *su_user, const char *su_password, const char *repl_user,
					   const char *repl_password) __attribute__((warn_unused_result));

/* pgsql_list_slots: physical, non-temporary slots whose name starts with prefix, into out (initialized). */
bool pgsql_list_slots(PGconn *conn, const char *prefix, StringList *out) __attribute__((warn_unused_result));
bool pgsql_create_slot(PGconn *conn, const char *name) __attribute__((warn_unused_result));
bool pgsql_drop_slot(PGconn *conn, const char *name) __attribute__((warn_unused_result));

/* pgsql_setting_is: whether the server's current value of parameter name is exactly want (false on error). */
bool pgsql_setting_is(PGconn *conn, const char *name, const char *want);

/* pgsql_exec: runs a command that returns no rows (CHECKPOINT, ...). */
bool pgsql_exec(PGconn *conn, const char *sql) __attribute__((warn_unused_result));

/*
 * pgsql_identify_system: IDENTIFY_SYSTEM over a replication connection (p->replication set): the system id,
 * the timeline and the flush position. On a standby these are the timeline of the WAL it has replayed (or
 * received ahead of it on that timeline) and the position of that WAL: the only source of a standby's current
 * timeline that is never stale (pg_control_checkpoint() lags until a restartpoint, pg_stat_wal_receiver is
 * empty while it reconnects). False when the connection or the command fails (logged at debug).
 */
bool pgsql_identify_system(const PgConnParams *p, uint32_t *timeline_id, uint64_t *xlog_pos, char *system_id,
						   size_t system_id_size) __attribute__((warn_unused_result));

/* pgsql_get_history: the entries of timeline_id's history file into h (emptied first; none for timeline 1). */
bool pgsql_get_history(PGconn *conn, uint32_t timeline_id, TimelinesHistory *h) __attribute__((warn_unused_result));

/* pgsql_wal_receiver_streaming: true when this standby's WAL receiver is streaming from its primary now. */
bool pgsql_wal_receiver_streaming(PGconn *conn);

/* pgsql_parse_lsn: "16/B374D848" -> LSN; false when malformed. */
bool pgsql_parse_lsn(const char *text, uint64_t *out) __attribute__((warn_unused_result));

/* pgsql_parse_history: the lines of a timeline history file ("1\t0/3000060\treason") into h (initialized). */
bool pgsql_parse_history(const char *text, TimelinesHistory *h) __attribute__((warn_unused_result));

#endif
