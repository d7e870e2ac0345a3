/*
 * src/keeper/keeper_children.c
 *    Finds the keeper's child programs in /proc and tells whether they make progress (see keeper_children.h).
 *    Read by the HTTP thread for /health only: it never signals or waits for a child (runprog.c owns them).
 */
#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keeper/keeper_children.h"
#include "log.h"

/* Reads a small /proc file into buf (NUL-terminated); false when it cannot be read (the process is gone). */
static bool
read_small_file(const char *path, char *buf, size_t size)
{
	FILE	   *f = fopen(path, "r");
	size_t		n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n > 0;
}

/*
 * Parses /proc/<pid>/stat: the command name (between the first '(' and the last ')', it may hold spaces), the
 * parent pid and utime + stime.
 */
static bool
parse_stat(const char *text, char *name, size_t namelen, pid_t *ppid, uint64_t *cpu)
{
	const char *open = strchr(text, '(');
	const char *close = strrchr(text, ')');
	const char *p;
	int			field;
	unsigned long long utime = 0,
				stime = 0;
	long		parent = -1;

	if (open == NULL || close == NULL || close < open)
		return false;
	snprintf(name, namelen, "%.*s", (int) (close - open - 1), open + 1);
	/* fields after the name: 3 state, 4 ppid, ..., 14 utime, 15 stime */
	p = close + 1;
	for (field = 3; field <= 15 && *p; field++)
	{
		char	   *end;

		while (*p == ' ')
			p++;
		if (field == 4)
			parent = strtol(p, &end, 10);
		else if (field == 14)
			utime = strtoull(p, &end, 10);
		else if (field == 15)
			stime = strtoull(p, &end, 10);
		while (*p && *p != ' ')
			p++;
	}
	if (field <= 15 || parent < 0)
		return false;
	*ppid = (pid_t) parent;
	*cpu = (uint64_t) utime + (uint64_t) stime;
	return true;
}

/* rchar + wchar from /proc/<pid>/io; 0 when it cannot be read (another uid, or no task I/O accounting). */
static uint64_t
read_io_bytes(const char *proc_root, const char *pid)
{
	char		path[512];
	char		text[1024];
	uint64_t	total = 0;
	const char *keys[] = {"rchar:", "wchar:"};

	snprintf(path, sizeof(path), "%s/%s/io", proc_root, pid);
	if (!read_small_file(path, text, sizeof(text)))
		return 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
	{
		const char *at = strstr(text, keys[i]);

		if (at)
			total += strtoull(at + strlen(keys[i]), NULL, 10);
	}
	return total;
}

bool
keeper_children_scan(const char *proc_root, pid_t parent, ChildActivity *out)
{
	DIR		   *d = opendir(proc_root);
	struct dirent *e;

	memset(out, 0, sizeof(*out));
	if (d == NULL)
	{
		log_warn("could not open \"%s\": %m", proc_root);
		return false;
	}
	while ((e = readdir(d)) != NULL)
	{
		char		path[512];
		char		text[1024];
		char		name[sizeof(out->name)];
		pid_t		ppid;
		uint64_t	cpu;

		if (!isdigit((unsigned char) e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s/stat", proc_root, e->d_name);
		if (!read_small_file(path, text, sizeof(text)) || !parse_stat(text, name, sizeof(name), &ppid, &cpu))
			continue;
		if (ppid != parent || strcmp(name, "postgres") == 0)
			continue;
		if (out->count == 0)
		{
			out->pid = (pid_t) strtol(e->d_name, NULL, 10);
			snprintf(out->name, sizeof(out->name), "%s", name);
		}
		out->count++;
		out->counter += cpu + read_io_bytes(proc_root, e->d_name);
	}
	closedir(d);
	return true;
}

bool
keeper_children_progressing(ChildProgress *p, const ChildActivity *a, int64_t now_ms, int64_t window_ms)
{
	if (a->count == 0)
	{
		p->seen = false;
		return false;
	}
	if (!p->seen || p->pid != a->pid || p->counter != a->counter)
	{
		p->seen = true;
		p->pid = a->pid;
		p->counter = a->counter;
		p->changed_ms = now_ms;
	}
	return now_ms - p->changed_ms < window_ms;
}
