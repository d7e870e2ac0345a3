/*
 * src/sentinel/main.c
 *    bulwark-sentinel: the one writer of decisions (docs/design.md section 2). Every sentinel keeps a lease, publishes its
 *    SentinelInfo and competes for the leader key; the leader reads the cluster data and every keeper and proxy
 *    report each round, runs the pure planner, and writes the result as a compare-and-swap on the cluster data's
 *    mod_revision (a conflict makes the round a no-op), then appends the round's decisions to history/.
 *
 * Rounds run every sleepInterval of the spec and also soon after a keeper or proxy report changes (a watch on
 * the cluster's prefix), at most one every EVENT_ROUND_GAP_MS, so that a finished promotion or a proxy's
 * acknowledgement is acted on in milliseconds rather than at the next tick. One thread does the store I/O and
 * the planning; the HTTP thread only reads counters under the lock.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "store_watch.h"
#include "cluster_json.h"
#include "exitcode.h"
#include "http_server.h"
#include "log.h"
#include "sentinel/sentinel.h"
#include "timestamp.h"

/* The least time between two rounds started by watch events (reports arrive every sleepInterval per keeper). */
#define EVENT_ROUND_GAP_MS 200

/* Reports larger than this many per kind are ignored beyond it (a sane bound on keepers and proxies). */
#define MAX_REPORTS 1024

static volatile sig_atomic_t sentinel_stop_requested = 0;

static void
sentinel_handle_signal(int sig)
{
	(void) sig;
	sentinel_stop_requested = 1;
}

static uint32_t
sentinel_random(void *ctx)
{
	uint32_t	v = 0;

	(void) ctx;
	while (getrandom(&v, sizeof(v), 0) != (ssize_t) sizeof(v))
	{
		if (errno != EINTR)
		{
			/* never expected on Linux >= 3.17; fall back to a time-seeded value rather than stop deciding */
			v = (uint32_t) sentinel_now_ms() * 2654435761u;
			break;
		}
	}
	return v;
}

static void
sentinel_http_handler(void *ctx, const HttpRequest *req, HttpResponse *resp)
{
	Sentinel   *s = ctx;
	bool		healthy;
	bool		leader;
	int64_t		rounds, writes, conflicts, elections, last_ok;
	bool		ok;

	pthread_mutex_lock(&s->lock);
	healthy = s->healthy;
	leader = s->is_leader;
	rounds = s->rounds;
	writes = s->writes;
	conflicts = s->conflicts;
	elections = s->elections;
	last_ok = s->last_round_ok_wall_ms;
	pthread_mutex_unlock(&s->lock);

	if (strcmp(req->path, "/health") == 0)
	{
		resp->status = healthy ? 200 : 503;
		ok = buf_printf(&resp->body, "%s leader=%s\n", healthy ? "ok" : "store unreachable", leader ? "true" : "false");
	}
	else if (strcmp(req->path, "/metrics") == 0)
	{
		resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
		ok = buf_printf(&resp->body,
						"# HELP bulwark_sentinel_is_leader 1 while this sentinel is the leader.\n"
						"# TYPE bulwark_sentinel_is_leader gauge\nbulwark_sentinel_is_leader %d\n"
						"# HELP bulwark_sentinel_rounds_total Rounds run.\n"
						"# TYPE bulwark_sentinel_rounds_total counter\nbulwark_sentinel_rounds_total %lld\n"
						"# HELP bulwark_sentinel_writes_total Cluster data writes that succeeded.\n"
						"# TYPE bulwark_sentinel_writes_total counter\nbulwark_sentinel_writes_total %lld\n"
						"# HELP bulwark_sentinel_conflicts_total Cluster data writes that lost a compare-and-swap.\n"
						"# TYPE bulwark_sentinel_conflicts_total counter\nbulwark_sentinel_conflicts_total %lld\n"
						"# HELP bulwark_sentinel_leader_elections_total Times this sentinel became leader.\n"
						"# TYPE bulwark_sentinel_leader_elections_total counter\n"
						"bulwark_sentinel_leader_elections_total %lld\n"
						"# HELP bulwark_sentinel_last_round_success_seconds Wall time of the last round that reached the store.\n"
						"# TYPE bulwark_sentinel_last_round_success_seconds gauge\n"
						"bulwark_sentinel_last_round_success_seconds %.3f\n",
						leader ? 1 : 0, (long long) rounds, (long long) writes, (long long) conflicts,
						(long long) elections, (double) last_ok / 1000.0);
	}
	else
	{
		resp->status = 404;
		ok = buf_append_str(&resp->body, "not found\n");
	}
	if (!ok)
		resp->status = 500;
}

