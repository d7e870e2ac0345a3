/*
 * src/keeper/keeper_http.c
 *    The keeper's HTTP endpoints, served by http_server.c on its own thread from a snapshot the main loop
 *    refreshes after every pass (under the mutex):
 *      /health      200 while the keeper loop runs: a pass finished within 3 sleep intervals + 10 s, or the loop
 *                   is inside one long step (a base backup, a rewind) whose program still makes progress
 *                   (keeper_children.c); else 503. The liveness probe of the Helm chart uses it, so a keeper
 *                   busy in an hour-long pg_basebackup is not restarted while a stuck one is.
 *      /metrics     Prometheus text
 *      /primary     200 when PostgreSQL runs as a healthy primary and the cluster data says this DB is master
 *      /replica     200 when PostgreSQL runs healthy in recovery; ?lag=<bytes>: 503 when further behind the
 *                   master's last known xLogPos in the cluster data
 *      /read-only   200 for a healthy primary or replica
 *      /failsafe    GET: 200 {"masterDb","confirmedMs"} while this keeper's master role is confirmed (by the store
 *                   or the failsafe), 503 otherwise: what a proxy that cannot read the store asks the master.
 *                   POST ?cluster=&master=&keeper=&want=: a master's request for a promise not to be promoted
 *                   (fence.c): 200 {"grantedMs"} or 409 {"reason"}
 *    Like Patroni's, every other answer is 503, so HAProxy checks and Kubernetes probes use them unchanged.
 *    /primary is also 503 as soon as the master role is no longer confirmed (src/common/fencing.h), even before
 *    the watchdog has stopped PostgreSQL: a client picking the primary by this check never picks a deposed one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "keeper/keeper.h"
#include "keeper/keeper_children.h"
#include "log.h"
#include "timestamp.h"

void
keeper_snapshot_update(KeeperDaemon *k)
{
	KeeperSnapshot s;
	const Db   *master = k->has_cd ? cluster_data_master_db(&k->cd) : NULL;

	pthread_mutex_lock(&k->lock);
	s = k->snap;
	pthread_mutex_unlock(&k->lock);

	s.pg_running = k->pg_running;
	s.pg_healthy = k->pg_healthy;
	s.in_recovery = k->pgstatus.in_recovery;
	s.xlog_pos = k->pgstatus.xlog_pos;
	s.timeline_id = k->pgstatus.timeline_id;
	s.cd_says_master = master != NULL && k->dbstate.uid[0] && strcmp(master->uid, k->dbstate.uid) == 0;
	s.has_master_xlog_pos = master != NULL && master->status.xlog_pos > 0;
	s.master_xlog_pos = master ? master->status.xlog_pos : 0;
	s.sleep_interval_ms = keeper_sleep_interval_ms(k);
	s.generation = k->dbstate.generation;
	s.state = k->state;
	snprintf(s.db_uid, sizeof(s.db_uid), "%s", k->dbstate.uid);
	s.last_pass_ms = timestamp_now_ms();

	pthread_mutex_lock(&k->lock);
	s.last_store_read_ms = k->snap.last_store_read_ms;
	s.last_converged_ms = k->snap.last_converged_ms;
	k->snap = s;
	pthread_mutex_unlock(&k->lock);
}

static void
keeper_http_text(HttpResponse *resp, int status, const char *text)
{
	resp->status = status;
	if (!buf_append_str(&resp->body, text))
		resp->status = 500;
}

static void
keeper_http_metrics(const KeeperSnapshot *s, HttpResponse *resp)
{
	int64_t		now = timestamp_now_ms();
	double		lag = 0;
	bool		ok;

	if (s->in_recovery && s->has_master_xlog_pos && s->master_xlog_pos > s->xlog_pos)
		lag = (double) (s->master_xlog_pos - s->xlog_pos);
	ok = buf_printf(&resp->body,
					"# HELP bulwark_keeper_postgres_running 1 when the local PostgreSQL runs\n"
					"# TYPE bulwark_keeper_postgres_running gauge\n"
					"bulwark_keeper_postgres_running %d\n"
					"# HELP bulwark_keeper_postgres_healthy 1 when the local PostgreSQL answers the keeper's queries\n"
					"# TYPE bulwark_keeper_postgres_healthy gauge\n"
					"bulwark_keeper_postgres_healthy %d\n"
					"# HELP bulwark_keeper_local_role 1 for the role PostgreSQL runs as\n"
					"# TYPE bulwark_keeper_local_role gauge\n"
					"bulwark_keeper_local_role{role=\"primary\"} %d\n"
					"bulwark_keeper_local_role{role=\"replica\"} %d\n"
					"# HELP bulwark_keeper_target_master 1 when the cluster data makes this DB the master\n"
					"# TYPE bulwark_keeper_target_master gauge\n"
					"bulwark_keeper_target_master %d\n"
					"# HELP bulwark_keeper_timeline_id the current timeline\n"
					"# TYPE bulwark_keeper_timeline_id gauge\n"
					"bulwark_keeper_timeline_id %u\n"
					"# HELP bulwark_keeper_xlog_pos_bytes current LSN (primary) or last replayed LSN (replica)\n"
					"# TYPE bulwark_keeper_xlog_pos_bytes gauge\n"
					"bulwark_keeper_xlog_pos_bytes %" PRIu64 "\n"
					"# HELP bulwark_keeper_replication_lag_bytes how far a replica is behind the master's last known LSN\n"
					"# TYPE bulwark_keeper_replication_lag_bytes gauge\n"
					"bulwark_keeper_replication_lag_bytes %.0f\n"
					"# HELP bulwark_keeper_last_store_read_seconds seconds since the last successful cluster data read\n"
					"# TYPE bulwark_keeper_last_store_read_seconds gauge\n"
					"bulwark_keeper_last_store_read_seconds %.3f\n"
					"# HELP bulwark_keeper_last_converged_seconds seconds since the last fully successful pass\n"
					"# TYPE bulwark_keeper_last_converged_seconds gauge\n"
					"bulwark_keeper_last_converged_seconds %.3f\n"
					"# HELP bulwark_keeper_generation the DB generation the keeper has converged to\n"
					"# TYPE bulwark_keeper_generation gauge\n"
					"bulwark_keeper_generation %lld\n"
					"# HELP bulwark_keeper_state 1 for the convergence state the keeper is in\n"
					"# TYPE bulwark_keeper_state gauge\n"
					"bulwark_keeper_state{state=\"%s\"} 1\n",
					s->pg_running, s->pg_healthy, s->pg_running && !s->in_recovery,
					s->pg_running && s->in_recovery, s->cd_says_master, (unsigned) s->timeline_id, s->xlog_pos,
					lag,
					s->last_store_read_ms ? (double) (now - s->last_store_read_ms) / 1000.0 : -1.0,
					s->last_converged_ms ? (double) (now - s->last_converged_ms) / 1000.0 : -1.0,
					(long long) s->generation, keeper_state_to_string(s->state));
	resp->status = ok ? 200 : 500;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* The progress of the keeper's child programs between two /health requests (k->child_progress, under lock). */
