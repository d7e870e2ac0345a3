/*
 * src/keeper/fence.c
 *    Self-fencing and the failsafe, on two threads of their own so that neither a busy main loop nor a slow store
 *    call can delay them (the rules and the timing argument are in src/common/fencing.h and docs/design.md):
 *
 *    - the watchdog checks every KEEPER_WATCHDOG_TICK_MS whether a running primary PostgreSQL still has its role
 *      confirmed (by the store, or by the failsafe); when not, it asks the postmaster for a fast shutdown at once
 *      (SIGINT: sessions are terminated and no new one is accepted) and keeps the keeper from starting it again
 *      until the role is confirmed;
 *    - the failsafe thread, on a master whose store confirmations are late, asks every electable keeper over HTTP
 *      for a promise not to be promoted (POST /failsafe), and turns a full round of promises into a bound.
 *
 *    The confirmation times come from the main loop (a cluster data read that names this DB master) and the
 *    reporter (a publish that succeeded), both stamped with the time the request was sent.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "keeper/keeper.h"
#include "log.h"
#include "timestamp.h"

#define KEEPER_WATCHDOG_TICK_MS 50

/* ---- observations (any thread) ---- */

void
keeper_fence_observe_read(KeeperDaemon *k, int64_t sent_ms)
{
	const Db   *master = k->has_cd ? cluster_data_master_db(&k->cd) : NULL;
	bool		names_us = master != NULL && k->dbstate.uid[0] && strcmp(master->uid, k->dbstate.uid) == 0 &&
		strcmp(master->spec.keeper_uid, k->uid) == 0;
	ClusterData *copy = NULL;

	/* the HTTP and failsafe threads answer from a copy of the last valid cluster data */
	if (k->has_cd && k->cd_mod_revision != k->fence_cd_revision)
	{
		if ((copy = malloc(sizeof(*copy))) == NULL || !cluster_data_copy(copy, &k->cd))
		{
			free(copy);
			copy = NULL;
			log_error("out of memory copying the cluster data for the failsafe");
		}
	}
	pthread_mutex_lock(&k->lock);
	if (names_us)
		k->confirm.read_sent_ms = sent_ms;
	else
		k->confirm.read_sent_ms = 0;
	if (k->has_cd)
	{
		k->fencing = fencing_times(&k->cd.cluster.spec);
		k->failsafe_mode = k->cd.cluster.spec.failsafe_mode;
	}
	if (copy != NULL)
	{
		if (k->fence_cd != NULL)
		{
			cluster_data_finish(k->fence_cd);
			free(k->fence_cd);
		}
		k->fence_cd = copy;
		k->fence_cd_revision = k->cd_mod_revision;
	}
	pthread_mutex_unlock(&k->lock);
}

void
keeper_fence_observe_publish(KeeperDaemon *k, int64_t sent_ms)
{
	pthread_mutex_lock(&k->lock);
	k->confirm.publish_sent_ms = sent_ms;
	pthread_mutex_unlock(&k->lock);
}

int64_t
keeper_fence_confirmed_until(KeeperDaemon *k)
{
	int64_t		until;

	pthread_mutex_lock(&k->lock);
	until = fencing_confirmed_until(&k->confirm, &k->fencing);
	pthread_mutex_unlock(&k->lock);
	return until;
}

bool
keeper_fence_master_allowed(KeeperDaemon *k, int64_t *late_ms)
{
	int64_t		now = timestamp_monotonic_ms();
	int64_t		until = keeper_fence_confirmed_until(k);
	bool		fenced;

	pthread_mutex_lock(&k->lock);
	fenced = k->fenced && now > until;
	pthread_mutex_unlock(&k->lock);
	*late_ms = now > until ? now - until : 0;
	return !fenced && now <= until;
}

bool
keeper_fence_promise_holds(KeeperDaemon *k, char *master, size_t masterlen, int64_t *left_ms)
{
	int64_t		now = timestamp_monotonic_ms();
	bool		holds;

	pthread_mutex_lock(&k->lock);
	holds = now < k->promise_until_ms;
	*left_ms = holds ? k->promise_until_ms - now : 0;
	snprintf(master, masterlen, "%s", k->promised_to);
	pthread_mutex_unlock(&k->lock);
	return holds;
}

/*
 * Whether this keeper cannot reach the store now (k->lock held): its last cluster data read failed, or one has
 * been in flight for longer than a healthy store answers in. The second matters: a read against a dead store
 * fails only after the store timeout, and a master asking for promises cannot wait that long.
 */
#define KEEPER_STORE_SLOW_MS 500

static bool
keeper_fence_store_blind_locked(const KeeperDaemon *k, int64_t now)
{
	return k->store_read_failed || (k->store_read_started_ms > 0 && now - k->store_read_started_ms > KEEPER_STORE_SLOW_MS);
}

void
keeper_fence_observe_read_start(KeeperDaemon *k, int64_t now)
{
	pthread_mutex_lock(&k->lock);
	k->store_read_started_ms = now;
	pthread_mutex_unlock(&k->lock);
}