/* Creates the cluster data from --initial-cluster-spec when absent (create-only: another writer may win). */
static void
sentinel_create_cluster(Sentinel *s, const char *spec_path)
{
	json_error_t jerr;
	json_t	   *spec = json_load_file(spec_path, JSON_REJECT_DUPLICATES, &jerr);
	ClusterData cd;
	char		err[512];
	char	   *text;
	StoreError	serr = {0};

	if (spec == NULL)
	{
		log_error("could not read the initial cluster spec \"%s\": %s (line %d)", spec_path, jerr.text, jerr.line);
		return;
	}
	if (!cluster_data_new_for_init(spec, &cd, err, sizeof(err)))
	{
		json_decref(spec);
		log_error("initial cluster spec \"%s\": %s", spec_path, err);
		return;
	}
	json_decref(spec);
	text = cluster_data_encode(&cd, false);
	if (text != NULL && store_create(s->store, s->key_clusterdata, text, strlen(text), 0, NULL, NULL, &serr))
		log_info("cluster data created from the initial cluster spec file=%s cluster_uid=%s", spec_path,
				 cd.cluster.uid);
	else if (text != NULL && serr.kind != STORE_ERR_COMPARE_FAILED)
		log_warn("could not create the cluster data: %s", serr.message);
	free(text);
	cluster_data_finish(&cd);
}

/* Reads and decodes every report under rel ("keepers/" or "proxies/"). *out: caller frees (see callers). */
static bool
sentinel_read_reports(Sentinel *s, const char *rel, bool keepers, KeeperInfo **kout, ProxyInfo **pout, size_t *n)
{
	char		prefix[600];
	StoreKVList list;
	StoreError	err = {0};
	char		derr[256];

	store_options_key(&s->store_opts, rel, prefix, sizeof(prefix));
	memset(&list, 0, sizeof(list));
	*n = 0;
	if (!store_list(s->store, prefix, &list, &err))
	{
		log_warn("could not list the reports: %s prefix=%s", err.message, prefix);
		return false;
	}
	if (keepers)
		*kout = calloc(list.n + 1, sizeof(**kout));
	else
		*pout = calloc(list.n + 1, sizeof(**pout));
	if ((keepers && *kout == NULL) || (!keepers && *pout == NULL))
	{
		store_kv_list_finish(&list);
		return false;
	}
	for (size_t i = 0; i < list.n && *n < MAX_REPORTS; i++)
	{
		const StoreKV *kv = &list.kvs[i];

		if (keepers)
		{
			if (keeper_info_decode(kv->value, kv->value_len, &(*kout)[*n], derr, sizeof(derr)))
				(*n)++;
			else
				log_debug("ignoring a keeper report that does not decode: %s key=%s", derr, kv->key);
		}
		else
		{
			if (proxy_info_decode(kv->value, kv->value_len, &(*pout)[*n], derr, sizeof(derr)))
				(*n)++;
			else
				log_debug("ignoring a proxy report that does not decode: %s key=%s", derr, kv->key);
		}
	}
	store_kv_list_finish(&list);
	return true;
}

