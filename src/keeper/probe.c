/*
 * src/keeper/probe.c
 *    What the keeper learns from its running PostgreSQL each pass: role, timeline, WAL position, settings,
 *    synchronous standbys (pgsql_get_status), and for a standby the timeline of the WAL it replays
 *    (IDENTIFY_SYSTEM over a replication connection). The result feeds the keeper's report and HTTP checks.
 */
#include <stdio.h>
#include <string.h>

#include "keeper/keeper.h"

PgConnParams
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
