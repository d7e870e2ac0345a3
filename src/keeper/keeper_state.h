/*
 * src/keeper/keeper_state.h
 *    The keeper's local files in <data-dir>: keeperstate ({"uid","clusterUID"}) and dbstate ({"uid",
 *    "generation","initializing"}), small JSON documents written atomically (temp file, fsync, rename, fsync of
 *    the directory) and re-read at the top of every pass; and the atomic file write itself, which converge.c
 *    also uses for the configuration files it owns.
 */
#ifndef BULWARK_KEEPER_STATE_H
#define BULWARK_KEEPER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uid.h"

typedef struct KeeperLocalState
{
	char		uid[UID_SIZE];
	char		cluster_uid[UID_SIZE];
} KeeperLocalState;

typedef struct DbLocalState
{
	char		uid[UID_SIZE];	/* the DB whose data PGDATA holds, "" when none */
	int64_t		generation;		/* the DB generation of the last fully successful pass */
	bool		initializing;	/* an initdb/resync started and has not finished: redo it */
} DbLocalState;

/* x_read: *found false (and *out zeroed) when the file does not exist; false (logged) when unreadable/invalid. */
bool keeper_state_read(const char *path, KeeperLocalState *out, bool *found) __attribute__((warn_unused_result));
bool keeper_state_write(const char *path, const KeeperLocalState *s) __attribute__((warn_unused_result));
bool db_state_read(const char *path, DbLocalState *out, bool *found) __attribute__((warn_unused_result));
bool db_state_write(const char *path, const DbLocalState *s) __attribute__((warn_unused_result));

/* keeper_file_write_atomic: path gets exactly data (temp file, fsync, rename, fsync dir); false logged. */
bool keeper_file_write_atomic(const char *path, const char *data, size_t len, mode_t mode)
	__attribute__((warn_unused_result));

/*
 * keeper_file_read: the whole file (at most max bytes) as a malloc'ed NUL-terminated string, caller frees;
 * NULL when it does not exist (errno ENOENT) or cannot be read.
 */
char *keeper_file_read(const char *path, size_t max, size_t *len);

#endif
