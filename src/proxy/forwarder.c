/*
 * src/proxy/forwarder.c
 *    The forwarding engine: N workers, each an epoll loop on a thread of its own (worker 0 on the main thread)
 *    with its own listening sockets, its own ProxyConn per client with its backend, and the byte pump between
 *    them. Costs per message are what the benchmark measures, so the pump reads and writes directly (a write
 *    is tried at once after a read; EPOLLOUT is asked for only when the peer's socket buffer is full) and an
 *    fd's epoll mask is changed only when it really changes. Each direction has a fixed buffer: when it is
 *    full the reading side stops being polled (backpressure). Connections are freed after the dispatch pass
 *    (the after-pass hook), never inside their own callbacks.
 *
 * A connection without a target (none published, or its database refused it before anything of the client's
 * reached it) is held, its client unread, within the bounds of hold.c, and routed when the worker applies the
 * next route table or, after a refusal, retries the same database; a fenced worker never holds.
 *
 * A connection lives and dies in the worker that accepted it: nothing of it is shared, so the pump takes no
 * lock and touches no atomic. What crosses threads: the route table (posted by the watcher with a sequence
 * number, applied by every worker, acknowledged only once the slowest worker has applied it), the time of
 * the last store read (each worker runs the watchdog for itself), the global connection count (one atomic
 * per accept and close), the read-only balance (balance.c, once per read-only connection) and each worker's
 * copy of its counters (under the shared mutex, on its 100 ms tick).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"

#define PROXY_BUF_SIZE 8192
#define PROXY_ACCEPTS_PER_PASS 64
#define PROXY_TICK_MS 100

typedef enum ConnState
{
	CONN_STATE_HOLDING = 0,		/* waiting for a target (hold.c's bounds); the client is not read */
	CONN_STATE_CONNECTING,		/* non-blocking connect to the backend in progress */
	CONN_STATE_FORWARDING,
	CONN_STATE_CLOSING,			/* on the closing list, freed after this pass */
} ConnState;

typedef struct ProxyBuf
{
	uint32_t	start;
	uint32_t	end;
	char		data[PROXY_BUF_SIZE];
} ProxyBuf;

struct ProxyConn
{
	ProxyWorker *worker;
	ListenerKind kind;
	ConnState	state;
	int			cfd;			/* client socket */
	int			bfd;			/* backend socket, -1 before connecting */
	RouteTarget target;
	bool		balanced;		/* counted in the read-only balance under target: released on close */
	bool		held;			/* counted among the held (metrics.held, p->held_conns) until forwarded or closed */
	int			connect_failures;	/* connections to a database that failed while the client waited */
	int64_t		accepted_ms;
	int64_t		hold_deadline_ms;	/* accepted_ms + the hold timeout: held no longer than this */
	int64_t		retry_at_ms;	/* held after a failed connect: try the routes again then (0 = now) */
	int64_t		connect_deadline_ms;
	bool		client_eof;		/* the client closed its side: no more reads from it */
	bool		backend_eof;
	ProxyConn  *prev;
	ProxyConn  *next;
	ProxyBuf	c2b;			/* client -> backend */
	ProxyBuf	b2c;			/* backend -> client */
};

static void conn_client_event(EvLoop *loop, int fd, void *data, int mask);
static void conn_backend_event(EvLoop *loop, int fd, void *data, int mask);

static const char *
listener_kind_to_string(ListenerKind k)
{
	switch (k)
	{
		case LISTENER_RW:
			return "rw";
		case LISTENER_RO:
			return "ro";
	}
	return "?";
}

/* conn_hold_end: c is no longer held (its wait ended with outcome): uncount it, record its wait. */
static void
conn_hold_end(ProxyConn *c, HoldOutcome outcome)
{
	ProxyWorker *w = c->worker;

	if (!c->held)
		return;
	c->held = false;
	w->metrics.held[c->kind]--;
	atomic_fetch_sub_explicit(&w->proxy->held_conns, 1, memory_order_relaxed);
	hold_stats_record(&w->metrics.hold, outcome, evloop_now_ms() - c->accepted_ms);
}

/* conn_drop_backend: close c's backend socket (if any) and forget its target. */
static void
conn_drop_backend(ProxyConn *c)
{
	ProxyWorker *w = c->worker;

	if (c->bfd >= 0)
	{
		evloop_forget(w->loop, c->bfd);
		close(c->bfd);
		c->bfd = -1;
	}
	if (c->balanced)
		balance_release(&w->proxy->ro_balance, &c->target);
	c->balanced = false;
	memset(&c->target, 0, sizeof(c->target));
}

