/*
 * src/ctl/cli_status.c
 *    bulwarkctl status: what the store holds for a cluster: its phase and master, and the reports that
 *    keepers, sentinels and proxies publish on their leases. A report that does not decode is shown as
 *    invalid, with the reason, rather than failing the command: status is what an operator runs on a bad day.
 *    Each keeper's report is joined with the cluster data into a KeeperView (role from the cluster data, live
 *    health, timeline, LSN and lag from the report), printed as a table, as the replication tree, or as JSON in
 *    the schema of docs/status.schema.json. --watch repeats it every second.
 *    bulwarkctl version lives here too.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "cluster_json.h"
#include "exitcode.h"
#include "timestamp.h"

/* One member report as status shows it: the decoded JSON (for --json) or the reason it is invalid. */
typedef struct CtlReport
{
	char		uid[128];
	json_t	   *doc;			/* the report as published, NULL when invalid */
	char		invalid[512];	/* why it does not decode; "" when valid */
	KeeperInfo	keeper;			/* decoded, for keepers with a valid report */
} CtlReport;

typedef enum CtlReportKind
{
	CTL_REPORT_KEEPER = 0,
	CTL_REPORT_SENTINEL,
	CTL_REPORT_PROXY,
} CtlReportKind;

/* ctl_status_list_reports: every report under rel ("keepers/" ...), decoded by kind. Returns an exit code. */
static int
ctl_status_list_reports(Ctl *ctl, const char *rel, CtlReportKind kind, CtlReport **out, size_t *n)
{
	char		prefix[512];
	StoreKVList list;
	StoreError	serr;
	CtlReport  *reports;

	store_options_key(&ctl->store_opts, rel, prefix, sizeof(prefix));
	if (!store_list(ctl->store, prefix, &list, &serr))
		return ctl_fail_store("could not list the member reports", &serr);
	reports = calloc(list.n ? list.n : 1, sizeof(CtlReport));
	if (reports == NULL)
	{
		store_kv_list_finish(&list);
		return EXIT_CODE_INTERNAL;
	}
	for (size_t i = 0; i < list.n; i++)
	{
		CtlReport  *r = &reports[i];
		const StoreKV *kv = &list.kvs[i];
		char		err[512] = "";
		bool		ok = false;

		snprintf(r->uid, sizeof(r->uid), "%s", kv->key + strlen(prefix));
		switch (kind)
		{
			case CTL_REPORT_KEEPER:
				ok = keeper_info_decode(kv->value, kv->value_len, &r->keeper, err, sizeof(err));
				break;
			case CTL_REPORT_SENTINEL:
				{
					SentinelInfo si;

					ok = sentinel_info_decode(kv->value, kv->value_len, &si, err, sizeof(err));
					break;
				}
			case CTL_REPORT_PROXY:
				{
					ProxyInfo	pi;

					ok = proxy_info_decode(kv->value, kv->value_len, &pi, err, sizeof(err));
					break;
				}
		}
		if (ok)
			r->doc = json_loadb(kv->value, kv->value_len, 0, NULL);
		else
			snprintf(r->invalid, sizeof(r->invalid), "%s", err[0] ? err : "invalid report");
	}
	*out = reports;
	*n = list.n;
	store_kv_list_finish(&list);
	return EXIT_CODE_OK;
}

static void
ctl_status_free_reports(CtlReport *reports, size_t n, CtlReportKind kind)
{
	for (size_t i = 0; i < n; i++)
	{
		json_decref(reports[i].doc);
		if (kind == CTL_REPORT_KEEPER && reports[i].invalid[0] == '\0')
			keeper_info_finish(&reports[i].keeper);
	}
	free(reports);
}

/* The leader sentinel's uid from the leader key, into out ("" when none or unreadable). */
static void
ctl_status_leader(Ctl *ctl, char *out, size_t outlen)
{
	char		key[512];
	StoreKV		kv;
	StoreError	serr;
	bool		found = false;

	out[0] = '\0';
	store_options_key(&ctl->store_opts, "leader", key, sizeof(key));
	if (!store_get(ctl->store, key, &kv, &found, NULL, &serr) || !found)
		return;
	snprintf(out, outlen, "%.*s", (int) (kv.value_len < outlen ? kv.value_len : outlen - 1), kv.value);
	store_kv_finish(&kv);
}

