/*
 * tests/unit/test_cluster_json.c
 *    The stored documents: a full clusterdata (3 keepers, 3 dbs, a proxy, every optional part) and every report
 *    type survive encode/decode unchanged, the encoding is canonical (tests/unit/data/clusterdata_full.json is
 *    the expected form; BULWARK_UPDATE_GOLDEN=1 rewrites it), and bad documents are refused with a message that
 *    names the exact field. Also the model's copy, lookups and DB spec comparison.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_json.h"
#include "lib/test_json.h"
#include "json_merge_patch.h"

#define GOLDEN "tests/unit/data/clusterdata_full.json"
#define T0 1700000000123LL		/* 2023-11-14T22:13:20.123Z */


static char *
read_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *data;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t) n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t) n, f), (size_t) n);
	data[n] = '\0';
	fclose(f);
	return data;
}

static void
set_text(char **field, const char *value)
{
	*field = strdup(value);
	assert_non_null(*field);
}

static void
add_strings(StringList *l, const char *const *items)
{
	for (; *items != NULL; items++)
		assert_true(string_list_append(l, *items));
}

static void
fill_db_status(DbStatus *st, const char *addr, uint64_t xlog, bool healthy)
{
	st->healthy = healthy;
	st->current_generation = 3;
	snprintf(st->listen_address, sizeof(st->listen_address), "%s", addr);
	st->port = 5432;
	snprintf(st->system_id, sizeof(st->system_id), "7301234567890123456");
	st->timeline_id = 3;
	st->xlog_pos = xlog;
	assert_true(timelines_history_append(&st->timelines_history, 1, 0x3000060, "no recovery target specified"));
	assert_true(timelines_history_append(&st->timelines_history, 2, 0x16B374D848ULL, NULL));
	snprintf(st->older_wal_file, sizeof(st->older_wal_file), "000000030000001600000001");
	assert_true(pg_parameters_set(&st->pg_parameters, "work_mem", "8MB"));
	assert_true(pg_parameters_set(&st->pg_parameters, "shared_buffers", "128MB"));
}

/* A clusterdata with every kind of value set, built in code so the expected form is independent of the decoder. */
static void
build_full(ClusterData *cd)
{
	json_t	   *spec = test_json_parse("{\"initMode\":\"new\",\"synchronousReplication\":true,\"failInterval\":\"4s\","
							 "\"pgParameters\":{\"work_mem\":\"8MB\"},\"pgHBA\":[\"host all all 10.0.0.0/8 md5\"],"
							 "\"newConfig\":{\"locale\":\"C.UTF-8\",\"dataChecksums\":true}}");
	const char *const uids[] = {"k2", "k0", "k1"};
	const char *const db_uids[] = {"db2", "db0", "db1"};
	char		err[512];
	Db		   *db;

	assert_true(cluster_data_new_for_init(spec, cd, err, sizeof(err)));
	json_decref(spec);
	cd->change_time_ms = T0;
	snprintf(cd->cluster.uid, sizeof(cd->cluster.uid), "c0ffee01");
	cd->cluster.change_time_ms = T0 - 1000;
	cd->cluster.status.current_generation = 1;
	cd->cluster.status.phase = CLUSTER_PHASE_NORMAL;
	snprintf(cd->cluster.status.master, sizeof(cd->cluster.status.master), "db0");

	for (int i = 0; i < 3; i++)
	{
		Keeper	   *k = cluster_data_add_keeper(cd, uids[i]);

		assert_non_null(k);
		k->generation = 1;
		k->change_time_ms = T0 - 2000 + i;
		k->status.healthy = i != 0;
		k->status.last_healthy_time_ms = T0 - 500;
		snprintf(k->status.boot_uuid, sizeof(k->status.boot_uuid), "6f1c3e0a-8d1b-4a57-9c0e-%012d", i);
		k->status.force_fail = i == 0;
		k->status.can_be_master = i != 0;
		k->status.can_be_synchronous_replica = true;
		k->status.postgres_binary_version.major = 15;
		k->status.postgres_binary_version.minor = 4 + i;
	}

	for (int i = 0; i < 3; i++)
		assert_non_null(cluster_data_add_db(cd, db_uids[i]));

	db = cluster_data_find_db(cd, "db0");
	db->generation = 3;
	db->change_time_ms = T0 - 3000;
	snprintf(db->spec.keeper_uid, sizeof(db->spec.keeper_uid), "k0");
	db->spec.request_timeout_ms = 2000;
	db->spec.max_standbys = 20;
	db->spec.synchronous_replication = true;
	db->spec.use_pg_rewind = true;
	db->spec.additional_wal_senders = 5;
	add_strings(&db->spec.additional_replication_slots, (const char *const[]) {"backup_tool", NULL});
	db->spec.init_mode = INIT_MODE_NONE;
	db->spec.new_config = new_config_new();
	set_text(&db->spec.new_config->locale, "C.UTF-8");
	db->spec.new_config->data_checksums = true;
	assert_true(pg_parameters_set(&db->spec.pg_parameters, "work_mem", "8MB"));
	db->spec.pg_hba = calloc(1, sizeof(StringList));
	add_strings(db->spec.pg_hba, (const char *const[]) {"host all all 10.0.0.0/8 md5", NULL});
	db->spec.role = DB_ROLE_MASTER;
	add_strings(&db->spec.followers, (const char *const[]) {"db1", "db2", NULL});
	add_strings(&db->spec.synchronous_standbys, (const char *const[]) {"db1", NULL});
	add_strings(&db->spec.external_synchronous_standbys, (const char *const[]) {"bulwarkfakestandby", NULL});
	fill_db_status(&db->status, "10.0.0.10", 0x16B374D848ULL, true);
	add_strings(&db->status.synchronous_standbys, (const char *const[]) {"db1", NULL});

	db = cluster_data_find_db(cd, "db1");
	db->generation = 2;
	db->change_time_ms = T0 - 3000;
	snprintf(db->spec.keeper_uid, sizeof(db->spec.keeper_uid), "k1");
	db->spec.request_timeout_ms = 2000;
	db->spec.max_standbys = 20;
	db->spec.role = DB_ROLE_STANDBY;
	db->spec.init_mode = INIT_MODE_RESYNC;
	db->spec.follow_config = follow_config_new();
	db->spec.follow_config->type = FOLLOW_TYPE_INTERNAL;
	snprintf(db->spec.follow_config->db_uid, sizeof(db->spec.follow_config->db_uid), "db0");
	fill_db_status(&db->status, "10.0.0.11", 0x16B374D000ULL, true);

	db = cluster_data_find_db(cd, "db2");
	db->generation = 1;
	db->change_time_ms = T0;
	snprintf(db->spec.keeper_uid, sizeof(db->spec.keeper_uid), "k2");
	db->spec.request_timeout_ms = 90000;
	db->spec.role = DB_ROLE_STANDBY;
	db->spec.init_mode = INIT_MODE_PITR;
	db->spec.include_previous_config = true;
	db->spec.pitr_config = pitr_config_new();
	set_text(&db->spec.pitr_config->data_restore_command, "restore-backup --to %d");
	db->spec.pitr_config->archive_recovery_settings = archive_recovery_settings_new();
	set_text(&db->spec.pitr_config->archive_recovery_settings->restore_command, "cp /archive/%f \"%p\"");
	db->spec.pitr_config->recovery_target_settings = recovery_target_settings_new();
	set_text(&db->spec.pitr_config->recovery_target_settings->recovery_target_time, "2023-11-14 22:00:00+00");
	set_text(&db->spec.pitr_config->recovery_target_settings->recovery_target_timeline, "latest");
	db->spec.follow_config = follow_config_new();
	db->spec.follow_config->type = FOLLOW_TYPE_EXTERNAL;
	db->spec.follow_config->standby_settings = standby_settings_new();
	set_text(&db->spec.follow_config->standby_settings->primary_conninfo, "host=remote port=5432 user=repl");
	set_text(&db->spec.follow_config->standby_settings->primary_slot_name, "remote_slot");
	db->spec.follow_config->archive_recovery_settings = archive_recovery_settings_new();
	set_text(&db->spec.follow_config->archive_recovery_settings->restore_command, "true");
	db->status.port = 0;
	snprintf(db->status.listen_address, sizeof(db->status.listen_address), "db2.internal.example");

	cd->proxy.generation = 7;
	cd->proxy.change_time_ms = T0 - 100;
	snprintf(cd->proxy.spec.master_db_uid, sizeof(cd->proxy.spec.master_db_uid), "db0");
	add_strings(&cd->proxy.spec.ro_db_uids, (const char *const[]) {"db1", NULL});
	add_strings(&cd->proxy.spec.enabled_proxies, (const char *const[]) {"a1b2c3d4", "e5f6a7b8", NULL});
}

