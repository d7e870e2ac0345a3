/*
 * src/keeper/pgsql.c
 *    libpq queries of the keeper; see pgsql.h.
 */
#include "keeper/pgsql.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

PGconn *
pgsql_connect(const PgConnParams *p, bool quiet)
{
	const char *keys[10];
	const char *vals[10];
	char		port[16];
	char		timeout[16];
	int			n = 0;
	PGconn	   *conn;

	snprintf(port, sizeof(port), "%d", p->port);
	snprintf(timeout, sizeof(timeout), "%d", p->connect_timeout_s > 0 ? p->connect_timeout_s : 2);
	keys[n] = "host", vals[n++] = p->host;
	keys[n] = "port", vals[n++] = port;
	keys[n] = "user", vals[n++] = p->user;
	keys[n] = "dbname", vals[n++] = p->dbname ? p->dbname : "postgres";
	keys[n] = "connect_timeout", vals[n++] = timeout;
	keys[n] = "application_name", vals[n++] = "bulwark-keeper";
	if (p->replication)
		keys[n] = "replication", vals[n++] = "true";
	if (p->password)
		keys[n] = "password", vals[n++] = p->password;
	keys[n] = NULL, vals[n] = NULL;
	conn = PQconnectdbParams(keys, vals, 0);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		if (!quiet)
			log_warn("could not connect to postgres host=%s port=%d user=%s: %s", p->host, p->port, p->user,
					 conn ? PQerrorMessage(conn) : "out of memory");
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

void
pg_local_status_init(PgLocalStatus *s)
{
	memset(s, 0, sizeof(*s));
	timelines_history_init(&s->history);
	pg_parameters_init(&s->file_params);
	string_list_init(&s->sync_standbys);
}

void
pg_local_status_finish(PgLocalStatus *s)
{
	timelines_history_finish(&s->history);
	pg_parameters_finish(&s->file_params);
	string_list_finish(&s->sync_standbys);
	pg_local_status_init(s);
}

bool
pgsql_parse_lsn(const char *text, uint64_t *out)
{
	unsigned int hi,
				lo;
	int			used = 0;

	if (sscanf(text, "%X/%X%n", &hi, &lo, &used) != 2 || text[used] != '\0')
		return false;
	*out = ((uint64_t) hi << 32) | lo;
	return true;
}

bool
pgsql_parse_history(const char *text, TimelinesHistory *h)
{
	const char *p = text;

	while (*p)
	{
		const char *eol = strchr(p, '\n');
		size_t		len = eol ? (size_t) (eol - p) : strlen(p);
		char		line[1024];
		char		lsn[64];
		unsigned int tli;
		int			used = 0;
		uint64_t	sp;

		snprintf(line, sizeof(line), "%.*s", (int) (len < sizeof(line) ? len : sizeof(line) - 1), p);
		p = eol ? eol + 1 : p + len;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (sscanf(line, "%u %63s %n", &tli, lsn, &used) < 2 || !pgsql_parse_lsn(lsn, &sp))
			return false;
		if (!timelines_history_append(h, tli, sp, used > 0 && line[used] ? line + used : NULL))
			return false;
	}
	return true;
}

static PGresult *
pgsql_query(PGconn *conn, const char *sql, ExecStatusType want)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != want)
	{
		log_warn("query failed: %s; query: %s", PQresultErrorMessage(res), sql);
		PQclear(res);
		return NULL;
	}
	return res;
}

bool
pgsql_exec(PGconn *conn, const char *sql)
{
	PGresult   *res = pgsql_query(conn, sql, PGRES_COMMAND_OK);

	PQclear(res);
	return res != NULL;
}

bool
pgsql_setting_is(PGconn *conn, const char *name, const char *want)
{
	const char *params[1] = {name};
	PGresult   *res = PQexecParams(conn, "SELECT current_setting($1)", 1, NULL, params, NULL, NULL, 0);
	bool		same;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		log_warn("query failed: %s; query: current_setting('%s')", PQresultErrorMessage(res), name);
		PQclear(res);
		return false;
	}
	same = strcmp(PQgetvalue(res, 0, 0), want) == 0;
	PQclear(res);
	return same;
}

