/*
 * src/ctl/cli_ops.c
 *    bulwarkctl's operator actions on a running cluster: failkeeper (fail a keeper for one sentinel round),
 *    removekeeper (forget a keeper and its DB), pause/resume (maintenance mode) and switchover (a planned change
 *    of master). Each is one compare-and-swap of the cluster data, retried when the sentinel wrote in between;
 *    the sentinel does the rest (docs/sentinel.md). Refusals name the reason and use the documented exit codes.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_common.h"
#include "cluster_json.h"
#include "duration.h"
#include "exitcode.h"
#include "log.h"
#include "timestamp.h"
#include "uid.h"

/* ---- failkeeper ---- */

static int
ctl_failkeeper_apply(ClusterData *cd, void *arg, bool *unchanged)
{
	const char *uid = arg;
	Keeper	   *k = cluster_data_find_keeper(cd, uid);

	(void) unchanged;
	if (k == NULL)
	{
		ctl_error("keeper \"%s\" is not in the cluster data (bulwarkctl status lists the keepers)", uid);
		return EXIT_CODE_NOT_FOUND;
	}
	k->status.force_fail = true;
	return EXIT_CODE_OK;
}

static int
ctl_failkeeper_run(Ctl *ctl, int argc, char **argv)
{
	char	   *pos[1];
	int			npos = 0;
	int			rc;

	if (!ctl_parse(ctl, &ctl_cmd_failkeeper, argc, argv, NULL, pos, 1, &npos, &rc))
		return rc;
	if (npos != 1)
	{
		ctl_error("failkeeper: give the keeper uid (bulwarkctl failkeeper UID)");
		return EXIT_CODE_BAD_ARGS;
	}
	if ((rc = ctl_update_cluster_data(ctl, ctl_failkeeper_apply, pos[0])) == EXIT_CODE_OK)
		printf("keeper \"%s\" marked failed: the leader sentinel treats it as unhealthy for one round "
			   "(a failover when it holds the master)\n", pos[0]);
	return rc;
}

const CtlCommand ctl_cmd_failkeeper = {
	"failkeeper", "failkeeper UID",
	"mark a keeper failed for one sentinel round (forces a failover when it holds the master)",
	ctl_failkeeper_run,
};

/* ---- removekeeper ---- */

static int
ctl_removekeeper_apply(ClusterData *cd, void *arg, bool *unchanged)
{
	const char *uid = arg;
	Db		   *db;
	Db		   *master = cluster_data_master_db(cd);
	const Switchover *so = cd->cluster.status.switchover;
	char		dbuid[UID_SIZE] = "";

	(void) unchanged;
	if (cluster_data_find_keeper(cd, uid) == NULL)
	{
		ctl_error("keeper \"%s\" is not in the cluster data (bulwarkctl status lists the keepers)", uid);
		return EXIT_CODE_NOT_FOUND;
	}
	db = cluster_data_find_db_by_keeper(cd, uid);
	if (db != NULL && (db == master || strcmp(db->uid, cd->cluster.status.master) == 0))
	{
		ctl_error("keeper \"%s\" holds the master db %s: refusing to remove it (move the master first with "
				  "bulwarkctl switchover, or fail it with bulwarkctl failkeeper)", uid, db->uid);
		return EXIT_CODE_CONFLICT;
	}
	if (db != NULL && so != NULL && strcmp(so->target_db_uid, db->uid) == 0)
	{
		ctl_error("keeper \"%s\" holds db %s, the target of the switchover in progress: try again when it is over",
				  uid, db->uid);
		return EXIT_CODE_CONFLICT;
	}
	if (db != NULL && master != NULL && string_list_contains(&master->spec.synchronous_standbys, db->uid))
	{
		/* I4: the master's synchronous set must not shrink under the sentinel's feet */
		ctl_error("keeper \"%s\" holds db %s, a synchronous standby of the master: stop the keeper and wait for "
				  "the sentinel to replace it, then remove it", uid, db->uid);
		return EXIT_CODE_CONFLICT;
	}
	if (db != NULL)
	{
		snprintf(dbuid, sizeof(dbuid), "%s", db->uid);
		for (size_t i = 0; i < cd->db_count; i++)
		{
			Db		   *o = cd->dbs[i];

			(void) string_list_remove(&o->spec.followers, dbuid);
			(void) string_list_remove(&o->status.synchronous_standbys, dbuid);
		}
		(void) string_list_remove(&cd->proxy.spec.ro_db_uids, dbuid);
		(void) cluster_data_remove_db(cd, dbuid);
	}
	(void) cluster_data_remove_keeper(cd, uid);
	return EXIT_CODE_OK;
}

