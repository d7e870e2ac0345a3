/*
 * src/keeper/converge.c
 *    Carrying out the keeper's plan (keeper_plan.c) on the local PostgreSQL: fencing, initdb, resync through
 *    pg_rewind or pg_basebackup, promotion, the configuration files, slots, and the generation
 *    acknowledgement after a fully successful pass. Also the dispatcher that logs the state machine's
 *    transitions.
 *
 * Order matters for safety: a keeper whose DB is no longer master stops PostgreSQL (fast) before anything
 * else (I5); a keeper the sentinel has not seen runs nothing (I6); dbstate is marked "initializing" before
 * PGDATA is touched, so a crash in the middle makes the next pass redo the whole step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "keeper/keeper.h"
#include "keeper/pgconf.h"
#include "log.h"
#include "timestamp.h"

#define CONF_MAX_BYTES (1024 * 1024)

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

static int64_t
keeper_ready_timeout_ms(const KeeperDaemon *k)
{
	int64_t		t = k->cd.cluster.spec.db_wait_ready_timeout_ms;

	return t > 0 ? t : 60000;
}

static PgConnParams
keeper_local_params(const KeeperDaemon *k)
{
	PgConnParams p = {
		.host = k->socket_dir,
		.port = (int) k->cfg.pg_port,
		.user = k->cfg.pg_su_username,
		.password = k->su_password[0] ? k->su_password : NULL,
		.dbname = "postgres",
		.connect_timeout_s = 2,
	};

	return p;
}

static bool
keeper_save_dbstate(KeeperDaemon *k, const char *uid, int64_t generation, bool initializing)
{
	DbLocalState s;

	memset(&s, 0, sizeof(s));
	snprintf(s.uid, sizeof(s.uid), "%s", uid);
	s.generation = generation;
	s.initializing = initializing;
	if (!db_state_write(k->dbstate_path, &s))
		return false;
	k->dbstate = s;
	return true;
}

void
keeper_stop_postgres(KeeperDaemon *k)
{
	if (pgctl_is_running(&k->pgctl))
	{
		log_info("stopping postgres (fast shutdown)");
		if (!pgctl_stop(&k->pgctl, "fast", 60000))
			log_error("could not stop postgres");
	}
}

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

static const Db *
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

typedef struct ConfChange
{
	bool		any;			/* postgresql.conf, pg_hba.conf or postgresql.auto.conf changed */
	bool		recovery;		/* primary_conninfo or primary_slot_name changed */
} ConfChange;

/* Renders and writes postgresql.conf and pg_hba.conf for db; standby: following followed. */
static bool
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

static bool
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

static bool
keeper_start(KeeperDaemon *k)
{
	if (pgctl_is_running(&k->pgctl))
		return true;
	log_info("starting postgres");
	return pgctl_start(&k->pgctl, keeper_ready_timeout_ms(k));
}

/* Checks that PostgreSQL took every entry of the configuration files (a bad pgParameters value fails here). */
static bool
keeper_check_settings(PGconn *conn, bool *pending_restart)
{
	PgLocalStatus st;
	bool		ok;

	pg_local_status_init(&st);
	ok = pgsql_get_status(conn, &st);
	if (ok && st.file_settings_error)
	{
		log_error("postgres refused a configuration file entry: %s", st.file_settings_error_text);
		ok = false;
	}
	*pending_restart = ok && st.pending_restart;
	pg_local_status_finish(&st);
	return ok;
}