static void
test_full_cluster_data_matches_golden_file(void **state)
{
	ClusterData cd;
	char	   *text;
	char	   *golden;

	(void) state;
	build_full(&cd);
	text = cluster_data_encode(&cd, true);
	assert_non_null(text);
	if (getenv("BULWARK_UPDATE_GOLDEN") != NULL)
	{
		FILE	   *f = fopen(GOLDEN, "wb");

		assert_non_null(f);
		fputs(text, f);
		fputc('\n', f);
		fclose(f);
	}
	golden = read_file(GOLDEN);
	assert_non_null(golden);
	if (strlen(golden) > 0 && golden[strlen(golden) - 1] == '\n')
		golden[strlen(golden) - 1] = '\0';
	assert_string_equal(text, golden);
	free(golden);
	free(text);
	cluster_data_finish(&cd);
}

static void
test_full_cluster_data_round_trips(void **state)
{
	ClusterData cd;
	ClusterData back;
	char	   *text;
	char	   *again;
	char		err[512] = "";
	Db		   *db;
	Keeper	   *k;

	(void) state;
	build_full(&cd);
	text = cluster_data_encode(&cd, false);
	assert_non_null(text);
	if (!cluster_data_decode(text, strlen(text), &back, err, sizeof(err)))
		fail_msg("decode: %s", err);
	again = cluster_data_encode(&back, false);
	assert_string_equal(text, again);

	/* the decoded values are the built ones, not merely re-encoded alike */
	assert_int_equal(back.keeper_count, 3);
	assert_string_equal(back.keepers[0]->uid, "k0");
	assert_string_equal(back.keepers[2]->uid, "k2");
	k = cluster_data_find_keeper(&back, "k2");
	assert_true(k->status.force_fail);
	assert_false(k->status.can_be_master);
	assert_int_equal(k->status.last_healthy_time_ms, T0 - 500);
	assert_int_equal(cluster_data_find_keeper(&back, "k1")->status.postgres_binary_version.minor, 6);
	assert_int_equal(back.cluster.spec.fail_interval_ms, 4000);
	assert_true(back.cluster.spec.synchronous_replication);
	assert_int_equal(back.cluster.status.phase, CLUSTER_PHASE_NORMAL);
	db = cluster_data_master_db(&back);
	assert_non_null(db);
	assert_string_equal(db->uid, "db0");
	assert_int_equal(db->status.xlog_pos, 0x16B374D848ULL);
	assert_int_equal(db->status.timelines_history.count, 2);
	assert_int_equal(db->status.timelines_history.items[1].switch_point, 0x16B374D848ULL);
	assert_null(db->status.timelines_history.items[1].reason);
	assert_string_equal(db->status.timelines_history.items[0].reason, "no recovery target specified");
	assert_string_equal(db->spec.external_synchronous_standbys.items[0], "bulwarkfakestandby");
	assert_string_equal(pg_parameters_get(&db->status.pg_parameters, "shared_buffers"), "128MB");
	db = cluster_data_find_db(&back, "db2");
	assert_int_equal(db->spec.init_mode, INIT_MODE_PITR);
	assert_int_equal(db->spec.follow_config->type, FOLLOW_TYPE_EXTERNAL);
	assert_string_equal(db->spec.follow_config->standby_settings->primary_slot_name, "remote_slot");
	assert_null(db->spec.follow_config->standby_settings->recovery_min_apply_delay);
	assert_string_equal(db->spec.pitr_config->archive_recovery_settings->restore_command, "cp /archive/%f \"%p\"");
	assert_int_equal(db->spec.request_timeout_ms, 90000);
	assert_null(db->spec.pg_hba);
	assert_int_equal(back.proxy.generation, 7);
	assert_string_equal(back.proxy.spec.enabled_proxies.items[1], "e5f6a7b8");

	free(text);
	free(again);
	cluster_data_finish(&back);
	cluster_data_finish(&cd);
}

