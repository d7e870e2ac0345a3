/*
 * tests/unit/test_planner.c
 *    The sentinel's planner, driven through a small simulated world: keepers that publish reports and converge
 *    to the cluster data as real keepers would (echo generations, stream WAL, promote onto a new timeline),
 *    proxies that acknowledge generations or stay silent, and a clock. Each behaviour is one table row: a script
 *    of actions and expectations. A randomized property check then plays thousands of rounds of deaths,
 *    revivals, lag and proxy silence, asserting the safety invariants (docs/design.md I1, I3, I4) after every round.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/valgrind.h>

#include "cluster.h"
#include "cluster_json.h"
#include "sentinel/planner.h"

#define MAX_KEEPERS 6
#define MAX_PROXIES 3
#define ROUND_MS 500

/* ---- the simulated world ---- */

typedef enum KeeperLife
{
	LIFE_ALIVE = 0,				/* publishes a fresh report every round */
	LIFE_FROZEN,				/* its report stays in the store, unchanged (paused host) */
	LIFE_GONE,					/* no report (lease expired) */
} KeeperLife;

typedef enum ProxyMode
{
	PROXY_ACK = 0,				/* applies and reports every generation */
	PROXY_NOACK,				/* publishes, but is stuck on an old generation */
	PROXY_FROZEN,				/* its report stays unchanged */
	PROXY_GONE,
} ProxyMode;

typedef struct SimKeeper
{
	KeeperLife	life;
	bool		converge;		/* echoes db generations */
	bool		pinned;			/* WAL position fixed by the test (lagging) */
	bool		primary;		/* its PostgreSQL runs as a primary */
	bool		has_pg;
	KeeperInfo	info;
	PostgresState ps;
} SimKeeper;

typedef struct SimProxy
{
	ProxyMode	mode;
	bool		present;
	ProxyInfo	info;
	int64_t		changed_ms;
} SimProxy;

typedef struct World
{
	ClusterData cd;
	SimKeeper	k[MAX_KEEPERS];
	size_t		nk;
	SimProxy	p[MAX_PROXIES];
	PlannerMemory mem;
	int64_t		now;
	int64_t		wall;
	uint64_t	rng;
	unsigned	counter;
	/* every event since the last clear */
	PlannerEventKind kinds[4096];
	char	   *reasons[4096];
	size_t		nev;
	size_t		elections;
	size_t		sync_elections;
} World;

static uint32_t
world_random(void *ctx)
{
	World	   *w = ctx;

	/* xorshift64* */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return (uint32_t) ((w->rng * 2685821657736338717ULL) >> 32);
}

static void
fresh_uid(World *w, char *out)
{
	snprintf(out, UID_SIZE, "i%06u", ++w->counter);
}

static Db *
db_on(const World *w, size_t i)
{
	char		uid[UID_SIZE];

	snprintf(uid, sizeof(uid), "k%zu", i);
	return cluster_data_find_db_by_keeper(&w->cd, uid);
}

static int
keeper_of_master(const World *w)
{
	const Db   *m = cluster_data_master_db(&w->cd);

	if (m == NULL)
		return -1;
	return m->spec.keeper_uid[1] - '0';
}

static void
world_clear_events(World *w)
{
	for (size_t i = 0; i < w->nev; i++)
		free(w->reasons[i]);
	w->nev = 0;
}

static World *
world_new(const char *spec_json, size_t nk)
{
	World	   *w = calloc(1, sizeof(*w));
	json_error_t jerr;
	json_t	   *spec = json_loads(spec_json, 0, &jerr);
	char		err[512];

	assert_non_null(w);
	assert_non_null(spec);
	assert_true(cluster_data_new_for_init(spec, &w->cd, err, sizeof(err)));
	json_decref(spec);
	w->nk = nk;
	w->now = 1000000;
	w->wall = 1767225600000LL;
	w->rng = 0x9e3779b97f4a7c15ULL;
	planner_memory_init(&w->mem, w->now);
	for (size_t i = 0; i < nk; i++)
	{
		SimKeeper  *k = &w->k[i];

		keeper_info_init(&k->info);
		snprintf(k->info.uid, UID_SIZE, "k%zu", i);
		snprintf(k->info.cluster_uid, UID_SIZE, "%s", w->cd.cluster.uid);
		snprintf(k->info.boot_uuid, UID_SIZE, "boot%zu", i);
		k->info.postgres_binary_version.major = 15;
		k->converge = true;
		memset(&k->ps, 0, sizeof(k->ps));
		timelines_history_init(&k->ps.timelines_history);
		pg_parameters_init(&k->ps.pg_parameters);
		string_list_init(&k->ps.synchronous_standbys);
	}
	return w;
}

static void
world_free(World *w)
{
	for (size_t i = 0; i < w->nk; i++)
	{
		keeper_info_finish(&w->k[i].info);
		timelines_history_finish(&w->k[i].ps.timelines_history);
		pg_parameters_finish(&w->k[i].ps.pg_parameters);
		string_list_finish(&w->k[i].ps.synchronous_standbys);
	}
	world_clear_events(w);
	planner_memory_finish(&w->mem);
	cluster_data_finish(&w->cd);
	free(w);
}

/*
 * A running cluster without going through init: db d0 master on k0, one standby per other keeper, all
 * converged and at the same WAL position; nothing on keepers beyond `with_db`.
 */
static void
world_make_running(World *w, size_t with_db)
{
	Db		   *m = NULL;

	w->cd.cluster.status.phase = CLUSTER_PHASE_NORMAL;
	for (size_t i = 0; i < w->nk; i++)
	{
		SimKeeper  *sk = &w->k[i];
		Keeper	   *k = cluster_data_add_keeper(&w->cd, sk->info.uid);

		assert_non_null(k);
		k->status.healthy = true;
		k->status.last_healthy_time_ms = w->wall;
		snprintf(k->status.boot_uuid, UID_SIZE, "%s", sk->info.boot_uuid);
		if (i >= with_db)
			continue;

		char		uid[UID_SIZE];
		Db		   *db;

		snprintf(uid, sizeof(uid), "d%zu", i);
		db = cluster_data_add_db(&w->cd, uid);
		assert_non_null(db);
		db->generation = 1;
		db->status.current_generation = 1;
		db->status.healthy = true;
		snprintf(db->spec.keeper_uid, UID_SIZE, "k%zu", i);
		if (i == 0)
		{
			m = db;
			db->spec.role = DB_ROLE_MASTER;
			snprintf(w->cd.cluster.status.master, UID_SIZE, "d0");
			sk->primary = true;
		}
		else
		{
			db->spec.role = DB_ROLE_STANDBY;
			db->spec.follow_config = follow_config_new();
			assert_non_null(db->spec.follow_config);
			snprintf(db->spec.follow_config->db_uid, UID_SIZE, "d0");
			assert_true(string_list_append(&m->spec.followers, uid));
		}
		sk->has_pg = true;
		snprintf(sk->ps.uid, UID_SIZE, "%s", uid);
		sk->ps.generation = 1;
		sk->ps.healthy = true;
		snprintf(sk->ps.system_id, sizeof(sk->ps.system_id), "7001");
		sk->ps.timeline_id = 1;
		sk->ps.xlog_pos = 0x3000000;
		snprintf(sk->ps.listen_address, sizeof(sk->ps.listen_address), "10.0.0.%zu", i + 1);
		sk->ps.port = 5432;
	}
}

static Db *
master_db(const World *w)
{
	return cluster_data_master_db(&w->cd);
}

