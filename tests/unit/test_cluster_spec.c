/*
 * tests/unit/test_cluster_spec.c
 *    The cluster spec as an operator meets it: the defaults, every validation rule with the exact message it
 *    gives, strict decoding, the sparse spec staying sparse when stored, and which updates are refused.
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


/* base + patch (RFC 7386), as a new sparse spec. */
static json_t *
spec_with(const char *base, const char *patch)
{
	json_t	   *b = test_json_parse(base);
	json_t	   *p = test_json_parse(patch);
	json_t	   *s = json_merge_patch(b, p);

	json_decref(b);
	json_decref(p);
	assert_non_null(s);
	return s;
}

#define BASE "{\"initMode\":\"new\"}"
#define PITR "{\"initMode\":\"pitr\",\"pitrConfig\":{\"dataRestoreCommand\":\"cp -a /backup/. %d\"}}"
#define STANDBY_CONFIG "\"standbyConfig\":{\"standbySettings\":{\"primaryConninfo\":\"host=primary.example\"}}"
#define SLOT55 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void
test_defaults_are_for_seconds(void **state)
{
	ClusterSpec s;
	json_t	   *sparse = test_json_parse(BASE);
	char		err[512] = "";

	(void) state;
	assert_true(cluster_spec_decode(sparse, &s, err, sizeof(err)));
	assert_string_equal(err, "");
	assert_int_equal(s.sleep_interval_ms, 1000);
	assert_int_equal(s.request_timeout_ms, 2000);
	assert_int_equal(s.convergence_timeout_ms, 30000);
	assert_int_equal(s.init_timeout_ms, 300000);
	assert_int_equal(s.sync_timeout_ms, 0);
	assert_int_equal(s.db_wait_ready_timeout_ms, 60000);
	assert_int_equal(s.fail_interval_ms, 3000);
	assert_int_equal(s.dead_keeper_removal_interval_ms, 48LL * 3600 * 1000);
	assert_int_equal(s.proxy_check_interval_ms, 1000);
	assert_int_equal(s.proxy_timeout_ms, 3000);
	assert_int_equal(s.max_standbys, 20);
	assert_int_equal(s.max_standbys_per_sender, 3);
	assert_int_equal(s.max_standby_lag, 1048576);
	assert_int_equal(s.max_read_only_lag, 1048576);
	assert_false(s.synchronous_replication);
	assert_int_equal(s.min_synchronous_standbys, 1);
	assert_int_equal(s.max_synchronous_standbys, 1);
	assert_int_equal(s.additional_wal_senders, 5);
	assert_int_equal(s.additional_master_replication_slots.count, 0);
	assert_true(s.use_pg_rewind);
	assert_int_equal(s.init_mode, INIT_MODE_NEW);
	assert_true(s.merge_pg_parameters);
	assert_int_equal(s.role, CLUSTER_ROLE_MASTER);
	assert_null(s.new_config);
	assert_null(s.pitr_config);
	assert_null(s.existing_config);
	assert_null(s.standby_config);
	assert_int_equal(s.default_su_repl_access_mode, SU_REPL_ACCESS_ALL);
	assert_int_equal(s.pg_parameters.count, 0);
	assert_null(s.pg_hba);
	assert_false(s.automatic_pg_restart);
	cluster_spec_finish(&s);
	json_decref(sparse);
}

static void
test_defaults_fit_the_failover_budget(void **state)
{
	ClusterSpec s;

	(void) state;
	/* docs/design.md section 4: detection + one sentinel pass + one keeper pass + the proxies' check within 6 s */
	cluster_spec_defaults(&s);
	assert_true(s.fail_interval_ms + 2 * s.sleep_interval_ms + s.proxy_check_interval_ms <= 6000);
	cluster_spec_finish(&s);
}

static void
test_read_only_lag_follows_standby_lag_unless_set(void **state)
{
	ClusterSpec s;
	json_t	   *a = spec_with(BASE, "{\"maxStandbyLag\":2048}");
	json_t	   *b = spec_with(BASE, "{\"maxStandbyLag\":2048,\"maxReadOnlyLag\":100}");
	char		err[512];

	(void) state;
	assert_true(cluster_spec_decode(a, &s, err, sizeof(err)));
	assert_int_equal(s.max_read_only_lag, 2048);
	cluster_spec_finish(&s);
	assert_true(cluster_spec_decode(b, &s, err, sizeof(err)));
	assert_int_equal(s.max_standby_lag, 2048);
	assert_int_equal(s.max_read_only_lag, 100);
	cluster_spec_finish(&s);
	json_decref(a);
	json_decref(b);
}

