/*
 * src/sentinel/planner.c
 *    The sentinel's planner (see planner.h): one round maps the cluster data as read, the reports and the
 *    sentinel's memory to new cluster data and a list of decisions.
 *
 * A round runs in this order, each step reading what the previous ones wrote into the output copy:
 *   1. observe: add newly seen keepers, copy bootUUIDs and report facts into keeper and DB status, advance the
 *      freshness, error, convergence and progress timers (a fresh leader stops here, see below);
 *   2. initializing phase: assign, watch and retry the initial master DB;
 *   3. normal phase: dead keeper removal, master check, then either an election (in one output: new master,
 *      standbys re-pointed, old master removed, proxies told "no master") or the steady state (proxy handshake,
 *      removal of invalid and unsyncable DBs, synchronous standby set, standby count, re-pointing);
 *   4. always: the master's followers, the proxies' read-only set and enabled proxies, spec fields copied into
 *      every DB with generation bumps, the proxy generation bump.
 *
 * Why the old master is removed at election rather than later, as Stolon does: docs/design.md I1 allows one master
 * DB per version of the cluster data, and a removed DB is the one state every keeper understands as "stop
 * PostgreSQL" (I5). When its keeper returns it is a free keeper and gets a fresh resync standby DB.
 *
 * Why a fresh leader only observes for failInterval: every timer starts when this sentinel first looks, so
 * before failInterval has passed it cannot tell a dead keeper from a live one, and deciding anything (health,
 * failover, standbys, routing) would be a guess.
 *
 * Allocation failures set plan->oom and the round is abandoned; helpers do not check it themselves beyond not
 * crashing, which keeps the decision code readable.
 */
#include "sentinel/planner.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster_json.h"
#include "duration.h"
#include "log.h"

typedef struct Plan
{
	const PlannerInput *in;
	PlannerMemory *mem;
	ClusterData *cd;			/* the output copy */
	PlannerOutput *out;
	size_t		event_cap;
	bool		fresh_leader;
	bool		oom;
} Plan;

/* The state of a standby relative to the master (after Stolon's dbStatus). */
typedef enum DbState
{
	DB_STATE_GOOD = 0,
	DB_STATE_CONVERGING,
	DB_STATE_FAILED,
} DbState;

const char *
planner_event_kind_to_string(PlannerEventKind kind)
{
	switch (kind)
	{
		case PLANNER_EVENT_KEEPER_ADDED:
			return "keeper_added";
		case PLANNER_EVENT_KEEPER_FAILED:
			return "keeper_failed";
		case PLANNER_EVENT_KEEPER_RECOVERED:
			return "keeper_recovered";
		case PLANNER_EVENT_KEEPER_REMOVED:
			return "keeper_removed";
		case PLANNER_EVENT_KEEPER_RESTARTED:
			return "keeper_restarted";
		case PLANNER_EVENT_INIT_STARTED:
			return "init_started";
		case PLANNER_EVENT_INIT_FAILED:
			return "init_failed";
		case PLANNER_EVENT_INIT_DONE:
			return "init_done";
		case PLANNER_EVENT_MASTER_FAILED:
			return "master_failed";
		case PLANNER_EVENT_MASTER_ELECTED:
			return "master_elected";
		case PLANNER_EVENT_NO_ELIGIBLE_MASTER:
			return "no_eligible_master";
		case PLANNER_EVENT_PROXIES_ROUTED:
			return "proxies_routed";
		case PLANNER_EVENT_ENABLED_PROXIES_CHANGED:
			return "enabled_proxies_changed";
		case PLANNER_EVENT_READ_ONLY_CHANGED:
			return "read_only_changed";
		case PLANNER_EVENT_SYNC_STANDBYS_CHANGED:
			return "sync_standbys_changed";
		case PLANNER_EVENT_STANDBY_ADDED:
			return "standby_added";
		case PLANNER_EVENT_DB_REMOVED:
			return "db_removed";
		case PLANNER_EVENT_PAUSED:
			return "paused";
		case PLANNER_EVENT_RESUMED:
			return "resumed";
		case PLANNER_EVENT_SWITCHOVER_STARTED:
			return "switchover_started";
		case PLANNER_EVENT_SWITCHOVER_DEMOTING:
			return "switchover_demoting";
		case PLANNER_EVENT_SWITCHOVER_CATCHING_UP:
			return "switchover_catching_up";
		case PLANNER_EVENT_SWITCHOVER_ABORTED:
			return "switchover_aborted";
	}
	return "unknown";
}

/* ---- small helpers ---- */

static void
copy_uid(char *dst, const char *src)
{
	snprintf(dst, UID_SIZE, "%s", src);
}

static const char *
fmt_ms(int64_t ms, char *buf, size_t size)
{
	return duration_format(ms, buf, size);
}

/* An LSN as PostgreSQL prints it ("0/3000060"). */
static const char *
fmt_lsn(uint64_t lsn, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIX32 "/%" PRIX32, (uint32_t) (lsn >> 32), (uint32_t) lsn);
	return buf;
}

static void
list_append(Plan *plan, StringList *l, const char *s)
{
	if (!string_list_append(l, s))
		plan->oom = true;
}

static void
list_set(Plan *plan, StringList *dst, const StringList *src)
{
	StringList	copy;

	if (!string_list_copy(&copy, src))
	{
		plan->oom = true;
		return;
	}
	string_list_finish(dst);
	*dst = copy;
}

/* Events: kind, a printf reason, and up to two uids (NULL or "" for none). */
static void plan_event(Plan *plan, PlannerEventKind kind, const char *uid1, const char *uid2, const char *fmt,...)
	__attribute__((format(printf, 5, 6)));

