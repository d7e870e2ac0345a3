/*
 * src/keeper/pgconf.h
 *    Pure rendering of what the keeper writes into PGDATA: the parameters of postgresql.conf (the DB spec's
 *    pgParameters plus the ones the keeper manages), the text of postgresql.conf and pg_hba.conf, the value of
 *    synchronous_standby_names, and libpq conninfo strings with their escaping. No I/O: converge.c writes the
 *    results, the unit tests compare them with tables.
 */
#ifndef BULWARK_KEEPER_PGCONF_H
#define BULWARK_KEEPER_PGCONF_H

#include <stdbool.h>

#include "buf.h"
#include "cluster.h"

/* What the rendering needs besides the DB spec: the keeper's flags and, for a standby, how to follow. */
typedef struct PgConfContext
{
	const char *listen_address;	/* --pg-listen-address */
	int			port;			/* --pg-port */
	const char *socket_dir;		/* unix_socket_directories, a short directory the keeper owns */
	const char *su_username;
	const char *su_auth_method;	/* scram-sha-256, md5 or trust */
	const char *repl_username;
	const char *repl_auth_method;
	bool		standby;		/* render the recovery settings below */
	const char *primary_conninfo;	/* standby: the whole conninfo (see pgconf_conninfo_append) */
	const char *primary_slot_name;	/* standby: bulwark_<own db uid> */
} PgConfContext;

/* The wal_keep_size the keeper sets when the spec sets none, so a standby that lags a little can catch up. */
#define PGCONF_DEFAULT_WAL_KEEP_SIZE "128MB"

/*
 * The wal_receiver_status_interval the keeper sets when the spec sets none. A commit waiting for a synchronous
 * standby is released by that standby's next reply; a standby that already has the WAL (it was asynchronous
 * until synchronous_standby_names named it) replies only when new WAL comes or this interval passes. PostgreSQL's
 * 10s default held commits for up to 10 s after the sentinel handed the synchronous role to a live standby.
 */
#define PGCONF_DEFAULT_WAL_RECEIVER_STATUS_INTERVAL "1s"

/*
 * pgconf_build_parameters: *out (initialized by the caller, emptied first) = spec->pg_parameters, then the
 * managed parameters over them: listen_addresses, port, unix_socket_directories, wal_level (replica, or
 * logical when the spec asks), hot_standby, max_replication_slots, max_wal_senders
 * (2 * maxStandbys + 2 + additionalWalSenders), wal_log_hints (with usePgrewind), wal_keep_size and
 * wal_receiver_status_interval (the spec's or the default), synchronous_standby_names (masters only), recovery_target_timeline (latest) and, for a standby,
 * primary_conninfo and primary_slot_name. False when memory runs out.
 */
bool pgconf_build_parameters(const DbSpec *spec, const PgConfContext *ctx, PgParameters *out)
	__attribute__((warn_unused_result));

/* pgconf_quote_value: value as a postgresql.conf string literal ('...' with ' doubled and \ doubled). */
bool pgconf_quote_value(Buf *out, const char *value) __attribute__((warn_unused_result));

/* pgconf_render_postgresql_conf: a header line, then "name = 'value'" per parameter in name order. */
bool pgconf_render_postgresql_conf(const PgParameters *params, Buf *out) __attribute__((warn_unused_result));

/*
 * pgconf_render_sync_standby_names: synchronous_standby_names for a DB (Stolon's form): "" without
 * synchronousReplication or without names; the name alone for one; "N (a,b,...)" for N > 1 (all must
 * acknowledge). Names: "bulwark_<uid>" per synchronousStandbys, then externalSynchronousStandbys as they are.
 */
bool pgconf_render_sync_standby_names(const DbSpec *spec, Buf *out) __attribute__((warn_unused_result));

/*
 * pgconf_render_hba: pg_hba.conf for db in cd (Stolon §4.4): local lines for the superuser (database postgres)
 * and the replication user; with defaultSUReplAccessMode all, host lines for both from any IPv4/IPv6 address;
 * with strict, on a master only, lines for each other DB's listen address; then the spec's pgHBA lines, or
 * when pgHBA is null, "host all all 0.0.0.0/0 md5" and "host all all ::0/0 md5".
 */
bool pgconf_render_hba(const ClusterData *cd, const Db *db, const PgConfContext *ctx, Buf *out)
	__attribute__((warn_unused_result));

/*
 * pgconf_conninfo_append: appends " key=value" (no leading space when out is empty) to a libpq conninfo,
 * quoting the value with '...' when it is empty or holds a space, a quote or a backslash, and escaping quotes
 * and backslashes inside with a backslash.
 */
bool pgconf_conninfo_append(Buf *out, const char *key, const char *value) __attribute__((warn_unused_result));

/*
 * pgconf_pgpass_escape: value with ':' and '\' escaped by a backslash, for a line of a libpq password file.
 */
bool pgconf_pgpass_escape(Buf *out, const char *value) __attribute__((warn_unused_result));

#endif