typedef struct SpecCase
{
	const char *base;
	const char *patch;
	const char *error;			/* NULL: the spec is valid */
} SpecCase;

static const SpecCase spec_cases[] = {
	/* valid */
	{BASE, "{}", NULL},
	{BASE, "{\"convergenceTimeout\":\"0s\",\"initTimeout\":\"0s\",\"syncTimeout\":\"0s\"}", NULL},
	{BASE, "{\"minSynchronousStandbys\":0}", NULL},
	{BASE, "{\"synchronousReplication\":true,\"minSynchronousStandbys\":2,\"maxSynchronousStandbys\":2}", NULL},
	{BASE, "{\"pgHBA\":null}", NULL},
	{BASE, "{\"pgHBA\":[]}", NULL},
	{BASE, "{\"defaultSUReplAccessMode\":\"strict\"}", NULL},
	{BASE, "{\"additionalMasterReplicationSlots\":[\"backup_tool\",\"" SLOT55 "\" ]}", NULL},
	{BASE, "{\"pgParameters\":{\"wal_level\":\"logical\",\"pg_stat_statements.max\":\"1000\",\"wal_keep_size\":\"1GB\"}}",
	NULL},
	{BASE, "{\"newConfig\":{\"locale\":\"C.UTF-8\",\"encoding\":\"UTF8\",\"dataChecksums\":true}}", NULL},
	{BASE, "{\"initMode\":\"existing\",\"existingConfig\":{\"keeperUID\":\"keeper_1\"}}", NULL},
	{PITR, "{}", NULL},
	{PITR, "{\"role\":\"standby\"," STANDBY_CONFIG "}", NULL},
	{PITR, "{\"role\":\"standby\",\"standbyConfig\":{\"archiveRecoverySettings\":{\"restoreCommand\":\"cp %f %p\"}}}",
	NULL},
	{BASE, "{\"sleepInterval\":\"2s\",\"failInterval\":\"2.001s\"}", NULL},

	/* durations */
	{BASE, "{\"sleepInterval\":\"0s\"}", "spec.sleepInterval: must be greater than 0"},
	{BASE, "{\"requestTimeout\":\"0s\"}", "spec.requestTimeout: must be greater than 0"},
	{BASE, "{\"dbWaitReadyTimeout\":\"0\"}", "spec.dbWaitReadyTimeout: must be greater than 0"},
	{BASE, "{\"deadKeeperRemovalInterval\":\"0s\"}", "spec.deadKeeperRemovalInterval: must be greater than 0"},
	{BASE, "{\"proxyCheckInterval\":\"0s\"}", "spec.proxyCheckInterval: must be greater than 0"},
	{BASE, "{\"proxyTimeout\":\"0s\"}", "spec.proxyTimeout: must be greater than 0"},
	{BASE, "{\"failInterval\":\"0s\"}", "spec.failInterval: must be greater than 0"},
	{BASE, "{\"failInterval\":\"1s\"}", "spec.failInterval: must be greater than sleepInterval (1s)"},
	{BASE, "{\"failInterval\":\"500ms\"}", "spec.failInterval: must be greater than sleepInterval (1s)"},
	{BASE, "{\"sleepInterval\":\"2.5s\",\"failInterval\":\"2s\"}",
	"spec.failInterval: must be greater than sleepInterval (2.5s)"},
	{BASE, "{\"proxyCheckInterval\":\"3s\"}", "spec.proxyCheckInterval: must be less than proxyTimeout (3s)"},
	{BASE, "{\"proxyTimeout\":\"1s\"}", "spec.proxyCheckInterval: must be less than proxyTimeout (1s)"},
	{BASE, "{\"failInterval\":\"-1s\"}",
	"spec.failInterval: expected a duration like \"5s\", got \"-1s\": negative durations are not allowed"},
	{BASE, "{\"failInterval\":5}", "spec.failInterval: expected a duration like \"5s\", got integer"},
	{BASE, "{\"failInterval\":\"5x\"}",
	"spec.failInterval: expected a duration like \"5s\", got \"5x\": unknown unit \"x\" (expected h, m, s, ms, us or ns)"},
	{BASE, "{\"syncTimeout\":\"\"}", "spec.syncTimeout: expected a duration like \"5s\", got \"\": empty duration"},

	/* counts and lags */
	{BASE, "{\"maxStandbys\":0}", "spec.maxStandbys: must be at least 1"},
	{BASE, "{\"maxStandbysPerSender\":0}", "spec.maxStandbysPerSender: must be at least 1"},
	{BASE, "{\"maxStandbys\":2}", "spec.maxStandbysPerSender: must not exceed maxStandbys (2)"},
	{BASE, "{\"maxSynchronousStandbys\":0}", "spec.maxSynchronousStandbys: must be at least 1"},
	{BASE, "{\"minSynchronousStandbys\":-1}", "spec.minSynchronousStandbys: must not be negative"},
	{BASE, "{\"minSynchronousStandbys\":2}",
	"spec.maxSynchronousStandbys: must be at least minSynchronousStandbys (2)"},
	{BASE, "{\"maxStandbyLag\":-1}", "spec.maxStandbyLag: must not be negative"},
	{BASE, "{\"maxReadOnlyLag\":-1}", "spec.maxReadOnlyLag: must not be negative"},
	{BASE, "{\"additionalWalSenders\":-1}", "spec.additionalWalSenders: must not be negative"},

	/* init mode and role */
	{BASE, "{\"initMode\":null}", "spec.initMode: required (new, existing or pitr)"},
	{BASE, "{\"initMode\":\"resync\"}", "spec.initMode: unknown value \"resync\" (expected new, existing or pitr)"},
	{BASE, "{\"initMode\":\"none\"}", "spec.initMode: unknown value \"none\" (expected new, existing or pitr)"},
	{BASE, "{\"initMode\":\"existing\"}", "spec.existingConfig.keeperUID: required when initMode is existing"},
	{BASE, "{\"initMode\":\"existing\",\"existingConfig\":{}}",
	"spec.existingConfig.keeperUID: required when initMode is existing"},
	{BASE, "{\"initMode\":\"existing\",\"existingConfig\":{\"keeperUID\":\"Keeper-1\"}}",
	"spec.existingConfig.keeperUID: invalid uid \"Keeper-1\" (expected ^[a-z0-9_]+$, at most 63 characters)"},
	{BASE, "{\"initMode\":\"pitr\"}", "spec.pitrConfig.dataRestoreCommand: required when initMode is pitr"},
	{BASE, "{\"initMode\":\"pitr\",\"pitrConfig\":{\"dataRestoreCommand\":\"\"}}",
	"spec.pitrConfig.dataRestoreCommand: required when initMode is pitr"},
	{PITR, "{\"role\":\"standby\"," STANDBY_CONFIG ",\"pitrConfig\":{\"recoveryTargetSettings\":{\"recoveryTargetName\":\"x\"}}}",
	"spec.pitrConfig.recoveryTargetSettings: not allowed when role is standby"},
	{BASE, "{\"role\":\"standby\"," STANDBY_CONFIG "}", "spec.role: standby is not allowed with initMode new"},
	{PITR, "{\"role\":\"standby\"}", "spec.standbyConfig: required when role is standby"},
	{PITR, "{\"role\":\"standby\",\"standbyConfig\":{}}",
	"spec.standbyConfig: needs standbySettings.primaryConninfo or archiveRecoverySettings.restoreCommand"},
	{PITR, "{\"role\":\"standby\",\"standbyConfig\":{\"standbySettings\":{\"primarySlotName\":\"s\"}}}",
	"spec.standbyConfig: needs standbySettings.primaryConninfo or archiveRecoverySettings.restoreCommand"},
	{BASE, "{\"role\":\"boss\"}", "spec.role: unknown value \"boss\" (expected master or standby)"},
	{BASE, "{\"defaultSUReplAccessMode\":\"none\"}",
	"spec.defaultSUReplAccessMode: unknown value \"none\" (expected all or strict)"},

	/* slots */
	{BASE, "{\"additionalMasterReplicationSlots\":[\"ok_slot\",\"Bad\"]}",
	"spec.additionalMasterReplicationSlots[1]: invalid slot name \"Bad\" (expected ^[a-z0-9_]+$, at most 55 characters)"},
	{BASE, "{\"additionalMasterReplicationSlots\":[\"" SLOT55 "a\"]}",
	"spec.additionalMasterReplicationSlots[0]: invalid slot name \"" SLOT55 "a\" (expected ^[a-z0-9_]+$, at most 55 characters)"},
	{BASE, "{\"additionalMasterReplicationSlots\":[\"\"]}",
	"spec.additionalMasterReplicationSlots[0]: invalid slot name \"\" (expected ^[a-z0-9_]+$, at most 55 characters)"},
	{BASE, "{\"additionalMasterReplicationSlots\":[\"bulwark_x\"]}",
	"spec.additionalMasterReplicationSlots[0]: \"bulwark_x\" starts with \"bulwark_\", which is reserved"},
	{BASE, "{\"additionalMasterReplicationSlots\":[\"a\",\"b\",\"a\"]}",
	"spec.additionalMasterReplicationSlots[2]: duplicate slot name \"a\""},
	{BASE, "{\"additionalMasterReplicationSlots\":[1]}",
	"spec.additionalMasterReplicationSlots[0]: expected a string, got integer"},
	{BASE, "{\"additionalMasterReplicationSlots\":\"a\"}",
	"spec.additionalMasterReplicationSlots: expected an array, got string"},

	/* pg_hba and parameters */
	{BASE, "{\"pgHBA\":[\"host all all 10.0.0.0/8 md5\",\"local all all trust\\nhost all all 0.0.0.0/0 trust\"]}",
	"spec.pgHBA[1]: must not contain a newline"},
	{BASE, "{\"pgHBA\":[\"host all all 10.0.0.0/8 md5\\r\"]}", "spec.pgHBA[0]: must not contain a newline"},
	{BASE, "{\"pgParameters\":{\"port\":\"5433\"}}", "spec.pgParameters.port: managed by bulwark, cannot be set"},
	{BASE, "{\"pgParameters\":{\"Listen_Addresses\":\"*\"}}",
	"spec.pgParameters.Listen_Addresses: managed by bulwark, cannot be set"},
	{BASE, "{\"pgParameters\":{\"synchronous_standby_names\":\"*\"}}",
	"spec.pgParameters.synchronous_standby_names: managed by bulwark, cannot be set"},
	{BASE, "{\"pgParameters\":{\"primary_conninfo\":\"host=x\"}}",
	"spec.pgParameters.primary_conninfo: managed by bulwark, cannot be set"},
	{BASE, "{\"pgParameters\":{\"hba_file\":\"/tmp/hba\"}}", "spec.pgParameters.hba_file: managed by bulwark, cannot be set"},
	{BASE, "{\"pgParameters\":{\"wal_level\":\"minimal\"}}",
	"spec.pgParameters.wal_level: only \"logical\" may be set (bulwark uses replica)"},
	{BASE, "{\"pgParameters\":{\"work_mem\":\"4MB\\nport = 1\"}}",
	"spec.pgParameters.work_mem: value must not contain a newline"},
	{BASE, "{\"pgParameters\":{\"bad name\":\"1\"}}", "spec.pgParameters: invalid parameter name \"bad name\""},
	{BASE, "{\"pgParameters\":{\"work_mem\":4}}", "spec.pgParameters.work_mem: expected a string, got integer"},
	{BASE, "{\"pgParameters\":[\"work_mem=4MB\"]}", "spec.pgParameters: expected an object, got array"},

	/* strict decoding */
	{BASE, "{\"failIntervl\":\"3s\"}", "spec: unknown field \"failIntervl\""},
	{BASE, "{\"proxyHoldTimeout\":\"3s\"}", "spec: unknown field \"proxyHoldTimeout\""},
	{BASE, "{\"maxStandbys\":\"20\"}", "spec.maxStandbys: expected an integer, got string"},
	{BASE, "{\"maxStandbys\":2.5}", "spec.maxStandbys: expected an integer, got real"},
	{BASE, "{\"maxStandbys\":3000000000}", "spec.maxStandbys: must be between -2147483648 and 2147483647"},
	{BASE, "{\"usePgrewind\":\"yes\"}", "spec.usePgrewind: expected true or false, got string"},
	{BASE, "{\"newConfig\":{\"locale\":\"C\",\"dataChecksum\":true}}", "spec.newConfig: unknown field \"dataChecksum\""},
	{BASE, "{\"newConfig\":true}", "spec.newConfig: expected an object, got boolean"},
	{BASE, "{\"pitrConfig\":{\"recoveryTargetSettings\":{\"recoveryTarget\":1}}}",
	"spec.pitrConfig.recoveryTargetSettings.recoveryTarget: expected a string, got integer"},
	{BASE, "{\"standbyConfig\":{\"standbySettings\":{\"primaryConnInfo\":\"x\"}}}",
	"spec.standbyConfig.standbySettings: unknown field \"primaryConnInfo\""},
	{BASE, "{\"x\\n\\u001b[31m\":1}", "spec: unknown field \"x\\n\\u001b[31m\""},
};