/* conn_close: mark closing, stop polling, close the sockets; the memory is freed after the pass. */
static void
conn_close(ProxyConn *c)
{
	ProxyWorker *w = c->worker;
	ProxyDaemon *p = w->proxy;

	if (c->state == CONN_STATE_CLOSING)
		return;
	conn_hold_end(c, HOLD_OUTCOME_CLOSED);
	evloop_forget(w->loop, c->cfd);
	close(c->cfd);
	conn_drop_backend(c);
	c->state = CONN_STATE_CLOSING;
	/* unlink from the live list, push on the closing list */
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = w->closing;
	w->closing = c;
	w->nconns--;
	w->metrics.current[c->kind]--;
	atomic_fetch_sub_explicit(&p->open_conns, 1, memory_order_relaxed);
}

static void
worker_free_closing(EvLoop *loop, void *data)
{
	ProxyWorker *w = data;

	(void) loop;
	while (w->closing)
	{
		ProxyConn  *c = w->closing;

		w->closing = c->next;
		free(c);
	}
}

/* conn_update_masks: poll each side for exactly what it can do now (no syscall when nothing changes). */
static void
conn_update_masks(ProxyConn *c)
{
	EvLoop	   *loop = c->worker->loop;
	int			cmask = 0;
	int			bmask = 0;

	if (c->state == CONN_STATE_CLOSING)
		return;
	if (c->state == CONN_STATE_FORWARDING)
	{
		if (!c->client_eof && c->c2b.end < PROXY_BUF_SIZE)
			cmask |= EV_READ;
		if (c->b2c.end > c->b2c.start)
			cmask |= EV_WRITE;
		if (!c->backend_eof && c->b2c.end < PROXY_BUF_SIZE)
			bmask |= EV_READ;
		if (c->c2b.end > c->c2b.start)
			bmask |= EV_WRITE;
	}
	else if (c->state == CONN_STATE_CONNECTING)
		bmask = EV_WRITE;
	if (evloop_mask(loop, c->cfd, cmask) < 0 || (c->bfd >= 0 && evloop_mask(loop, c->bfd, bmask) < 0))
		conn_close(c);
}

/* buf_flush: write buf's pending bytes to fd; false on a fatal error. */
static bool
proxy_buf_flush(ProxyBuf *b, int fd, uint64_t *counter)
{
	while (b->end > b->start)
	{
		ssize_t		n = send(fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		b->start += (uint32_t) n;
		*counter += (uint64_t) n;
	}
	b->start = b->end = 0;
	return true;
}

/*
 * proxy_pump: read what src has into b (as much as fits), then write it to dst at once. *eof is set when src
 * closed. False on a fatal error of either socket.
 */
static bool
proxy_pump(ProxyBuf *b, int src, int dst, bool *eof, uint64_t *counter)
{
	for (int rounds = 0; rounds < 4 && b->end < PROXY_BUF_SIZE; rounds++)
	{
		ssize_t		n = recv(src, b->data + b->end, PROXY_BUF_SIZE - b->end, 0);

		if (n == 0)
		{
			*eof = true;
			break;
		}
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return false;
		}
		b->end += (uint32_t) n;
		if (!proxy_buf_flush(b, dst, counter))
			return false;
		if (b->end > 0)
			break;				/* the peer is full: wait for EPOLLOUT */
		if ((size_t) n < PROXY_BUF_SIZE)
			break;				/* a short read: the socket is drained, save a recv that would say EAGAIN */
	}
	return true;
}

/* conn_after_io: propagate half-closes once their direction is drained, close when both are done. */
static void
conn_after_io(ProxyConn *c)
{
	bool		c2b_empty = c->c2b.end == c->c2b.start;
	bool		b2c_empty = c->b2c.end == c->b2c.start;

	if (c->client_eof && c->backend_eof && c2b_empty && b2c_empty)
	{
		conn_close(c);
		return;
	}
	/* PostgreSQL ends a session when its client goes: close as soon as the client's bytes are delivered */
	if (c->client_eof && c2b_empty)
	{
		conn_close(c);
		return;
	}
	if (c->backend_eof && b2c_empty)
	{
		conn_close(c);
		return;
	}
	conn_update_masks(c);
}

/* conn_refuse: close c without a backend, counted as refused (and why, when the hold's bounds refused it). */
static void
conn_refuse(ProxyConn *c, HoldRefusal why)
{
	ProxyMetrics *m = &c->worker->metrics;

	m->refused[c->kind]++;
	if (why == HOLD_REFUSAL_TIMEOUT)
	{
		m->hold_refused_timeout[c->kind]++;
		conn_hold_end(c, HOLD_OUTCOME_REFUSED);
	}
	else if (why == HOLD_REFUSAL_LIMIT)
		m->hold_refused_limit[c->kind]++;
	conn_close(c);
}

/*
 * conn_hold: c (without a backend) waits for a target, its client unread; false when hold_decide refuses
 * that (why: the reason). A connection is counted among the held from the first time it is held until it is
 * forwarded or closed, including while it connects again.
 */
