/*
 * src/common/http_server.c
 *    The HTTP server thread: a poll() loop over the listening socket, the connections, and a pipe that wakes
 *    it to stop. Requests are read into a fixed buffer; the response is written in full, then the connection
 *    is closed.
 */
#include "http_server.h"

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

#include "log.h"

#define HTTP_MAX_REQUEST 8192
#define HTTP_MAX_CONNS 64
#define HTTP_REQUEST_TIMEOUT_MS 5000
#define HTTP_MAX_RESPONSE (4 * 1024 * 1024)

typedef struct HttpConn
{
	int			fd;				/* -1 when the slot is free */
	char	   *in;				/* HTTP_MAX_REQUEST bytes: this slot's row of HttpServer.in_bufs */
	size_t		in_len;
	Buf			out;			/* the response; written once the request is complete */
	size_t		out_off;
	bool		responding;
	bool		draining;		/* response sent, the request was not read in full: discard until EOF */
	bool		request_unread; /* the request was cut at the size limit */
	struct timespec started;
} HttpConn;

struct HttpServer
{
	int			listen_fd;
	int			wake_pipe[2];
	int			port;
	pthread_t	thread;
	HttpHandler handler;
	void	   *ctx;
	HttpConn	conns[HTTP_MAX_CONNS];

	/*
	 * The request buffers, apart from the slots: marking every slot free at start then touches one page
	 * instead of one per slot (64 pages = 256 KiB of RSS for an idle daemon); a buffer's pages become
	 * resident only once a request is read into it.
	 */
	char		in_bufs[HTTP_MAX_CONNS][HTTP_MAX_REQUEST];
};