static void
test_validation_rules(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(spec_cases) / sizeof(spec_cases[0]); i++)
	{
		const SpecCase *c = &spec_cases[i];
		json_t	   *sparse = spec_with(c->base, c->patch);
		ClusterSpec s;
		char		err[512] = "";
		bool		ok = cluster_spec_decode(sparse, &s, err, sizeof(err));

		if (c->error == NULL && !ok)
			fail_msg("case %zu %s: refused: %s", i, c->patch, err);
		if (c->error != NULL && ok)
			fail_msg("case %zu %s: accepted, want \"%s\"", i, c->patch, c->error);
		if (c->error != NULL && strcmp(err, c->error) != 0)
			fail_msg("case %zu %s:\n got: %s\nwant: %s", i, c->patch, err, c->error);
		if (ok)
		{
			/* a valid effective spec also passes the validator on its own */
			assert_true(cluster_spec_validate(&s, err, sizeof(err)));
			cluster_spec_finish(&s);
		}
		json_decref(sparse);
	}
}

static void
test_spec_must_be_an_object(void **state)
{
	ClusterSpec s;
	json_t	   *a = json_array();
	char		err[512];

	(void) state;
	assert_false(cluster_spec_decode(a, &s, err, sizeof(err)));
	assert_string_equal(err, "spec: expected an object, got array");
	json_decref(a);
	assert_false(cluster_spec_decode_text("[1]", 3, NULL, &s, err, sizeof(err)));
	assert_string_equal(err, "spec: expected an object, got array");
	assert_false(cluster_spec_decode_text("{\"initMode\":", 12, NULL, &s, err, sizeof(err)));
	assert_string_equal(err, "spec: invalid JSON at line 1 column 12: unexpected token near end of file");
}