static bool
conn_hold(ProxyConn *c, HoldRefusal *why)
{
	ProxyWorker *w = c->worker;
	ProxyDaemon *p = w->proxy;
	HoldPolicy	policy = {w->hold_timeout_ms, p->max_held_connections};
	HoldInput	in = {
		.fenced = w->fenced,
		.have_target = false,
		.already_held = c->held,
		.now_ms = evloop_now_ms(),
		.deadline_ms = c->hold_deadline_ms,
	};
	bool		counted = false;
	bool		entering = c->state != CONN_STATE_HOLDING || !c->held;

	/* counted before deciding, as --max-connections is, so that workers deciding at once cannot overshoot */
	if (!c->held && policy.timeout_ms > 0 && !in.fenced)
	{
		in.held = atomic_fetch_add_explicit(&p->held_conns, 1, memory_order_relaxed);
		counted = true;
	}
	if (hold_decide(&policy, &in, why) != HOLD_VERDICT_HOLD)
	{
		if (counted)
			atomic_fetch_sub_explicit(&p->held_conns, 1, memory_order_relaxed);
		return false;
	}
	if (counted)
	{
		c->held = true;
		w->metrics.held[c->kind]++;
		w->metrics.held_total[c->kind]++;
	}
	c->state = CONN_STATE_HOLDING;
	/* watch the client for a hangup; once it has sent something, it is left unread (conn_client_event) */
	if (entering && evloop_mask(w->loop, c->cfd, EV_READ) < 0)
		conn_close(c);
	return true;
}

/*
 * conn_connect_failed: c's database did not take the connection (err: the errno). Nothing of the client's
 * has reached it, so c is held again if the hold's bounds allow: routed at the next route table, or tried
 * again after hold_retry_delay_ms (a database that restarts without a failover); else refused as before.
 */
static void
conn_connect_failed(ProxyConn *c, int err)
{
	HoldRefusal why;

	errno = err;
	if (c->connect_failures == 0)
		log_warn("could not connect to db %s at %s:%d: %m", c->target.db_uid, c->target.host, c->target.port);
	else
		log_debug("could not connect to db %s at %s:%d: %m failures=%d", c->target.db_uid, c->target.host,
				  c->target.port, c->connect_failures + 1);
	c->connect_failures++;
	conn_drop_backend(c);
	if (!conn_hold(c, &why))
	{
		conn_refuse(c, why);
		return;
	}
	c->retry_at_ms = evloop_now_ms() + hold_retry_delay_ms(c->connect_failures);
}

static void
conn_client_event(EvLoop *loop, int fd, void *data, int mask)
{
	ProxyConn  *c = data;
	ProxyWorker *w = c->worker;

	(void) fd;
	if (c->state == CONN_STATE_HOLDING || c->state == CONN_STATE_CONNECTING)
	{
		/* not reading it yet; a hangup while held closes it */
		if (mask & EV_READ)
		{
			char		probe;
			ssize_t		n = recv(c->cfd, &probe, 1, MSG_PEEK);

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
				conn_close(c);
			else if (evloop_mask(loop, c->cfd, 0) < 0)	/* data waits until the backend is there */
				conn_close(c);
		}
		return;
	}
	if (c->state != CONN_STATE_FORWARDING)
		return;
	if ((mask & EV_WRITE) && !proxy_buf_flush(&c->b2c, c->cfd, &w->metrics.bytes_to_client))
	{
		conn_close(c);
		return;
	}
	if ((mask & EV_READ) && !proxy_pump(&c->c2b, c->cfd, c->bfd, &c->client_eof, &w->metrics.bytes_to_backend))
	{
		conn_close(c);
		return;
	}
	conn_after_io(c);
}

static void
conn_backend_event(EvLoop *loop, int fd, void *data, int mask)
{
	ProxyConn  *c = data;
	ProxyWorker *w = c->worker;

	(void) loop;
	(void) fd;
	if (c->state == CONN_STATE_CONNECTING)
	{
		int			soerr = 0;
		socklen_t	len = sizeof(soerr);

		if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
		{
			conn_connect_failed(c, soerr != 0 ? soerr : errno);
			return;
		}
		c->state = CONN_STATE_FORWARDING;
		conn_hold_end(c, HOLD_OUTCOME_FORWARDED);
		conn_update_masks(c);
		return;
	}
	if (c->state != CONN_STATE_FORWARDING)
		return;
	if ((mask & EV_WRITE) && !proxy_buf_flush(&c->c2b, c->bfd, &w->metrics.bytes_to_backend))
	{
		conn_close(c);
		return;
	}
	if ((mask & EV_READ) && !proxy_pump(&c->b2c, c->bfd, c->cfd, &c->backend_eof, &w->metrics.bytes_to_client))
	{
		conn_close(c);
		return;
	}
	conn_after_io(c);
}