/* Maintenance mode and a switchover in progress: optional objects that old documents do not have. */
static void
test_maintenance_and_switchover_round_trip(void **state)
{
	ClusterData cd;
	ClusterData back;
	char	   *text;
	char	   *again;
	char		err[512] = "";
	json_t	   *doc;

	(void) state;
	build_full(&cd);
	/* absent: a document written before they existed decodes with neither */
	text = cluster_data_encode(&cd, false);
	assert_non_null(text);
	assert_null(strstr(text, "maintenance"));
	assert_null(strstr(text, "switchover"));
	assert_true(cluster_data_decode(text, strlen(text), &back, err, sizeof(err)));
	assert_null(back.cluster.status.maintenance);
	assert_null(back.cluster.status.switchover);
	cluster_data_finish(&back);
	free(text);

	cd.cluster.status.maintenance = maintenance_new();
	assert_non_null(cd.cluster.status.maintenance);
	cd.cluster.status.maintenance->since_ms = T0;
	snprintf(cd.cluster.status.maintenance->by, CLUSTER_ACTOR_SIZE, "ops@db1");
	snprintf(cd.cluster.status.maintenance->reason, 256, "kernel upgrade");
	cd.cluster.status.switchover = switchover_new();
	assert_non_null(cd.cluster.status.switchover);
	snprintf(cd.cluster.status.switchover->event_id, UID_SIZE, "0badc0de");
	cd.cluster.status.switchover->phase = SWITCHOVER_PHASE_CATCHING_UP;
	snprintf(cd.cluster.status.switchover->from_db_uid, UID_SIZE, "db0");
	snprintf(cd.cluster.status.switchover->target_keeper_uid, UID_SIZE, "k1");
	snprintf(cd.cluster.status.switchover->target_db_uid, UID_SIZE, "db1");
	cd.cluster.status.switchover->requested_ms = T0 + 1;
	cd.cluster.status.switchover->timeout_ms = 30000;
	cd.cluster.status.switchover->master_lsn = 0x16B374D848ULL;
	text = cluster_data_encode(&cd, false);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"phase\":\"catching_up\""));
	assert_non_null(strstr(text, "\"masterLsn\":\"16/B374D848\""));
	if (!cluster_data_decode(text, strlen(text), &back, err, sizeof(err)))
		fail_msg("decode: %s", err);
	again = cluster_data_encode(&back, false);
	assert_string_equal(text, again);
	assert_non_null(back.cluster.status.maintenance);
	assert_string_equal(back.cluster.status.maintenance->by, "ops@db1");
	assert_string_equal(back.cluster.status.maintenance->reason, "kernel upgrade");
	assert_int_equal(back.cluster.status.maintenance->since_ms, T0);
	assert_non_null(back.cluster.status.switchover);
	assert_int_equal(back.cluster.status.switchover->phase, SWITCHOVER_PHASE_CATCHING_UP);
	assert_string_equal(back.cluster.status.switchover->target_db_uid, "db1");
	assert_int_equal(back.cluster.status.switchover->timeout_ms, 30000);
	assert_int_equal(back.cluster.status.switchover->master_lsn, 0x16B374D848ULL);
	free(again);
	cluster_data_finish(&back);

	/* strict: an unknown phase, a missing fromDbUid, an unknown field are refused, naming the path */
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	json_object_set_new(json_object_get(json_object_get(json_object_get(doc, "cluster"), "status"), "switchover"),
						"phase", json_string("dancing"));
	assert_false(cluster_data_from_json(doc, &back, err, sizeof(err)));
	assert_non_null(strstr(err, "cluster.status.switchover.phase"));
	json_object_del(json_object_get(json_object_get(json_object_get(doc, "cluster"), "status"), "switchover"),
					"phase");
	json_object_del(json_object_get(json_object_get(json_object_get(doc, "cluster"), "status"), "switchover"),
					"fromDbUid");
	assert_false(cluster_data_from_json(doc, &back, err, sizeof(err)));
	assert_non_null(strstr(err, "fromDbUid"));
	json_object_set_new(json_object_get(json_object_get(json_object_get(doc, "cluster"), "status"), "maintenance"),
						"until", json_string("soon"));
	assert_false(cluster_data_from_json(doc, &back, err, sizeof(err)));
	json_decref(doc);

	/* a deep copy owns its own objects */
	{
		ClusterData copy;

		assert_true(cluster_data_copy(&copy, &cd));
		assert_ptr_not_equal(copy.cluster.status.switchover, cd.cluster.status.switchover);
		assert_string_equal(copy.cluster.status.maintenance->by, "ops@db1");
		cluster_data_finish(&copy);
	}
	free(text);
	cluster_data_finish(&back);
	cluster_data_finish(&cd);
}

static void
test_decode_normalizes_to_canonical_form(void **state)
{
	static const char text[] =
		"{ \"proxy\": {\"spec\": {\"enabledProxies\": [], \"masterDbUid\": \"\"}, \"generation\": 1},\n"
		"  \"dbs\": {\"b\": {\"status\": {\"xLogPos\": \"16/b374d848\"}, \"spec\": {\"requestTimeout\": \"2000ms\"}},\n"
		"           \"a\": {\"changeTime\": \"2023-11-14T23:13:20.123456+01:00\"}},\n"
		"  \"cluster\": {\"spec\": {\"initMode\": \"new\", \"sleepInterval\": \"1000ms\"}, \"uid\": \"c1\"},\n"
		"  \"formatVersion\": 1 }";
	ClusterData cd;
	ClusterData back;
	char		err[512] = "";
	char	   *canonical;
	char	   *again;
	json_t	   *doc;

	(void) state;
	if (!cluster_data_decode(text, sizeof(text) - 1, &cd, err, sizeof(err)))
		fail_msg("decode: %s", err);
	canonical = cluster_data_encode(&cd, false);
	doc = test_json_parse(canonical);
	/* dbs in uid order, times in UTC milliseconds, durations and LSNs in one form; the sparse spec as written */
	assert_non_null(strstr(canonical, "\"dbs\":{\"a\":{\"changeTime\":\"2023-11-14T22:13:20.123Z\""));
	assert_non_null(strstr(canonical, "\"requestTimeout\":\"2s\""));
	assert_non_null(strstr(canonical, "\"xLogPos\":\"16/B374D848\""));
	assert_non_null(strstr(canonical, "\"spec\":{\"initMode\":\"new\",\"sleepInterval\":\"1000ms\"}"));
	assert_string_equal(cd.dbs[0]->uid, "a");
	assert_string_equal(cd.dbs[1]->uid, "b");

	assert_true(cluster_data_decode(canonical, strlen(canonical), &back, err, sizeof(err)));
	again = cluster_data_encode(&back, false);
	assert_string_equal(canonical, again);

	free(canonical);
	free(again);
	json_decref(doc);
	cluster_data_finish(&cd);
	cluster_data_finish(&back);
}

#define TS "\"2023-11-14T22:13:20.123Z\""
static const char base_doc[] =
	"{\"formatVersion\":1,\"changeTime\":" TS ","
	"\"cluster\":{\"uid\":\"c1\",\"generation\":1,\"changeTime\":" TS ",\"spec\":{\"initMode\":\"new\"},"
	"\"status\":{\"currentGeneration\":1,\"phase\":\"normal\",\"master\":\"abc123\"}},"
	"\"keepers\":{\"k1\":{\"generation\":1,\"changeTime\":" TS ",\"status\":{\"healthy\":true,"
	"\"postgresBinaryVersion\":{\"maj\":15,\"min\":4}}}},"
	"\"dbs\":{\"abc123\":{\"generation\":2,\"changeTime\":" TS ",\"spec\":{\"keeperUID\":\"k1\",\"role\":\"master\"},"
	"\"status\":{\"timelinesHistory\":[{\"timelineID\":1,\"switchPoint\":\"0/3000060\",\"reason\":\"r\"}]}}},"
	"\"proxy\":{\"generation\":1,\"changeTime\":" TS ",\"spec\":{\"masterDbUid\":\"abc123\"}}}";