/* What a keeper does with the cluster data it read: take a new DB, converge, promote, stream WAL. */
static void
sim_keeper(World *w, size_t i)
{
	SimKeeper  *sk = &w->k[i];
	Db		   *db = db_on(w, i);
	Db		   *m = master_db(w);
	SimKeeper  *mk = m != NULL && m->spec.keeper_uid[1] - '0' != (int) i ? &w->k[m->spec.keeper_uid[1] - '0'] : NULL;

	if (sk->life != LIFE_ALIVE)
		return;
	if (db == NULL)
	{
		/* No DB assigned: the keeper stops its PostgreSQL (fencing, I5). */
		sk->primary = false;
		sk->ps.healthy = false;
		return;
	}
	if (strcmp(sk->ps.uid, db->uid) != 0)
	{
		if (db->spec.init_mode == INIT_MODE_RESYNC)
		{
			if (mk == NULL || !mk->has_pg || !mk->ps.healthy)
				return;			/* nothing to copy from yet */
			snprintf(sk->ps.system_id, sizeof(sk->ps.system_id), "%s", mk->ps.system_id);
			sk->ps.timeline_id = mk->ps.timeline_id;
			timelines_history_finish(&sk->ps.timelines_history);
			assert_true(timelines_history_copy(&sk->ps.timelines_history, &mk->ps.timelines_history));
			sk->ps.xlog_pos = mk->ps.xlog_pos;
			sk->primary = false;
		}
		else if (db->spec.init_mode == INIT_MODE_NEW || db->spec.init_mode == INIT_MODE_PITR)
		{
			snprintf(sk->ps.system_id, sizeof(sk->ps.system_id), "7001");
			sk->ps.timeline_id = 1;
			sk->ps.xlog_pos = 0x3000000;
			sk->primary = true;
		}
		else
			return;				/* initMode none on a DB it never had: it waits */
		snprintf(sk->ps.uid, UID_SIZE, "%s", db->uid);
		sk->ps.generation = 0;
		sk->ps.healthy = true;
		sk->has_pg = true;
		snprintf(sk->ps.listen_address, sizeof(sk->ps.listen_address), "10.0.0.%zu", i + 1);
		sk->ps.port = 5432;
	}
	if (!sk->converge)
		return;
	if (db->spec.role == DB_ROLE_MASTER && !sk->primary)
	{
		assert_true(timelines_history_append(&sk->ps.timelines_history, sk->ps.timeline_id, sk->ps.xlog_pos, NULL));
		sk->ps.timeline_id++;
		sk->primary = true;
	}
	if (db->spec.role == DB_ROLE_STANDBY && sk->primary)
	{
		/* a primary told to follow stops (fast shutdown) and waits for a new (resync) DB */
		if (sk->ps.healthy)
			sk->ps.stopped_lsn = sk->ps.xlog_pos;
		sk->ps.healthy = false;
		return;
	}
	if (db->spec.role == DB_ROLE_MASTER && sk->primary && !sk->ps.healthy && sk->ps.stopped_lsn != 0)
	{
		/* told master again after a stop: starts */
		sk->ps.healthy = true;
		sk->ps.stopped_lsn = 0;
	}
	sk->ps.generation = db->generation;
	if (sk->primary)
	{
		if (sk->ps.healthy && !sk->pinned)
			sk->ps.xlog_pos += 0x1000;
		string_list_finish(&sk->ps.synchronous_standbys);
		for (size_t s = 0; s < db->spec.synchronous_standbys.count; s++)
		{
			const Db   *sdb = cluster_data_find_db(&w->cd, db->spec.synchronous_standbys.items[s]);

			const SimKeeper *ssk = sdb != NULL ? &w->k[sdb->spec.keeper_uid[1] - '0'] : NULL;

			/* in sync: alive, and converged to its DB's spec (a standby not yet re-pointed streams elsewhere) */
			if (ssk != NULL && ssk->life == LIFE_ALIVE && strcmp(ssk->ps.uid, sdb->uid) == 0 &&
				ssk->ps.generation == sdb->generation)
				assert_true(string_list_append(&sk->ps.synchronous_standbys, sdb->uid));
		}
	}
	else if (!sk->pinned && mk != NULL && mk->ps.timeline_id == sk->ps.timeline_id && mk->ps.healthy)
		sk->ps.xlog_pos = mk->ps.xlog_pos;
	else if (!sk->pinned && mk != NULL && mk->ps.timeline_id == sk->ps.timeline_id + 1 && mk->ps.healthy &&
			 sk->ps.xlog_pos <= mk->ps.timelines_history.items[mk->ps.timelines_history.count - 1].switch_point)
	{
		/* follows the new master across its timeline switch */
		sk->ps.timeline_id = mk->ps.timeline_id;
		timelines_history_finish(&sk->ps.timelines_history);
		assert_true(timelines_history_copy(&sk->ps.timelines_history, &mk->ps.timelines_history));
		sk->ps.xlog_pos = mk->ps.xlog_pos;
	}
}

/* The safety invariants every output must keep. */
static void
check_invariants(World *w, const ClusterData *before, const ClusterData *after, const KeeperInfo *infos,
				 size_t ninfos)
{
	size_t		masters = 0;
	const Db   *old_master = cluster_data_master_db(before);
	const Db   *new_master = cluster_data_master_db(after);

	(void) infos;
	(void) ninfos;
	for (size_t i = 0; i < after->db_count; i++)
		if (after->dbs[i]->spec.role == DB_ROLE_MASTER)
			masters++;
	/* I1 */
	if (masters > 1)
		fail_msg("I1 broken: %zu master DBs", masters);
	if (masters == 1 && (new_master == NULL || new_master->spec.role != DB_ROLE_MASTER))
		fail_msg("I1: the master DB is not the cluster's master");
	/* Routing only ever to the cluster's master. */
	if (after->proxy.spec.master_db_uid[0] != '\0' &&
		strcmp(after->proxy.spec.master_db_uid, after->cluster.status.master) != 0)
		fail_msg("proxy routed to %s, cluster master is %s", after->proxy.spec.master_db_uid,
				 after->cluster.status.master);
	/* I3: a new master is published only after every live proxy applied "no master". */
	if (strcmp(before->proxy.spec.master_db_uid, after->proxy.spec.master_db_uid) != 0 &&
		after->proxy.spec.master_db_uid[0] != '\0')
	{
		if (before->proxy.spec.master_db_uid[0] != '\0')
			fail_msg("I3: master changed from %s to %s without \"no master\" first", before->proxy.spec.master_db_uid,
					 after->proxy.spec.master_db_uid);
		for (size_t p = 0; p < MAX_PROXIES; p++)
		{
			const SimProxy *sp = &w->p[p];

			/* A proxy whose key is gone had its lease expire: it fenced itself long before (proxy contract). */
			if (!sp->present || sp->mode == PROXY_GONE || w->now - sp->changed_ms > 2 * sp->info.proxy_timeout_ms)
				continue;
			if (sp->info.generation < before->proxy.generation)
				fail_msg("I3: master published while live proxy p%zu is at generation %" PRId64 " < %" PRId64, p,
						 sp->info.generation, before->proxy.generation);
		}
	}
	/* An election: the target in sync mode must be a known synchronous standby of the old master (I4). */
	if (old_master != NULL && new_master != NULL && strcmp(old_master->uid, new_master->uid) != 0)
	{
		w->elections++;
		if (old_master->spec.synchronous_replication)
		{
			w->sync_elections++;
			if (!string_list_contains(&old_master->spec.synchronous_standbys, new_master->uid) ||
				!string_list_contains(&old_master->status.synchronous_standbys, new_master->uid))
				fail_msg("I4: elected %s, not a known synchronous standby of %s", new_master->uid, old_master->uid);
		}
	}
	/* I4: a sync-mode master always lists at least minSynchronousStandbys names. */
	if (new_master != NULL && new_master->spec.synchronous_replication &&
		new_master->spec.synchronous_standbys.count + new_master->spec.external_synchronous_standbys.count <
		(size_t) after->cluster.spec.min_synchronous_standbys)
		fail_msg("I4: master %s lists fewer than minSynchronousStandbys", new_master->uid);
}

/* One sentinel round: keepers and proxies act on the data they read, then the planner runs. */
static void
world_round(World *w)
{
	KeeperInfo	infos[MAX_KEEPERS];
	ProxyInfo	pinfos[MAX_PROXIES];
	size_t		ni = 0;
	size_t		np = 0;
	PlannerInput in;
	PlannerOutput out;

	for (size_t i = 0; i < w->nk; i++)
	{
		SimKeeper  *sk = &w->k[i];

		sim_keeper(w, i);
		if (sk->life == LIFE_ALIVE)
		{
			fresh_uid(w, sk->info.info_uid);
			postgres_state_free(sk->info.postgres_state);
			sk->info.postgres_state = sk->has_pg ? postgres_state_dup(&sk->ps) : NULL;
		}
		if (sk->life != LIFE_GONE)
			infos[ni++] = sk->info;
	}
	for (size_t p = 0; p < MAX_PROXIES; p++)
	{
		SimProxy   *sp = &w->p[p];

		if (!sp->present)
			continue;
		switch (sp->mode)
		{
			case PROXY_ACK:
				sp->info.generation = w->cd.proxy.generation;
				/* fall through */
			case PROXY_NOACK:
				fresh_uid(w, sp->info.info_uid);
				sp->changed_ms = w->now;
				break;
			case PROXY_FROZEN:
				break;
			case PROXY_GONE:
				continue;
		}
		pinfos[np++] = sp->info;
	}
	in.cd = &w->cd;
	in.keeper_infos = infos;
	in.keeper_info_count = ni;
	in.proxy_infos = pinfos;
	in.proxy_info_count = np;
	in.now_ms = w->now;
	in.wall_ms = w->wall;
	in.random = world_random;
	in.random_ctx = w;
	assert_true(planner_run(&in, &w->mem, &out));
	check_invariants(w, &w->cd, &out.cd, infos, ni);
	for (size_t e = 0; e < out.event_count && w->nev < 4096; e++)
	{
		w->kinds[w->nev] = out.events[e].kind;
		w->reasons[w->nev] = strdup(out.events[e].reason);
		w->nev++;
	}
	if (out.changed)
	{
		cluster_data_finish(&w->cd);
		assert_true(cluster_data_copy(&w->cd, &out.cd));
	}
	planner_output_finish(&out);
}

