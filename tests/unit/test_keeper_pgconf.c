/*
 * tests/unit/test_keeper_pgconf.c
 *    What the keeper writes into PGDATA: postgresql.conf quoting and managed parameters, pg_hba lines for the
 *    all and strict access modes, synchronous_standby_names, and conninfo escaping. Table-driven.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keeper/pgconf.h"

static PgConfContext
test_ctx(bool standby)
{
	PgConfContext ctx = {
		.listen_address = "10.0.0.5", .port = 5433, .socket_dir = "/run/bk",
		.su_username = "postgres", .su_auth_method = "scram-sha-256",
		.repl_username = "repl", .repl_auth_method = "md5",
		.standby = standby, .primary_conninfo = "host=10.0.0.1 port=5432", .primary_slot_name = "bulwark_db1",
	};

	return ctx;
}

static void
test_conf_values_are_quoted_with_quotes_doubled_and_backslashes_escaped(void **state)
{
	static const struct
	{
		const char *value;
		const char *want;
	}			cases[] = {
		{"8MB", "'8MB'"},
		{"", "''"},
		{"it's", "'it''s'"},
		{"C:\\dir", "'C:\\\\dir'"},
		{"a b", "'a b'"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		Buf			b;

		buf_init(&b, 1024);
		assert_true(pgconf_quote_value(&b, cases[i].value));
		assert_string_equal(buf_cstr(&b), cases[i].want);
		buf_finish(&b);
	}
}

static void
test_conninfo_escapes_spaces_quotes_and_backslashes(void **state)
{
	static const struct
	{
		const char *value;
		const char *want;
	}			cases[] = {
		{"plain", "k=plain"},
		{"", "k=''"},
		{"two words", "k='two words'"},
		{"it's", "k='it\\'s'"},
		{"back\\slash", "k='back\\\\slash'"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		Buf			b;

		buf_init(&b, 1024);
		assert_true(pgconf_conninfo_append(&b, "k", cases[i].value));
		assert_string_equal(buf_cstr(&b), cases[i].want);
		buf_finish(&b);
	}
}

static void
test_conninfo_joins_pairs_with_spaces(void **state)
{
	Buf			b;

	(void) state;
	buf_init(&b, 1024);
	assert_true(pgconf_conninfo_append(&b, "host", "h"));
	assert_true(pgconf_conninfo_append(&b, "port", "5432"));
	assert_string_equal(buf_cstr(&b), "host=h port=5432");
	buf_finish(&b);
}

static void
test_sync_standby_names_render_like_stolon(void **state)
{
	static const struct
	{
		bool		sync;
		const char *standbys[3];
		const char *external[2];
		const char *want;
	}			cases[] = {
		{false, {"a", NULL}, {NULL}, ""},
		{true, {NULL}, {NULL}, ""},
		{true, {"a", NULL}, {NULL}, "bulwark_a"},
		{true, {NULL}, {"bulwarkfakestandby", NULL}, "bulwarkfakestandby"},
		{true, {"a", "b", NULL}, {NULL}, "2 (bulwark_a,bulwark_b)"},
		{true, {"a", NULL}, {"ext", NULL}, "2 (bulwark_a,ext)"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		DbSpec		spec;
		Buf			b;

		db_spec_init(&spec);
		spec.synchronous_replication = cases[i].sync;
		for (size_t j = 0; cases[i].standbys[j]; j++)
			assert_true(string_list_append(&spec.synchronous_standbys, cases[i].standbys[j]));
		for (size_t j = 0; cases[i].external[j]; j++)
			assert_true(string_list_append(&spec.external_synchronous_standbys, cases[i].external[j]));
		buf_init(&b, 1024);
		assert_true(pgconf_render_sync_standby_names(&spec, &b));
		assert_string_equal(buf_cstr(&b), cases[i].want);
		buf_finish(&b);
		db_spec_finish(&spec);
	}
}

static void
test_managed_parameters_override_the_spec(void **state)
{
	DbSpec		spec;
	PgParameters p;
	PgConfContext ctx = test_ctx(false);
	Buf			conf;

	(void) state;
	db_spec_init(&spec);
	spec.max_standbys = 5;
	spec.additional_wal_senders = 3;
	spec.use_pg_rewind = true;
	assert_true(pg_parameters_set(&spec.pg_parameters, "work_mem", "8MB"));
	assert_true(pg_parameters_set(&spec.pg_parameters, "wal_level", "minimal"));
	pg_parameters_init(&p);
	assert_true(pgconf_build_parameters(&spec, &ctx, &p));
	assert_string_equal(pg_parameters_get(&p, "work_mem"), "8MB");
	assert_string_equal(pg_parameters_get(&p, "wal_level"), "replica");
	assert_string_equal(pg_parameters_get(&p, "max_wal_senders"), "15");
	assert_string_equal(pg_parameters_get(&p, "port"), "5433");
	assert_string_equal(pg_parameters_get(&p, "listen_addresses"), "10.0.0.5");
	assert_string_equal(pg_parameters_get(&p, "unix_socket_directories"), "/run/bk");
	assert_string_equal(pg_parameters_get(&p, "wal_log_hints"), "on");
	assert_string_equal(pg_parameters_get(&p, "wal_keep_size"), PGCONF_DEFAULT_WAL_KEEP_SIZE);
	assert_string_equal(pg_parameters_get(&p, "wal_receiver_status_interval"),
						PGCONF_DEFAULT_WAL_RECEIVER_STATUS_INTERVAL);
	assert_string_equal(pg_parameters_get(&p, "synchronous_standby_names"), "");
	assert_null(pg_parameters_get(&p, "primary_conninfo"));
	buf_init(&conf, 65536);
	assert_true(pgconf_render_postgresql_conf(&p, &conf));
	assert_non_null(strstr(buf_cstr(&conf), "\nport = '5433'\n"));
	buf_finish(&conf);

	/* logical is the one wal_level the spec may ask for; a standby gets the recovery settings */
	assert_true(pg_parameters_set(&spec.pg_parameters, "wal_level", "logical"));
	ctx = test_ctx(true);
	assert_true(pgconf_build_parameters(&spec, &ctx, &p));
	assert_string_equal(pg_parameters_get(&p, "wal_level"), "logical");
	assert_string_equal(pg_parameters_get(&p, "primary_conninfo"), "host=10.0.0.1 port=5432");
	assert_string_equal(pg_parameters_get(&p, "primary_slot_name"), "bulwark_db1");
	assert_string_equal(pg_parameters_get(&p, "recovery_target_timeline"), "latest");
	pg_parameters_finish(&p);
	db_spec_finish(&spec);
}