typedef struct RejectCase
{
	const char *patch;			/* merged into base_doc (RFC 7386) */
	const char *error;
} RejectCase;

static const RejectCase reject_cases[] = {
	{"{\"formatVersion\":2}", "formatVersion: unsupported format version 2 (this release reads version 1)"},
	{"{\"formatVersion\":2,\"newThing\":{}}",
	"formatVersion: unsupported format version 2 (this release reads version 1)"},
	{"{\"formatVersion\":\"1\"}", "formatVersion: expected an integer, got string"},
	{"{\"formatVersion\":null}", "clusterdata: missing field \"formatVersion\""},
	{"{\"cluster\":null}", "clusterdata: missing field \"cluster\""},
	{"{\"proxy\":null}", "clusterdata: missing field \"proxy\""},
	{"{\"extra\":1}", "clusterdata: unknown field \"extra\""},
	{"{\"changeTime\":\"yesterday\"}",
	"changeTime: expected an RFC 3339 time like \"2024-01-02T03:04:05.678Z\", got \"yesterday\""},
	{"{\"cluster\":{\"leader\":\"x\"}}", "cluster: unknown field \"leader\""},
	{"{\"cluster\":{\"uid\":null}}", "cluster: missing field \"uid\""},
	{"{\"cluster\":{\"uid\":\"\"}}", "cluster.uid: must not be empty"},
	{"{\"cluster\":{\"spec\":null}}", "cluster: missing field \"spec\""},
	{"{\"cluster\":{\"generation\":-1}}", "cluster.generation: must not be negative"},
	{"{\"cluster\":{\"status\":{\"phase\":\"running\"}}}",
	"cluster.status.phase: unknown value \"running\" (expected initializing or normal)"},
	{"{\"cluster\":{\"status\":{\"masterDb\":\"x\"}}}", "cluster.status: unknown field \"masterDb\""},
	{"{\"cluster\":{\"spec\":{\"maxStandbys\":\"20\"}}}", "cluster.spec.maxStandbys: expected an integer, got string"},
	{"{\"cluster\":{\"spec\":{\"failInterval\":\"1s\"}}}",
	"cluster.spec.failInterval: must be greater than sleepInterval (1s)"},
	{"{\"cluster\":{\"spec\":{\"failIntervl\":\"3s\"}}}", "cluster.spec: unknown field \"failIntervl\""},
	{"{\"cluster\":{\"spec\":{\"initMode\":null}}}", "cluster.spec.initMode: required (new, existing or pitr)"},
	{"{\"cluster\":{\"spec\":[]}}", "cluster.spec: expected an object, got array"},
	{"{\"keepers\":{\"Keeper-A\":{}}}",
	"keepers: invalid keeper uid \"Keeper-A\" (expected ^[a-z0-9_]+$, at most 63 characters)"},
	{"{\"keepers\":[]}", "keepers: expected an object, got array"},
	{"{\"keepers\":{\"k1\":{\"status\":{\"healthy\":\"true\"}}}}",
	"keepers.k1.status.healthy: expected true or false, got string"},
	{"{\"keepers\":{\"k1\":{\"status\":{\"postgresBinaryVersion\":{\"patch\":1}}}}}",
	"keepers.k1.status.postgresBinaryVersion: unknown field \"patch\""},
	{"{\"keepers\":{\"k1\":{\"uid\":\"k1\"}}}", "keepers.k1: unknown field \"uid\""},
	{"{\"keepers\":{\"k1\":{\"status\":{\"bootUUID\":"
		"\"0123456789012345678901234567890123456789012345678901234567890123\"}}}}",
	"keepers.k1.status.bootUUID: too long (at most 63 characters)"},
	{"{\"dbs\":{\"abc123\":{\"spec\":{\"role\":\"boss\"}}}}",
	"dbs.abc123.spec.role: unknown value \"boss\" (expected master or standby)"},
	{"{\"dbs\":{\"abc123\":{\"spec\":{\"initMode\":\"bogus\"}}}}",
	"dbs.abc123.spec.initMode: unknown value \"bogus\" (expected none, new, existing, pitr or resync)"},
	{"{\"dbs\":{\"abc123\":{\"spec\":{\"role\":1}}}}", "dbs.abc123.spec.role: expected a string, got integer"},
	{"{\"dbs\":{\"abc123\":{\"spec\":{\"followConfig\":{\"dbuid\":\"x\"}}}}}",
	"dbs.abc123.spec.followConfig: unknown field \"dbuid\""},
	{"{\"dbs\":{\"abc123\":{\"spec\":{\"followConfig\":{\"type\":\"upstream\"}}}}}",
	"dbs.abc123.spec.followConfig.type: unknown value \"upstream\" (expected internal or external)"},
	{"{\"dbs\":{\"abc123\":{\"spec\":{\"followers\":[\"db1\",\"DB2\"]}}}}",
	"dbs.abc123.spec.followers[1]: invalid uid \"DB2\" (expected ^[a-z0-9_]+$, at most 63 characters)"},
	{"{\"dbs\":{\"abc123\":{\"spec\":{\"keeperUID\":\"k 1\"}}}}",
	"dbs.abc123.spec.keeperUID: invalid uid \"k 1\" (expected ^[a-z0-9_]+$, at most 63 characters)"},
	{"{\"dbs\":{\"abc123\":{\"spec\":{\"requestTimeout\":\"10\"}}}}",
	"dbs.abc123.spec.requestTimeout: expected a duration like \"5s\", got \"10\": missing unit (h, m, s, ms, us or ns)"},
	{"{\"dbs\":{\"abc123\":{\"spec\":{\"pgHBA\":\"host all all 0.0.0.0/0 md5\"}}}}",
	"dbs.abc123.spec.pgHBA: expected an array, got string"},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"port\":70000}}}}", "dbs.abc123.status.port: must be between 0 and 65535"},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"port\":-1}}}}", "dbs.abc123.status.port: must not be negative"},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"timelineID\":4294967296}}}}",
	"dbs.abc123.status.timelineID: must be between 0 and 4294967295"},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"xLogPos\":\"zz\"}}}}",
	"dbs.abc123.status.xLogPos: expected an LSN like \"0/3000060\", got \"zz\""},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"xLogPos\":\"1/123456789\"}}}}",
	"dbs.abc123.status.xLogPos: expected an LSN like \"0/3000060\", got \"1/123456789\""},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"xLogPos\":123}}}}",
	"dbs.abc123.status.xLogPos: expected an LSN like \"0/3000060\", got integer"},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"timelinesHistory\":[{\"timelineID\":1,\"switchPoint\":\"0/1\"},"
		"{\"timelineID\":2,\"switchPoint\":\"0/\"}]}}}}",
	"dbs.abc123.status.timelinesHistory[1].switchPoint: expected an LSN like \"0/3000060\", got \"0/\""},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"timelinesHistory\":[{\"tli\":1}]}}}}",
	"dbs.abc123.status.timelinesHistory[0]: unknown field \"tli\""},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"timelinesHistory\":[7]}}}}",
	"dbs.abc123.status.timelinesHistory[0]: expected an object, got integer"},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"pgParameters\":{\"work_mem\":8}}}}}",
	"dbs.abc123.status.pgParameters.work_mem: expected a string, got integer"},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"systemID\":true}}}}", "dbs.abc123.status.systemID: expected a string, got boolean"},
	{"{\"dbs\":{\"abc123\":{\"generation\":1.0}}}", "dbs.abc123.generation: expected an integer, got real"},
	{"{\"dbs\":{\"abc123\":{\"status\":{\"synchronousStandbys\":[\"a\",null]}}}}",
	"dbs.abc123.status.synchronousStandbys[1]: expected a uid string, got null"},
	{"{\"proxy\":{\"spec\":{\"roDbUids\":[\"ok\",\"not-ok\"]}}}",
	"proxy.spec.roDbUids[1]: invalid uid \"not-ok\" (expected ^[a-z0-9_]+$, at most 63 characters)"},
	{"{\"proxy\":{\"status\":{}}}", "proxy: unknown field \"status\""},
	{"{\"proxy\":{\"spec\":{\"masterDbUid\":7}}}", "proxy.spec.masterDbUid: expected a uid string, got integer"},
};

