/*
 * tests/unit/test_forwarder.c
 *    The proxy's forwarding engine over real loopback sockets. Most tests drive the workers' loops one pass
 *    at a time from the test's thread (so the order in which workers run is the test's to choose): bytes
 *    arrive intact and in order both ways, a backend that does not read makes the proxy stop reading its
 *    client (backpressure, bounded memory), bytes queued when the client closes still reach the backend, and
 *    a route change closes the connections to the old target. With two workers: the generation is
 *    acknowledged only once every worker has closed its read-write connections (also with the workers on
 *    their own threads), the watchdog fences every worker and unfencing re-listens in every worker, and
 *    read-only connections are balanced over the process, not per worker. Holding: a connection without a
 *    target, or refused by its database, is held and forwarded (its bytes intact) when a target is published
 *    or the database is back; one still connecting follows a route change; the time and count bounds refuse
 *    (the count over every worker); a fenced proxy refuses rather than holds and closes the held ones;
 *    --hold-timeout 0 refuses at once. Run under ASan and valgrind, it also shows that closed connections
 *    are freed (after their pass) and nothing leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

#include "log.h"
#include "proxy/proxy.h"

#define RIG_MAX_CLIENTS 64

typedef struct Rig
{
	ProxyDaemon p;
	int			backend_listen;
	int			backend_port;
} Rig;

static int
listen_any(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t	len = sizeof(sa);
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 128), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static int
free_port(void)
{
	int			port;
	int			fd = listen_any(&port);

	close(fd);
	return port;
}

static void
rig_spin_worker(Rig *r, size_t worker, int passes)
{
	for (int i = 0; i < passes; i++)
		(void) evloop_run_once(r->p.workers[worker].loop, r->p.nworkers > 1 ? 2 : 5);
}

/* rig_spin: passes of every worker's loop, in worker order */
static void
rig_spin(Rig *r, int passes)
{
	for (int i = 0; i < passes; i++)
		for (size_t w = 0; w < r->p.nworkers; w++)
			rig_spin_worker(r, w, 1);
}

/* rig_spin_ms: spin every worker for at least ms (past their 100 ms tick: the watchdog) */
static void
rig_spin_ms(Rig *r, int64_t ms)
{
	int64_t		until = evloop_now_ms() + ms;

	while (evloop_now_ms() < until)
		rig_spin(r, 1);
}

static uint64_t
rig_nconns(const Rig *r)
{
	uint64_t	n = 0;

	for (size_t w = 0; w < r->p.nworkers; w++)
		n += r->p.workers[w].nconns;
	return n;
}

/* rig_table_at: a table routing writes to db at 127.0.0.1:port with that generation */
static RouteTable
rig_table_at(const char *db, int port, int64_t generation)
{
	RouteTable	rt;

	route_table_none(&rt, "");
	rt.generation = generation;
	snprintf(rt.rw.db_uid, sizeof(rt.rw.db_uid), "%s", db);
	snprintf(rt.rw.host, sizeof(rt.rw.host), "127.0.0.1");
	rt.rw.port = port;
	assert_true(route_target_resolve(&rt.rw));
	return rt;
}

/* rig_table: a table routing writes to db (at the rig's backend) with that generation */
static RouteTable
rig_table(const Rig *r, const char *db, int64_t generation)
{
	return rig_table_at(db, r->backend_port, generation);
}

/* rig_post: hand rt to the workers as the watcher does, and let every worker apply it */
static void
rig_post(Rig *r, const RouteTable *rt)
{
	uint64_t	seq = forwarder_post_routes(&r->p, rt);

	rig_spin(r, 2);
	assert_true(forwarder_wait_applied(&r->p, seq, 0));
}

static void
rig_routes(Rig *r, const char *db, int64_t generation)
{
	RouteTable	rt = rig_table(r, db, generation);

	rig_post(r, &rt);
}

