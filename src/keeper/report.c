/*
 * src/keeper/report.c
 *    The keeper's report: KeeperInfo at <prefix>/<cluster>/keepers/<uid>, on a lease of its own that it keeps
 *    alive and grants again when lost, with a fresh infoUID on every publish (the sentinel's liveness signal).
 *    Nothing is published before a cluster data document has been read (its uid goes into clusterUID).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_json.h"
#include "keeper/keeper.h"
#include "log.h"
#include "uid.h"
#include "timestamp.h"

int64_t
keeper_sleep_interval_ms(const KeeperDaemon *k)
{
	int64_t		v = k->has_cd ? k->cd.cluster.spec.sleep_interval_ms : 0;

	return v > 0 ? v : 1000;
}

static bool
keeper_lease_ensure(KeeperDaemon *k, int64_t want, StoreError *err)
{
	int64_t		ttl = 0;
	int64_t		granted = 0;

	if (k->lease_id != 0 && k->lease_ttl_s == want)
	{
		if (store_lease_keepalive(k->report_store, k->lease_id, &ttl, err) && ttl > 0)
			return true;
		if (err->kind != STORE_ERR_LEASE_NOT_FOUND && err->kind != STORE_ERR_NONE)
			return false;
		log_info("report lease lost, granting a new one lease=%lld", (long long) k->lease_id);
	}
	if (!store_lease_grant(k->report_store, want, &k->lease_id, &granted, err))
	{
		k->lease_id = 0;
		return false;
	}
	k->lease_ttl_s = want;
	log_debug("report lease granted lease=%lld ttl=%lld", (long long) k->lease_id, (long long) granted);
	return true;
}

static bool
keeper_fill_postgres_state(const KeeperDaemon *k, PostgresState *ps)
{
	const PgLocalStatus *st = &k->pgstatus;

	snprintf(ps->uid, sizeof(ps->uid), "%s", k->dbstate.uid);
	ps->generation = k->dbstate.generation;
	snprintf(ps->listen_address, sizeof(ps->listen_address), "%s",
			 k->cfg.pg_advertise_address ? k->cfg.pg_advertise_address : k->cfg.pg_listen_address);
	ps->port = (int) (k->cfg.pg_advertise_port > 0 ? k->cfg.pg_advertise_port : k->cfg.pg_port);
	ps->healthy = k->pg_healthy;
	if (!k->pg_healthy)
	{
		/* a planned switchover waits for this: the old master's last WAL position after its fast shutdown */
		if (!k->pg_running && !pgctl_shutdown_checkpoint(&k->pgctl, &ps->stopped_lsn))
			ps->stopped_lsn = 0;
		return true;
	}
	snprintf(ps->system_id, sizeof(ps->system_id), "%s", st->system_id);
	ps->timeline_id = st->timeline_id;
	ps->xlog_pos = st->xlog_pos;
	if (!timelines_history_copy(&ps->timelines_history, &st->history))
		return false;
	pg_parameters_finish(&ps->pg_parameters);
	if (!pg_parameters_copy(&ps->pg_parameters, &st->file_params))
		return false;
	for (size_t i = 0; i < st->sync_standbys.count; i++)
	{
		const char *name = st->sync_standbys.items[i];

		if (strncmp(name, CLUSTER_SLOT_PREFIX, strlen(CLUSTER_SLOT_PREFIX)) == 0 &&
			!string_list_append(&ps->synchronous_standbys, name + strlen(CLUSTER_SLOT_PREFIX)))
			return false;
	}
	pgctl_older_wal_file(&k->pgctl, ps->older_wal_file, sizeof(ps->older_wal_file));
	return true;
}

void
keeper_report_update(KeeperDaemon *k, bool now)
{
	KeeperInfo	ki;
	bool		ok = true;

	if (!k->has_cd)
		return;
	keeper_info_init(&ki);
	snprintf(ki.uid, sizeof(ki.uid), "%s", k->uid);
	snprintf(ki.cluster_uid, sizeof(ki.cluster_uid), "%s", k->cd.cluster.uid);
	snprintf(ki.boot_uuid, sizeof(ki.boot_uuid), "%s", k->boot_uuid);
	ki.postgres_binary_version = k->pg_version;
	ki.can_be_master = k->cfg.can_be_master;
	ki.can_be_synchronous_replica = k->cfg.can_be_synchronous_replica;
	snprintf(ki.keeper_state, sizeof(ki.keeper_state), "%s", keeper_state_to_string(k->state));
	snprintf(ki.http_address, sizeof(ki.http_address), "%s", k->http_address);
	snprintf(ki.problem, sizeof(ki.problem), "%s", k->problem);
	if (k->dbstate.uid[0])
		ok = (ki.postgres_state = postgres_state_new()) != NULL && keeper_fill_postgres_state(k, ki.postgres_state);
	if (!ok)
	{
		log_error("out of memory building the keeper report");
		keeper_info_finish(&ki);
		return;
	}
	pthread_mutex_lock(&k->lock);
	keeper_info_finish(&k->report);
	k->report = ki;				/* moved: the reporter owns it now */
	k->report_ready = true;
	k->report_built_ms = timestamp_monotonic_ms();
	k->report_now = k->report_now || now;
	/* often enough that a master's role stays confirmed with a publish or two lost (fencing.h) */
	k->report_interval_ms = keeper_sleep_interval_ms(k);
	if (k->report_interval_ms > k->fencing.publish_every_ms && k->fencing.publish_every_ms > 0)
		k->report_interval_ms = k->fencing.publish_every_ms;
	pthread_cond_signal(&k->report_cond);
	pthread_mutex_unlock(&k->lock);
}