void
keeper_fence_observe_read_end(KeeperDaemon *k, bool ok)
{
	pthread_mutex_lock(&k->lock);
	k->store_read_started_ms = 0;
	k->store_read_failed = !ok;
	pthread_mutex_unlock(&k->lock);
}

bool
keeper_fence_answer(KeeperDaemon *k, const FailsafeRequest *req, int64_t *granted_ms, const char **reason)
{
	bool		ok;

	pthread_mutex_lock(&k->lock);
	ok = failsafe_answer(k->fence_cd, k->uid, keeper_fence_store_blind_locked(k, timestamp_monotonic_ms()), req,
						 &k->fencing, granted_ms, reason);
	if (ok)
	{
		int64_t		until = timestamp_monotonic_ms() + *granted_ms;

		if (until > k->promise_until_ms)
			k->promise_until_ms = until;
		snprintf(k->promised_to, sizeof(k->promised_to), "%s", req->master_db);
	}
	pthread_mutex_unlock(&k->lock);
	return ok;
}

/* ---- the watchdog ---- */

static void *
keeper_watchdog_main(void *arg)
{
	KeeperDaemon *k = arg;
	int64_t		signaled_ms = 0;

	for (;;)
	{
		int64_t		now = timestamp_monotonic_ms();
		int64_t		until;
		bool		stop;
		bool		fenced;
		bool		primary;

		pthread_mutex_lock(&k->lock);
		stop = k->fence_stop;
		until = fencing_confirmed_until(&k->confirm, &k->fencing);
		fenced = k->fenced;
		pthread_mutex_unlock(&k->lock);
		if (stop)
			break;
		/* a primary is a running PostgreSQL without standby.signal: whatever the cluster data says (or not) */
		primary = pgctl_is_running(&k->pgctl) && !pgctl_is_standby(&k->pgctl);
		if (now > until)
		{
			/* once, and again every second while the postmaster has not gone */
			if (primary && now - signaled_ms >= 1000)
			{
				if (until > 0)
					log_error("self-fencing: the master role has not been confirmed (by the store: a read naming "
							  "it master and a publish; or by the failsafe's promises) for %lld ms past its bound: "
							  "fast shutdown of postgres now", (long long) (now - until));
				else
					log_error("self-fencing: postgres runs as a primary but this keeper has never had the master "
							  "role confirmed: fast shutdown of postgres now");
				if (!pgctl_request_fast_stop(&k->pgctl))
					log_error("self-fencing: could not signal the postmaster");
				signaled_ms = now;
			}
			if (!fenced && (primary || until > 0))
			{
				pthread_mutex_lock(&k->lock);
				k->fenced = true;
				k->self_fence_count++;
				pthread_mutex_unlock(&k->lock);
			}
		}
		else if (fenced)
		{
			log_info("the master role is confirmed again: postgres may run as master");
			pthread_mutex_lock(&k->lock);
			k->fenced = false;
			pthread_mutex_unlock(&k->lock);
		}
		usleep(KEEPER_WATCHDOG_TICK_MS * 1000);
	}
	return NULL;
}

/* ---- the failsafe ---- */

/* One grant from keeper at addr; false (and the reason logged at debug) when none. */
static bool
keeper_failsafe_ask(KeeperDaemon *k, const char *addr, const FailsafeRequest *req, int64_t timeout_ms,
					int64_t *granted_ms, char *why, size_t whylen)
{
	char		url[1024];
	Buf			body;
	int			status;
	bool		ok;
	const char *p;

	(void) k;
	*granted_ms = 0;
	if (addr[0] == '\0')
	{
		snprintf(why, whylen, "its HTTP address is not known");
		return false;
	}
	snprintf(url, sizeof(url), "http://%s/failsafe?cluster=%s&master=%s&keeper=%s&want=%" PRId64, addr,
			 req->cluster_uid, req->master_db, req->master_keeper, req->want_ms);
	buf_init(&body, HTTP_CLIENT_MAX_BODY);
	ok = http_client_request("POST", url, timeout_ms, &status, &body, why, whylen);
	if (ok && status != 200)
	{
		snprintf(why, whylen, "refused (%d): %.200s", status, buf_cstr(&body));
		ok = false;
	}
	if (ok)
	{
		/* {"grantedMs":N} */
		p = strstr(buf_cstr(&body), "\"grantedMs\":");
		ok = p != NULL && sscanf(p + strlen("\"grantedMs\":"), "%" SCNd64, granted_ms) == 1 && *granted_ms > 0;
		if (!ok)
			snprintf(why, whylen, "an answer without a promise: %.200s", buf_cstr(&body));
	}
	buf_finish(&body);
	return ok;
}