static void
world_run(World *w, int64_t ms)
{
	for (int64_t t = 0; t < ms; t += ROUND_MS)
	{
		w->now += ROUND_MS;
		w->wall += ROUND_MS;
		world_round(w);
	}
}

static bool
saw_event(const World *w, PlannerEventKind kind, const char *substring)
{
	for (size_t i = 0; i < w->nev; i++)
		if (w->kinds[i] == kind && (substring == NULL || strstr(w->reasons[i], substring) != NULL))
			return true;
	return false;
}

static void
dump_events(const World *w)
{
	for (size_t i = 0; i < w->nev; i++)
		print_message("  event %s: %s\n", planner_event_kind_to_string(w->kinds[i]), w->reasons[i]);
}

/* ---- the table ---- */

typedef enum Op
{
	OP_END = 0,
	/* setup */
	OP_RUNNING,					/* a running cluster, v = keepers with a DB (all when 0) */
	OP_SETTLE,					/* run until this leader is no longer fresh and things converged (10 s) */
	OP_FRESH_LEADER,			/* this sentinel just became leader */
	/* the world */
	OP_RUN,						/* v = ms */
	OP_ROUND,					/* one round, no time passing */
	OP_FREEZE,					/* keeper k's report stops changing */
	OP_DROP,					/* keeper k's report disappears */
	OP_REVIVE,					/* keeper k publishes again (same process) */
	OP_RESTART,					/* keeper k publishes again from a new process (new bootUUID) */
	OP_PG_DOWN,
	OP_PG_UP,
	OP_NO_CONVERGE,				/* keeper k stops echoing generations */
	OP_LAG,						/* keeper k's WAL position is pinned at v bytes behind the master */
	OP_XLOG,					/* keeper k's WAL position is pinned at v */
	OP_CAN_BE_MASTER,			/* v = 0/1 */
	OP_SYSTEM_ID,				/* s */
	OP_TIMELINE_FORK,			/* keeper k claims timeline v (ahead of the master) */
	OP_FORCE_FAIL,
	OP_SPEC,					/* s = JSON merge patch of the spec */
	OP_PG_PARAM,				/* keeper k's configuration files set s ("name=value") */
	OP_FOREIGN,					/* keeper k reports for another cluster (another clusterUID) */
	OP_PROXY,					/* proxy p (k) appears, acknowledging */
	OP_PROXY_MODE,				/* proxy k goes to mode v */
	OP_CLEAR_EVENTS,
	OP_PAUSE,					/* bulwarkctl pause */
	OP_RESUME,					/* bulwarkctl resume */
	OP_SWITCHOVER,				/* bulwarkctl switchover: --to keeper k (-1: default), --timeout v ms */
	/* expectations */
	EXPECT_MASTER,				/* the master DB is on keeper k (-1: none) */
	EXPECT_MASTER_NOT,			/* the master DB is not on keeper k */
	EXPECT_EVENT,				/* an event of kind v, with s in its reason if s */
	EXPECT_NO_EVENT,			/* no event of kind v */
	EXPECT_ROUTED,				/* proxies route to keeper k's DB (-1: "no master") */
	EXPECT_RO,					/* s = the keepers whose DBs are read-only targets, e.g. "12" */
	EXPECT_DB,					/* keeper k has a DB (v = 1) or none (v = 0) */
	EXPECT_DB_COUNT,
	EXPECT_KEEPER_COUNT,
	EXPECT_SYNC,				/* s = keepers whose DBs the master lists as synchronous, "" none */
	EXPECT_FAKE_STANDBY,		/* v = 0/1 */
	EXPECT_FOLLOWS_MASTER,		/* keeper k's DB follows the master */
	EXPECT_RESYNC,				/* keeper k's DB is a new resync standby (not its old uid) */
	EXPECT_BOOT,				/* keeper k's status.bootUUID is s */
	EXPECT_PHASE_NORMAL,		/* v = 0/1 */
	EXPECT_GENERATION_ABOVE,	/* keeper k's DB generation > v */
	EXPECT_DB_PARAM,			/* keeper k's DB spec has pgParameter s ("name=value") */
	EXPECT_INIT_ON_ANOTHER_KEEPER,	/* the last two init_started events name different keepers */
	EXPECT_MASTER_SPEC,			/* the master DB's spec: s = "slots=a,b" or "sync=1" or "hba=n" */
	EXPECT_SWITCHOVER,			/* a switchover is in progress (v = 1) or none (v = 0) */
} Op;

typedef struct Action
{
	Op			op;
	int			k;
	int64_t		v;
	const char *s;
} Action;

typedef struct PlannerCase
{
	const char *name;
	const char *spec;			/* NULL = {"initMode":"new"} */
	size_t		keepers;
	Action		script[24];
} PlannerCase;

#define RUNNING {OP_RUNNING, 0, 0, NULL}, {OP_SETTLE, 0, 0, NULL}
#define RUN(ms) {OP_RUN, 0, ms, NULL}
#define ROUND {OP_ROUND, 0, 0, NULL}
#define DO(op, k) {op, k, 0, NULL}
#define DOV(op, k, v) {op, k, v, NULL}
#define DOS(op, k, s) {op, k, 0, s}
#define MASTER(k) {EXPECT_MASTER, k, 0, NULL}
#define EVENT(kind, s) {EXPECT_EVENT, 0, kind, s}
#define NO_EVENT(kind) {EXPECT_NO_EVENT, 0, kind, NULL}
#define ROUTED(k) {EXPECT_ROUTED, k, 0, NULL}
#define RO(s) {EXPECT_RO, 0, 0, s}
#define SYNC(s) {EXPECT_SYNC, 0, 0, s}
#define CLEAR {OP_CLEAR_EVENTS, 0, 0, NULL}
#define MASTER_NOT_0 {EXPECT_MASTER_NOT, 0, 0, NULL}
#define SYNC_SPEC "{\"initMode\":\"new\",\"synchronousReplication\":true}"