/* On the master: one slot per follower plus the additional ones; other bulwark_ slots dropped. */
static bool
keeper_reconcile_slots(KeeperDaemon *k, PGconn *conn, const Db *db, bool master)
{
	StringList	have,
				want;
	char		name[UID_SIZE + 16];
	bool		ok = true;

	(void) k;
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
keeper_restart(KeeperDaemon *k)
{
	log_info("restarting postgres");
	return pgctl_stop(&k->pgctl, "fast", 60000) && pgctl_start(&k->pgctl, keeper_ready_timeout_ms(k));
}

static bool
keeper_finish_pass(KeeperDaemon *k, const Db *db, bool master)
{
	PgConnParams p = keeper_local_params(k);
	PGconn	   *conn = pgsql_connect(&p, false);
	bool		pending = false;
	bool		ok;

	if (conn == NULL)
		return false;
	ok = keeper_reconcile_slots(k, conn, db, master) && keeper_check_settings(conn, &pending);
	PQfinish(conn);
	if (ok && pending)
	{
		if (k->cd.cluster.spec.automatic_pg_restart)
			ok = keeper_restart(k);
		else
			log_info("a parameter change needs a restart; automaticPgRestart is off");
	}
	return ok;
}

static bool
keeper_run_master(KeeperDaemon *k, const Db *db)
{
	ConfChange chg;
	bool		was_running = pgctl_is_running(&k->pgctl);

	if (!keeper_write_config(k, db, NULL, &chg) || !keeper_set_standby_signal(k, false))
		return false;
	if (!was_running)
	{
		if (!keeper_start(k))
			return false;
	}
	else if (chg.any && !pgctl_reload(&k->pgctl))
		return false;
	return keeper_finish_pass(k, db, true);
}

static bool
keeper_run_standby(KeeperDaemon *k, const Db *db)
{
	const Db   *followed = keeper_followed_db(k, db);
	ConfChange	chg;
	bool		was_running = pgctl_is_running(&k->pgctl);

	if (followed == NULL)
	{
		log_warn("the followed db has no known address yet db=%s", db->uid);
		return false;
	}
	if (!keeper_write_config(k, db, followed, &chg) || !keeper_set_standby_signal(k, true))
		return false;
	if (!was_running)
	{
		if (!keeper_start(k))
			return false;
	}
	else if (chg.recovery)
	{
		/* a new master or a new address: the walreceiver must reconnect to it */
		log_info("followed master changed followed_db=%s host=%s port=%d", followed->uid,
				 followed->status.listen_address, followed->status.port);
		if (!keeper_restart(k))
			return false;
	}
	else if (chg.any && !pgctl_reload(&k->pgctl))
		return false;
	return keeper_finish_pass(k, db, false);
}

/*
 * keeper_apply_sync_names: before a promotion in synchronous mode, reload the configuration (when it changed) and
 * wait until the server shows the synchronous_standby_names just written. A standby ignores the setting, and
 * reloading only after pg_ctl promote left a window in which the new master acknowledged commits that no
 * synchronous standby had (DESIGN.md I4). False when it does not show within the ready timeout: no promotion.
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
		log_error("synchronous_standby_names \"%s\" not in effect after the reload: not promoting yet",
				  buf_cstr(&want));
	buf_finish(&want);
	return applied;
}

static bool
keeper_promote(KeeperDaemon *k, const Db *db)
{
	ConfChange	chg;

	if (!keeper_write_config(k, db, NULL, &chg))
		return false;
	if (!pgctl_is_running(&k->pgctl))
	{
		/*
		 * Stopped: start it as a standby (standby.signal stays, no upstream) and promote it like a running one.
		 * Starting it straight as a primary ended recovery without a new timeline: it went on writing on the
		 * timeline it had followed, which the old master had written on too, so two different histories shared
		 * one timeline ID, which pg_rewind and the sentinel's fork checks cannot tell apart (found by the chaos
		 * harness: three such promotions in a 30-minute run).
		 */
		log_info("starting stopped postgres as a standby to promote it db=%s", db->uid);
		if (!keeper_start(k))
			return false;
		chg.any = false;		/* it started with the configuration just written */
	}
	if (!keeper_apply_sync_names(k, db, chg.any))
		return false;
	log_info("promoting postgres db=%s", db->uid);
	if (!pgctl_promote(&k->pgctl, keeper_ready_timeout_ms(k)))
		return false;
	return pgctl_reload(&k->pgctl);
}

static bool
keeper_write_temp_secret(const char *path, const char *secret)
{
	char		line[KEEPER_SECRET_MAX + 2];

	snprintf(line, sizeof(line), "%s\n", secret);
	return keeper_file_write_atomic(path, line, strlen(line), 0600);
}

static bool
keeper_init_new(KeeperDaemon *k, const Db *db)
{
	char		pwfile[PATH_MAX];
	ConfChange	chg;
	PGconn	   *conn;
	PgConnParams p;
	bool		ok;

	if (!keeper_save_dbstate(k, db->uid, 0, true))
		return false;
	if (!pgctl_stop(&k->pgctl, "immediate", 60000) || !pgctl_wipe(&k->pgctl))
		return false;
	snprintf(pwfile, sizeof(pwfile), "%s/initdb.pw", k->data_dir);
	if (k->su_password[0] && !keeper_write_temp_secret(pwfile, k->su_password))
		return false;
	ok = pgctl_initdb(&k->pgctl, k->cfg.pg_su_username, k->su_password[0] ? pwfile : NULL, db->spec.new_config);
	unlink(pwfile);
	if (!ok)
		return false;
	if (!keeper_write_config(k, db, NULL, &chg) || !keeper_start(k))
		return false;
	p = keeper_local_params(k);
	if ((conn = pgsql_connect(&p, false)) == NULL)
		return false;
	ok = pgsql_setup_roles(conn, k->cfg.pg_su_username, NULL, k->cfg.pg_repl_username,
						   k->repl_password[0] ? k->repl_password : NULL);
	PQfinish(conn);
	return ok && keeper_save_dbstate(k, db->uid, 0, false);
}