static void
test_rejections_name_the_field(void **state)
{
	json_t	   *base = test_json_parse(base_doc);
	ClusterData cd;
	char		err[512] = "";

	(void) state;
	/* the base itself is valid */
	if (!cluster_data_decode(base_doc, sizeof(base_doc) - 1, &cd, err, sizeof(err)))
		fail_msg("base: %s", err);
	cluster_data_finish(&cd);

	for (size_t i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]); i++)
	{
		const RejectCase *c = &reject_cases[i];
		json_t	   *patch = test_json_parse(c->patch);
		json_t	   *doc = json_merge_patch(base, patch);
		char	   *text = json_dumps(doc, 0);

		err[0] = '\0';
		if (cluster_data_decode(text, strlen(text), &cd, err, sizeof(err)))
			fail_msg("case %zu %s: accepted, want \"%s\"", i, c->patch, c->error);
		if (strcmp(err, c->error) != 0)
			fail_msg("case %zu %s:\n got: %s\nwant: %s", i, c->patch, err, c->error);
		/* nothing is left behind in a refused decode */
		assert_int_equal(cd.keeper_count, 0);
		assert_int_equal(cd.db_count, 0);
		assert_null(cd.cluster.spec_sparse);
		cluster_data_finish(&cd);
		free(text);
		json_decref(doc);
		json_decref(patch);
	}
	json_decref(base);
}

static const RejectCase raw_reject_cases[] = {
	{"", "clusterdata: invalid JSON at line 1 column 0: '[' or '{' expected near end of file"},
	{"{\"formatVersion\":1,", "clusterdata: invalid JSON at line 1 column 19: string or '}' expected near end of file"},
	{"[1]", "clusterdata: expected an object, got array"},
	{"{\"formatVersion\":1,\"formatVersion\":1}",
	"clusterdata: invalid JSON at line 1 column 34: duplicate object key near '\"formatVersion\"'"},
	{"{\"formatVersion\":1,\"proxy\":null}", "proxy: expected an object, got null"},
	{"{\"formatVersion\":1,\"cluster\":{\"uid\":\"a\\u0000b\"}}",
	"clusterdata: invalid JSON at line 1 column 46: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"'"},
	{"{\"formatVersion\":1,\"keepers\":{\"k1\":null}}", "keepers.k1: expected an object, got null"},
	{"{\"formatVersion\":1e0}", "formatVersion: expected an integer, got real"},
	{"{\"formatVersion\":99999999999999999999}",
	"clusterdata: invalid JSON at line 1 column 37: too big integer near '99999999999999999999'"},
	{"{\"formatVersion\":1,\"bad\x01key\":1}",
	"clusterdata: invalid JSON at line 1 column 23: control character 0x1 near '\"bad'"},
	{"{\"formatVersion\":1,\"\xff\":1}", "clusterdata: invalid JSON at line 1 column 20: unable to decode byte 0xff near '\"'"},
};

static void
test_raw_rejections(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(raw_reject_cases) / sizeof(raw_reject_cases[0]); i++)
	{
		const RejectCase *c = &raw_reject_cases[i];
		ClusterData cd;
		char		err[512] = "";

		if (cluster_data_decode(c->patch, strlen(c->patch), &cd, err, sizeof(err)))
			fail_msg("case %zu: accepted", i);
		if (strcmp(err, c->error) != 0)
			fail_msg("case %zu:\n got: %s\nwant: %s", i, err, c->error);
		cluster_data_finish(&cd);
	}
}

static void
test_oversize_document_is_refused_before_parsing(void **state)
{
	size_t		n = CLUSTER_JSON_MAX_TEXT + 1;
	char	   *big = malloc(n);
	ClusterData cd;
	char		err[512];

	(void) state;
	memset(big, ' ', n);
	assert_false(cluster_data_decode(big, n, &cd, err, sizeof(err)));
	assert_string_equal(err, "clusterdata: document too large (2097153 bytes, at most 2097152)");
	assert_false(cluster_data_decode(NULL, 0, &cd, err, sizeof(err)));
	free(big);
}

static void
test_error_buffer_may_be_small_or_absent(void **state)
{
	ClusterData cd;
	char		err[8];

	(void) state;
	assert_false(cluster_data_decode("{\"formatVersion\":2}", 19, &cd, err, sizeof(err)));
	assert_string_equal(err, "formatV");
	assert_false(cluster_data_decode("{\"formatVersion\":2}", 19, &cd, NULL, 0));
	assert_false(cluster_data_decode("{", 1, &cd, NULL, 0));
}

/* ---- reports ---- */