/* The leader's part of a round: plan and write. */
static void
sentinel_lead(Sentinel *s, const ClusterData *cd, int64_t mod_revision)
{
	KeeperInfo *kinfos = NULL;
	ProxyInfo  *pinfos = NULL;
	size_t		nk = 0;
	size_t		np = 0;
	PlannerInput in;
	PlannerOutput out;
	int64_t		wall = timestamp_now_ms();

	if (!sentinel_read_reports(s, "keepers/", true, &kinfos, NULL, &nk) ||
		!sentinel_read_reports(s, "proxies/", false, NULL, &pinfos, &np))
		goto done;
	/*
	 * A leader that could not read the store for a while (while still renewing its lease) has not watched the
	 * reports: judging them now would count its own blindness as their silence and fail over healthy keepers.
	 * It observes afresh, as a new leader does, for a whole failInterval.
	 */
	{
		int64_t		now = sentinel_now_ms();

		if (s->last_planned_ms != 0 && now - s->last_planned_ms > cd->cluster.spec.fail_interval_ms / 2)
		{
			log_warn("no round for %lld ms (the store could not be read): observing afresh for failInterval before "
					 "any failover", (long long) (now - s->last_planned_ms));
			planner_memory_reset(&s->memory, now);
		}
		s->last_planned_ms = now;
	}
	memset(&in, 0, sizeof(in));
	in.cd = cd;
	in.keeper_infos = kinfos;
	in.keeper_info_count = nk;
	in.proxy_infos = pinfos;
	in.proxy_info_count = np;
	in.now_ms = sentinel_now_ms();
	in.wall_ms = wall;
	in.random = sentinel_random;
	in.random_ctx = NULL;
	if (!planner_run(&in, &s->memory, &out))
	{
		planner_output_finish(&out);
		goto done;
	}
	if (out.changed)
	{
		char	   *text = cluster_data_encode(&out.cd, false);
		StoreError	err = {0};

		/*
		 * Leadership is checked again right before the write (reading the reports took time), and the write
		 * itself only happens while the leader key is still bound to our lease, so a sentinel that lost the
		 * leadership without noticing (a pause longer than its lease) cannot overwrite its successor's decisions.
		 */
		if (text == NULL || !election_leader_valid(s, sentinel_now_ms()))
			;
		else if (store_cas_guarded(s->store, s->key_clusterdata, text, strlen(text), mod_revision, s->key_leader,
								   s->lease_id, NULL, NULL, &err))
		{
			pthread_mutex_lock(&s->lock);
			s->writes++;
			pthread_mutex_unlock(&s->lock);
			history_append(s, out.events, out.event_count, wall);
		}
		else if (err.kind == STORE_ERR_GUARD_LOST || err.kind == STORE_ERR_COMPARE_FAILED)
		{
			if (err.kind == STORE_ERR_GUARD_LOST)
				log_warn("no longer the leader, decisions of this round dropped: %s", err.message);
			else
				log_debug("round dropped: %s", err.message);
			pthread_mutex_lock(&s->lock);
			s->conflicts++;
			pthread_mutex_unlock(&s->lock);
		}
		else
			log_warn("could not write the cluster data: %s", err.message);
		free(text);
	}
	else
		history_append(s, out.events, out.event_count, wall);
	planner_output_finish(&out);
done:
	for (size_t i = 0; i < nk; i++)
		keeper_info_finish(&kinfos[i]);
	free(kinfos);
	free(pinfos);
}