static const PlannerCase cases[] = {
	/* maintenance */
	{"paused_master_death_elects_nobody_and_resume_fails_over", NULL, 3, {
		RUNNING, DO(OP_PAUSE, 0), RUN(1000), EVENT(PLANNER_EVENT_PAUSED, "paused by ops@host"), DO(OP_DROP, 0),
		RUN(10000), MASTER(0), NO_EVENT(PLANNER_EVENT_MASTER_ELECTED),
		EVENT(PLANNER_EVENT_PAUSED, "no failover until resume"), DO(OP_RESUME, 0), RUN(1000), MASTER_NOT_0,
		EVENT(PLANNER_EVENT_RESUMED, NULL), EVENT(PLANNER_EVENT_MASTER_ELECTED, NULL)}},
	{"paused_cluster_still_records_keeper_health", NULL, 3, {
		RUNNING, DO(OP_PAUSE, 0), CLEAR, DO(OP_DROP, 2), RUN(5000), EVENT(PLANNER_EVENT_KEEPER_FAILED, "keeper k2"),
		NO_EVENT(PLANNER_EVENT_DB_REMOVED), NO_EVENT(PLANNER_EVENT_STANDBY_ADDED), {EXPECT_DB, 2, 1, NULL}}},
	{"paused_forced_failure_elects_nobody", NULL, 3, {
		RUNNING, DO(OP_PAUSE, 0), DO(OP_FORCE_FAIL, 0), RUN(3000), MASTER(0),
		NO_EVENT(PLANNER_EVENT_MASTER_ELECTED)}},
	{"paused_initialization_waits", NULL, 3, {
		DO(OP_PAUSE, 0), RUN(8000), MASTER(-1), NO_EVENT(PLANNER_EVENT_INIT_STARTED), DO(OP_RESUME, 0), RUN(1000),
		EVENT(PLANNER_EVENT_INIT_STARTED, NULL)}},
	/* switchover */
	{"switchover_moves_the_master_to_the_most_advanced_standby", NULL, 3, {
		RUNNING, DO(OP_PROXY, 0), DO(OP_PROXY, 1), RUN(2000), DOV(OP_LAG, 1, 0x100), CLEAR, DOV(OP_SWITCHOVER, -1, 0), RUN(4000), {EXPECT_MASTER, 2, 0, NULL},
		EVENT(PLANNER_EVENT_SWITCHOVER_STARTED, "proxies told no master"),
		EVENT(PLANNER_EVENT_SWITCHOVER_DEMOTING, "told to stop writes"),
		EVENT(PLANNER_EVENT_SWITCHOVER_CATCHING_UP, "stopped at"),
		EVENT(PLANNER_EVENT_MASTER_ELECTED, "switchover, replayed the old master's final"),
		NO_EVENT(PLANNER_EVENT_SWITCHOVER_ABORTED), NO_EVENT(PLANNER_EVENT_MASTER_FAILED), ROUTED(-2),
		{EXPECT_SWITCHOVER, 0, 0, NULL}, RUN(3000), {EXPECT_RESYNC, 0, 0, NULL}, {EXPECT_FOLLOWS_MASTER, 0, 0, NULL}}},
	{"switchover_to_a_named_keeper", NULL, 3, {
		RUNNING, DO(OP_PROXY, 0), RUN(1000), DOV(OP_SWITCHOVER, 1, 0), RUN(4000), MASTER(1), ROUTED(1),
		{EXPECT_FOLLOWS_MASTER, 2, 0, NULL}}},
	{"switchover_waits_for_every_live_proxy_before_stopping_the_master", NULL, 3, {
		RUNNING, DO(OP_PROXY, 0), DO(OP_PROXY, 1), RUN(1000), DOV(OP_PROXY_MODE, 1, PROXY_NOACK),
		DOV(OP_SWITCHOVER, 1, 0), RUN(2000), MASTER(0), ROUTED(-1), NO_EVENT(PLANNER_EVENT_SWITCHOVER_DEMOTING),
		DOV(OP_PROXY_MODE, 1, PROXY_ACK), RUN(3000), MASTER(1), ROUTED(1)}},
	{"switchover_that_cannot_catch_up_aborts_and_the_old_master_stays", NULL, 3, {
		RUNNING, DO(OP_PROXY, 0), RUN(1000), DOV(OP_LAG, 1, 0x100), DOV(OP_SWITCHOVER, 1, 4000), RUN(3000),
		{EXPECT_SWITCHOVER, 0, 1, NULL}, ROUTED(-1), RUN(3000),
		EVENT(PLANNER_EVENT_SWITCHOVER_ABORTED, "not done within 4s"), {EXPECT_SWITCHOVER, 0, 0, NULL}, RUN(2000),
		MASTER(0), ROUTED(0), NO_EVENT(PLANNER_EVENT_MASTER_ELECTED), NO_EVENT(PLANNER_EVENT_MASTER_FAILED)}},
	{"switchover_to_an_ineligible_keeper_is_refused", NULL, 3, {
		RUNNING, DO(OP_PROXY, 0), RUN(1000), DOV(OP_CAN_BE_MASTER, 1, 0), RUN(500), DOV(OP_SWITCHOVER, 1, 0), RUN(1000),
		EVENT(PLANNER_EVENT_SWITCHOVER_ABORTED, "canBeMaster=false"), MASTER(0), ROUTED(0),
		{EXPECT_SWITCHOVER, 0, 0, NULL}}},
	{"switchover_in_sync_mode_elects_a_synchronous_standby", SYNC_SPEC, 3, {
		RUNNING, DO(OP_PROXY, 0), RUN(3000), DOV(OP_SWITCHOVER, -1, 0), RUN(4000), MASTER_NOT_0,
		NO_EVENT(PLANNER_EVENT_SWITCHOVER_ABORTED)}},
	{"switchover_aborts_when_the_target_dies", NULL, 3, {
		RUNNING, DO(OP_PROXY, 0), RUN(1000), DOV(OP_LAG, 1, 0x100), DOV(OP_SWITCHOVER, 1, 0), RUN(1000),
		DO(OP_DROP, 1), RUN(5000), EVENT(PLANNER_EVENT_SWITCHOVER_ABORTED, "target"), RUN(2000), MASTER(0),
		ROUTED(0)}},
	/* init */
	{"init_elects_one_master_on_a_healthy_keeper", NULL, 3, {
		RUN(2500), MASTER(-1), RUN(3500),
		EVENT(PLANNER_EVENT_INIT_STARTED, NULL), EVENT(PLANNER_EVENT_INIT_DONE, NULL),
		{EXPECT_PHASE_NORMAL, 0, 1, NULL}, {EXPECT_MASTER_NOT, -1, 0, NULL},
		RUN(3000), {EXPECT_DB_COUNT, 0, 3, NULL}}},
	{"init_waits_while_this_leader_is_fresh", NULL, 3, {
		RUN(2000), NO_EVENT(PLANNER_EVENT_INIT_STARTED), MASTER(-1), {EXPECT_PHASE_NORMAL, 0, 0, NULL}}},
	{"init_never_chooses_a_keeper_that_cannot_be_master", NULL, 3, {
		DOV(OP_CAN_BE_MASTER, 0, 0), DOV(OP_CAN_BE_MASTER, 1, 0), RUN(6000), MASTER(2)}},
	{"init_retries_on_another_keeper_when_initdb_does_not_converge",
		"{\"initMode\":\"new\",\"initTimeout\":\"5s\"}", 2, {
		DO(OP_NO_CONVERGE, 0), DO(OP_NO_CONVERGE, 1), RUN(3500), {EXPECT_DB_COUNT, 0, 1, NULL},
		RUN(6000), EVENT(PLANNER_EVENT_INIT_FAILED, "did not converge within initTimeout 5s"),
		{EXPECT_EVENT, 2, PLANNER_EVENT_INIT_STARTED, NULL}, {EXPECT_INIT_ON_ANOTHER_KEEPER, 0, 0, NULL},
		DO(OP_REVIVE, 0), DO(OP_REVIVE, 1), RUN(1000), {EXPECT_PHASE_NORMAL, 0, 1, NULL}}},
	{"init_existing_uses_the_configured_keeper",
		"{\"initMode\":\"existing\",\"existingConfig\":{\"keeperUID\":\"k1\"}}", 3, {
		RUN(4000), MASTER(1), EVENT(PLANNER_EVENT_INIT_STARTED, "existing")}},
	{"init_adopts_the_initial_instance_parameters", NULL, 1, {
		DOS(OP_PG_PARAM, 0, "shared_buffers=128MB"), RUN(6000), {EXPECT_PHASE_NORMAL, 0, 1, NULL},
		{EXPECT_DB_PARAM, 0, 0, "shared_buffers=128MB"}}},
	{"new_keeper_is_added_and_its_boot_uuid_copied", NULL, 2, {
		ROUND, {EXPECT_KEEPER_COUNT, 0, 2, NULL}, {EXPECT_BOOT, 1, 0, "boot1"},
		EVENT(PLANNER_EVENT_KEEPER_ADDED, "keeper k1 added")}},
	{"restarted_keeper_gets_its_new_boot_uuid_copied", NULL, 3, {
		RUNNING, DO(OP_RESTART, 2), ROUND, {EXPECT_BOOT, 2, 0, "boot2b"},
		EVENT(PLANNER_EVENT_KEEPER_RESTARTED, "keeper k2 restarted"), MASTER(0)}},

	/* failover */
	{"master_death_after_fail_interval_elects_the_most_advanced_standby", NULL, 3, {
		RUNNING, DOV(OP_LAG, 1, 0x2000), DOV(OP_LAG, 2, 0x100), RUN(1000), DO(OP_FREEZE, 0), RUN(3000), MASTER(0),
		RUN(1000), MASTER(2), EVENT(PLANNER_EVENT_MASTER_FAILED, "(failInterval 3s)"),
		EVENT(PLANNER_EVENT_MASTER_ELECTED, "most advanced standby"), ROUTED(2),
		{EXPECT_FOLLOWS_MASTER, 1, 0, NULL}, {EXPECT_DB, 0, 0, NULL}}},
	{"master_with_unhealthy_postgres_is_failed_over", NULL, 3, {
		RUNNING, DO(OP_PG_DOWN, 0), RUN(2500), MASTER(0), RUN(1500), MASTER_NOT_0,
		EVENT(PLANNER_EVENT_MASTER_FAILED, "postgres unhealthy")}},
	{"blip_shorter_than_fail_interval_changes_nothing", NULL, 3, {
		RUNNING, CLEAR, DO(OP_FREEZE, 0), RUN(2500), DO(OP_REVIVE, 0), RUN(5000), MASTER(0), ROUTED(0),
		NO_EVENT(PLANNER_EVENT_MASTER_FAILED), NO_EVENT(PLANNER_EVENT_KEEPER_FAILED)}},
	{"dropped_report_is_a_dead_keeper_after_fail_interval", NULL, 3, {
		RUNNING, DO(OP_DROP, 0), RUN(4000), MASTER_NOT_0, EVENT(PLANNER_EVENT_KEEPER_FAILED, "keeper k0 failed")}},
	{"new_master_is_routed_after_promotion_and_every_proxy_ack", NULL, 3, {
		RUNNING, DO(OP_PROXY, 0), DO(OP_PROXY, 1), RUN(2000), ROUTED(0), DO(OP_FREEZE, 0), RUN(4000),
		MASTER_NOT_0, RUN(2000), {EXPECT_ROUTED, -2, 0, NULL}, EVENT(PLANNER_EVENT_PROXIES_ROUTED, "2 live proxies")}},
	{"no_eligible_master_when_standbys_lag_beyond_max_standby_lag", NULL, 3, {
		RUNNING, DOV(OP_LAG, 1, 2000000), DOV(OP_LAG, 2, 3000000), RUN(1000), DO(OP_FREEZE, 0), RUN(5000),
		MASTER(0), EVENT(PLANNER_EVENT_NO_ELIGIBLE_MASTER, "db d1 lag 2008192 > maxStandbyLag 1048576"),
		EVENT(PLANNER_EVENT_NO_ELIGIBLE_MASTER, "db d2 lag 3008192"), NO_EVENT(PLANNER_EVENT_MASTER_ELECTED)}},
	{"no_eligible_master_is_reported_once_not_every_round", NULL, 2, {
		RUNNING, DOV(OP_CAN_BE_MASTER, 1, 0), RUN(1000), DO(OP_FREEZE, 0), RUN(8000),
		{EXPECT_EVENT, 1, PLANNER_EVENT_NO_ELIGIBLE_MASTER, "canBeMaster=false"}}},
	{"lagging_standby_is_skipped_for_one_within_max_standby_lag", NULL, 3, {
		RUNNING, DOV(OP_LAG, 1, 2000000), DOV(OP_LAG, 2, 1000), RUN(1000), DO(OP_FREEZE, 0), RUN(5000),
		MASTER(2)}},
	{"timeline_fork_makes_a_standby_ineligible", NULL, 3, {
		RUNNING, DOV(OP_LAG, 2, 3000000), DO(OP_FREEZE, 0), RUN(3000), DOV(OP_TIMELINE_FORK, 1, 3), RUN(2000),
		MASTER(0), EVENT(PLANNER_EVENT_NO_ELIGIBLE_MASTER, "timeline 3 is ahead of the master's 1 (fork)")}},
	{"other_system_id_makes_a_standby_ineligible", NULL, 2, {
		RUNNING, DO(OP_FREEZE, 0), RUN(3000), DOS(OP_SYSTEM_ID, 1, "9999"), RUN(2000),
		MASTER(0), EVENT(PLANNER_EVENT_NO_ELIGIBLE_MASTER, "system id 9999 differs from the master's 7001")}},
	{"failsafe_mode_never_elects_a_standby_created_after_the_master_went_silent", NULL, 3, {
		RUNNING, DOV(OP_CAN_BE_MASTER, 1, 0), RUN(1000), DO(OP_FREEZE, 0), RUN(500),
		DOS(OP_SYSTEM_ID, 2, "9999"), RUN(1000), {EXPECT_RESYNC, 2, 0, NULL}, RUN(6000), MASTER(0),
		EVENT(PLANNER_EVENT_NO_ELIGIBLE_MASTER, "created after the master was last heard from")}},
	{"without_failsafe_mode_a_standby_created_after_the_master_went_silent_is_elected",
		"{\"initMode\":\"new\",\"failsafeMode\":false}", 3, {
		RUNNING, DOV(OP_CAN_BE_MASTER, 1, 0), RUN(1000), DO(OP_FREEZE, 0), RUN(500),
		DOS(OP_SYSTEM_ID, 2, "9999"), RUN(1000), {EXPECT_RESYNC, 2, 0, NULL}, RUN(6000), MASTER(2)}},
	{"can_be_master_false_is_never_elected", NULL, 3, {
		RUNNING, DOV(OP_CAN_BE_MASTER, 2, 0), DOV(OP_LAG, 1, 0x1000), RUN(1000), DO(OP_FREEZE, 0), RUN(5000),
		MASTER(1)}},
	{"fresh_leader_waits_fail_interval_before_failing_over", NULL, 3, {
		RUNNING, DO(OP_FREEZE, 0), RUN(2000), DO(OP_FRESH_LEADER, 0), CLEAR, RUN(2500), MASTER(0),
		NO_EVENT(PLANNER_EVENT_KEEPER_FAILED), RUN(1500), MASTER_NOT_0}},
	{"fresh_leader_does_not_fail_a_master_it_sees_reporting", NULL, 3, {
		RUNNING, DO(OP_FRESH_LEADER, 0), CLEAR, RUN(10000), MASTER(0), NO_EVENT(PLANNER_EVENT_MASTER_FAILED)}},
	{"force_fail_fails_over_a_healthy_master_once", NULL, 3, {
		RUNNING, DO(OP_FORCE_FAIL, 0), ROUND, MASTER_NOT_0, EVENT(PLANNER_EVENT_KEEPER_FAILED, "forced"),
		RUN(6000), EVENT(PLANNER_EVENT_STANDBY_ADDED, "free keeper k0"), {EXPECT_RESYNC, 0, 0, NULL}}},
	{"failed_promotion_falls_back_to_the_next_standby",
		"{\"initMode\":\"new\",\"convergenceTimeout\":\"5s\"}", 3, {
		RUNNING, DOV(OP_LAG, 2, 0x1000), RUN(1000), DO(OP_NO_CONVERGE, 1), DO(OP_FREEZE, 0), RUN(4000), MASTER(1),
		ROUTED(-1), RUN(6000), MASTER(2), EVENT(PLANNER_EVENT_MASTER_FAILED, "convergenceTimeout 5s")}},
	{"old_master_returning_gets_a_resync_standby_db", NULL, 3, {
		RUNNING, DO(OP_FREEZE, 0), RUN(4000), MASTER_NOT_0, {EXPECT_DB, 0, 0, NULL}, RUN(3000),
		DO(OP_REVIVE, 0), RUN(3000), {EXPECT_RESYNC, 0, 0, NULL}, {EXPECT_FOLLOWS_MASTER, 0, 0, NULL},
		RUN(3000), RO("02")}},

	/* sync mode */
	{"sync_mode_lists_one_known_synchronous_standby", SYNC_SPEC, 3, {
		RUNNING, SYNC("1"), {EXPECT_FAKE_STANDBY, 0, 0, NULL}}},
	{"sync_mode_elects_only_the_synchronous_standby", SYNC_SPEC, 3, {
		RUNNING, DOV(OP_XLOG, 1, 0x3000000), RUN(1000), DO(OP_FREEZE, 0), RUN(5000), MASTER(1),
		EVENT(PLANNER_EVENT_MASTER_ELECTED, "known synchronous standby")}},
	{"sync_mode_elects_nobody_when_the_synchronous_standby_is_dead", SYNC_SPEC, 3, {
		RUNNING, DO(OP_FREEZE, 1), DO(OP_FREEZE, 0), RUN(6000), MASTER(0),
		EVENT(PLANNER_EVENT_NO_ELIGIBLE_MASTER, "db d2 not a known synchronous standby")}},
	{"sync_mode_replaces_a_dead_sync_standby_keeping_the_old_one_listed", SYNC_SPEC, 3, {
		RUNNING, CLEAR, DO(OP_FREEZE, 1), RUN(4000), EVENT(PLANNER_EVENT_SYNC_STANDBYS_CHANGED, "[d1,d2]"),
		RUN(2000), SYNC("2")}},
	{"sync_mode_new_master_blocks_with_the_fake_standby_until_one_syncs", SYNC_SPEC, 2, {
		RUNNING, DO(OP_FREEZE, 0), RUN(4000), MASTER(1), {EXPECT_FAKE_STANDBY, 0, 1, NULL}}},
	{"sync_mode_new_master_lists_the_other_live_standby_at_election", SYNC_SPEC, 3, {
		RUNNING, CLEAR, DO(OP_NO_CONVERGE, 2), DO(OP_FREEZE, 0), RUN(5000), MASTER(1), SYNC("2"),
		{EXPECT_FAKE_STANDBY, 0, 0, NULL}, NO_EVENT(PLANNER_EVENT_SYNC_STANDBYS_CHANGED), RUN(35000),
		EVENT(PLANNER_EVENT_SYNC_STANDBYS_CHANGED, "dropped before reaching sync: it is gone or failed"),
		{EXPECT_FAKE_STANDBY, 0, 1, NULL}}},
	{"sync_mode_min_zero_needs_no_fake_standby",
		"{\"initMode\":\"new\",\"synchronousReplication\":true,\"minSynchronousStandbys\":0}", 2, {
		RUNNING, DO(OP_FREEZE, 0), RUN(4000), MASTER(1), {EXPECT_FAKE_STANDBY, 0, 0, NULL}}},

	/* proxies */
	{"handshake_holds_the_new_master_until_every_live_proxy_acknowledged", NULL, 3, {
		RUNNING, DO(OP_PROXY, 0), DO(OP_PROXY, 1), RUN(2000), DOV(OP_PROXY_MODE, 1, PROXY_NOACK), DO(OP_FREEZE, 0),
		RUN(4000), MASTER_NOT_0, RUN(8000), ROUTED(-1), DOV(OP_PROXY_MODE, 1, PROXY_ACK), RUN(1000),
		{EXPECT_ROUTED, -2, 0, NULL}}},
	{"handshake_stops_waiting_for_a_proxy_whose_report_expired", NULL, 3, {
		RUNNING, DO(OP_PROXY, 0), DO(OP_PROXY, 1), RUN(2000), DOV(OP_PROXY_MODE, 1, PROXY_FROZEN),
		DO(OP_FREEZE, 0), RUN(4000), MASTER_NOT_0, ROUTED(-1), RUN(3000), {EXPECT_ROUTED, -2, 0, NULL}}},
	{"enabled_proxies_follow_proxy_liveness", NULL, 2, {
		RUNNING, DO(OP_PROXY, 0), DO(OP_PROXY, 1), RUN(1000), EVENT(PLANNER_EVENT_ENABLED_PROXIES_CHANGED, "2"),
		DOV(OP_PROXY_MODE, 0, PROXY_FROZEN), CLEAR, RUN(7000),
		EVENT(PLANNER_EVENT_ENABLED_PROXIES_CHANGED, "enabled proxies: 1 (were 2)")}},
	{"read_only_set_holds_healthy_standbys_within_max_read_only_lag", NULL, 4, {
		RUNNING, RO("123"), DOV(OP_LAG, 2, 2000000), RUN(1000), RO("13"), DO(OP_FREEZE, 3), RUN(4000), RO("1"),
		DO(OP_REVIVE, 3), DOV(OP_LAG, 2, 0), RUN(2000), RO("123")}},
	{"read_only_set_drops_a_standby_with_unhealthy_postgres", NULL, 3, {
		RUNNING, DO(OP_PG_DOWN, 2), RUN(4000), RO("1"), MASTER(0)}},

	/* standbys, keepers, spec */
	{"new_standby_is_created_on_a_free_keeper", NULL, 3, {
		{OP_RUNNING, 0, 2, NULL}, {OP_SETTLE, 0, 0, NULL}, {EXPECT_DB_COUNT, 0, 3, NULL}, {EXPECT_RESYNC, 2, 0, NULL},
		EVENT(PLANNER_EVENT_STANDBY_ADDED, "free keeper k2"), RUN(2000), RO("12")}},
	{"excess_standbys_are_removed_when_max_standbys_per_sender_is_lowered", NULL, 4, {
		RUNNING, DOS(OP_SPEC, 0, "{\"maxStandbysPerSender\":1}"), RUN(2000), {EXPECT_DB_COUNT, 0, 2, NULL},
		EVENT(PLANNER_EVENT_DB_REMOVED, "maxStandbysPerSender"), {EXPECT_DB, 1, 1, NULL}}},
	{"dead_standby_is_replaced_on_a_free_keeper", NULL, 4, {
		{OP_RUNNING, 0, 3, NULL}, {OP_SETTLE, 0, 0, NULL}, DOS(OP_SPEC, 0, "{\"maxStandbysPerSender\":2}"),
		DO(OP_DROP, 3), RUN(1000), DO(OP_DROP, 2), RUN(4000), MASTER(0), {EXPECT_DB, 1, 1, NULL},
		{EXPECT_DB, 2, 1, NULL}, {EXPECT_DB, 3, 0, NULL}, DO(OP_REVIVE, 3), RUN(1000), {EXPECT_DB, 3, 1, NULL}}},
	{"dead_keeper_without_db_is_removed_after_the_removal_interval",
		"{\"initMode\":\"new\",\"deadKeeperRemovalInterval\":\"1m\",\"maxStandbysPerSender\":2}", 4, {
		{OP_RUNNING, 0, 3, NULL}, {OP_SETTLE, 0, 0, NULL}, DO(OP_DROP, 3), RUN(30000), {EXPECT_KEEPER_COUNT, 0, 4, NULL},
		RUN(100000), {EXPECT_KEEPER_COUNT, 0, 3, NULL}, EVENT(PLANNER_EVENT_KEEPER_REMOVED, "keeper k3 removed")}},
	{"dead_keeper_with_a_db_is_never_removed", "{\"initMode\":\"new\",\"deadKeeperRemovalInterval\":\"1m\"}", 3, {
		RUNNING, DO(OP_DROP, 2), RUN(200000), {EXPECT_KEEPER_COUNT, 0, 3, NULL}, {EXPECT_DB, 2, 1, NULL}}},
	{"spec_change_bumps_every_db_generation", NULL, 3, {
		RUNNING, DOS(OP_SPEC, 0, "{\"pgParameters\":{\"work_mem\":\"8MB\"}}"), ROUND,
		{EXPECT_GENERATION_ABOVE, 0, 2, NULL}, {EXPECT_GENERATION_ABOVE, 1, 2, NULL},
		{EXPECT_DB_PARAM, 2, 0, "work_mem=8MB"}}},
	{"reports_of_another_cluster_are_ignored", NULL, 3, {
		RUNNING, DO(OP_FOREIGN, 0), RUN(4000), MASTER_NOT_0, EVENT(PLANNER_EVENT_KEEPER_FAILED, "keeper k0 failed")}},
	{"init_pitr_restores_onto_one_keeper",
		"{\"initMode\":\"pitr\",\"pitrConfig\":{\"dataRestoreCommand\":\"cp -a /b/. %d\"}}", 2, {
		RUN(3500), EVENT(PLANNER_EVENT_INIT_STARTED, "init (pitr)"), RUN(2000), {EXPECT_PHASE_NORMAL, 0, 1, NULL},
		{EXPECT_DB_COUNT, 0, 2, NULL}}},
	{"master_only_fields_are_copied_to_the_master_alone", NULL, 3, {
		RUNNING, DOS(OP_SPEC, 0, "{\"additionalMasterReplicationSlots\":[\"backup\"],\"synchronousReplication\":true,"
			"\"pgHBA\":[\"host all all 10.0.0.0/8 md5\"]}"), RUN(2000),
		{EXPECT_MASTER_SPEC, 0, 0, "slots=backup"}, {EXPECT_MASTER_SPEC, 0, 0, "sync=1"},
		{EXPECT_MASTER_SPEC, 0, 0, "hba=1"}, DO(OP_FREEZE, 0), RUN(4000), MASTER_NOT_0,
		{EXPECT_MASTER_SPEC, 0, 0, "slots=backup"}}},
	{"invalid_standby_is_removed_and_resynced", NULL, 3, {
		RUNNING, DOS(OP_SYSTEM_ID, 2, "9999"), RUN(1000), EVENT(PLANNER_EVENT_DB_REMOVED, "system id 9999"),
		RUN(1000), {EXPECT_RESYNC, 2, 0, NULL}}},
};