/* cluster.maintenance and cluster.switchover of status --json: null when absent. */
static json_t *
ctl_status_ops_json(const ClusterData *cd, const char *which)
{
	json_t	   *full = cluster_data_to_json(cd);
	json_t	   *v = NULL;

	if (full != NULL)
		v = json_object_get(json_object_get(json_object_get(full, "cluster"), "status"), which);
	v = v ? json_incref(v) : json_null();
	json_decref(full);
	return v;
}

static const CtlReport *
ctl_status_find(const CtlReport *reports, size_t n, const char *uid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(reports[i].uid, uid) == 0)
			return &reports[i];
	return NULL;
}

/* The live PostgreSQL state a keeper reports, or NULL when it has no valid report or no DB yet. */
static const PostgresState *
ctl_status_pg_state(const CtlReport *keepers, size_t n, const char *keeper_uid)
{
	const CtlReport *r = ctl_status_find(keepers, n, keeper_uid);

	if (r == NULL || r->invalid[0])
		return NULL;
	return r->keeper.postgres_state;
}

/*
 * One keeper as status shows it: the report joined with the cluster data. The DB's role comes from the cluster
 * data (what the sentinel decided); health, timeline, LSN and address from the keeper's report when it has one
 * (what is true now), else from the DB status the sentinel last recorded, marked unhealthy.
 */
typedef struct KeeperView
{
	char		uid[UID_SIZE];
	const CtlReport *report;	/* NULL: in the cluster data but not reporting */
	bool		in_data;
	bool		has_db;
	char		db_uid[UID_SIZE];
	const char *role;			/* "master", "standby" or "none" (not assigned by the cluster data) */
	bool		healthy;
	uint32_t	timeline_id;
	uint64_t	lsn;
	bool		lag_known;
	uint64_t	lag_bytes;		/* behind the master's xLogPos; 0 for the master */
	bool		synchronous;
	char		listen[CLUSTER_HOST_SIZE + 16];
	char		follows[UID_SIZE];	/* the DB it follows, "" for the master or none */
	char		state[CLUSTER_KEEPER_STATE_SIZE];	/* the keeper's own state, "" when it does not report */
	char		problem[CLUSTER_PROBLEM_SIZE];	/* what keeps it from converging, "" when nothing */
} KeeperView;

/* The master's WAL position: from its keeper's report, else the DB status in the cluster data. */
static bool
ctl_status_master_lsn(const ClusterData *cd, const CtlReport *keepers, size_t n, uint64_t *lsn,
					  const StringList **sync)
{
	const Db   *m = cluster_data_master_db(cd);
	const PostgresState *ps;

	*sync = NULL;
	if (m == NULL)
		return false;
	ps = ctl_status_pg_state(keepers, n, m->spec.keeper_uid);
	if (ps != NULL && strcmp(ps->uid, m->uid) == 0)
	{
		*lsn = ps->xlog_pos;
		*sync = &ps->synchronous_standbys;
		return true;
	}
	*lsn = m->status.xlog_pos;
	*sync = &m->status.synchronous_standbys;
	return m->status.xlog_pos != 0;
}