static void
plan_event(Plan *plan, PlannerEventKind kind, const char *uid1, const char *uid2, const char *fmt,...)
{
	PlannerOutput *out = plan->out;
	PlannerEvent *ev;
	char		reason[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (out->event_count == plan->event_cap)
	{
		size_t		cap = plan->event_cap ? plan->event_cap * 2 : 8;
		PlannerEvent *grown = realloc(out->events, cap * sizeof(*grown));

		if (grown == NULL)
		{
			plan->oom = true;
			return;
		}
		out->events = grown;
		plan->event_cap = cap;
	}
	ev = &out->events[out->event_count];
	ev->kind = kind;
	ev->event_id[0] = '\0';
	/* the steps of a switchover share its eventId, so history shows them as one story */
	if (plan->cd->cluster.status.switchover != NULL &&
		(kind == PLANNER_EVENT_SWITCHOVER_STARTED || kind == PLANNER_EVENT_SWITCHOVER_DEMOTING ||
		 kind == PLANNER_EVENT_SWITCHOVER_CATCHING_UP || kind == PLANNER_EVENT_SWITCHOVER_ABORTED ||
		 kind == PLANNER_EVENT_MASTER_ELECTED))
		copy_uid(ev->event_id, plan->cd->cluster.status.switchover->event_id);
	string_list_init(&ev->uids);
	ev->reason = strdup(reason);
	if (ev->reason == NULL)
	{
		plan->oom = true;
		return;
	}
	out->event_count++;
	if (uid1 != NULL && uid1[0] != '\0')
		list_append(plan, &ev->uids, uid1);
	if (uid2 != NULL && uid2[0] != '\0')
		list_append(plan, &ev->uids, uid2);
}

/* ---- memory ---- */

void
planner_memory_init(PlannerMemory *mem, int64_t now_ms)
{
	memset(mem, 0, sizeof(*mem));
	mem->leader_since_ms = now_ms;
}

void
planner_memory_finish(PlannerMemory *mem)
{
	free(mem->keepers);
	free(mem->dbs);
	free(mem->proxies);
	free(mem->last_no_master_reason);
	memset(mem, 0, sizeof(*mem));
}

void
planner_memory_reset(PlannerMemory *mem, int64_t now_ms)
{
	planner_memory_finish(mem);
	planner_memory_init(mem, now_ms);
}

/* Find-or-add helpers; a new entry starts its timers at now (what this leader first saw). */
static PlannerKeeperMemory *
mem_keeper(Plan *plan, const char *uid)
{
	PlannerMemory *mem = plan->mem;
	PlannerKeeperMemory *grown;
	PlannerKeeperMemory *km;

	for (size_t i = 0; i < mem->keeper_count; i++)
		if (strcmp(mem->keepers[i].uid, uid) == 0)
			return &mem->keepers[i];
	grown = realloc(mem->keepers, (mem->keeper_count + 1) * sizeof(*grown));
	if (grown == NULL)
	{
		plan->oom = true;
		return NULL;
	}
	mem->keepers = grown;
	km = &mem->keepers[mem->keeper_count++];
	memset(km, 0, sizeof(*km));
	copy_uid(km->uid, uid);
	km->info_changed_ms = plan->in->now_ms;
	km->db_error_since_ms = -1;
	km->was_healthy = true;
	return km;
}

static PlannerDbMemory *
mem_db(Plan *plan, const char *uid, int64_t generation)
{
	PlannerMemory *mem = plan->mem;
	PlannerDbMemory *grown;
	PlannerDbMemory *dm;

	for (size_t i = 0; i < mem->db_count; i++)
		if (strcmp(mem->dbs[i].uid, uid) == 0)
			return &mem->dbs[i];
	grown = realloc(mem->dbs, (mem->db_count + 1) * sizeof(*grown));
	if (grown == NULL)
	{
		plan->oom = true;
		return NULL;
	}
	mem->dbs = grown;
	dm = &mem->dbs[mem->db_count++];
	memset(dm, 0, sizeof(*dm));
	copy_uid(dm->uid, uid);
	dm->generation = generation;
	dm->since_ms = plan->in->now_ms;
	dm->first_seen_ms = plan->in->now_ms;
	return dm;
}

static PlannerProxyMemory *
mem_proxy(Plan *plan, const char *uid)
{
	PlannerMemory *mem = plan->mem;
	PlannerProxyMemory *grown;
	PlannerProxyMemory *pm;

	for (size_t i = 0; i < mem->proxy_count; i++)
		if (strcmp(mem->proxies[i].uid, uid) == 0)
			return &mem->proxies[i];
	grown = realloc(mem->proxies, (mem->proxy_count + 1) * sizeof(*grown));
	if (grown == NULL)
	{
		plan->oom = true;
		return NULL;
	}
	mem->proxies = grown;
	pm = &mem->proxies[mem->proxy_count++];
	memset(pm, 0, sizeof(*pm));
	copy_uid(pm->uid, uid);
	pm->info_changed_ms = plan->in->now_ms;
	return pm;
}

/* Drops memory about keepers and DBs no longer in the cluster data, so memory stays bounded. */
static void
mem_prune(Plan *plan)
{
	PlannerMemory *mem = plan->mem;
	size_t		n = 0;

	for (size_t i = 0; i < mem->keeper_count; i++)
		if (cluster_data_find_keeper(plan->cd, mem->keepers[i].uid) != NULL)
			mem->keepers[n++] = mem->keepers[i];
	mem->keeper_count = n;
	n = 0;
	for (size_t i = 0; i < mem->db_count; i++)
		if (cluster_data_find_db(plan->cd, mem->dbs[i].uid) != NULL)
			mem->dbs[n++] = mem->dbs[i];
	mem->db_count = n;
}

/* ---- reading the reports ---- */

/* The current report of keeper uid for this cluster, or NULL. */
static const KeeperInfo *
report_of(const Plan *plan, const char *uid)
{
	for (size_t i = 0; i < plan->in->keeper_info_count; i++)
	{
		const KeeperInfo *ki = &plan->in->keeper_infos[i];

		if (strcmp(ki->uid, uid) == 0 && strcmp(ki->cluster_uid, plan->cd->cluster.uid) == 0)
			return ki;
	}
	return NULL;
}

/* The report's PostgreSQL state when it is about db, else NULL. */
static const PostgresState *
db_report(const Plan *plan, const Db *db)
{
	const KeeperInfo *ki = report_of(plan, db->spec.keeper_uid);

	if (ki == NULL || ki->postgres_state == NULL || strcmp(ki->postgres_state->uid, db->uid) != 0)
		return NULL;
	return ki->postgres_state;
}

/* ---- step 1: observe ---- */

static void
observe_keepers(Plan *plan)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;
	char		b1[DURATION_FORMAT_SIZE];
	char		b2[DURATION_FORMAT_SIZE];

	/* Newly seen keepers join the cluster data; every report's facts are copied. */
	for (size_t i = 0; i < plan->in->keeper_info_count && !plan->oom; i++)
	{
		const KeeperInfo *ki = &plan->in->keeper_infos[i];
		Keeper	   *k;
		PlannerKeeperMemory *km;

		if (strcmp(ki->cluster_uid, plan->cd->cluster.uid) != 0 || !uid_is_valid(ki->uid))
			continue;
		k = cluster_data_find_keeper(plan->cd, ki->uid);
		if (k == NULL)
		{
			k = cluster_data_add_keeper(plan->cd, ki->uid);
			if (k == NULL)
			{
				plan->oom = true;
				return;
			}
			k->generation = CLUSTER_INITIAL_GENERATION;
			k->status.healthy = true;
			k->status.last_healthy_time_ms = plan->in->wall_ms;
			plan_event(plan, PLANNER_EVENT_KEEPER_ADDED, ki->uid, NULL, "keeper %s added: first report", ki->uid);
		}
		if (strcmp(k->status.boot_uuid, ki->boot_uuid) != 0)
		{
			if (k->status.boot_uuid[0] != '\0')
				plan_event(plan, PLANNER_EVENT_KEEPER_RESTARTED, ki->uid, NULL,
						   "keeper %s restarted: boot %s (was %s)", ki->uid, ki->boot_uuid, k->status.boot_uuid);
			copy_uid(k->status.boot_uuid, ki->boot_uuid);
		}
		k->status.can_be_master = ki->can_be_master;
		k->status.can_be_synchronous_replica = ki->can_be_synchronous_replica;
		k->status.postgres_binary_version = ki->postgres_binary_version;
		/* where the other keepers and the proxies reach it when the store is down (failsafe) */
		snprintf(k->status.http_address, sizeof(k->status.http_address), "%s", ki->http_address);
		km = mem_keeper(plan, ki->uid);
		if (km != NULL && strcmp(km->info_uid, ki->info_uid) != 0)
		{
			copy_uid(km->info_uid, ki->info_uid);
			km->info_changed_ms = plan->in->now_ms;
		}
	}

	/* Health: the report changed within failInterval on our clock, and no forced failure. */
	for (size_t i = 0; i < plan->cd->keeper_count && !plan->oom; i++)
	{
		Keeper	   *k = plan->cd->keepers[i];
		PlannerKeeperMemory *km = mem_keeper(plan, k->uid);
		int64_t		silent;
		bool		healthy;

		if (km == NULL)
			return;
		silent = plan->in->now_ms - km->info_changed_ms;
		healthy = silent <= spec->fail_interval_ms && !k->status.force_fail;
		if (plan->fresh_leader)
			continue;
		if (k->status.force_fail)
		{
			plan_event(plan, PLANNER_EVENT_KEEPER_FAILED, k->uid, NULL, "keeper %s failed: forced (failkeeper)",
					   k->uid);
			k->status.force_fail = false;
		}
		else if (!healthy && km->was_healthy)
			plan_event(plan, PLANNER_EVENT_KEEPER_FAILED, k->uid, NULL,
					   "keeper %s failed: no report for %s (failInterval %s)", k->uid,
					   fmt_ms(silent, b1, sizeof(b1)), fmt_ms(spec->fail_interval_ms, b2, sizeof(b2)));
		else if (healthy && !km->was_healthy)
			plan_event(plan, PLANNER_EVENT_KEEPER_RECOVERED, k->uid, NULL, "keeper %s healthy again", k->uid);
		km->was_healthy = healthy;
		k->status.healthy = healthy;

		/*
		 * lastHealthyTime is for people and dead keeper removal (hours): refreshing it at most once a minute
		 * keeps a quiet cluster's data from changing every round.
		 */
		if (healthy && plan->in->wall_ms - k->status.last_healthy_time_ms >= 60000)
			k->status.last_healthy_time_ms = plan->in->wall_ms;
	}
}

static void
observe_dbs(Plan *plan)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;

	for (size_t i = 0; i < plan->cd->db_count && !plan->oom; i++)
	{
		Db		   *db = plan->cd->dbs[i];
		const PostgresState *ps = db_report(plan, db);
		Keeper	   *k = cluster_data_find_keeper(plan->cd, db->spec.keeper_uid);
		PlannerKeeperMemory *km = mem_keeper(plan, db->spec.keeper_uid);
		PlannerDbMemory *dm;
		bool		ok = false;

		if (km == NULL)
			return;
		if (strcmp(km->db_uid, db->uid) != 0)
		{
			copy_uid(km->db_uid, db->uid);
			km->db_error_since_ms = -1;
			km->not_increasing = 0;
			km->last_xlog_pos = 0;
		}
		if (ps != NULL)
		{
			snprintf(db->status.listen_address, sizeof(db->status.listen_address), "%s", ps->listen_address);
			db->status.port = ps->port;
			db->status.current_generation = ps->generation;
			if (ps->healthy)
			{
				ok = true;
				snprintf(db->status.system_id, sizeof(db->status.system_id), "%s", ps->system_id);
				db->status.timeline_id = ps->timeline_id;
				db->status.xlog_pos = ps->xlog_pos;
				snprintf(db->status.older_wal_file, sizeof(db->status.older_wal_file), "%s", ps->older_wal_file);
				timelines_history_finish(&db->status.timelines_history);
				if (!timelines_history_copy(&db->status.timelines_history, &ps->timelines_history))
					plan->oom = true;
				pg_parameters_finish(&db->status.pg_parameters);
				if (!pg_parameters_copy(&db->status.pg_parameters, &ps->pg_parameters))
					plan->oom = true;
				if (ps->xlog_pos == km->last_xlog_pos)
					km->not_increasing++;
				else
					km->not_increasing = 0;
				km->last_xlog_pos = ps->xlog_pos;
			}
		}
		if (ok)
			km->db_error_since_ms = -1;
		else if (km->db_error_since_ms < 0)
			km->db_error_since_ms = plan->in->now_ms;
		if (!plan->fresh_leader)
			db->status.healthy = k != NULL && k->status.healthy &&
				(km->db_error_since_ms < 0 || plan->in->now_ms - km->db_error_since_ms <= spec->fail_interval_ms);

		/* Convergence timer: when the current generation first appeared without being reached. */
		dm = mem_db(plan, db->uid, db->generation);
		if (dm != NULL && dm->generation != db->generation)
		{
			dm->generation = db->generation;
			dm->since_ms = plan->in->now_ms;
		}
	}
}

/* ---- judging DBs ---- */

static bool
db_converged(const Db *db)
{
	return db->status.current_generation == db->generation;
}

/* The convergence timeout that applies to db (0 = none). */
static int64_t
db_convergence_timeout(const Plan *plan, const Db *db)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;

	if (db->generation == CLUSTER_INITIAL_GENERATION && db->spec.init_mode == INIT_MODE_RESYNC)
		return spec->sync_timeout_ms;
	return spec->convergence_timeout_ms;
}

static bool
db_convergence_failed(Plan *plan, const Db *db, int64_t timeout_ms)
{
	PlannerDbMemory *dm;

	if (db_converged(db) || timeout_ms <= 0)
		return false;
	dm = mem_db(plan, db->uid, db->generation);
	return dm != NULL && plan->in->now_ms - dm->since_ms > timeout_ms;
}

static DbState
db_state(Plan *plan, const Db *db)
{
	const Keeper *k = cluster_data_find_keeper(plan->cd, db->spec.keeper_uid);

	if (k == NULL || !k->status.healthy)
		return DB_STATE_FAILED;
	if (db_convergence_failed(plan, db, db_convergence_timeout(plan, db)))
		return DB_STATE_FAILED;
	if (!db_converged(db))
		return DB_STATE_CONVERGING;
	if (!db->status.healthy)
		return DB_STATE_FAILED;
	return DB_STATE_GOOD;
}

static bool
db_is_master_type(const Db *db)
{
	return db->spec.role == DB_ROLE_MASTER ||
		(db->spec.follow_config != NULL && db->spec.follow_config->type == FOLLOW_TYPE_EXTERNAL);
}

