/*
 * src/keeper/pgctl.c
 *    Running initdb, pg_ctl, pg_basebackup and pg_rewind; reading PGDATA. See pgctl.h.
 */
#include "keeper/pgctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "runprog.h"

/* Deadlines for the quick pg_ctl actions; start and promote take the caller's. */
#define PGCTL_QUICK_TIMEOUT_MS 30000

static void
pgctl_bin(const PgCtl *pg, const char *prog, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", pg->bin_path, prog);
}

/*
 * Reads a PostgreSQL lock file (postmaster.pid, .s.PGSQL.<port>.lock): its PID (line 1) and the data directory
 * it names (line 2). False when it does not exist or does not hold a PID.
 */
static bool
pgctl_read_lock_file(const char *path, long *pid, char *datadir, size_t datadirlen)
{
	char		line[PATH_MAX];
	FILE	   *f;
	char	   *end;

	datadir[0] = '\0';
	if ((f = fopen(path, "re")) == NULL)
		return false;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	errno = 0;
	*pid = strtol(line, &end, 10);
	if (errno != 0 || end == line || *pid <= 0 || *pid > INT_MAX)
	{
		fclose(f);
		return false;
	}
	if (fgets(line, sizeof(line), f) != NULL)
	{
		line[strcspn(line, "\n")] = '\0';
		snprintf(datadir, datadirlen, "%s", line);
	}
	fclose(f);
	return true;
}

/*
 * True when pid is alive and is a postmaster of datadir: a postmaster's working directory is its data
 * directory. Another user's process (EPERM) is not one: PostgreSQL runs only as the owner of its data directory,
 * and PostgreSQL itself counts such a PID as stale.
 */
static bool
pgctl_pid_is_postmaster_of(long pid, const char *datadir)
{
	char		link[64];
	char		cwd[PATH_MAX];
	char		want[PATH_MAX];
	ssize_t		n;

	if (kill((pid_t) pid, 0) < 0)
		return false;
	snprintf(link, sizeof(link), "/proc/%ld/cwd", pid);
	n = readlink(link, cwd, sizeof(cwd) - 1);
	if (n < 0)
		return errno != ENOENT;	/* alive but not inspectable: assume it is, rather than start a second server */
	cwd[n] = '\0';
	if (datadir[0] == '\0' || realpath(datadir, want) == NULL)
		return false;
	return strcmp(cwd, want) == 0;
}

/*
 * Runs argv (program_run logs the command); logs the output on failure and keeps the failure's last line in
 * pg->failure.
 */
static bool
pgctl_run(PgCtl *pg, const char *const argv[], int64_t timeout_ms, ProgramResult *keep)
{
	char		err[1024];
	char		envpass[PATH_MAX + 16];
	const char *env[3] = {NULL, NULL, NULL};
	ProgramResult res;
	bool		ok;

	if (pg->passfile)
	{
		snprintf(envpass, sizeof(envpass), "PGPASSFILE=%s", pg->passfile);
		env[0] = envpass;
	}
	env[env[0] ? 1 : 0] = "PGCONNECT_TIMEOUT=5";
	pg->failure[0] = '\0';
	ok = program_run(argv, env, "/", timeout_ms, &res, err, sizeof(err));
	if (!ok)
	{
		log_error("%s; output: %s", err, buf_cstr(&res.output));
		snprintf(pg->failure, sizeof(pg->failure), "%.*s", (int) sizeof(pg->failure) - 1, err);
	}
	if (keep)
		*keep = res;
	else
		program_result_finish(&res);
	return ok;
}

