/*
 * src/common/runprog.h
 *    Running an external program (initdb, pg_ctl, pg_basebackup, pg_rewind) from an argv array, never through
 *    a shell: the command line is logged, stdout and stderr are captured together (bounded) for the log, and a
 *    deadline kills the whole process group. Secrets go through extra environment variables or files, never
 *    argv.
 */
#ifndef BULWARK_RUNPROG_H
#define BULWARK_RUNPROG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct ProgramResult
{
	int			exit_code;		/* the exit status; -1 when killed by a signal or not run */
	int			term_signal;	/* the signal that ended it, 0 when it exited */
	bool		timed_out;		/* killed because the deadline passed */
	Buf			output;			/* stdout and stderr interleaved, at most 64 KiB (the tail is dropped) */
} ProgramResult;

/* program_result_finish: free the captured output. */
void program_result_finish(ProgramResult *result);

/*
 * program_run: run argv[0] (an absolute path) with argv, the current environment plus env_extra
 * ("NAME=value" strings, NULL-terminated, may be NULL), stdin from /dev/null, in directory cwd (NULL = "/"),
 * for at most timeout_ms (0 = no deadline). Returns true when the program ran and exited 0; false otherwise,
 * with err filled ("\"/usr/lib/postgresql/15/bin/initdb\" exited with code 1: <last output line>"). result
 * (may be NULL) gets the details and the output either way; the caller finishes it.
 */
bool program_run(const char *const argv[], const char *const env_extra[], const char *cwd, int64_t timeout_ms,
				 ProgramResult *result, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * program_set_end_hook: fn(ctx) is called (from the thread that ran it) each time a program that program_run
 * started has ended, whatever its outcome; NULL removes it. The keeper uses it so that /health sees a loop that
 * moves from one long program to the next as alive (keeper_http.c).
 */
void program_set_end_hook(void (*fn)(void *ctx), void *ctx);

/* program_format_command: argv joined with spaces, quoting words that need it, into out (for logs). */
void program_format_command(const char *const argv[], char *out, size_t outlen);

#endif