static void
apply_spec_patch(World *w, const char *patch_text)
{
	json_error_t jerr;
	json_t	   *patch = json_loads(patch_text, 0, &jerr);
	char		err[512];

	assert_non_null(patch);
	if (!cluster_data_patch_spec(&w->cd, patch, err, sizeof(err)))
		fail_msg("spec patch %s: %s", patch_text, err);
	json_decref(patch);
}

static const char *
keepers_with(const World *w, const StringList *dbs, char *buf, size_t size)
{
	size_t		n = 0;

	for (size_t i = 0; i < w->nk && n + 1 < size; i++)
	{
		const Db   *db = db_on(w, i);

		if (db != NULL && string_list_contains(dbs, db->uid))
			buf[n++] = (char) ('0' + i);
	}
	buf[n] = '\0';
	return buf;
}

static void
run_action(World *w, const PlannerCase *c, const Action *a)
{
	SimKeeper  *sk = a->k >= 0 && a->k < MAX_KEEPERS ? &w->k[a->k] : NULL;
	Db		   *m = master_db(w);
	Db		   *db = a->k >= 0 ? db_on(w, (size_t) a->k) : NULL;
	char		buf[16];

	switch (a->op)
	{
		case OP_END:
			break;
		case OP_RUNNING:
			world_make_running(w, a->v ? (size_t) a->v : w->nk);
			break;
		case OP_SETTLE:
			world_run(w, 10000);
			break;
		case OP_FRESH_LEADER:
			planner_memory_reset(&w->mem, w->now);
			break;
		case OP_RUN:
			world_run(w, a->v);
			break;
		case OP_ROUND:
			world_round(w);
			break;
		case OP_FREEZE:
			sk->life = LIFE_FROZEN;
			break;
		case OP_DROP:
			sk->life = LIFE_GONE;
			break;
		case OP_REVIVE:
			sk->life = LIFE_ALIVE;
			sk->converge = true;
			break;
		case OP_RESTART:
			sk->life = LIFE_ALIVE;
			snprintf(sk->info.boot_uuid, UID_SIZE, "boot%db", a->k);
			break;
		case OP_PG_DOWN:
			sk->ps.healthy = false;
			break;
		case OP_PG_UP:
			sk->ps.healthy = true;
			break;
		case OP_NO_CONVERGE:
			sk->converge = false;
			break;
		case OP_LAG:
			sk->pinned = a->v != 0;
			if (a->v != 0)
				sk->ps.xlog_pos = w->k[keeper_of_master(w)].ps.xlog_pos - (uint64_t) a->v;
			break;
		case OP_XLOG:
			sk->pinned = true;
			sk->ps.xlog_pos = (uint64_t) a->v;
			break;
		case OP_CAN_BE_MASTER:
			sk->info.can_be_master = a->v != 0;
			break;
		case OP_SYSTEM_ID:
			snprintf(sk->ps.system_id, sizeof(sk->ps.system_id), "%s", a->s);
			break;
		case OP_TIMELINE_FORK:
			sk->ps.timeline_id = (uint32_t) a->v;
			sk->pinned = true;
			break;
		case OP_FORCE_FAIL:
			cluster_data_find_keeper(&w->cd, sk->info.uid)->status.force_fail = true;
			break;
		case OP_SPEC:
			apply_spec_patch(w, a->s);
			break;
		case OP_PG_PARAM:
			{
				char		name[64];
				const char *eq = strchr(a->s, '=');

				snprintf(name, sizeof(name), "%.*s", (int) (eq - a->s), a->s);
				assert_true(pg_parameters_set(&sk->ps.pg_parameters, name, eq + 1));
			}
			break;
		case OP_FOREIGN:
			snprintf(sk->info.cluster_uid, UID_SIZE, "another");
			break;
		case OP_PROXY:
			w->p[a->k].present = true;
			w->p[a->k].mode = PROXY_ACK;
			snprintf(w->p[a->k].info.uid, UID_SIZE, "p%d", a->k);
			w->p[a->k].info.proxy_timeout_ms = 3000;
			w->p[a->k].changed_ms = w->now;
			break;
		case OP_PROXY_MODE:
			w->p[a->k].mode = (ProxyMode) a->v;
			break;
		case OP_CLEAR_EVENTS:
			world_clear_events(w);
			break;
		case OP_PAUSE:
			w->cd.cluster.status.maintenance = maintenance_new();
			assert_non_null(w->cd.cluster.status.maintenance);
			snprintf(w->cd.cluster.status.maintenance->by, CLUSTER_ACTOR_SIZE, "ops@host");
			break;
		case OP_RESUME:
			maintenance_free(w->cd.cluster.status.maintenance);
			w->cd.cluster.status.maintenance = NULL;
			break;
		case OP_SWITCHOVER:
			{
				Switchover *so = switchover_new();

				assert_non_null(so);
				assert_non_null(m);
				snprintf(so->event_id, UID_SIZE, "sw%06u", ++w->counter);
				snprintf(so->from_db_uid, UID_SIZE, "%s", m->uid);
				if (a->k >= 0)
					snprintf(so->target_keeper_uid, UID_SIZE, "k%d", a->k);
				so->timeout_ms = a->v ? a->v : 30000;
				w->cd.cluster.status.switchover = so;
			}
			break;
		case EXPECT_SWITCHOVER:
			assert_int_equal(w->cd.cluster.status.switchover != NULL, a->v);
			break;
		case EXPECT_MASTER:
			if (a->k < 0 && m != NULL)
				fail_msg("%s: expected no master, got %s", c->name, m->uid);
			if (a->k >= 0 && keeper_of_master(w) != a->k)
				fail_msg("%s: expected the master on k%d, it is on k%d", c->name, a->k, keeper_of_master(w));
			break;
		case EXPECT_MASTER_NOT:
			if (m == NULL || keeper_of_master(w) == a->k)
				fail_msg("%s: expected a master not on k%d, got k%d", c->name, a->k, keeper_of_master(w));
			break;
		case EXPECT_EVENT:
			if (!saw_event(w, (PlannerEventKind) a->v, a->s))
			{
				dump_events(w);
				fail_msg("%s: no %s event containing \"%s\"", c->name, planner_event_kind_to_string((PlannerEventKind) a->v),
						 a->s ? a->s : "");
			}
			if (a->k > 0)
			{
				size_t		n = 0;

				for (size_t i = 0; i < w->nev; i++)
					n += w->kinds[i] == (PlannerEventKind) a->v;
				if (n != (size_t) a->k)
					fail_msg("%s: %zu %s events, expected %d", c->name, n,
							 planner_event_kind_to_string((PlannerEventKind) a->v), a->k);
			}
			break;
		case EXPECT_NO_EVENT:
			if (saw_event(w, (PlannerEventKind) a->v, NULL))
			{
				dump_events(w);
				fail_msg("%s: unexpected %s event", c->name, planner_event_kind_to_string((PlannerEventKind) a->v));
			}
			break;
		case EXPECT_ROUTED:
			if (a->k == -1)
				assert_string_equal(w->cd.proxy.spec.master_db_uid, "");
			else if (a->k == -2)
			{
				/* routed to the current master, whoever it is */
				assert_non_null(m);
				assert_string_equal(w->cd.proxy.spec.master_db_uid, m->uid);
			}
			else
			{
				assert_non_null(db);
				assert_string_equal(w->cd.proxy.spec.master_db_uid, db->uid);
			}
			break;
		case EXPECT_RO:
			assert_string_equal(keepers_with(w, &w->cd.proxy.spec.ro_db_uids, buf, sizeof(buf)), a->s);
			break;
		case EXPECT_DB:
			if ((db != NULL) != (a->v != 0))
				fail_msg("%s: keeper k%d %s a DB", c->name, a->k, db ? "has" : "has no");
			break;
		case EXPECT_DB_COUNT:
			assert_int_equal(w->cd.db_count, a->v);
			break;
		case EXPECT_KEEPER_COUNT:
			assert_int_equal(w->cd.keeper_count, a->v);
			break;
		case EXPECT_SYNC:
			assert_non_null(m);
			assert_string_equal(keepers_with(w, &m->spec.synchronous_standbys, buf, sizeof(buf)), a->s);
			break;
		case EXPECT_FAKE_STANDBY:
			assert_non_null(m);
			assert_int_equal(string_list_contains(&m->spec.external_synchronous_standbys, PLANNER_FAKE_STANDBY_NAME),
							 a->v);
			break;
		case EXPECT_FOLLOWS_MASTER:
			assert_non_null(db);
			assert_non_null(m);
			assert_non_null(db->spec.follow_config);
			assert_int_equal(db->spec.role, DB_ROLE_STANDBY);
			assert_string_equal(db->spec.follow_config->db_uid, m->uid);
			assert_true(string_list_contains(&m->spec.followers, db->uid));
			break;
		case EXPECT_RESYNC:
			assert_non_null(db);
			assert_true(db->uid[0] != 'd');
			assert_int_equal(db->spec.role, DB_ROLE_STANDBY);
			break;
		case EXPECT_BOOT:
			assert_string_equal(cluster_data_find_keeper(&w->cd, sk->info.uid)->status.boot_uuid, a->s);
			break;
		case EXPECT_PHASE_NORMAL:
			assert_int_equal(w->cd.cluster.status.phase == CLUSTER_PHASE_NORMAL, a->v);
			break;
		case EXPECT_GENERATION_ABOVE:
			assert_non_null(db);
			assert_true(db->generation > a->v);
			break;
		case EXPECT_MASTER_SPEC:
			{
				char		got[128] = "";
				size_t		used = 0;

				assert_non_null(m);
				if (strncmp(a->s, "slots=", 6) == 0)
				{
					used = (size_t) snprintf(got, sizeof(got), "slots=");
					for (size_t i = 0; i < m->spec.additional_replication_slots.count && used < sizeof(got); i++)
						used += (size_t) snprintf(got + used, sizeof(got) - used, "%s%s", i ? "," : "",
												  m->spec.additional_replication_slots.items[i]);
				}
				else if (strncmp(a->s, "sync=", 5) == 0)
					snprintf(got, sizeof(got), "sync=%d", m->spec.synchronous_replication ? 1 : 0);
				else
					snprintf(got, sizeof(got), "hba=%zu", m->spec.pg_hba ? m->spec.pg_hba->count : (size_t) 0);
				assert_string_equal(got, a->s);
				/* and never on a standby */
				for (size_t i = 0; i < w->cd.db_count; i++)
					if (w->cd.dbs[i] != m)
					{
						assert_int_equal(w->cd.dbs[i]->spec.additional_replication_slots.count, 0);
						assert_false(w->cd.dbs[i]->spec.synchronous_replication);
					}
			}
			break;
		case EXPECT_INIT_ON_ANOTHER_KEEPER:
			{
				const char *on[2] = {NULL, NULL};

				for (size_t i = 0; i < w->nev; i++)
					if (w->kinds[i] == PLANNER_EVENT_INIT_STARTED)
					{
						on[0] = on[1];
						on[1] = strstr(w->reasons[i], "on keeper ");
					}
				assert_non_null(on[0]);
				assert_non_null(on[1]);
				assert_true(strncmp(on[0], on[1], 12) != 0);
			}
			break;
		case EXPECT_DB_PARAM:
			{
				char		name[64];
				const char *eq = strchr(a->s, '=');

				assert_non_null(db);
				snprintf(name, sizeof(name), "%.*s", (int) (eq - a->s), a->s);
				assert_non_null(pg_parameters_get(&db->spec.pg_parameters, name));
				assert_string_equal(pg_parameters_get(&db->spec.pg_parameters, name), eq + 1);
			}
			break;
	}
}