static void
ctl_status_keeper_view(const ClusterData *cd, const CtlReport *keepers, size_t n, const char *uid, KeeperView *v)
{
	const Db   *db = cluster_data_find_db_by_keeper(cd, uid);
	const PostgresState *ps = ctl_status_pg_state(keepers, n, uid);
	const StringList *sync = NULL;
	uint64_t	master_lsn = 0;
	bool		master_known = ctl_status_master_lsn(cd, keepers, n, &master_lsn, &sync);

	memset(v, 0, sizeof(*v));
	snprintf(v->uid, sizeof(v->uid), "%s", uid);
	v->report = ctl_status_find(keepers, n, uid);
	v->in_data = cluster_data_find_keeper(cd, uid) != NULL;
	if (v->report != NULL && v->report->invalid[0] == '\0')
	{
		snprintf(v->state, sizeof(v->state), "%s", v->report->keeper.keeper_state);
		snprintf(v->problem, sizeof(v->problem), "%s", v->report->keeper.problem);
	}
	v->role = "none";
	if (db != NULL)
	{
		snprintf(v->db_uid, sizeof(v->db_uid), "%s", db->uid);
		v->role = strcmp(cd->cluster.status.master, db->uid) == 0 ? "master" : db_role_to_string(db->spec.role);
		if (db->spec.follow_config != NULL && db->spec.follow_config->type == FOLLOW_TYPE_INTERNAL)
			snprintf(v->follows, sizeof(v->follows), "%s", db->spec.follow_config->db_uid);
	}
	if (ps != NULL)
	{
		v->has_db = true;
		if (db == NULL)
			snprintf(v->db_uid, sizeof(v->db_uid), "%s", ps->uid);
		v->healthy = ps->healthy;
		v->timeline_id = ps->timeline_id;
		v->lsn = ps->xlog_pos;
		snprintf(v->listen, sizeof(v->listen), "%s:%d", ps->listen_address, ps->port);
	}
	else if (db != NULL && db->status.port != 0)
	{
		/* not reporting: what the sentinel last saw, and not healthy since nobody vouches for it now */
		v->has_db = true;
		v->timeline_id = db->status.timeline_id;
		v->lsn = db->status.xlog_pos;
		snprintf(v->listen, sizeof(v->listen), "%s:%d", db->status.listen_address, db->status.port);
	}
	if (v->has_db && strcmp(v->role, "master") == 0)
	{
		v->lag_known = true;
		v->lag_bytes = 0;
	}
	else if (v->has_db && master_known && v->lsn != 0)
	{
		v->lag_known = true;
		v->lag_bytes = master_lsn > v->lsn ? master_lsn - v->lsn : 0;
	}
	v->synchronous = v->db_uid[0] && sync != NULL && strcmp(v->role, "master") != 0
		&& string_list_contains(sync, v->db_uid);
}

/*
 * Every keeper status shows, into a calloc'd array (caller frees): those reporting, in uid order as listed,
 * then those in the cluster data that do not report. NULL when memory runs out.
 */
static KeeperView *
ctl_status_keeper_views(const ClusterData *cd, const CtlReport *keepers, size_t n, size_t *count)
{
	KeeperView *views = calloc(n + cd->keeper_count + 1, sizeof(KeeperView));
	size_t		k = 0;

	if (views == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ctl_status_keeper_view(cd, keepers, n, keepers[i].uid, &views[k++]);
	for (size_t i = 0; i < cd->keeper_count; i++)
		if (ctl_status_find(keepers, n, cd->keepers[i]->uid) == NULL)
			ctl_status_keeper_view(cd, keepers, n, cd->keepers[i]->uid, &views[k++]);
	*count = k;
	return views;
}

static const KeeperView *
ctl_status_view_of_db(const KeeperView *views, size_t n, const char *db_uid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(views[i].db_uid, db_uid) == 0)
			return &views[i];
	return NULL;
}

static void
ctl_status_format_lsn(uint64_t lsn, char *out, size_t outlen)
{
	snprintf(out, outlen, "%X/%X", (unsigned) (lsn >> 32), (unsigned) (lsn & 0xFFFFFFFFu));
}

/* Bound on the replication tree's depth: the planner builds one level; this only guards against a loop. */
#define CTL_STATUS_TREE_DEPTH 8

/* The replication subtree rooted at db_uid, from the DBs' followers in the cluster data. */
static json_t *
ctl_status_tree_json(const ClusterData *cd, const KeeperView *views, size_t nv, const char *db_uid, int depth)
{
	const Db   *db = cluster_data_find_db(cd, db_uid);
	const KeeperView *v = ctl_status_view_of_db(views, nv, db_uid);
	json_t	   *node = json_object();
	json_t	   *followers = json_array();

	json_object_set_new(node, "db", json_string(db_uid));
	json_object_set_new(node, "keeper", db ? json_string(db->spec.keeper_uid) : json_null());
	json_object_set_new(node, "healthy", json_boolean(v != NULL && v->healthy));
	json_object_set_new(node, "synchronous", json_boolean(v != NULL && v->synchronous));
	json_object_set_new(node, "lagBytes", v && v->lag_known ? json_integer((json_int_t) v->lag_bytes) : json_null());
	if (db != NULL && depth < CTL_STATUS_TREE_DEPTH)
		for (size_t i = 0; i < db->spec.followers.count; i++)
			json_array_append_new(followers, ctl_status_tree_json(cd, views, nv, db->spec.followers.items[i],
																   depth + 1));
	json_object_set_new(node, "followers", followers);
	return node;
}