bool
pgctl_version(PgCtl *pg, PgBinaryVersion *out)
{
	char		bin[PATH_MAX];
	const char *argv[] = {bin, "--version", NULL};
	ProgramResult res;
	const char *p;
	bool		ok;

	pgctl_bin(pg, "postgres", bin, sizeof(bin));
	if (!pgctl_run(pg, argv, PGCTL_QUICK_TIMEOUT_MS, &res))
	{
		program_result_finish(&res);
		return false;
	}
	/* "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)" */
	p = strstr(buf_cstr(&res.output), ") ");
	ok = p && sscanf(p + 2, "%d.%d", &out->major, &out->minor) >= 1;
	if (!ok)
		log_error("could not parse the version printed by \"%s\": %s", bin, buf_cstr(&res.output));
	program_result_finish(&res);
	return ok;
}

bool
pgctl_initdb(PgCtl *pg, const char *su_user, const char *pwfile, const NewConfig *nc)
{
	char		bin[PATH_MAX];
	char		user[256];
	char		pw[PATH_MAX + 16];
	char		locale[256];
	char		enc[128];
	const char *argv[16];
	int			n = 0;

	pgctl_bin(pg, "initdb", bin, sizeof(bin));
	snprintf(user, sizeof(user), "--username=%s", su_user);
	argv[n++] = bin;
	argv[n++] = "-D";
	argv[n++] = pg->pgdata;
	argv[n++] = user;
	/* the keeper writes pg_hba.conf itself before the first start; checksums make pg_rewind possible */
	argv[n++] = "--auth=trust";
	argv[n++] = "--data-checksums";
	snprintf(locale, sizeof(locale), "--locale=%s", nc && nc->locale ? nc->locale : "C.UTF-8");
	argv[n++] = locale;
	snprintf(enc, sizeof(enc), "--encoding=%s", nc && nc->encoding ? nc->encoding : "UTF8");
	argv[n++] = enc;
	if (pwfile)
	{
		snprintf(pw, sizeof(pw), "--pwfile=%s", pwfile);
		argv[n++] = pw;
	}
	argv[n] = NULL;
	return pgctl_run(pg, argv, 300000, NULL);
}

/*
 * A postmaster.pid or socket lock file whose PID is not a postmaster of the data directory it names: left by a
 * postmaster killed with SIGKILL, its PID reused since by another process (after a reboot or a container
 * restart, or simply on a busy host). PostgreSQL refuses to start over such a file when the PID is alive
 * ("lock file ... already exists"), so the keeper removes it. A file whose PID is a live postmaster of its data
 * directory is left alone: that server really holds the port or the data directory.
 */
static void
pgctl_clear_stale_locks(const PgCtl *pg)
{
	char		path[PATH_MAX];
	char		owner[PATH_MAX];
	long		pid;

	snprintf(path, sizeof(path), "%s/postmaster.pid", pg->pgdata);
	if (pgctl_read_lock_file(path, &pid, owner, sizeof(owner)) && !pgctl_pid_is_postmaster_of(pid, pg->pgdata))
	{
		log_warn("removing stale \"%s\": pid %ld is not a postmaster of this data directory", path, pid);
		if (unlink(path) < 0 && errno != ENOENT)
			log_error("could not remove \"%s\": %m", path);
	}
	if (pg->socket_dir == NULL || pg->port <= 0)
		return;
	snprintf(path, sizeof(path), "%s/.s.PGSQL.%d.lock", pg->socket_dir, pg->port);
	if (pgctl_read_lock_file(path, &pid, owner, sizeof(owner)) && !pgctl_pid_is_postmaster_of(pid, owner))
	{
		log_warn("removing stale socket lock file \"%s\": pid %ld is not a postmaster of \"%s\"", path, pid,
				 owner);
		if (unlink(path) < 0 && errno != ENOENT)
			log_error("could not remove \"%s\": %m", path);
	}
}

