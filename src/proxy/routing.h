/*
 * src/proxy/routing.h
 *    Where the proxy sends new connections, computed from the cluster data alone (pure: no I/O), so every rule
 *    of docs/design.md I2/I3 is a unit test: the read-write target is the DB named by proxy.spec.masterDbUid, only
 *    while this proxy is among proxy.spec.enabledProxies (the sentinel has counted it in its fencing
 *    handshake); the read-only targets are the planner's proxy.spec.roDbUids; an invalid document routes
 *    nowhere.
 */
#ifndef BULWARK_ROUTING_H
#define BULWARK_ROUTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "cluster.h"

#define ROUTE_MAX_RO 64

typedef struct RouteTarget
{
	char		db_uid[UID_SIZE];	/* "" = no target */
	char		host[CLUSTER_HOST_SIZE];
	int			port;
	struct sockaddr_storage addr;	/* host:port resolved (route_target_resolve); addrlen 0 = not yet */
	socklen_t	addrlen;
} RouteTarget;

typedef struct RouteTable
{
	int64_t		generation;		/* proxy.generation of the data it came from; 0 when none */
	RouteTarget rw;				/* db_uid "" = no master: refuse (or hold) read-write connections */
	RouteTarget ro[ROUTE_MAX_RO];	/* the read-only set */
	size_t		ro_count;
	char		why_no_rw[256];	/* when rw is empty: the reason, for the log */
} RouteTable;

/* route_table_none: no targets at all (before the first read, after a watchdog timeout). */
void route_table_none(RouteTable *rt, const char *why);

/* route_table_compute: the routes of proxy_uid in cd (borrowed). */
void route_table_compute(const ClusterData *cd, const char *proxy_uid, RouteTable *rt);

/*
 * route_target_resolve: fill t->addr from t->host and t->port, resolving a host name (which may block: the
 * proxy calls it on its store thread, never in the forwarding loop); host becomes the numeric address.
 * False when the name does not resolve.
 */
bool route_target_resolve(RouteTarget *t);

/* route_target_equal: same DB at the same address. */
bool route_target_equal(const RouteTarget *a, const RouteTarget *b);

/* route_table_find_ro: the read-only target for db_uid with the same address as t, or NULL. */
const RouteTarget *route_table_find_ro(const RouteTable *rt, const RouteTarget *t);

#endif
