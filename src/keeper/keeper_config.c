/*
 * src/keeper/keeper_config.c
 *    The files the keeper owns in PGDATA: postgresql.conf and pg_hba.conf, rendered by pgconf.c from the DB spec
 *    and the keeper's flags and written only when their text changes; standby.signal; and postgresql.auto.conf
 *    kept a symlink to /dev/null so that ALTER SYSTEM cannot override the cluster spec. Also which DB a standby
 *    follows and the conninfo it reaches it with.
 */
#include "keeper/keeper_config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "keeper/pgconf.h"
#include "log.h"

#define CONF_MAX_BYTES (1024 * 1024)

/* Value of "name = ..." in a postgresql.conf text we rendered, into out ("" when absent). */
static void
conf_line_value(const char *text, const char *name, char *out, size_t outlen)
{
	size_t		nlen = strlen(name);
	const char *p = text;

	out[0] = '\0';
	while (p && *p)
	{
		const char *eol = strchr(p, '\n');

		if (strncmp(p, name, nlen) == 0 && strncmp(p + nlen, " = ", 3) == 0)
		{
			size_t		len = eol ? (size_t) (eol - p) : strlen(p);

			snprintf(out, outlen, "%.*s", (int) len, p);
			return;
		}
		p = eol ? eol + 1 : NULL;
	}
}

/* Writes path when its content differs; *changed says whether it did. */
static bool
keeper_write_if_changed(const char *path, const char *text, bool *changed)
{
	size_t		len;
	char	   *old = keeper_file_read(path, CONF_MAX_BYTES, &len);

	*changed = old == NULL || strcmp(old, text) != 0;
	free(old);
	if (!*changed)
		return true;
	return keeper_file_write_atomic(path, text, strlen(text), 0600);
}

/*
 * ALTER SYSTEM is disabled by making postgresql.auto.conf a symlink to /dev/null: the server reads nothing from
 * it. ALTER SYSTEM still replaces it by a regular file (it writes a temp file and renames it); the next pass
 * sees that, logs it, puts the symlink back and reloads. pg_rewind and base backups also leave a regular file.
 */
static bool
keeper_disable_alter_system(KeeperDaemon *k, bool *changed)
{
	char		path[PATH_MAX];
	char		target[64];
	ssize_t		n;
	struct stat st;

	*changed = false;
	snprintf(path, sizeof(path), "%s/postgresql.auto.conf", k->pgdata);
	n = readlink(path, target, sizeof(target) - 1);
	if (n >= 0)
	{
		target[n] = '\0';
		if (strcmp(target, "/dev/null") == 0)
			return true;
	}
	if (lstat(path, &st) == 0)
	{
		if (S_ISREG(st.st_mode) && st.st_size > 0)
			log_warn("postgresql.auto.conf has content (ALTER SYSTEM, or copied from another instance): "
					 "discarding it; change the cluster spec instead");
		if (unlink(path) < 0)
		{
			log_error("could not remove \"%s\": %m", path);
			return false;
		}
	}
	if (symlink("/dev/null", path) < 0)
	{
		log_error("could not create symlink \"%s\": %m", path);
		return false;
	}
	*changed = true;
	return true;
}

/* The conninfo a standby of db uses to reach followed (no password: it is in the passfile). */
static bool
keeper_primary_conninfo(const KeeperDaemon *k, const Db *db, const Db *followed, Buf *out)
{
	char		app[UID_SIZE + 16];
	char		port[16];

	snprintf(app, sizeof(app), "%s%s", CLUSTER_SLOT_PREFIX, db->uid);
	snprintf(port, sizeof(port), "%d", followed->status.port);
	return pgconf_conninfo_append(out, "application_name", app) &&
		pgconf_conninfo_append(out, "host", followed->status.listen_address) &&
		pgconf_conninfo_append(out, "passfile", k->passfile) &&
		pgconf_conninfo_append(out, "port", port) &&
		pgconf_conninfo_append(out, "sslmode", "prefer") &&
		pgconf_conninfo_append(out, "user", k->cfg.pg_repl_username);
}