static bool
db_is_standby_type(const Db *db)
{
	return db->spec.role == DB_ROLE_STANDBY &&
		(db->spec.follow_config == NULL || db->spec.follow_config->type == FOLLOW_TYPE_INTERNAL);
}

static const TimelineHistoryEntry *
history_entry(const TimelinesHistory *h, uint32_t timeline_id)
{
	for (size_t i = 0; i < h->count; i++)
		if (h->items[i].timeline_id == timeline_id)
			return &h->items[i];
	return NULL;
}

/*
 * db_invalid_reason: why db's data cannot follow master (another system, or a timeline branch the master did
 * not take, as Stolon's sentinel judges it), written into buf; NULL when it can or nothing is known yet.
 */
static const char *
db_invalid_reason(const Db *master, const Db *db, char *buf, size_t size)
{
	const DbStatus *m = &master->status;
	const DbStatus *d = &db->status;
	char		l1[32];
	char		l2[32];

	if (d->current_generation == CLUSTER_NO_GENERATION)
		return NULL;
	if (d->system_id[0] != '\0' && m->system_id[0] != '\0' && strcmp(d->system_id, m->system_id) != 0)
	{
		snprintf(buf, size, "system id %s differs from the master's %s", d->system_id, m->system_id);
		return buf;
	}
	if (d->timeline_id == 0 || m->timeline_id == 0)
		return NULL;
	if (m->timeline_id < d->timeline_id)
	{
		snprintf(buf, size, "timeline %" PRIu32 " is ahead of the master's %" PRIu32 " (fork)", d->timeline_id,
				 m->timeline_id);
		return buf;
	}
	if (m->timeline_id == d->timeline_id && d->timeline_id > 1)
	{
		const TimelineHistoryEntry *me = history_entry(&m->timelines_history, d->timeline_id - 1);
		const TimelineHistoryEntry *de = history_entry(&d->timelines_history, d->timeline_id - 1);

		if (me != NULL && de != NULL && me->switch_point != de->switch_point)
		{
			snprintf(buf, size, "timeline %" PRIu32 " branched at %s, the master's at %s (fork)", d->timeline_id,
					 fmt_lsn(de->switch_point, l1, sizeof(l1)), fmt_lsn(me->switch_point, l2, sizeof(l2)));
			return buf;
		}
	}
	if (m->timeline_id > d->timeline_id)
	{
		const TimelineHistoryEntry *me = history_entry(&m->timelines_history, d->timeline_id);

		if (me != NULL && me->switch_point < d->xlog_pos)
		{
			snprintf(buf, size, "at %s on timeline %" PRIu32 ", past the master's switch point %s (fork)",
					 fmt_lsn(d->xlog_pos, l1, sizeof(l1)), d->timeline_id, fmt_lsn(me->switch_point, l2, sizeof(l2)));
			return buf;
		}
	}
	return NULL;
}

/*
 * db_cannot_sync: true when a stuck standby needs WAL the master no longer has (its segment sorts before the
 * master's oldest WAL file); 16 MiB segments, the timeline part of the names ignored.
 */
static bool
db_cannot_sync(Plan *plan, const Db *master, const Db *db)
{
	PlannerKeeperMemory *km = mem_keeper(plan, db->spec.keeper_uid);
	char		needed[20];
	uint64_t	pos = db->status.xlog_pos;

	if (km == NULL || db->generation == CLUSTER_INITIAL_GENERATION || !db->status.healthy)
		return false;
	if (strlen(master->status.older_wal_file) != 24 || pos == master->status.xlog_pos)
		return false;
	if (km->not_increasing <= PLANNER_NOT_INCREASING_ROUNDS)
		return false;
	snprintf(needed, sizeof(needed), "%08" PRIX32 "%08" PRIX32, (uint32_t) (pos >> 32),
			 (uint32_t) ((pos & 0xffffffffu) >> 24));
	return strcmp(needed, master->status.older_wal_file + 8) < 0;
}

/* ---- DB creation and removal ---- */

static bool
random_db_uid(Plan *plan, char *out)
{
	for (int attempt = 0; attempt < 100; attempt++)
	{
		uint32_t	r = plan->in->random(plan->in->random_ctx);

		snprintf(out, UID_SIZE, "%08" PRIx32, r);
		if (cluster_data_find_db(plan->cd, out) == NULL)
			return true;
	}
	return false;
}

static Db *
add_db(Plan *plan, const char *keeper_uid, InitMode mode, DbRole role)
{
	char		uid[UID_SIZE];
	Db		   *db;

	if (!random_db_uid(plan, uid) || (db = cluster_data_add_db(plan->cd, uid)) == NULL)
	{
		plan->oom = true;
		return NULL;
	}
	db->generation = CLUSTER_INITIAL_GENERATION;
	db->change_time_ms = plan->in->wall_ms;
	copy_uid(db->spec.keeper_uid, keeper_uid);
	db->spec.init_mode = mode;
	db->spec.role = role;
	return db;
}

static void
set_follow_internal(Plan *plan, Db *db, const char *master_uid)
{
	if (db->spec.follow_config == NULL)
	{
		db->spec.follow_config = follow_config_new();
		if (db->spec.follow_config == NULL)
		{
			plan->oom = true;
			return;
		}
	}
	db->spec.follow_config->type = FOLLOW_TYPE_INTERNAL;
	copy_uid(db->spec.follow_config->db_uid, master_uid);
	standby_settings_free(db->spec.follow_config->standby_settings);
	db->spec.follow_config->standby_settings = NULL;
	archive_recovery_settings_free(db->spec.follow_config->archive_recovery_settings);
	db->spec.follow_config->archive_recovery_settings = NULL;
}

/* Makes db the head of the cluster: role master, or in a standby cluster a standby following outside. */
static void
make_master_type(Plan *plan, Db *db)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;

	if (spec->role == CLUSTER_ROLE_STANDBY)
	{
		db->spec.role = DB_ROLE_STANDBY;
		if (db->spec.follow_config == NULL && (db->spec.follow_config = follow_config_new()) == NULL)
		{
			plan->oom = true;
			return;
		}
		db->spec.follow_config->type = FOLLOW_TYPE_EXTERNAL;
		db->spec.follow_config->db_uid[0] = '\0';
		return;
	}
	db->spec.role = DB_ROLE_MASTER;
	follow_config_free(db->spec.follow_config);
	db->spec.follow_config = NULL;
}

static void
remove_db(Plan *plan, const char *uid, const char *why)
{
	Db		   *db = cluster_data_find_db(plan->cd, uid);
	char		keeper[UID_SIZE];
	char		dbuid[UID_SIZE];

	if (db == NULL)
		return;
	copy_uid(keeper, db->spec.keeper_uid);
	copy_uid(dbuid, uid);
	/* A removed DB leaves every list that names it. */
	for (size_t i = 0; i < plan->cd->db_count; i++)
	{
		Db		   *o = plan->cd->dbs[i];

		string_list_remove(&o->spec.followers, dbuid);
		string_list_remove(&o->spec.synchronous_standbys, dbuid);
		string_list_remove(&o->status.synchronous_standbys, dbuid);
	}
	string_list_remove(&plan->cd->proxy.spec.ro_db_uids, dbuid);
	if (strcmp(plan->cd->proxy.spec.master_db_uid, dbuid) == 0)
		plan->cd->proxy.spec.master_db_uid[0] = '\0';
	(void) cluster_data_remove_db(plan->cd, dbuid);
	plan_event(plan, PLANNER_EVENT_DB_REMOVED, dbuid, keeper, "db %s on keeper %s removed: %s", dbuid, keeper, why);
}

/* ---- step 2: initialization ---- */

static void
init_new_or_pitr(Plan *plan)
{
	Cluster    *c = &plan->cd->cluster;
	const ClusterSpec *spec = &c->spec;
	const Keeper *pool[256];
	size_t		n = 0;
	const Keeper *k;
	Db		   *db;

	/* Healthy keepers that may be master; the one whose init timed out only when it is the only one. */
	for (int pass = 0; pass < 2 && n == 0; pass++)
		for (size_t i = 0; i < plan->cd->keeper_count && n < 256; i++)
		{
			k = plan->cd->keepers[i];
			if (!k->status.healthy || !k->status.can_be_master || k->status.boot_uuid[0] == '\0')
				continue;
			if (pass == 0 && strcmp(k->uid, plan->mem->init_failed_keeper) == 0)
				continue;
			pool[n++] = k;
		}
	if (n == 0)
		return;
	k = pool[plan->in->random(plan->in->random_ctx) % n];
	if (spec->init_mode == INIT_MODE_PITR)
	{
		db = add_db(plan, k->uid, INIT_MODE_PITR, DB_ROLE_MASTER);
		if (db == NULL)
			return;
		db->spec.pitr_config = pitr_config_dup(spec->pitr_config);
		make_master_type(plan, db);
	}
	else
	{
		db = add_db(plan, k->uid, INIT_MODE_NEW, DB_ROLE_MASTER);
		if (db == NULL)
			return;
		if (spec->new_config != NULL && (db->spec.new_config = new_config_dup(spec->new_config)) == NULL)
			plan->oom = true;
	}
	db->spec.include_previous_config = spec->merge_pg_parameters;
	copy_uid(c->status.master, db->uid);
	plan_event(plan, PLANNER_EVENT_INIT_STARTED, db->uid, k->uid,
			   "init (%s): db %s on keeper %s, chosen at random among %zu healthy keepers", init_mode_to_string(spec->init_mode),
			   db->uid, k->uid, n);
}

static void
init_existing(Plan *plan)
{
	Cluster    *c = &plan->cd->cluster;
	const ClusterSpec *spec = &c->spec;
	const char *kuid = spec->existing_config != NULL ? spec->existing_config->keeper_uid : "";
	const Keeper *k = cluster_data_find_keeper(plan->cd, kuid);
	Db		   *db;

	if (k == NULL || !k->status.healthy || k->status.boot_uuid[0] == '\0')
		return;
	db = add_db(plan, k->uid, INIT_MODE_EXISTING, DB_ROLE_MASTER);
	if (db == NULL)
		return;
	db->spec.include_previous_config = spec->merge_pg_parameters;
	copy_uid(c->status.master, db->uid);
	plan_event(plan, PLANNER_EVENT_INIT_STARTED, db->uid, k->uid, "init (existing): db %s on keeper %s", db->uid,
			   k->uid);
}