/* One round; returns the sleep interval to use until the next one. */
static int64_t
sentinel_round(Sentinel *s, const char *initial_spec)
{
	StoreKV		kv;
	StoreError	err = {0};
	bool		found = false;
	int64_t		revision = 0;
	ClusterData cd;
	char		derr[512];
	int64_t		sleep_ms = 1000;

	memset(&kv, 0, sizeof(kv));
	if (!store_get(s->store, s->key_clusterdata, &kv, &found, &revision, &err))
	{
		log_warn("could not read the cluster data: %s key=%s", err.message, s->key_clusterdata);
		pthread_mutex_lock(&s->lock);
		s->healthy = false;
		pthread_mutex_unlock(&s->lock);
		if (s->is_leader && !election_leader_valid(s, sentinel_now_ms()))
			s->is_leader = false;
		return sleep_ms;
	}
	pthread_mutex_lock(&s->lock);
	s->healthy = true;
	s->rounds++;
	s->last_round_ok_wall_ms = timestamp_now_ms();
	pthread_mutex_unlock(&s->lock);
	if (!found)
	{
		if (initial_spec[0] != '\0')
			sentinel_create_cluster(s, initial_spec);
		else if (s->logged_revision != 0)
			log_info("no cluster data yet: waiting for bulwarkctl init key=%s", s->key_clusterdata);
		s->logged_revision = 0;
		(void) election_step(s, sleep_ms);
		return sleep_ms;
	}
	if (!cluster_data_decode(kv.value, kv.value_len, &cd, derr, sizeof(derr)))
	{
		/* Nothing is decided on a document this release cannot read (docs/design.md section 4). */
		if (s->logged_revision != kv.mod_revision)
			log_error("cluster data does not decode, not acting on it: %s revision=%lld", derr,
					  (long long) kv.mod_revision);
		s->logged_revision = kv.mod_revision;
		store_kv_finish(&kv);
		(void) election_step(s, sleep_ms);
		return sleep_ms;
	}
	sleep_ms = cd.cluster.spec.sleep_interval_ms;
	if (election_step(s, sleep_ms) && election_leader_valid(s, sentinel_now_ms()))
		sentinel_lead(s, &cd, kv.mod_revision);
	cluster_data_finish(&cd);
	store_kv_finish(&kv);
	return sleep_ms;
}