static void
ctl_status_tree_print(const ClusterData *cd, const KeeperView *views, size_t nv, const char *db_uid,
					  const char *indent, bool last, int depth)
{
	const Db   *db = cluster_data_find_db(cd, db_uid);
	const KeeperView *v = ctl_status_view_of_db(views, nv, db_uid);
	char		lag[48] = "";
	char		child_indent[64];

	if (depth > 0 && v != NULL && v->lag_known)
		snprintf(lag, sizeof(lag), ", lag %llu bytes", (unsigned long long) v->lag_bytes);
	printf("  %s%s%s (keeper %s) %s%s%s%s\n", indent, depth == 0 ? "" : (last ? "`-- " : "|-- "), db_uid,
		   db ? db->spec.keeper_uid : "?", depth == 0 ? "master" : "standby",
		   depth == 0 ? "" : (v && v->synchronous ? ", sync" : ", async"), lag,
		   v && v->healthy ? "" : ", NOT HEALTHY");
	if (db == NULL || depth >= CTL_STATUS_TREE_DEPTH)
		return;
	snprintf(child_indent, sizeof(child_indent), "%s%s", indent, depth == 0 ? "" : (last ? "    " : "|   "));
	for (size_t i = 0; i < db->spec.followers.count; i++)
		ctl_status_tree_print(cd, views, nv, db->spec.followers.items[i], child_indent,
							  i + 1 == db->spec.followers.count, depth + 1);
}

/* A keeper's problem on a line of its own under its row; control characters shown as '?'. */
static void
ctl_status_print_problem(const KeeperView *v)
{
	char		text[CLUSTER_PROBLEM_SIZE];
	size_t		i;

	if (v->problem[0] == '\0')
		return;
	for (i = 0; v->problem[i] && i + 1 < sizeof(text); i++)
		text[i] = (unsigned char) v->problem[i] < 0x20 || v->problem[i] == 0x7f ? '?' : v->problem[i];
	text[i] = '\0';
	printf("  %-16s problem: %s\n", "", text);
}

static json_t *
ctl_status_report_entry(const char *uid, const CtlReport *r)
{
	json_t	   *o = json_object();

	json_object_set_new(o, "uid", json_string(uid));
	json_object_set(o, "report", r && r->doc ? r->doc : json_null());
	if (r && r->invalid[0])
		json_object_set_new(o, "reportError", json_string(r->invalid));
	return o;
}

