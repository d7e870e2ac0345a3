/*
 * tests/unit/test_forwarder.c
 *    The proxy's forwarding engine over real loopback sockets, driven one loop pass at a time: bytes arrive
 *    intact and in order both ways, a backend that does not read makes the proxy stop reading its client
 *    (backpressure, bounded memory), bytes queued when the client closes still reach the backend, and a
 *    route change closes the connections to the old target. Run under ASan and valgrind, it also shows that
 *    closed connections are freed (after their pass) and nothing leaks.
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <signal.h>

#include "log.h"
#include "proxy/proxy.h"

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
	assert_int_equal(listen(fd, 16), 0);
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
rig_routes(Rig *r, const char *db)
{
	RouteTable	rt;

	route_table_none(&rt, "");
	rt.generation = 1;
	snprintf(rt.rw.db_uid, sizeof(rt.rw.db_uid), "%s", db);
	snprintf(rt.rw.host, sizeof(rt.rw.host), "127.0.0.1");
	rt.rw.port = r->backend_port;
	assert_true(route_target_resolve(&rt.rw));
	forwarder_apply_routes(&r->p, &rt);
}

static void
rig_init(Rig *r)
{
	char		err[256];

	memset(r, 0, sizeof(*r));
	log_set_level(LOG_LEVEL_ERROR);
	r->backend_listen = listen_any(&r->backend_port);
	r->p.listen_address = "127.0.0.1";
	r->p.port = free_port();
	r->p.ro_port = 0;
	r->p.ro_fallback = "master";
	r->p.backend_connect_timeout_ms = 2000;
	r->p.max_connections = 100;
	r->p.stop_listening = true;
	r->p.uid = "p1";
	pthread_mutex_init(&r->p.shared.mutex, NULL);
	pthread_cond_init(&r->p.shared.applied_cond, NULL);
	r->p.shared.proxy_timeout_ms = 3000;
	/* the store "was read" far in the future: the watchdog stays quiet; the fence test fences by hand */
	atomic_store(&r->p.last_read_ok_ms, evloop_now_ms() + 3600 * 1000);
	assert_true(forwarder_init(&r->p, err, sizeof(err)));
	rig_routes(r, "db0");
}

static void
rig_finish(Rig *r)
{
	forwarder_finish(&r->p);
	close(r->backend_listen);
	pthread_mutex_destroy(&r->p.shared.mutex);
	pthread_cond_destroy(&r->p.shared.applied_cond);
}

static void
rig_spin(Rig *r, int passes)
{
	for (int i = 0; i < passes; i++)
		(void) evloop_run_once(r->p.loop, 5);
}

/* rig_connect: a client connected through the proxy, and the backend's side of it. */
static void
rig_connect(Rig *r, int *client, int *backend)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	sa.sin_port = htons((uint16_t) r->p.port);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(*client >= 0);
	assert_true(connect(*client, (struct sockaddr *) &sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	*backend = -1;
	for (int i = 0; i < 200 && *backend < 0; i++)
	{
		rig_spin(r, 1);
		*backend = accept4(r->backend_listen, NULL, NULL, SOCK_NONBLOCK);
	}
	assert_true(*backend >= 0);
	rig_spin(r, 3);
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
		(void) pump_read;
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
	assert_int_equal(r.p.nconns, 0);
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
	signal(SIGPIPE, SIG_IGN);
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
	assert_int_equal(r.p.nconns, 0);
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
	assert_int_equal(r.p.nconns, 1);
	rig_routes(&r, "db1");		/* a new master (same address in this rig, another DB) */
	rig_spin(&r, 3);
	assert_int_equal(r.p.nconns, 0);
	assert_int_equal(r.p.metrics.closed_by_route_change, 1);
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
	forwarder_fence(&r.p, "test");
	rig_spin(&r, 2);
	assert_int_equal(r.p.nconns, 0);
	sa.sin_port = htons((uint16_t) r.p.port);
	probe = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(probe, (struct sockaddr *) &sa, sizeof(sa)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(probe);
	close(c);
	close(b);
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
	};

	return cmocka_run_group_tests_name("forwarder", tests, NULL, NULL);
}
