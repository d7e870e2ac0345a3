/*
 * src/proxy/proxy.h
 *    The bulwark-proxy context: its flags, the forwarding engine (one epoll loop on the main thread) and the
 *    store watcher (a thread of its own, since the etcd client blocks), and the little they share: the newest
 *    route table, the time of the last successful store read, and the generation the loop has applied.
 *
 * Why a thread: the forwarding loop must never block on the store, and the watchdog (DESIGN.md I2) must fence
 * even when the store client hangs, so the loop itself measures how old the last successful read is.
 */
#ifndef BULWARK_PROXY_H
#define BULWARK_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "routing.h"
#include "store_etcd.h"
#include "store_opts.h"

typedef struct ProxyConn ProxyConn;
typedef struct HttpServer HttpServer;

typedef enum ListenerKind
{
	LISTENER_RW = 0,
	LISTENER_RO,
} ListenerKind;

typedef struct ProxyListener
{
	struct ProxyDaemon *proxy;
	ListenerKind kind;
	const char *address;		/* host */
	int			port;			/* 0 = this listener is off */
	int			fd;				/* -1 while not listening */
} ProxyListener;

typedef struct ProxyMetrics
{
	uint64_t	accepted[2];	/* per ListenerKind */
	uint64_t	refused[2];		/* closed at once: no target, too many connections, backend unreachable */
	uint64_t	current[2];		/* open connections */
	uint64_t	bytes_to_backend;
	uint64_t	bytes_to_client;
	uint64_t	backend_switches;	/* times the read-write target changed */
	uint64_t	closed_by_route_change;
	uint64_t	watchdog_fences;	/* times the store was unreadable for proxyTimeout */
} ProxyMetrics;

/* What the watcher thread hands to the loop, under the mutex. */
typedef struct ProxyShared
{
	pthread_mutex_t mutex;
	pthread_cond_t applied_cond;
	RouteTable	latest;			/* the newest route table the watcher computed */
	uint64_t	latest_seq;		/* bumped each time latest changes */
	uint64_t	applied_seq;	/* the seq the loop has applied (connections closed, new ones routed) */
	int64_t		applied_generation; /* proxy generation of the applied table: what the report acknowledges */
	int64_t		proxy_timeout_ms;	/* from the spec */
	int64_t		check_interval_ms;
	int			wake_fd;		/* eventfd: the watcher writes, the loop reads */
	ProxyMetrics metrics;		/* a copy the loop refreshes for the HTTP thread */
	bool		fenced;			/* the loop has fenced (watchdog) */
} ProxyShared;

typedef struct ProxyDaemon
{
	/* flags */
	StoreOptions store_opts;
	const char *uid;
	const char *listen_address;
	int64_t		port;
	int64_t		ro_port;
	const char *ro_fallback;	/* "master" or "none" */
	int64_t		hold_timeout_ms;
	int64_t		backend_connect_timeout_ms;
	int64_t		max_connections;
	int64_t		keepalive_idle_s;
	int64_t		keepalive_interval_s;
	int64_t		keepalive_count;
	bool		stop_listening;
	const char *http_listen_address;

	char		uid_buf[UID_SIZE];

	/* the loop's own state (main thread only) */
	EvLoop	   *loop;
	ProxyListener listeners[2];
	RouteTable	routes;			/* the applied table */
	bool		have_routes;	/* a table from a successful read has been applied since the last fence */
	ProxyConn  *conns;			/* every open connection, a doubly linked list */
	ProxyConn  *closing;		/* marked closing during this pass; freed after it */
	uint64_t	nconns;
	ProxyMetrics metrics;
	_Atomic int64_t last_read_ok_ms;	/* monotonic time of the last successful store read; 0 = never */
	bool		fenced;
	bool		logged_no_rw;

	/* the watcher thread */
	Store	   *store;
	pthread_t	watcher;
	_Atomic bool stopping;
	ProxyShared shared;
	HttpServer *http;
} ProxyDaemon;

/* forwarder.c: the loop side */
bool forwarder_init(ProxyDaemon *p, char *err, size_t errlen) __attribute__((warn_unused_result));
void forwarder_finish(ProxyDaemon *p);
/* forwarder_apply_routes: switch to rt: close connections whose target is gone, route held ones. */
void forwarder_apply_routes(ProxyDaemon *p, const RouteTable *rt);
/* forwarder_fence: close every connection and, with --stop-listening, the listeners. */
void forwarder_fence(ProxyDaemon *p, const char *why);

/* watcher.c: the store side */
bool watcher_start(ProxyDaemon *p, char *err, size_t errlen) __attribute__((warn_unused_result));
void watcher_stop(ProxyDaemon *p);

#endif