static void
test_validator_on_structs(void **state)
{
	ClusterSpec s;
	char		err[512];

	(void) state;
	/* rules that decoding cannot reach: negative durations and oversize values set by code */
	cluster_spec_defaults(&s);
	s.init_mode = INIT_MODE_NEW;
	assert_true(cluster_spec_validate(&s, err, sizeof(err)));
	s.sync_timeout_ms = -1;
	assert_false(cluster_spec_validate(&s, err, sizeof(err)));
	assert_string_equal(err, "spec.syncTimeout: must not be negative");
	s.sync_timeout_ms = 0;
	s.init_mode = INIT_MODE_RESYNC;
	assert_false(cluster_spec_validate(&s, err, sizeof(err)));
	assert_string_equal(err, "spec.initMode: required (new, existing or pitr)");
	s.init_mode = INIT_MODE_NEW;
	assert_true(pg_parameters_set(&s.pg_parameters, "bad-name", "1"));
	assert_false(cluster_spec_validate(&s, err, sizeof(err)));
	assert_string_equal(err, "spec.pgParameters: invalid parameter name \"bad-name\"");
	cluster_spec_finish(&s);
}

static void
test_sparse_spec_stays_sparse(void **state)
{
	json_t	   *sparse = test_json_parse("{\"initMode\":\"new\",\"failInterval\":\"4000ms\",\"pgHBA\":null,"
							   "\"newConfig\":{\"locale\":\"C\",\"encoding\":null}}");
	ClusterData cd;
	ClusterData back;
	char		err[512];
	char	   *text;
	json_t	   *doc;
	json_t	   *stored;
	json_t	   *want = test_json_parse("{\"initMode\":\"new\",\"failInterval\":\"4000ms\",\"newConfig\":{\"locale\":\"C\"}}");

	(void) state;
	assert_true(cluster_data_new_for_init(sparse, &cd, err, sizeof(err)));
	assert_int_equal(cd.cluster.spec.fail_interval_ms, 4000);
	text = cluster_data_encode(&cd, false);
	assert_non_null(text);
	doc = test_json_parse(text);
	stored = json_object_get(json_object_get(doc, "cluster"), "spec");
	/* only what the user set, nulls dropped, values as the user wrote them */
	assert_true(json_equal(stored, want));

	assert_true(cluster_data_decode(text, strlen(text), &back, err, sizeof(err)));
	assert_true(json_equal(back.cluster.spec_sparse, want));
	assert_int_equal(back.cluster.spec.max_standbys, 20);
	assert_int_equal(back.cluster.spec.fail_interval_ms, 4000);

	cluster_data_finish(&back);
	cluster_data_finish(&cd);
	json_decref(doc);
	json_decref(want);
	json_decref(sparse);
	free(text);
}