static int
ctl_removekeeper_run(Ctl *ctl, int argc, char **argv)
{
	char	   *pos[1];
	int			npos = 0;
	int			rc;

	if (!ctl_parse(ctl, &ctl_cmd_removekeeper, argc, argv, NULL, pos, 1, &npos, &rc))
		return rc;
	if (npos != 1)
	{
		ctl_error("removekeeper: give the keeper uid (bulwarkctl removekeeper UID)");
		return EXIT_CODE_BAD_ARGS;
	}
	if ((rc = ctl_update_cluster_data(ctl, ctl_removekeeper_apply, pos[0])) == EXIT_CODE_OK)
		printf("keeper \"%s\" and its db removed from the cluster data (a keeper still running is added back, "
			   "with a new standby db, at its next report: stop it first)\n", pos[0]);
	return rc;
}

const CtlCommand ctl_cmd_removekeeper = {
	"removekeeper", "removekeeper UID",
	"forget a keeper and its db (refused for the master's keeper)",
	ctl_removekeeper_run,
};

/* ---- pause / resume ---- */

typedef struct CtlPauseArgs
{
	const char *reason;
	char		by[CLUSTER_ACTOR_SIZE];
	char		since[TIMESTAMP_FORMAT_SIZE];	/* filled when already paused */
	char		was_by[CLUSTER_ACTOR_SIZE];
} CtlPauseArgs;

static int
ctl_pause_apply(ClusterData *cd, void *arg, bool *unchanged)
{
	CtlPauseArgs *a = arg;
	Maintenance *m;

	if (cd->cluster.status.maintenance != NULL)
	{
		(void) timestamp_format(cd->cluster.status.maintenance->since_ms, a->since, sizeof(a->since));
		snprintf(a->was_by, sizeof(a->was_by), "%s", cd->cluster.status.maintenance->by);
		*unchanged = true;
		return EXIT_CODE_OK;
	}
	if (cd->cluster.status.switchover != NULL)
	{
		ctl_error("a switchover is in progress (phase %s): pause when it is over",
				  switchover_phase_to_string(cd->cluster.status.switchover->phase));
		return EXIT_CODE_CONFLICT;
	}
	if ((m = maintenance_new()) == NULL)
		return EXIT_CODE_INTERNAL;
	m->since_ms = timestamp_now_ms();
	snprintf(m->by, sizeof(m->by), "%s", a->by);
	snprintf(m->reason, sizeof(m->reason), "%s", a->reason ? a->reason : "");
	cd->cluster.status.maintenance = m;
	return EXIT_CODE_OK;
}

static int
ctl_pause_run(Ctl *ctl, int argc, char **argv)
{
	CtlPauseArgs a;
	OptDef		table[] = {
		{"reason", 0, OPT_TYPE_STRING, &a.reason, "TEXT", "why (shown by status and history)"},
		OPT_END,
	};
	int			rc;

	memset(&a, 0, sizeof(a));
	if (!ctl_parse(ctl, &ctl_cmd_pause, argc, argv, table, NULL, 0, NULL, &rc))
		return rc;
	ctl_actor(a.by, sizeof(a.by));
	if ((rc = ctl_update_cluster_data(ctl, ctl_pause_apply, &a)) != EXIT_CODE_OK)
		return rc;
	if (a.since[0])
		printf("cluster \"%s\" already paused since %s by %s\n", ctl->store_opts.cluster_name, a.since, a.was_by);
	else
		printf("cluster \"%s\" PAUSED: the sentinel observes but makes no failover or other decision until "
			   "bulwarkctl resume\n", ctl->store_opts.cluster_name);
	return EXIT_CODE_OK;
}

static int
ctl_resume_apply(ClusterData *cd, void *arg, bool *unchanged)
{
	bool	   *was_paused = arg;

	*was_paused = cd->cluster.status.maintenance != NULL;
	if (!*was_paused)
	{
		*unchanged = true;
		return EXIT_CODE_OK;
	}
	maintenance_free(cd->cluster.status.maintenance);
	cd->cluster.status.maintenance = NULL;
	return EXIT_CODE_OK;
}

static int
ctl_resume_run(Ctl *ctl, int argc, char **argv)
{
	bool		was_paused = false;
	int			rc;

	if (!ctl_parse(ctl, &ctl_cmd_resume, argc, argv, NULL, NULL, 0, NULL, &rc))
		return rc;
	if ((rc = ctl_update_cluster_data(ctl, ctl_resume_apply, &was_paused)) != EXIT_CODE_OK)
		return rc;
	printf(was_paused ? "cluster \"%s\" resumed: the sentinel decides again\n" : "cluster \"%s\" was not paused\n",
		   ctl->store_opts.cluster_name);
	return EXIT_CODE_OK;
}

const CtlCommand ctl_cmd_pause = {
	"pause", "pause [--reason TEXT]",
	"maintenance mode: the sentinel keeps observing but makes no failover or other decision",
	ctl_pause_run,
};

