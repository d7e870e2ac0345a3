/*
 * src/proxy/proxy.h
 *    The bulwark-proxy context: its flags, the forwarding workers (N threads, each with its own epoll loop,
 *    connections, listening sockets and counters), the store watcher (a thread of its own, since the etcd
 *    client blocks), and the little they share: the newest route table with its sequence number, what each
 *    worker has applied, the time of the last successful store read, and the global connection count.
 *
 * Why a watcher thread: the forwarding loops must never block on the store, and the watchdog (docs/design.md I2)
 * must fence even when the store client hangs, so every worker measures for itself how old the last
 * successful read is.
 *
 * Why N workers that share nothing on the hot path: with one loop, every message of every client queues for
 * one thread. A worker owns its connections from accept to close (its own SO_REUSEPORT listening sockets, so
 * the kernel spreads new connections with no shared accept lock), and its counters are plain integers that
 * only it writes; what others read of it is a copy taken under the shared mutex on its tick.
 */
#ifndef BULWARK_PROXY_H
#define BULWARK_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "balance.h"
#include "evloop.h"
#include "hold.h"
#include "routing.h"
#include "store_etcd.h"
#include "store_opts.h"

#define PROXY_MAX_THREADS 64
#define PROXY_DEFAULT_MAX_THREADS 8	/* --threads 0: one per CPU, at most this many */

typedef struct ProxyConn ProxyConn;
typedef struct ProxyWorker ProxyWorker;
typedef struct HttpServer HttpServer;

typedef enum ListenerKind
{
	LISTENER_RW = 0,
	LISTENER_RO,
} ListenerKind;

/* A worker's listening socket for one port. */
typedef struct ProxyListener
{
	ProxyWorker *worker;
	ListenerKind kind;
	int			port;			/* 0 = this listener is off */
	int			fd;				/* -1 while not listening */
} ProxyListener;

typedef struct ProxyMetrics
{
	uint64_t	accepted[2];	/* per ListenerKind */
	uint64_t	refused[2];		/* closed without a backend: no target (or a bound of the hold), too many
								 * connections, backend unreachable */
	uint64_t	current[2];		/* open connections */
	uint64_t	bytes_to_backend;
	uint64_t	bytes_to_client;
	uint64_t	backend_switches;	/* times the read-write target changed (worker 0 only: one per change) */
	uint64_t	closed_by_route_change;
	uint64_t	watchdog_fences;	/* times the store was unreadable for proxyTimeout (worker 0 only) */
	uint64_t	held[2];		/* connections held now (waiting for a target), per ListenerKind */
	uint64_t	held_total[2];	/* connections that were held */
	uint64_t	hold_refused_timeout[2];	/* refused after holding as long as the hold timeout allows */
	uint64_t	hold_refused_limit[2];	/* refused at once: --max-held-connections were held */
	HoldStats	hold;			/* wait times of the held connections */
} ProxyMetrics;

/* What a worker shows the watcher and the HTTP thread: written by the worker under ProxyShared.mutex. */
typedef struct ProxyWorkerReport
{
	uint64_t	applied_seq;	/* the route table seq this worker has applied (its connections closed) */
	int64_t		applied_generation; /* the proxy generation of that table */
	ProxyMetrics metrics;		/* a copy refreshed on every tick and at every apply */
	bool		fenced;
} ProxyWorkerReport;

struct ProxyWorker
{
	_Alignas(64) struct ProxyDaemon *proxy;	/* cache-line aligned: workers never share a line */
	int			index;			/* 0 runs on the main thread; it also logs and counts process-wide events */
	EvLoop	   *loop;
	int			wake_fd;		/* eventfd: written by the watcher (new routes) and by forwarder_stop */
	pthread_t	thread;
	bool		thread_started;
	ProxyListener listeners[2];

	/* owned by the worker's thread */
	RouteTable	routes;			/* the applied table */
	bool		have_routes;	/* a table from a successful read has been applied since the last fence */
	ProxyConn  *conns;			/* this worker's open connections, a doubly linked list */
	ProxyConn  *closing;		/* marked closing during this pass; freed after it */
	uint64_t	nconns;
	int64_t		hold_timeout_ms;	/* the hold timeout in force: ProxyShared's, copied on every tick */
	ProxyMetrics metrics;
	bool		fenced;
	bool		logged_no_rw;

	ProxyWorkerReport report;	/* under proxy->shared.mutex */
};

/* What the watcher thread hands to the workers, under the mutex. */
typedef struct ProxyShared
{
	pthread_mutex_t mutex;
	pthread_cond_t applied_cond;	/* broadcast when a worker has applied a table (CLOCK_MONOTONIC) */
	RouteTable	latest;			/* the newest route table the watcher computed */
	uint64_t	latest_seq;		/* bumped each time latest changes */
	int64_t		proxy_timeout_ms;	/* from the spec */
	int64_t		check_interval_ms;
	int64_t		hold_timeout_ms;	/* --hold-timeout, or derived from the spec (hold_timeout_for_spec) */
	pthread_cond_t publish_cond;	/* the publisher's wake-up (CLOCK_MONOTONIC) */
	bool		publish_now;	/* a new generation was applied: acknowledge it now */
	/* for the confirmer (watcher.c): the master DB of the last valid cluster data and its keeper's address */
	bool		failsafe_mode;
	char		master_db[UID_SIZE];
	char		master_http[CLUSTER_HOST_SIZE + 8];
} ProxyShared;

