/*
 * tests/unit/test_routing.c
 *    The proxy's routing rules, table-driven: which DB a new read-write or read-only connection goes to for a
 *    given cluster data document.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cluster_json.h"
#include "proxy/routing.h"

/* A document with db0..db2 on ports 5000..5002 (db2 without an address), and the given proxy spec. */
static void
make_cd(ClusterData *cd, const char *proxy_spec)
{
	char		text[4096];
	char		err[512];

	snprintf(text, sizeof(text),
			 "{\"formatVersion\":1,\"changeTime\":\"2026-01-01T00:00:00.000Z\","
			 "\"cluster\":{\"uid\":\"c1\",\"generation\":1,\"changeTime\":\"2026-01-01T00:00:00.000Z\","
			 "\"spec\":{\"initMode\":\"new\"},\"status\":{\"phase\":\"normal\",\"master\":\"db0\"}},"
			 "\"keepers\":{},\"dbs\":{"
			 "\"db0\":{\"generation\":1,\"changeTime\":\"2026-01-01T00:00:00.000Z\",\"spec\":{\"keeperUID\":\"k0\"},"
			 "\"status\":{\"listenAddress\":\"10.0.0.1\",\"port\":5000}},"
			 "\"db1\":{\"generation\":1,\"changeTime\":\"2026-01-01T00:00:00.000Z\",\"spec\":{\"keeperUID\":\"k1\"},"
			 "\"status\":{\"listenAddress\":\"10.0.0.2\",\"port\":5001}},"
			 "\"db2\":{\"generation\":1,\"changeTime\":\"2026-01-01T00:00:00.000Z\",\"spec\":{\"keeperUID\":\"k2\"},"
			 "\"status\":{}}},"
			 "\"proxy\":{\"generation\":7,\"changeTime\":\"2026-01-01T00:00:00.000Z\",\"spec\":%s}}",
			 proxy_spec);
	if (!cluster_data_decode(text, strlen(text), cd, err, sizeof(err)))
		fail_msg("fixture does not decode: %s", err);
}

typedef struct RoutingCase
{
	const char *name;
	const char *proxy_spec;
	const char *proxy_uid;
	const char *want_rw;		/* db uid, "" = none */
	int			want_rw_port;
	const char *want_ro;		/* comma-separated db uids */
	const char *why_contains;	/* when no rw */
} RoutingCase;

static const RoutingCase routing_cases[] = {
	{"master routed to an enabled proxy",
	 "{\"masterDbUid\":\"db0\",\"enabledProxies\":[\"p1\"],\"roDbUids\":[\"db1\"]}", "p1", "db0", 5000, "db1", NULL},
	{"no master published routes no writes (the sentinel's first handshake step)",
	 "{\"masterDbUid\":\"\",\"enabledProxies\":[\"p1\"],\"roDbUids\":[\"db1\"]}", "p1", "", 0, "db1", "no master"},
	{"a proxy the sentinel has not enabled routes no writes",
	 "{\"masterDbUid\":\"db0\",\"enabledProxies\":[\"p2\"],\"roDbUids\":[]}", "p1", "", 0, "", "not enabled"},
	{"a master db missing from the document routes nowhere",
	 "{\"masterDbUid\":\"db9\",\"enabledProxies\":[\"p1\"],\"roDbUids\":[]}", "p1", "", 0, "", "missing"},
	{"a master without an address yet routes nowhere",
	 "{\"masterDbUid\":\"db2\",\"enabledProxies\":[\"p1\"],\"roDbUids\":[]}", "p1", "", 0, "", "no address"},
	{"read-only targets without an address or missing are skipped",
	 "{\"masterDbUid\":\"db0\",\"enabledProxies\":[\"p1\"],\"roDbUids\":[\"db1\",\"db2\",\"db9\"]}", "p1", "db0", 5000,
	 "db1", NULL},
	{"read-only set does not depend on being enabled",
	 "{\"masterDbUid\":\"db0\",\"enabledProxies\":[],\"roDbUids\":[\"db0\",\"db1\"]}", "p1", "", 0, "db0,db1",
	 "not enabled"},
};

static void
test_routing_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(routing_cases) / sizeof(routing_cases[0]); i++)
	{
		const RoutingCase *tc = &routing_cases[i];
		ClusterData cd;
		RouteTable	rt;
		char		ro[256] = "";

		make_cd(&cd, tc->proxy_spec);
		route_table_compute(&cd, tc->proxy_uid, &rt);
		if (strcmp(rt.rw.db_uid, tc->want_rw) != 0 || rt.rw.port != tc->want_rw_port)
			fail_msg("%s: rw = \"%s\":%d, want \"%s\":%d", tc->name, rt.rw.db_uid, rt.rw.port, tc->want_rw,
					 tc->want_rw_port);
		for (size_t k = 0; k < rt.ro_count; k++)
			snprintf(ro + strlen(ro), sizeof(ro) - strlen(ro), "%s%s", k ? "," : "", rt.ro[k].db_uid);
		if (strcmp(ro, tc->want_ro) != 0)
			fail_msg("%s: ro = \"%s\", want \"%s\"", tc->name, ro, tc->want_ro);
		if (tc->why_contains && strstr(rt.why_no_rw, tc->why_contains) == NULL)
			fail_msg("%s: why \"%s\" lacks \"%s\"", tc->name, rt.why_no_rw, tc->why_contains);
		assert_int_equal(rt.generation, 7);
		cluster_data_finish(&cd);
	}
}

static void
test_route_table_none_routes_nowhere(void **state)
{
	RouteTable	rt;
	RouteTarget t = {"db0", "10.0.0.1", 5000};

	(void) state;
	route_table_none(&rt, "fenced");
	assert_string_equal(rt.rw.db_uid, "");
	assert_int_equal(rt.ro_count, 0);
	assert_string_equal(rt.why_no_rw, "fenced");
	assert_null(route_table_find_ro(&rt, &t));
}

static void
test_target_equality_includes_address(void **state)
{
	RouteTarget a = {"db0", "10.0.0.1", 5000};
	RouteTarget b = {"db0", "10.0.0.1", 5000};
	RouteTarget moved = {"db0", "10.0.0.9", 5000};
	RouteTarget other_port = {"db0", "10.0.0.1", 5001};

	(void) state;
	assert_true(route_target_equal(&a, &b));
	/* the same DB at a new address is a new target: connections to the old one are closed */
	assert_false(route_target_equal(&a, &moved));
	assert_false(route_target_equal(&a, &other_port));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing_table),
		cmocka_unit_test(test_route_table_none_routes_nowhere),
		cmocka_unit_test(test_target_equality_includes_address),
	};

	return cmocka_run_group_tests_name("routing", tests, NULL, NULL);
}