/* rig_init_hold: as rig_init_threads, with holding on (hold_ms > 0) or off; a table routing to db0 applied */
static void
rig_init_hold(Rig *r, int threads, bool ro_port, int64_t hold_ms, int64_t max_held)
{
	char		err[256];

	memset(r, 0, sizeof(*r));
	log_set_level(LOG_LEVEL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	r->backend_listen = listen_any(&r->backend_port);
	r->p.listen_address = "127.0.0.1";
	r->p.port = free_port();
	r->p.ro_port = ro_port ? free_port() : 0;
	r->p.ro_fallback = "master";
	r->p.backend_connect_timeout_ms = 2000;
	r->p.max_connections = 100;
	r->p.stop_listening = true;
	r->p.threads = threads;
	r->p.hold_timeout_ms = hold_ms;
	r->p.max_held_connections = max_held;
	r->p.uid = "p1";
	r->p.shared.proxy_timeout_ms = 3000;
	/* the store "was read" far in the future: the watchdog stays quiet; the fence tests move it */
	atomic_store(&r->p.last_read_ok_ms, evloop_now_ms() + 3600 * 1000);
	assert_true(forwarder_init(&r->p, err, sizeof(err)));
	assert_int_equal(r->p.nworkers, threads);
	rig_routes(r, "db0", 1);
}

static void
rig_init_threads(Rig *r, int threads, bool ro_port)
{
	rig_init_hold(r, threads, ro_port, 0, 0);
}

static void
rig_init(Rig *r)
{
	rig_init_threads(r, 1, false);
}

static void
rig_finish(Rig *r)
{
	forwarder_finish(&r->p);
	close(r->backend_listen);
}

/* client_connect: a non-blocking client socket connecting to port on loopback */
static int
client_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	sa.sin_port = htons((uint16_t) port);
	assert_true(fd >= 0);
	assert_true(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	return fd;
}

/* rig_connect_port: a client connected through the proxy's port, and the backend's side of it. */
static void
rig_connect_port(Rig *r, int port, int *client, int *backend)
{
	*client = client_connect(port);
	*backend = -1;
	for (int i = 0; i < 200 && *backend < 0; i++)
	{
		rig_spin(r, 1);
		*backend = accept4(r->backend_listen, NULL, NULL, SOCK_NONBLOCK);
	}
	assert_true(*backend >= 0);
	rig_spin(r, 3);
}

static void
rig_connect(Rig *r, int *client, int *backend)
{
	rig_connect_port(r, (int) r->p.port, client, backend);
}

/*
 * rig_connect_spread: n >= min_n clients on the read-write port, until every worker holds at least one
 * (SO_REUSEPORT hashes connections over the workers: which worker gets which is the kernel's choice).
 */
static int
rig_connect_spread(Rig *r, int min_n, int *clients, int *backends)
{
	int			n = 0;
	bool		spread = false;

	while (n < RIG_MAX_CLIENTS && (n < min_n || !spread))
	{
		rig_connect(r, &clients[n], &backends[n]);
		n++;
		spread = true;
		for (size_t w = 0; w < r->p.nworkers; w++)
			spread &= r->p.workers[w].nconns > 0;
	}
	assert_true(spread);
	assert_int_equal(rig_nconns(r), n);
	return n;
}

/* wait_eof: whether fd sees its peer close (EOF or reset) within timeout_ms */
static bool
wait_eof(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char		buf[64];

	while (poll(&pfd, 1, timeout_ms) == 1)
	{
		ssize_t		n = read(fd, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EAGAIN)
			return false;
	}
	return false;
}

/* pump_read: read what fd has (spinning the proxy) until want bytes arrived or nothing moves for a while. */
static size_t
pump_read(Rig *r, int fd, char *out, size_t want)
{
	size_t		got = 0;
	int			idle = 0;

	while (got < want && idle < 200)
	{
		ssize_t		n = read(fd, out + got, want - got);

		if (n > 0)
		{
			got += (size_t) n;
			idle = 0;
		}
		else
		{
			if (n == 0)
				break;
			idle++;
			rig_spin(r, 1);
		}
	}
	return got;
}

static void
test_bytes_flow_both_ways_in_order(void **state)
{
	Rig			r;
	int			c;
	int			b;
	char		big[100000];
	char		got[100000];

	(void) state;
	rig_init(&r);
	rig_connect(&r, &c, &b);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char) (i * 7 + i / 251);

	/* client -> backend, written in chunks while the proxy runs */
	for (size_t off = 0; off < sizeof(big);)
	{
		ssize_t		n = write(c, big + off, sizeof(big) - off);

		if (n > 0)
			off += (size_t) n;
		rig_spin(&r, 1);
	}
	assert_int_equal(pump_read(&r, b, got, sizeof(got)), sizeof(got));
	assert_memory_equal(got, big, sizeof(big));

	/* backend -> client */
	assert_int_equal(write(b, "hello", 5), 5);
	memset(got, 0, 8);
	assert_int_equal(pump_read(&r, c, got, 5), 5);
	assert_memory_equal(got, "hello", 5);
	close(c);
	close(b);
	rig_spin(&r, 5);
	assert_int_equal(rig_nconns(&r), 0);
	assert_int_equal(atomic_load(&r.p.open_conns), 0);
	rig_finish(&r);
}