/* Adopts the initial instance's parameters into the spec (mergePgParameters); false when the spec refuses them. */
static bool
merge_initial_parameters(Plan *plan, const Db *db, char *err, size_t errlen)
{
	json_t	   *sparse = plan->cd->cluster.spec_sparse ? json_deep_copy(plan->cd->cluster.spec_sparse) : json_object();
	json_t	   *params = json_object();
	bool		ok;

	if (sparse == NULL || params == NULL)
	{
		json_decref(sparse);
		json_decref(params);
		plan->oom = true;
		return false;
	}
	for (size_t i = 0; i < db->status.pg_parameters.count; i++)
		json_object_set_new(params, db->status.pg_parameters.items[i].name,
							json_string(db->status.pg_parameters.items[i].value));
	json_object_set_new(sparse, "pgParameters", params);
	ok = cluster_data_set_spec(plan->cd, sparse, err, errlen);
	json_decref(sparse);
	return ok;
}

static void
plan_init(Plan *plan)
{
	Cluster    *c = &plan->cd->cluster;
	const ClusterSpec *spec = &c->spec;
	Db		   *master = cluster_data_master_db(plan->cd);
	int64_t		timeout = 0;
	char		b1[DURATION_FORMAT_SIZE];
	char		err[512];

	if (master == NULL)
	{
		c->status.master[0] = '\0';
		switch (spec->init_mode)
		{
			case INIT_MODE_NEW:
			case INIT_MODE_PITR:
				init_new_or_pitr(plan);
				break;
			case INIT_MODE_EXISTING:
				init_existing(plan);
				break;
			case INIT_MODE_NONE:
			case INIT_MODE_RESYNC:
				break;
		}
		return;
	}
	switch (master->spec.init_mode)
	{
		case INIT_MODE_NEW:
			timeout = spec->init_timeout_ms;
			break;
		case INIT_MODE_EXISTING:
			timeout = spec->convergence_timeout_ms;
			break;
		case INIT_MODE_PITR:
			timeout = spec->sync_timeout_ms;
			break;
		case INIT_MODE_NONE:
		case INIT_MODE_RESYNC:
			timeout = spec->convergence_timeout_ms;
			break;
	}
	if (db_converged(master) && master->status.healthy)
	{
		master->spec.init_mode = INIT_MODE_NONE;
		master->spec.include_previous_config = false;
		if (spec->merge_pg_parameters && !merge_initial_parameters(plan, master, err, sizeof(err)))
			log_warn("could not adopt the initial instance's parameters: %s", err);
		c->status.phase = CLUSTER_PHASE_NORMAL;
		plan->mem->init_failed_keeper[0] = '\0';
		plan_event(plan, PLANNER_EVENT_INIT_DONE, master->uid, master->spec.keeper_uid,
				   "cluster initialized: db %s on keeper %s is master", master->uid, master->spec.keeper_uid);
		return;
	}
	/* Only a new cluster may move to another keeper: existing data and a pitr restore are not retried. */
	if (master->spec.init_mode == INIT_MODE_NEW && db_convergence_failed(plan, master, timeout))
	{
		char		kuid[UID_SIZE];
		char		duid[UID_SIZE];

		copy_uid(kuid, master->spec.keeper_uid);
		copy_uid(duid, master->uid);
		copy_uid(plan->mem->init_failed_keeper, kuid);
		while (plan->cd->db_count > 0)
			(void) cluster_data_remove_db(plan->cd, plan->cd->dbs[0]->uid);
		c->status.master[0] = '\0';
		plan_event(plan, PLANNER_EVENT_INIT_FAILED, duid, kuid,
				   "init of db %s on keeper %s did not converge within initTimeout %s: another keeper will be tried",
				   duid, kuid, fmt_ms(timeout, b1, sizeof(b1)));
	}
}

/* ---- step 3: failover ---- */

/* Why the master is failed (into buf), or NULL when it is not. */
static const char *
master_failure(Plan *plan, const Db *master, char *buf, size_t size)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;
	const Keeper *k = cluster_data_find_keeper(plan->cd, master->spec.keeper_uid);
	PlannerKeeperMemory *km = mem_keeper(plan, master->spec.keeper_uid);
	char		b1[DURATION_FORMAT_SIZE];
	char		b2[DURATION_FORMAT_SIZE];

	if (k == NULL)
	{
		snprintf(buf, size, "its keeper %s is gone", master->spec.keeper_uid);
		return buf;
	}
	if (km == NULL)
		return NULL;
	if (!k->status.healthy)
	{
		int64_t		silent = plan->in->now_ms - km->info_changed_ms;

		if (silent > spec->fail_interval_ms)
			snprintf(buf, size, "no report for %s (failInterval %s)", fmt_ms(silent, b1, sizeof(b1)),
					 fmt_ms(spec->fail_interval_ms, b2, sizeof(b2)));
		else
			snprintf(buf, size, "keeper forced to fail");
		return buf;
	}
	if (!master->status.healthy)
	{
		snprintf(buf, size, "postgres unhealthy for %s (failInterval %s)",
				 fmt_ms(plan->in->now_ms - km->db_error_since_ms, b1, sizeof(b1)),
				 fmt_ms(spec->fail_interval_ms, b2, sizeof(b2)));
		return buf;
	}
	if (db_convergence_failed(plan, master, spec->convergence_timeout_ms))
	{
		snprintf(buf, size, "generation %" PRId64 " not reached within convergenceTimeout %s", master->generation,
				 fmt_ms(spec->convergence_timeout_ms, b1, sizeof(b1)));
		return buf;
	}
	return NULL;
}

/*
 * True when this leader first saw db after the master's keeper last published: a master cut off from the store
 * holds its role on promises from the keepers of the cluster data it last read (src/common/fencing.h), which
 * cannot include such a DB, so electing it could make a second master.
 */
static bool
created_after_master_silence(Plan *plan, const Db *master, const Db *db)
{
	const PlannerKeeperMemory *km = NULL;
	const PlannerDbMemory *dm = NULL;

	for (size_t i = 0; i < plan->mem->keeper_count && km == NULL; i++)
		if (strcmp(plan->mem->keepers[i].uid, master->spec.keeper_uid) == 0)
			km = &plan->mem->keepers[i];
	for (size_t i = 0; i < plan->mem->db_count && dm == NULL; i++)
		if (strcmp(plan->mem->dbs[i].uid, db->uid) == 0)
			dm = &plan->mem->dbs[i];
	return km != NULL && dm != NULL && dm->first_seen_ms > km->info_changed_ms;
}

/* Why db may not replace master (into buf), or NULL when it may. */
static const char *
candidate_rejection(Plan *plan, const Db *master, const Db *db, char *buf, size_t size)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;
	const Keeper *k = cluster_data_find_keeper(plan->cd, db->spec.keeper_uid);
	char		why[256];
	char		l1[32];

	if (k == NULL || !k->status.healthy)
		return snprintf(buf, size, "keeper unhealthy"), buf;
	if (!k->status.can_be_master)
		return snprintf(buf, size, "canBeMaster=false"), buf;
	if (!db->status.healthy)
		return snprintf(buf, size, "postgres unhealthy"), buf;
	if (spec->failsafe_mode && created_after_master_silence(plan, master, db))
		return snprintf(buf, size, "created after the master was last heard from: a master in failsafe cannot "
						"know it (failsafeMode)"), buf;
	if (db->status.current_generation == CLUSTER_NO_GENERATION ||
		(!db_converged(db) && db->spec.init_mode != INIT_MODE_NONE))
		return snprintf(buf, size, "not initialized yet"), buf;
	if (db_invalid_reason(master, db, why, sizeof(why)) != NULL)
		return snprintf(buf, size, "%s", why), buf;
	if (db->status.timeline_id != master->status.timeline_id)
		return snprintf(buf, size, "timeline %" PRIu32 " differs from the master's %" PRIu32, db->status.timeline_id,
						master->status.timeline_id), buf;
	if (master->spec.synchronous_replication)
	{
		if (!string_list_contains(&master->spec.synchronous_standbys, db->uid) ||
			!string_list_contains(&master->status.synchronous_standbys, db->uid))
			return snprintf(buf, size, "not a known synchronous standby"), buf;
	}
	else if (master->status.xlog_pos > db->status.xlog_pos &&
			 master->status.xlog_pos - db->status.xlog_pos > (uint64_t) spec->max_standby_lag)
		return snprintf(buf, size, "lag %" PRIu64 " > maxStandbyLag %" PRId64 " (at %s)",
						master->status.xlog_pos - db->status.xlog_pos, spec->max_standby_lag,
						fmt_lsn(db->status.xlog_pos, l1, sizeof(l1))), buf;
	return NULL;
}

/* Re-points db as a plain standby of master_uid. */
static void
make_standby_of(Plan *plan, Db *db, const char *master_uid)
{
	db->spec.role = DB_ROLE_STANDBY;
	set_follow_internal(plan, db, master_uid);
	string_list_finish(&db->spec.followers);
	string_list_finish(&db->spec.synchronous_standbys);
	string_list_finish(&db->spec.external_synchronous_standbys);
	string_list_finish(&db->status.synchronous_standbys);
}

static void
set_fake_standby(Plan *plan, Db *master)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;

	string_list_finish(&master->spec.external_synchronous_standbys);
	if (master->spec.synchronous_standbys.count < (size_t) spec->min_synchronous_standbys)
		list_append(plan, &master->spec.external_synchronous_standbys, PLANNER_FAKE_STANDBY_NAME);
}

/* Sorts dbs (pointers) by WAL position, most advanced first, then by uid. */
static int
compare_most_advanced(const void *a, const void *b)
{
	const Db   *x = *(const Db *const *) a;
	const Db   *y = *(const Db *const *) b;

	if (x->status.xlog_pos != y->status.xlog_pos)
		return x->status.xlog_pos > y->status.xlog_pos ? -1 : 1;
	return strcmp(x->uid, y->uid);
}