static void
test_full_encode_lists_every_field_and_round_trips(void **state)
{
	ClusterSpec s;
	ClusterSpec back;
	json_t	   *full;
	json_t	   *again;
	char		err[512];
	char	   *text;

	(void) state;
	cluster_spec_defaults(&s);
	full = cluster_spec_encode(&s);
	/* 32 fields, of which initMode is unset and newConfig, pitrConfig, existingConfig, standbyConfig and pgHBA absent */
	assert_int_equal(json_object_size(full), 32 - 6);
	assert_null(json_object_get(full, "initMode"));
	assert_string_equal(json_string_value(json_object_get(full, "failInterval")), "3s");
	assert_string_equal(json_string_value(json_object_get(full, "deadKeeperRemovalInterval")), "48h0m0s");
	assert_int_equal(json_integer_value(json_object_get(full, "maxReadOnlyLag")), 1048576);
	text = cluster_json_dump(full, true);
	assert_non_null(strstr(text, "\n  \"additionalMasterReplicationSlots\": [],\n"));
	free(text);
	json_decref(full);

	s.init_mode = INIT_MODE_PITR;
	s.pitr_config = pitr_config_new();
	s.pitr_config->data_restore_command = strdup("restore %d");
	s.pitr_config->recovery_target_settings = recovery_target_settings_new();
	s.pitr_config->recovery_target_settings->recovery_target_time = strdup("2024-01-01 00:00:00+00");
	s.pg_hba = calloc(1, sizeof(*s.pg_hba));
	assert_true(string_list_append(s.pg_hba, "host all all 10.0.0.0/8 scram-sha-256"));
	assert_true(pg_parameters_set(&s.pg_parameters, "work_mem", "8MB"));
	full = cluster_spec_encode(&s);
	assert_true(cluster_spec_decode(full, &back, err, sizeof(err)));
	again = cluster_spec_encode(&back);
	assert_true(json_equal(full, again));
	assert_string_equal(back.pitr_config->recovery_target_settings->recovery_target_time, "2024-01-01 00:00:00+00");
	json_decref(full);
	json_decref(again);
	cluster_spec_finish(&back);
	cluster_spec_finish(&s);
}