bool
pgctl_start(PgCtl *pg, int64_t timeout_ms, bool *ready)
{
	char		bin[PATH_MAX];
	char		secs[32];
	char		reason[PGCTL_FAILURE_SIZE];
	const char *argv[] = {bin, "start", "-D", pg->pgdata, "-l", pg->log_file, "-w", "-t", secs, NULL};
	int64_t		offset;

	*ready = false;
	pgctl_clear_stale_locks(pg);
	offset = pgctl_log_offset(pg);
	pgctl_bin(pg, "pg_ctl", bin, sizeof(bin));
	snprintf(secs, sizeof(secs), "%" PRId64, timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1);
	if (pgctl_run(pg, argv, timeout_ms + 5000, NULL))
	{
		*ready = true;
		return true;
	}
	if (pgctl_is_running(pg))
	{
		/* pg_ctl stopped waiting, the server goes on: a standby replaying toward consistency, a long recovery */
		log_info("postgres started but does not accept connections yet (recovering)");
		pg->failure[0] = '\0';
		return true;
	}
	pgctl_log_show(pg, offset, "postgres did not start");
	pgctl_log_reason(pg, offset, reason, sizeof(reason));
	if (reason[0])
		snprintf(pg->failure, sizeof(pg->failure), "postgres did not start: %.*s", PGCTL_FAILURE_SIZE - 32, reason);
	return false;
}

bool
pgctl_stop(PgCtl *pg, const char *mode, int64_t timeout_ms)
{
	char		bin[PATH_MAX];
	char		secs[32];
	const char *argv[] = {bin, "stop", "-D", pg->pgdata, "-m", mode, "-w", "-t", secs, NULL};

	int64_t		offset = pgctl_log_offset(pg);
	char		reason[PGCTL_FAILURE_SIZE];

	pg->failure[0] = '\0';
	if (!pgctl_is_running(pg))
		return true;
	pgctl_bin(pg, "pg_ctl", bin, sizeof(bin));
	snprintf(secs, sizeof(secs), "%" PRId64, timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1);
	if (pgctl_run(pg, argv, timeout_ms + 5000, NULL) || !pgctl_is_running(pg))
		return true;
	pgctl_log_show(pg, offset, "postgres did not stop");
	pgctl_log_reason(pg, offset, reason, sizeof(reason));
	if (reason[0])
		snprintf(pg->failure, sizeof(pg->failure), "postgres did not stop: %.*s", PGCTL_FAILURE_SIZE - 32, reason);
	return false;
}

bool
pgctl_reload(PgCtl *pg)
{
	char		bin[PATH_MAX];
	const char *argv[] = {bin, "reload", "-D", pg->pgdata, NULL};

	pgctl_bin(pg, "pg_ctl", bin, sizeof(bin));
	return pgctl_run(pg, argv, PGCTL_QUICK_TIMEOUT_MS, NULL);
}

bool
pgctl_promote(PgCtl *pg, int64_t timeout_ms)
{
	char		bin[PATH_MAX];
	char		secs[32];
	char		reason[PGCTL_FAILURE_SIZE];
	const char *argv[] = {bin, "promote", "-D", pg->pgdata, "-w", "-t", secs, NULL};
	int64_t		offset = pgctl_log_offset(pg);

	pgctl_bin(pg, "pg_ctl", bin, sizeof(bin));
	snprintf(secs, sizeof(secs), "%" PRId64, timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1);
	if (pgctl_run(pg, argv, timeout_ms + 5000, NULL))
		return true;
	pgctl_log_show(pg, offset, "postgres was not promoted");
	pgctl_log_reason(pg, offset, reason, sizeof(reason));
	if (reason[0])
		snprintf(pg->failure, sizeof(pg->failure), "postgres was not promoted: %.*s", PGCTL_FAILURE_SIZE - 32, reason);
	return false;
}

bool
pgctl_basebackup(PgCtl *pg, const char *host, int port, const char *user, const char *slot,
				 int64_t timeout_ms)
{
	char		bin[PATH_MAX];
	char		portbuf[16];
	char		slotarg[128];
	const char *argv[20];
	int			n = 0;

	pgctl_bin(pg, "pg_basebackup", bin, sizeof(bin));
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	argv[n++] = bin;
	argv[n++] = "-D";
	argv[n++] = pg->pgdata;
	argv[n++] = "-h";
	argv[n++] = host;
	argv[n++] = "-p";
	argv[n++] = portbuf;
	argv[n++] = "-U";
	argv[n++] = user;
	argv[n++] = "-X";
	argv[n++] = "stream";
	argv[n++] = "-c";
	argv[n++] = "fast";
	argv[n++] = "--no-password";
	if (slot)
	{
		snprintf(slotarg, sizeof(slotarg), "--slot=%s", slot);
		argv[n++] = slotarg;
	}
	argv[n] = NULL;
	return pgctl_run(pg, argv, timeout_ms, NULL);
}

