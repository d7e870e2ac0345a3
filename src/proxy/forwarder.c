/*
 * src/proxy/forwarder.c
 *    The forwarding engine: listeners, one ProxyConn per client with its backend, and the byte pump between
 *    them. Costs per message are what the benchmark measures, so the pump reads and writes directly (a write
 *    is tried at once after a read; EPOLLOUT is asked for only when the peer's socket buffer is full) and an
 *    fd's epoll mask is changed only when it really changes. Each direction has a fixed buffer: when it is
 *    full the reading side stops being polled (backpressure). Connections are freed after the dispatch pass
 *    (the after-pass hook), never inside their own callbacks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"

#define PROXY_BUF_SIZE 8192
#define PROXY_ACCEPTS_PER_PASS 64

typedef enum ConnState
{
	CONN_STATE_HOLDING = 0,		/* waiting for a target (up to --hold-timeout); the client is not read */
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
	ProxyDaemon	   *proxy;
	ListenerKind kind;
	ConnState	state;
	int			cfd;			/* client socket */
	int			bfd;			/* backend socket, -1 before connecting */
	RouteTarget target;
	int64_t		deadline_ms;	/* hold or connect deadline */
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

/* conn_close: mark closing, stop polling, close the sockets; the memory is freed after the pass. */
static void
conn_close(ProxyConn *c)
{
	ProxyDaemon	   *p = c->proxy;

	if (c->state == CONN_STATE_CLOSING)
		return;
	evloop_forget(p->loop, c->cfd);
	close(c->cfd);
	if (c->bfd >= 0)
	{
		evloop_forget(p->loop, c->bfd);
		close(c->bfd);
	}
	c->state = CONN_STATE_CLOSING;
	/* unlink from the live list, push on the closing list */
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = p->closing;
	p->closing = c;
	p->nconns--;
	p->metrics.current[c->kind]--;
}

static void
forwarder_free_closing(EvLoop *loop, void *data)
{
	ProxyDaemon	   *p = data;

	(void) loop;
	while (p->closing)
	{
		ProxyConn  *c = p->closing;

		p->closing = c->next;
		free(c);
	}
}

/* conn_update_masks: poll each side for exactly what it can do now (no syscall when nothing changes). */
static void
conn_update_masks(ProxyConn *c)
{
	ProxyDaemon	   *p = c->proxy;
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
	if (evloop_mask(p->loop, c->cfd, cmask) < 0 || (c->bfd >= 0 && evloop_mask(p->loop, c->bfd, bmask) < 0))
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

static void
conn_client_event(EvLoop *loop, int fd, void *data, int mask)
{
	ProxyConn  *c = data;
	ProxyDaemon	   *p = c->proxy;

	(void) loop;
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
			else if (evloop_mask(p->loop, c->cfd, 0) < 0)	/* data waits until the backend is there */
				conn_close(c);
		}
		return;
	}
	if (c->state != CONN_STATE_FORWARDING)
		return;
	if ((mask & EV_WRITE) && !proxy_buf_flush(&c->b2c, c->cfd, &p->metrics.bytes_to_client))
	{
		conn_close(c);
		return;
	}
	if ((mask & EV_READ) && !proxy_pump(&c->c2b, c->cfd, c->bfd, &c->client_eof, &p->metrics.bytes_to_backend))
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
	ProxyDaemon	   *p = c->proxy;

	(void) loop;
	(void) fd;
	if (c->state == CONN_STATE_CONNECTING)
	{
		int			soerr = 0;
		socklen_t	len = sizeof(soerr);

		if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
		{
			log_warn("could not connect to db %s at %s:%d: %s", c->target.db_uid, c->target.host, c->target.port,
					 strerror(soerr ? soerr : errno));
			p->metrics.refused[c->kind]++;
			conn_close(c);
			return;
		}
		c->state = CONN_STATE_FORWARDING;
		conn_update_masks(c);
		return;
	}
	if (c->state != CONN_STATE_FORWARDING)
		return;
	if ((mask & EV_WRITE) && !proxy_buf_flush(&c->c2b, c->bfd, &p->metrics.bytes_to_backend))
	{
		conn_close(c);
		return;
	}
	if ((mask & EV_READ) && !proxy_pump(&c->b2c, c->bfd, c->cfd, &c->backend_eof, &p->metrics.bytes_to_client))
	{
		conn_close(c);
		return;
	}
	conn_after_io(c);
}