const CtlCommand ctl_cmd_resume = {
	"resume", "resume", "end maintenance mode", ctl_resume_run,
};

/* ---- switchover ---- */

/* How long --wait waits beyond the switchover's own timeout: the promotion and the proxies' routing. */
#define CTL_SWITCHOVER_GRACE_MS 30000
#define CTL_SWITCHOVER_POLL_MS 100

typedef struct CtlSwitchoverArgs
{
	const char *to;
	int64_t		timeout_ms;
	char		by[CLUSTER_ACTOR_SIZE];
	char		event_id[UID_SIZE];
	char		from_db[UID_SIZE];	/* out: the master when requested */
	char		from_keeper[UID_SIZE];
} CtlSwitchoverArgs;

static int
ctl_switchover_apply(ClusterData *cd, void *arg, bool *unchanged)
{
	CtlSwitchoverArgs *a = arg;
	const Db   *master = cluster_data_master_db(cd);
	Switchover *so;

	(void) unchanged;
	if (cd->cluster.status.maintenance != NULL)
	{
		ctl_error("the cluster is paused (since it was paused by %s): resume it first",
				  cd->cluster.status.maintenance->by);
		return EXIT_CODE_CONFLICT;
	}
	if (cd->cluster.status.switchover != NULL)
	{
		ctl_error("a switchover is already in progress (event %s, phase %s)", cd->cluster.status.switchover->event_id,
				  switchover_phase_to_string(cd->cluster.status.switchover->phase));
		return EXIT_CODE_CONFLICT;
	}
	if (cd->cluster.status.phase != CLUSTER_PHASE_NORMAL || master == NULL)
	{
		ctl_error("the cluster has no master yet (phase %s): nothing to switch over",
				  cluster_phase_to_string(cd->cluster.status.phase));
		return EXIT_CODE_CONFLICT;
	}
	if (cd->proxy.spec.master_db_uid[0] == '\0')
	{
		ctl_error("a failover is in progress (the proxies route to no master yet): try again when it is over");
		return EXIT_CODE_CONFLICT;
	}
	if (a->to != NULL)
	{
		const Db   *target;

		if (cluster_data_find_keeper(cd, a->to) == NULL)
		{
			ctl_error("keeper \"%s\" is not in the cluster data (bulwarkctl status lists the keepers)", a->to);
			return EXIT_CODE_NOT_FOUND;
		}
		target = cluster_data_find_db_by_keeper(cd, a->to);
		if (target == NULL || target == master || target->spec.role != DB_ROLE_STANDBY)
		{
			ctl_error("keeper \"%s\" holds no standby db (%s)", a->to, target == master ? "it holds the master" : "no db");
			return EXIT_CODE_CONFLICT;
		}
	}
	if ((so = switchover_new()) == NULL)
		return EXIT_CODE_INTERNAL;
	snprintf(so->event_id, sizeof(so->event_id), "%s", a->event_id);
	so->phase = SWITCHOVER_PHASE_REQUESTED;
	snprintf(so->from_db_uid, sizeof(so->from_db_uid), "%s", master->uid);
	snprintf(so->target_keeper_uid, sizeof(so->target_keeper_uid), "%s", a->to ? a->to : "");
	so->requested_ms = timestamp_now_ms();
	so->timeout_ms = a->timeout_ms;
	snprintf(so->by, sizeof(so->by), "%s", a->by);
	cd->cluster.status.switchover = so;
	snprintf(a->from_db, sizeof(a->from_db), "%s", master->uid);
	snprintf(a->from_keeper, sizeof(a->from_keeper), "%s", master->spec.keeper_uid);
	return EXIT_CODE_OK;
}

/* The reason of this switchover's abort, from history/ (best effort), into out. */
static void
ctl_switchover_abort_reason(Ctl *ctl, const char *event_id, char *out, size_t outlen)
{
	char		prefix[512];
	StoreKVList list;
	StoreError	serr;

	snprintf(out, outlen, "see bulwarkctl history");
	store_options_key(&ctl->store_opts, "history/", prefix, sizeof(prefix));
	if (!store_list(ctl->store, prefix, &list, &serr))
		return;
	for (size_t i = list.n; i-- > 0;)
	{
		json_t	   *o = json_loadb(list.kvs[i].value, list.kvs[i].value_len, 0, NULL);
		const char *id = json_string_value(json_object_get(o, "eventId"));
		const char *kind = json_string_value(json_object_get(o, "kind"));
		const char *reason = json_string_value(json_object_get(o, "reason"));
		bool		found = id && kind && reason && strcmp(id, event_id) == 0 &&
			strcmp(kind, "switchover_aborted") == 0;

		if (found)
			snprintf(out, outlen, "%s", reason);
		json_decref(o);
		if (found)
			break;
	}
	store_kv_list_finish(&list);
}