bool
pgctl_rewind(PgCtl *pg, const char *source_conninfo, int64_t timeout_ms)
{
	char		bin[PATH_MAX];
	char		src[2048];
	const char *argv[] = {bin, "-D", pg->pgdata, src, NULL};

	pgctl_bin(pg, "pg_rewind", bin, sizeof(bin));
	snprintf(src, sizeof(src), "--source-server=%s", source_conninfo);
	return pgctl_run(pg, argv, timeout_ms, NULL);
}

static bool
pgctl_exists(const PgCtl *pg, const char *rel)
{
	char		path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", pg->pgdata, rel);
	return stat(path, &st) == 0;
}

bool
pgctl_is_initialized(const PgCtl *pg)
{
	return pgctl_exists(pg, "PG_VERSION") && pgctl_exists(pg, "global/pg_control");
}

bool
pgctl_is_standby(const PgCtl *pg)
{
	return pgctl_exists(pg, "standby.signal");
}

bool
pgctl_is_running(const PgCtl *pg)
{
	char		path[PATH_MAX];
	char		owner[PATH_MAX];
	long		pid;

	snprintf(path, sizeof(path), "%s/postmaster.pid", pg->pgdata);
	return pgctl_read_lock_file(path, &pid, owner, sizeof(owner)) && pgctl_pid_is_postmaster_of(pid, pg->pgdata);
}

bool
pgctl_request_fast_stop(const PgCtl *pg)
{
	char		path[PATH_MAX];
	char		owner[PATH_MAX];
	long		pid;

	snprintf(path, sizeof(path), "%s/postmaster.pid", pg->pgdata);
	if (!pgctl_read_lock_file(path, &pid, owner, sizeof(owner)) || !pgctl_pid_is_postmaster_of(pid, pg->pgdata))
		return false;
	return kill((pid_t) pid, SIGINT) == 0;
}

PgRunState
pgctl_run_state(const PgCtl *pg)
{
	char		path[PATH_MAX];
	char		line[128];
	FILE	   *f;
	int			n = 0;

	if (!pgctl_is_running(pg))
		return PG_RUN_STOPPED;
	/* postmaster.pid's 8th line is PM_STATUS: "starting", "stopping", "ready   " or "standby " */
	snprintf(path, sizeof(path), "%s/postmaster.pid", pg->pgdata);
	if ((f = fopen(path, "re")) == NULL)
		return PG_RUN_STARTING;
	while (fgets(line, sizeof(line), f) != NULL && ++n < 8)
		;
	fclose(f);
	if (n < 8)
		return PG_RUN_STARTING;
	if (strncmp(line, "ready", 5) == 0)
		return PG_RUN_READY;
	if (strncmp(line, "standby", 7) == 0)
		return PG_RUN_UP_NO_CONNECTIONS;
	if (strncmp(line, "stopping", 8) == 0)
		return PG_RUN_STOPPING;
	return PG_RUN_STARTING;
}