/* conn_connect: start the non-blocking connect to c->target. */
static void
conn_connect(ProxyConn *c)
{
	ProxyWorker *w = c->worker;
	const RouteTarget *t = &c->target;
	int			one = 1;
	int			fd;

	if (t->addrlen == 0)
	{
		log_warn("db %s address \"%s\" is not resolved; refusing connection", t->db_uid, t->host);
		conn_refuse(c, HOLD_REFUSAL_NONE);
		return;
	}
	fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
	{
		log_error("could not create a socket for db %s: %m", t->db_uid);
		conn_refuse(c, HOLD_REFUSAL_NONE);
		return;
	}
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bfd = fd;
	if (connect(fd, (const struct sockaddr *) &t->addr, t->addrlen) == 0)
	{
		c->state = CONN_STATE_FORWARDING;
		conn_hold_end(c, HOLD_OUTCOME_FORWARDED);
	}
	else if (errno == EINPROGRESS)
	{
		c->state = CONN_STATE_CONNECTING;
		c->connect_deadline_ms = evloop_now_ms() + w->proxy->backend_connect_timeout_ms;
	}
	else
	{
		conn_connect_failed(c, errno);
		return;
	}
	if (evloop_set(w->loop, fd, 0, conn_backend_event, c) < 0)
	{
		conn_close(c);
		return;
	}
	conn_update_masks(c);
}

/*
 * worker_pick: the target for a new connection of this kind under w's table, NULL when none. Read-only:
 * least connections over every worker (balance.c); *balanced says the choice was counted there.
 */
static const RouteTarget *
worker_pick(ProxyWorker *w, ListenerKind kind, bool *balanced)
{
	const RouteTable *rt = &w->routes;

	*balanced = false;
	if (!w->have_routes)
		return NULL;
	if (kind == LISTENER_RO && rt->ro_count > 0)
		return balance_acquire(&w->proxy->ro_balance, rt->ro, rt->ro_count, balanced);
	if (kind == LISTENER_RO && strcmp(w->proxy->ro_fallback, "none") == 0)
		return NULL;
	return rt->rw.db_uid[0] ? &rt->rw : NULL;
}

/* conn_route: pick c's target and connect to it; false (c untouched) when there is no target. */
static bool
conn_route(ProxyConn *c)
{
	bool		balanced;
	const RouteTarget *t = worker_pick(c->worker, c->kind, &balanced);

	if (t == NULL)
		return false;
	c->target = *t;
	c->balanced = balanced;
	conn_connect(c);
	return true;
}

static void
forwarder_set_keepalive(ProxyDaemon *p, int fd)
{
	int			one = 1;
	int			v;

	(void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (p->keepalive_idle_s > 0 && (v = (int) p->keepalive_idle_s) > 0)
		(void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v));
	if (p->keepalive_interval_s > 0 && (v = (int) p->keepalive_interval_s) > 0)
		(void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v));
	if (p->keepalive_count > 0 && (v = (int) p->keepalive_count) > 0)
		(void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v));
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
worker_accept(EvLoop *loop, int fd, void *data, int mask)
{
	ProxyListener *l = data;
	ProxyWorker *w = l->worker;
	ProxyDaemon *p = w->proxy;

	(void) mask;
	for (int i = 0; i < PROXY_ACCEPTS_PER_PASS; i++)
	{
		int			cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		ProxyConn  *c = NULL;
		HoldRefusal why;

		if (cfd < 0)
			return;				/* EAGAIN, or EMFILE and friends: try again next pass */
		w->metrics.accepted[l->kind]++;
		/* --max-connections is the process's: one count over every worker, taken before anything else */
		if (atomic_fetch_add_explicit(&p->open_conns, 1, memory_order_relaxed) >= p->max_connections ||
			(c = calloc(1, sizeof(*c))) == NULL)
		{
			atomic_fetch_sub_explicit(&p->open_conns, 1, memory_order_relaxed);
			w->metrics.refused[l->kind]++;
			close(cfd);
			continue;
		}
		c->worker = w;
		c->kind = l->kind;
		c->cfd = cfd;
		c->bfd = -1;
		c->state = CONN_STATE_HOLDING;
		c->accepted_ms = evloop_now_ms();
		c->hold_deadline_ms = c->accepted_ms + w->hold_timeout_ms;
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		w->nconns++;
		w->metrics.current[c->kind]++;
		forwarder_set_keepalive(p, cfd);
		if (evloop_set(loop, cfd, 0, conn_client_event, c) < 0)
		{
			conn_close(c);
			continue;
		}
		/* a target: connect to it; none: hold it, bounded, until one is published; or refuse it (hold.c) */
		if (!conn_route(c) && !conn_hold(c, &why))
			conn_refuse(c, why);
	}
}