static bool
keeper_health_child_progressing(KeeperDaemon *k, const ChildActivity *child, int64_t now, int64_t window_ms)
{
	bool		moving;

	pthread_mutex_lock(&k->lock);
	moving = keeper_children_progressing(&k->child_progress, child, now, window_ms);
	pthread_mutex_unlock(&k->lock);
	return moving;
}

/* POST /failsafe: a master asks for a promise; GET /failsafe: is this keeper's master role confirmed. */
static void
keeper_http_failsafe(KeeperDaemon *k, const KeeperSnapshot *s, const HttpRequest *req, HttpResponse *resp)
{
	if (strcmp(req->method, "POST") == 0)
	{
		char		cluster[UID_SIZE] = "",
					master[UID_SIZE] = "",
					keeper[UID_SIZE] = "",
					want[32] = "";
		char	   *end = NULL;
		FailsafeRequest fr;
		int64_t		granted;
		const char *reason;

		if (!http_query_get(req->query, "cluster", cluster, sizeof(cluster)) ||
			!http_query_get(req->query, "master", master, sizeof(master)) ||
			!http_query_get(req->query, "keeper", keeper, sizeof(keeper)) ||
			!http_query_get(req->query, "want", want, sizeof(want)))
		{
			keeper_http_text(resp, 400, "{\"reason\":\"cluster, master, keeper and want are required\"}\n");
			return;
		}
		fr.cluster_uid = cluster;
		fr.master_db = master;
		fr.master_keeper = keeper;
		fr.want_ms = strtoll(want, &end, 10);
		if (end == want || *end != '\0')
		{
			keeper_http_text(resp, 400, "{\"reason\":\"want: a number of milliseconds\"}\n");
			return;
		}
		resp->content_type = "application/json";
		if (keeper_fence_answer(k, &fr, &granted, &reason))
		{
			resp->status = buf_printf(&resp->body, "{\"grantedMs\":%lld}\n", (long long) granted) ? 200 : 500;
			log_debug("failsafe: promised master db %s not to be promoted for %lld ms", master, (long long) granted);
		}
		else
		{
			resp->status = buf_printf(&resp->body, "{\"reason\":\"%s\"}\n", reason) ? 409 : 500;
			log_debug("failsafe: refused master db %s on keeper %s: %s", master, keeper, reason);
		}
		return;
	}
	{
		int64_t		late;
		bool		ok = s->pg_running && !s->in_recovery && s->cd_says_master && keeper_fence_master_allowed(k, &late);
		int64_t		left = keeper_fence_confirmed_until(k) - timestamp_monotonic_ms();

		resp->content_type = "application/json";
		if (ok && left > 0)
			resp->status = buf_printf(&resp->body, "{\"masterDb\":\"%s\",\"confirmedMs\":%lld}\n", s->db_uid,
									  (long long) left) ? 200 : 500;
		else
			resp->status = buf_append_str(&resp->body, "{\"reason\":\"not a confirmed master\"}\n") ? 503 : 500;
	}
}

