/*
 * src/keeper/keeper_children.h
 *    The keeper's child programs as /proc shows them, for /health: while the main loop is inside one long
 *    step (pg_basebackup for up to an hour, pg_rewind, initdb, pg_ctl waiting for PostgreSQL) no pass ends,
 *    yet the keeper is alive as long as that program makes progress. A program "makes progress" while its I/O
 *    and CPU counters move.
 */
#ifndef BULWARK_KEEPER_CHILDREN_H
#define BULWARK_KEEPER_CHILDREN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ChildActivity
{
	int			count;			/* child programs found, PostgreSQL's server processes not counted */
	uint64_t	counter;		/* their summed rchar + wchar (bytes) + utime + stime (ticks) */
	pid_t		pid;			/* the first one found, 0 when none */
	char		name[32];		/* its command name */
} ChildActivity;

typedef struct ChildProgress
{
	bool		seen;			/* a program was running at the previous look */
	pid_t		pid;
	uint64_t	counter;
	int64_t		changed_ms;		/* when its counters last moved (or it first appeared) */
} ChildProgress;

/*
 * keeper_children_scan: the child processes of parent under proc_root (normally "/proc") other than
 * PostgreSQL's own ("postgres": in a container the keeper is PID 1, so the postmaster, whose pg_ctl has
 * exited, becomes its child). Fills out; false only when proc_root cannot be read.
 */
bool		keeper_children_scan(const char *proc_root, pid_t parent, ChildActivity *out);

/*
 * keeper_children_progressing: updates p with the activity a seen at now_ms; true when a child program runs
 * and its counters moved within the last window_ms (a program seen for the first time counts as moving).
 */
bool		keeper_children_progressing(ChildProgress *p, const ChildActivity *a, int64_t now_ms, int64_t window_ms);

#endif