/* conn_connect: start the non-blocking connect to t. */
static void
conn_connect(ProxyConn *c, const RouteTarget *t)
{
	ProxyDaemon	   *p = c->proxy;
	int			one = 1;
	int			fd;

	c->target = *t;
	if (t->addrlen == 0)
	{
		log_warn("db %s address \"%s\" is not resolved; refusing connection", t->db_uid, t->host);
		p->metrics.refused[c->kind]++;
		conn_close(c);
		return;
	}
	fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
	{
		p->metrics.refused[c->kind]++;
		conn_close(c);
		return;
	}
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bfd = fd;
	if (connect(fd, (const struct sockaddr *) &t->addr, t->addrlen) == 0)
		c->state = CONN_STATE_FORWARDING;
	else if (errno == EINPROGRESS)
	{
		c->state = CONN_STATE_CONNECTING;
		c->deadline_ms = evloop_now_ms() + p->backend_connect_timeout_ms;
	}
	else
	{
		log_warn("could not connect to db %s at %s:%d: %m", t->db_uid, t->host, t->port);
		p->metrics.refused[c->kind]++;
		conn_close(c);
		return;
	}
	if (evloop_set(p->loop, fd, 0, conn_backend_event, c) < 0)
	{
		conn_close(c);
		return;
	}
	conn_update_masks(c);
}