static int64_t
http_elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t) (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

bool
http_query_get(const char *query, const char *name, char *out, size_t outlen)
{
	size_t		nlen = strlen(name);
	const char *p = query;

	while (p && *p)
	{
		const char *end = strchr(p, '&');
		size_t		len = end ? (size_t) (end - p) : strlen(p);

		if (len >= nlen && strncmp(p, name, nlen) == 0 && (len == nlen || p[nlen] == '='))
		{
			size_t		vlen = len > nlen ? len - nlen - 1 : 0;

			if (vlen >= outlen)
				vlen = outlen - 1;
			memcpy(out, p + nlen + (len > nlen ? 1 : 0), vlen);
			out[vlen] = '\0';
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool
http_parse_request_head(const char *head, size_t len, HttpRequest *req)
{
	const char *eol = memchr(head, '\n', len);
	const char *sp1;
	const char *sp2;
	const char *target;
	size_t		tlen;
	const char *q;

	memset(req, 0, sizeof(*req));
	if (eol == NULL)
		return false;
	sp1 = memchr(head, ' ', (size_t) (eol - head));
	if (sp1 == NULL || sp1 == head || (size_t) (sp1 - head) >= sizeof(req->method))
		return false;
	sp2 = memchr(sp1 + 1, ' ', (size_t) (eol - sp1 - 1));
	if (sp2 == NULL || (size_t) (eol - sp2) < 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return false;
	memcpy(req->method, head, (size_t) (sp1 - head));
	for (const char *c = req->method; *c; c++)
		if (*c < 'A' || *c > 'Z')
			return false;
	target = sp1 + 1;
	tlen = (size_t) (sp2 - target);
	if (tlen == 0 || target[0] != '/')
		return false;
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char) target[i] <= 0x20 || (unsigned char) target[i] >= 0x7f)
			return false;
	q = memchr(target, '?', tlen);
	if (q)
	{
		size_t		plen = (size_t) (q - target);
		size_t		qlen = tlen - plen - 1;

		if (plen >= sizeof(req->path) || qlen >= sizeof(req->query))
			return false;
		memcpy(req->path, target, plen);
		memcpy(req->query, q + 1, qlen);
	}
	else
	{
		if (tlen >= sizeof(req->path))
			return false;
		memcpy(req->path, target, tlen);
	}
	return true;
}

static const char *
http_reason(int status)
{
	switch (status)
	{
		case 200:
			return "OK";
		case 400:
			return "Bad Request";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 500:
			return "Internal Server Error";
		case 503:
			return "Service Unavailable";
		default:
			return "Status";
	}
}

static void
http_conn_close(HttpConn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_finish(&c->out);
	c->in_len = 0;
	c->out_off = 0;
	c->responding = false;
	c->draining = false;
	c->request_unread = false;
}

static void
http_conn_respond(HttpServer *s, HttpConn *c, bool head_ok)
{
	HttpRequest req;
	HttpResponse resp;
	bool		ok;

	buf_init(&resp.body, HTTP_MAX_RESPONSE);
	resp.status = 200;
	resp.content_type = "text/plain; charset=utf-8";
	if (!head_ok || !http_parse_request_head(c->in, c->in_len, &req))
	{
		resp.status = 400;
		ok = buf_append_str(&resp.body, "bad request\n");
		memset(&req, 0, sizeof(req));
		snprintf(req.method, sizeof(req.method), "GET");
	}
	else if (strcmp(req.method, "GET") != 0 && strcmp(req.method, "HEAD") != 0 && strcmp(req.method, "POST") != 0)
	{
		resp.status = 405;
		ok = buf_append_str(&resp.body, "method not allowed\n");
	}
	else
	{
		s->handler(s->ctx, &req, &resp);
		ok = true;
	}
	(void) ok;

	buf_init(&c->out, HTTP_MAX_RESPONSE + 512);
	if (!buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
					resp.status, http_reason(resp.status), resp.content_type, resp.body.len) ||
		(strcmp(req.method, "HEAD") != 0 && !buf_append(&c->out, resp.body.data ? resp.body.data : "", resp.body.len)))
		log_warn("http response too large path=%s", req.path);
	buf_finish(&resp.body);
	c->responding = true;
	c->out_off = 0;
}

static void
http_conn_read(HttpServer *s, HttpConn *c)
{
	ssize_t		n = read(c->fd, c->in + c->in_len, HTTP_MAX_REQUEST - 1 - c->in_len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
	{
		http_conn_close(c);
		return;
	}
	c->in_len += (size_t) n;
	c->in[c->in_len] = '\0';
	if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n"))
		http_conn_respond(s, c, true);
	else if (c->in_len >= HTTP_MAX_REQUEST - 1)
	{
		c->request_unread = true;
		http_conn_respond(s, c, false); /* too large: 400 */
	}
}

static void
http_conn_write(HttpConn *c)
{
	ssize_t		n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
	{
		http_conn_close(c);
		return;
	}
	c->out_off += (size_t) n;
	if (c->out_off < c->out.len)
		return;
	if (!c->request_unread)
	{
		http_conn_close(c);
		return;
	}
	/*
	 * Closing with unread request bytes would send a reset that can destroy the response in flight: end our
	 * side, then read and discard until the client closes (or the request timeout).
	 */
	shutdown(c->fd, SHUT_WR);
	c->responding = false;
	c->draining = true;
}

static void
http_conn_drain(HttpConn *c)
{
	char		sink[4096];
	ssize_t		n = read(c->fd, sink, sizeof(sink));

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		http_conn_close(c);
}

static void *
http_server_main(void *arg)
{
	HttpServer *s = arg;
	struct pollfd pfds[HTTP_MAX_CONNS + 2];
	int			map[HTTP_MAX_CONNS + 2];

	for (;;)
	{
		int			n = 0;
		int			nconns = 0;

		pfds[n] = (struct pollfd) {s->wake_pipe[0], POLLIN, 0};
		map[n++] = -2;
		for (int i = 0; i < HTTP_MAX_CONNS; i++)
		{
			HttpConn   *c = &s->conns[i];

			if (c->fd < 0)
				continue;
			if (http_elapsed_ms(&c->started) > HTTP_REQUEST_TIMEOUT_MS)
			{
				http_conn_close(c);
				continue;
			}
			pfds[n] = (struct pollfd) {c->fd, c->responding ? POLLOUT : POLLIN, 0};
			map[n++] = i;
			nconns++;
		}
		/* stop accepting while every slot is busy: the kernel's backlog holds new clients */
		if (nconns < HTTP_MAX_CONNS)
		{
			pfds[n] = (struct pollfd) {s->listen_fd, POLLIN, 0};
			map[n++] = -1;
		}

		if (poll(pfds, (nfds_t) n, 500) < 0)
		{
			if (errno == EINTR)
				continue;
			log_error("http server poll failed: %m");
			break;
		}
		for (int k = 0; k < n; k++)
		{
			if (pfds[k].revents == 0)
				continue;
			if (map[k] == -2)
				goto done;
			if (map[k] == -1)
			{
				int			fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd < 0)
					continue;
				for (int i = 0; i < HTTP_MAX_CONNS; i++)
				{
					if (s->conns[i].fd < 0)
					{
						s->conns[i].fd = fd;
						s->conns[i].in_len = 0;
						s->conns[i].responding = false;
						clock_gettime(CLOCK_MONOTONIC, &s->conns[i].started);
						fd = -1;
						break;
					}
				}
				if (fd >= 0)
					close(fd);
				continue;
			}
			{
				HttpConn   *c = &s->conns[map[k]];

				if (c->fd < 0)
					continue;
				if (c->responding)
					http_conn_write(c);
				else if (c->draining)
					http_conn_drain(c);
				else
					http_conn_read(s, c);
			}
		}
	}
done:
	return NULL;
}

static bool
http_parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen, char *err, size_t errlen)
{
	char		host[128];
	const char *colon = strrchr(addr, ':');
	char	   *end;
	long		port;
	size_t		hlen;

	if (colon == NULL)
	{
		snprintf(err, errlen, "listen address \"%s\": expected HOST:PORT", addr);
		return false;
	}
	hlen = (size_t) (colon - addr);
	if (hlen >= sizeof(host))
	{
		snprintf(err, errlen, "listen address \"%s\": host too long", addr);
		return false;
	}
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
	{
		snprintf(err, errlen, "listen address \"%s\": bad port", addr);
		return false;
	}
	memset(ss, 0, sizeof(*ss));
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']')
	{
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;

		host[hlen - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t) port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
		{
			snprintf(err, errlen, "listen address \"%s\": bad IPv6 address", addr);
			return false;
		}
		*sslen = sizeof(*s6);
		return true;
	}
	{
		struct sockaddr_in *s4 = (struct sockaddr_in *) ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t) port);
		if (hlen == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (strcmp(host, "localhost") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		{
			snprintf(err, errlen, "listen address \"%s\": bad IPv4 address", addr);
			return false;
		}
		*sslen = sizeof(*s4);
	}
	return true;
}

