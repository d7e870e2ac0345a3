/*
 * src/proxy/watcher.c
 *    The proxy's store side, on a thread of its own: reads the cluster data at once when its watch reports a
 *    change and every proxyCheckInterval as a safety net, turns it into a route table (routing.c), hands
 *    that to every forwarding worker, waits (briefly) until all of them have applied it, and then publishes
 *    the proxy's report acknowledging that generation (the sentinel's fencing handshake, DESIGN.md I3). Every
 *    successful read stamps last_read_ok_ms, which each worker's watchdog checks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster_json.h"
#include "duration.h"
#include "log.h"
#include "proxy.h"
#include "uid.h"
#include "timestamp.h"

#define WATCHER_APPLY_WAIT_MS 500

typedef struct Watcher
{
	ProxyDaemon	   *p;
	char		data_key[512];
	char		report_key[512];
	StoreWatch *watch;
	int64_t		lease;
	int64_t		lease_ttl_s;
	int64_t		last_publish_ms;
	RouteTable	posted;			/* what was last handed to the loop */
	bool		have_posted;
	bool		read_failing;	/* for logging once per state change */
	bool		data_invalid;
	bool		publish_failing;
	bool		logged_hold;	/* the hold timeout in force has been logged */
	char		last_invalid[512];
} Watcher;

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

	pthread_mutex_lock(&p->shared.mutex);
	p->shared.proxy_timeout_ms = spec->proxy_timeout_ms;
	p->shared.check_interval_ms = spec->proxy_check_interval_ms;
	old = p->shared.hold_timeout_ms;
	p->shared.hold_timeout_ms = hold;
	pthread_mutex_unlock(&p->shared.mutex);
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
	atomic_store(&p->last_read_ok_ms, timestamp_monotonic_ms());

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
		w->last_publish_ms = 0;	/* acknowledge the new generation now */
	}
	return true;
}

/* watcher_publish: the proxy's report on its lease, acknowledging the applied generation. */
static void
watcher_publish(Watcher *w)
{
	ProxyDaemon	   *p = w->p;
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
	if (w->lease != 0 && ttl != w->lease_ttl_s)
	{
		if (!store_lease_revoke(p->store, w->lease, &serr))
			log_debug("could not revoke the old lease: %s", serr.message);
		w->lease = 0;
	}
	if (w->lease != 0 && !store_lease_keepalive(p->store, w->lease, NULL, &serr))
		w->lease = 0;
	if (w->lease == 0)
	{
		if (!store_lease_grant(p->store, ttl, &w->lease, NULL, &serr))
		{
			if (!w->publish_failing)
				log_warn("could not publish the proxy report: %s", serr.message);
			w->publish_failing = true;
			w->lease = 0;
			return;
		}
		w->lease_ttl_s = ttl;
	}
	text = proxy_info_encode(&pi);
	if (text == NULL)
		return;
	if (!store_put(p->store, w->report_key, text, strlen(text), w->lease, NULL, &serr))
	{
		if (!w->publish_failing)
			log_warn("could not publish the proxy report: %s", serr.message);
		w->publish_failing = true;
	}
	else
	{
		if (w->publish_failing)
			log_info("proxy report published again");
		w->publish_failing = false;
		w->last_publish_ms = timestamp_monotonic_ms();
	}
	free(text);
}

static void *
watcher_main(void *arg)
{
	Watcher		w;
	ProxyDaemon	   *p = arg;

	memset(&w, 0, sizeof(w));
	w.p = p;
	store_options_key(&p->store_opts, "clusterdata", w.data_key, sizeof(w.data_key));
	{
		char		rel[128];

		snprintf(rel, sizeof(rel), "proxies/%s", p->uid);
		store_options_key(&p->store_opts, rel, w.report_key, sizeof(w.report_key));
	}

	while (!atomic_load(&p->stopping))
	{
		int64_t		rev = 0;
		int64_t		interval;
		bool		read_ok = watcher_read(&w, &rev);
		StoreError	serr;

		pthread_mutex_lock(&p->shared.mutex);
		interval = p->shared.check_interval_ms;
		pthread_mutex_unlock(&p->shared.mutex);

		if (timestamp_monotonic_ms() - w.last_publish_ms >= interval)
			watcher_publish(&w);

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
	if (w.lease != 0)
	{
		StoreError	serr;

		/* the report goes with the lease: the sentinel need not wait for it to expire */
		if (!store_lease_revoke(p->store, w.lease, &serr))
			log_debug("could not revoke the report's lease: %s", serr.message);
	}
	return NULL;
}

bool
watcher_start(ProxyDaemon *p, char *err, size_t errlen)
{
	if (pthread_create(&p->watcher, NULL, watcher_main, p) != 0)
	{
		snprintf(err, errlen, "could not start the store watcher thread");
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
	pthread_mutex_unlock(&p->shared.mutex);
	pthread_join(p->watcher, NULL);
}
