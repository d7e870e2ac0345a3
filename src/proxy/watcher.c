/*
 * src/proxy/watcher.c
 *    The proxy's store side, on three threads of its own so that none waits for another:
 *    - the watcher reads the cluster data at once when its watch reports a change and every
 *      proxyCheckInterval as a safety net, turns it into a route table (routing.c), hands that to every
 *      forwarding worker and waits (briefly) until all of them have applied it. Every successful read stamps
 *      last_read_ok_ms with the time the read was sent, which each worker's watchdog checks (I2). Its reads
 *      have a deadline of (proxyTimeout - proxyCheckInterval) / 2, so a slow endpoint is left for another one
 *      well before the watchdog's deadline;
 *    - the publisher publishes the proxy's report acknowledging the generation every worker applied (the
 *      sentinel's fencing handshake, I3), on a store handle of its own: a slow lease keepalive or put never
 *      delays a read;
 *    - the confirmer, while the store cannot be read, asks the master's keeper whether its master role is
 *      still confirmed (GET /failsafe, src/keeper/fence.c): a yes for the DB the proxy routes to keeps the routes
 *      fresh as long as that confirmation lasts, within proxyTimeout. So an etcd outage (or a leader election)
 *      does not drop a connection while the master holds its role; a master that fences itself says no, and
 *      the proxy fences at the usual deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_watch.h"
#include "cluster_json.h"
#include "duration.h"
#include "http_client.h"
#include "log.h"
#include "proxy.h"
#include "uid.h"
#include "timestamp.h"

#define WATCHER_APPLY_WAIT_MS 500

typedef struct Watcher
{
	ProxyDaemon	   *p;
	char		data_key[512];
	StoreWatch *watch;
	RouteTable	posted;			/* what was last handed to the loop */
	bool		have_posted;
	bool		read_failing;	/* for logging once per state change */
	bool		data_invalid;
	bool		logged_hold;	/* the hold timeout in force has been logged */
	char		last_invalid[512];
} Watcher;

/* The shortest and longest deadline of one cluster data read. */
#define WATCHER_READ_DEADLINE_MIN_MS 250

/* How long the confirmer waits for the master's keeper. */
#define CONFIRM_REQUEST_MS 500

/*
 * watcher_post: hand rt to every forwarding worker and wait (briefly) until all of them have applied it, so
 * that the report acknowledges real state. Should a worker be slower than the wait, the report keeps
 * acknowledging the generation of the worker furthest behind (forwarder_acked_generation) until it catches up.
 */
static void
watcher_post(Watcher *w, const RouteTable *rt)
{
	uint64_t	seq = forwarder_post_routes(w->p, rt);

	if (!forwarder_wait_applied(w->p, seq, WATCHER_APPLY_WAIT_MS))
		log_debug("not every forwarding worker has applied the routes yet generation=%lld",
				  (long long) rt->generation);
	w->posted = *rt;
	w->have_posted = true;
}

/* The routes are fresh as of sent (monotonic): never moved backwards. */
static void
watcher_stamp_fresh(ProxyDaemon *p, int64_t sent)
{
	int64_t		cur = atomic_load(&p->last_read_ok_ms);

	while (sent > cur && !atomic_compare_exchange_weak(&p->last_read_ok_ms, &cur, sent))
		;
}

/* What the confirmer needs of the last valid cluster data: the master DB, its keeper's HTTP address, the mode. */
static void
watcher_note_master_keeper(ProxyDaemon *p, const ClusterData *cd)
{
	const Db   *m = cluster_data_master_db(cd);
	const Keeper *k = m ? cluster_data_find_keeper(cd, m->spec.keeper_uid) : NULL;

	pthread_mutex_lock(&p->shared.mutex);
	p->shared.failsafe_mode = cd->cluster.spec.failsafe_mode;
	snprintf(p->shared.master_db, sizeof(p->shared.master_db), "%s", m ? m->uid : "");
	snprintf(p->shared.master_http, sizeof(p->shared.master_http), "%s", k ? k->status.http_address : "");
	pthread_mutex_unlock(&p->shared.mutex);
}