static void
test_backend_not_reading_stops_reading_the_client(void **state)
{
	Rig			r;
	int			c;
	int			b;
	size_t		sent = 0;
	char		chunk[65536];
	int			stalled = 0;
	int			sz = 65536;

	(void) state;
	memset(chunk, 'x', sizeof(chunk));
	rig_init(&r);
	rig_connect(&r, &c, &b);
	/* small kernel buffers so the test fills them fast */
	(void) setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void) setsockopt(b, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));

	/* the backend never reads: writing must stall, with a bounded amount in flight */
	while (stalled < 50 && sent < 64 * 1024 * 1024)
	{
		ssize_t		n = write(c, chunk, sizeof(chunk));

		if (n > 0)
		{
			sent += (size_t) n;
			stalled = 0;
		}
		else
			stalled++;
		rig_spin(&r, 1);
	}
	assert_true(stalled >= 50);
	/* kernel buffers on three sockets plus the proxy's 8 KiB: far less than what a runaway buffer would take */
	assert_true(sent < 16 * 1024 * 1024);

	/* once the backend reads, everything arrives */
	{
		size_t		total = 0;
		char		buf[65536];
		int			idle = 0;

		while (total < sent && idle < 500)
		{
			ssize_t		n = read(b, buf, sizeof(buf));

			if (n > 0)
			{
				total += (size_t) n;
				idle = 0;
			}
			else
			{
				idle++;
				rig_spin(&r, 1);
			}
		}
		assert_int_equal(total, sent);
	}
	close(c);
	close(b);
	rig_spin(&r, 5);
	rig_finish(&r);
}

static void
test_bytes_queued_when_client_closes_reach_backend(void **state)
{
	Rig			r;
	int			c;
	int			b;
	char		got[64];
	size_t		n;

	(void) state;
	rig_init(&r);
	rig_connect(&r, &c, &b);
	assert_int_equal(write(c, "terminate-message", 17), 17);
	close(c);
	n = pump_read(&r, b, got, sizeof(got));
	assert_int_equal(n, 17);
	assert_memory_equal(got, "terminate-message", 17);
	/* and then the backend sees EOF: the proxy closed it */
	rig_spin(&r, 3);
	assert_int_equal(read(b, got, sizeof(got)), 0);
	close(b);
	assert_int_equal(rig_nconns(&r), 0);
	rig_finish(&r);
}

static void
test_route_change_closes_connections_to_old_target(void **state)
{
	Rig			r;
	int			c;
	int			b;
	char		buf[8];

	(void) state;
	rig_init(&r);
	rig_connect(&r, &c, &b);
	assert_int_equal(rig_nconns(&r), 1);
	rig_routes(&r, "db1", 2);	/* a new master (same address in this rig, another DB) */
	rig_spin(&r, 3);
	assert_int_equal(rig_nconns(&r), 0);
	assert_int_equal(r.p.workers[0].metrics.closed_by_route_change, 1);
	assert_int_equal(forwarder_acked_generation(&r.p), 2);
	assert_int_equal(read(c, buf, sizeof(buf)), 0);
	close(c);
	close(b);
	rig_finish(&r);
}