static void
test_copy_is_deep(void **state)
{
	json_t	   *sparse = spec_with(PITR, "{\"role\":\"standby\"," STANDBY_CONFIG ",\"pgHBA\":[\"local all all trust\"],"
								   "\"pgParameters\":{\"work_mem\":\"8MB\"},\"additionalMasterReplicationSlots\":[\"x\"]}");
	ClusterSpec a;
	ClusterSpec b;
	json_t	   *ja;
	json_t	   *jb;
	char		err[512];

	(void) state;
	assert_true(cluster_spec_decode(sparse, &a, err, sizeof(err)));
	assert_true(cluster_spec_copy(&b, &a));
	ja = cluster_spec_encode(&a);
	jb = cluster_spec_encode(&b);
	assert_true(json_equal(ja, jb));
	assert_ptr_not_equal(a.standby_config, b.standby_config);
	assert_ptr_not_equal(a.pg_hba, b.pg_hba);
	cluster_spec_finish(&a);
	json_decref(ja);
	ja = cluster_spec_encode(&b);
	assert_true(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
	cluster_spec_finish(&b);
	json_decref(sparse);
}

typedef struct UpdateCase
{
	const char *old_spec;
	const char *new_spec;
	const char *error;
} UpdateCase;

static const UpdateCase update_cases[] = {
	{BASE, "{\"initMode\":\"new\",\"failInterval\":\"5s\",\"maxStandbys\":5}", NULL},
	{BASE, "{\"initMode\":\"new\",\"synchronousReplication\":true}", NULL},
	{BASE, "{\"initMode\":\"existing\",\"existingConfig\":{\"keeperUID\":\"k1\"}}",
	"spec.initMode: cannot be changed (it is new)"},
	{PITR, BASE, "spec.initMode: cannot be changed (it is pitr)"},
	{PITR, "{\"initMode\":\"pitr\",\"pitrConfig\":{\"dataRestoreCommand\":\"x\"},\"role\":\"standby\"," STANDBY_CONFIG "}",
	"spec.role: cannot change from master to standby"},
	{"{\"initMode\":\"pitr\",\"pitrConfig\":{\"dataRestoreCommand\":\"x\"},\"role\":\"standby\"," STANDBY_CONFIG "}",
	"{\"initMode\":\"pitr\",\"pitrConfig\":{\"dataRestoreCommand\":\"x\"},\"role\":\"master\"}", NULL},
};

static void
test_update_rules(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(update_cases) / sizeof(update_cases[0]); i++)
	{
		const UpdateCase *c = &update_cases[i];
		json_t	   *old_json = test_json_parse(c->old_spec);
		ClusterSpec old_spec;
		ClusterSpec new_spec;
		char		err[512] = "";
		bool		ok;

		assert_true(cluster_spec_decode(old_json, &old_spec, err, sizeof(err)));
		assert_true(cluster_spec_decode_text(c->new_spec, strlen(c->new_spec), NULL, &new_spec, err, sizeof(err)));
		ok = cluster_spec_validate_update(&old_spec, &new_spec, err, sizeof(err));
		if (c->error == NULL && !ok)
			fail_msg("case %zu: refused: %s", i, err);
		if (c->error != NULL && (ok || strcmp(err, c->error) != 0))
			fail_msg("case %zu:\n got: %s\nwant: %s", i, ok ? "(accepted)" : err, c->error);
		cluster_spec_finish(&old_spec);
		cluster_spec_finish(&new_spec);
		json_decref(old_json);
	}
}