const Db *
keeper_followed_db(const KeeperDaemon *k, const Db *db)
{
	const Db   *f;

	if (db->spec.follow_config == NULL || db->spec.follow_config->type != FOLLOW_TYPE_INTERNAL)
		return NULL;
	f = cluster_data_find_db(&k->cd, db->spec.follow_config->db_uid);
	if (f == NULL || f->status.listen_address[0] == '\0' || f->status.port <= 0)
		return NULL;
	return f;
}

bool
keeper_write_config(KeeperDaemon *k, const Db *db, const Db *followed, ConfChange *chg)
{
	PgConfContext ctx = {
		.listen_address = k->cfg.pg_listen_address,
		.port = (int) k->cfg.pg_port,
		.socket_dir = k->socket_dir,
		.su_username = k->cfg.pg_su_username,
		.su_auth_method = k->cfg.pg_su_auth_method,
		.repl_username = k->cfg.pg_repl_username,
		.repl_auth_method = k->cfg.pg_repl_auth_method,
		.standby = followed != NULL,
	};
	char		slot[UID_SIZE + 16];
	char		path[PATH_MAX];
	char		old_ci[4096] = "",
				new_ci[4096] = "",
				old_slot[256] = "",
				new_slot[256] = "";
	Buf			conninfo,
				conf,
				hba;
	PgParameters params;
	bool		ok,
				c1 = false,
				c2 = false,
				c3 = false;
	char	   *old;

	memset(chg, 0, sizeof(*chg));
	buf_init(&conninfo, 8192);
	buf_init(&conf, CONF_MAX_BYTES);
	buf_init(&hba, CONF_MAX_BYTES);
	pg_parameters_init(&params);
	snprintf(slot, sizeof(slot), "%s%s", CLUSTER_SLOT_PREFIX, db->uid);
	ok = followed == NULL || keeper_primary_conninfo(k, db, followed, &conninfo);
	ctx.primary_conninfo = buf_cstr(&conninfo);
	ctx.primary_slot_name = slot;
	ok = ok && pgconf_build_parameters(&db->spec, &ctx, &params) &&
		pgconf_render_postgresql_conf(&params, &conf) &&
		pgconf_render_hba(&k->cd, db, &ctx, &hba);
	if (!ok)
		log_error("could not render the configuration files (out of memory)");

	if (ok)
	{
		snprintf(path, sizeof(path), "%s/postgresql.conf", k->pgdata);
		old = keeper_file_read(path, CONF_MAX_BYTES, NULL);
		if (old)
		{
			conf_line_value(old, "primary_conninfo", old_ci, sizeof(old_ci));
			conf_line_value(old, "primary_slot_name", old_slot, sizeof(old_slot));
		}
		free(old);
		conf_line_value(buf_cstr(&conf), "primary_conninfo", new_ci, sizeof(new_ci));
		conf_line_value(buf_cstr(&conf), "primary_slot_name", new_slot, sizeof(new_slot));
		chg->recovery = strcmp(old_ci, new_ci) != 0 || strcmp(old_slot, new_slot) != 0;
		ok = keeper_write_if_changed(path, buf_cstr(&conf), &c1);
	}
	if (ok)
	{
		snprintf(path, sizeof(path), "%s/pg_hba.conf", k->pgdata);
		ok = keeper_write_if_changed(path, buf_cstr(&hba), &c2);
	}
	ok = ok && keeper_disable_alter_system(k, &c3);
	chg->any = c1 || c2 || c3;
	if (chg->any)
		log_info("configuration files written postgresql_conf_changed=%d pg_hba_changed=%d recovery_changed=%d",
				 c1, c2, chg->recovery);
	buf_finish(&conninfo);
	buf_finish(&conf);
	buf_finish(&hba);
	pg_parameters_finish(&params);
	return ok;
}

bool
keeper_set_standby_signal(KeeperDaemon *k, bool on)
{
	char		path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/standby.signal", k->pgdata);
	if (!on)
	{
		if (unlink(path) < 0 && errno != ENOENT)
		{
			log_error("could not remove \"%s\": %m", path);
			return false;
		}
		return true;
	}
	return keeper_file_write_atomic(path, "", 0, 0600);
}