/* forwarder_pick: the target for a new connection of this kind, NULL when none. Least connections for RO. */
static const RouteTarget *
forwarder_pick(ProxyDaemon *p, ListenerKind kind)
{
	const RouteTable *rt = &p->routes;

	if (!p->have_routes)
		return NULL;
	if (kind == LISTENER_RO && rt->ro_count > 0)
	{
		size_t		counts[ROUTE_MAX_RO] = {0};
		size_t		best = 0;

		for (ProxyConn *c = p->conns; c; c = c->next)
		{
			if (c->kind != LISTENER_RO)
				continue;
			for (size_t i = 0; i < rt->ro_count; i++)
				if (route_target_equal(&c->target, &rt->ro[i]))
					counts[i]++;
		}
		for (size_t i = 1; i < rt->ro_count; i++)
			if (counts[i] < counts[best])
				best = i;
		return &rt->ro[best];
	}
	if (kind == LISTENER_RO && strcmp(p->ro_fallback, "none") == 0)
		return NULL;
	return rt->rw.db_uid[0] ? &rt->rw : NULL;
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
forwarder_accept(EvLoop *loop, int fd, void *data, int mask)
{
	ProxyListener *l = data;
	ProxyDaemon	   *p = l->proxy;

	(void) loop;
	(void) mask;
	for (int i = 0; i < PROXY_ACCEPTS_PER_PASS; i++)
	{
		int			cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		const RouteTarget *t;
		ProxyConn  *c;

		if (cfd < 0)
			return;				/* EAGAIN, or EMFILE and friends: try again next pass */
		p->metrics.accepted[l->kind]++;
		t = forwarder_pick(p, l->kind);
		if ((int64_t) p->nconns >= p->max_connections || (t == NULL && p->hold_timeout_ms <= 0))
		{
			p->metrics.refused[l->kind]++;
			close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL)
		{
			close(cfd);
			continue;
		}
		c->proxy = p;
		c->kind = l->kind;
		c->cfd = cfd;
		c->bfd = -1;
		c->next = p->conns;
		if (p->conns)
			p->conns->prev = c;
		p->conns = c;
		p->nconns++;
		p->metrics.current[c->kind]++;
		forwarder_set_keepalive(p, cfd);
		if (evloop_set(p->loop, cfd, 0, conn_client_event, c) < 0)
		{
			c->state = CONN_STATE_HOLDING;
			conn_close(c);
			continue;
		}
		if (t)
			conn_connect(c, t);
		else
		{
			/* no target: hold it (bounded) until one appears; watch only for the client going away */
			c->state = CONN_STATE_HOLDING;
			c->deadline_ms = evloop_now_ms() + p->hold_timeout_ms;
			if (evloop_mask(p->loop, cfd, EV_READ) < 0)
				conn_close(c);
		}
	}
}

static bool
forwarder_listen(ProxyDaemon *p, ProxyListener *l, char *err, size_t errlen)
{
	struct addrinfo hints;
	struct addrinfo *ai = NULL;
	char		port[16];
	int			one = 1;
	int			fd;
	int			rc;

	if (l->port == 0 || l->fd >= 0)
		return true;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", l->port);
	if ((rc = getaddrinfo(l->address, port, &hints, &ai)) != 0 || ai == NULL)
	{
		snprintf(err, errlen, "could not resolve listen address \"%s\": %s", l->address, gai_strerror(rc));
		return false;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)
	{
		snprintf(err, errlen, "could not listen on %s:%d (%s port): %s", l->address, l->port,
				 listener_kind_to_string(l->kind), strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return false;
	}
	freeaddrinfo(ai);
	if (evloop_set(p->loop, fd, EV_READ, forwarder_accept, l) < 0)
	{
		snprintf(err, errlen, "could not poll the listening socket");
		close(fd);
		return false;
	}
	l->fd = fd;
	log_info("listening on %s:%d (%s port)", l->address, l->port, listener_kind_to_string(l->kind));
	return true;
}

static void
forwarder_unlisten(ProxyDaemon *p)
{
	for (int k = 0; k < 2; k++)
	{
		ProxyListener *l = &p->listeners[k];

		if (l->fd >= 0)
		{
			evloop_del(p->loop, l->fd);
			close(l->fd);
			l->fd = -1;
			log_warn("stopped listening on %s:%d (%s port)", l->address, l->port, listener_kind_to_string(l->kind));
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
forwarder_apply_routes(ProxyDaemon *p, const RouteTable *rt)
{
	ProxyConn  *next;
	char		err[256];

	if (p->have_routes && !route_target_equal(&p->routes.rw, &rt->rw))
	{
		p->metrics.backend_switches++;
		log_info("read-write target changed from db \"%s\" (%s:%d) to db \"%s\" (%s:%d) generation=%lld",
				 p->routes.rw.db_uid, p->routes.rw.host, p->routes.rw.port, rt->rw.db_uid, rt->rw.host,
				 rt->rw.port, (long long) rt->generation);
	}
	if (rt->rw.db_uid[0] == '\0' && (!p->logged_no_rw || !p->have_routes))
	{
		log_warn("no read-write target: %s", rt->why_no_rw);
		p->logged_no_rw = true;
	}
	else if (rt->rw.db_uid[0])
		p->logged_no_rw = false;
	p->routes = *rt;
	p->have_routes = true;

	for (ProxyConn *c = p->conns; c; c = next)
	{
		next = c->next;
		if (c->state == CONN_STATE_HOLDING)
		{
			const RouteTarget *t = forwarder_pick(p, c->kind);

			if (t)
				conn_connect(c, t);
		}
		else if (!conn_still_routed(p, c, rt))
		{
			p->metrics.closed_by_route_change++;
			conn_close(c);
		}
	}
	if (p->fenced)
	{
		p->fenced = false;
		log_info("store readable again: routing resumed");
	}
	for (int k = 0; k < 2; k++)
		if (!forwarder_listen(p, &p->listeners[k], err, sizeof(err)))
			log_error("%s", err);
}

void
forwarder_fence(ProxyDaemon *p, const char *why)
{
	ProxyConn  *next;

	if (!p->fenced)
	{
		log_error("fencing: %s; closing every connection%s", why, p->stop_listening ? " and stopping listening" : "");
		p->metrics.watchdog_fences++;
	}
	p->fenced = true;
	route_table_none(&p->routes, why);
	p->have_routes = false;
	for (ProxyConn *c = p->conns; c; c = next)
	{
		next = c->next;
		conn_close(c);
	}
	if (p->stop_listening)
		forwarder_unlisten(p);
}

/* forwarder_tick: every 100 ms: the watchdog, the hold and connect deadlines, and newer routes. */
static void
forwarder_tick(EvLoop *loop, void *data)
{
	ProxyDaemon	   *p = data;
	int64_t		now = evloop_now_ms();
	int64_t		last = atomic_load(&p->last_read_ok_ms);
	int64_t		timeout;
	RouteTable	rt;
	bool		newer = false;
	uint64_t	seq = 0;
	ProxyConn  *next;

	(void) loop;
	pthread_mutex_lock(&p->shared.mutex);
	timeout = p->shared.proxy_timeout_ms;
	if (p->shared.latest_seq != p->shared.applied_seq)
	{
		rt = p->shared.latest;
		seq = p->shared.latest_seq;
		newer = true;
	}
	p->shared.metrics = p->metrics;
	p->shared.fenced = p->fenced;
	pthread_mutex_unlock(&p->shared.mutex);

	/* I2: routes are only as good as the last successful read; older than proxyTimeout, route nowhere */
	if (last == 0 || now - last > timeout)
	{
		if (last != 0 || !p->fenced)
		{
			char		why[128];

			if (last == 0)
				snprintf(why, sizeof(why), "the store has not been read yet");
			else
				snprintf(why, sizeof(why), "the store has not been read for %lld ms (proxyTimeout %lld ms)",
						 (long long) (now - last), (long long) timeout);
			if (!p->fenced || p->have_routes)
				forwarder_fence(p, why);
		}
	}
	else if (newer || p->fenced)
	{
		if (newer)
		{
			forwarder_apply_routes(p, &rt);
			pthread_mutex_lock(&p->shared.mutex);
			p->shared.applied_seq = seq;
			p->shared.applied_generation = rt.generation;
			pthread_cond_broadcast(&p->shared.applied_cond);
			pthread_mutex_unlock(&p->shared.mutex);
		}
		else
		{
			/* fenced, the store is back, nothing new: re-apply what the watcher last computed */
			pthread_mutex_lock(&p->shared.mutex);
			rt = p->shared.latest;
			pthread_mutex_unlock(&p->shared.mutex);
			if (p->shared.applied_seq != 0)
				forwarder_apply_routes(p, &rt);
		}
	}

	for (ProxyConn *c = p->conns; c; c = next)
	{
		next = c->next;
		if ((c->state == CONN_STATE_HOLDING || c->state == CONN_STATE_CONNECTING) && now > c->deadline_ms)
		{
			if (c->state == CONN_STATE_CONNECTING)
				log_warn("connect to db %s at %s:%d timed out", c->target.db_uid, c->target.host, c->target.port);
			p->metrics.refused[c->kind]++;
			conn_close(c);
		}
	}
}

/* forwarder_wake: the watcher has a newer route table; apply it now rather than at the next tick. */
static void
forwarder_wake(EvLoop *loop, int fd, void *data, int mask)
{
	uint64_t	v;

	(void) mask;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("could not read the wake-up eventfd: %m");
	forwarder_tick(loop, data);
}

bool
forwarder_init(ProxyDaemon *p, char *err, size_t errlen)
{
	p->loop = evloop_new();
	if (p->loop == NULL)
	{
		snprintf(err, errlen, "could not create the event loop: %s", strerror(errno));
		return false;
	}
	p->listeners[LISTENER_RW] = (ProxyListener) {p, LISTENER_RW, p->listen_address, (int) p->port, -1};
	p->listeners[LISTENER_RO] = (ProxyListener) {p, LISTENER_RO, p->listen_address, (int) p->ro_port, -1};
	p->fenced = true;			/* not listening until the first successful read */
	p->shared.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->shared.wake_fd < 0 || evloop_set(p->loop, p->shared.wake_fd, EV_READ, forwarder_wake, p) < 0 ||
		!evloop_add_timer(p->loop, 100, forwarder_tick, p))
	{
		snprintf(err, errlen, "could not set up the event loop: %s", strerror(errno));
		return false;
	}
	evloop_set_after_pass(p->loop, forwarder_free_closing, p);
	return true;
}

void
forwarder_finish(ProxyDaemon *p)
{
	ProxyConn  *next;

	for (ProxyConn *c = p->conns; c; c = next)
	{
		next = c->next;
		conn_close(c);
	}
	forwarder_free_closing(p->loop, p);
	forwarder_unlisten(p);
	if (p->shared.wake_fd >= 0)
		close(p->shared.wake_fd);
	evloop_free(p->loop);
	p->loop = NULL;
}