static void
test_update_needs_a_valid_new_spec(void **state)
{
	ClusterSpec old_spec;
	ClusterSpec new_spec;
	char		err[512];

	(void) state;
	cluster_spec_defaults(&old_spec);
	old_spec.init_mode = INIT_MODE_NEW;
	assert_true(cluster_spec_copy(&new_spec, &old_spec));
	new_spec.fail_interval_ms = 1000;
	assert_false(cluster_spec_validate_update(&old_spec, &new_spec, err, sizeof(err)));
	assert_string_equal(err, "spec.failInterval: must be greater than sleepInterval (1s)");
	cluster_spec_finish(&old_spec);
	cluster_spec_finish(&new_spec);
}

static void
test_patch_spec_updates_sparse_and_effective_together(void **state)
{
	json_t	   *init = test_json_parse(BASE);
	json_t	   *p1 = test_json_parse("{\"failInterval\":\"5s\",\"pgParameters\":{\"work_mem\":\"8MB\"}}");
	json_t	   *p2 = test_json_parse("{\"failInterval\":null}");
	json_t	   *bad = test_json_parse("{\"initMode\":\"existing\",\"existingConfig\":{\"keeperUID\":\"k1\"}}");
	json_t	   *want = test_json_parse("{\"initMode\":\"new\",\"pgParameters\":{\"work_mem\":\"8MB\"}}");
	json_t	   *null_patch = json_null();
	ClusterData cd;
	char		err[512];
	char	   *before;
	char	   *after;

	(void) state;
	assert_true(cluster_data_new_for_init(init, &cd, err, sizeof(err)));
	assert_true(cluster_data_patch_spec(&cd, p1, err, sizeof(err)));
	assert_int_equal(cd.cluster.spec.fail_interval_ms, 5000);
	assert_string_equal(pg_parameters_get(&cd.cluster.spec.pg_parameters, "work_mem"), "8MB");
	assert_true(cluster_data_patch_spec(&cd, p2, err, sizeof(err)));
	assert_int_equal(cd.cluster.spec.fail_interval_ms, 3000);
	assert_true(json_equal(cd.cluster.spec_sparse, want));

	before = cluster_data_encode(&cd, false);
	assert_false(cluster_data_patch_spec(&cd, bad, err, sizeof(err)));
	assert_string_equal(err, "spec.initMode: cannot be changed (it is new)");
	assert_false(cluster_data_patch_spec(&cd, null_patch, err, sizeof(err)));
	assert_string_equal(err, "spec: a patch must be an object, got null");
	after = cluster_data_encode(&cd, false);
	assert_string_equal(before, after);

	free(before);
	free(after);
	cluster_data_finish(&cd);
	json_decref(init);
	json_decref(p1);
	json_decref(p2);
	json_decref(bad);
	json_decref(want);
	json_decref(null_patch);
}