/* sync_candidate: db may be listed as a synchronous standby of master (its keeper allows it, same timeline). */
static bool
sync_candidate(Plan *plan, const Db *master, const Db *db)
{
	const Keeper *k = cluster_data_find_keeper(plan->cd, db->spec.keeper_uid);

	return k != NULL && k->status.can_be_synchronous_replica && db->status.timeline_id == master->status.timeline_id;
}

/*
 * add_sync_candidates: in synchronous mode, the standbys a new master lists at once besides those carried over
 * from the old master: good standbys on its timeline that may be synchronous, most advanced first, up to
 * maxSynchronousStandbys. They follow the new master in the same output, so its commits wait for them from the
 * promotion on rather than for the fake standby until a later round lists them. Listing only makes commits
 * wait; they are not known in sync, so they are not electable until the new master reports them in sync (I4).
 */
static void
add_sync_candidates(Plan *plan, Db *nm, const Db *old)
{
	size_t		max = (size_t) plan->cd->cluster.spec.max_synchronous_standbys;
	Db		  **cand = calloc(plan->cd->db_count + 1, sizeof(*cand));
	size_t		n = 0;

	if (cand == NULL)
	{
		plan->oom = true;
		return;
	}
	for (size_t i = 0; i < plan->cd->db_count; i++)
	{
		Db		   *db = plan->cd->dbs[i];

		if (db == nm || db == old || !db_is_standby_type(db) ||
			string_list_contains(&nm->spec.synchronous_standbys, db->uid) ||
			db_state(plan, db) != DB_STATE_GOOD || !sync_candidate(plan, nm, db))
			continue;
		cand[n++] = db;
	}
	qsort(cand, n, sizeof(*cand), compare_most_advanced);
	for (size_t i = 0; i < n && nm->spec.synchronous_standbys.count < max; i++)
		list_append(plan, &nm->spec.synchronous_standbys, cand[i]->uid);
	free(cand);
}

/*
 * elect: makes new_uid the master in one output (docs/design.md section 7, step 2): the new master with the old one's
 * synchronous set carried over, every other standby re-pointed, the old master removed and the proxies told
 * "no master".
 */
static void
elect(Plan *plan, const char *old_uid, const char *new_uid, const char *why)
{
	Db		   *old = cluster_data_find_db(plan->cd, old_uid);
	Db		   *nm = cluster_data_find_db(plan->cd, new_uid);
	char		olduid[UID_SIZE];
	char		l1[32];

	copy_uid(olduid, old_uid);
	make_master_type(plan, nm);
	nm->spec.init_mode = INIT_MODE_NONE;
	string_list_finish(&nm->spec.followers);
	string_list_finish(&nm->spec.synchronous_standbys);
	string_list_finish(&nm->status.synchronous_standbys);
	nm->spec.synchronous_replication = old->spec.synchronous_replication;
	if (old->spec.synchronous_replication)
	{
		/*
		 * Every standby the old master listed had to acknowledge each commit, so those it knew in sync hold
		 * all of them: they stay listed and known, and stay electable should this promotion fail.
		 */
		list_set(plan, &nm->spec.synchronous_standbys, &old->spec.synchronous_standbys);
		string_list_remove(&nm->spec.synchronous_standbys, new_uid);
		for (size_t i = 0; i < old->status.synchronous_standbys.count; i++)
			if (string_list_contains(&nm->spec.synchronous_standbys, old->status.synchronous_standbys.items[i]))
				list_append(plan, &nm->status.synchronous_standbys, old->status.synchronous_standbys.items[i]);
		add_sync_candidates(plan, nm, old);
		string_list_sort(&nm->spec.synchronous_standbys);
		string_list_sort(&nm->status.synchronous_standbys);
		set_fake_standby(plan, nm);
	}
	for (size_t i = 0; i < plan->cd->db_count; i++)
	{
		Db		   *db = plan->cd->dbs[i];

		if (db != nm && db != old && db_is_standby_type(db))
			make_standby_of(plan, db, new_uid);
	}
	copy_uid(plan->cd->cluster.status.master, new_uid);
	plan->cd->proxy.spec.master_db_uid[0] = '\0';
	plan_event(plan, PLANNER_EVENT_MASTER_ELECTED, new_uid, nm->spec.keeper_uid,
			   "elected db %s on keeper %s: %s at %s (timeline %" PRIu32 ")", new_uid, nm->spec.keeper_uid, why,
			   fmt_lsn(nm->status.xlog_pos, l1, sizeof(l1)), nm->status.timeline_id);
	remove_db(plan, olduid, "old master, replaced");
	free(plan->mem->last_no_master_reason);
	plan->mem->last_no_master_reason = NULL;
}

static void
failover(Plan *plan, Db *master, const char *failure)
{
	const Db   *best = NULL;
	char		reasons[2048] = "";
	size_t		used = 0;
	size_t		candidates = 0;
	char		muid[UID_SIZE];

	copy_uid(muid, master->uid);
	for (size_t i = 0; i < plan->cd->db_count; i++)
	{
		const Db   *db = plan->cd->dbs[i];
		char		why[512];

		if (db == master || !db_is_standby_type(db))
			continue;
		candidates++;
		if (candidate_rejection(plan, master, db, why, sizeof(why)) != NULL)
		{
			if (used < sizeof(reasons))
				used += snprintf(reasons + used, sizeof(reasons) - used, "%sdb %s %s", used ? "; " : "", db->uid,
								 why);
			continue;
		}
		/* The most advanced on the master's timeline; equal positions go to the lowest uid (determinism). */
		if (best == NULL || db->status.xlog_pos > best->status.xlog_pos)
			best = db;
	}
	if (best == NULL)
	{
		char		key[2200];

		/*
		 * Reported once per change of the candidates' reasons, not every round (the failure's duration grows
		 * each round), so history/ stays readable.
		 */
		snprintf(key, sizeof(key), "%s: %s", muid, candidates ? reasons : "no standby");
		if (plan->mem->last_no_master_reason == NULL || strcmp(plan->mem->last_no_master_reason, key) != 0)
		{
			free(plan->mem->last_no_master_reason);
			plan->mem->last_no_master_reason = strdup(key);
			if (plan->mem->last_no_master_reason == NULL)
				plan->oom = true;
			plan_event(plan, PLANNER_EVENT_NO_ELIGIBLE_MASTER, muid, master->spec.keeper_uid,
					   "no eligible master to replace db %s (%s): %s", muid, failure,
					   candidates ? reasons : "no standby");
		}
		return;
	}
	plan_event(plan, PLANNER_EVENT_MASTER_FAILED, muid, master->spec.keeper_uid, "master db %s on keeper %s failed: %s",
			   muid, master->spec.keeper_uid, failure);
	{
		char		best_uid[UID_SIZE];

		copy_uid(best_uid, best->uid);
		elect(plan, muid, best_uid,
			  master->spec.synchronous_replication ? "most advanced known synchronous standby" : "most advanced standby");
	}
}


/* ---- step 3: planned switchover ---- */

/*
 * The switchover protocol (docs/sentinel.md "Switchover"), one phase per round at most, each phase written to
 * the cluster data so that a new leader resumes it:
 *   requested    validate the target (a failover candidate: healthy, canBeMaster, same timeline, within
 *                maxStandbyLag, in sync mode a known synchronous standby); default the most advanced one;
 *                proxies told "no master" (I3);
 *   fencing      every live proxy acknowledged: no client write can reach the master through a proxy any more;
 *                the old master's DB becomes a standby of the target, so its keeper stops PostgreSQL (fast
 *                shutdown: PostgreSQL sends every WAL record up to its shutdown checkpoint to the connected
 *                standbys before it exits);
 *   demoting     its keeper reports the shutdown checkpoint LSN: that is masterLsn;
 *   catching_up  the target has replayed up to masterLsn: it is elected in one write (elect(): old master DB
 *                removed, so its keeper rejoins with a resync DB, pg_rewind when possible).
 * Until the election nothing irreversible happened, so any failure (target unhealthy, master keeper gone,
 * timeout) aborts: the old master's DB gets role master back and the normal rules route the proxies to it.
 */

/* Every live proxy applied the current proxy generation; *live = how many are live. */
static bool proxy_is_live(Plan *plan, const ProxyInfo *pi);

static bool
proxies_all_acked(Plan *plan, size_t *live)
{
	bool		acked = true;

	*live = 0;
	for (size_t i = 0; i < plan->in->proxy_info_count; i++)
	{
		const ProxyInfo *pi = &plan->in->proxy_infos[i];

		if (!uid_is_valid(pi->uid) || !proxy_is_live(plan, pi))
			continue;
		(*live)++;
		if (pi->generation < plan->cd->proxy.generation)
			acked = false;
	}
	return acked;
}

static void
switchover_end(Plan *plan)
{
	switchover_free(plan->cd->cluster.status.switchover);
	plan->cd->cluster.status.switchover = NULL;
	plan->mem->switchover_event[0] = '\0';
}

static void
switchover_abort(Plan *plan, const char *why)
{
	Switchover *so = plan->cd->cluster.status.switchover;
	Db		   *old = cluster_data_find_db(plan->cd, so->from_db_uid);
	bool		restored = false;

	if (old != NULL && strcmp(plan->cd->cluster.status.master, old->uid) == 0 && !db_is_master_type(old))
	{
		PlannerKeeperMemory *km = mem_keeper(plan, old->spec.keeper_uid);

		/* It was told to stop: it is master again, and its stop is not held against its health. */
		make_master_type(plan, old);
		if (km != NULL)
			km->db_error_since_ms = -1;
		restored = true;
	}
	plan_event(plan, PLANNER_EVENT_SWITCHOVER_ABORTED, so->from_db_uid, so->target_db_uid,
			   "switchover from db %s aborted (phase %s): %s; db %s stays master%s", so->from_db_uid,
			   switchover_phase_to_string(so->phase), why, so->from_db_uid,
			   restored ? " (restarted as master)" : "");
	switchover_end(plan);
}