static void
test_planner_case(void **state)
{
	const PlannerCase *c = *state;
	World	   *w = world_new(c->spec ? c->spec : "{\"initMode\":\"new\"}", c->keepers);

	for (size_t i = 0; i < sizeof(c->script) / sizeof(c->script[0]) && c->script[i].op != OP_END; i++)
		run_action(w, c, &c->script[i]);
	world_free(w);
}

/* ---- property check ---- */

/*
 * 16 seeds x 2 modes x 2000 rounds of 0.5 s (about 4.5 hours of cluster life each). Under valgrind, which finds
 * memory errors by the paths taken rather than by volume, 2 seeds keep `make valgrind` within a minute.
 */
#define PROPERTY_SEEDS (RUNNING_ON_VALGRIND ? 2 : 16)
#define PROPERTY_ROUNDS 2000

static uint32_t
prop_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t) *s;
}

static void
property_run(uint64_t seed, bool sync, size_t *elections, size_t *sync_elections)
{
	World	   *w = world_new(sync ? SYNC_SPEC : "{\"initMode\":\"new\",\"convergenceTimeout\":\"5s\"}", 4);
	uint64_t	s = seed * 0x2545f4914f6cdd1dULL + 1;

	w->rng = seed + 7;
	for (int p = 0; p < MAX_PROXIES; p++)
	{
		w->p[p].present = true;
		snprintf(w->p[p].info.uid, UID_SIZE, "p%d", p);
		w->p[p].info.proxy_timeout_ms = 3000;
		w->p[p].changed_ms = w->now;
	}
	for (int round = 0; round < PROPERTY_ROUNDS; round++)
	{
		uint32_t	r = prop_next(&s) % 1000;
		size_t		ki = prop_next(&s) % w->nk;
		SimKeeper  *sk = &w->k[ki];

		/* mostly quiet rounds; a fault about every 10 rounds, repaired as often */
		if (r < 20)
			sk->life = LIFE_FROZEN;
		else if (r < 35)
			sk->life = LIFE_GONE;
		else if (r < 90)
		{
			sk->life = LIFE_ALIVE;
			sk->converge = true;
			sk->pinned = false;
			sk->ps.healthy = true;
		}
		else if (r < 100)
			sk->ps.healthy = false;
		else if (r < 110)
			sk->converge = false;
		else if (r < 120 && keeper_of_master(w) >= 0)
		{
			sk->pinned = true;
			if (sk->ps.xlog_pos > 2000000)
				sk->ps.xlog_pos -= prop_next(&s) % 2000000;
		}
		else if (r < 125)
			sk->info.can_be_master = !sk->info.can_be_master;
		else if (r < 130)
		{
			Keeper	   *k = cluster_data_find_keeper(&w->cd, sk->info.uid);

			if (k != NULL)
				k->status.force_fail = true;
		}
		else if (r < 150)
			w->p[prop_next(&s) % MAX_PROXIES].mode = (ProxyMode) (prop_next(&s) % 4);
		else if (r < 152)
			planner_memory_reset(&w->mem, w->now);
		w->now += ROUND_MS;
		w->wall += ROUND_MS;
		world_round(w);
	}
	*elections += w->elections;
	*sync_elections += w->sync_elections;
	world_free(w);
}