/*
 * watcher_set_timing: the proxy's timing from the cluster spec: the watchdog's proxyTimeout, the safety-net
 * read interval, and with --hold-timeout auto the hold timeout derived from the spec (logged when it changes).
 */
static void
watcher_set_timing(Watcher *w, const ClusterSpec *spec)
{
	ProxyDaemon	   *p = w->p;
	int64_t		hold = p->hold_timeout_ms == HOLD_TIMEOUT_FROM_SPEC ? hold_timeout_for_spec(spec) : p->hold_timeout_ms;
	int64_t		old;

	int64_t		deadline = (spec->proxy_timeout_ms - spec->proxy_check_interval_ms) / 2;

	pthread_mutex_lock(&p->shared.mutex);
	p->shared.proxy_timeout_ms = spec->proxy_timeout_ms;
	p->shared.check_interval_ms = spec->proxy_check_interval_ms;
	old = p->shared.hold_timeout_ms;
	p->shared.hold_timeout_ms = hold;
	pthread_mutex_unlock(&p->shared.mutex);
	/* a read slower than this is left for the next endpoint, well within the watchdog's deadline (M4) */
	if (deadline < WATCHER_READ_DEADLINE_MIN_MS)
		deadline = WATCHER_READ_DEADLINE_MIN_MS;
	if (deadline > p->store_opts.timeout_ms)
		deadline = p->store_opts.timeout_ms;
	store_set_request_timeout(p->store, deadline);
	if (hold != old || !w->logged_hold)
	{
		char		d[DURATION_FORMAT_SIZE];

		if (hold > 0)
			log_info("holding new connections up to %s while there is no target (%s) max_held=%lld",
					 duration_format(hold, d, sizeof(d)),
					 p->hold_timeout_ms == HOLD_TIMEOUT_FROM_SPEC ?
					 "failInterval + 3 * sleepInterval + 2 * proxyTimeout of the cluster spec" : "--hold-timeout",
					 (long long) p->max_held_connections);
		else
			log_info("not holding new connections: refused at once while there is no target (--hold-timeout 0)");
		w->logged_hold = true;
	}
}

/* watcher_read: read and route the cluster data; false when the store could not be read. *rev: its revision. */
static bool
watcher_read(Watcher *w, int64_t *rev)
{
	ProxyDaemon	   *p = w->p;
	StoreKV		kv;
	StoreError	serr;
	bool		found;
	RouteTable	rt;
	int64_t		sent = timestamp_monotonic_ms();

	if (!store_get(p->store, w->data_key, &kv, &found, rev, &serr))
	{
		if (!w->read_failing)
			log_error("could not read the cluster data: %s", serr.message);
		w->read_failing = true;
		return false;
	}
	if (w->read_failing)
		log_info("cluster data readable again");
	w->read_failing = false;
	/* I2: the data is as old as the request that fetched it */
	watcher_stamp_fresh(p, sent);

	if (!found)
		route_table_none(&rt, "no cluster data in the store (run bulwarkctl init)");
	else
	{
		ClusterData cd;
		char		err[512];

		if (!cluster_data_decode(kv.value, kv.value_len, &cd, err, sizeof(err)))
		{
			if (!w->data_invalid || strcmp(err, w->last_invalid) != 0)
				log_error("the cluster data is invalid, routing nowhere until it is fixed: %s", err);
			w->data_invalid = true;
			snprintf(w->last_invalid, sizeof(w->last_invalid), "%s", err);
			route_table_none(&rt, "the cluster data is invalid");
		}
		else
		{
			if (w->data_invalid)
				log_info("the cluster data is valid again");
			w->data_invalid = false;
			route_table_compute(&cd, p->uid, &rt);
			watcher_set_timing(w, &cd.cluster.spec);
			watcher_note_master_keeper(p, &cd);
			cluster_data_finish(&cd);
		}
		store_kv_finish(&kv);
	}
	if (rt.rw.db_uid[0] && !route_target_resolve(&rt.rw))
	{
		snprintf(rt.why_no_rw, sizeof(rt.why_no_rw), "cannot resolve master address \"%.200s\"", rt.rw.host);
		memset(&rt.rw, 0, sizeof(rt.rw));
	}
	for (size_t i = 0; i < rt.ro_count;)
	{
		if (route_target_resolve(&rt.ro[i]))
			i++;
		else
			rt.ro[i] = rt.ro[--rt.ro_count];
	}
	if (!w->have_posted || memcmp(&rt, &w->posted, sizeof(rt)) != 0)
	{
		watcher_post(w, &rt);
		/* acknowledge the new generation now */
		pthread_mutex_lock(&p->shared.mutex);
		p->shared.publish_now = true;
		pthread_cond_broadcast(&p->shared.publish_cond);
		pthread_mutex_unlock(&p->shared.mutex);
	}
	return true;
}