/*
 * worker_listen: w's own socket for l's port. With more than one worker each binds the port with
 * SO_REUSEPORT, so the kernel hashes new connections over the workers' accept queues (no shared accept
 * lock, no thundering herd); with one worker the port is bound as before, so that a port already in use by
 * anyone is an error.
 */
static bool
worker_listen(ProxyWorker *w, ProxyListener *l, char *err, size_t errlen)
{
	ProxyDaemon *p = w->proxy;
	const struct sockaddr_storage *sa = &p->listen_addr[l->kind];
	int			one = 1;
	int			fd;

	if (l->port == 0 || l->fd >= 0)
		return true;
	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		(p->nworkers > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
		bind(fd, (const struct sockaddr *) sa, p->listen_addrlen[l->kind]) < 0 || listen(fd, 1024) < 0)
	{
		snprintf(err, errlen, "could not listen on %s:%d (%s port) worker=%d: %s", p->listen_address, l->port,
				 listener_kind_to_string(l->kind), w->index, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (evloop_set(w->loop, fd, EV_READ, worker_accept, l) < 0)
	{
		snprintf(err, errlen, "could not poll the listening socket worker=%d", w->index);
		close(fd);
		return false;
	}
	l->fd = fd;
	if (w->index == 0)
		log_info("listening on %s:%d (%s port) threads=%zu", p->listen_address, l->port,
				 listener_kind_to_string(l->kind), p->nworkers);
	return true;
}

static void
worker_unlisten(ProxyWorker *w)
{
	for (int k = 0; k < 2; k++)
	{
		ProxyListener *l = &w->listeners[k];

		if (l->fd >= 0)
		{
			evloop_del(w->loop, l->fd);
			close(l->fd);
			l->fd = -1;
			if (w->index == 0)
				log_warn("stopped listening on %s:%d (%s port)", w->proxy->listen_address, l->port,
						 listener_kind_to_string(l->kind));
		}
	}
}

/* conn_still_routed: whether an open connection's target is still valid under rt. */
static bool
conn_still_routed(const ProxyDaemon *p, const ProxyConn *c, const RouteTable *rt)
{
	if (c->kind == LISTENER_RW)
		return rt->rw.db_uid[0] && route_target_equal(&c->target, &rt->rw);
	if (route_table_find_ro(rt, &c->target))
		return true;
	/* a read-only connection that fell back to the master stays while that is still the fallback */
	return rt->ro_count == 0 && strcmp(p->ro_fallback, "none") != 0 && rt->rw.db_uid[0] &&
		route_target_equal(&c->target, &rt->rw);
}

void
forwarder_apply_routes(ProxyWorker *w, const RouteTable *rt)
{
	ProxyDaemon *p = w->proxy;
	ProxyConn  *next;
	char		err[256];

	/* every worker applies every table; worker 0 speaks for the process in the logs and the counters */
	if (w->index == 0 && w->have_routes && !route_target_equal(&w->routes.rw, &rt->rw))
	{
		w->metrics.backend_switches++;
		log_info("read-write target changed from db \"%s\" (%s:%d) to db \"%s\" (%s:%d) generation=%lld",
				 w->routes.rw.db_uid, w->routes.rw.host, w->routes.rw.port, rt->rw.db_uid, rt->rw.host,
				 rt->rw.port, (long long) rt->generation);
	}
	if (rt->rw.db_uid[0] == '\0' && (!w->logged_no_rw || !w->have_routes))
	{
		if (w->index == 0)
			log_warn("no read-write target: %s", rt->why_no_rw);
		w->logged_no_rw = true;
	}
	else if (rt->rw.db_uid[0])
		w->logged_no_rw = false;
	w->routes = *rt;
	w->have_routes = true;
	if (w->fenced)
	{
		w->fenced = false;
		if (w->index == 0)
			log_info("store readable again: routing resumed");
	}

	for (ProxyConn *c = w->conns; c; c = next)
	{
		HoldRefusal why;

		next = c->next;
		if (c->state == CONN_STATE_HOLDING)
		{
			/* held ones are routed by the worker that holds them, under the new table at once */
			c->retry_at_ms = 0;
			(void) conn_route(c);
		}
		else if (conn_still_routed(p, c, rt))
			continue;
		else if (c->state == CONN_STATE_CONNECTING)
		{
			/*
			 * Not connected yet, so nothing of the client's has reached the old target: route it under this
			 * table (I2: never to a target this table no longer has), or hold it, rather than close it.
			 */
			conn_drop_backend(c);
			if (!conn_route(c) && !conn_hold(c, &why))
			{
				w->metrics.closed_by_route_change++;
				conn_close(c);
			}
		}
		else
		{
			w->metrics.closed_by_route_change++;
			conn_close(c);
		}
	}
	for (int k = 0; k < 2; k++)
		if (!worker_listen(w, &w->listeners[k], err, sizeof(err)))
			log_error("%s", err);
}

void
forwarder_fence(ProxyWorker *w, const char *why)
{
	ProxyDaemon *p = w->proxy;
	ProxyConn  *next;

	if (!w->fenced && w->index == 0)
	{
		log_error("fencing: %s; closing every connection%s", why, p->stop_listening ? " and stopping listening" : "");
		w->metrics.watchdog_fences++;
	}
	w->fenced = true;
	route_table_none(&w->routes, why);
	w->have_routes = false;
	for (ProxyConn *c = w->conns; c; c = next)
	{
		next = c->next;
		conn_close(c);
	}
	if (p->stop_listening)
		worker_unlisten(w);
}

/*
 * worker_tick: every 100 ms, and whenever its eventfd is written: shutdown, the watchdog, newer routes, and
 * the hold and connect deadlines. Each worker runs the watchdog for itself from the same inputs (the last
 * read time and proxyTimeout), so every worker fences within a tick of the deadline and none depends on
 * another being responsive.
 */
static void
worker_tick(EvLoop *loop, void *data)
{
	ProxyWorker *w = data;
	ProxyDaemon *p = w->proxy;
	int64_t		now = evloop_now_ms();
	int64_t		last = atomic_load(&p->last_read_ok_ms);
	int64_t		timeout;
	RouteTable	rt;
	bool		newer = false;
	uint64_t	seq = 0;
	ProxyConn  *next;

	if (atomic_load(&p->workers_stop))
	{
		evloop_stop(loop);
		return;
	}
	pthread_mutex_lock(&p->shared.mutex);
	timeout = p->shared.proxy_timeout_ms;
	w->hold_timeout_ms = p->shared.hold_timeout_ms;
	if (p->shared.latest_seq != w->report.applied_seq)
	{
		rt = p->shared.latest;
		seq = p->shared.latest_seq;
		newer = true;
	}
	w->report.metrics = w->metrics;
	w->report.fenced = w->fenced;
	pthread_mutex_unlock(&p->shared.mutex);

	/* I2: routes are only as good as the last successful read; older than proxyTimeout, route nowhere */
	if (last == 0 || now - last > timeout)
	{
		if (last != 0 || !w->fenced)
		{
			char		why[128];

			if (last == 0)
				snprintf(why, sizeof(why), "the store has not been read yet");
			else
				snprintf(why, sizeof(why), "the store has not been read for %lld ms (proxyTimeout %lld ms)",
						 (long long) (now - last), (long long) timeout);
			if (!w->fenced || w->have_routes)
				forwarder_fence(w, why);
		}
	}
	else if (newer || w->fenced)
	{
		if (newer)
		{
			forwarder_apply_routes(w, &rt);
			/* applied: its connections to a gone target are closed; only now may this worker count as acked */
			pthread_mutex_lock(&p->shared.mutex);
			w->report.applied_seq = seq;
			w->report.applied_generation = rt.generation;
			w->report.metrics = w->metrics;
			w->report.fenced = w->fenced;
			pthread_cond_broadcast(&p->shared.applied_cond);
			pthread_mutex_unlock(&p->shared.mutex);
		}
		else if (w->report.applied_seq != 0)
		{
			/* fenced, the store is back, nothing new: re-apply what the watcher last computed */
			pthread_mutex_lock(&p->shared.mutex);
			rt = p->shared.latest;
			pthread_mutex_unlock(&p->shared.mutex);
			forwarder_apply_routes(w, &rt);
		}
	}

	for (ProxyConn *c = w->conns; c; c = next)
	{
		HoldRefusal why;

		next = c->next;
		if (c->state == CONN_STATE_CONNECTING && now > c->connect_deadline_ms)
			conn_connect_failed(c, ETIMEDOUT);
		else if (c->state == CONN_STATE_HOLDING)
		{
			/* a retry after a failed connect, when due; then the hold's bounds again (its deadline) */
			if (c->retry_at_ms <= now && conn_route(c))
				continue;
			if (!conn_hold(c, &why))
				conn_refuse(c, why);
		}
	}
}

/* worker_wake: newer routes, or the stop request: act now rather than at the next tick. */
static void
worker_wake(EvLoop *loop, int fd, void *data, int mask)
{
	uint64_t	v;

	(void) mask;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("could not read the wake-up eventfd: %m");
	worker_tick(loop, data);
}

static void
worker_wake_up(ProxyWorker *w)
{
	uint64_t	one = 1;

	if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("could not wake forwarding worker %d: %m", w->index);
}

/* forwarder_resolve_listen: the listen address of one port, resolved once (never in a forwarding loop). */
static bool
forwarder_resolve_listen(ProxyDaemon *p, ListenerKind kind, int port, char *err, size_t errlen)
{
	struct addrinfo hints;
	struct addrinfo *ai = NULL;
	char		service[16];
	int			rc;

	if (port == 0)
		return true;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	if ((rc = getaddrinfo(p->listen_address, service, &hints, &ai)) != 0 || ai == NULL)
	{
		snprintf(err, errlen, "could not resolve listen address \"%s\": %s", p->listen_address,
				 rc ? gai_strerror(rc) : "no address");
		return false;
	}
	memcpy(&p->listen_addr[kind], ai->ai_addr, ai->ai_addrlen);
	p->listen_addrlen[kind] = ai->ai_addrlen;
	freeaddrinfo(ai);
	return true;
}

static bool
worker_init(ProxyDaemon *p, ProxyWorker *w, int index)
{
	w->proxy = p;
	w->index = index;
	w->wake_fd = -1;
	w->listeners[LISTENER_RW] = (ProxyListener) {w, LISTENER_RW, (int) p->port, -1};
	w->listeners[LISTENER_RO] = (ProxyListener) {w, LISTENER_RO, (int) p->ro_port, -1};
	w->fenced = true;			/* not listening until the first successful read */
	w->hold_timeout_ms = p->shared.hold_timeout_ms;
	w->loop = evloop_new();
	if (w->loop == NULL)
		return false;
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0 || evloop_set(w->loop, w->wake_fd, EV_READ, worker_wake, w) < 0 ||
		!evloop_add_timer(w->loop, PROXY_TICK_MS, worker_tick, w))
		return false;
	evloop_set_after_pass(w->loop, worker_free_closing, w);
	return true;
}

bool
forwarder_init(ProxyDaemon *p, char *err, size_t errlen)
{
	pthread_condattr_t attr;
	size_t		size;

	if (p->threads < 1 || p->threads > PROXY_MAX_THREADS)
	{
		snprintf(err, errlen, "forwarding threads: %lld is not between 1 and %d", (long long) p->threads,
				 PROXY_MAX_THREADS);
		return false;
	}
	pthread_mutex_init(&p->shared.mutex, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->shared.applied_cond, &attr);
	pthread_condattr_destroy(&attr);
	balance_init(&p->ro_balance);
	atomic_store(&p->open_conns, 0);
	atomic_store(&p->held_conns, 0);
	/* "auto": from the default spec until the watcher has read the cluster's (the proxy is fenced until then) */
	if (p->hold_timeout_ms == HOLD_TIMEOUT_FROM_SPEC)
	{
		ClusterSpec spec;

		cluster_spec_defaults(&spec);
		p->shared.hold_timeout_ms = hold_timeout_for_spec(&spec);
		cluster_spec_finish(&spec);
	}
	else
		p->shared.hold_timeout_ms = p->hold_timeout_ms;
	atomic_store(&p->workers_stop, false);

	if (!forwarder_resolve_listen(p, LISTENER_RW, (int) p->port, err, errlen) ||
		!forwarder_resolve_listen(p, LISTENER_RO, (int) p->ro_port, err, errlen))
		return false;

	/* a whole number of cache lines each (ProxyWorker is 64-byte aligned), so aligned_alloc's rule holds */
	size = (size_t) p->threads * sizeof(ProxyWorker);
	p->workers = aligned_alloc(_Alignof(ProxyWorker), size);
	if (p->workers == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return false;
	}
	memset(p->workers, 0, size);
	for (size_t i = 0; i < (size_t) p->threads; i++)
	{
		p->nworkers++;
		if (!worker_init(p, &p->workers[i], (int) i))
		{
			snprintf(err, errlen, "could not set up forwarding worker %zu: %s", i, strerror(errno));
			return false;
		}
	}
	return true;
}

static void *
worker_main(void *arg)
{
	ProxyWorker *w = arg;

	evloop_run(w->loop);
	return NULL;
}

bool
forwarder_start(ProxyDaemon *p, char *err, size_t errlen)
{
	sigset_t	all;
	sigset_t	old;
	bool		ok = true;

	/* the workers' threads take no signals: SIGTERM and SIGINT reach the main thread (worker 0) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (size_t i = 1; i < p->nworkers && ok; i++)
	{
		ProxyWorker *w = &p->workers[i];
		int			rc = pthread_create(&w->thread, NULL, worker_main, w);

		if (rc != 0)
		{
			snprintf(err, errlen, "could not start forwarding thread %zu: %s", i, strerror(rc));
			ok = false;
		}
		else
			w->thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

/* forwarder_join: stop every worker and join the threads. */
static void
forwarder_join(ProxyDaemon *p)
{
	forwarder_stop(p);
	for (size_t i = 1; i < p->nworkers; i++)
	{
		ProxyWorker *w = &p->workers[i];

		if (w->thread_started)
		{
			pthread_join(w->thread, NULL);
			w->thread_started = false;
		}
	}
}

void
forwarder_run(ProxyDaemon *p)
{
	evloop_run(p->workers[0].loop);
	forwarder_join(p);
}

void
forwarder_stop(ProxyDaemon *p)
{
	atomic_store(&p->workers_stop, true);
	for (size_t i = 0; i < p->nworkers; i++)
		worker_wake_up(&p->workers[i]);
}

void
forwarder_finish(ProxyDaemon *p)
{
	if (p->workers == NULL)
		return;
	forwarder_join(p);
	for (size_t i = 0; i < p->nworkers; i++)
	{
		ProxyWorker *w = &p->workers[i];
		ProxyConn  *next;

		if (w->loop == NULL)
			continue;
		for (ProxyConn *c = w->conns; c; c = next)
		{
			next = c->next;
			conn_close(c);
		}
		worker_free_closing(w->loop, w);
		worker_unlisten(w);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
		evloop_free(w->loop);
		w->loop = NULL;
	}
	free(p->workers);
	p->workers = NULL;
	p->nworkers = 0;
	balance_finish(&p->ro_balance);
	pthread_cond_destroy(&p->shared.applied_cond);
	pthread_mutex_destroy(&p->shared.mutex);
}

uint64_t
forwarder_post_routes(ProxyDaemon *p, const RouteTable *rt)
{
	uint64_t	seq;

	pthread_mutex_lock(&p->shared.mutex);
	p->shared.latest = *rt;
	seq = ++p->shared.latest_seq;
	pthread_mutex_unlock(&p->shared.mutex);
	for (size_t i = 0; i < p->nworkers; i++)
		worker_wake_up(&p->workers[i]);
	return seq;
}

/* forwarder_slowest_locked: the worker that has applied the oldest table (under the mutex). */
static const ProxyWorker *
forwarder_slowest_locked(const ProxyDaemon *p)
{
	const ProxyWorker *slowest = &p->workers[0];

	for (size_t i = 1; i < p->nworkers; i++)
		if (p->workers[i].report.applied_seq < slowest->report.applied_seq)
			slowest = &p->workers[i];
	return slowest;
}

bool
forwarder_wait_applied(ProxyDaemon *p, uint64_t seq, int64_t timeout_ms)
{
	struct timespec deadline;
	bool		applied;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
	deadline.tv_sec += deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&p->shared.mutex);
	while (forwarder_slowest_locked(p)->report.applied_seq < seq && !atomic_load(&p->stopping))
		if (pthread_cond_timedwait(&p->shared.applied_cond, &p->shared.mutex, &deadline) == ETIMEDOUT)
			break;
	applied = forwarder_slowest_locked(p)->report.applied_seq >= seq;
	pthread_mutex_unlock(&p->shared.mutex);
	return applied;
}

int64_t
forwarder_acked_generation(ProxyDaemon *p)
{
	int64_t		gen;

	pthread_mutex_lock(&p->shared.mutex);
	gen = forwarder_slowest_locked(p)->report.applied_generation;
	pthread_mutex_unlock(&p->shared.mutex);
	return gen;
}

void
forwarder_snapshot(ProxyDaemon *p, ProxySnapshot *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&p->shared.mutex);
	s->nworkers = p->nworkers;
	s->acked_generation = forwarder_slowest_locked(p)->report.applied_generation;
	s->hold_timeout_ms = p->shared.hold_timeout_ms;
	for (size_t i = 0; i < p->nworkers; i++)
	{
		const ProxyMetrics *m = &p->workers[i].report.metrics;

		for (int k = 0; k < 2; k++)
		{
			s->total.accepted[k] += m->accepted[k];
			s->total.refused[k] += m->refused[k];
			s->total.current[k] += m->current[k];
			s->total.held[k] += m->held[k];
			s->total.held_total[k] += m->held_total[k];
			s->total.hold_refused_timeout[k] += m->hold_refused_timeout[k];
			s->total.hold_refused_limit[k] += m->hold_refused_limit[k];
		}
		hold_stats_add(&s->total.hold, &m->hold);
		s->total.bytes_to_backend += m->bytes_to_backend;
		s->total.bytes_to_client += m->bytes_to_client;
		s->total.backend_switches += m->backend_switches;
		s->total.closed_by_route_change += m->closed_by_route_change;
		s->total.watchdog_fences += m->watchdog_fences;
		s->fenced |= p->workers[i].report.fenced;
		s->worker_conns[i] = m->current[LISTENER_RW] + m->current[LISTENER_RO];
	}
	pthread_mutex_unlock(&p->shared.mutex);
}