/* Waits up to ms for a report change (true) or the timeout (false), without busy looping on store errors. */
static bool
sentinel_wait(Sentinel *s, StoreWatch **watch, const char *prefix, int64_t ms)
{
	StoreEvent *events = NULL;
	size_t		n = 0;
	StoreError	err = {0};
	bool		relevant = false;

	if (ms <= 0)
		return false;
	if (*watch == NULL && !store_watch_new(s->store, prefix, 0, 0, watch, &err))
	{
		*watch = NULL;
		log_debug("could not watch the cluster: %s", err.message);
	}
	if (*watch == NULL)
	{
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

		nanosleep(&ts, NULL);
		return false;
	}
	if (!store_watch_next(*watch, (int) ms, &events, &n, &err))
	{
		log_debug("cluster watch failed, starting over: %s", err.message);
		store_watch_free(*watch);
		*watch = NULL;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (strstr(events[i].kv.key, "/keepers/") != NULL || strstr(events[i].kv.key, "/proxies/") != NULL)
			relevant = true;
	store_events_free(events, n);
	return relevant;
}

static bool
sentinel_validate(Sentinel *s, const char *uid, char *err, size_t errlen)
{
	if (!store_options_validate(&s->store_opts, err, errlen))
		return false;
	if (uid[0] == '\0')
	{
		if (!uid_generate(s->uid, sizeof(s->uid)))
		{
			snprintf(err, errlen, "could not generate a sentinel uid");
			return false;
		}
	}
	else if (!uid_is_valid(uid))
	{
		snprintf(err, errlen, "--uid: \"%s\" must match ^[a-z0-9_]+$ (at most 63 characters)", uid);
		return false;
	}
	else
		snprintf(s->uid, sizeof(s->uid), "%s", uid);
	return true;
}

int
main(int argc, char **argv)
{
	static Sentinel sentinel;
	Sentinel   *s = &sentinel;
	const char *uid = "";
	const char *initial_spec = "";
	const char *http_listen = "";
	HttpServer *http = NULL;
	StoreWatch *watch = NULL;
	char		prefix[600];
	int			optind_ = 1;
	bool		help = false;
	char		err[512];
	struct sigaction sa;
	int64_t		next_round = 0;
	int64_t		last_round = 0;

	log_set_program("bulwark-sentinel");
	store_options_init(&s->store_opts);
	{
		OptDef		table[] = {
			{"uid", 0, OPT_TYPE_STRING, &uid, "UID", "sentinel uid (default: random on every start)"},
			{"initial-cluster-spec", 0, OPT_TYPE_STRING, &initial_spec, "FILE",
			"create the cluster data from this spec (JSON) when there is none"},
			{"http-listen-address", 0, OPT_TYPE_STRING, &http_listen, "HOST:PORT",
			"serve /health and /metrics here (empty = off)"},
			OPT_END,
		};
		const OptDef *tables[] = {s->store_opts.table, table, NULL};

		if (!opts_parse(argc, argv, &optind_, tables, false, NULL, 0, NULL, &help, err, sizeof(err)))
		{
			fprintf(stderr, "bulwark-sentinel: %s (see bulwark-sentinel --help)\n", err);
			return EXIT_CODE_BAD_ARGS;
		}
		if (help)
		{
			printf("bulwark-sentinel: elect a leader and decide the cluster's master, standbys and routing\n\n"
				   "Usage: bulwark-sentinel [flags]\n\nFlags:\n");
			opts_print_help(tables);
			return EXIT_CODE_OK;
		}
	}
	if (!store_options_apply_log_level(&s->store_opts, err, sizeof(err)) ||
		!sentinel_validate(s, uid, err, sizeof(err)))
	{
		fprintf(stderr, "bulwark-sentinel: %s\n", err);
		return EXIT_CODE_BAD_ARGS;
	}
	store_options_key(&s->store_opts, "leader", s->key_leader, sizeof(s->key_leader));
	store_options_key(&s->store_opts, "clusterdata", s->key_clusterdata, sizeof(s->key_clusterdata));
	store_options_key(&s->store_opts, "history/", s->key_history, sizeof(s->key_history));
	{
		char		rel[UID_SIZE + 16];

		snprintf(rel, sizeof(rel), "sentinels/%.63s", s->uid);
		store_options_key(&s->store_opts, rel, s->key_info, sizeof(s->key_info));
	}
	store_options_key(&s->store_opts, "", prefix, sizeof(prefix));
	pthread_mutex_init(&s->lock, NULL);
	s->logged_revision = -1;
	planner_memory_init(&s->memory, sentinel_now_ms());

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		log_fatal("could not initialize libcurl");
		return EXIT_CODE_INTERNAL;
	}
	if (!store_options_open(&s->store_opts, &s->store, err, sizeof(err)))
	{
		log_fatal("%s", err);
		return EXIT_CODE_BAD_ARGS;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sentinel_handle_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (http_listen[0] != '\0' &&
		!http_server_start(http_listen, sentinel_http_handler, s, &http, err, sizeof(err)))
	{
		log_fatal("%s", err);
		return EXIT_CODE_BAD_ARGS;
	}
	log_info("sentinel started uid=%s cluster=%s", s->uid, s->store_opts.cluster_name);

	while (!sentinel_stop_requested)
	{
		int64_t		now = sentinel_now_ms();
		bool		early;

		if (now >= next_round)
		{
			int64_t		sleep_ms = sentinel_round(s, initial_spec);

			last_round = now;
			next_round = now + sleep_ms;
			continue;
		}
		/* Watch events wake us; a report change brings the round forward, no closer than the gap. */
		early = sentinel_wait(s, &watch, prefix, next_round - now < 500 ? next_round - now : 500);
		if (early && next_round > last_round + EVENT_ROUND_GAP_MS)
			next_round = last_round + EVENT_ROUND_GAP_MS;
	}

	log_info("stopping uid=%s", s->uid);
	election_resign(s);
	store_watch_free(watch);
	http_server_stop(http);
	planner_memory_finish(&s->memory);
	store_free(s->store);
	curl_global_cleanup();
	return EXIT_CODE_OK;
}