/* The target of a switchover being validated: the keeper asked for, else the most advanced candidate. */
static Db *
switchover_pick_target(Plan *plan, const Db *master, const Switchover *so, char *why, size_t size)
{
	Db		   *best = NULL;
	size_t		used = 0;

	why[0] = '\0';
	if (so->target_keeper_uid[0] != '\0')
	{
		Db		   *db = cluster_data_find_db_by_keeper(plan->cd, so->target_keeper_uid);
		char		reason[512];

		if (db == NULL)
			return snprintf(why, size, "keeper %s has no db", so->target_keeper_uid), NULL;
		if (db == master || !db_is_standby_type(db))
			return snprintf(why, size, "db %s on keeper %s is not a standby", db->uid, so->target_keeper_uid), NULL;
		if (candidate_rejection(plan, master, db, reason, sizeof(reason)) != NULL)
			return snprintf(why, size, "db %s on keeper %s: %s", db->uid, so->target_keeper_uid, reason), NULL;
		return db;
	}
	for (size_t i = 0; i < plan->cd->db_count; i++)
	{
		Db		   *db = plan->cd->dbs[i];
		char		reason[512];

		if (db == master || !db_is_standby_type(db))
			continue;
		if (candidate_rejection(plan, master, db, reason, sizeof(reason)) != NULL)
		{
			if (used < size)
				used += (size_t) snprintf(why + used, size - used, "%sdb %s %s", used ? "; " : "", db->uid, reason);
			continue;
		}
		if (best == NULL || db->status.xlog_pos > best->status.xlog_pos)
			best = db;
	}
	if (best == NULL && used == 0)
		snprintf(why, size, "no standby");
	return best;
}

/* One step of the switchover in progress; *elected_now when the target was elected this round. */
static void
switchover_step(Plan *plan, bool *elected_now)
{
	Switchover *so = plan->cd->cluster.status.switchover;
	Db		   *master = cluster_data_master_db(plan->cd);
	Db		   *target;
	const Keeper *tk;
	const Keeper *mk;
	char		why[2048];
	char		b1[DURATION_FORMAT_SIZE];
	char		l1[32];
	char		l2[32];
	size_t		live;

	if (strcmp(plan->mem->switchover_event, so->event_id) != 0)
	{
		copy_uid(plan->mem->switchover_event, so->event_id);
		plan->mem->switchover_since_ms = plan->in->now_ms;
	}
	if (master == NULL || strcmp(master->uid, so->from_db_uid) != 0)
	{
		switchover_abort(plan, "the master is no longer the one the switchover was asked from");
		return;
	}
	mk = cluster_data_find_keeper(plan->cd, master->spec.keeper_uid);
	if (so->phase == SWITCHOVER_PHASE_REQUESTED)
	{
		if (plan->cd->cluster.status.phase != CLUSTER_PHASE_NORMAL)
			return switchover_abort(plan, "the cluster is still initializing");
		if (master_failure(plan, master, why, sizeof(why)) != NULL)
			return switchover_abort(plan, why);
		if (!master->status.healthy || !db_converged(master))
			return switchover_abort(plan, "the master is not healthy and converged");
		target = switchover_pick_target(plan, master, so, why, sizeof(why));
		if (target == NULL)
		{
			char		text[2100];

			snprintf(text, sizeof(text), "no eligible target: %s", why);
			return switchover_abort(plan, text);
		}
		copy_uid(so->target_db_uid, target->uid);
		so->phase = SWITCHOVER_PHASE_FENCING;
		plan->cd->proxy.spec.master_db_uid[0] = '\0';
		plan_event(plan, PLANNER_EVENT_SWITCHOVER_STARTED, master->uid, target->uid,
				   "switchover from db %s on keeper %s to db %s on keeper %s (at %s, master at %s, timeout %s): "
				   "proxies told no master", master->uid, master->spec.keeper_uid, target->uid,
				   target->spec.keeper_uid, fmt_lsn(target->status.xlog_pos, l1, sizeof(l1)),
				   fmt_lsn(master->status.xlog_pos, l2, sizeof(l2)), fmt_ms(so->timeout_ms, b1, sizeof(b1)));
		return;
	}

	/* fencing, demoting, catching up: the target and the old master's keeper must stay, within the timeout */
	target = cluster_data_find_db(plan->cd, so->target_db_uid);
	tk = target != NULL ? cluster_data_find_keeper(plan->cd, target->spec.keeper_uid) : NULL;
	if (target == NULL || !db_is_standby_type(target) || tk == NULL || !tk->status.healthy || !target->status.healthy)
		return switchover_abort(plan, "the target is gone or unhealthy");
	if (mk == NULL || !mk->status.healthy)
		return switchover_abort(plan, "the old master's keeper is unhealthy");
	if (so->timeout_ms > 0 && plan->in->now_ms - plan->mem->switchover_since_ms > so->timeout_ms)
	{
		snprintf(why, sizeof(why), "not done within %s (target at %s, needs %s)",
				 fmt_ms(so->timeout_ms, b1, sizeof(b1)), fmt_lsn(target->status.xlog_pos, l1, sizeof(l1)),
				 so->master_lsn ? fmt_lsn(so->master_lsn, l2, sizeof(l2)) : "the master's final position");
		return switchover_abort(plan, why);
	}
	switch (so->phase)
	{
		case SWITCHOVER_PHASE_REQUESTED:
			break;
		case SWITCHOVER_PHASE_FENCING:
			if (!proxies_all_acked(plan, &live))
				return;
			/*
			 * Role standby is what makes its keeper stop PostgreSQL; its synchronous set stays, so that an abort
			 * gives back the master exactly as it was (I4).
			 */
			master->spec.role = DB_ROLE_STANDBY;
			set_follow_internal(plan, master, target->uid);
			so->phase = SWITCHOVER_PHASE_DEMOTING;
			plan_event(plan, PLANNER_EVENT_SWITCHOVER_DEMOTING, master->uid, master->spec.keeper_uid,
					   "%zu live proxies acknowledged generation %" PRId64 ": db %s on keeper %s told to stop writes",
					   live, plan->cd->proxy.generation, master->uid, master->spec.keeper_uid);
			return;
		case SWITCHOVER_PHASE_DEMOTING:
			{
				const PostgresState *ps = db_report(plan, master);

				if (ps == NULL || ps->healthy || ps->stopped_lsn == 0)
					return;
				so->master_lsn = ps->stopped_lsn;
				so->phase = SWITCHOVER_PHASE_CATCHING_UP;
				plan_event(plan, PLANNER_EVENT_SWITCHOVER_CATCHING_UP, master->uid, target->uid,
						   "db %s stopped at %s: waiting for db %s (at %s) to replay it", master->uid,
						   fmt_lsn(so->master_lsn, l1, sizeof(l1)), target->uid,
						   fmt_lsn(target->status.xlog_pos, l2, sizeof(l2)));
			}
			/* the target may already be there */
			__attribute__((fallthrough));
		case SWITCHOVER_PHASE_CATCHING_UP:
			{
				const PostgresState *ts = db_report(plan, target);
				char		muid[UID_SIZE];
				char		tuid[UID_SIZE];

				if (ts == NULL || !ts->healthy || ts->xlog_pos < so->master_lsn)
					return;
				copy_uid(muid, master->uid);
				copy_uid(tuid, target->uid);
				snprintf(why, sizeof(why), "switchover, replayed the old master's final %s",
						 fmt_lsn(so->master_lsn, l1, sizeof(l1)));
				elect(plan, muid, tuid, why);
				switchover_end(plan);
				*elected_now = true;
			}
			return;
	}
}

/*
 * Maintenance mode: reported once when seen; a master failure is reported once too, so the operator finds in
 * history why nothing happened.
 */
static void
observe_pause(Plan *plan)
{
	const Maintenance *m = plan->cd->cluster.status.maintenance;
	Db		   *master;
	char		failure[512];

	if (m == NULL)
	{
		if (plan->mem->paused_seen)
			plan_event(plan, PLANNER_EVENT_RESUMED, NULL, NULL, "cluster resumed: decisions resume");
		plan->mem->paused_seen = false;
		plan->mem->paused_failure_seen = false;
		return;
	}
	if (!plan->mem->paused_seen)
		plan_event(plan, PLANNER_EVENT_PAUSED, NULL, NULL, "cluster paused by %s%s%s: no decision is taken",
				   m->by[0] ? m->by : "an operator", m->reason[0] ? ": " : "", m->reason);
	plan->mem->paused_seen = true;
	master = plan->cd->cluster.status.phase == CLUSTER_PHASE_NORMAL ? cluster_data_master_db(plan->cd) : NULL;
	if (master != NULL && master_failure(plan, master, failure, sizeof(failure)) != NULL)
	{
		if (!plan->mem->paused_failure_seen)
			plan_event(plan, PLANNER_EVENT_PAUSED, master->uid, master->spec.keeper_uid,
					   "master db %s failed (%s) but the cluster is paused: no failover until resume", master->uid,
					   failure);
		plan->mem->paused_failure_seen = true;
	}
	else
		plan->mem->paused_failure_seen = false;
}

/* ---- step 3: steady state ---- */

static bool
lists_same_set(const StringList *a, const StringList *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (!string_list_contains(b, a->items[i]))
			return false;
	return true;
}

/* The master's known-synchronous set from its report: status := (status ∩ spec) ∪ (reported ∩ spec). */
static void
update_known_sync(Plan *plan, Db *master)
{
	const PostgresState *ps = db_report(plan, master);
	StringList	known;

	string_list_init(&known);
	for (size_t i = 0; i < master->status.synchronous_standbys.count; i++)
		if (string_list_contains(&master->spec.synchronous_standbys, master->status.synchronous_standbys.items[i]))
			list_append(plan, &known, master->status.synchronous_standbys.items[i]);
	if (ps != NULL && ps->healthy)
		for (size_t i = 0; i < ps->synchronous_standbys.count; i++)
		{
			const char *s = ps->synchronous_standbys.items[i];

			if (string_list_contains(&master->spec.synchronous_standbys, s) && !string_list_contains(&known, s))
				list_append(plan, &known, s);
		}
	string_list_sort(&known);
	string_list_finish(&master->status.synchronous_standbys);
	master->status.synchronous_standbys = known;
}

/*
 * manage_sync_standbys (after Stolon's): the set changes only once every listed standby is known in
 * sync, and a change that adds a member keeps the previous members too, so one known-synchronous standby is
 * always listed; below minSynchronousStandbys the fake standby makes the master block rather than lose (I4).
 */
