/*
 * src/common/http_server.h
 *    A small HTTP/1.1 server for the daemons' /health, /metrics and role-check endpoints. It runs on a thread
 *    of its own, so a keeper busy with a base backup still answers its probes; the handler is called on that
 *    thread and must take the daemon's own lock around the state it reads. One request per connection
 *    (Connection: close), requests capped at 8 KiB, at most 64 connections at once, 5 s to send a request;
 *    anything malformed gets 400 and the connection closed. GET, HEAD and POST reach the handler (a POST's
 *    arguments are in its query string: a body is not read); other methods get 405.
 */
#ifndef BULWARK_HTTP_SERVER_H
#define BULWARK_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef struct HttpRequest
{
	char		method[16];
	char		path[256];		/* without the query string, percent-decoding not applied */
	char		query[512];		/* after '?', "" when none */
} HttpRequest;

typedef struct HttpResponse
{
	int			status;			/* 200 by default */
	const char *content_type;	/* "text/plain; charset=utf-8" by default */
	Buf			body;
} HttpResponse;

/* The handler fills response (status, content_type, body); it runs on the server thread. */
typedef void (*HttpHandler) (void *ctx, const HttpRequest *request, HttpResponse *response);

typedef struct HttpServer HttpServer;

/*
 * http_server_start: listen on "host:port" (IPv4 or [IPv6]; port 0 picks a free one) and serve on a new thread.
 * false with err filled when the address does not parse or cannot be bound.
 */
bool http_server_start(const char *listen_address, HttpHandler handler, void *ctx, HttpServer **out,
					   char *err, size_t errlen) __attribute__((warn_unused_result));

/* http_server_port: the port it listens on (useful with port 0). */
int http_server_port(const HttpServer *server);

/* http_server_stop: stop the thread, close every socket, free the server. NULL is a no-op. */
void http_server_stop(HttpServer *server);

/* http_query_get: the value of name in a query string ("lag=100&x=1") into out; false when absent. */
bool http_query_get(const char *query, const char *name, char *out, size_t outlen);

/* http_parse_request_head: parse "GET /path?q HTTP/1.1\r\n..." (the head up to the blank line). */
bool http_parse_request_head(const char *head, size_t len, HttpRequest *request)
	__attribute__((warn_unused_result));

#endif