static void
test_new_for_init_document(void **state)
{
	json_t	   *spec = test_json_parse(BASE);
	json_t	   *invalid = test_json_parse("{\"initMode\":\"new\",\"maxStandbys\":0}");
	ClusterData a;
	ClusterData b;
	char		err[512];

	(void) state;
	assert_true(cluster_data_new_for_init(spec, &a, err, sizeof(err)));
	assert_true(cluster_data_new_for_init(spec, &b, err, sizeof(err)));
	assert_int_equal(a.format_version, 1);
	assert_true(uid_is_valid(a.cluster.uid));
	assert_int_equal(strlen(a.cluster.uid), 8);
	assert_string_not_equal(a.cluster.uid, b.cluster.uid);
	assert_int_equal(a.cluster.generation, 1);
	assert_int_equal(a.cluster.status.phase, CLUSTER_PHASE_INITIALIZING);
	assert_string_equal(a.cluster.status.master, "");
	assert_int_equal(a.keeper_count, 0);
	assert_int_equal(a.db_count, 0);
	assert_int_equal(a.proxy.generation, 1);
	assert_string_equal(a.proxy.spec.master_db_uid, "");
	assert_true(a.change_time_ms > 1704067200000LL);
	cluster_data_finish(&a);
	cluster_data_finish(&b);

	assert_false(cluster_data_new_for_init(invalid, &a, err, sizeof(err)));
	assert_string_equal(err, "spec.maxStandbys: must be at least 1");
	assert_false(cluster_data_new_for_init(NULL, &a, err, sizeof(err)));
	assert_string_equal(err, "spec.initMode: required (new, existing or pitr)");
	cluster_data_finish(&a);
	json_decref(spec);
	json_decref(invalid);
}

static void
test_managed_parameters(void **state)
{
	(void) state;
	assert_true(cluster_pg_parameter_is_managed("max_wal_senders"));
	assert_true(cluster_pg_parameter_is_managed("MAX_WAL_SENDERS"));
	assert_true(cluster_pg_parameter_is_managed("recovery_target_timeline"));
	assert_true(cluster_pg_parameter_is_managed("unix_socket_directories"));
	assert_false(cluster_pg_parameter_is_managed("work_mem"));
	assert_false(cluster_pg_parameter_is_managed("wal_keep_size"));
	assert_false(cluster_pg_parameter_is_managed("archive_command"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_for_seconds),
		cmocka_unit_test(test_defaults_fit_the_failover_budget),
		cmocka_unit_test(test_read_only_lag_follows_standby_lag_unless_set),
		cmocka_unit_test(test_validation_rules),
		cmocka_unit_test(test_spec_must_be_an_object),
		cmocka_unit_test(test_validator_on_structs),
		cmocka_unit_test(test_sparse_spec_stays_sparse),
		cmocka_unit_test(test_full_encode_lists_every_field_and_round_trips),
		cmocka_unit_test(test_copy_is_deep),
		cmocka_unit_test(test_update_rules),
		cmocka_unit_test(test_update_needs_a_valid_new_spec),
		cmocka_unit_test(test_patch_spec_updates_sparse_and_effective_together),
		cmocka_unit_test(test_new_for_init_document),
		cmocka_unit_test(test_managed_parameters),
	};

	return cmocka_run_group_tests_name("cluster_spec", tests, NULL, NULL);
}
