/*
 * src/proxy/routing.c
 *    The routing rules.
 */
#include "routing.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

void
route_table_none(RouteTable *rt, const char *why)
{
	memset(rt, 0, sizeof(*rt));
	snprintf(rt->why_no_rw, sizeof(rt->why_no_rw), "%s", why);
}

/* route_target_of_db: db's advertised address, false when the DB is missing or has no address yet. */
static bool
route_target_of_db(const ClusterData *cd, const char *db_uid, RouteTarget *t)
{
	const Db   *db = cluster_data_find_db(cd, db_uid);

	if (db == NULL || db->status.listen_address[0] == '\0' || db->status.port <= 0 || db->status.port > 65535)
		return false;
	snprintf(t->db_uid, sizeof(t->db_uid), "%s", db->uid);
	snprintf(t->host, sizeof(t->host), "%s", db->status.listen_address);
	t->port = db->status.port;
	return true;
}

void
route_table_compute(const ClusterData *cd, const char *proxy_uid, RouteTable *rt)
{
	const ProxySpec *ps = &cd->proxy.spec;

	route_table_none(rt, "");
	rt->generation = cd->proxy.generation;

	if (ps->master_db_uid[0] == '\0')
		snprintf(rt->why_no_rw, sizeof(rt->why_no_rw), "the cluster data names no master (proxy generation %lld)",
				 (long long) cd->proxy.generation);
	else if (!string_list_contains(&ps->enabled_proxies, proxy_uid))
		snprintf(rt->why_no_rw, sizeof(rt->why_no_rw),
				 "this proxy is not enabled yet (the sentinel has not counted it among the live proxies)");
	else if (!route_target_of_db(cd, ps->master_db_uid, &rt->rw))
		snprintf(rt->why_no_rw, sizeof(rt->why_no_rw), "master db \"%s\" is missing or has no address",
				 ps->master_db_uid);

	for (size_t i = 0; i < ps->ro_db_uids.count && rt->ro_count < ROUTE_MAX_RO; i++)
	{
		RouteTarget t;

		memset(&t, 0, sizeof(t));
		if (route_target_of_db(cd, ps->ro_db_uids.items[i], &t))
			rt->ro[rt->ro_count++] = t;
	}
}

bool
route_target_equal(const RouteTarget *a, const RouteTarget *b)
{
	return strcmp(a->db_uid, b->db_uid) == 0 && strcmp(a->host, b->host) == 0 && a->port == b->port;
}

const RouteTarget *
route_table_find_ro(const RouteTable *rt, const RouteTarget *t)
{
	for (size_t i = 0; i < rt->ro_count; i++)
		if (route_target_equal(&rt->ro[i], t))
			return &rt->ro[i];
	return NULL;
}

bool
route_target_resolve(RouteTarget *t)
{
	struct addrinfo hints;
	struct addrinfo *ai = NULL;
	char		port[16];

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", t->port);
	if (getaddrinfo(t->host, port, &hints, &ai) != 0 || ai == NULL || ai->ai_addrlen > sizeof(t->addr))
	{
		if (ai)
			freeaddrinfo(ai);
		t->addrlen = 0;
		return false;
	}
	memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
	t->addrlen = ai->ai_addrlen;
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, t->host, sizeof(t->host), NULL, 0, NI_NUMERICHOST) != 0)
		t->host[0] = '\0';
	freeaddrinfo(ai);
	return true;
}