static void
test_keeper_info_round_trips(void **state)
{
	KeeperInfo ki;
	KeeperInfo back;
	KeeperInfo copy;
	char	   *text;
	char	   *again;
	char		err[512] = "";

	(void) state;
	keeper_info_init(&ki);
	snprintf(ki.info_uid, sizeof(ki.info_uid), "1e5b7c2a");
	snprintf(ki.uid, sizeof(ki.uid), "keeper_0");
	snprintf(ki.cluster_uid, sizeof(ki.cluster_uid), "c0ffee01");
	snprintf(ki.boot_uuid, sizeof(ki.boot_uuid), "6f1c3e0a-8d1b-4a57-9c0e-000000000001");
	ki.postgres_binary_version.major = 15;
	ki.postgres_binary_version.minor = 4;
	ki.can_be_synchronous_replica = false;
	ki.postgres_state = postgres_state_new();
	snprintf(ki.postgres_state->uid, sizeof(ki.postgres_state->uid), "db0");
	ki.postgres_state->generation = 3;
	snprintf(ki.postgres_state->listen_address, sizeof(ki.postgres_state->listen_address), "10.0.0.10");
	ki.postgres_state->port = 5432;
	ki.postgres_state->healthy = true;
	snprintf(ki.postgres_state->system_id, sizeof(ki.postgres_state->system_id), "7301234567890123456");
	ki.postgres_state->timeline_id = 2;
	ki.postgres_state->xlog_pos = UINT64_MAX;
	assert_true(timelines_history_append(&ki.postgres_state->timelines_history, 1, 0x3000060, "promoted"));
	assert_true(pg_parameters_set(&ki.postgres_state->pg_parameters, "work_mem", "8MB"));
	assert_true(string_list_append(&ki.postgres_state->synchronous_standbys, "db1"));
	snprintf(ki.postgres_state->older_wal_file, sizeof(ki.postgres_state->older_wal_file),
			 "000000020000000000000003");

	text = keeper_info_encode(&ki);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"xLogPos\":\"FFFFFFFF/FFFFFFFF\""));
	if (!keeper_info_decode(text, strlen(text), &back, err, sizeof(err)))
		fail_msg("decode: %s", err);
	again = keeper_info_encode(&back);
	assert_string_equal(text, again);
	assert_int_equal(back.postgres_state->xlog_pos, UINT64_MAX);
	assert_false(back.can_be_synchronous_replica);
	assert_true(back.can_be_master);
	assert_string_equal(back.postgres_state->timelines_history.items[0].reason, "promoted");
	assert_true(keeper_info_copy(&copy, &back));
	assert_ptr_not_equal(copy.postgres_state, back.postgres_state);
	free(again);
	again = keeper_info_encode(&copy);
	assert_string_equal(text, again);
	free(again);
	free(text);
	keeper_info_finish(&copy);
	keeper_info_finish(&back);

	/* a keeper without a DB reports no postgresState at all */
	postgres_state_free(ki.postgres_state);
	ki.postgres_state = NULL;
	text = keeper_info_encode(&ki);
	assert_null(strstr(text, "postgresState"));
	assert_true(keeper_info_decode(text, strlen(text), &back, err, sizeof(err)));
	assert_null(back.postgres_state);
	keeper_info_finish(&back);
	free(text);
	keeper_info_finish(&ki);
}

static void
test_sentinel_and_proxy_info_round_trip(void **state)
{
	SentinelInfo si = {"5e9d1f20", "a1b2c3d4"};
	SentinelInfo si_back;
	ProxyInfo	pi = {"77aa88bb", "e5f6a7b8", 12, 3000};
	ProxyInfo	pi_back;
	char	   *text;
	char		err[512];

	(void) state;
	text = sentinel_info_encode(&si);
	assert_string_equal(text, "{\"infoUID\":\"5e9d1f20\",\"uid\":\"a1b2c3d4\"}");
	assert_true(sentinel_info_decode(text, strlen(text), &si_back, err, sizeof(err)));
	assert_string_equal(si_back.uid, "a1b2c3d4");
	assert_string_equal(si_back.info_uid, "5e9d1f20");
	free(text);

	text = proxy_info_encode(&pi);
	assert_string_equal(text, "{\"generation\":12,\"infoUID\":\"77aa88bb\",\"proxyTimeout\":\"3s\",\"uid\":\"e5f6a7b8\"}");
	assert_true(proxy_info_decode(text, strlen(text), &pi_back, err, sizeof(err)));
	assert_int_equal(pi_back.generation, 12);
	assert_int_equal(pi_back.proxy_timeout_ms, 3000);
	assert_string_equal(pi_back.uid, "e5f6a7b8");
	free(text);
}