/* Waits for the switchover's outcome; returns EXIT_CODE_OK when the master moved and the proxies route to it. */
static int
ctl_switchover_wait(Ctl *ctl, const CtlSwitchoverArgs *a)
{
	int64_t		start = timestamp_monotonic_ms();
	int64_t		deadline = start + a->timeout_ms + CTL_SWITCHOVER_GRACE_MS;

	for (;;)
	{
		ClusterData cd;
		int64_t		rev;
		int			rc;
		const Switchover *so;
		struct timespec pause = {0, CTL_SWITCHOVER_POLL_MS * 1000000L};

		if ((rc = ctl_read_cluster_data(ctl, &cd, &rev)) != EXIT_CODE_OK)
			return rc;
		so = cd.cluster.status.switchover;
		if (so == NULL || strcmp(so->event_id, a->event_id) != 0)
		{
			const Db   *m = cluster_data_master_db(&cd);

			if (m != NULL && strcmp(m->uid, a->from_db) != 0 && strcmp(cd.proxy.spec.master_db_uid, m->uid) == 0)
			{
				printf("switchover done in %.1f s: db %s on keeper %s is master, proxies route to it; db %s on "
					   "keeper %s rejoins as a standby\n", (double) (timestamp_monotonic_ms() - start) / 1000.0, m->uid,
					   m->spec.keeper_uid, a->from_db, a->from_keeper);
				cluster_data_finish(&cd);
				return EXIT_CODE_OK;
			}
			if (m != NULL && strcmp(m->uid, a->from_db) == 0)
			{
				char		reason[1024];

				cluster_data_finish(&cd);
				ctl_switchover_abort_reason(ctl, a->event_id, reason, sizeof(reason));
				ctl_error("switchover aborted: %s", reason);
				return EXIT_CODE_ABORTED;
			}
		}
		cluster_data_finish(&cd);
		if (timestamp_monotonic_ms() > deadline)
		{
			ctl_error("switchover not finished after %.0f s: check bulwarkctl status and history",
					  (double) (timestamp_monotonic_ms() - start) / 1000.0);
			return EXIT_CODE_ABORTED;
		}
		nanosleep(&pause, NULL);
	}
}

static int
ctl_switchover_run(Ctl *ctl, int argc, char **argv)
{
	CtlSwitchoverArgs a;
	bool		wait = false;
	const char *timeout = "30s";
	char		err[256];
	OptDef		table[] = {
		{"to", 0, OPT_TYPE_STRING, &a.to, "KEEPER", "the keeper whose standby becomes master (default: the most "
		"advanced eligible standby)"},
		{"wait", 0, OPT_TYPE_BOOL, &wait, NULL, "wait until the new master is routed to, or the switchover aborted"},
		{"timeout", 0, OPT_TYPE_STRING, &timeout, "DURATION", "abort when the target has not caught up by then "
		"(default 30s)"},
		OPT_END,
	};
	int			rc;

	memset(&a, 0, sizeof(a));
	if (!ctl_parse(ctl, &ctl_cmd_switchover, argc, argv, table, NULL, 0, NULL, &rc))
		return rc;
	if (!duration_parse(timeout, &a.timeout_ms, err, sizeof(err)) || a.timeout_ms <= 0)
	{
		ctl_error("switchover: --timeout: %s", a.timeout_ms <= 0 && err[0] == '\0' ? "must be > 0" : err);
		return EXIT_CODE_BAD_ARGS;
	}
	if (a.to != NULL && !uid_is_valid(a.to))
	{
		ctl_error("switchover: --to: \"%s\" is not a keeper uid", a.to);
		return EXIT_CODE_BAD_ARGS;
	}
	ctl_actor(a.by, sizeof(a.by));
	if (!uid_generate(a.event_id, sizeof(a.event_id)))
	{
		ctl_error("could not generate an event id");
		return EXIT_CODE_INTERNAL;
	}
	if ((rc = ctl_update_cluster_data(ctl, ctl_switchover_apply, &a)) != EXIT_CODE_OK)
		return rc;
	printf("switchover requested (event %s): from db %s on keeper %s to %s%s\n", a.event_id, a.from_db,
		   a.from_keeper, a.to ? "keeper " : "the most advanced eligible standby", a.to ? a.to : "");
	fflush(stdout);
	if (!wait)
		return EXIT_CODE_OK;
	return ctl_switchover_wait(ctl, &a);
}

const CtlCommand ctl_cmd_switchover = {
	"switchover", "switchover [--to KEEPER] [--wait] [--timeout DURATION]",
	"planned change of master, without losing an acknowledged write",
	ctl_switchover_run,
};
