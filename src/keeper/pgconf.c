/*
 * src/keeper/pgconf.c
 *    Rendering of postgresql.conf, pg_hba.conf, synchronous_standby_names and conninfo strings. Pure functions
 *    over the DB spec and the keeper's flags; see pgconf.h.
 */
#include "keeper/pgconf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

bool
pgconf_quote_value(Buf *out, const char *value)
{
	if (!buf_append_str(out, "'"))
		return false;
	for (const char *p = value; *p; p++)
	{
		bool		ok;

		if (*p == '\'')
			ok = buf_append_str(out, "''");
		else if (*p == '\\')
			ok = buf_append_str(out, "\\\\");
		else
			ok = buf_append(out, p, 1);
		if (!ok)
			return false;
	}
	return buf_append_str(out, "'");
}

bool
pgconf_conninfo_append(Buf *out, const char *key, const char *value)
{
	bool		quote = (*value == '\0') || strpbrk(value, " \t\n'\\") != NULL;

	if (out->len > 0 && !buf_append_str(out, " "))
		return false;
	if (!buf_printf(out, "%s=", key))
		return false;
	if (quote && !buf_append_str(out, "'"))
		return false;
	for (const char *p = value; *p; p++)
	{
		if ((*p == '\'' || *p == '\\') && !buf_append_str(out, "\\"))
			return false;
		if (!buf_append(out, p, 1))
			return false;
	}
	return !quote || buf_append_str(out, "'");
}

bool
pgconf_pgpass_escape(Buf *out, const char *value)
{
	for (const char *p = value; *p; p++)
	{
		if ((*p == ':' || *p == '\\') && !buf_append_str(out, "\\"))
			return false;
		if (!buf_append(out, p, 1))
			return false;
	}
	return true;
}

bool
pgconf_render_sync_standby_names(const DbSpec *spec, Buf *out)
{
	size_t		n;
	bool		first = true;

	if (!spec->synchronous_replication)
		return buf_append_str(out, "");
	n = spec->synchronous_standbys.count + spec->external_synchronous_standbys.count;
	if (n == 0)
		return buf_append_str(out, "");
	if (n > 1 && !buf_printf(out, "%zu (", n))
		return false;
	for (size_t i = 0; i < spec->synchronous_standbys.count; i++, first = false)
		if (!buf_printf(out, "%s%s%s", first ? "" : ",", CLUSTER_SLOT_PREFIX, spec->synchronous_standbys.items[i]))
			return false;
	for (size_t i = 0; i < spec->external_synchronous_standbys.count; i++, first = false)
		if (!buf_printf(out, "%s%s", first ? "" : ",", spec->external_synchronous_standbys.items[i]))
			return false;
	return n == 1 || buf_append_str(out, ")");
}

bool
pgconf_build_parameters(const DbSpec *spec, const PgConfContext *ctx, PgParameters *out)
{
	char		num[32];
	const char *wal_level;
	Buf			ssn;
	bool		ok = true;

	pg_parameters_finish(out);
	if (!pg_parameters_copy(out, &spec->pg_parameters))
		return false;

	/* the spec may only raise wal_level to logical (cluster_spec_validate); anything else is ours */
	wal_level = pg_parameters_get(out, "wal_level");
	wal_level = (wal_level && strcmp(wal_level, "logical") == 0) ? "logical" : "replica";
	ok = ok && pg_parameters_set(out, "wal_level", wal_level);
	ok = ok && pg_parameters_set(out, "listen_addresses", ctx->listen_address);
	snprintf(num, sizeof(num), "%d", ctx->port);
	ok = ok && pg_parameters_set(out, "port", num);
	ok = ok && pg_parameters_set(out, "unix_socket_directories", ctx->socket_dir);
	ok = ok && pg_parameters_set(out, "hot_standby", "on");
	snprintf(num, sizeof(num), "%zu", (size_t) (spec->max_standbys > 0 ? spec->max_standbys : 1) +
			 spec->additional_replication_slots.count);
	ok = ok && pg_parameters_set(out, "max_replication_slots", num);
	snprintf(num, sizeof(num), "%d", 2 * spec->max_standbys + 2 + spec->additional_wal_senders);
	ok = ok && pg_parameters_set(out, "max_wal_senders", num);
	if (spec->use_pg_rewind)
		ok = ok && pg_parameters_set(out, "wal_log_hints", "on");
	if (pg_parameters_get(out, "wal_keep_size") == NULL)
		ok = ok && pg_parameters_set(out, "wal_keep_size", PGCONF_DEFAULT_WAL_KEEP_SIZE);
	if (pg_parameters_get(out, "wal_receiver_status_interval") == NULL)
		ok = ok && pg_parameters_set(out, "wal_receiver_status_interval",
									 PGCONF_DEFAULT_WAL_RECEIVER_STATUS_INTERVAL);

	buf_init(&ssn, 64 * 1024);
	if (!ctx->standby)
		ok = ok && pgconf_render_sync_standby_names(spec, &ssn);
	ok = ok && pg_parameters_set(out, "synchronous_standby_names", buf_cstr(&ssn));
	buf_finish(&ssn);

	if (ctx->standby)
	{
		ok = ok && pg_parameters_set(out, "primary_conninfo", ctx->primary_conninfo ? ctx->primary_conninfo : "");
		ok = ok && pg_parameters_set(out, "primary_slot_name", ctx->primary_slot_name ? ctx->primary_slot_name : "");
	}
	/*
	 * Written on masters too: it can only change at a restart, so dropping it after a promotion would leave a
	 * refused entry in pg_file_settings; outside recovery it has no effect.
	 */
	ok = ok && pg_parameters_set(out, "recovery_target_timeline", "latest");
	return ok;
}