/* pg_rewind from followed; false when it is not possible or failed (the caller falls back to a base backup). */
static bool
keeper_try_rewind(KeeperDaemon *k, const Db *db, const Db *followed)
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

	if (!db->spec.use_pg_rewind || !pgctl_is_initialized(&k->pgctl))
		return false;
	if (!pgctl_system_id(&k->pgctl, local_sysid, sizeof(local_sysid)) ||
		(followed->status.system_id[0] && strcmp(local_sysid, followed->status.system_id) != 0))
	{
		log_info("not using pg_rewind: the local data has another system id local=%s master=%s", local_sysid,
				 followed->status.system_id);
		return false;
	}
	/* a checkpoint on the source first, so that pg_rewind sees its current timeline (feasibility.md §2.3) */
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
 * How long a rewound standby gets to stream from its master. pg_rewind succeeded, so this only catches the rare
 * history it could not reconcile (the master's timeline moved on again meanwhile): then a base backup is done.
 */
#define KEEPER_REWIND_STREAM_WAIT_MS 15000

/* keeper_wait_streaming: true once the local standby's WAL receiver streams, false after timeout_ms. */
static bool
keeper_wait_streaming(KeeperDaemon *k, int64_t timeout_ms)
{
	PgConnParams p = keeper_local_params(k);

	for (int64_t waited = 0; waited <= timeout_ms; waited += 200)
	{
		PGconn	   *conn = pgsql_connect(&p, true);
		bool		streaming = conn && pgsql_wal_receiver_streaming(conn);

		if (conn)
			PQfinish(conn);
		if (streaming)
			return true;
		usleep(200 * 1000);
	}
	return false;
}

static bool
keeper_resync(KeeperDaemon *k, const Db *db)
{
	const Db   *followed = keeper_followed_db(k, db);
	char		slot[UID_SIZE + 16];
	ConfChange	chg;
	bool		rewound;

	if (followed == NULL)
	{
		log_warn("cannot resync: the followed db has no known address yet db=%s", db->uid);
		return false;
	}
	/* stop first: an old master must not take writes while it is being turned into a standby (I5) */
	if (!pgctl_stop(&k->pgctl, "fast", 60000))
		return false;
	if (!keeper_save_dbstate(k, db->uid, 0, true))
		return false;
	rewound = keeper_try_rewind(k, db, followed);
	if (!rewound && db->spec.use_pg_rewind)
		log_info("falling back to pg_basebackup");
	for (int attempt = 0; attempt < 2; attempt++)
	{
		if (!rewound)
		{
			snprintf(slot, sizeof(slot), "%s%s", CLUSTER_SLOT_PREFIX, db->uid);
			if (!pgctl_wipe(&k->pgctl) ||
				!pgctl_basebackup(&k->pgctl, followed->status.listen_address, followed->status.port,
								  k->cfg.pg_repl_username, slot, 3600000))
				return false;
		}
		/* pg_rewind and base backups copy the source's configuration files: ours go back on top */
		if (!keeper_write_config(k, db, followed, &chg) || !keeper_set_standby_signal(k, true))
			return false;
		if (keeper_start(k) && (!rewound || keeper_wait_streaming(k, KEEPER_REWIND_STREAM_WAIT_MS)))
			return keeper_save_dbstate(k, db->uid, 0, false);
		if (!rewound)
			return false;
		log_warn("the rewound instance does not start or does not stream from db %s (its timeline still "
				 "diverges?); falling back to pg_basebackup", followed->uid);
		if (!pgctl_stop(&k->pgctl, "immediate", 60000))
			return false;
		rewound = false;
	}
	return false;
}

static bool
keeper_adopt_existing(KeeperDaemon *k, const Db *db)
{
	if (!pgctl_is_initialized(&k->pgctl))
	{
		log_error("initMode existing but \"%s\" holds no cluster", k->pgdata);
		return false;
	}
	return keeper_save_dbstate(k, db->uid, 0, false);
}

static bool
keeper_converge_role(KeeperDaemon *k, const Db *db)
{
	switch (db->spec.role)
	{
		case DB_ROLE_MASTER:
			if (pgctl_is_standby(&k->pgctl))
			{
				keeper_fsm_enter(k, KEEPER_STATE_PROMOTING, "cluster data says master");
				if (!keeper_promote(k, db))
					return false;
			}
			keeper_fsm_enter(k, KEEPER_STATE_MASTER, "master");
			return keeper_run_master(k, db);
		case DB_ROLE_STANDBY:
			if (!pgctl_is_standby(&k->pgctl))
			{
				keeper_fsm_enter(k, KEEPER_STATE_DEMOTED, "no longer master");
				keeper_stop_postgres(k);
				return false;
			}
			keeper_fsm_enter(k, KEEPER_STATE_STANDBY, "standby");
			return keeper_run_standby(k, db);
	}
	return false;
}

bool
keeper_converge(KeeperDaemon *k)
{
	const Keeper *me = NULL;
	const Db   *db = NULL;
	KeeperPlanInput in;
	KeeperPlan	plan;

	memset(&in, 0, sizeof(in));
	in.has_cluster_data = k->has_cd;
	if (k->has_cd)
	{
		me = cluster_data_find_keeper(&k->cd, k->uid);
		db = cluster_data_find_db_by_keeper(&k->cd, k->uid);
	}
	in.keeper_registered = me != NULL;
	in.boot_uuid_matches = me != NULL && strcmp(me->status.boot_uuid, k->boot_uuid) == 0;
	in.db = db;
	in.local_db_uid = k->dbstate.uid;
	in.local_initializing = k->dbstate.initializing;
	in.pg_initialized = pgctl_is_initialized(&k->pgctl);
	in.local_is_standby = pgctl_is_standby(&k->pgctl);
	plan = keeper_plan_decide(&in);
	keeper_fsm_enter(k, keeper_action_state(plan.action), plan.reason);

	switch (plan.action)
	{
		case KEEPER_ACTION_WAIT:
			return false;
		case KEEPER_ACTION_FENCE:
			keeper_stop_postgres(k);
			return true;
		case KEEPER_ACTION_LOST_DATA:
		case KEEPER_ACTION_UNSUPPORTED:
			keeper_stop_postgres(k);
			return false;
		case KEEPER_ACTION_DEMOTE:
			/* I5: stop writes first; the sentinel then assigns a resync db */
			keeper_stop_postgres(k);
			return false;
		case KEEPER_ACTION_INIT_NEW:
			if (!keeper_init_new(k, db))
				return false;
			break;
		case KEEPER_ACTION_RESYNC:
			if (!keeper_resync(k, db))
				return false;
			break;
		case KEEPER_ACTION_ADOPT_EXISTING:
			if (!keeper_adopt_existing(k, db))
				return false;
			break;
		case KEEPER_ACTION_PROMOTE:
		case KEEPER_ACTION_RUN_MASTER:
		case KEEPER_ACTION_RUN_STANDBY:
			break;
	}
	if (!keeper_converge_role(k, db))
		return false;
	/* the acknowledgement: only after everything above succeeded */
	if (k->dbstate.generation != db->generation || k->dbstate.initializing)
	{
		if (!keeper_save_dbstate(k, db->uid, db->generation, false))
			return false;
		log_info("converged db=%s generation=%lld", db->uid, (long long) db->generation);
	}
	return true;
}

void
keeper_probe_postgres(KeeperDaemon *k)
{
	PgConnParams p = keeper_local_params(k);
	PGconn	   *conn;

	pg_local_status_finish(&k->pgstatus);
	k->pg_healthy = false;
	k->pg_running = pgctl_is_running(&k->pgctl);
	if (!k->pg_running)
		return;
	if ((conn = pgsql_connect(&p, true)) == NULL)
		return;
	k->pg_healthy = pgsql_get_status(conn, &k->pgstatus) && !k->pgstatus.file_settings_error;
	if (k->pg_healthy && k->pgstatus.in_recovery)
	{
		PgConnParams rp = p;
		uint32_t	tli;
		uint64_t	pos;
		char		sysid[CLUSTER_SYSTEM_ID_SIZE];

		/*
		 * A standby's timeline comes from IDENTIFY_SYSTEM (the timeline of the WAL it has replayed): a stale
		 * timeline next to a replay position already on the next one would look like a fork to the sentinel.
		 */
		rp.user = k->cfg.pg_repl_username;
		rp.password = k->repl_password[0] ? k->repl_password : NULL;
		rp.replication = true;
		if (!pgsql_identify_system(&rp, &tli, &pos, sysid, sizeof(sysid)))
			k->pg_healthy = false;	/* no trustworthy timeline: not electable this round */
		else
		{
			if (tli != k->pgstatus.timeline_id &&
				!pgsql_get_history(conn, tli, &k->pgstatus.history))
				k->pg_healthy = false;
			/* the replay position stays what is reported: IDENTIFY_SYSTEM's timeline is the replay timeline */
			k->pgstatus.timeline_id = tli;
		}
	}
	PQfinish(conn);
}