static void
test_property_no_two_masters_and_sync_failover_safe(void **state)
{
	size_t		elections = 0;
	size_t		sync_elections = 0;

	(void) state;
	for (uint64_t seed = 1; seed <= PROPERTY_SEEDS; seed++)
	{
		property_run(seed, false, &elections, &sync_elections);
		property_run(seed, true, &elections, &sync_elections);
	}
	print_message("property check: %d seeds x 2 modes x %d rounds, %zu elections (%zu in sync mode)\n",
				  PROPERTY_SEEDS, PROPERTY_ROUNDS, elections, sync_elections);
	/* the random faults must actually exercise failovers, in both modes */
	assert_true(elections > 10);
	assert_true(sync_elections > 3);
}

int
main(void)
{
	enum
	{
		NCASES = sizeof(cases) / sizeof(cases[0])
	};
	struct CMUnitTest tests[NCASES + 1];

	for (size_t i = 0; i < NCASES; i++)
	{
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = cases[i].name;
		tests[i].test_func = test_planner_case;
		tests[i].initial_state = (void *) &cases[i];
	}
	memset(&tests[NCASES], 0, sizeof(tests[NCASES]));
	tests[NCASES].name = "property_no_two_masters_and_sync_failover_safe";
	tests[NCASES].test_func = test_property_no_two_masters_and_sync_failover_safe;
	return _cmocka_run_group_tests("planner", tests, NCASES + 1, NULL, NULL);
}