static void
test_fence_closes_everything_and_stops_listening(void **state)
{
	Rig			r;
	int			c;
	int			b;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int			probe;

	(void) state;
	rig_init(&r);
	rig_connect(&r, &c, &b);
	forwarder_fence(&r.p.workers[0], "test");
	rig_spin(&r, 2);
	assert_int_equal(rig_nconns(&r), 0);
	sa.sin_port = htons((uint16_t) r.p.port);
	probe = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(probe, (struct sockaddr *) &sa, sizeof(sa)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(probe);
	close(c);
	close(b);
	rig_finish(&r);
}

/*
 * docs/design.md I3 with two workers: the new generation (no route to db0 any more) is acknowledged only once
 * every worker has closed its read-write connections; a worker that has not run yet holds the
 * acknowledgement back.
 */
static void
test_route_change_is_acked_only_after_every_worker_closed_its_connections(void **state)
{
	Rig			r;
	int			clients[RIG_MAX_CLIENTS];
	int			backends[RIG_MAX_CLIENTS];
	int			n;
	RouteTable	rt;
	uint64_t	seq;
	uint64_t	held_by_worker1;

	(void) state;
	rig_init_threads(&r, 2, false);
	n = rig_connect_spread(&r, 8, clients, backends);
	held_by_worker1 = r.p.workers[1].nconns;
	assert_int_equal(forwarder_acked_generation(&r.p), 1);

	/* the watcher posts generation 2 (another master); only worker 0 gets to run */
	rt = rig_table(&r, "db1", 2);
	seq = forwarder_post_routes(&r.p, &rt);
	rig_spin_worker(&r, 0, 3);
	assert_int_equal(r.p.workers[0].nconns, 0);
	assert_int_equal(r.p.workers[1].nconns, held_by_worker1);
	assert_false(forwarder_wait_applied(&r.p, seq, 20));
	assert_int_equal(forwarder_acked_generation(&r.p), 1);

	/* worker 1 runs: now every worker has applied it, and only now is generation 2 acknowledged */
	rig_spin_worker(&r, 1, 1);
	assert_true(forwarder_wait_applied(&r.p, seq, 0));
	assert_int_equal(forwarder_acked_generation(&r.p), 2);
	assert_int_equal(rig_nconns(&r), 0);
	assert_int_equal(r.p.workers[0].metrics.closed_by_route_change + r.p.workers[1].metrics.closed_by_route_change,
					 n);
	for (int i = 0; i < n; i++)
	{
		assert_true(wait_eof(clients[i], 2000));
		close(clients[i]);
		close(backends[i]);
	}
	rig_finish(&r);
}

static void *
run_forwarder(void *arg)
{
	forwarder_run(arg);
	return NULL;
}

/* The same with the workers on their own threads, woken by their eventfds as in the daemon. */
static void
test_threaded_workers_close_every_connection_before_the_ack(void **state)
{
	Rig			r;
	char		err[256];
	pthread_t	main_worker;
	int			clients[RIG_MAX_CLIENTS];
	int			backends[RIG_MAX_CLIENTS];
	int			n = 0;
	ProxySnapshot s;
	RouteTable	rt;
	uint64_t	seq;
	bool		spread = false;

	(void) state;
	rig_init_threads(&r, 2, false);
	assert_true(forwarder_start(&r.p, err, sizeof(err)));
	assert_int_equal(pthread_create(&main_worker, NULL, run_forwarder, &r.p), 0);

	while (n < RIG_MAX_CLIENTS && (n < 8 || !spread))
	{
		clients[n] = client_connect((int) r.p.port);
		backends[n] = -1;
		for (int i = 0; i < 2000 && backends[n] < 0; i++)
		{
			backends[n] = accept4(r.backend_listen, NULL, NULL, SOCK_NONBLOCK);
			if (backends[n] < 0)
				usleep(1000);
		}
		assert_true(backends[n] >= 0);
		n++;
		/* the workers' copies of their counters are refreshed on their 100 ms tick */
		for (int i = 0; i < 50; i++)
		{
			forwarder_snapshot(&r.p, &s);
			if (s.total.current[LISTENER_RW] == (uint64_t) n)
				break;
			usleep(10 * 1000);
		}
		assert_int_equal(s.total.current[LISTENER_RW], n);
		spread = s.worker_conns[0] > 0 && s.worker_conns[1] > 0;
	}
	assert_true(spread);

	rt = rig_table(&r, "db1", 2);
	seq = forwarder_post_routes(&r.p, &rt);
	assert_true(forwarder_wait_applied(&r.p, seq, 5000));
	assert_int_equal(forwarder_acked_generation(&r.p), 2);
	/* each worker's copy was taken when it had applied the table: none had a connection left */
	forwarder_snapshot(&r.p, &s);
	assert_int_equal(s.worker_conns[0], 0);
	assert_int_equal(s.worker_conns[1], 0);
	assert_int_equal(s.total.closed_by_route_change, n);
	for (int i = 0; i < n; i++)
	{
		assert_true(wait_eof(clients[i], 2000));
		close(clients[i]);
		close(backends[i]);
	}

	forwarder_stop(&r.p);
	assert_int_equal(pthread_join(main_worker, NULL), 0);
	rig_finish(&r);
}

/* The watchdog runs in every worker: all of them fence (and stop listening), all of them come back. */
static void
test_watchdog_fences_every_worker_and_unfencing_relistens_in_each(void **state)
{
	Rig			r;
	int			clients[RIG_MAX_CLIENTS];
	int			backends[RIG_MAX_CLIENTS];
	int			n;
	int			c;
	int			b;

	(void) state;
	rig_init_threads(&r, 2, false);
	n = rig_connect_spread(&r, 4, clients, backends);

	atomic_store(&r.p.last_read_ok_ms, evloop_now_ms() - 10 * 1000);
	rig_spin_ms(&r, 250);
	for (size_t w = 0; w < r.p.nworkers; w++)
	{
		assert_true(r.p.workers[w].fenced);
		assert_int_equal(r.p.workers[w].nconns, 0);
		assert_int_equal(r.p.workers[w].listeners[LISTENER_RW].fd, -1);
	}
	assert_int_equal(r.p.workers[0].metrics.watchdog_fences, 1);
	for (int i = 0; i < n; i++)
	{
		assert_true(wait_eof(clients[i], 2000));
		close(clients[i]);
		close(backends[i]);
	}
	{
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int			probe = socket(AF_INET, SOCK_STREAM, 0);

		sa.sin_port = htons((uint16_t) r.p.port);
		assert_int_equal(connect(probe, (struct sockaddr *) &sa, sizeof(sa)), -1);
		assert_int_equal(errno, ECONNREFUSED);
		close(probe);
	}

	/* the store is readable again: every worker re-applies the routes and listens */
	atomic_store(&r.p.last_read_ok_ms, evloop_now_ms() + 3600 * 1000);
	rig_spin_ms(&r, 250);
	for (size_t w = 0; w < r.p.nworkers; w++)
	{
		assert_false(r.p.workers[w].fenced);
		assert_true(r.p.workers[w].listeners[LISTENER_RW].fd >= 0);
	}
	rig_connect(&r, &c, &b);
	assert_int_equal(rig_nconns(&r), 1);
	close(c);
	close(b);
	rig_spin(&r, 3);
	rig_finish(&r);
}

/* Read-only least connections counts every worker's connections, not each worker's own. */
static void
test_ro_balance_spans_workers(void **state)
{
	Rig			r;
	RouteTable	rt;
	int			clients[8];
	int			backends[8];

	(void) state;
	rig_init_threads(&r, 2, true);
	rt = rig_table(&r, "db0", 2);
	rt.ro_count = 2;
	rt.ro[0] = rt.rw;
	snprintf(rt.ro[0].db_uid, sizeof(rt.ro[0].db_uid), "db1");
	rt.ro[1] = rt.rw;
	snprintf(rt.ro[1].db_uid, sizeof(rt.ro[1].db_uid), "db2");
	rig_post(&r, &rt);

	for (int i = 0; i < 8; i++)
		rig_connect_port(&r, (int) r.p.ro_port, &clients[i], &backends[i]);
	assert_int_equal(rig_nconns(&r), 8);
	assert_int_equal(balance_count(&r.p.ro_balance, &rt.ro[0]), 4);
	assert_int_equal(balance_count(&r.p.ro_balance, &rt.ro[1]), 4);

	/* db1 leaves the read-only set: its 4 connections close, wherever they were, and its count goes */
	rt.ro_count = 1;
	rt.ro[0] = rt.ro[1];
	rt.generation = 3;
	rig_post(&r, &rt);
	assert_int_equal(rig_nconns(&r), 4);
	for (int i = 0; i < 8; i++)
	{
		close(clients[i]);
		close(backends[i]);
	}
	rig_spin(&r, 5);
	assert_int_equal(rig_nconns(&r), 0);
	assert_int_equal(balance_count(&r.p.ro_balance, &rt.ro[0]), 0);
	rig_finish(&r);
}

/* --max-connections holds over every worker together. */
static void
test_max_connections_is_global(void **state)
{
	Rig			r;
	int			clients[RIG_MAX_CLIENTS];
	int			backends[RIG_MAX_CLIENTS];
	int			n;
	int			extra;

	(void) state;
	rig_init_threads(&r, 2, false);
	n = rig_connect_spread(&r, 2, clients, backends);
	r.p.max_connections = n;
	extra = client_connect((int) r.p.port);
	rig_spin(&r, 3);
	assert_true(wait_eof(extra, 2000));
	assert_int_equal(rig_nconns(&r), n);
	assert_int_equal(r.p.workers[0].metrics.refused[LISTENER_RW] + r.p.workers[1].metrics.refused[LISTENER_RW], 1);
	close(extra);
	for (int i = 0; i < n; i++)
	{
		close(clients[i]);
		close(backends[i]);
	}
	rig_spin(&r, 5);
	assert_int_equal(atomic_load(&r.p.open_conns), 0);
	rig_finish(&r);
}

/* ---- holding new connections while there is no target ---- */

/* rig_no_master: a table without a read-write target (a failover in progress), applied by every worker */
static void
rig_no_master(Rig *r, int64_t generation)
{
	RouteTable	rt;

	route_table_none(&rt, "the cluster data names no master");
	rt.generation = generation;
	rig_post(r, &rt);
}

/* listen_on: a listening socket on 127.0.0.1:port (a database coming back on its address) */
static int
listen_on(int port, int backlog)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int			one = 1;
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	sa.sin_port = htons((uint16_t) port);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/* rig_eof_within: spin the proxy until fd sees its peer close (EOF or reset), at most ms; whether it did */
static bool
rig_eof_within(Rig *r, int fd, int64_t ms)
{
	int64_t		until = evloop_now_ms() + ms;
	char		buf[64];

	do
	{
		ssize_t		n;

		rig_spin(r, 1);
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	} while (evloop_now_ms() < until);
	return false;
}

/* rig_accept_within: the backend's side of a connection the proxy made to lfd, spinning at most ms; -1: none */
static int
rig_accept_within(Rig *r, int lfd, int64_t ms)
{
	int64_t		until = evloop_now_ms() + ms;
	int			fd;

	do
	{
		rig_spin(r, 1);
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	} while (fd < 0 && evloop_now_ms() < until);
	return fd;
}

/* rig_metrics: the workers' own counters (not their copies for /metrics), summed */
static ProxyMetrics
rig_metrics(const Rig *r)
{
	ProxyMetrics sum;

	memset(&sum, 0, sizeof(sum));
	for (size_t w = 0; w < r->p.nworkers; w++)
	{
		const ProxyMetrics *m = &r->p.workers[w].metrics;

		for (int k = 0; k < 2; k++)
		{
			sum.refused[k] += m->refused[k];
			sum.held[k] += m->held[k];
			sum.held_total[k] += m->held_total[k];
			sum.hold_refused_timeout[k] += m->hold_refused_timeout[k];
			sum.hold_refused_limit[k] += m->hold_refused_limit[k];
		}
		sum.closed_by_route_change += m->closed_by_route_change;
		hold_stats_add(&sum.hold, &m->hold);
	}
	return sum;
}

/* A client that connects while no master is published waits, and reaches the master once it is published. */
static void
test_connection_held_while_no_master_is_forwarded_when_one_is_published(void **state)
{
	Rig			r;
	int			c;
	int			b;
	char		got[16];

	(void) state;
	rig_init_hold(&r, 1, false, 5000, 10);
	rig_no_master(&r, 2);
	c = client_connect((int) r.p.port);
	rig_spin(&r, 5);
	assert_int_equal(write(c, "startup", 7), 7);	/* the client speaks first, as PostgreSQL's do */
	assert_false(rig_eof_within(&r, c, 200));
	assert_int_equal(rig_metrics(&r).held[LISTENER_RW], 1);
	assert_int_equal(atomic_load(&r.p.held_conns), 1);
	assert_int_equal(accept4(r.backend_listen, NULL, NULL, SOCK_NONBLOCK), -1);

	rig_routes(&r, "db1", 3);	/* the new master */
	b = rig_accept_within(&r, r.backend_listen, 2000);
	assert_true(b >= 0);
	assert_int_equal(pump_read(&r, b, got, 7), 7);
	assert_memory_equal(got, "startup", 7);
	assert_int_equal(write(b, "ok", 2), 2);
	assert_int_equal(pump_read(&r, c, got, 2), 2);
	assert_memory_equal(got, "ok", 2);
	assert_int_equal(rig_metrics(&r).held[LISTENER_RW], 0);
	assert_int_equal(rig_metrics(&r).held_total[LISTENER_RW], 1);
	assert_int_equal(rig_metrics(&r).refused[LISTENER_RW], 0);
	assert_int_equal(rig_metrics(&r).hold.count[HOLD_OUTCOME_FORWARDED], 1);
	assert_int_equal(atomic_load(&r.p.held_conns), 0);
	close(c);
	close(b);
	rig_spin(&r, 3);
	rig_finish(&r);
}

/*
 * The master dies before the sentinel has noticed: the proxy still routes to it and its database refuses the
 * connection. The client is held (nothing of it reached the dead master) and reaches the next master.
 */
static void
test_connection_refused_by_its_database_is_held_until_a_new_master(void **state)
{
	Rig			r;
	RouteTable	rt;
	int			c;
	int			b;

	(void) state;
	rig_init_hold(&r, 1, false, 5000, 10);
	rt = rig_table_at("db0", free_port(), 2);	/* nothing listens there: the dead master */
	rig_post(&r, &rt);
	c = client_connect((int) r.p.port);
	assert_false(rig_eof_within(&r, c, 300));
	assert_int_equal(rig_metrics(&r).held[LISTENER_RW], 1);
	assert_int_equal(rig_metrics(&r).refused[LISTENER_RW], 0);

	rig_no_master(&r, 3);		/* the sentinel's "no master": still held */
	assert_false(rig_eof_within(&r, c, 150));
	rig_routes(&r, "db1", 4);	/* the new master */
	b = rig_accept_within(&r, r.backend_listen, 2000);
	assert_true(b >= 0);
	rig_spin(&r, 3);
	assert_int_equal(rig_metrics(&r).held[LISTENER_RW], 0);
	assert_int_equal(rig_metrics(&r).hold.count[HOLD_OUTCOME_FORWARDED], 1);
	close(c);
	close(b);
	rig_spin(&r, 3);
	rig_finish(&r);
}

/* A database that comes back on its address without a failover (a restart) gets its held clients. */
static void
test_held_connection_retries_a_database_that_comes_back(void **state)
{
	Rig			r;
	RouteTable	rt;
	int			port = free_port();
	int			lfd;
	int			c;
	int			b;

	(void) state;
	rig_init_hold(&r, 1, false, 5000, 10);
	rt = rig_table_at("db0", port, 2);
	rig_post(&r, &rt);
	c = client_connect((int) r.p.port);
	assert_false(rig_eof_within(&r, c, 300));
	assert_int_equal(rig_metrics(&r).held[LISTENER_RW], 1);

	lfd = listen_on(port, 16);	/* same table, the database listens again */
	b = rig_accept_within(&r, lfd, 3000);
	assert_true(b >= 0);
	rig_spin(&r, 3);			/* the proxy sees its connect complete */
	assert_int_equal(rig_metrics(&r).held[LISTENER_RW], 0);
	close(c);
	close(b);
	close(lfd);
	rig_spin(&r, 3);
	rig_finish(&r);
}

/*
 * A connection still connecting to the old master when the route changes has sent it nothing: it goes to
 * the new master (never to the old one: I2) instead of being closed.
 */
static void
test_connection_still_connecting_goes_to_the_new_master(void **state)
{
	Rig			r;
	RouteTable	rt;
	int			slow_port;
	int			slow = listen_any(&slow_port);
	int			filler[4];
	int			c;
	int			b;

	(void) state;
	/* a database whose accept queue is full: the kernel drops new SYNs, so a connect to it stays in progress */
	close(slow);
	slow = listen_on(slow_port, 0);
	for (int i = 0; i < 4; i++)
		filler[i] = client_connect(slow_port);
	usleep(50 * 1000);

	rig_init_hold(&r, 1, false, 5000, 10);
	rt = rig_table_at("db0", slow_port, 2);
	rig_post(&r, &rt);
	c = client_connect((int) r.p.port);
	assert_false(rig_eof_within(&r, c, 200));
	assert_int_equal(rig_nconns(&r), 1);
	assert_int_equal(rig_metrics(&r).held[LISTENER_RW], 0);	/* connecting, not held */

	rig_routes(&r, "db1", 3);
	b = rig_accept_within(&r, r.backend_listen, 2000);
	assert_true(b >= 0);
	assert_int_equal(rig_metrics(&r).closed_by_route_change, 0);
	assert_false(rig_eof_within(&r, c, 50));
	close(c);
	close(b);
	for (int i = 0; i < 4; i++)
		close(filler[i]);
	close(slow);
	rig_spin(&r, 3);
	rig_finish(&r);
}

/* Past the hold timeout a held connection is refused, and counted as such. */
static void
test_held_beyond_the_timeout_is_refused(void **state)
{
	Rig			r;
	int			c;
	const ProxyMetrics *m;

	(void) state;
	rig_init_hold(&r, 1, false, 200, 10);
	rig_no_master(&r, 2);
	c = client_connect((int) r.p.port);
	assert_false(rig_eof_within(&r, c, 100));
	assert_true(rig_eof_within(&r, c, 2000));
	m = &r.p.workers[0].metrics;
	assert_int_equal(m->refused[LISTENER_RW], 1);
	assert_int_equal(m->hold_refused_timeout[LISTENER_RW], 1);
	assert_int_equal(m->hold.count[HOLD_OUTCOME_REFUSED], 1);
	assert_true(m->hold.max_ms >= 200);
	assert_int_equal(m->held[LISTENER_RW], 0);
	assert_int_equal(atomic_load(&r.p.held_conns), 0);
	close(c);
	rig_finish(&r);
}

/* --max-held-connections holds over every worker: one more is refused at once, the held ones go on. */
static void
test_held_beyond_the_limit_are_refused_over_every_worker(void **state)
{
	Rig			r;
	int			clients[3];
	int			refused = -1;
	int			backends[2];

	(void) state;
	rig_init_hold(&r, 2, false, 5000, 2);
	rig_no_master(&r, 2);
	for (int i = 0; i < 3; i++)
	{
		clients[i] = client_connect((int) r.p.port);
		rig_spin(&r, 3);
	}
	for (int i = 0; i < 3; i++)
		if (rig_eof_within(&r, clients[i], 50))
		{
			assert_int_equal(refused, -1);
			refused = i;
		}
	assert_int_equal(refused, 2);
	assert_int_equal(rig_metrics(&r).held[LISTENER_RW], 2);
	assert_int_equal(rig_metrics(&r).hold_refused_limit[LISTENER_RW], 1);
	assert_int_equal(atomic_load(&r.p.held_conns), 2);

	rig_routes(&r, "db1", 3);
	for (int i = 0; i < 2; i++)
	{
		backends[i] = rig_accept_within(&r, r.backend_listen, 2000);
		assert_true(backends[i] >= 0);
	}
	rig_spin(&r, 3);
	assert_int_equal(rig_metrics(&r).held[LISTENER_RW], 0);
	for (int i = 0; i < 3; i++)
		close(clients[i]);
	for (int i = 0; i < 2; i++)
		close(backends[i]);
	rig_spin(&r, 3);
	rig_finish(&r);
}

/* I2: a proxy that cannot read the store refuses new connections (when it keeps listening) rather than hold them. */
static void
test_fenced_proxy_refuses_rather_than_holds(void **state)
{
	Rig			r;
	int			c;

	(void) state;
	rig_init_hold(&r, 1, false, 5000, 10);
	r.p.stop_listening = false;
	atomic_store(&r.p.last_read_ok_ms, evloop_now_ms() - 10 * 1000);
	rig_spin_ms(&r, 250);
	assert_true(r.p.workers[0].fenced);
	c = client_connect((int) r.p.port);
	assert_true(rig_eof_within(&r, c, 1000));
	assert_int_equal(rig_metrics(&r).held_total[LISTENER_RW], 0);
	assert_int_equal(rig_metrics(&r).refused[LISTENER_RW], 1);
	close(c);
	rig_finish(&r);
}

/* Fencing closes the held connections too. */
static void
test_fence_closes_held_connections(void **state)
{
	Rig			r;
	int			c;

	(void) state;
	rig_init_hold(&r, 1, false, 60000, 10);
	rig_no_master(&r, 2);
	c = client_connect((int) r.p.port);
	assert_false(rig_eof_within(&r, c, 100));
	assert_int_equal(atomic_load(&r.p.held_conns), 1);
	atomic_store(&r.p.last_read_ok_ms, evloop_now_ms() - 10 * 1000);
	assert_true(rig_eof_within(&r, c, 1000));
	assert_true(r.p.workers[0].fenced);
	assert_int_equal(r.p.workers[0].metrics.hold.count[HOLD_OUTCOME_CLOSED], 1);
	assert_int_equal(atomic_load(&r.p.held_conns), 0);
	assert_int_equal(rig_nconns(&r), 0);
	close(c);
	rig_finish(&r);
}

/* --hold-timeout 0: no target, or a database that refuses, closes the client at once (as before holding). */
static void
test_hold_timeout_zero_refuses_at_once(void **state)
{
	Rig			r;
	RouteTable	rt;
	int			c;

	(void) state;
	rig_init_hold(&r, 1, false, 0, 10);
	rig_no_master(&r, 2);
	c = client_connect((int) r.p.port);
	assert_true(rig_eof_within(&r, c, 1000));
	close(c);
	rt = rig_table_at("db0", free_port(), 3);
	rig_post(&r, &rt);
	c = client_connect((int) r.p.port);
	assert_true(rig_eof_within(&r, c, 1000));
	close(c);
	assert_int_equal(rig_metrics(&r).refused[LISTENER_RW], 2);
	assert_int_equal(rig_metrics(&r).held_total[LISTENER_RW], 0);
	rig_finish(&r);
}

/* The read-only port holds while its set is empty (--ro-fallback none) and reaches the next standby. */
static void
test_ro_connection_held_until_a_standby_is_in_the_set(void **state)
{
	Rig			r;
	RouteTable	rt;
	int			c;
	int			b;

	(void) state;
	rig_init_hold(&r, 1, true, 5000, 10);
	r.p.ro_fallback = "none";
	rt = rig_table(&r, "db0", 2);	/* a master, no standby in the read-only set */
	rig_post(&r, &rt);
	c = client_connect((int) r.p.ro_port);
	assert_false(rig_eof_within(&r, c, 200));
	assert_int_equal(rig_metrics(&r).held[LISTENER_RO], 1);
	assert_int_equal(accept4(r.backend_listen, NULL, NULL, SOCK_NONBLOCK), -1);

	rt.generation = 3;
	rt.ro_count = 1;
	rt.ro[0] = rt.rw;
	snprintf(rt.ro[0].db_uid, sizeof(rt.ro[0].db_uid), "db2");
	rig_post(&r, &rt);
	b = rig_accept_within(&r, r.backend_listen, 2000);
	assert_true(b >= 0);
	rig_spin(&r, 3);
	assert_int_equal(balance_count(&r.p.ro_balance, &rt.ro[0]), 1);
	assert_int_equal(rig_metrics(&r).held[LISTENER_RO], 0);
	close(c);
	close(b);
	rig_spin(&r, 3);
	assert_int_equal(balance_count(&r.p.ro_balance, &rt.ro[0]), 0);
	rig_finish(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_flow_both_ways_in_order),
		cmocka_unit_test(test_backend_not_reading_stops_reading_the_client),
		cmocka_unit_test(test_bytes_queued_when_client_closes_reach_backend),
		cmocka_unit_test(test_route_change_closes_connections_to_old_target),
		cmocka_unit_test(test_fence_closes_everything_and_stops_listening),
		cmocka_unit_test(test_route_change_is_acked_only_after_every_worker_closed_its_connections),
		cmocka_unit_test(test_threaded_workers_close_every_connection_before_the_ack),
		cmocka_unit_test(test_watchdog_fences_every_worker_and_unfencing_relistens_in_each),
		cmocka_unit_test(test_ro_balance_spans_workers),
		cmocka_unit_test(test_max_connections_is_global),
		cmocka_unit_test(test_connection_held_while_no_master_is_forwarded_when_one_is_published),
		cmocka_unit_test(test_connection_refused_by_its_database_is_held_until_a_new_master),
		cmocka_unit_test(test_held_connection_retries_a_database_that_comes_back),
		cmocka_unit_test(test_connection_still_connecting_goes_to_the_new_master),
		cmocka_unit_test(test_held_beyond_the_timeout_is_refused),
		cmocka_unit_test(test_held_beyond_the_limit_are_refused_over_every_worker),
		cmocka_unit_test(test_fenced_proxy_refuses_rather_than_holds),
		cmocka_unit_test(test_fence_closes_held_connections),
		cmocka_unit_test(test_hold_timeout_zero_refuses_at_once),
		cmocka_unit_test(test_ro_connection_held_until_a_standby_is_in_the_set),
	};

	return cmocka_run_group_tests_name("forwarder", tests, NULL, NULL);
}