bool
pgconf_render_postgresql_conf(const PgParameters *params, Buf *out)
{
	if (!buf_append_str(out, "# written by bulwark-keeper: do not edit, change the cluster spec instead\n"))
		return false;
	for (size_t i = 0; i < params->count; i++)
	{
		if (!buf_printf(out, "%s = ", params->items[i].name) ||
			!pgconf_quote_value(out, params->items[i].value) ||
			!buf_append_str(out, "\n"))
			return false;
	}
	return true;
}

/* An address for a pg_hba line: an IP with its full-length mask, a host name as it is. */
static bool
pgconf_hba_address(Buf *out, const char *addr)
{
	unsigned char tmp[16];

	if (inet_pton(AF_INET, addr, tmp) == 1)
		return buf_printf(out, "%s/32", addr);
	if (inet_pton(AF_INET6, addr, tmp) == 1)
		return buf_printf(out, "%s/128", addr);
	return buf_append_str(out, addr);
}

bool
pgconf_render_hba(const ClusterData *cd, const Db *db, const PgConfContext *ctx, Buf *out)
{
	const ClusterSpec *cspec = &cd->cluster.spec;
	const char *su = ctx->su_username;
	const char *repl = ctx->repl_username;

	if (!buf_append_str(out, "# written by bulwark-keeper: do not edit, change the cluster spec instead\n") ||
		!buf_printf(out, "local postgres %s %s\n", su, ctx->su_auth_method) ||
		!buf_printf(out, "local replication %s %s\n", repl, ctx->repl_auth_method))
		return false;

	switch (cspec->default_su_repl_access_mode)
	{
		case SU_REPL_ACCESS_ALL:
			if (!buf_printf(out, "host all %s 0.0.0.0/0 %s\n", su, ctx->su_auth_method) ||
				!buf_printf(out, "host all %s ::0/0 %s\n", su, ctx->su_auth_method) ||
				!buf_printf(out, "host replication %s 0.0.0.0/0 %s\n", repl, ctx->repl_auth_method) ||
				!buf_printf(out, "host replication %s ::0/0 %s\n", repl, ctx->repl_auth_method))
				return false;
			break;
		case SU_REPL_ACCESS_STRICT:
			/* only a master serves the others: base backups, pg_rewind and streaming all come to it */
			if (db->spec.role != DB_ROLE_MASTER)
				break;
			for (size_t i = 0; i < cd->db_count; i++)
			{
				const Db   *other = cd->dbs[i];

				if (strcmp(other->uid, db->uid) == 0 || other->status.listen_address[0] == '\0')
					continue;
				if (!buf_printf(out, "host all %s ", su) ||
					!pgconf_hba_address(out, other->status.listen_address) ||
					!buf_printf(out, " %s\n", ctx->su_auth_method) ||
					!buf_printf(out, "host replication %s ", repl) ||
					!pgconf_hba_address(out, other->status.listen_address) ||
					!buf_printf(out, " %s\n", ctx->repl_auth_method))
					return false;
			}
			break;
	}

	if (db->spec.pg_hba == NULL)
		return buf_append_str(out, "host all all 0.0.0.0/0 md5\nhost all all ::0/0 md5\n");
	for (size_t i = 0; i < db->spec.pg_hba->count; i++)
		if (!buf_printf(out, "%s\n", db->spec.pg_hba->items[i]))
			return false;
	return true;
}