bool
pgsql_get_history(PGconn *conn, uint32_t timeline_id, TimelinesHistory *h)
{
	PGresult   *res;
	char		sql[256];

	timelines_history_finish(h);
	if (timeline_id <= 1)
		return true;
	snprintf(sql, sizeof(sql), "SELECT pg_read_file('pg_wal/%08X.history', 0, 1048576, true)", (unsigned) timeline_id);
	if ((res = pgsql_query(conn, sql, PGRES_TUPLES_OK)) == NULL)
		return false;
	if (!PQgetisnull(res, 0, 0) && !pgsql_parse_history(PQgetvalue(res, 0, 0), h))
		log_warn("could not parse the history file of timeline %u", (unsigned) timeline_id);
	PQclear(res);
	return true;
}

bool
pgsql_get_status(PGconn *conn, PgLocalStatus *s)
{
	PGresult   *res;
	bool		ok = true;

	/*
	 * The timeline: right after a promotion pg_control_checkpoint() still shows the old one, so a primary reads
	 * it from the name of its current WAL file; a standby from what it replays (measured when the keeper was built: a stale checkpoint timeline on a standby looked like a fork).
	 */
	res = pgsql_query(conn,
					  "SELECT pg_is_in_recovery(),"
					  " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,"
					  " CASE WHEN pg_is_in_recovery()"
					  "  THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver WHERE received_tli > 0),"
					  "                (SELECT timeline_id FROM pg_control_checkpoint()))"
					  "  ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,"
					  " (SELECT system_identifier FROM pg_control_system()),"
					  " (SELECT count(*) FROM pg_settings WHERE pending_restart)",
					  PGRES_TUPLES_OK);
	if (res == NULL)
		return false;
	s->in_recovery = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (PQgetisnull(res, 0, 1) || !pgsql_parse_lsn(PQgetvalue(res, 0, 1), &s->xlog_pos))
		s->xlog_pos = 0;
	s->timeline_id = (uint32_t) strtoul(PQgetvalue(res, 0, 2), NULL, 10);
	snprintf(s->system_id, sizeof(s->system_id), "%s", PQgetvalue(res, 0, 3));
	s->pending_restart = strcmp(PQgetvalue(res, 0, 4), "0") != 0;
	PQclear(res);

	if (!pgsql_get_history(conn, s->timeline_id, &s->history))
		return false;

	res = pgsql_query(conn, "SELECT name, setting, applied, error FROM pg_file_settings ORDER BY seqno",
					  PGRES_TUPLES_OK);
	if (res == NULL)
		return false;
	for (int i = 0; i < PQntuples(res) && ok; i++)
	{
		const char *name = PQgetvalue(res, i, 0);

		/* a changed restart-only parameter is pending_restart, not a refused value */
		if (!PQgetisnull(res, i, 3) && strstr(PQgetvalue(res, i, 3), "without restarting") == NULL)
		{
			s->file_settings_error = true;
			snprintf(s->file_settings_error_text, sizeof(s->file_settings_error_text), "%s: %s",
					 PQgetisnull(res, i, 0) ? "?" : name, PQgetvalue(res, i, 3));
			continue;
		}
		if (cluster_pg_parameter_is_managed(name))
			continue;
		ok = pg_parameters_set(&s->file_params, name, PQgetvalue(res, i, 1));
	}
	PQclear(res);
	if (!ok)
		return false;

	res = pgsql_query(conn, "SELECT application_name FROM pg_stat_replication WHERE sync_state = 'sync'"
					  " ORDER BY application_name", PGRES_TUPLES_OK);
	if (res == NULL)
		return false;
	for (int i = 0; i < PQntuples(res) && ok; i++)
		ok = string_list_append(&s->sync_standbys, PQgetvalue(res, i, 0));
	PQclear(res);
	return ok;
}