/* /proc/<pid>/<name> into buf, NUL-terminated (a cmdline's first word only); false when it cannot be read. */
static bool
read_proc_file(long pid, const char *name, char *buf, size_t size)
{
	char		path[64];
	ssize_t		n;
	int			fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", pid, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

void
pgctl_recovery_progress(const PgCtl *pg, char *out, size_t outlen)
{
	char		path[PATH_MAX];
	char		owner[PATH_MAX];
	long		pm;
	DIR		   *d;
	struct dirent *e;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/postmaster.pid", pg->pgdata);
	if (!pgctl_read_lock_file(path, &pm, owner, sizeof(owner)) || (d = opendir("/proc")) == NULL)
		return;
	while ((e = readdir(d)) != NULL && out[0] == '\0')
	{
		char		buf[512];
		char	   *end;
		long		pid = strtol(e->d_name, &end, 10);
		long		ppid = 0;
		const char *p;

		if (*end != '\0' || pid <= 0)
			continue;
		/* /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so parse after the last ')' */
		if (!read_proc_file(pid, "stat", buf, sizeof(buf)) || (p = strrchr(buf, ')')) == NULL ||
			sscanf(p + 1, " %*c %ld", &ppid) != 1 || ppid != pm)
			continue;
		/* the startup process's title: "postgres: [cluster: ]startup recovering <segment>[ waiting]" */
		if (!read_proc_file(pid, "cmdline", buf, sizeof(buf)))
			continue;
		if ((p = strstr(buf, "startup")) != NULL)
			snprintf(out, outlen, "%s", p);
	}
	closedir(d);
}

bool
pgctl_system_id(const PgCtl *pg, char *out, size_t outlen)
{
	char		path[PATH_MAX];
	uint64_t	id;
	int			fd;
	ssize_t		n;

	/* the system identifier is the first field of ControlFileData, in native byte order */
	snprintf(path, sizeof(path), "%s/global/pg_control", pg->pgdata);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, &id, sizeof(id));
	close(fd);
	if (n != (ssize_t) sizeof(id))
		return false;
	snprintf(out, outlen, "%" PRIu64, id);
	return true;
}

/*
 * PostgreSQL 15's ControlFileData starts: uint64 system_identifier, uint32 pg_control_version, uint32
 * catalog_version_no, DBState state (int), pg_time_t time (int64, 8-aligned), XLogRecPtr checkPoint.
 */
#define PG_CONTROL_VERSION_15 1300
#define PG_CONTROL_OFF_VERSION 8
#define PG_CONTROL_OFF_STATE 16
#define PG_CONTROL_OFF_CHECKPOINT 32

/* The state and the checkpoint LSN from a PostgreSQL 15 global/pg_control; false when unreadable or another version. */
static bool
pgctl_read_control(const PgCtl *pg, PgControlState *state, uint64_t *checkpoint)
{
	char		path[PATH_MAX];
	unsigned char buf[PG_CONTROL_OFF_CHECKPOINT + 8];
	uint32_t	version;
	int32_t		st;
	int			fd;
	ssize_t		n;

	snprintf(path, sizeof(path), "%s/global/pg_control", pg->pgdata);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != (ssize_t) sizeof(buf))
		return false;
	memcpy(&version, buf + PG_CONTROL_OFF_VERSION, sizeof(version));
	memcpy(&st, buf + PG_CONTROL_OFF_STATE, sizeof(st));
	if (version != PG_CONTROL_VERSION_15 || st < PG_CONTROL_STARTUP || st > PG_CONTROL_IN_PRODUCTION)
		return false;
	*state = (PgControlState) st;
	memcpy(checkpoint, buf + PG_CONTROL_OFF_CHECKPOINT, sizeof(*checkpoint));
	return true;
}

bool
pgctl_control_state(const PgCtl *pg, PgControlState *state)
{
	uint64_t	checkpoint;

	return pgctl_read_control(pg, state, &checkpoint);
}

bool
pgctl_shutdown_checkpoint(const PgCtl *pg, uint64_t *lsn)
{
	PgControlState state;

	return pgctl_read_control(pg, &state, lsn) && state == PG_CONTROL_SHUT_DOWN && *lsn != 0;
}

static int
pgctl_unlink_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void) sb;
	(void) flag;
	if (ftw->level == 0)
		return 0;
	if (remove(path) < 0)
	{
		log_error("could not remove \"%s\": %m", path);
		return -1;
	}
	return 0;
}

