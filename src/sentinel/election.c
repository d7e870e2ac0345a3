/*
 * src/sentinel/election.c
 *    Sentinel leader election (docs/design.md section 3): every sentinel holds a lease and publishes its SentinelInfo on it;
 *    the leader is the one whose create-if-absent of <prefix>/<cluster>/leader, bound to its lease, succeeded.
 *    A dead leader's lease expires, etcd deletes the key, and another sentinel's next create wins.
 *
 * Why leadership ends on our own clock: etcd expires a lease ttl seconds after the last keepalive it received,
 * which is no earlier than ttl after we sent it. A sentinel that cannot renew stops acting as leader once two
 * thirds of the ttl have passed since the last keepalive that succeeded was sent, so it stops writing before
 * another sentinel can be elected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_json.h"
#include "log.h"
#include "sentinel/sentinel.h"
#include "timestamp.h"

int64_t
sentinel_now_ms(void)
{
	return timestamp_monotonic_ms();
}

/* The lease ttl: long enough to ride out a slow store request, short enough that a dead leader is replaced fast. */
static int64_t
election_ttl_s(int64_t sleep_interval_ms)
{
	int64_t		ttl = (3 * sleep_interval_ms + 999) / 1000;

	return ttl < 3 ? 3 : ttl;
}

bool
election_leader_valid(const Sentinel *s, int64_t now_ms)
{
	return s->is_leader && s->lease_id != 0 && now_ms - s->lease_ok_sent_ms < s->lease_ttl_s * 1000 * 2 / 3;
}

static void
election_lose(Sentinel *s, const char *why)
{
	if (s->is_leader)
		log_warn("leadership lost: %s uid=%s", why, s->uid);
	s->is_leader = false;
}

static bool
election_lease_ensure(Sentinel *s, int64_t ttl_s)
{
	StoreError	err = {0};
	int64_t		sent = sentinel_now_ms();
	int64_t		remaining = 0;
	int64_t		granted = 0;

	if (s->lease_id != 0)
	{
		if (store_lease_keepalive(s->store, s->lease_id, &remaining, &err) && remaining > 0)
		{
			s->lease_ok_sent_ms = sent;
			return true;
		}
		if (err.kind != STORE_ERR_LEASE_NOT_FOUND && err.kind != STORE_ERR_NONE)
		{
			log_warn("could not renew the sentinel lease: %s lease=%lld", err.message, (long long) s->lease_id);
			return false;
		}
		log_info("sentinel lease expired, granting a new one lease=%lld", (long long) s->lease_id);
		election_lose(s, "lease expired");
		s->lease_id = 0;
	}
	sent = sentinel_now_ms();
	if (!store_lease_grant(s->store, ttl_s, &s->lease_id, &granted, &err))
	{
		log_warn("could not grant a sentinel lease: %s", err.message);
		s->lease_id = 0;
		return false;
	}
	s->lease_ttl_s = granted > 0 ? granted : ttl_s;
	s->lease_ok_sent_ms = sent;
	return true;
}

static void
election_publish_info(Sentinel *s)
{
	SentinelInfo si;
	StoreError	err = {0};
	char	   *text;

	memset(&si, 0, sizeof(si));
	snprintf(si.uid, sizeof(si.uid), "%s", s->uid);
	if (!uid_generate(si.info_uid, sizeof(si.info_uid)))
		return;
	text = sentinel_info_encode(&si);
	if (text == NULL)
		return;
	if (!store_put(s->store, s->key_info, text, strlen(text), s->lease_id, NULL, &err))
		log_warn("could not publish the sentinel info: %s key=%s", err.message, s->key_info);
	free(text);
}

bool
election_step(Sentinel *s, int64_t sleep_interval_ms)
{
	StoreError	err = {0};
	StoreKV		current;
	bool		found = false;
	int64_t		revision = 0;
	int64_t		now;

	if (!election_lease_ensure(s, election_ttl_s(sleep_interval_ms)))
	{
		if (!election_leader_valid(s, sentinel_now_ms()))
			election_lose(s, "no keepalive succeeded for two thirds of the lease ttl");
		return s->is_leader;
	}
	election_publish_info(s);

	memset(&current, 0, sizeof(current));
	if (!store_get(s->store, s->key_leader, &current, &found, &revision, &err))
	{
		log_warn("could not read the leader key: %s key=%s", err.message, s->key_leader);
		if (!election_leader_valid(s, sentinel_now_ms()))
			election_lose(s, "store unreachable");
		return s->is_leader;
	}
	now = sentinel_now_ms();
	if (found)
	{
		bool		ours = current.lease == s->lease_id && strcmp(current.value, s->uid) == 0;

		store_kv_finish(&current);
		if (!ours)
		{
			election_lose(s, "another sentinel holds the leader key");
			return false;
		}
		if (!s->is_leader)
		{
			/* Our own key from before a blip: leadership resumes, but as a fresh leader. */
			s->is_leader = true;
			s->leader_since_ms = now;
			planner_memory_reset(&s->memory, now);
			s->last_planned_ms = 0;
		}
		return election_leader_valid(s, now);
	}
	if (!store_create(s->store, s->key_leader, s->uid, strlen(s->uid), s->lease_id, NULL, NULL, &err))
	{
		if (err.kind != STORE_ERR_COMPARE_FAILED)
			log_warn("could not create the leader key: %s key=%s", err.message, s->key_leader);
		election_lose(s, "the leader key was taken");
		return false;
	}
	s->is_leader = true;
	s->leader_since_ms = now;
	planner_memory_reset(&s->memory, now);
	s->last_planned_ms = 0;
	pthread_mutex_lock(&s->lock);
	s->elections++;
	pthread_mutex_unlock(&s->lock);
	log_info("elected leader sentinel uid=%s lease=%lld ttl=%llds", s->uid, (long long) s->lease_id,
			 (long long) s->lease_ttl_s);
	return true;
}

void
election_resign(Sentinel *s)
{
	StoreError	err = {0};

	if (s->lease_id != 0 && !store_lease_revoke(s->store, s->lease_id, &err))
		log_debug("could not revoke the sentinel lease: %s", err.message);
	s->lease_id = 0;
	s->is_leader = false;
}