bool
pgsql_setup_roles(PGconn *conn, const char *su_user, const char *su_password, const char *repl_user,
				  const char *repl_password)
{
	char	   *ident = NULL;
	char	   *lit = NULL;
	char		sql[4096];
	bool		ok = false;

	/* no password may reach the server log: statement logging is off for this transaction */
	if (!pgsql_exec(conn, "BEGIN") || !pgsql_exec(conn, "SET LOCAL log_statement = 'none'") ||
		!pgsql_exec(conn, "SET LOCAL log_min_error_statement = 'panic'"))
		goto out;
	if (su_password)
	{
		ident = PQescapeIdentifier(conn, su_user, strlen(su_user));
		lit = PQescapeLiteral(conn, su_password, strlen(su_password));
		if (!ident || !lit)
			goto out;
		snprintf(sql, sizeof(sql), "ALTER ROLE %s WITH PASSWORD %s", ident, lit);
		if (!pgsql_exec(conn, sql))
			goto out;
		PQfreemem(ident);
		PQfreemem(lit);
		ident = lit = NULL;
	}
	ident = PQescapeIdentifier(conn, repl_user, strlen(repl_user));
	if (!ident)
		goto out;
	if (strcmp(su_user, repl_user) == 0)
		snprintf(sql, sizeof(sql), "ALTER ROLE %s WITH LOGIN REPLICATION", ident);
	else
	{
		if (repl_password && (lit = PQescapeLiteral(conn, repl_password, strlen(repl_password))) == NULL)
			goto out;
		snprintf(sql, sizeof(sql), "CREATE ROLE %s WITH LOGIN REPLICATION%s%s", ident,
				 lit ? " PASSWORD " : "", lit ? lit : "");
	}
	if (!pgsql_exec(conn, sql))
		goto out;
	ok = pgsql_exec(conn, "COMMIT");
out:
	if (!ok)
	{
		PGresult   *res = PQexec(conn, "ROLLBACK");

		PQclear(res);
		log_error("could not set up the superuser and replication roles");
	}
	PQfreemem(ident);
	PQfreemem(lit);
	return ok;
}

bool
pgsql_list_slots(PGconn *conn, const char *prefix, StringList *out)
{
	const char *params[1] = {prefix};
	PGresult   *res;
	bool		ok = true;

	res = PQexecParams(conn, "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical'"
					   " AND NOT temporary AND starts_with(slot_name::text, $1)"
					   " ORDER BY slot_name", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		log_warn("could not list replication slots: %s", PQresultErrorMessage(res));
		PQclear(res);
		return false;
	}
	for (int i = 0; i < PQntuples(res) && ok; i++)
		ok = string_list_append(out, PQgetvalue(res, i, 0));
	PQclear(res);
	return ok;
}

static bool
pgsql_slot_call(PGconn *conn, const char *fn, const char *name)
{
	const char *params[1] = {name};
	char		sql[128];
	PGresult   *res;
	bool		ok;

	snprintf(sql, sizeof(sql), "SELECT %s($1)", fn);
	res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		log_warn("%s(\"%s\") failed: %s", fn, name, PQresultErrorMessage(res));
	else
		log_info("%s slot=%s", fn, name);
	PQclear(res);
	return ok;
}

bool
pgsql_create_slot(PGconn *conn, const char *name)
{
	return pgsql_slot_call(conn, "pg_create_physical_replication_slot", name);
}

bool
pgsql_drop_slot(PGconn *conn, const char *name)
{
	return pgsql_slot_call(conn, "pg_drop_replication_slot", name);
}

bool
pgsql_wal_receiver_streaming(PGconn *conn)
{
	PGresult   *res = PQexec(conn, "SELECT status FROM pg_stat_wal_receiver");
	bool		streaming = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		strcmp(PQgetvalue(res, 0, 0), "streaming") == 0;

	PQclear(res);
	return streaming;
}

bool
pgsql_identify_system(const PgConnParams *p, uint32_t *timeline_id, uint64_t *xlog_pos, char *system_id,
					  size_t system_id_size)
{
	PGconn	   *conn = pgsql_connect(p, true);
	PGresult   *res;
	bool		ok;

	if (conn == NULL)
	{
		log_debug("identify_system: no replication connection host=%s user=%s", p->host, p->user);
		return false;
	}
	res = PQexec(conn, "IDENTIFY_SYSTEM");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) >= 3 &&
		!PQgetisnull(res, 0, 1) && pgsql_parse_lsn(PQgetvalue(res, 0, 2), xlog_pos);
	if (ok)
	{
		*timeline_id = (uint32_t) strtoul(PQgetvalue(res, 0, 1), NULL, 10);
		snprintf(system_id, system_id_size, "%s", PQgetvalue(res, 0, 0));
	}
	else
		log_debug("IDENTIFY_SYSTEM failed: %s", PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
	return ok;
}
