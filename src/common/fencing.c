/*
 * src/common/fencing.c
 *    The fencing bounds and the failsafe rules; see fencing.h for the argument.
 */
#include "fencing.h"

#include <string.h>

FencingTimes
fencing_times(const ClusterSpec *spec)
{
	FencingTimes t;
	int64_t		f = spec->fail_interval_ms;
	int64_t		half = f / 2;

	/* a fifth of failInterval, at least 500 ms, but never more than half of it (tiny intervals) */
	t.margin_ms = f / 5 > 500 ? f / 5 : 500;
	if (t.margin_ms > half)
		t.margin_ms = half;
	t.fence_after_ms = f - t.margin_ms;
	t.promise_ms = t.fence_after_ms;
	/* at least three publishes fit in fence_after, so one lost or slow publish never fences a master */
	t.publish_every_ms = spec->sleep_interval_ms;
	if (t.publish_every_ms > t.fence_after_ms / 3)
		t.publish_every_ms = t.fence_after_ms / 3;
	if (t.publish_every_ms < 100)
		t.publish_every_ms = 100;
	return t;
}

int64_t
fencing_confirmed_until(const MasterConfirmation *c, const FencingTimes *t)
{
	int64_t		store_until = 0;

	if (c->read_sent_ms > 0 && c->publish_sent_ms > 0)
	{
		int64_t		older = c->read_sent_ms < c->publish_sent_ms ? c->read_sent_ms : c->publish_sent_ms;

		store_until = older + t->fence_after_ms;
	}
	return c->failsafe_until_ms > store_until ? c->failsafe_until_ms : store_until;
}

bool
failsafe_required_keepers(const ClusterData *cd, const Db *master, StringList *out)
{
	for (size_t i = 0; i < cd->db_count; i++)
	{
		const Db   *db = cd->dbs[i];
		const Keeper *k;

		if (db == master || strcmp(db->spec.keeper_uid, master->spec.keeper_uid) == 0)
			continue;
		k = cluster_data_find_keeper(cd, db->spec.keeper_uid);
		if (k != NULL && !k->status.can_be_master)
			continue;
		/* in synchronous mode only a synchronous standby can be elected (I4) */
		if (master->spec.synchronous_replication && !string_list_contains(&master->spec.synchronous_standbys, db->uid))
			continue;
		if (!string_list_contains(out, db->spec.keeper_uid) && !string_list_append(out, db->spec.keeper_uid))
			return false;
	}
	return true;
}

bool
failsafe_answer(const ClusterData *cd, const char *my_keeper, bool store_blind, const FailsafeRequest *req,
				const FencingTimes *t, int64_t *granted_ms, const char **reason)
{
	const Db   *master;
	const Db   *mine;

	*granted_ms = 0;
	if (cd == NULL)
	{
		*reason = "no cluster data read yet";
		return false;
	}
	if (!cd->cluster.spec.failsafe_mode)
	{
		*reason = "failsafeMode is off";
		return false;
	}
	if (!store_blind)
	{
		*reason = "the store is reachable from here: the sentinel decides";
		return false;
	}
	if (strcmp(cd->cluster.uid, req->cluster_uid) != 0)
	{
		*reason = "another cluster";
		return false;
	}
	master = cluster_data_master_db(cd);
	if (master == NULL || strcmp(master->uid, req->master_db) != 0)
	{
		*reason = "the cluster data names another master";
		return false;
	}
	if (strcmp(master->spec.keeper_uid, req->master_keeper) != 0)
	{
		*reason = "the master db is on another keeper";
		return false;
	}
	mine = cluster_data_find_db_by_keeper(cd, my_keeper);
	if (mine == NULL || mine == master || mine->spec.role != DB_ROLE_STANDBY)
	{
		*reason = "this keeper holds no standby db";
		return false;
	}
	if (req->want_ms <= 0)
	{
		*reason = "no promise asked";
		return false;
	}
	*granted_ms = req->want_ms < t->promise_ms ? req->want_ms : t->promise_ms;
	*reason = "granted";
	return true;
}

int64_t
failsafe_until(const StringList *required, const FailsafeGrant *grants, size_t n, int64_t round_sent_ms,
			   const FencingTimes *t)
{
	int64_t		until = round_sent_ms + t->promise_ms - t->margin_ms;

	for (size_t i = 0; i < required->count; i++)
	{
		const FailsafeGrant *g = NULL;

		for (size_t j = 0; j < n && g == NULL; j++)
			if (strcmp(grants[j].keeper, required->items[i]) == 0)
				g = &grants[j];
		if (g == NULL || !g->granted)
			return 0;
		if (g->sent_ms + g->granted_ms - t->margin_ms < until)
			until = g->sent_ms + g->granted_ms - t->margin_ms;
	}
	return until > 0 ? until : 0;
}
