/*
 * src/keeper/main.c
 *    bulwark-keeper: flags, privileges (refuse root, or drop to --os-user), the data-dir lock, local files,
 *    signals and the main loop: read the cluster data (every sleepInterval, and at once when the watch on it
 *    fires), converge, probe PostgreSQL, publish the report, refresh the HTTP snapshot.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_watch.h"
#include "cluster_json.h"
#include "exitcode.h"
#include "keeper/keeper.h"
#include "keeper/pgconf.h"
#include "log.h"
#include "runprog.h"
#include "timestamp.h"

static volatile sig_atomic_t keeper_stop_requested = 0;

static void
keeper_on_signal(int sig)
{
	(void) sig;
	keeper_stop_requested = 1;
}

static void keeper_usage_error(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

static void
keeper_usage_error(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "bulwark-keeper: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see bulwark-keeper --help)\n");
	exit(EXIT_CODE_BAD_ARGS);
}

static bool
keeper_auth_method_valid(const char *m)
{
	return strcmp(m, "scram-sha-256") == 0 || strcmp(m, "md5") == 0 || strcmp(m, "trust") == 0;
}

static bool
keeper_parse_bool(const char *flag, const char *v)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0)
		return true;
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0)
		return false;
	fprintf(stderr, "bulwark-keeper: --%s: expected true or false, got \"%s\"\n", flag, v);
	exit(EXIT_CODE_BAD_ARGS);
}

static void
keeper_read_secret(const char *flag, const char *path, char *out, size_t outlen)
{
	char		err[512];

	out[0] = '\0';
	if (path == NULL)
		return;
	if (!read_secret_file(path, out, outlen, err, sizeof(err)))
	{
		fprintf(stderr, "bulwark-keeper: --%s: %s\n", flag, err);
		exit(EXIT_CODE_BAD_ARGS);
	}
}

/* A program the loop ran has ended: the loop moves on, /health counts it as a pass (runprog.h). */
static void
keeper_note_program_end(void *ctx)
{
	KeeperDaemon *k = ctx;

	pthread_mutex_lock(&k->lock);
	k->snap.last_pass_ms = timestamp_now_ms();
	pthread_mutex_unlock(&k->lock);
}

static uid_t chown_uid;
static gid_t chown_gid;

static int
keeper_chown_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void) flag;
	(void) ftw;
	if ((sb->st_uid != chown_uid || sb->st_gid != chown_gid) && lchown(path, chown_uid, chown_gid) < 0)
	{
		log_error("could not change the owner of \"%s\": %m", path);
		return -1;
	}
	return 0;
}

/*
 * Root: PostgreSQL refuses it, so the keeper either refuses too or becomes --os-user, after giving it the data
 * dir, and checks that root cannot be regained.
 */