static void
manage_sync_standbys(Plan *plan, Db *master, Db **good, size_t good_count)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;
	StringList	prev;
	StringList	next;
	size_t		max = (size_t) spec->max_synchronous_standbys;
	size_t		min = (size_t) spec->min_synchronous_standbys;
	bool		added = false;

	if (!lists_same_set(&master->status.synchronous_standbys, &master->spec.synchronous_standbys))
	{
		/*
		 * Waiting for the listed standbys; give up on those not yet in sync that are gone or failed. One still
		 * converging (re-pointed to a new master by the election that listed it) is waited for: it fails by
		 * itself after convergenceTimeout.
		 */
		for (size_t i = 0; i < master->spec.synchronous_standbys.count; i++)
		{
			const char *s = master->spec.synchronous_standbys.items[i];
			const Db   *db = cluster_data_find_db(plan->cd, s);

			if (string_list_contains(&master->status.synchronous_standbys, s))
				continue;
			if (db == NULL || db_state(plan, db) == DB_STATE_FAILED)
			{
				char		dropped[UID_SIZE];

				copy_uid(dropped, s);	/* s is freed by list_set */
				list_set(plan, &master->spec.synchronous_standbys, &master->status.synchronous_standbys);
				plan_event(plan, PLANNER_EVENT_SYNC_STANDBYS_CHANGED, master->uid, dropped,
						   "synchronous standby %s dropped before reaching sync: it is gone or failed", dropped);
				break;
			}
		}
		set_fake_standby(plan, master);
		return;
	}
	if (!string_list_copy(&prev, &master->spec.synchronous_standbys))
	{
		plan->oom = true;
		return;
	}
	string_list_init(&next);
	for (size_t i = 0; i < prev.count; i++)
	{
		bool		is_good = false;

		for (size_t g = 0; g < good_count; g++)
			is_good = is_good || strcmp(good[g]->uid, prev.items[i]) == 0;
		if (is_good && next.count < max)
			list_append(plan, &next, prev.items[i]);
	}
	for (size_t g = 0; g < good_count && next.count < max; g++)
	{
		if (!sync_candidate(plan, master, good[g]) || string_list_contains(&next, good[g]->uid))
			continue;
		list_append(plan, &next, good[g]->uid);
		added = added || !string_list_contains(&prev, good[g]->uid);
	}
	for (size_t i = 0; i < prev.count && next.count < min; i++)
		if (!string_list_contains(&next, prev.items[i]))
			list_append(plan, &next, prev.items[i]);
	if (added)
		for (size_t i = 0; i < prev.count; i++)
			if (!string_list_contains(&next, prev.items[i]))
				list_append(plan, &next, prev.items[i]);
	string_list_sort(&next);
	if (!string_list_equal(&next, &master->spec.synchronous_standbys))
	{
		char		text[1024] = "";
		size_t		used = 0;

		for (size_t i = 0; i < next.count && used < sizeof(text); i++)
			used += snprintf(text + used, sizeof(text) - used, "%s%s", i ? "," : "", next.items[i]);
		plan_event(plan, PLANNER_EVENT_SYNC_STANDBYS_CHANGED, master->uid, NULL,
				   "synchronous standbys of db %s: [%s]", master->uid, text);
		string_list_finish(&master->spec.synchronous_standbys);
		master->spec.synchronous_standbys = next;
	}
	else
		string_list_finish(&next);
	string_list_finish(&prev);
	set_fake_standby(plan, master);
}

static void
steady_state(Plan *plan, Db *master)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;
	bool		sync_repl = spec->synchronous_replication && spec->role == CLUSTER_ROLE_MASTER;
	char		muid[UID_SIZE];
	Db		  **good = NULL;
	size_t		good_count = 0;
	size_t		converging = 0;
	char		why[512];
	bool		again;

	copy_uid(muid, master->uid);
	if (spec->role == CLUSTER_ROLE_MASTER)
		make_master_type(plan, master);
	master->spec.synchronous_replication = sync_repl;
	if (!sync_repl)
	{
		string_list_finish(&master->spec.synchronous_standbys);
		string_list_finish(&master->spec.external_synchronous_standbys);
		string_list_finish(&master->status.synchronous_standbys);
	}
	else
	{
		update_known_sync(plan, master);
		set_fake_standby(plan, master);
	}

	if (!master->status.healthy || !db_converged(master))
		return;

	/* a-c: old masters, invalid DBs, standbys that cannot catch up. Removal restarts the scan. */
	do
	{
		again = false;
		for (size_t i = 0; i < plan->cd->db_count && !again; i++)
		{
			Db		   *db = plan->cd->dbs[i];

			if (db == master)
				continue;
			if (db_is_master_type(db))
				remove_db(plan, db->uid, "old master"), again = true;
			else if (db_invalid_reason(master, db, why, sizeof(why)) != NULL)
				remove_db(plan, db->uid, why), again = true;
			else if (db_cannot_sync(plan, master, db))
				remove_db(plan, db->uid, "needs WAL the master no longer has"), again = true;
		}
	} while (again && !plan->oom);

	/* d: classify standbys; good ones are initialized. */
	good = calloc(plan->cd->db_count + 1, sizeof(*good));
	if (good == NULL)
	{
		plan->oom = true;
		return;
	}
	for (size_t i = 0; i < plan->cd->db_count; i++)
	{
		Db		   *db = plan->cd->dbs[i];

		if (db == master || !db_is_standby_type(db))
			continue;
		switch (db_state(plan, db))
		{
			case DB_STATE_GOOD:
				db->spec.init_mode = INIT_MODE_NONE;
				good[good_count++] = db;
				break;
			case DB_STATE_CONVERGING:
				converging++;
				break;
			case DB_STATE_FAILED:
				break;
		}
	}
	qsort(good, good_count, sizeof(*good), compare_most_advanced);

	/* e */
	if (sync_repl)
		manage_sync_standbys(plan, master, good, good_count);

	/* f: standby count. */
	if (good_count >= (size_t) spec->max_standbys_per_sender)
	{
		size_t		kept = 0;
		StringList	doomed;

		string_list_init(&doomed);
		for (size_t i = 0; i < plan->cd->db_count; i++)
		{
			Db		   *db = plan->cd->dbs[i];
			bool		is_good = false;

			if (db == master || !db_is_standby_type(db))
				continue;
			if (string_list_contains(&master->spec.synchronous_standbys, db->uid))
				continue;
			for (size_t g = 0; g < good_count; g++)
				is_good = is_good || good[g] == db;
			if (!is_good)
				list_append(plan, &doomed, db->uid);
		}
		for (size_t g = 0; g < good_count; g++)
		{
			bool		listed = string_list_contains(&master->spec.synchronous_standbys, good[g]->uid);

			if (listed || kept < (size_t) spec->max_standbys_per_sender)
				kept++;
			else
				list_append(plan, &doomed, good[g]->uid);
		}
		for (size_t i = 0; i < doomed.count; i++)
			remove_db(plan, doomed.items[i], "not needed: maxStandbysPerSender reached with good standbys");
		string_list_finish(&doomed);
	}
	else
	{
		size_t		want = (size_t) spec->max_standbys_per_sender - good_count;

		for (size_t i = 0; i < plan->cd->keeper_count && converging < want && !plan->oom; i++)
		{
			const Keeper *k = plan->cd->keepers[i];
			Db		   *db;

			if (!k->status.healthy || k->status.boot_uuid[0] == '\0' ||
				cluster_data_find_db_by_keeper(plan->cd, k->uid) != NULL)
				continue;
			db = add_db(plan, k->uid, INIT_MODE_RESYNC, DB_ROLE_STANDBY);
			if (db == NULL)
				break;
			set_follow_internal(plan, db, muid);
			converging++;
			plan_event(plan, PLANNER_EVENT_STANDBY_ADDED, db->uid, k->uid,
					   "new standby db %s on free keeper %s following db %s", db->uid, k->uid, muid);
		}
	}
	free(good);

	/* g: every standby follows the master. */
	master = cluster_data_find_db(plan->cd, muid);
	for (size_t i = 0; i < plan->cd->db_count; i++)
	{
		Db		   *db = plan->cd->dbs[i];

		if (db != master && db_is_standby_type(db))
			make_standby_of(plan, db, muid);
	}
}

/* Removes keepers without a DB that have not been healthy for deadKeeperRemovalInterval (wall clock, hours). */
static void
remove_dead_keepers(Plan *plan)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;
	char		b1[DURATION_FORMAT_SIZE];

	for (size_t i = 0; i < plan->cd->keeper_count;)
	{
		Keeper	   *k = plan->cd->keepers[i];

		if (!k->status.healthy && cluster_data_find_db_by_keeper(plan->cd, k->uid) == NULL &&
			plan->in->wall_ms - k->status.last_healthy_time_ms > spec->dead_keeper_removal_interval_ms)
		{
			char		uid[UID_SIZE];

			copy_uid(uid, k->uid);
			(void) cluster_data_remove_keeper(plan->cd, uid);
			plan_event(plan, PLANNER_EVENT_KEEPER_REMOVED, uid, NULL,
					   "keeper %s removed: no DB and unhealthy for more than deadKeeperRemovalInterval %s", uid,
					   fmt_ms(spec->dead_keeper_removal_interval_ms, b1, sizeof(b1)));
			continue;
		}
		i++;
	}
}

/* ---- step 4: what every round recomputes ---- */

static void
update_followers(Plan *plan)
{
	Db		   *master = cluster_data_master_db(plan->cd);

	if (master == NULL)
		return;
	string_list_finish(&master->spec.followers);
	for (size_t i = 0; i < plan->cd->db_count; i++)
	{
		const Db   *db = plan->cd->dbs[i];

		if (db != master && db->spec.follow_config != NULL && db->spec.follow_config->type == FOLLOW_TYPE_INTERNAL &&
			strcmp(db->spec.follow_config->db_uid, master->uid) == 0)
			list_append(plan, &master->spec.followers, db->uid);
	}
	string_list_sort(&master->spec.followers);
}