/* ---- the publisher ---- */

typedef struct Publisher
{
	ProxyDaemon	   *p;
	char		report_key[512];
	int64_t		lease;
	int64_t		lease_ttl_s;
	bool		failing;
} Publisher;

/* publisher_publish: the proxy's report on its lease, acknowledging the applied generation. */
static void
publisher_publish(Publisher *pub)
{
	ProxyDaemon	   *p = pub->p;
	ProxyInfo	pi;
	StoreError	serr;
	char	   *text;
	int64_t		timeout_ms;
	int64_t		ttl;

	memset(&pi, 0, sizeof(pi));
	/* I3: never ahead of any worker: the generation every worker has applied (or gone past) */
	pi.generation = forwarder_acked_generation(p);
	pthread_mutex_lock(&p->shared.mutex);
	timeout_ms = p->shared.proxy_timeout_ms;
	pthread_mutex_unlock(&p->shared.mutex);
	pi.proxy_timeout_ms = timeout_ms;
	snprintf(pi.uid, sizeof(pi.uid), "%s", p->uid);
	if (!uid_generate(pi.info_uid, sizeof(pi.info_uid)))
		return;

	/* the lease only collects a dead proxy's report; liveness is the infoUID changing */
	ttl = (2 * timeout_ms + 999) / 1000;
	if (ttl < 2)
		ttl = 2;
	if (pub->lease != 0 && ttl != pub->lease_ttl_s)
	{
		if (!store_lease_revoke(p->report_store, pub->lease, &serr))
			log_debug("could not revoke the old lease: %s", serr.message);
		pub->lease = 0;
	}
	if (pub->lease != 0 && !store_lease_keepalive(p->report_store, pub->lease, NULL, &serr))
		pub->lease = 0;
	if (pub->lease == 0)
	{
		if (!store_lease_grant(p->report_store, ttl, &pub->lease, NULL, &serr))
		{
			if (!pub->failing)
				log_warn("could not publish the proxy report: %s", serr.message);
			pub->failing = true;
			pub->lease = 0;
			return;
		}
		pub->lease_ttl_s = ttl;
	}
	text = proxy_info_encode(&pi);
	if (text == NULL)
		return;
	if (!store_put(p->report_store, pub->report_key, text, strlen(text), pub->lease, NULL, &serr))
	{
		if (!pub->failing)
			log_warn("could not publish the proxy report: %s", serr.message);
		pub->failing = true;
	}
	else
	{
		if (pub->failing)
			log_info("proxy report published again");
		pub->failing = false;
	}
	free(text);
}

