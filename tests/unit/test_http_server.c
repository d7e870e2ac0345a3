/*
 * tests/unit/test_http_server.c
 *    The daemons' small HTTP server: request-line parsing (what is accepted, what gets 400), query strings,
 *    and a real exchange over loopback: a handler's answer (to GET and POST), 404, 405 and a request too large.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_server.h"

typedef struct HeadCase
{
	const char *head;
	bool		ok;
	const char *method;
	const char *path;
	const char *query;
} HeadCase;

static const HeadCase head_cases[] = {
	{"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", true, "GET", "/health", ""},
	{"GET /replica?lag=1024 HTTP/1.0\r\n\r\n", true, "GET", "/replica", "lag=1024"},
	{"HEAD / HTTP/1.1\r\n\r\n", true, "HEAD", "/", ""},
	{"GET /health\r\n\r\n", false, NULL, NULL, NULL},			/* HTTP/0.9 */
	{"GET health HTTP/1.1\r\n\r\n", false, NULL, NULL, NULL},	/* not an absolute path */
	{"get /health HTTP/1.1\r\n\r\n", false, NULL, NULL, NULL},	/* method case */
	{"GET /a b HTTP/1.1\r\n\r\n", false, NULL, NULL, NULL},
	{"GET /\x01 HTTP/1.1\r\n\r\n", false, NULL, NULL, NULL},
	{"\r\n\r\n", false, NULL, NULL, NULL},
	{"GET / SPDY/3\r\n\r\n", false, NULL, NULL, NULL},
};

static void
test_request_heads(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++)
	{
		const HeadCase *tc = &head_cases[i];
		HttpRequest req;
		bool		ok = http_parse_request_head(tc->head, strlen(tc->head), &req);

		if (ok != tc->ok)
			fail_msg("case %zu: \"%s\" parsed %s", i, tc->head, ok ? "ok" : "as bad");
		if (ok)
		{
			assert_string_equal(req.method, tc->method);
			assert_string_equal(req.path, tc->path);
			assert_string_equal(req.query, tc->query);
		}
	}
}

static void
test_query_values(void **state)
{
	char		v[32];

	(void) state;
	assert_true(http_query_get("lag=100&x=1", "lag", v, sizeof(v)));
	assert_string_equal(v, "100");
	assert_true(http_query_get("lag=100&x=1", "x", v, sizeof(v)));
	assert_string_equal(v, "1");
	assert_false(http_query_get("lagging=1", "lag", v, sizeof(v)));
	assert_true(http_query_get("flag", "flag", v, sizeof(v)));
	assert_string_equal(v, "");
	assert_false(http_query_get("", "lag", v, sizeof(v)));
}

static void
handler(void *ctx, const HttpRequest *req, HttpResponse *resp)
{
	(void) ctx;
	if (strcmp(req->path, "/health") == 0)
	{
		if (!buf_append_str(&resp->body, "ok\n"))
			resp->status = 500;
	}
	else
		resp->status = 404;
}

/* exchange: send raw bytes, return the whole response (the server closes the connection). */
static void
exchange(int port, const char *request, size_t len, char *out, size_t outlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int			fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t		got = 0;
	ssize_t		n;
	struct timeval tv = {5, 0};

	sa.sin_port = htons((uint16_t) port);
	assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(write(fd, request, len), (ssize_t) len);
	while (got < outlen - 1 && (n = read(fd, out + got, outlen - 1 - got)) > 0)
		got += (size_t) n;
	out[got] = '\0';
	close(fd);
}

static void
test_server_answers_and_rejects(void **state)
{
	HttpServer *s;
	char		err[256];
	char		resp[4096];
	static char big[10000];

	(void) state;
	assert_true(http_server_start("127.0.0.1:0", handler, NULL, &s, err, sizeof(err)));
	exchange(http_server_port(s), "GET /health HTTP/1.1\r\n\r\n", 24, resp, sizeof(resp));
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(resp, "Content-Length: 3\r\n"));
	assert_non_null(strstr(resp, "\r\n\r\nok\n"));
	exchange(http_server_port(s), "GET /nope HTTP/1.1\r\n\r\n", 22, resp, sizeof(resp));
	assert_non_null(strstr(resp, "HTTP/1.1 404"));
	exchange(http_server_port(s), "DELETE /health HTTP/1.1\r\n\r\n", 27, resp, sizeof(resp));
	assert_non_null(strstr(resp, "HTTP/1.1 405"));
	/* a POST reaches the handler (its arguments in the query string: the failsafe's requests) */
	exchange(http_server_port(s), "POST /health HTTP/1.1\r\n\r\n", 25, resp, sizeof(resp));
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK"));
	exchange(http_server_port(s), "garbage\r\n\r\n", 11, resp, sizeof(resp));
	assert_non_null(strstr(resp, "HTTP/1.1 400"));
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	exchange(http_server_port(s), big, sizeof(big), resp, sizeof(resp));
	assert_non_null(strstr(resp, "HTTP/1.1 400"));
	/* still serving after all that */
	exchange(http_server_port(s), "GET /health HTTP/1.0\r\n\r\n", 24, resp, sizeof(resp));
	assert_non_null(strstr(resp, "200 OK"));
	http_server_stop(s);
}

static void
test_bad_listen_address_is_an_error(void **state)
{
	HttpServer *s = NULL;
	char		err[256];

	(void) state;
	assert_false(http_server_start("nonsense", handler, NULL, &s, err, sizeof(err)));
	assert_non_null(strstr(err, "HOST:PORT"));
	assert_false(http_server_start("127.0.0.1:99999", handler, NULL, &s, err, sizeof(err)));
	assert_false(http_server_start("300.1.1.1:80", handler, NULL, &s, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_heads),
		cmocka_unit_test(test_query_values),
		cmocka_unit_test(test_server_answers_and_rejects),
		cmocka_unit_test(test_bad_listen_address_is_an_error),
	};

	return cmocka_run_group_tests_name("http_server", tests, NULL, NULL);
}