/* Live proxies: their infoUID changed within twice their proxyTimeout on our clock (a new one counts as live). */
static bool
proxy_is_live(Plan *plan, const ProxyInfo *pi)
{
	PlannerProxyMemory *pm = mem_proxy(plan, pi->uid);

	if (pm == NULL)
		return false;
	if (strcmp(pm->info_uid, pi->info_uid) != 0)
	{
		copy_uid(pm->info_uid, pi->info_uid);
		pm->info_changed_ms = plan->in->now_ms;
	}
	return plan->in->now_ms - pm->info_changed_ms <= 2 * pi->proxy_timeout_ms;
}

static void
update_proxies(Plan *plan, bool elected_now, bool decide)
{
	ProxySpec  *ps = &plan->cd->proxy.spec;
	Db		   *master = cluster_data_master_db(plan->cd);
	StringList	live;
	bool		all_acked = true;
	char		waiting[UID_SIZE] = "";

	string_list_init(&live);
	for (size_t i = 0; i < plan->in->proxy_info_count; i++)
	{
		const ProxyInfo *pi = &plan->in->proxy_infos[i];

		if (!uid_is_valid(pi->uid) || !proxy_is_live(plan, pi) || string_list_contains(&live, pi->uid))
			continue;
		list_append(plan, &live, pi->uid);
		if (pi->generation < plan->cd->proxy.generation)
		{
			all_acked = false;
			copy_uid(waiting, pi->uid);
		}
	}
	string_list_sort(&live);
	if (!decide)
	{
		string_list_finish(&live);
		return;
	}

	/* I3: the master is published only once every live proxy has applied "no master". */
	if (ps->master_db_uid[0] == '\0' && master != NULL && !elected_now && master->status.healthy &&
		plan->cd->cluster.status.switchover == NULL &&
		db_converged(master) && plan->cd->cluster.status.phase == CLUSTER_PHASE_NORMAL)
	{
		if (all_acked)
		{
			copy_uid(ps->master_db_uid, master->uid);
			plan_event(plan, PLANNER_EVENT_PROXIES_ROUTED, master->uid, NULL,
					   "proxies routed to db %s: %zu live proxies acknowledged generation %" PRId64, master->uid,
					   live.count, plan->cd->proxy.generation);
		}
		else
			log_debug("waiting for proxy %s to acknowledge generation %" PRId64, waiting, plan->cd->proxy.generation);
	}
	if (!string_list_equal(&live, &ps->enabled_proxies))
	{
		plan_event(plan, PLANNER_EVENT_ENABLED_PROXIES_CHANGED, NULL, NULL, "enabled proxies: %zu (were %zu)",
				   live.count, ps->enabled_proxies.count);
		string_list_finish(&ps->enabled_proxies);
		ps->enabled_proxies = live;
	}
	else
		string_list_finish(&live);

	/* The read-only set: healthy, converged, valid standbys of the master within maxReadOnlyLag. */
	{
		StringList	ro;
		char		why[256];

		string_list_init(&ro);
		for (size_t i = 0; master != NULL && i < plan->cd->db_count; i++)
		{
			const Db   *db = plan->cd->dbs[i];
			const Keeper *k = cluster_data_find_keeper(plan->cd, db->spec.keeper_uid);

			if (db == master || db->spec.follow_config == NULL ||
				db->spec.follow_config->type != FOLLOW_TYPE_INTERNAL ||
				strcmp(db->spec.follow_config->db_uid, master->uid) != 0)
				continue;
			if (k == NULL || !k->status.healthy || !db->status.healthy || !db_converged(db) ||
				db->spec.init_mode != INIT_MODE_NONE || db_invalid_reason(master, db, why, sizeof(why)) != NULL)
				continue;
			if (master->status.xlog_pos > db->status.xlog_pos &&
				master->status.xlog_pos - db->status.xlog_pos > (uint64_t) plan->cd->cluster.spec.max_read_only_lag)
				continue;
			list_append(plan, &ro, db->uid);
		}
		string_list_sort(&ro);
		if (!string_list_equal(&ro, &ps->ro_db_uids))
		{
			plan_event(plan, PLANNER_EVENT_READ_ONLY_CHANGED, NULL, NULL, "read-only targets: %zu (were %zu)",
					   ro.count, ps->ro_db_uids.count);
			string_list_finish(&ps->ro_db_uids);
			ps->ro_db_uids = ro;
		}
		else
			string_list_finish(&ro);
	}
}

static void
copy_spec_fields(Plan *plan)
{
	const ClusterSpec *spec = &plan->cd->cluster.spec;
	const Db   *master = cluster_data_master_db(plan->cd);

	for (size_t i = 0; i < plan->cd->db_count && !plan->oom; i++)
	{
		Db		   *db = plan->cd->dbs[i];
		DbSpec	   *s = &db->spec;
		bool		is_master = db == master;
		PgParameters params;

		s->request_timeout_ms = spec->request_timeout_ms;
		s->max_standbys = spec->max_standbys;
		s->use_pg_rewind = spec->use_pg_rewind;
		s->additional_wal_senders = spec->additional_wal_senders;
		if (!pg_parameters_copy(&params, &spec->pg_parameters))
		{
			plan->oom = true;
			return;
		}
		pg_parameters_finish(&s->pg_parameters);
		s->pg_parameters = params;
		if (s->pg_hba != NULL)
		{
			string_list_finish(s->pg_hba);
			free(s->pg_hba);
			s->pg_hba = NULL;
		}
		if (spec->pg_hba != NULL)
		{
			s->pg_hba = malloc(sizeof(*s->pg_hba));
			if (s->pg_hba == NULL || !string_list_copy(s->pg_hba, spec->pg_hba))
			{
				free(s->pg_hba);
				s->pg_hba = NULL;
				plan->oom = true;
				return;
			}
		}
		if (!is_master)
			s->synchronous_replication = false;
		if (is_master)
			list_set(plan, &s->additional_replication_slots, &spec->additional_master_replication_slots);
		else
			string_list_finish(&s->additional_replication_slots);
		if (s->follow_config != NULL && s->follow_config->type == FOLLOW_TYPE_EXTERNAL && spec->standby_config != NULL)
		{
			standby_settings_free(s->follow_config->standby_settings);
			s->follow_config->standby_settings = standby_settings_dup(spec->standby_config->standby_settings);
			archive_recovery_settings_free(s->follow_config->archive_recovery_settings);
			s->follow_config->archive_recovery_settings =
				archive_recovery_settings_dup(spec->standby_config->archive_recovery_settings);
		}
	}
}

/* Bumps the generation of every DB whose spec differs from the one read, and the proxy's when its spec did. */
static void
bump_generations(Plan *plan)
{
	const ClusterData *before = plan->in->cd;
	const ProxySpec *a = &before->proxy.spec;
	ProxySpec  *b = &plan->cd->proxy.spec;

	for (size_t i = 0; i < plan->cd->db_count; i++)
	{
		Db		   *db = plan->cd->dbs[i];
		const Db   *old = cluster_data_find_db(before, db->uid);

		if (old != NULL && !db_spec_equal(&old->spec, &db->spec))
		{
			db->generation = old->generation + 1;
			db->change_time_ms = plan->in->wall_ms;
		}
	}
	if (strcmp(a->master_db_uid, b->master_db_uid) != 0 || !string_list_equal(&a->ro_db_uids, &b->ro_db_uids) ||
		!string_list_equal(&a->enabled_proxies, &b->enabled_proxies))
	{
		plan->cd->proxy.generation = before->proxy.generation + 1;
		plan->cd->proxy.change_time_ms = plan->in->wall_ms;
	}
}

static bool
data_changed(Plan *plan)
{
	return !cluster_data_equal(plan->in->cd, plan->cd);
}

/* ---- the round ---- */

bool
planner_run(const PlannerInput *in, PlannerMemory *mem, PlannerOutput *out)
{
	Plan		plan;
	bool		elected_now = false;

	memset(out, 0, sizeof(*out));
	memset(&plan, 0, sizeof(plan));
	plan.in = in;
	plan.mem = mem;
	plan.out = out;
	plan.cd = &out->cd;
	if (!cluster_data_copy(&out->cd, in->cd))
	{
		log_error("planner: out of memory copying the cluster data");
		return false;
	}
	plan.fresh_leader = in->now_ms - mem->leader_since_ms < in->cd->cluster.spec.fail_interval_ms;

	observe_keepers(&plan);
	observe_dbs(&plan);
	if (!plan.fresh_leader && !plan.oom)
		observe_pause(&plan);
	if (!plan.fresh_leader && !plan.oom && plan.cd->cluster.status.maintenance == NULL)
	{
		if (plan.cd->cluster.status.phase == CLUSTER_PHASE_INITIALIZING)
			plan_init(&plan);
		else
		{
			Db		   *master;
			char		failure[512];

			remove_dead_keepers(&plan);
			master = cluster_data_master_db(plan.cd);
			if (plan.cd->cluster.status.switchover != NULL)
				switchover_step(&plan, &elected_now);
			else if (master != NULL)
			{
				if (master_failure(&plan, master, failure, sizeof(failure)) != NULL)
				{
					char		before[UID_SIZE];

					copy_uid(before, master->uid);
					failover(&plan, master, failure);
					elected_now = strcmp(before, plan.cd->cluster.status.master) != 0;
				}
				else
				{
					free(mem->last_no_master_reason);
					mem->last_no_master_reason = NULL;
					steady_state(&plan, master);
				}
			}
		}
	}
	if (!plan.fresh_leader && !plan.oom)
		update_followers(&plan);
	update_proxies(&plan, elected_now, !plan.fresh_leader);
	if (!plan.fresh_leader)
		copy_spec_fields(&plan);
	bump_generations(&plan);
	mem_prune(&plan);
	out->changed = data_changed(&plan);
	if (out->changed)
		out->cd.change_time_ms = in->wall_ms;
	if (plan.oom)
	{
		log_error("planner: out of memory");
		planner_output_finish(out);
		return false;
	}
	return true;
}

void
planner_output_finish(PlannerOutput *out)
{
	for (size_t i = 0; i < out->event_count; i++)
	{
		free(out->events[i].reason);
		string_list_finish(&out->events[i].uids);
	}
	free(out->events);
	cluster_data_finish(&out->cd);
	memset(out, 0, sizeof(*out));
	cluster_data_init(&out->cd);
}