static void *
keeper_failsafe_main(void *arg)
{
	KeeperDaemon *k = arg;
	bool		active = false;
	char		last_refusal[512] = "";

	for (;;)
	{
		MasterConfirmation c;
		FencingTimes t;
		ClusterData *cd = NULL;
		const Db   *master;
		StringList	required;
		FailsafeGrant *grants = NULL;
		size_t		n = 0;
		int64_t		now = timestamp_monotonic_ms();
		int64_t		round_sent;
		int64_t		until;
		bool		stop;
		bool		mode;

		pthread_mutex_lock(&k->lock);
		stop = k->fence_stop;
		c = k->confirm;
		t = k->fencing;
		mode = k->failsafe_mode;
		if (k->fence_cd != NULL && (cd = malloc(sizeof(*cd))) != NULL && !cluster_data_copy(cd, k->fence_cd))
		{
			free(cd);
			cd = NULL;
		}
		pthread_mutex_unlock(&k->lock);
		if (stop)
		{
			if (cd)
				cluster_data_finish(cd);
			free(cd);
			break;
		}
		master = cd ? cluster_data_master_db(cd) : NULL;
		c.failsafe_until_ms = 0;
		/*
		 * A round only when this keeper is the master, the store did confirm it, and those confirmations are now
		 * late (two publishes missed): a healthy store costs no HTTP traffic, and a role the store never
		 * confirmed is never held on promises.
		 */
		if (!mode || master == NULL || strcmp(master->spec.keeper_uid, k->uid) != 0 ||
			c.read_sent_ms == 0 || c.publish_sent_ms == 0 ||
			now < fencing_confirmed_until(&c, &t) - t.fence_after_ms + 2 * t.publish_every_ms)
		{
			if (active)
				log_info("failsafe ended: the store confirms the master role again");
			active = false;
			last_refusal[0] = '\0';
			pthread_mutex_lock(&k->lock);
			k->confirm.failsafe_until_ms = 0;
			pthread_mutex_unlock(&k->lock);
			goto next;
		}
		string_list_init(&required);
		round_sent = timestamp_monotonic_ms();
		if (failsafe_required_keepers(cd, master, &required) &&
			(grants = calloc(required.count + 1, sizeof(*grants))) != NULL)
		{
			FailsafeRequest req = {cd->cluster.uid, master->uid, k->uid, t.promise_ms};
			char		refusal[512] = "";

			for (size_t i = 0; i < required.count; i++)
			{
				const Keeper *peer = cluster_data_find_keeper(cd, required.items[i]);
				char		why[300] = "";

				snprintf(grants[n].keeper, sizeof(grants[n].keeper), "%s", required.items[i]);
				grants[n].sent_ms = timestamp_monotonic_ms();
				grants[n].granted = keeper_failsafe_ask(k, peer ? peer->status.http_address : "", &req,
														t.publish_every_ms, &grants[n].granted_ms, why,
														sizeof(why));
				if (!grants[n].granted && refusal[0] == '\0')
					snprintf(refusal, sizeof(refusal), "keeper %s: %s", required.items[i], why);
				n++;
			}
			until = failsafe_until(&required, grants, n, round_sent, &t);
			/*
			 * A round that fails (a keeper that does not answer this time) does not take back the bound of the
			 * last full round: those promises hold until they end, whatever happens to later requests.
			 */
			pthread_mutex_lock(&k->lock);
			if (until > k->confirm.failsafe_until_ms)
				k->confirm.failsafe_until_ms = until;
			pthread_mutex_unlock(&k->lock);
			if (until > 0 && !active)
				log_warn("failsafe: the store does not confirm the master role; holding it on the promises of "
						 "%zu keeper(s)", required.count);
			else if (until == 0 && strcmp(refusal, last_refusal) != 0)
				log_error("failsafe not available (every electable keeper must promise): %s", refusal);
			active = until > 0;
			snprintf(last_refusal, sizeof(last_refusal), "%s", refusal);
		}
		free(grants);
		string_list_finish(&required);
next:
		if (cd)
		{
			cluster_data_finish(cd);
			free(cd);
		}
		usleep((useconds_t) ((t.publish_every_ms > 0 ? t.publish_every_ms : 500) / 2) * 1000);
	}
	return NULL;
}

bool
keeper_fence_start(KeeperDaemon *k, char *err, size_t errlen)
{
	ClusterSpec defaults;

	cluster_spec_defaults(&defaults);
	k->fencing = fencing_times(&defaults);
	if (pthread_create(&k->watchdog, NULL, keeper_watchdog_main, k) != 0 ||
		pthread_create(&k->failsafe, NULL, keeper_failsafe_main, k) != 0)
	{
		snprintf(err, errlen, "could not start the fencing threads");
		return false;
	}
	k->fence_started = true;
	return true;
}

void
keeper_fence_stop(KeeperDaemon *k)
{
	if (!k->fence_started)
		return;
	pthread_mutex_lock(&k->lock);
	k->fence_stop = true;
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->watchdog, NULL);
	pthread_join(k->failsafe, NULL);
	k->fence_started = false;
	if (k->fence_cd != NULL)
	{
		cluster_data_finish(k->fence_cd);
		free(k->fence_cd);
		k->fence_cd = NULL;
	}
}