/* What /metrics and /health show: the workers' copies, summed. */
typedef struct ProxySnapshot
{
	ProxyMetrics total;
	bool		fenced;			/* any worker fenced */
	int64_t		acked_generation;
	int64_t		hold_timeout_ms;
	size_t		nworkers;
	uint64_t	worker_conns[PROXY_MAX_THREADS];
} ProxySnapshot;

typedef struct ProxyDaemon
{
	/* flags */
	StoreOptions store_opts;
	const char *uid;
	const char *listen_address;
	int64_t		port;
	int64_t		ro_port;
	const char *ro_fallback;	/* "master" or "none" */
	const char *hold_timeout_arg;	/* --hold-timeout as given: a duration or "auto" */
	int64_t		hold_timeout_ms;	/* its value; HOLD_TIMEOUT_FROM_SPEC for "auto" */
	int64_t		max_held_connections;
	int64_t		backend_connect_timeout_ms;
	int64_t		max_connections;
	int64_t		keepalive_idle_s;
	int64_t		keepalive_interval_s;
	int64_t		keepalive_count;
	int64_t		threads;		/* forwarding workers; 0 = one per CPU, resolved by main before forwarder_init */
	bool		stop_listening;
	const char *http_listen_address;

	char		uid_buf[UID_SIZE];

	/* the forwarding workers (forwarder.c) */
	struct sockaddr_storage listen_addr[2];	/* per ListenerKind, resolved once by forwarder_init */
	socklen_t	listen_addrlen[2];
	ProxyWorker *workers;
	size_t		nworkers;
	_Atomic int64_t open_conns;	/* over every worker: --max-connections is global */
	_Atomic int64_t held_conns;	/* over every worker: --max-held-connections is global */
	Balance		ro_balance;		/* read-only least connections over every worker */
	_Atomic bool workers_stop;
	_Atomic int64_t last_read_ok_ms;	/* monotonic time of the last successful store read; 0 = never */

	/* the store threads (watcher.c) */
	Store	   *store;			/* the watcher's reads */
	Store	   *report_store;	/* the publisher's lease and report */
	pthread_t	watcher;
	pthread_t	publisher;
	pthread_t	confirmer;
	_Atomic bool stopping;
	ProxyShared shared;
	HttpServer *http;
} ProxyDaemon;

/*
 * forwarder.c: the workers.
 *
 * forwarder_init: the shared state and p->threads workers (p->threads >= 1), each with its loop, wake-up
 * eventfd and tick; nothing listens before the first applied table. forwarder_start: threads for workers
 * 1..N-1 (worker 0 is run by forwarder_run on the calling thread, until forwarder_stop; then every worker
 * thread is joined). forwarder_finish: closes everything and frees it (joining threads still running).
 */
bool forwarder_init(ProxyDaemon *p, char *err, size_t errlen) __attribute__((warn_unused_result));
bool forwarder_start(ProxyDaemon *p, char *err, size_t errlen) __attribute__((warn_unused_result));
void forwarder_run(ProxyDaemon *p);
void forwarder_stop(ProxyDaemon *p);
void forwarder_finish(ProxyDaemon *p);

/*
 * forwarder_apply_routes: switch worker w to rt: close its connections whose target is gone (those still
 * connecting to it are routed again, or held), route its held ones under rt.
 */
void forwarder_apply_routes(ProxyWorker *w, const RouteTable *rt);
/* forwarder_fence: close every connection of w (held ones too) and, with --stop-listening, its listeners. */
void forwarder_fence(ProxyWorker *w, const char *why);

/*
 * The watcher's side of the hand-over (docs/design.md I3). forwarder_post_routes: make rt the newest table and
 * wake every worker; returns its seq. forwarder_wait_applied: wait up to timeout_ms until every worker has
 * applied seq (or a newer one); true when they all have. forwarder_acked_generation: the generation the
 * report may acknowledge: that of the table applied by the worker furthest behind, so the acknowledgement
 * never gets ahead of any worker.
 */
uint64_t forwarder_post_routes(ProxyDaemon *p, const RouteTable *rt);
bool forwarder_wait_applied(ProxyDaemon *p, uint64_t seq, int64_t timeout_ms);
int64_t forwarder_acked_generation(ProxyDaemon *p);

/* forwarder_snapshot: the workers' last copies of their counters, summed, for /metrics and /health. */
void forwarder_snapshot(ProxyDaemon *p, ProxySnapshot *s);

/* watcher.c: the store side */
bool watcher_start(ProxyDaemon *p, char *err, size_t errlen) __attribute__((warn_unused_result));
void watcher_stop(ProxyDaemon *p);

#endif
