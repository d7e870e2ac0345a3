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

/* Runs argv; logs the command before and the output on failure. */
static bool
pgctl_run(const PgCtl *pg, const char *const argv[], int64_t timeout_ms, ProgramResult *keep)
{
	char		cmd[2048];
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
	program_format_command(argv, cmd, sizeof(cmd));
	log_info("running %s", cmd);
	ok = program_run(argv, env, "/", timeout_ms, &res, err, sizeof(err));
	if (!ok)
		log_error("%s; output: %s", err, buf_cstr(&res.output));
	else
		log_debug("output of %s: %s", argv[0], buf_cstr(&res.output));
	if (keep)
		*keep = res;
	else
		program_result_finish(&res);
	return ok;
}

bool
pgctl_version(const PgCtl *pg, PgBinaryVersion *out)
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
pgctl_initdb(const PgCtl *pg, const char *su_user, const char *pwfile, const NewConfig *nc)
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

bool
pgctl_start(const PgCtl *pg, int64_t timeout_ms)
{
	char		bin[PATH_MAX];
	char		secs[32];
	const char *argv[] = {bin, "start", "-D", pg->pgdata, "-l", pg->log_file, "-w", "-t", secs, NULL};

	pgctl_bin(pg, "pg_ctl", bin, sizeof(bin));
	snprintf(secs, sizeof(secs), "%" PRId64, timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1);
	return pgctl_run(pg, argv, timeout_ms + 5000, NULL);
}

bool
pgctl_stop(const PgCtl *pg, const char *mode, int64_t timeout_ms)
{
	char		bin[PATH_MAX];
	char		secs[32];
	const char *argv[] = {bin, "stop", "-D", pg->pgdata, "-m", mode, "-w", "-t", secs, NULL};

	if (!pgctl_is_running(pg))
		return true;
	pgctl_bin(pg, "pg_ctl", bin, sizeof(bin));
	snprintf(secs, sizeof(secs), "%" PRId64, timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1);
	if (pgctl_run(pg, argv, timeout_ms + 5000, NULL))
		return true;
	return !pgctl_is_running(pg);
}

bool
pgctl_reload(const PgCtl *pg)
{
	char		bin[PATH_MAX];
	const char *argv[] = {bin, "reload", "-D", pg->pgdata, NULL};

	pgctl_bin(pg, "pg_ctl", bin, sizeof(bin));
	return pgctl_run(pg, argv, PGCTL_QUICK_TIMEOUT_MS, NULL);
}

bool
pgctl_promote(const PgCtl *pg, int64_t timeout_ms)
{
	char		bin[PATH_MAX];
	char		secs[32];
	const char *argv[] = {bin, "promote", "-D", pg->pgdata, "-w", "-t", secs, NULL};

	pgctl_bin(pg, "pg_ctl", bin, sizeof(bin));
	snprintf(secs, sizeof(secs), "%" PRId64, timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1);
	return pgctl_run(pg, argv, timeout_ms + 5000, NULL);
}

bool
pgctl_basebackup(const PgCtl *pg, const char *host, int port, const char *user, const char *slot,
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
pgctl_rewind(const PgCtl *pg, const char *source_conninfo, int64_t timeout_ms)
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
	char		line[64] = "";
	FILE	   *f;
	long		pid;
	char	   *end;

	snprintf(path, sizeof(path), "%s/postmaster.pid", pg->pgdata);
	if ((f = fopen(path, "re")) == NULL)
		return false;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	errno = 0;
	pid = strtol(line, &end, 10);
	if (errno != 0 || end == line || pid <= 0)
		return false;
	return kill((pid_t) pid, 0) == 0 || errno == EPERM;
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
#define PG_DB_SHUTDOWNED 1

bool
pgctl_shutdown_checkpoint(const PgCtl *pg, uint64_t *lsn)
{
	char		path[PATH_MAX];
	unsigned char buf[PG_CONTROL_OFF_CHECKPOINT + 8];
	uint32_t	version;
	int32_t		state;
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
	memcpy(&state, buf + PG_CONTROL_OFF_STATE, sizeof(state));
	if (version != PG_CONTROL_VERSION_15 || state != PG_DB_SHUTDOWNED)
		return false;
	memcpy(lsn, buf + PG_CONTROL_OFF_CHECKPOINT, sizeof(*lsn));
	return *lsn != 0;
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