bool
http_server_start(const char *listen_address, HttpHandler handler, void *ctx, HttpServer **out, char *err,
				  size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t	sslen;
	HttpServer *s;
	int			one = 1;

	if (!http_parse_listen(listen_address, &ss, &sslen, err, errlen))
		return false;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return false;
	}
	for (int i = 0; i < HTTP_MAX_CONNS; i++)
	{
		s->conns[i].fd = -1;
		s->conns[i].in = s->in_bufs[i];
	}
	s->handler = handler;
	s->ctx = ctx;
	s->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 ||
		setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		bind(s->listen_fd, (struct sockaddr *) &ss, sslen) < 0 ||
		listen(s->listen_fd, 64) < 0)
	{
		snprintf(err, errlen, "could not listen on \"%s\": %s", listen_address, strerror(errno));
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		free(s);
		return false;
	}
	getsockname(s->listen_fd, (struct sockaddr *) &ss, &sslen);
	s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *) &ss)->sin6_port)
		: ntohs(((struct sockaddr_in *) &ss)->sin_port);
	if (pipe2(s->wake_pipe, O_CLOEXEC) < 0)
	{
		snprintf(err, errlen, "could not create a pipe: %s", strerror(errno));
		close(s->listen_fd);
		free(s);
		return false;
	}
	if (pthread_create(&s->thread, NULL, http_server_main, s) != 0)
	{
		snprintf(err, errlen, "could not start the http thread");
		close(s->listen_fd);
		close(s->wake_pipe[0]);
		close(s->wake_pipe[1]);
		free(s);
		return false;
	}
	*out = s;
	return true;
}

int
http_server_port(const HttpServer *s)
{
	return s->port;
}

void
http_server_stop(HttpServer *s)
{
	char		c = 'x';

	if (s == NULL)
		return;
	if (write(s->wake_pipe[1], &c, 1) < 0)
		log_warn("could not wake the http thread: %m");
	pthread_join(s->thread, NULL);
	for (int i = 0; i < HTTP_MAX_CONNS; i++)
		http_conn_close(&s->conns[i]);
	close(s->listen_fd);
	close(s->wake_pipe[0]);
	close(s->wake_pipe[1]);
	free(s);
}