static json_t *
ctl_status_keepers_json(const KeeperView *views, size_t n)
{
	json_t	   *arr = json_array();

	for (size_t i = 0; i < n; i++)
	{
		const KeeperView *v = &views[i];
		json_t	   *o = ctl_status_report_entry(v->uid, v->report);
		json_t	   *db = json_null();

		json_object_set_new(o, "inClusterData", json_boolean(v->in_data));
		json_object_set_new(o, "reporting", json_boolean(v->report != NULL));
		json_object_set_new(o, "state", v->state[0] ? json_string(v->state) : json_null());
		json_object_set_new(o, "problem", v->problem[0] ? json_string(v->problem) : json_null());
		if (v->has_db)
		{
			char		lsn[32];

			ctl_status_format_lsn(v->lsn, lsn, sizeof(lsn));
			db = json_object();
			json_object_set_new(db, "uid", json_string(v->db_uid));
			json_object_set_new(db, "role", json_string(v->role));
			json_object_set_new(db, "healthy", json_boolean(v->healthy));
			json_object_set_new(db, "timelineID", json_integer(v->timeline_id));
			json_object_set_new(db, "xLogPos", json_string(lsn));
			json_object_set_new(db, "lagBytes", v->lag_known ? json_integer((json_int_t) v->lag_bytes) : json_null());
			json_object_set_new(db, "synchronous", json_boolean(v->synchronous));
			json_object_set_new(db, "listenAddress", json_string(v->listen));
			json_object_set_new(db, "follows", v->follows[0] ? json_string(v->follows) : json_null());
		}
		json_object_set_new(o, "db", db);
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *
ctl_status_json(Ctl *ctl, const ClusterData *cd, CtlReport *const lists[3], const size_t counts[3],
				const char *leader, const KeeperView *views, size_t nv)
{
	json_t	   *st = json_object();
	json_t	   *cluster = json_object();
	json_t	   *sentinels = json_array();
	json_t	   *proxies = json_array();
	uint64_t	master_lsn = 0;
	const StringList *sync;
	char		lsn[32];

	json_object_set_new(st, "schemaVersion", json_integer(1));
	json_object_set_new(cluster, "name", json_string(ctl->store_opts.cluster_name));
	json_object_set_new(cluster, "uid", json_string(cd->cluster.uid));
	json_object_set_new(cluster, "phase", json_string(cluster_phase_to_string(cd->cluster.status.phase)));
	json_object_set_new(cluster, "master", json_string(cd->cluster.status.master));
	if (ctl_status_master_lsn(cd, lists[0], counts[0], &master_lsn, &sync))
	{
		ctl_status_format_lsn(master_lsn, lsn, sizeof(lsn));
		json_object_set_new(cluster, "masterXLogPos", json_string(lsn));
	}
	else
		json_object_set_new(cluster, "masterXLogPos", json_null());
	json_object_set_new(cluster, "spec", cd->cluster.spec_sparse ? json_incref(cd->cluster.spec_sparse) : json_object());
	json_object_set_new(cluster, "proxyGeneration", json_integer(cd->proxy.generation));
	json_object_set_new(cluster, "paused", json_boolean(cd->cluster.status.maintenance != NULL));
	json_object_set_new(cluster, "maintenance", ctl_status_ops_json(cd, "maintenance"));
	json_object_set_new(cluster, "switchover", ctl_status_ops_json(cd, "switchover"));
	json_object_set_new(cluster, "leaderSentinel", json_string(leader));
	json_object_set_new(st, "cluster", cluster);

	json_object_set_new(st, "keepers", ctl_status_keepers_json(views, nv));
	for (size_t i = 0; i < counts[1]; i++)
	{
		json_t	   *o = ctl_status_report_entry(lists[1][i].uid, &lists[1][i]);

		json_object_set_new(o, "leader", json_boolean(strcmp(lists[1][i].uid, leader) == 0));
		json_array_append_new(sentinels, o);
	}
	json_object_set_new(st, "sentinels", sentinels);
	for (size_t i = 0; i < counts[2]; i++)
	{
		const CtlReport *r = &lists[2][i];
		json_t	   *o = ctl_status_report_entry(r->uid, r);
		json_t	   *gen = r->doc ? json_object_get(r->doc, "generation") : NULL;

		json_object_set_new(o, "generation", json_is_integer(gen) ? json_incref(gen) : json_null());
		json_object_set_new(o, "acknowledged",
							json_boolean(json_is_integer(gen) && json_integer_value(gen) == cd->proxy.generation));
		json_array_append_new(proxies, o);
	}
	json_object_set_new(st, "proxies", proxies);
	json_object_set_new(st, "replication", cluster_data_master_db(cd)
						? ctl_status_tree_json(cd, views, nv, cd->cluster.status.master, 0) : json_null());
	return st;
}

static void
ctl_status_print_text(Ctl *ctl, const ClusterData *cd, CtlReport *const lists[3], const size_t counts[3],
					  const char *leader, const KeeperView *views, size_t nv)
{
	const char *master = cd->cluster.status.master[0] ? cd->cluster.status.master : "none";
	const Maintenance *pause = cd->cluster.status.maintenance;
	const Switchover *so = cd->cluster.status.switchover;

	if (pause != NULL)
	{
		char		since[TIMESTAMP_FORMAT_SIZE];

		printf("*** PAUSED since %s by %s%s%s: NO FAILOVER WILL HAPPEN (bulwarkctl resume) ***\n\n",
			   timestamp_format(pause->since_ms, since, sizeof(since)), pause->by, pause->reason[0] ? ": " : "",
			   pause->reason);
	}
	if (so != NULL)
		printf("Switchover in progress (event %s, phase %s): from db %s to %s\n\n", so->event_id,
			   switchover_phase_to_string(so->phase), so->from_db_uid,
			   so->target_db_uid[0] ? so->target_db_uid : (so->target_keeper_uid[0] ? so->target_keeper_uid : "?"));
	char	   *spec = cd->cluster.spec_sparse ? json_dumps(cd->cluster.spec_sparse, JSON_COMPACT | JSON_SORT_KEYS)
		: strdup("{}");

	printf("Cluster %s (uid %s), phase %s, master db %s\n", ctl->store_opts.cluster_name, cd->cluster.uid,
		   cluster_phase_to_string(cd->cluster.status.phase), master);
	printf("Spec as set: %s (bulwarkctl spec --defaults shows every field)\n", spec ? spec : "?");
	free(spec);

	printf("\nSentinels (%zu):\n", counts[1]);
	for (size_t i = 0; i < counts[1]; i++)
		printf("  %s%s%s%s\n", lists[1][i].uid, strcmp(lists[1][i].uid, leader) == 0 ? "  (leader)" : "",
			   lists[1][i].invalid[0] ? "  invalid report: " : "", lists[1][i].invalid);

	printf("\nProxies (%zu):\n", counts[2]);
	for (size_t i = 0; i < counts[2]; i++)
	{
		json_t	   *gen = lists[2][i].doc ? json_object_get(lists[2][i].doc, "generation") : NULL;
		long long	g = gen ? (long long) json_integer_value(gen) : 0LL;

		if (lists[2][i].invalid[0])
			printf("  %s  invalid report: %s\n", lists[2][i].uid, lists[2][i].invalid);
		else
			printf("  %s  generation %lld (cluster data: %lld)%s\n", lists[2][i].uid, g,
				   (long long) cd->proxy.generation, g == cd->proxy.generation ? "" : "  NOT YET ACKNOWLEDGED");
	}

	printf("\nKeepers (%zu reporting, %zu in the cluster data):\n", counts[0], cd->keeper_count);
	printf("  %-16s %-7s %-8s %-8s %-11s %-8s %-3s %-12s %-10s %-5s %s\n", "UID", "IN DATA", "DB", "ROLE", "STATE",
		   "HEALTHY", "TL", "LSN", "LAG BYTES", "SYNC", "LISTEN");
	for (size_t i = 0; i < nv; i++)
	{
		const KeeperView *v = &views[i];
		char		lsn[32];
		char		lag[24] = "-";

		if (v->report != NULL && v->report->invalid[0])
		{
			printf("  %-16s %-7s invalid report: %s\n", v->uid, v->in_data ? "yes" : "no", v->report->invalid);
			continue;
		}
		if (!v->has_db)
		{
			printf("  %-16s %-7s %s%s%s\n", v->uid, v->in_data ? "yes" : "no",
				   v->report ? "no db yet" : "no report (keeper down?)", v->state[0] ? ", keeper " : "", v->state);
			ctl_status_print_problem(v);
			continue;
		}
		ctl_status_format_lsn(v->lsn, lsn, sizeof(lsn));
		if (v->lag_known)
			snprintf(lag, sizeof(lag), "%llu", (unsigned long long) v->lag_bytes);
		printf("  %-16s %-7s %-8s %-8s %-11s %-8s %-3u %-12s %-10s %-5s %s%s\n", v->uid, v->in_data ? "yes" : "no",
			   v->db_uid[0] ? v->db_uid : "-", v->role, v->state[0] ? v->state : "-", v->healthy ? "yes" : "no",
			   v->timeline_id, lsn, lag, strcmp(v->role, "master") == 0 ? "-" : (v->synchronous ? "yes" : "no"),
			   v->listen, v->report ? "" : "  (no report: keeper down?)");
		ctl_status_print_problem(v);
	}

	printf("\nReplication:\n");
	if (cluster_data_master_db(cd) == NULL)
		printf("  no master\n");
	else
		ctl_status_tree_print(cd, views, nv, cd->cluster.status.master, "", true, 0);
}

/* One status: read the store and print it. Returns an exit code (the failure printed). */
static int
ctl_status_once(Ctl *ctl, bool as_json)
{
	static const char *const rels[3] = {"keepers/", "sentinels/", "proxies/"};
	CtlReport  *lists[3] = {NULL, NULL, NULL};
	size_t		counts[3] = {0, 0, 0};
	ClusterData cd;
	int64_t		rev;
	int			rc;
	char		leader[UID_SIZE] = "";
	KeeperView *views = NULL;
	size_t		nv = 0;

	if ((rc = ctl_read_cluster_data(ctl, &cd, &rev)) != EXIT_CODE_OK)
		return rc;
	for (int k = 0; k < 3 && rc == EXIT_CODE_OK; k++)
		rc = ctl_status_list_reports(ctl, rels[k], (CtlReportKind) k, &lists[k], &counts[k]);
	if (rc == EXIT_CODE_OK)
	{
		ctl_status_leader(ctl, leader, sizeof(leader));
		views = ctl_status_keeper_views(&cd, lists[0], counts[0], &nv);
		if (views == NULL)
			rc = EXIT_CODE_INTERNAL;
	}
	if (rc == EXIT_CODE_OK && as_json)
	{
		json_t	   *st = ctl_status_json(ctl, &cd, lists, counts, leader, views, nv);

		ctl_print_json(st, true);
		json_decref(st);
	}
	else if (rc == EXIT_CODE_OK)
		ctl_status_print_text(ctl, &cd, lists, counts, leader, views, nv);

	free(views);
	for (int k = 0; k < 3; k++)
		ctl_status_free_reports(lists[k], counts[k], (CtlReportKind) k);
	cluster_data_finish(&cd);
	return rc;
}

static int
ctl_status_run(Ctl *ctl, int argc, char **argv)
{
	bool		as_json = false;
	bool		watch = false;
	int64_t		watch_count = 0;
	OptDef		table[] = {
		{"json", 0, OPT_TYPE_BOOL, &as_json, NULL, "print the status as one JSON document"},
		{"watch", 'w', OPT_TYPE_BOOL, &watch, NULL, "refresh every second until Ctrl-C"},
		{"watch-count", 0, OPT_TYPE_INT, &watch_count, "N", "with --watch: stop after N refreshes (0 = never)"},
		OPT_END,
	};
	int			rc;
	bool		tty = isatty(STDOUT_FILENO);

	if (!ctl_parse(ctl, &ctl_cmd_status, argc, argv, table, NULL, 0, NULL, &rc))
		return rc;
	if (watch_count < 0)
	{
		ctl_error("--watch-count must be 0 or more");
		return EXIT_CODE_BAD_ARGS;
	}
	if (!watch)
		return ctl_status_once(ctl, as_json);

	/*
	 * --watch keeps going through store errors (printed, and the last one is the exit code with
	 * --watch-count): status is what an operator watches while etcd itself is in trouble.
	 */
	for (int64_t i = 0; watch_count == 0 || i < watch_count; i++)
	{
		struct timespec one_second = {1, 0};
		char		now[TIMESTAMP_FORMAT_SIZE];

		if (i > 0)
			nanosleep(&one_second, NULL);
		if (tty)
			fputs("\033[H\033[2J", stdout);
		else if (i > 0 && !as_json)
			putchar('\n');
		if (!as_json)
			printf("Every 1s: bulwarkctl status  %s\n\n", timestamp_format(timestamp_now_ms(), now, sizeof(now)));
		fflush(stdout);
		rc = ctl_status_once(ctl, as_json);
		fflush(stdout);
		fflush(stderr);
	}
	return rc;
}

const CtlCommand ctl_cmd_status = {
	"status", "status [--json] [--watch [--watch-count N]]",
	"show the cluster: phase, master, sentinels, proxies, keepers with their DB, and the replication tree",
	ctl_status_run,
};

static int
ctl_version_run(Ctl *ctl, int argc, char **argv)
{
	int			rc;

	if (!ctl_parse(ctl, &ctl_cmd_version, argc, argv, NULL, NULL, 0, NULL, &rc))
		return rc;
	printf("bulwarkctl %s (git %s)\n", BULWARK_VERSION, BULWARK_GIT_REV);
	return EXIT_CODE_OK;
}

const CtlCommand ctl_cmd_version = {
	"version", "version", "print the version", ctl_version_run,
};