bool
pgctl_wipe(const PgCtl *pg)
{
	log_info("removing the contents of \"%s\"", pg->pgdata);
	if (mkdir(pg->pgdata, 0700) < 0 && errno != EEXIST)
	{
		log_error("could not create \"%s\": %m", pg->pgdata);
		return false;
	}
	if (chmod(pg->pgdata, 0700) < 0)
	{
		log_error("could not chmod \"%s\": %m", pg->pgdata);
		return false;
	}
	return nftw(pg->pgdata, pgctl_unlink_cb, 32, FTW_DEPTH | FTW_PHYS) == 0;
}

void
pgctl_older_wal_file(const PgCtl *pg, char *out, size_t outlen)
{
	char		path[PATH_MAX];
	DIR		   *d;
	struct dirent *e;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/pg_wal", pg->pgdata);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
	{
		if (strlen(e->d_name) != 24 || strspn(e->d_name, "0123456789ABCDEF") != 24)
			continue;
		if (out[0] == '\0' || strcmp(e->d_name, out) < 0)
			snprintf(out, outlen, "%s", e->d_name);
	}
	closedir(d);
}

int64_t
pgctl_log_offset(const PgCtl *pg)
{
	struct stat st;

	return stat(pg->log_file, &st) == 0 ? (int64_t) st.st_size : 0;
}

/* What the server logged since offset (at most its last PGCTL_LOG_READ_MAX bytes), malloc'ed; NULL when none. */
#define PGCTL_LOG_READ_MAX (64 * 1024)

static char *
pgctl_log_since(const PgCtl *pg, int64_t offset)
{
	int			fd = open(pg->log_file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char	   *text;
	ssize_t		n;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size <= offset)
	{
		close(fd);
		return NULL;
	}
	if (st.st_size - offset > PGCTL_LOG_READ_MAX)
		offset = st.st_size - PGCTL_LOG_READ_MAX;
	if ((text = malloc(PGCTL_LOG_READ_MAX + 1)) == NULL)
	{
		close(fd);
		return NULL;
	}
	n = pread(fd, text, PGCTL_LOG_READ_MAX, offset);
	close(fd);
	if (n <= 0)
	{
		free(text);
		return NULL;
	}
	text[n] = '\0';
	return text;
}

/* The severity-and-message part of a server log line ("FATAL:  could not ..."), or the line. */
static const char *
pgctl_log_message(const char *line)
{
	static const char *const levels[] = {"PANIC:", "FATAL:", "ERROR:", "LOG:", "WARNING:", "DETAIL:", "HINT:"};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
	{
		const char *p = strstr(line, levels[i]);

		if (p != NULL)
			return p;
	}
	return line;
}

/* msg into out from offset k, one line, control characters and runs of blanks folded; returns the new end. */
static size_t
pgctl_fold_into(char *out, size_t outlen, size_t k, const char *msg)
{
	for (const char *p = msg; *p && k + 1 < outlen; p++)
	{
		char		c = (unsigned char) *p < 0x20 || *p == 0x7f ? ' ' : *p;

		if (c == ' ' && k > 0 && out[k - 1] == ' ')
			continue;
		out[k++] = c;
	}
	out[k] = '\0';
	return k;
}

/*
 * The reason: the last PANIC or FATAL line, else the last ERROR line, else the last line. A FATAL often only
 * concludes ("could not create any TCP/IP sockets"); the last "could not" line logged before it says why
 * ("could not bind IPv4 address ...: Address already in use"), so it follows.
 */
/*
 * The reason: the last PANIC or FATAL line, else the last ERROR line, else the last line. A FATAL often only
 * concludes ("could not create any TCP/IP sockets"); the first "could not" line logged before it says why
 * ("could not bind IPv4 address ...: Address already in use"), so it follows.
 */