static void
keeper_http_handle(void *ctx, const HttpRequest *req, HttpResponse *resp)
{
	KeeperDaemon *k = ctx;
	KeeperSnapshot s;
	bool		primary,
				replica;
	char		lagtext[32];

	pthread_mutex_lock(&k->lock);
	s = k->snap;
	pthread_mutex_unlock(&k->lock);
	primary = s.pg_running && s.pg_healthy && !s.in_recovery;
	replica = s.pg_running && s.pg_healthy && s.in_recovery;

	if (strcmp(req->path, "/failsafe") == 0 && (strcmp(req->method, "POST") == 0 || strcmp(req->method, "GET") == 0))
	{
		keeper_http_failsafe(k, &s, req, resp);
		return;
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 && strcmp(req->method, "OPTIONS") != 0)
	{
		keeper_http_text(resp, 405, "method not allowed\n");
		return;
	}
	if (strcmp(req->path, "/health") == 0)
	{
		int64_t		now = timestamp_now_ms();
		int64_t		limit = 3 * s.sleep_interval_ms + 10000;
		bool		alive = s.last_pass_ms > 0 && now - s.last_pass_ms < limit;
		ChildActivity child;
		char		text[128];

		if (alive)
			keeper_http_text(resp, 200, "ok\n");
		else if (s.last_pass_ms > 0 && keeper_children_scan("/proc", getpid(), &child) &&
				 keeper_health_child_progressing(k, &child, now, limit))
		{
			/* no pass for a while, but the loop is in one long step and its program moves: alive */
			snprintf(text, sizeof(text), "ok: busy in %s (pid %d) for %" PRId64 " s\n", child.name,
					 (int) child.pid, (now - s.last_pass_ms) / 1000);
			keeper_http_text(resp, 200, text);
		}
		else
			keeper_http_text(resp, 503, "keeper loop stalled\n");
	}
	else if (strcmp(req->path, "/metrics") == 0)
		keeper_http_metrics(&s, resp);
	else if (strcmp(req->path, "/primary") == 0 || strcmp(req->path, "/master") == 0 ||
			 strcmp(req->path, "/read-write") == 0)
	{
		int64_t		late;
		bool		yes = primary && s.cd_says_master && keeper_fence_master_allowed(k, &late);

		keeper_http_text(resp, yes ? 200 : 503, yes ? "primary\n" : "not the primary\n");
	}
	else if (strcmp(req->path, "/replica") == 0)
	{
		bool		yes = replica;

		if (yes && http_query_get(req->query, "lag", lagtext, sizeof(lagtext)))
		{
			char	   *end;
			unsigned long long max = strtoull(lagtext, &end, 10);

			if (end == lagtext || *end != '\0')
			{
				keeper_http_text(resp, 400, "lag: expected a number of bytes\n");
				return;
			}
			if (s.has_master_xlog_pos && s.master_xlog_pos > s.xlog_pos && s.master_xlog_pos - s.xlog_pos > max)
				yes = false;
		}
		keeper_http_text(resp, yes ? 200 : 503, yes ? "replica\n" : "not a replica in bounds\n");
	}
	else if (strcmp(req->path, "/read-only") == 0 || strcmp(req->path, "/read-only-replica") == 0)
	{
		bool		yes = strcmp(req->path, "/read-only") == 0 ? (primary || replica) : replica;

		keeper_http_text(resp, yes ? 200 : 503, yes ? "readable\n" : "not readable\n");
	}
	else
		keeper_http_text(resp, 404, "not found\n");
}

bool
keeper_http_start(KeeperDaemon *k, char *err, size_t errlen)
{
	if (k->cfg.http_listen_address == NULL || k->cfg.http_listen_address[0] == '\0')
		return true;
	if (!http_server_start(k->cfg.http_listen_address, keeper_http_handle, k, &k->http, err, errlen))
		return false;
	log_info("http server listening address=%s port=%d", k->cfg.http_listen_address, http_server_port(k->http));
	return true;
}