static void
test_report_rejections(void **state)
{
	KeeperInfo ki;
	SentinelInfo si;
	ProxyInfo	pi;
	char		err[512];

#define KEEPER_OK "\"infoUID\":\"i1\",\"uid\":\"k1\""
	static const RejectCase keeper_cases[] = {
		{"{" KEEPER_OK ",\"postgresState\":{\"xlogPos\":\"0/1\"}}",
		"postgresState: unknown field \"xlogPos\""},
		{"{" KEEPER_OK ",\"postgresState\":{\"port\":\"5432\"}}",
		"postgresState.port: expected an integer, got string"},
		{"{" KEEPER_OK ",\"postgresState\":null}", "postgresState: expected an object, got null"},
		{"{" KEEPER_OK ",\"canBeMaster\":1}", "canBeMaster: expected true or false, got integer"},
		{"{\"infoUID\":\"i1\"}", "keeperinfo: missing field \"uid\""},
		{"{\"uid\":\"k1\",\"infoUID\":\"\"}", "infoUID: must not be empty"},
		{"{" KEEPER_OK ",\"UID\":\"k1\"}", "keeperinfo: unknown field \"UID\""},
		{"{\"infoUID\":\"i1\",\"uid\":\"K1\"}",
		"uid: invalid uid \"K1\" (expected ^[a-z0-9_]+$, at most 63 characters)"},
		{"[]", "keeperinfo: expected an object, got array"},
	};
	static const RejectCase sentinel_cases[] = {
		{"{\"uid\":\"s1\"}", "sentinelinfo: missing field \"infoUID\""},
		{"{\"uid\":\"s1\",\"infoUID\":\"i\",\"leader\":true}", "sentinelinfo: unknown field \"leader\""},
	};
	static const RejectCase proxy_cases[] = {
		{"{\"uid\":\"p1\",\"infoUID\":\"i\",\"proxyTimeout\":15000000000}",
		"proxyTimeout: expected a duration like \"5s\", got integer"},
		{"{\"uid\":\"p1\",\"infoUID\":\"i\",\"generation\":-2}", "generation: must not be negative"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(keeper_cases) / sizeof(keeper_cases[0]); i++)
	{
		if (keeper_info_decode(keeper_cases[i].patch, strlen(keeper_cases[i].patch), &ki, err, sizeof(err)))
			fail_msg("keeper case %zu accepted", i);
		if (strcmp(err, keeper_cases[i].error) != 0)
			fail_msg("keeper case %zu:\n got: %s\nwant: %s", i, err, keeper_cases[i].error);
		assert_null(ki.postgres_state);
	}
	for (size_t i = 0; i < sizeof(sentinel_cases) / sizeof(sentinel_cases[0]); i++)
	{
		assert_false(sentinel_info_decode(sentinel_cases[i].patch, strlen(sentinel_cases[i].patch), &si, err,
										  sizeof(err)));
		assert_string_equal(err, sentinel_cases[i].error);
	}
	for (size_t i = 0; i < sizeof(proxy_cases) / sizeof(proxy_cases[0]); i++)
	{
		assert_false(proxy_info_decode(proxy_cases[i].patch, strlen(proxy_cases[i].patch), &pi, err, sizeof(err)));
		assert_string_equal(err, proxy_cases[i].error);
	}
}

/* ---- the model ---- */

/* cluster_data_equal (field tables, no encoding) agrees with comparing the encoded documents. */
static void
expect_equal_as_encoded(const ClusterData *a, const ClusterData *b, bool want, const char *what)
{
	char	   *ea = cluster_data_encode(a, false);
	char	   *eb = cluster_data_encode(b, false);

	assert_non_null(ea);
	assert_non_null(eb);
	if ((strcmp(ea, eb) == 0) != want || cluster_data_equal(a, b) != want)
		fail_msg("%s: encoded equal %d, cluster_data_equal %d, want %d", what, strcmp(ea, eb) == 0,
				 cluster_data_equal(a, b), want);
	free(ea);
	free(eb);
}

static void
test_cluster_data_equal_agrees_with_the_encoding(void **state)
{
	ClusterData cd;
	ClusterData c;
	json_t	   *patch = test_json_parse("{\"maxStandbys\":5}");
	char		err[512];

	(void) state;
	build_full(&cd);
	assert_true(cluster_data_copy(&c, &cd));
	expect_equal_as_encoded(&cd, &c, true, "a copy");
	/* one change of each kind of field, each on a fresh copy */
#define MUTATE(what, stmt) \
	do { \
		cluster_data_finish(&c); \
		assert_true(cluster_data_copy(&c, &cd)); \
		stmt; \
		expect_equal_as_encoded(&cd, &c, false, what); \
	} while (0)
	MUTATE("a list", assert_true(string_list_append(&cluster_data_find_db(&c, "db0")->spec.followers, "db9")));
	MUTATE("a parameter", assert_true(pg_parameters_set(&cluster_data_find_db(&c, "db0")->status.pg_parameters,
														"work_mem", "1GB")));
	MUTATE("an LSN", cluster_data_find_db(&c, "db1")->status.xlog_pos++);
	MUTATE("a bool", cluster_data_find_keeper(&c, "k0")->status.healthy = false);
	MUTATE("a string", snprintf(cluster_data_find_keeper(&c, "k0")->status.boot_uuid, UID_SIZE, "other"));
	MUTATE("a time", c.cluster.change_time_ms++);
	MUTATE("the sparse spec", assert_true(cluster_data_patch_spec(&c, patch, err, sizeof(err))));
	MUTATE("a keeper fewer", assert_true(cluster_data_remove_keeper(&c, "k1")));
	MUTATE("a db more", assert_non_null(cluster_data_add_db(&c, "db3")));
	MUTATE("an optional object", {
		PitrConfig *pc = cluster_data_find_db(&c, "db2")->spec.pitr_config;

		free(pc->archive_recovery_settings->restore_command);
		set_text(&pc->archive_recovery_settings->restore_command, "changed");
	});
	MUTATE("the proxy", c.proxy.generation++);
#undef MUTATE
	json_decref(patch);
	cluster_data_finish(&c);
	cluster_data_finish(&cd);
}

static void
test_copy_is_deep_and_independent(void **state)
{
	ClusterData cd;
	ClusterData copy;
	char	   *before;
	char	   *after;
	char	   *copied;
	json_t	   *patch = test_json_parse("{\"maxStandbys\":5}");
	char		err[512];
	Db		   *db;

	(void) state;
	build_full(&cd);
	before = cluster_data_encode(&cd, false);
	assert_true(cluster_data_copy(&copy, &cd));
	copied = cluster_data_encode(&copy, false);
	assert_string_equal(before, copied);

	/* the planner's copy-then-modify leaves the original as it was */
	db = cluster_data_find_db(&copy, "db0");
	assert_ptr_not_equal(db, cluster_data_find_db(&cd, "db0"));
	assert_true(string_list_append(&db->spec.followers, "db9"));
	assert_true(pg_parameters_set(&db->status.pg_parameters, "work_mem", "1GB"));
	{
		ArchiveRecoverySettings *ars = cluster_data_find_db(&copy, "db2")->spec.pitr_config->archive_recovery_settings;

		free(ars->restore_command);
		set_text(&ars->restore_command, "changed");
	}
	assert_true(cluster_data_remove_keeper(&copy, "k1"));
	assert_non_null(cluster_data_add_db(&copy, "db3"));
	assert_true(cluster_data_patch_spec(&copy, patch, err, sizeof(err)));
	assert_true(string_list_append(&copy.proxy.spec.ro_db_uids, "db2"));
	after = cluster_data_encode(&cd, false);
	assert_string_equal(before, after);
	assert_int_equal(cd.cluster.spec.max_standbys, 20);
	assert_int_equal(copy.cluster.spec.max_standbys, 5);

	free(before);
	free(after);
	free(copied);
	json_decref(patch);
	cluster_data_finish(&copy);
	cluster_data_finish(&cd);
}

static void
test_lookups_keep_uid_order(void **state)
{
	ClusterData cd;
	Keeper	   *kb;

	(void) state;
	cluster_data_init(&cd);
	kb = cluster_data_add_keeper(&cd, "kb");
	assert_non_null(kb);
	assert_non_null(cluster_data_add_keeper(&cd, "kc"));
	assert_non_null(cluster_data_add_keeper(&cd, "ka"));
	assert_null(cluster_data_add_keeper(&cd, "kb"));
	assert_null(cluster_data_add_keeper(&cd, "Bad-Uid"));
	assert_null(cluster_data_add_keeper(&cd, ""));
	assert_int_equal(cd.keeper_count, 3);
	assert_string_equal(cd.keepers[0]->uid, "ka");
	assert_string_equal(cd.keepers[1]->uid, "kb");
	assert_string_equal(cd.keepers[2]->uid, "kc");
	/* a found object stays valid while others come and go */
	assert_ptr_equal(cluster_data_find_keeper(&cd, "kb"), kb);
	assert_true(cluster_data_remove_keeper(&cd, "ka"));
	assert_non_null(cluster_data_add_keeper(&cd, "k0"));
	assert_ptr_equal(cluster_data_find_keeper(&cd, "kb"), kb);
	assert_null(cluster_data_find_keeper(&cd, "ka"));
	assert_false(cluster_data_remove_keeper(&cd, "ka"));
	assert_true(kb->status.can_be_master);

	assert_non_null(cluster_data_add_db(&cd, "d2"));
	assert_non_null(cluster_data_add_db(&cd, "d1"));
	snprintf(cluster_data_find_db(&cd, "d2")->spec.keeper_uid, UID_SIZE, "kb");
	assert_string_equal(cluster_data_find_db_by_keeper(&cd, "kb")->uid, "d2");
	assert_null(cluster_data_find_db_by_keeper(&cd, "kc"));
	assert_null(cluster_data_master_db(&cd));
	snprintf(cd.cluster.status.master, UID_SIZE, "d1");
	assert_string_equal(cluster_data_master_db(&cd)->uid, "d1");
	snprintf(cd.cluster.status.master, UID_SIZE, "gone");
	assert_null(cluster_data_master_db(&cd));
	assert_true(cluster_data_remove_db(&cd, "d1"));
	assert_true(cluster_data_remove_db(&cd, "d2"));
	assert_int_equal(cd.db_count, 0);
	assert_null(cd.dbs);
	cluster_data_finish(&cd);
}

static void
test_db_spec_equal_sees_every_change(void **state)
{
	ClusterData cd;
	DbSpec		a;
	DbSpec		b;
	const DbSpec *orig;

	(void) state;
	build_full(&cd);
	orig = &cluster_data_find_db(&cd, "db2")->spec;
	assert_true(db_spec_copy(&a, orig));
	assert_true(db_spec_equal(&a, orig));

	assert_true(db_spec_copy(&b, &a));
	b.follow_config->standby_settings->recovery_min_apply_delay = strdup("5min");
	assert_false(db_spec_equal(&a, &b));
	db_spec_finish(&b);

	assert_true(db_spec_copy(&b, &a));
	b.request_timeout_ms++;
	assert_false(db_spec_equal(&a, &b));
	db_spec_finish(&b);

	assert_true(db_spec_copy(&b, &a));
	b.pg_hba = calloc(1, sizeof(StringList));
	assert_false(db_spec_equal(&a, &b));
	db_spec_finish(&b);

	db_spec_finish(&a);
	cluster_data_finish(&cd);
}

static void
test_string_list_and_parameters(void **state)
{
	StringList	l;
	PgParameters p;
	PgParameters q;

	(void) state;
	string_list_init(&l);
	add_strings(&l, (const char *const[]) {"c", "a", "b", "a", NULL});
	string_list_sort(&l);
	assert_string_equal(l.items[0], "a");
	assert_string_equal(l.items[3], "c");
	assert_int_equal(string_list_remove(&l, "a"), 2);
	assert_int_equal(l.count, 2);
	assert_true(string_list_contains(&l, "b"));
	assert_false(string_list_contains(&l, "a"));
	string_list_finish(&l);

	pg_parameters_init(&p);
	assert_true(pg_parameters_set(&p, "b", "1"));
	assert_true(pg_parameters_set(&p, "a", "2"));
	assert_true(pg_parameters_set(&p, "c", "3"));
	assert_true(pg_parameters_set(&p, "b", "4"));
	assert_int_equal(p.count, 3);
	assert_string_equal(p.items[0].name, "a");
	assert_string_equal(pg_parameters_get(&p, "b"), "4");
	assert_null(pg_parameters_get(&p, "d"));
	assert_true(pg_parameters_copy(&q, &p));
	assert_true(pg_parameters_equal(&p, &q));
	assert_true(pg_parameters_remove(&q, "a"));
	assert_false(pg_parameters_remove(&q, "a"));
	assert_false(pg_parameters_equal(&p, &q));
	pg_parameters_finish(&p);
	pg_parameters_finish(&q);
}

static void
test_enum_names_round_trip(void **state)
{
	InitMode	m;
	DbRole		r;
	ClusterPhase ph;
	FollowType	ft;
	SuReplAccessMode sm;
	ClusterRole cr;

	(void) state;
	for (int v = INIT_MODE_NONE; v <= INIT_MODE_RESYNC; v++)
	{
		assert_true(init_mode_from_string(init_mode_to_string((InitMode) v), &m));
		assert_int_equal(m, v);
	}
	assert_true(db_role_from_string("standby", &r));
	assert_int_equal(r, DB_ROLE_STANDBY);
	assert_false(db_role_from_string("Standby", &r));
	assert_false(db_role_from_string(NULL, &r));
	assert_true(cluster_phase_from_string("initializing", &ph));
	assert_int_equal(ph, CLUSTER_PHASE_INITIALIZING);
	assert_true(follow_type_from_string("external", &ft));
	assert_int_equal(ft, FOLLOW_TYPE_EXTERNAL);
	assert_true(su_repl_access_mode_from_string("strict", &sm));
	assert_int_equal(sm, SU_REPL_ACCESS_STRICT);
	assert_true(cluster_role_from_string("standby", &cr));
	assert_int_equal(cr, CLUSTER_ROLE_STANDBY);
	assert_string_equal(init_mode_to_string((InitMode) 99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_cluster_data_matches_golden_file),
		cmocka_unit_test(test_full_cluster_data_round_trips),
		cmocka_unit_test(test_maintenance_and_switchover_round_trip),
		cmocka_unit_test(test_decode_normalizes_to_canonical_form),
		cmocka_unit_test(test_rejections_name_the_field),
		cmocka_unit_test(test_raw_rejections),
		cmocka_unit_test(test_oversize_document_is_refused_before_parsing),
		cmocka_unit_test(test_error_buffer_may_be_small_or_absent),
		cmocka_unit_test(test_keeper_info_round_trips),
		cmocka_unit_test(test_sentinel_and_proxy_info_round_trip),
		cmocka_unit_test(test_report_rejections),
		cmocka_unit_test(test_copy_is_deep_and_independent),
		cmocka_unit_test(test_cluster_data_equal_agrees_with_the_encoding),
		cmocka_unit_test(test_lookups_keep_uid_order),
		cmocka_unit_test(test_db_spec_equal_sees_every_change),
		cmocka_unit_test(test_string_list_and_parameters),
		cmocka_unit_test(test_enum_names_round_trip),
	};

	return cmocka_run_group_tests_name("cluster_json", tests, NULL, NULL);
}