void
pgctl_log_reason(const PgCtl *pg, int64_t offset, char *out, size_t outlen)
{
	char	   *text = pgctl_log_since(pg, offset);
	const char *best = NULL;
	const char *cause = NULL;
	const char *cause_before_best = NULL;
	int			best_rank = 0;
	char	   *save = NULL;
	size_t		k;

	out[0] = '\0';
	if (text == NULL)
		return;
	for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		int			rank = 1;

		if (strstr(line, "PANIC:") || strstr(line, "FATAL:"))
			rank = 3;
		else if (strstr(line, "ERROR:"))
			rank = 2;
		if (rank >= best_rank)
		{
			best = line;
			best_rank = rank;
			cause_before_best = cause;
		}
		if (rank < 3 && cause == NULL && strstr(line, "could not") != NULL)
			cause = line;
		if (strstr(line, "starting PostgreSQL") != NULL)
			cause = NULL;		/* a new start: its causes only */
	}
	if (best != NULL)
	{
		k = pgctl_fold_into(out, outlen, 0, pgctl_log_message(best));
		if (best_rank == 3 && cause_before_best != NULL && k + 3 < outlen)
			pgctl_fold_into(out, outlen, pgctl_fold_into(out, outlen, k, "; "), pgctl_log_message(cause_before_best));
	}
	free(text);
}

#define PGCTL_LOG_SHOW_LINES 12

void
pgctl_log_show(const PgCtl *pg, int64_t offset, const char *what)
{
	char	   *text = pgctl_log_since(pg, offset);
	char	   *lines[PGCTL_LOG_SHOW_LINES];
	size_t		n = 0;
	char	   *save = NULL;

	if (text == NULL)
	{
		log_error("%s; the server log \"%s\" has nothing for this attempt", what, pg->log_file);
		return;
	}
	for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		if (n == PGCTL_LOG_SHOW_LINES)
		{
			memmove(lines, lines + 1, sizeof(lines[0]) * (PGCTL_LOG_SHOW_LINES - 1));
			n--;
		}
		lines[n++] = line;
	}
	log_error("%s; the server log \"%s\" says:", what, pg->log_file);
	for (size_t i = 0; i < n; i++)
		log_error("  postgres: %s", lines[i]);
	free(text);
}

static int
pgctl_remove_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void) sb;
	(void) flag;
	(void) ftw;
	if (remove(path) < 0 && errno != ENOENT)
	{
		log_error("could not remove \"%s\": %m", path);
		return -1;
	}
	return 0;
}

bool
pgctl_remove_dir(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) < 0 && errno == ENOENT)
		return true;
	return nftw(dir, pgctl_remove_cb, 32, FTW_DEPTH | FTW_PHYS) == 0;
}

bool
pgctl_move_aside(const PgCtl *pg, const char *old_dir)
{
	if (!pgctl_remove_dir(old_dir))
		return false;
	log_info("moving \"%s\" aside to \"%s\"", pg->pgdata, old_dir);
	if (rename(pg->pgdata, old_dir) < 0)
	{
		log_error("could not rename \"%s\" to \"%s\": %m", pg->pgdata, old_dir);
		return false;
	}
	if (mkdir(pg->pgdata, 0700) < 0)
	{
		log_error("could not create \"%s\": %m", pg->pgdata);
		return false;
	}
	return true;
}

/* The bytes under the directory open as dirfd (closed here), not following symlinks; depth-limited. */
static uint64_t
pgctl_du_fd(int dirfd, int depth)
{
	DIR		   *d = fdopendir(dirfd);
	struct dirent *e;
	uint64_t	total = 0;

	if (d == NULL)
	{
		close(dirfd);
		return 0;
	}
	while ((e = readdir(d)) != NULL)
	{
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
			fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		total += (uint64_t) st.st_blocks * 512;
		if (S_ISDIR(st.st_mode) && depth < 32)
		{
			int			sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				total += pgctl_du_fd(sub, depth + 1);
		}
	}
	closedir(d);
	return total;
}

uint64_t
pgctl_dir_bytes(const char *dir)
{
	int			fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? 0 : pgctl_du_fd(fd, 0);
}
