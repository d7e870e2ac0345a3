/*
 * src/keeper/keeper_config.h
 *    Writing the configuration files the keeper owns in PGDATA (keeper_config.c); the rendering itself is pure,
 *    in pgconf.c.
 */
#ifndef BULWARK_KEEPER_CONFIG_H
#define BULWARK_KEEPER_CONFIG_H

#include <stdbool.h>

#include "cluster.h"
#include "keeper/keeper.h"

typedef struct ConfChange
{
	bool		any;			/* postgresql.conf, pg_hba.conf or postgresql.auto.conf changed */
	bool		recovery;		/* primary_conninfo or primary_slot_name changed */
} ConfChange;

/*
 * keeper_write_config: renders and writes postgresql.conf and pg_hba.conf for db (a standby when followed is
 * not NULL: following it), and keeps postgresql.auto.conf a symlink to /dev/null; *chg says what changed.
 * False (logged) on failure.
 */
bool keeper_write_config(KeeperDaemon *k, const Db *db, const Db *followed, ConfChange *chg)
	__attribute__((warn_unused_result));

/* keeper_set_standby_signal: creates (on) or removes standby.signal in PGDATA. */
bool keeper_set_standby_signal(KeeperDaemon *k, bool on) __attribute__((warn_unused_result));

/* keeper_followed_db: the DB that db follows inside the cluster, NULL when none or its address is not known. */
const Db *keeper_followed_db(const KeeperDaemon *k, const Db *db);

#endif