static void
keeper_drop_privileges(KeeperDaemon *k)
{
	struct passwd *pw;

	if (geteuid() != 0)
	{
		if (k->cfg.os_user)
		{
			pw = getpwnam(k->cfg.os_user);
			if (pw == NULL || pw->pw_uid != geteuid())
				keeper_usage_error("--os-user %s: the keeper already runs as another user; --os-user is for a keeper started as root", k->cfg.os_user);
		}
		return;
	}
	if (k->cfg.os_user == NULL)
	{
		fprintf(stderr, "bulwark-keeper: refusing to run as root: PostgreSQL cannot run as root. Start the keeper as "
				"the PostgreSQL OS user (e.g. runuser -u postgres -- bulwark-keeper ...), or pass --os-user postgres "
				"to let it drop to that user\n");
		exit(EXIT_CODE_BAD_ARGS);
	}
	errno = 0;
	if ((pw = getpwnam(k->cfg.os_user)) == NULL)
		keeper_usage_error("--os-user: no such user \"%s\"", k->cfg.os_user);
	if (pw->pw_uid == 0)
		keeper_usage_error("--os-user: \"%s\" is root; PostgreSQL cannot run as root", k->cfg.os_user);
	if (mkdir(k->data_dir, 0700) < 0 && errno != EEXIST)
	{
		log_fatal("could not create the data dir \"%s\": %m", k->data_dir);
		exit(EXIT_CODE_INTERNAL);
	}
	chown_uid = pw->pw_uid;
	chown_gid = pw->pw_gid;
	if (nftw(k->data_dir, keeper_chown_cb, 32, FTW_PHYS) != 0)
		exit(EXIT_CODE_INTERNAL);
	if (setgid(pw->pw_gid) < 0 || initgroups(pw->pw_name, pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
	{
		log_fatal("could not become user \"%s\": %m", pw->pw_name);
		exit(EXIT_CODE_INTERNAL);
	}
	if (setuid(0) == 0 || geteuid() != pw->pw_uid || getuid() != pw->pw_uid || getegid() != pw->pw_gid)
	{
		log_fatal("privileges were not dropped to user \"%s\"", pw->pw_name);
		exit(EXIT_CODE_INTERNAL);
	}
	setenv("HOME", pw->pw_dir, 1);
	setenv("USER", pw->pw_name, 1);
	log_info("running as user %s uid=%d", pw->pw_name, (int) pw->pw_uid);
}

static int
keeper_lock_data_dir(const KeeperDaemon *k)
{
	char		path[KEEPER_PATH_SIZE + 16];
	int			fd;

	snprintf(path, sizeof(path), "%s/lock", k->data_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
	{
		fprintf(stderr, "bulwark-keeper: could not open the lock file \"%s\": %s\n", path, strerror(errno));
		exit(EXIT_CODE_INTERNAL);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
	{
		if (errno == EWOULDBLOCK)
			fprintf(stderr, "bulwark-keeper: another keeper is already running on data dir \"%s\" (it holds \"%s\"); "
					"stop it first, or use another --data-dir\n", k->data_dir, path);
		else
			fprintf(stderr, "bulwark-keeper: could not lock \"%s\": %s\n", path, strerror(errno));
		exit(EXIT_CODE_BAD_ARGS);
	}
	return fd;
}

static void
keeper_write_passfile(KeeperDaemon *k)
{
	Buf			b;
	bool		ok = true;

	buf_init(&b, 16384);
	if (k->su_password[0])
		ok = ok && buf_append_str(&b, "*:*:*:") && pgconf_pgpass_escape(&b, k->cfg.pg_su_username) &&
			buf_append_str(&b, ":") && pgconf_pgpass_escape(&b, k->su_password) && buf_append_str(&b, "\n");
	if (k->repl_password[0])
		ok = ok && buf_append_str(&b, "*:*:*:") && pgconf_pgpass_escape(&b, k->cfg.pg_repl_username) &&
			buf_append_str(&b, ":") && pgconf_pgpass_escape(&b, k->repl_password) && buf_append_str(&b, "\n");
	if (!ok || !keeper_file_write_atomic(k->passfile, buf_cstr(&b), b.len, 0600))
	{
		buf_finish(&b);
		exit(EXIT_CODE_INTERNAL);
	}
	buf_finish(&b);
}

static void
keeper_setup_identity(KeeperDaemon *k)
{
	bool		found;

	if (!keeper_state_read(k->keeperstate_path, &k->kstate, &found))
		exit(EXIT_CODE_INTERNAL);
	if (k->cfg.uid)
	{
		if (found && k->kstate.uid[0] && strcmp(k->kstate.uid, k->cfg.uid) != 0)
		{
			fprintf(stderr, "bulwark-keeper: --uid %s does not match the uid \"%s\" saved in \"%s\"\n", k->cfg.uid,
					k->kstate.uid, k->keeperstate_path);
			exit(EXIT_CODE_BAD_ARGS);
		}
		snprintf(k->kstate.uid, sizeof(k->kstate.uid), "%s", k->cfg.uid);
	}
	else if (!found || k->kstate.uid[0] == '\0')
	{
		if (!uid_generate(k->kstate.uid, sizeof(k->kstate.uid)))
			exit(EXIT_CODE_INTERNAL);
	}
	snprintf(k->uid, sizeof(k->uid), "%s", k->kstate.uid);
	if (!keeper_state_write(k->keeperstate_path, &k->kstate))
		exit(EXIT_CODE_INTERNAL);
}

/* Reads the cluster data; true when a valid document was read now (k->cd replaced). */
static bool
keeper_read_cluster_data(KeeperDaemon *k, int64_t *revision)
{
	StoreKV		kv = {0};
	StoreError	err = {0};
	bool		found = false;
	ClusterData cd;
	char		msg[1024];
	bool		ok;

	*revision = 0;
	k->last_read_sent_ms = timestamp_monotonic_ms();
	keeper_fence_observe_read_start(k, k->last_read_sent_ms);
	ok = store_get(k->store, k->clusterdata_key, &kv, &found, revision, &err);
	keeper_fence_observe_read_end(k, ok);
	if (!ok)
	{
		if (!k->store_down)
			log_warn("store unreachable, leaving postgres as it is: %s: %s", store_error_kind_to_string(err.kind),
					 err.message);
		k->store_down = true;
		return false;
	}
	if (k->store_down)
		log_info("store reachable again");
	k->store_down = false;
	if (!found)
	{
		if (!k->cd_invalid_logged)
			log_info("no cluster data yet key=%s", k->clusterdata_key);
		k->cd_invalid_logged = true;
		store_kv_finish(&kv);
		return false;
	}
	if (kv.mod_revision == k->cd_mod_revision && k->has_cd)
	{
		store_kv_finish(&kv);
		return true;
	}
	if (!cluster_data_decode(kv.value, kv.value_len, &cd, msg, sizeof(msg)))
	{
		if (kv.mod_revision != k->cd_mod_revision)
			log_error("ignoring undecodable cluster data, keeping the last good one mod_revision=%lld: %s",
					  (long long) kv.mod_revision, msg);
		k->cd_mod_revision = kv.mod_revision;
		store_kv_finish(&kv);
		return false;
	}
	cluster_data_finish(&k->cd);
	k->cd = cd;
	k->has_cd = true;
	k->cd_invalid_logged = false;
	k->cd_mod_revision = kv.mod_revision;
	store_kv_finish(&kv);
	if (strcmp(k->kstate.cluster_uid, k->cd.cluster.uid) != 0)
	{
		snprintf(k->kstate.cluster_uid, sizeof(k->kstate.cluster_uid), "%s", k->cd.cluster.uid);
		if (!keeper_state_write(k->keeperstate_path, &k->kstate))
			log_error("could not save the cluster uid");
	}
	return true;
}

static void
keeper_sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	if (ms > 0)
		nanosleep(&ts, NULL);
}

/* Waits until deadline (monotonic ms) or until the cluster data changes. */
static void
keeper_wait(KeeperDaemon *k, int64_t deadline, int64_t revision)
{
	StoreError	err = {0};

	if (k->watch == NULL && revision > 0)
	{
		if (!store_watch_new(k->store, k->clusterdata_key, revision + 1, 0, &k->watch, &err))
			k->watch = NULL;
	}
	while (!keeper_stop_requested)
	{
		int64_t		left;
		StoreEvent *events = NULL;
		size_t		n = 0;

		left = deadline - timestamp_monotonic_ms();
		if (left <= 0)
			return;
		if (left > 250)
			left = 250;			/* so that a stop signal is seen quickly */
		if (k->watch == NULL)
		{
			keeper_sleep_ms(left);
			continue;
		}
		if (!store_watch_next(k->watch, (int) left, &events, &n, &err))
		{
			store_watch_free(k->watch);
			k->watch = NULL;
			if (err.kind == STORE_ERR_COMPACTED)
				return;			/* re-read now, a new watch follows */
			continue;
		}
		store_events_free(events, n);
		if (n > 0)
			return;
	}
}

/* True when the last cluster data names our DB master, its role is confirmed now and PostgreSQL is stopped. */
static bool
keeper_master_restartable(KeeperDaemon *k)
{
	const Db   *master = cluster_data_master_db(&k->cd);
	int64_t		late;

	return master != NULL && strcmp(master->spec.keeper_uid, k->uid) == 0 &&
		strcmp(master->uid, k->dbstate.uid) == 0 && k->dbstate.phase == DB_PHASE_READY &&
		!pgctl_is_running(&k->pgctl) && keeper_fence_master_allowed(k, &late);
}

/*
 * keeper_http_address: where the other keepers and the proxies reach our HTTP endpoints (the failsafe):
 * --http-advertise-address, else the listen address, whose wildcard host (0.0.0.0, ::) is replaced by the
 * advertised PostgreSQL host. "" without an HTTP server.
 */
static void
keeper_http_address(KeeperDaemon *k)
{
	const char *listen = k->cfg.http_listen_address;
	const char *pg_host = k->cfg.pg_advertise_address ? k->cfg.pg_advertise_address : k->cfg.pg_listen_address;
	const char *colon;
	char		host[CLUSTER_HOST_SIZE];

	k->http_address[0] = '\0';
	if (k->cfg.http_advertise_address != NULL)
	{
		snprintf(k->http_address, sizeof(k->http_address), "%s", k->cfg.http_advertise_address);
		return;
	}
	if (listen == NULL || k->http == NULL || (colon = strrchr(listen, ':')) == NULL)
		return;
	snprintf(host, sizeof(host), "%.*s", (int) (colon - listen), listen);
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0 || strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "%s", pg_host);
	snprintf(k->http_address, sizeof(k->http_address), "%s:%d", host, http_server_port(k->http));
}

int
main(int argc, char **argv)
{
	static KeeperDaemon keeper;
	KeeperDaemon *k = &keeper;
	const char *can_be_master = "true";
	const char *can_be_sync = "true";
	OptDef		table[] = {
		{"uid", 0, OPT_TYPE_STRING, &k->cfg.uid, "UID", "keeper uid ([a-z0-9_]+); default: saved or random"},
		{"data-dir", 0, OPT_TYPE_STRING, &k->cfg.data_dir, "DIR", "keeper data dir (required); PGDATA is DIR/postgres"},
		{"pg-listen-address", 0, OPT_TYPE_STRING, &k->cfg.pg_listen_address, "ADDR", "PostgreSQL listen address (required)"},
		{"pg-port", 0, OPT_TYPE_INT, &k->cfg.pg_port, "PORT", "PostgreSQL port"},
		{"pg-advertise-address", 0, OPT_TYPE_STRING, &k->cfg.pg_advertise_address, "ADDR", "address the others use (default: listen address)"},
		{"pg-advertise-port", 0, OPT_TYPE_INT, &k->cfg.pg_advertise_port, "PORT", "port the others use (default: --pg-port)"},
		{"pg-bin-path", 0, OPT_TYPE_STRING, &k->cfg.pg_bin_path, "DIR", "PostgreSQL binaries"},
		{"pg-su-username", 0, OPT_TYPE_STRING, &k->cfg.pg_su_username, "NAME", "superuser name"},
		{"pg-su-password-file", 0, OPT_TYPE_STRING, &k->cfg.pg_su_password_file, "FILE", "superuser password file"},
		{"pg-repl-username", 0, OPT_TYPE_STRING, &k->cfg.pg_repl_username, "NAME", "replication user name (required)"},
		{"pg-repl-password-file", 0, OPT_TYPE_STRING, &k->cfg.pg_repl_password_file, "FILE", "replication password file"},
		{"pg-su-auth-method", 0, OPT_TYPE_STRING, &k->cfg.pg_su_auth_method, "METHOD", "scram-sha-256, md5 or trust"},
		{"pg-repl-auth-method", 0, OPT_TYPE_STRING, &k->cfg.pg_repl_auth_method, "METHOD", "scram-sha-256, md5 or trust"},
		{"can-be-master", 0, OPT_TYPE_STRING, &can_be_master, "BOOL", "may be elected master"},
		{"can-be-synchronous-replica", 0, OPT_TYPE_STRING, &can_be_sync, "BOOL", "may be a synchronous standby"},
		{"http-listen-address", 0, OPT_TYPE_STRING, &k->cfg.http_listen_address, "HOST:PORT", "HTTP /health, /metrics, /primary, /replica, /read-only"},
		{"os-user", 0, OPT_TYPE_STRING, &k->cfg.os_user, "NAME", "started as root: drop to this user"},
		{"http-advertise-address", 0, OPT_TYPE_STRING, &k->cfg.http_advertise_address, "HOST:PORT", "where other keepers and the proxies reach the HTTP endpoints (default: the listen address, with --pg-advertise-address for a wildcard host)"},
		{"recovery-stall-timeout", 0, OPT_TYPE_DURATION, &k->cfg.recovery_stall_ms, "DURATION", "a standby that makes no recovery progress this long while its master answers is resynced (default 60s)"},
		OPT_END,
	};
	const OptDef *tables[3];
	int			optind_ = 1;
	bool		help = false;
	char		err[1024];
	int			lock_fd;
	int64_t		revision = 0;
	struct sigaction sa;

	log_set_program("bulwark-keeper");
	k->cfg.pg_port = 5432;
	k->cfg.pg_bin_path = "/usr/lib/postgresql/15/bin";
	k->cfg.pg_su_auth_method = "scram-sha-256";
	k->cfg.pg_repl_auth_method = "scram-sha-256";
	k->cfg.recovery_stall_ms = 60000;
	store_options_init(&k->store_opts);
	tables[0] = table;
	tables[1] = k->store_opts.table;
	tables[2] = NULL;
	if (!opts_parse(argc, argv, &optind_, tables, false, NULL, 0, NULL, &help, err, sizeof(err)))
		keeper_usage_error("%s", err);
	if (help)
	{
		printf("bulwark-keeper: converges one PostgreSQL instance to the role the cluster data assigns it\n\n");
		opts_print_help(tables);
		return EXIT_CODE_OK;
	}

	/* validation: every error names its flag and exits 2 */
	if (!store_options_apply_log_level(&k->store_opts, err, sizeof(err)) ||
		!store_options_validate(&k->store_opts, err, sizeof(err)))
		keeper_usage_error("%s", err);
	if (k->cfg.data_dir == NULL || k->cfg.data_dir[0] != '/')
		keeper_usage_error("--data-dir: an absolute path is required");
	if (strlen(k->cfg.data_dir) > KEEPER_DATA_DIR_MAX)
		keeper_usage_error("--data-dir: path too long \"%s\"", k->cfg.data_dir);
	if (k->cfg.uid && !uid_is_valid(k->cfg.uid))
		keeper_usage_error("--uid: \"%s\" must match ^[a-z0-9_]+$ (at most 63 characters)", k->cfg.uid);
	if (k->cfg.pg_listen_address == NULL || k->cfg.pg_listen_address[0] == '\0')
		keeper_usage_error("--pg-listen-address: required");
	if (k->cfg.pg_port < 1 || k->cfg.pg_port > 65535)
		keeper_usage_error("--pg-port: must be between 1 and 65535");
	if (k->cfg.recovery_stall_ms < 1000)
		keeper_usage_error("--recovery-stall-timeout: must be at least 1s");
	if (k->cfg.pg_advertise_port < 0 || k->cfg.pg_advertise_port > 65535)
		keeper_usage_error("--pg-advertise-port: must be between 1 and 65535");
	if (k->cfg.pg_repl_username == NULL || k->cfg.pg_repl_username[0] == '\0')
		keeper_usage_error("--pg-repl-username: required");
	if (!keeper_auth_method_valid(k->cfg.pg_su_auth_method))
		keeper_usage_error("--pg-su-auth-method: \"%s\" is not scram-sha-256, md5 or trust", k->cfg.pg_su_auth_method);
	if (!keeper_auth_method_valid(k->cfg.pg_repl_auth_method))
		keeper_usage_error("--pg-repl-auth-method: \"%s\" is not scram-sha-256, md5 or trust", k->cfg.pg_repl_auth_method);
	if (strcmp(k->cfg.pg_su_auth_method, "trust") != 0 && k->cfg.pg_su_password_file == NULL)
		keeper_usage_error("--pg-su-password-file: required with --pg-su-auth-method %s", k->cfg.pg_su_auth_method);
	if (strcmp(k->cfg.pg_repl_auth_method, "trust") != 0 && k->cfg.pg_repl_password_file == NULL)
		keeper_usage_error("--pg-repl-password-file: required with --pg-repl-auth-method %s", k->cfg.pg_repl_auth_method);
	k->cfg.can_be_master = keeper_parse_bool("can-be-master", can_be_master);
	k->cfg.can_be_synchronous_replica = keeper_parse_bool("can-be-synchronous-replica", can_be_sync);
	if (k->cfg.pg_su_username == NULL)
	{
		struct passwd *pw = getpwuid(geteuid());

		k->cfg.pg_su_username = k->cfg.os_user ? k->cfg.os_user : (pw ? pw->pw_name : "postgres");
	}
	if (strcmp(k->cfg.pg_su_username, k->cfg.pg_repl_username) == 0 &&
		strcmp(k->cfg.pg_su_auth_method, k->cfg.pg_repl_auth_method) != 0)
		keeper_usage_error("--pg-repl-auth-method: the superuser and replication user are the same (%s), so their auth methods must match", k->cfg.pg_su_username);

	snprintf(k->data_dir, sizeof(k->data_dir), "%s", k->cfg.data_dir);
	/* secrets are read before dropping privileges: the files may be root's */
	keeper_read_secret("pg-su-password-file", k->cfg.pg_su_password_file, k->su_password, sizeof(k->su_password));
	keeper_read_secret("pg-repl-password-file", k->cfg.pg_repl_password_file, k->repl_password,
					   sizeof(k->repl_password));
	if (strcmp(k->cfg.pg_su_username, k->cfg.pg_repl_username) == 0 && strcmp(k->su_password, k->repl_password) != 0)
		keeper_usage_error("--pg-repl-password-file: the superuser and replication user are the same (%s), so their passwords must match", k->cfg.pg_su_username);

	keeper_drop_privileges(k);

	if (mkdir(k->data_dir, 0700) < 0 && errno != EEXIST)
	{
		fprintf(stderr, "bulwark-keeper: could not create the data dir \"%s\": %s\n", k->data_dir, strerror(errno));
		return EXIT_CODE_INTERNAL;
	}
	lock_fd = keeper_lock_data_dir(k);
	snprintf(k->pgdata, sizeof(k->pgdata), "%.900s/postgres", k->data_dir);
	snprintf(k->passfile, sizeof(k->passfile), "%.900s/pgpass", k->data_dir);
	snprintf(k->log_file, sizeof(k->log_file), "%.900s/postgres.log", k->data_dir);
	snprintf(k->keeperstate_path, sizeof(k->keeperstate_path), "%.900s/keeperstate", k->data_dir);
	snprintf(k->dbstate_path, sizeof(k->dbstate_path), "%.900s/dbstate", k->data_dir);
	snprintf(k->old_pgdata, sizeof(k->old_pgdata), "%.900s/postgres.old", k->data_dir);
	keeper_setup_identity(k);
	/* the socket path (dir + "/.s.PGSQL.NNNNN") must fit in sun_path (108 bytes with the NUL) */
	snprintf(k->socket_dir, sizeof(k->socket_dir), "%.900s/run", k->data_dir);
	if (strlen(k->socket_dir) + strlen("/.s.PGSQL.65535") > 107)
		snprintf(k->socket_dir, sizeof(k->socket_dir), "/tmp/bulwark-keeper-%.63s-%d", k->uid, (int) geteuid());
	if (mkdir(k->socket_dir, 0700) < 0 && errno != EEXIST)
	{
		fprintf(stderr, "bulwark-keeper: could not create the socket dir \"%s\": %s\n", k->socket_dir, strerror(errno));
		return EXIT_CODE_INTERNAL;
	}
	keeper_write_passfile(k);
	k->pgctl.bin_path = k->cfg.pg_bin_path;
	k->pgctl.pgdata = k->pgdata;
	k->pgctl.log_file = k->log_file;
	k->pgctl.passfile = k->passfile;
	k->pgctl.socket_dir = k->socket_dir;
	k->pgctl.port = (int) k->cfg.pg_port;
	k->start_backoff = (KeeperBackoff) {.min_ms = 1000, .max_ms = 30000};
	k->init_backoff = (KeeperBackoff) {.min_ms = 2000, .max_ms = 60000};
	k->resync_backoff = (KeeperBackoff) {.min_ms = 2000, .max_ms = 120000};
	if (!uid_generate_uuid(k->boot_uuid, sizeof(k->boot_uuid)))
		return EXIT_CODE_INTERNAL;
	if (!pgctl_version(&k->pgctl, &k->pg_version))
	{
		fprintf(stderr, "bulwark-keeper: --pg-bin-path: no usable PostgreSQL in \"%s\"\n", k->cfg.pg_bin_path);
		return EXIT_CODE_BAD_ARGS;
	}
	store_options_key(&k->store_opts, "clusterdata", k->clusterdata_key, sizeof(k->clusterdata_key));
	{
		char		rel[UID_SIZE + 16];

		snprintf(rel, sizeof(rel), "keepers/%.63s", k->uid);
		store_options_key(&k->store_opts, rel, k->report_key, sizeof(k->report_key));
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return EXIT_CODE_INTERNAL;
	if (!store_options_open(&k->store_opts, &k->store, err, sizeof(err)))
		keeper_usage_error("%s", err);
	cluster_data_init(&k->cd);
	pg_local_status_init(&k->pgstatus);
	pthread_mutex_init(&k->lock, NULL);
	k->state = KEEPER_STATE_STARTING;
	/* /health counts from the start of the loop: its first pass may be a long base backup (keeper_http.c) */
	k->snap.last_pass_ms = timestamp_now_ms();
	program_set_end_hook(keeper_note_program_end, k);
	if (!keeper_http_start(k, err, sizeof(err)))
		keeper_usage_error("--http-listen-address: %s", err);
	keeper_http_address(k);
	if (!keeper_reporter_start(k, err, sizeof(err)))
		keeper_usage_error("%s", err);
	if (!keeper_fence_start(k, err, sizeof(err)))
		keeper_usage_error("%s", err);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = keeper_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("keeper started uid=%s boot_uuid=%s data_dir=%s postgres=%d.%d", k->uid, k->boot_uuid, k->data_dir,
			 k->pg_version.major, k->pg_version.minor);

	while (!keeper_stop_requested)
	{
		int64_t		start = timestamp_monotonic_ms();
		bool		fresh;
		bool		found;
		DbLocalState found_state;

		fresh = keeper_read_cluster_data(k, &revision);
		if (!db_state_read(k->dbstate_path, &found_state, &found))
		{
			/*
			 * Unreadable (EMFILE, EIO, a damaged file) is not "no DB here", which would make a healthy master
			 * look like lost data: keep what we knew and act on nothing until it can be read again.
			 */
			keeper_problem_set(k, "cannot read the local state file %s: acting on nothing until it can be read",
							   k->dbstate_path);
			fresh = false;
		}
		else
			k->dbstate = found_state;
		if (fresh)
		{
			keeper_fence_observe_read(k, k->last_read_sent_ms);
			pthread_mutex_lock(&k->lock);
			k->snap.last_store_read_ms = timestamp_now_ms();
			pthread_mutex_unlock(&k->lock);
			/* only on cluster data read now: an unreachable store leaves PostgreSQL as it is */
			if (keeper_converge(k))
			{
				pthread_mutex_lock(&k->lock);
				k->snap.last_converged_ms = timestamp_now_ms();
				pthread_mutex_unlock(&k->lock);
			}
		}
		else if (k->has_cd && keeper_master_restartable(k))
		{
			/*
			 * The store is unreachable, but the failsafe's promises confirm the master role (fence.c): bring back a
			 * PostgreSQL that the watchdog stopped while the role was unconfirmed. Nothing else is decided on an old
			 * cluster data.
			 */
			log_info("the failsafe confirms the master role while the store is unreachable: running postgres as master");
			(void) keeper_converge(k);
		}
		keeper_probe_postgres(k);
		keeper_report_update(k, fresh);
		keeper_snapshot_update(k);
		keeper_wait(k, start + keeper_sleep_interval_ms(k), revision);
	}

	log_info("stopping on signal");
	keeper_stop_postgres(k);
	keeper_fence_stop(k);
	keeper_reporter_stop(k);
	http_server_stop(k->http);
	store_watch_free(k->watch);
	store_free(k->store);
	cluster_data_finish(&k->cd);
	pg_local_status_finish(&k->pgstatus);
	curl_global_cleanup();
	close(lock_fd);
	return EXIT_CODE_OK;
}
