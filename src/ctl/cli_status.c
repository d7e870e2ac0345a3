/*
 * src/ctl/cli_status.c
 *    bulwarkctl status: what the store holds for a cluster: its phase and master, and the reports that
 *    keepers, sentinels and proxies publish on their leases. A report that does not decode is shown as
 *    invalid, with the reason, rather than failing the command: status is what an operator runs on a bad day.
 *    bulwarkctl version lives here too.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static json_t *
ctl_status_reports_json(const CtlReport *reports, size_t n)
{
	json_t	   *arr = json_array();

	for (size_t i = 0; i < n; i++)
	{
		json_t	   *o = json_object();

		json_object_set_new(o, "uid", json_string(reports[i].uid));
		json_object_set(o, "report", reports[i].doc ? reports[i].doc : json_null());
		if (reports[i].invalid[0])
			json_object_set_new(o, "reportError", json_string(reports[i].invalid));
		json_array_append_new(arr, o);
	}
	return arr;
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

static void
ctl_status_print_text(Ctl *ctl, const ClusterData *cd, CtlReport *const lists[3], const size_t counts[3],
					  const char *leader)
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

		if (lists[2][i].invalid[0])
			printf("  %s  invalid report: %s\n", lists[2][i].uid, lists[2][i].invalid);
		else
			printf("  %s  generation %lld (cluster data: %lld)\n", lists[2][i].uid,
				   gen ? (long long) json_integer_value(gen) : 0LL, (long long) cd->proxy.generation);
	}

	printf("\nKeepers (%zu reporting, %zu in the cluster data):\n", counts[0], cd->keeper_count);
	printf("  %-20s %-9s %-22s %-10s %s\n", "UID", "IN DATA", "POSTGRES", "PG HEALTHY", "DB");
	for (size_t i = 0; i < counts[0]; i++)
	{
		const CtlReport *r = &lists[0][i];
		bool		known = cluster_data_find_keeper(cd, r->uid) != NULL;

		if (r->invalid[0])
		{
			printf("  %-20s %-9s invalid report: %s\n", r->uid, known ? "yes" : "no", r->invalid);
			continue;
		}
		if (r->keeper.postgres_state == NULL)
		{
			printf("  %-20s %-9s %-22s %-10s %s\n", r->uid, known ? "yes" : "no", "-", "-", "no db yet");
			continue;
		}
		{
			const PostgresState *ps = r->keeper.postgres_state;
			char		addr[CLUSTER_HOST_SIZE + 16];

			snprintf(addr, sizeof(addr), "%s:%d", ps->listen_address, ps->port);
			printf("  %-20s %-9s %-22s %-10s %s\n", r->uid, known ? "yes" : "no", addr, ps->healthy ? "yes" : "no",
				   ps->uid[0] ? ps->uid : "-");
		}
	}
	for (size_t i = 0; i < cd->keeper_count; i++)
	{
		if (ctl_status_find(lists[0], counts[0], cd->keepers[i]->uid) == NULL)
			printf("  %-20s %-9s %s\n", cd->keepers[i]->uid, "yes", "no report (keeper down?)");
	}
}

static int
ctl_status_run(Ctl *ctl, int argc, char **argv)
{
	bool		as_json = false;
	OptDef		table[] = {
		{"json", 0, OPT_TYPE_BOOL, &as_json, NULL, "print the status as one JSON document"},
		OPT_END,
	};
	static const char *const rels[3] = {"keepers/", "sentinels/", "proxies/"};
	CtlReport  *lists[3] = {NULL, NULL, NULL};
	size_t		counts[3] = {0, 0, 0};
	ClusterData cd;
	int64_t		rev;
	int			rc;
	char		leader[UID_SIZE] = "";

	if (!ctl_parse(ctl, &ctl_cmd_status, argc, argv, table, NULL, 0, NULL, &rc))
		return rc;
	if ((rc = ctl_read_cluster_data(ctl, &cd, &rev)) != EXIT_CODE_OK)
		return rc;
	for (int k = 0; k < 3 && rc == EXIT_CODE_OK; k++)
		rc = ctl_status_list_reports(ctl, rels[k], (CtlReportKind) k, &lists[k], &counts[k]);

	if (rc == EXIT_CODE_OK)
		ctl_status_leader(ctl, leader, sizeof(leader));
	if (rc == EXIT_CODE_OK && as_json)
	{
		json_t	   *st = json_object();
		json_t	   *cluster = json_object();

		json_object_set_new(cluster, "name", json_string(ctl->store_opts.cluster_name));
		json_object_set_new(cluster, "uid", json_string(cd.cluster.uid));
		json_object_set_new(cluster, "phase", json_string(cluster_phase_to_string(cd.cluster.status.phase)));
		json_object_set_new(cluster, "master", json_string(cd.cluster.status.master));
		json_object_set_new(cluster, "spec", cd.cluster.spec_sparse ? json_incref(cd.cluster.spec_sparse) : json_object());
		json_object_set_new(cluster, "proxyGeneration", json_integer(cd.proxy.generation));
		json_object_set_new(cluster, "paused", json_boolean(cd.cluster.status.maintenance != NULL));
		json_object_set_new(cluster, "maintenance", ctl_status_ops_json(&cd, "maintenance"));
		json_object_set_new(cluster, "switchover", ctl_status_ops_json(&cd, "switchover"));
		json_object_set_new(cluster, "leaderSentinel", json_string(leader));
		json_object_set_new(st, "cluster", cluster);
		json_object_set_new(st, "keepers", ctl_status_reports_json(lists[0], counts[0]));
		json_object_set_new(st, "sentinels", ctl_status_reports_json(lists[1], counts[1]));
		json_object_set_new(st, "proxies", ctl_status_reports_json(lists[2], counts[2]));
		ctl_print_json(st, true);
		json_decref(st);
	}
	else if (rc == EXIT_CODE_OK)
		ctl_status_print_text(ctl, &cd, lists, counts, leader);

	for (int k = 0; k < 3; k++)
		ctl_status_free_reports(lists[k], counts[k], (CtlReportKind) k);
	cluster_data_finish(&cd);
	return rc;
}

const CtlCommand ctl_cmd_status = {
	"status", "status [--json]",
	"show the cluster: phase, master, and the keepers', sentinels' and proxies' reports",
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