static Db  *
add_db(ClusterData *cd, const char *uid, DbRole role, const char *addr)
{
	Db		   *db = cluster_data_add_db(cd, uid);

	assert_non_null(db);
	db->spec.role = role;
	snprintf(db->status.listen_address, sizeof(db->status.listen_address), "%s", addr);
	return db;
}

static void
test_hba_lines_for_all_and_strict_modes(void **state)
{
	static const struct
	{
		SuReplAccessMode mode;
		bool		custom_hba;
		const char *db;
		const char *want;
	}			cases[] = {
		{SU_REPL_ACCESS_ALL, false, "db0",
			"local postgres postgres scram-sha-256\nlocal replication repl md5\n"
			"host all postgres 0.0.0.0/0 scram-sha-256\nhost all postgres ::0/0 scram-sha-256\n"
			"host replication repl 0.0.0.0/0 md5\nhost replication repl ::0/0 md5\n"
			"host all all 0.0.0.0/0 md5\nhost all all ::0/0 md5\n"},
		{SU_REPL_ACCESS_STRICT, false, "db0",
			"local postgres postgres scram-sha-256\nlocal replication repl md5\n"
			"host all postgres 10.0.0.2/32 scram-sha-256\nhost replication repl 10.0.0.2/32 md5\n"
			"host all postgres fd00::3/128 scram-sha-256\nhost replication repl fd00::3/128 md5\n"
			"host all all 0.0.0.0/0 md5\nhost all all ::0/0 md5\n"},
		{SU_REPL_ACCESS_STRICT, true, "db1",
			"local postgres postgres scram-sha-256\nlocal replication repl md5\n"
			"hostssl all all 10.0.0.0/8 scram-sha-256\n"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		ClusterData cd;
		PgConfContext ctx = test_ctx(false);
		Buf			b;
		const char *body;
		Db		   *db;

		cluster_data_init(&cd);
		cd.cluster.spec.default_su_repl_access_mode = cases[i].mode;
		add_db(&cd, "db0", DB_ROLE_MASTER, "10.0.0.1");
		add_db(&cd, "db1", DB_ROLE_STANDBY, "10.0.0.2");
		add_db(&cd, "db2", DB_ROLE_STANDBY, "fd00::3");
		db = cluster_data_find_db(&cd, cases[i].db);
		if (cases[i].custom_hba)
		{
			db->spec.pg_hba = calloc(1, sizeof(StringList));
			assert_non_null(db->spec.pg_hba);
			string_list_init(db->spec.pg_hba);
			assert_true(string_list_append(db->spec.pg_hba, "hostssl all all 10.0.0.0/8 scram-sha-256"));
		}
		buf_init(&b, 65536);
		assert_true(pgconf_render_hba(&cd, db, &ctx, &b));
		body = strchr(buf_cstr(&b), '\n') + 1;	/* after the header comment */
		assert_string_equal(body, cases[i].want);
		buf_finish(&b);
		cluster_data_finish(&cd);
	}
}

static void
test_pgpass_escapes_colons_and_backslashes(void **state)
{
	Buf			b;

	(void) state;
	buf_init(&b, 1024);
	assert_true(pgconf_pgpass_escape(&b, "a:b\\c"));
	assert_string_equal(buf_cstr(&b), "a\\:b\\\\c");
	buf_finish(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_values_are_quoted_with_quotes_doubled_and_backslashes_escaped),
		cmocka_unit_test(test_conninfo_escapes_spaces_quotes_and_backslashes),
		cmocka_unit_test(test_conninfo_joins_pairs_with_spaces),
		cmocka_unit_test(test_sync_standby_names_render_like_stolon),
		cmocka_unit_test(test_managed_parameters_override_the_spec),
		cmocka_unit_test(test_hba_lines_for_all_and_strict_modes),
		cmocka_unit_test(test_pgpass_escapes_colons_and_backslashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
