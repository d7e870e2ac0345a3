/*
 * src/keeper/keeper_state.h
 *    The keeper's local files in <data-dir>: keeperstate ({"uid","clusterUID"}) and dbstate ({"uid",
 *    "generation","phase","rewound","initializing"}), small JSON documents written atomically (temp file, fsync,
 *    rename, fsync of the directory) and re-read at the top of every pass; and the atomic file write itself,
 *    which converge.c also uses for the configuration files it owns.
 *
 *    The dbstate's phase is the keeper's durable memory of a step that changes PGDATA and takes time: it is
 *    written before the step starts and cleared when it is done, so that a keeper killed in the middle (with its
 *    PostgreSQL, or with the host) knows on restart what the data directory holds and redoes the right step.
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

typedef enum DbPhase
{
	DB_PHASE_READY = 0,			/* nothing in progress: PGDATA holds the DB as last converged */
	DB_PHASE_INITDB,			/* initdb started: PGDATA is incomplete, redo from an empty directory */
	DB_PHASE_INITIALIZED,		/* initdb finished: configure, start and create the roles (no new initdb) */
	DB_PHASE_REWIND,			/* pg_rewind started: an interrupted rewind leaves PGDATA unusable, so a base backup */
	DB_PHASE_BASEBACKUP,		/* pg_basebackup started: PGDATA is incomplete, redo the base backup */
	DB_PHASE_CATCHING_UP,		/* a complete rewind or backup: start it as a standby until it streams */
	DB_PHASE_PROMOTING,			/* a promotion was requested: done once the server runs as a primary */
	DB_PHASE_UNKNOWN,			/* an older keeper's "initializing": redo the whole init or resync */
} DbPhase;

#define DB_PHASE_COUNT (DB_PHASE_UNKNOWN + 1)

typedef struct DbLocalState
{
	char		uid[UID_SIZE];	/* the DB whose data PGDATA holds, "" when none */
	int64_t		generation;		/* the DB generation of the last fully successful pass */
	DbPhase		phase;
	bool		rewound;		/* CATCHING_UP: the copy came from pg_rewind (if it cannot catch up: a base backup) */
} DbLocalState;

const char *db_phase_to_string(DbPhase phase);
bool db_phase_from_string(const char *s, DbPhase *out) __attribute__((warn_unused_result));

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