/* keeper_report_publish: one publish of report (a copy the caller owns) with a fresh infoUID. */
static void
keeper_report_publish(KeeperDaemon *k, KeeperInfo *ki, int64_t interval_ms)
{
	StoreError	err = {0};
	char	   *text = NULL;
	int64_t		ttl = (3 * interval_ms + 999) / 1000;	/* a keeper misses two reports before its key expires */
	int64_t		sent;

	if (ttl < 3)
		ttl = 3;
	if (!uid_generate(ki->info_uid, sizeof(ki->info_uid)))
		return;
	if ((text = keeper_info_encode(ki)) == NULL)
	{
		log_error("could not encode the keeper report");
		return;
	}
	sent = timestamp_monotonic_ms();
	if (!keeper_lease_ensure(k, ttl, &err) ||
		!store_put(k->report_store, k->report_key, text, strlen(text), k->lease_id, NULL, &err))
	{
		if (err.kind == STORE_ERR_LEASE_NOT_FOUND)
			k->lease_id = 0;
		if (!k->report_failing)
			log_warn("could not publish the keeper report: %s: %s", store_error_kind_to_string(err.kind),
					 err.message);
		k->report_failing = true;
	}
	else
	{
		if (k->report_failing)
			log_info("keeper report published again");
		k->report_failing = false;
		keeper_fence_observe_publish(k, sent);
	}
	free(text);
}

static void *
keeper_reporter_main(void *arg)
{
	KeeperDaemon *k = arg;

	pthread_mutex_lock(&k->lock);
	while (!k->report_stop)
	{
		KeeperInfo	ki;
		int64_t		interval = k->report_interval_ms > 0 ? k->report_interval_ms : 1000;
		struct timespec deadline;
		bool		ok;

		if (k->report_ready)
		{
			bool		stale = timestamp_monotonic_ms() - k->report_built_ms > 2 * interval;

			ok = keeper_info_copy(&ki, &k->report);
			k->report_now = false;
			/*
			 * The main loop is busy in a long step (a base backup, a rewind, a restart): the keeper is alive, but
			 * what it last saw of PostgreSQL is too old to vouch for, so PostgreSQL is reported unhealthy.
			 */
			if (ok && stale && ki.postgres_state)
				ki.postgres_state->healthy = false;
			pthread_mutex_unlock(&k->lock);
			if (ok)
			{
				keeper_report_publish(k, &ki, interval);
				keeper_info_finish(&ki);
			}
			pthread_mutex_lock(&k->lock);
		}
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += interval / 1000;
		deadline.tv_nsec += (interval % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L)
		{
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!k->report_stop && !k->report_now)
			if (pthread_cond_timedwait(&k->report_cond, &k->lock, &deadline) != 0)
				break;
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

bool
keeper_reporter_start(KeeperDaemon *k, char *err, size_t errlen)
{
	keeper_info_init(&k->report);
	pthread_cond_init(&k->report_cond, NULL);
	if (!store_options_open(&k->store_opts, &k->report_store, err, errlen))
		return false;
	if (pthread_create(&k->reporter, NULL, keeper_reporter_main, k) != 0)
	{
		snprintf(err, errlen, "could not start the reporter thread");
		return false;
	}
	k->reporter_started = true;
	return true;
}

void
keeper_reporter_stop(KeeperDaemon *k)
{
	StoreError	serr;

	if (!k->reporter_started)
		return;
	pthread_mutex_lock(&k->lock);
	k->report_stop = true;
	pthread_cond_signal(&k->report_cond);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->reporter, NULL);
	k->reporter_started = false;
	if (k->lease_id && !store_lease_revoke(k->report_store, k->lease_id, &serr))
		log_warn("could not revoke the report lease: %s", serr.message);
	k->lease_id = 0;
	store_free(k->report_store);
	k->report_store = NULL;
	keeper_info_finish(&k->report);
}