/* Waits (on the shared mutex, held) until ms passed or someone asked for a publish now. */
static void
proxy_timed_wait_locked(ProxyDaemon *p, pthread_cond_t *cond, bool *flag, int64_t ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
	{
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (!atomic_load(&p->stopping) && (flag == NULL || !*flag))
		if (pthread_cond_timedwait(cond, &p->shared.mutex, &deadline) != 0)
			break;
}

static void *
publisher_main(void *arg)
{
	Publisher	pub;
	ProxyDaemon	   *p = arg;

	memset(&pub, 0, sizeof(pub));
	pub.p = p;
	{
		char		rel[128];

		snprintf(rel, sizeof(rel), "proxies/%s", p->uid);
		store_options_key(&p->store_opts, rel, pub.report_key, sizeof(pub.report_key));
	}
	while (!atomic_load(&p->stopping))
	{
		int64_t		interval;

		publisher_publish(&pub);
		pthread_mutex_lock(&p->shared.mutex);
		interval = p->shared.check_interval_ms;
		p->shared.publish_now = false;
		proxy_timed_wait_locked(p, &p->shared.publish_cond, &p->shared.publish_now, interval);
		pthread_mutex_unlock(&p->shared.mutex);
	}
	if (pub.lease != 0)
	{
		StoreError	serr;

		/* the report goes with the lease: the sentinel need not wait for it to expire */
		if (!store_lease_revoke(p->report_store, pub.lease, &serr))
			log_debug("could not revoke the report's lease: %s", serr.message);
	}
	return NULL;
}

/* ---- the confirmer ---- */

/* One GET /failsafe to the master's keeper: true with *confirmed_ms when it confirms master_db. */
static bool
confirmer_ask(const char *addr, const char *master_db, int64_t *confirmed_ms, char *why, size_t whylen)
{
	char		url[CLUSTER_HOST_SIZE + 64];
	char		want[UID_SIZE + 16];
	Buf			body;
	int			status;
	bool		ok;
	const char *c;

	*confirmed_ms = 0;
	snprintf(url, sizeof(url), "http://%s/failsafe", addr);
	buf_init(&body, HTTP_CLIENT_MAX_BODY);
	ok = http_client_request("GET", url, CONFIRM_REQUEST_MS, &status, &body, why, whylen);
	if (ok && status != 200)
	{
		snprintf(why, whylen, "the master's keeper says %d: %.120s", status, buf_cstr(&body));
		ok = false;
	}
	/* {"masterDb":"<uid>","confirmedMs":N} */
	snprintf(want, sizeof(want), "\"masterDb\":\"%s\"", master_db);
	if (ok && (strstr(buf_cstr(&body), want) == NULL || (c = strstr(buf_cstr(&body), "\"confirmedMs\":")) == NULL ||
			   sscanf(c + strlen("\"confirmedMs\":"), "%" SCNd64, confirmed_ms) != 1 || *confirmed_ms <= 0))
	{
		snprintf(why, whylen, "the master's keeper does not confirm db %s: %.120s", master_db, buf_cstr(&body));
		ok = false;
	}
	buf_finish(&body);
	return ok;
}

static void *
confirmer_main(void *arg)
{
	ProxyDaemon	   *p = arg;
	bool		confirming = false;
	char		last_why[512] = "";

	while (!atomic_load(&p->stopping))
	{
		char		db[UID_SIZE];
		char		addr[CLUSTER_HOST_SIZE + 8];
		char		why[512] = "";
		bool		mode;
		int64_t		timeout;
		int64_t		interval;
		int64_t		confirmed;
		int64_t		sent = timestamp_monotonic_ms();
		int64_t		last = atomic_load(&p->last_read_ok_ms);

		pthread_mutex_lock(&p->shared.mutex);
		mode = p->shared.failsafe_mode;
		timeout = p->shared.proxy_timeout_ms;
		interval = p->shared.check_interval_ms;
		snprintf(db, sizeof(db), "%s", p->shared.master_db);
		snprintf(addr, sizeof(addr), "%s", p->shared.master_http);
		/* only while the proxy routes to that very DB */
		if (strcmp(p->shared.latest.rw.db_uid, db) != 0)
			db[0] = '\0';
		pthread_mutex_unlock(&p->shared.mutex);

		/* the store has not been read for a check interval: ask the master directly */
		if (mode && db[0] && addr[0] && last > 0 && sent - last > interval)
		{
			if (confirmer_ask(addr, db, &confirmed, why, sizeof(why)))
			{
				watcher_stamp_fresh(p, sent + (confirmed < timeout ? confirmed : timeout) - timeout);
				if (!confirming)
					log_warn("the store cannot be read: routing to db %s while its keeper confirms it is master "
							 "(failsafe)", db);
				confirming = true;
				last_why[0] = '\0';
			}
			else if (confirming || strcmp(why, last_why) != 0)
			{
				log_error("the store cannot be read and the master is not confirmed: %s", why);
				confirming = false;
				snprintf(last_why, sizeof(last_why), "%s", why);
			}
		}
		else if (confirming)
		{
			log_info("the store is read again: failsafe routing ended");
			confirming = false;
		}
		pthread_mutex_lock(&p->shared.mutex);
		proxy_timed_wait_locked(p, &p->shared.publish_cond, NULL, interval / 4 > 50 ? interval / 4 : 50);
		pthread_mutex_unlock(&p->shared.mutex);
	}
	return NULL;
}

/* ---- the watcher ---- */

static void *
watcher_main(void *arg)
{
	Watcher		w;
	ProxyDaemon	   *p = arg;

	memset(&w, 0, sizeof(w));
	w.p = p;
	store_options_key(&p->store_opts, "clusterdata", w.data_key, sizeof(w.data_key));

	while (!atomic_load(&p->stopping))
	{
		int64_t		rev = 0;
		int64_t		interval;
		bool		read_ok = watcher_read(&w, &rev);
		StoreError	serr;

		pthread_mutex_lock(&p->shared.mutex);
		interval = p->shared.check_interval_ms;
		pthread_mutex_unlock(&p->shared.mutex);

		/* wait for a change (the watch) or the next safety-net read */
		if (read_ok && w.watch == NULL &&
			!store_watch_new(p->store, w.data_key, rev + 1, 0, &w.watch, &serr))
			w.watch = NULL;
		if (w.watch)
		{
			StoreEvent *events = NULL;
			size_t		n = 0;

			if (!store_watch_next(w.watch, (int) interval, &events, &n, &serr))
			{
				store_watch_free(w.watch);
				w.watch = NULL;
			}
			else
				store_events_free(events, n);
		}
		else
		{
			for (int64_t slept = 0; slept < interval && !atomic_load(&p->stopping); slept += 50)
				usleep(50 * 1000);
		}
	}
	store_watch_free(w.watch);
	return NULL;
}

bool
watcher_start(ProxyDaemon *p, char *err, size_t errlen)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->shared.publish_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (!store_options_open(&p->store_opts, &p->report_store, err, errlen))
		return false;
	if (pthread_create(&p->watcher, NULL, watcher_main, p) != 0 ||
		pthread_create(&p->publisher, NULL, publisher_main, p) != 0 ||
		pthread_create(&p->confirmer, NULL, confirmer_main, p) != 0)
	{
		snprintf(err, errlen, "could not start the store threads");
		return false;
	}
	return true;
}

void
watcher_stop(ProxyDaemon *p)
{
	atomic_store(&p->stopping, true);
	pthread_mutex_lock(&p->shared.mutex);
	pthread_cond_broadcast(&p->shared.applied_cond);
	pthread_cond_broadcast(&p->shared.publish_cond);
	pthread_mutex_unlock(&p->shared.mutex);
	pthread_join(p->watcher, NULL);
	pthread_join(p->publisher, NULL);
	pthread_join(p->confirmer, NULL);
	store_free(p->report_store);
	p->report_store = NULL;
}
