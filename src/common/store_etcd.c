/*
 * src/common/store_etcd.c
 *    The etcd v3 client over the JSON gateway: endpoints, deadlines, authentication and the curl transport. The
 *    wire format lives in etcd_proto.c; this file only moves bytes and decides what to try next.
 *
 * Unary calls share one reused curl easy handle (keep-alive). Each call has one deadline (request_timeout_ms) for
 * all its attempts: it starts on the endpoint that answered last and moves on when an endpoint cannot be
 * connected to, does not answer in time, or answers that it cannot serve (503, no leader). The first endpoint
 * that answers stays the current one. A watch has its own easy handle driven by its own multi handle, so that
 * it can wait with curl_multi_poll now and be driven from an epoll loop later.
 *
 * curl_global_init: main() should call it once before any thread starts. store_new also takes a reference
 * with curl_global_init (reference-counted, and thread-safe in the libcurl we build against), released by
 * store_free, so a program that forgets still works.
 */
#include "store_etcd.h"
#include "store_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "etcd_proto.h"
#include "log.h"
#include "timestamp.h"

/* The outcome of one HTTP exchange with one endpoint. */
typedef enum StoreAttempt
{
	STORE_ATTEMPT_ANSWERED = 0,	/* an HTTP answer arrived, whatever its status */
	STORE_ATTEMPT_NOT_SENT,		/* no connection: the request never reached the member */
	STORE_ATTEMPT_LOST,			/* the connection failed after the request was sent: outcome unknown */
	STORE_ATTEMPT_TIMED_OUT,	/* no answer in the time allowed: outcome unknown */
	STORE_ATTEMPT_TOO_LARGE,	/* the answer exceeds ETCD_PROTO_MAX_MESSAGE */
	STORE_ATTEMPT_LOCAL_ERROR,	/* curl or TLS set-up failed here: no endpoint would do better */
} StoreAttempt;

static bool
store_copy_option(const char *value, char **out, StoreError *err)
{
	*out = NULL;
	if (value == NULL)
		return true;
	*out = strdup(value);
	if (*out == NULL)
	{
		store_error_set(err, STORE_ERR_INVALID, "out of memory");
		return false;
	}
	return true;
}

/* store_parse_endpoints: split "URL,URL" into store->endpoints, checking each URL's form and scheme */
static bool
store_parse_endpoints(Store *store, const char *spec, StoreError *err)
{
	const char *p = spec;
	bool		https = false;

	if (spec == NULL || spec[0] == '\0')
	{
		store_error_set(err, STORE_ERR_INVALID, "no store endpoints given");
		return false;
	}
	while (true)
	{
		const char *comma = strchr(p, ',');
		size_t		len = comma != NULL ? (size_t) (comma - p) : strlen(p);
		const char *host;
		bool		this_https;

		while (len > 0 && (*p == ' ' || *p == '\t'))
		{
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		while (len > 0 && p[len - 1] == '/')
			len--;

		if (len == 0)
		{
			store_error_set(err, STORE_ERR_INVALID, "empty endpoint in store endpoints \"%.200s\"", spec);
			return false;
		}
		if (len >= STORE_MAX_URL)
		{
			store_error_set(err, STORE_ERR_INVALID, "store endpoint \"%.60s...\" is too long", p);
			return false;
		}
		if (len > 7 && strncmp(p, "http://", 7) == 0)
		{
			this_https = false;
			host = p + 7;
		}
		else if (len > 8 && strncmp(p, "https://", 8) == 0)
		{
			this_https = true;
			host = p + 8;
		}
		else
		{
			store_error_set(err, STORE_ERR_INVALID,
							"store endpoint \"%.*s\" must start with http:// or https:// and name a host",
							(int) len, p);
			return false;
		}
		for (const char *c = host; c < p + len; c++)
		{
			if ((unsigned char) *c <= 0x20 || (unsigned char) *c >= 0x7f || *c == '?' || *c == '#')
			{
				store_error_set(err, STORE_ERR_INVALID, "store endpoint \"%.*s\" has an invalid character",
								(int) len, p);
				return false;
			}
		}
		if (store->n_endpoints > 0 && this_https != https)
		{
			store_error_set(err, STORE_ERR_INVALID, "store endpoints mix http:// and https://: \"%.200s\"", spec);
			return false;
		}
		https = this_https;
		if (store->n_endpoints == STORE_MAX_ENDPOINTS)
		{
			store_error_set(err, STORE_ERR_INVALID, "more than %d store endpoints", STORE_MAX_ENDPOINTS);
			return false;
		}
		store->endpoints[store->n_endpoints] = strndup(p, len);
		if (store->endpoints[store->n_endpoints] == NULL)
		{
			store_error_set(err, STORE_ERR_INVALID, "out of memory");
			return false;
		}
		store->n_endpoints++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return true;
}

bool
store_new(const StoreConfig *config, Store **out, StoreError *err)
{
	Store	   *store;

	*out = NULL;
	if (config->request_timeout_ms < 0 || config->connect_timeout_ms < 0)
	{
		store_error_set(err, STORE_ERR_INVALID, "store timeouts must not be negative");
		return false;
	}
	if (config->user != NULL && config->password == NULL)
	{
		store_error_set(err, STORE_ERR_INVALID, "store user \"%.100s\" given without a password", config->user);
		return false;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		store_error_set(err, STORE_ERR_INVALID, "could not initialize libcurl");
		return false;
	}
	store = calloc(1, sizeof(Store));
	if (store == NULL)
	{
		curl_global_cleanup();
		store_error_set(err, STORE_ERR_INVALID, "out of memory");
		return false;
	}
	buf_init(&store->response, ETCD_PROTO_MAX_MESSAGE);
	store->request_timeout_ms = config->request_timeout_ms > 0 ? config->request_timeout_ms
		: STORE_DEFAULT_REQUEST_TIMEOUT_MS;
	store->connect_timeout_ms = config->connect_timeout_ms > 0 ? config->connect_timeout_ms
		: STORE_DEFAULT_CONNECT_TIMEOUT_MS;
	store->connect_timeout_cfg_ms = store->connect_timeout_ms;

	if (!store_parse_endpoints(store, config->endpoints, err) ||
		!store_copy_option(config->ca_file, &store->ca_file, err) ||
		!store_copy_option(config->cert_file, &store->cert_file, err) ||
		!store_copy_option(config->key_file, &store->key_file, err) ||
		!store_copy_option(config->user, &store->user, err) ||
		!store_copy_option(config->password, &store->password, err))
	{
		store_free(store);
		return false;
	}
	store->easy = curl_easy_init();
	if (store->easy == NULL)
	{
		store_error_set(err, STORE_ERR_INVALID, "could not create a curl handle");
		store_free(store);
		return false;
	}
	log_debug("store client created endpoints=%s request_timeout_ms=%" PRId64 " connect_timeout_ms=%" PRId64,
			  config->endpoints, store->request_timeout_ms, store->connect_timeout_ms);
	*out = store;
	return true;
}

void
store_set_request_timeout(Store *store, int64_t ms)
{
	if (ms <= 0)
		return;
	store->request_timeout_ms = ms;
	store->connect_timeout_ms = store->connect_timeout_cfg_ms < ms ? store->connect_timeout_cfg_ms : ms;
}

void
store_free(Store *store)
{
	if (store == NULL)
		return;
	if (store->easy != NULL)
		curl_easy_cleanup(store->easy);
	for (size_t i = 0; i < store->n_endpoints; i++)
		free(store->endpoints[i]);
	free(store->ca_file);
	free(store->cert_file);
	free(store->key_file);
	free(store->user);
	if (store->password != NULL)
	{
		explicit_bzero(store->password, strlen(store->password));
		free(store->password);
	}
	free(store->token);
	buf_finish(&store->response);
	free(store);
	curl_global_cleanup();
}

/* ---------------------------------------------------------------------------------------------------------
 * Transport
 */

/* store_headers_new: the request headers, with the auth token when there is one; NULL when out of memory */
struct curl_slist *
store_headers_new(const Store *store)
{
	struct curl_slist *headers = NULL;
	struct curl_slist *next;

	next = curl_slist_append(headers, "Content-Type: application/json");
	if (next == NULL)
		return NULL;
	headers = next;
	/* no "Expect: 100-continue" round trip before large bodies */
	next = curl_slist_append(headers, "Expect:");
	if (next == NULL)
		goto fail;
	headers = next;
	if (store->token != NULL)
	{
		char		line[4200];

		snprintf(line, sizeof(line), "Authorization: %s", store->token);
		next = curl_slist_append(headers, line);
		explicit_bzero(line, sizeof(line));
		if (next == NULL)
			goto fail;
		headers = next;
	}
	return headers;

fail:
	curl_slist_free_all(headers);
	return NULL;
}

/* store_curl_setup: the options every handle of this store gets, unary or watch */
bool
store_curl_setup(const Store *store, CURL *easy, const char *url, struct curl_slist *headers, char *errbuf)
{
	bool		ok = true;

	ok &= curl_easy_setopt(easy, CURLOPT_URL, url) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
	/* signals would be the DNS timeout mechanism otherwise, which is unsafe with threads */
	ok &= curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	/* the gateway's well-trodden path is HTTP/1.1 with chunked streams */
	ok &= curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
	/* etcd is reached directly: a proxy from the environment could buffer (and so break) watch streams */
	ok &= curl_easy_setopt(easy, CURLOPT_NOPROXY, "*") == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 5L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 2L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) store->connect_timeout_ms) == CURLE_OK;
	if (store->ca_file != NULL)
		ok &= curl_easy_setopt(easy, CURLOPT_CAINFO, store->ca_file) == CURLE_OK;
	if (store->cert_file != NULL)
		ok &= curl_easy_setopt(easy, CURLOPT_SSLCERT, store->cert_file) == CURLE_OK;
	if (store->key_file != NULL)
		ok &= curl_easy_setopt(easy, CURLOPT_SSLKEY, store->key_file) == CURLE_OK;
	return ok;
}

static size_t
store_write_response(char *data, size_t size, size_t nmemb, void *arg)
{
	Store	   *store = arg;
	size_t		len = size * nmemb;

	if (!buf_append(&store->response, data, len))
	{
		store->response_too_large = true;
		return 0;				/* makes curl abort the transfer */
	}
	return len;
}

/* store_text_copy: copy src into dst, cut to fit */
void
store_text_copy(char *dst, size_t dst_size, const char *src)
{
	size_t		len = strnlen(src, dst_size - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* store_describe_curl_error: a short lowercase reason for a failed transfer, into why */
void
store_describe_curl_error(CURL *easy, CURLcode code, const char *errbuf, char *why, size_t why_size)
{
	long		os_errno = 0;

	if (code == CURLE_COULDNT_CONNECT && curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
		os_errno != 0)
	{
		char		text[128];
		const char *s = strerror_r((int) os_errno, text, sizeof(text));

		snprintf(why, why_size, "%s", s);
	}
	else if (errbuf[0] != '\0')
		snprintf(why, why_size, "%s", errbuf);
	else
		snprintf(why, why_size, "%s", curl_easy_strerror(code));
	/* "Connection refused" -> "connection refused", but "SSL certificate problem" stays as it is */
	if (why[0] >= 'A' && why[0] <= 'Z' && why[1] >= 'a' && why[1] <= 'z')
		why[0] = (char) (why[0] - 'A' + 'a');
}

/*
 * store_exchange: POST body to path on endpoint idx within budget_ms. The answer's status goes to *status and
 * its body to store->response; when there is no answer, why says what happened.
 */
static StoreAttempt
store_exchange(Store *store, size_t idx, const char *path, const char *body, int64_t budget_ms, long *status,
			   char *why, size_t why_size)
{
	char		url[STORE_MAX_URL + 64];
	struct curl_slist *headers;
	CURLcode	code;
	curl_off_t	request_size = 0;
	bool		ok;

	*status = 0;
	why[0] = '\0';
	buf_reset(&store->response);
	store->response_too_large = false;
	store->curl_error[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", store->endpoints[idx], path);

	headers = store_headers_new(store);
	if (headers == NULL)
	{
		snprintf(why, why_size, "out of memory");
		return STORE_ATTEMPT_LOCAL_ERROR;
	}
	ok = store_curl_setup(store, store->easy, url, headers, store->curl_error);
	ok &= curl_easy_setopt(store->easy, CURLOPT_POST, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(store->easy, CURLOPT_POSTFIELDS, body) == CURLE_OK;
	ok &= curl_easy_setopt(store->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body)) == CURLE_OK;
	ok &= curl_easy_setopt(store->easy, CURLOPT_WRITEFUNCTION, store_write_response) == CURLE_OK;
	ok &= curl_easy_setopt(store->easy, CURLOPT_WRITEDATA, store) == CURLE_OK;
	ok &= curl_easy_setopt(store->easy, CURLOPT_TIMEOUT_MS, (long) budget_ms) == CURLE_OK;
	ok &= curl_easy_setopt(store->easy, CURLOPT_CONNECTTIMEOUT_MS,
						   (long) (budget_ms < store->connect_timeout_ms ? budget_ms : store->connect_timeout_ms))
		== CURLE_OK;
	if (!ok)
	{
		curl_slist_free_all(headers);
		snprintf(why, why_size, "could not set curl options");
		return STORE_ATTEMPT_LOCAL_ERROR;
	}

	code = curl_easy_perform(store->easy);
	/* the handle keeps a pointer to the list: drop it before freeing */
	(void) curl_easy_setopt(store->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	(void) curl_easy_getinfo(store->easy, CURLINFO_REQUEST_SIZE, &request_size);

	/* an if-chain, not a switch: CURLcode has a hundred values of which these few matter */
	if (code == CURLE_OK)
	{
		(void) curl_easy_getinfo(store->easy, CURLINFO_RESPONSE_CODE, status);
		return STORE_ATTEMPT_ANSWERED;
	}
	if (code == CURLE_WRITE_ERROR && store->response_too_large)
	{
		snprintf(why, why_size, "answer exceeds %d bytes", ETCD_PROTO_MAX_MESSAGE);
		return STORE_ATTEMPT_TOO_LARGE;
	}
	if (code == CURLE_OPERATION_TIMEDOUT)
	{
		if (request_size == 0)
		{
			snprintf(why, why_size, "no connection within %" PRId64 " ms",
					 budget_ms < store->connect_timeout_ms ? budget_ms : store->connect_timeout_ms);
			return STORE_ATTEMPT_NOT_SENT;
		}
		snprintf(why, why_size, "no answer within %" PRId64 " ms", budget_ms);
		return STORE_ATTEMPT_TIMED_OUT;
	}
	if (code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_CACERT_BADFILE || code == CURLE_SSL_CRL_BADFILE ||
		code == CURLE_SSL_ENGINE_NOTFOUND || code == CURLE_SSL_ENGINE_SETFAILED || code == CURLE_SSL_CIPHER ||
		code == CURLE_OUT_OF_MEMORY || code == CURLE_FAILED_INIT || code == CURLE_UNSUPPORTED_PROTOCOL ||
		code == CURLE_URL_MALFORMAT)
	{
		store_describe_curl_error(store->easy, code, store->curl_error, why, why_size);
		return STORE_ATTEMPT_LOCAL_ERROR;
	}
	store_describe_curl_error(store->easy, code, store->curl_error, why, why_size);
	return request_size == 0 ? STORE_ATTEMPT_NOT_SENT : STORE_ATTEMPT_LOST;
}

/* store_format_tries: "url (why), url (why)" of the tries, skipping the one at index skip, into out */
void
store_format_tries(const StoreTry *tries, size_t n, size_t skip, char *out, size_t out_size)
{
	size_t		o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && o < out_size; i++)
	{
		int			w;

		if (i == skip)
			continue;
		w = snprintf(out + o, out_size - o, "%s%s (%s)", o > 0 ? ", " : "", tries[i].url, tries[i].why);
		if (w < 0)
			break;
		o += (size_t) w;
	}
}

/* store_fail_everywhere: the error of a call that got no usable answer from any endpoint */
static void
store_fail_everywhere(Store *store, const StoreTry *tries, size_t n_tries, size_t not_tried, int64_t elapsed_ms,
					  StoreError *err)
{
	const char *write_note = store->maybe_applied ? ": a write may have been applied" : "";
	char		untried[64] = "";
	char		list[400];
	size_t		timed_out = n_tries;

	if (not_tried > 0)
		snprintf(untried, sizeof(untried), "; no time left for %zu more endpoint%s", not_tried,
				 not_tried > 1 ? "s" : "");
	for (size_t i = 0; i < n_tries; i++)
	{
		if (tries[i].timed_out)
			timed_out = i;
	}
	if (timed_out < n_tries)
	{
		store_format_tries(tries, n_tries, timed_out, list, sizeof(list));
		store_error_set(err, STORE_ERR_TIMEOUT, "store request timed out after %" PRId64 " ms on %s%s%s%s%s",
						elapsed_ms, tries[timed_out].url, write_note, list[0] != '\0' ? "; also tried " : "", list,
						untried);
		return;
	}
	store_format_tries(tries, n_tries, n_tries, list, sizeof(list));
	if (store->maybe_applied)
		store_error_set(err, STORE_ERR_TIMEOUT, "store request outcome unknown%s: tried %s%s", write_note, list,
						untried);
	else
		store_error_set(err, STORE_ERR_UNREACHABLE, "store unreachable: tried %s%s",
						n_tries > 0 ? list : "nothing", untried);
}

/* store_take_token: the token of a 2xx authenticate answer in store->response */
static bool
store_take_token(Store *store, StoreError *err)
{
	char	   *token = NULL;

	if (!etcd_proto_parse_authenticate(store->response.data, store->response.len, &token, err))
		return false;
	free(store->token);
	store->token = token;
	return true;
}

/* One call: what it asks, its deadline, and the endpoints that failed it so far (for the error message). */
typedef struct StoreCall
{
	const char *path;
	const char *body;
	bool		is_write;		/* a write that reached a member may have been applied */
	bool		is_auth;		/* the call is the authentication itself */
	int64_t		start;
	int64_t		deadline;
	StoreTry	tries[STORE_MAX_ENDPOINTS];
	size_t		n_tries;
} StoreCall;

/* What one exchange with one endpoint leads to. */
typedef enum StoreStep
{
	STORE_STEP_DONE,			/* answered with success */
	STORE_STEP_AGAIN,			/* the same endpoint again: authenticated now, or a fresh token needed */
	STORE_STEP_NEXT_ENDPOINT,	/* this endpoint cannot serve: recorded in call->tries */
	STORE_STEP_FAILED,			/* a final answer or a local error: err is set */
} StoreStep;

static void
store_call_note_try(StoreCall *call, const char *url, const char *why, bool timed_out)
{
	StoreTry   *t;

	if (call->n_tries >= STORE_MAX_ENDPOINTS)
		return;
	t = &call->tries[call->n_tries++];
	t->url = url;
	store_text_copy(t->why, sizeof(t->why), why);
	t->timed_out = timed_out;
}

/*
 * How long one attempt may take. Why not the whole remaining time: a member that accepts connections but never
 * answers (stopped, or partitioned while a linearizable read waits for a leader) must leave time for the others.
 */
static int64_t
store_attempt_budget(const Store *store, int64_t remaining, bool others_left)
{
	if (others_left && remaining / 2 >= store->connect_timeout_ms)
		return remaining / 2;
	if (others_left && remaining > store->connect_timeout_ms)
		return store->connect_timeout_ms;
	return remaining;
}

/*
 * store_call_step: one exchange with endpoint idx: the call's request, or first the authentication it needs
 * (with a user and no token yet). *reauthed: a fresh token was already fetched on this endpoint.
 */
static StoreStep
store_call_step(Store *store, StoreCall *call, size_t idx, int64_t budget, bool *reauthed, StoreError *err)
{
	const char *url = store->endpoints[idx];
	bool		authenticating = !call->is_auth && store->user != NULL && store->token == NULL;
	const char *path = call->path;
	const char *body = call->body;
	char	   *auth_body = NULL;
	char		why[200];
	long		status;
	StoreAttempt attempt;
	StoreError	answer;
	EtcdErrorAction action;

	if (authenticating)
	{
		if ((auth_body = etcd_proto_build_authenticate(store->user, store->password)) == NULL)
		{
			store_error_set(err, STORE_ERR_INVALID, "could not encode the store user or password");
			return STORE_STEP_FAILED;
		}
		path = "/v3/auth/authenticate";
		body = auth_body;
	}
	log_debug("store request url=%s%s budget_ms=%" PRId64, url, path, budget);
	attempt = store_exchange(store, idx, path, body, budget, &status, why, sizeof(why));
	if (auth_body != NULL)
	{
		explicit_bzero(auth_body, strlen(auth_body));
		free(auth_body);
	}

	switch (attempt)
	{
		case STORE_ATTEMPT_ANSWERED:
			break;
		case STORE_ATTEMPT_NOT_SENT:
		case STORE_ATTEMPT_LOST:
		case STORE_ATTEMPT_TIMED_OUT:
			log_debug("store endpoint failed url=%s attempt=%d reason=\"%s\"", url, (int) attempt, why);
			store_call_note_try(call, url, why, attempt == STORE_ATTEMPT_TIMED_OUT);
			/* a request that reached the member may have been applied, unless it was only authentication */
			if (attempt != STORE_ATTEMPT_NOT_SENT && !authenticating)
				store->maybe_applied = store->maybe_applied || call->is_write;
			return STORE_STEP_NEXT_ENDPOINT;
		case STORE_ATTEMPT_TOO_LARGE:
			store_error_set(err, STORE_ERR_TOO_LARGE, "answer from %s exceeds %d bytes", url, ETCD_PROTO_MAX_MESSAGE);
			return STORE_STEP_FAILED;
		case STORE_ATTEMPT_LOCAL_ERROR:
			store_error_set(err, STORE_ERR_INVALID, "store request to %s failed: %s", url, why);
			return STORE_STEP_FAILED;
	}

	if (status >= 200 && status < 300)
	{
		if (authenticating)
			return store_take_token(store, err) ? STORE_STEP_AGAIN : STORE_STEP_FAILED;	/* now the request */
		store->current = idx;
		return STORE_STEP_DONE;
	}

	etcd_proto_parse_error(status, store->response.data, store->response.len, &answer, &action);
	log_debug("store error answer url=%s status=%ld kind=%s action=%s message=\"%s\"", url, status,
			  store_error_kind_to_string(answer.kind), etcd_error_action_to_string(action), answer.message);
	if (authenticating && action == ETCD_ERROR_ACTION_REAUTH)
		action = ETCD_ERROR_ACTION_FAIL;
	switch (action)
	{
		case ETCD_ERROR_ACTION_REAUTH:
			if (!call->is_auth && store->user != NULL && !*reauthed)
			{
				/* the token expired or the auth store changed: one fresh token, then the same request */
				*reauthed = true;
				free(store->token);
				store->token = NULL;
				return STORE_STEP_AGAIN;
			}
			break;
		case ETCD_ERROR_ACTION_NEXT_ENDPOINT:
			store_call_note_try(call, url, answer.message, answer.kind == STORE_ERR_TIMEOUT);
			if (answer.kind == STORE_ERR_TIMEOUT && !authenticating)
				store->maybe_applied = store->maybe_applied || call->is_write;
			return STORE_STEP_NEXT_ENDPOINT;
		case ETCD_ERROR_ACTION_FAIL:
			break;
	}
	store->current = idx;
	if (authenticating)
		store_error_set(err, answer.kind, "authentication as \"%.100s\" failed: %s from %s", store->user,
						answer.message, url);
	else
		store_error_set(err, answer.kind, "%s from %s", answer.message, url);
	return STORE_STEP_FAILED;
}

/*
 * store_call: one request within the store's deadline, over the endpoints in turn from the one that answered
 * last, each attempt within a share of the time left (store_attempt_budget); authentication first when needed.
 * True with the answer in store->response; false with err (UNREACHABLE listing every endpoint tried when none
 * answered; TIMEOUT, saying a write may have been applied, when one took the request and did not answer).
 */
static bool
store_call(Store *store, const char *path, const char *body, bool is_write, bool is_auth, StoreError *err)
{
	StoreCall	call = {.path = path, .body = body, .is_write = is_write, .is_auth = is_auth};
	size_t		n = store->n_endpoints;
	size_t		not_tried = 0;

	call.start = timestamp_monotonic_ms();
	call.deadline = call.start + store->request_timeout_ms;
	store->maybe_applied = false;
	if (strlen(body) > STORE_MAX_REQUEST)
	{
		store_error_set(err, STORE_ERR_TOO_LARGE, "request of %zu bytes exceeds the client limit of %d bytes",
						strlen(body), STORE_MAX_REQUEST);
		return false;
	}
	for (size_t i = 0; i < n && not_tried == 0; i++)
	{
		size_t		idx = (store->current + i) % n;
		bool		reauthed = false;
		StoreStep	step = STORE_STEP_AGAIN;

		while (step == STORE_STEP_AGAIN)
		{
			int64_t		remaining = call.deadline - timestamp_monotonic_ms();

			if (remaining <= 0)
			{
				not_tried = n - i;
				break;
			}
			step = store_call_step(store, &call, idx, store_attempt_budget(store, remaining, i + 1 < n), &reauthed,
								   err);
		}
		if (step == STORE_STEP_DONE)
			return true;
		if (step == STORE_STEP_FAILED)
			return false;
	}
	/* nobody answered: start the next call on another endpoint */
	store->current = (store->current + 1) % n;
	store_fail_everywhere(store, call.tries, call.n_tries, not_tried, timestamp_monotonic_ms() - call.start, err);
	return false;
}

/* store_call_built: store_call with a body from a builder (NULL = out of memory), freeing the body */
static bool
store_call_built(Store *store, const char *path, char *body, bool is_write, StoreError *err)
{
	bool		ok;

	if (body == NULL)
	{
		store_error_set(err, STORE_ERR_INVALID, "could not encode the request to %s", path);
		return false;
	}
	ok = store_call(store, path, body, is_write, false, err);
	free(body);
	return ok;
}

/* ---------------------------------------------------------------------------------------------------------
 * Key-value operations
 */

bool
store_get(Store *store, const char *key, StoreKV *kv, bool *found, int64_t *revision, StoreError *err)
{
	StoreKVList list = {0};

	*found = false;
	if (key == NULL || key[0] == '\0')
	{
		store_error_set(err, STORE_ERR_INVALID, "empty store key");
		return false;
	}
	if (!store_call_built(store, "/v3/kv/range", etcd_proto_build_range(key, strlen(key), NULL, 0), false, err) ||
		!etcd_proto_parse_range(store->response.data, store->response.len, &list, err))
		return false;
	if (revision != NULL)
		*revision = list.revision;
	if (list.n > 0)
	{
		*kv = list.kvs[0];
		memset(&list.kvs[0], 0, sizeof(StoreKV));
		*found = true;
	}
	store_kv_list_finish(&list);
	return true;
}

bool
store_list(Store *store, const char *prefix, StoreKVList *out, StoreError *err)
{
	size_t		prefix_len = strlen(prefix);
	size_t		end_len;
	char	   *end = store_prefix_end(prefix, prefix_len, &end_len);
	char	   *body;

	if (end == NULL)
	{
		store_error_set(err, STORE_ERR_INVALID, "out of memory");
		return false;
	}
	/* the empty prefix is every key: etcd spells that key "\0", range_end "\0" */
	if (prefix_len == 0)
		body = etcd_proto_build_range("", 1, end, end_len);
	else
		body = etcd_proto_build_range(prefix, prefix_len, end, end_len);
	free(end);
	if (!store_call_built(store, "/v3/kv/range", body, false, err))
		return false;
	/* etcd returns a range sorted by key unless asked otherwise */
	return etcd_proto_parse_range(store->response.data, store->response.len, out, err);
}

bool
store_put(Store *store, const char *key, const char *value, size_t value_len, int64_t lease, int64_t *revision,
		  StoreError *err)
{
	int64_t		rev;

	if (key == NULL || key[0] == '\0')
	{
		store_error_set(err, STORE_ERR_INVALID, "empty store key");
		return false;
	}
	if (!store_call_built(store, "/v3/kv/put", etcd_proto_build_put(key, strlen(key), value, value_len, lease), true,
						  err) ||
		!etcd_proto_parse_put(store->response.data, store->response.len, &rev, err))
		return false;
	if (revision != NULL)
		*revision = rev;
	return true;
}

static bool
store_delete_range(Store *store, const char *key, size_t key_len, const char *end, size_t end_len, int64_t *deleted,
				   StoreError *err)
{
	int64_t		n;
	int64_t		rev;

	if (!store_call_built(store, "/v3/kv/deleterange", etcd_proto_build_delete_range(key, key_len, end, end_len),
						  true, err) ||
		!etcd_proto_parse_delete_range(store->response.data, store->response.len, &n, &rev, err))
		return false;
	if (deleted != NULL)
		*deleted = n;
	return true;
}

bool
store_delete(Store *store, const char *key, int64_t *deleted, StoreError *err)
{
	if (key == NULL || key[0] == '\0')
	{
		store_error_set(err, STORE_ERR_INVALID, "empty store key");
		return false;
	}
	return store_delete_range(store, key, strlen(key), NULL, 0, deleted, err);
}

bool
store_delete_prefix(Store *store, const char *prefix, int64_t *deleted, StoreError *err)
{
	size_t		prefix_len = strlen(prefix);
	size_t		end_len;
	char	   *end;
	bool		ok;

	/* deleting everything is never what a bulwark program means: refuse the empty prefix */
	if (prefix_len == 0)
	{
		store_error_set(err, STORE_ERR_INVALID, "refusing to delete the empty prefix (every key)");
		return false;
	}
	end = store_prefix_end(prefix, prefix_len, &end_len);
	if (end == NULL)
	{
		store_error_set(err, STORE_ERR_INVALID, "out of memory");
		return false;
	}
	ok = store_delete_range(store, prefix, prefix_len, end, end_len, deleted, err);
	free(end);
	return ok;
}

/* store_fill_current: the key as the failure branch of a txn read it, or a key with mod_revision 0 when gone */
static bool
store_fill_current(const char *key, EtcdTxnResult *txn, StoreKV *current, StoreError *err)
{
	if (current == NULL)
		return true;
	if (txn->has_range && txn->range.n > 0)
	{
		*current = txn->range.kvs[0];
		memset(&txn->range.kvs[0], 0, sizeof(StoreKV));
		return true;
	}
	memset(current, 0, sizeof(*current));
	current->key = strdup(key);
	current->value = strdup("");
	if (current->key == NULL || current->value == NULL)
	{
		store_kv_finish(current);
		store_error_set(err, STORE_ERR_INVALID, "out of memory");
		return false;
	}
	return true;
}

/* store_txn_put: the common part of store_create, store_cas and store_cas_guarded (guard_key NULL: none) */
static bool
store_txn_put(Store *store, const char *key, EtcdCompareTarget target, int64_t expected, const char *value,
			  size_t value_len, int64_t lease, const char *guard_key, int64_t guard_lease, int64_t *revision,
			  StoreKV *current, StoreError *err)
{
	EtcdTxnResult txn;
	int64_t		now_mod;
	const char *note;
	char	   *body;

	if (key == NULL || key[0] == '\0' || (guard_key != NULL && guard_key[0] == '\0'))
	{
		store_error_set(err, STORE_ERR_INVALID, "empty store key");
		return false;
	}
	body = guard_key == NULL
		? etcd_proto_build_txn_put(key, strlen(key), target, expected, value, value_len, lease)
		: etcd_proto_build_txn_put_guarded(key, strlen(key), target, expected, value, value_len, lease, guard_key,
										   strlen(guard_key), guard_lease);
	if (!store_call_built(store, "/v3/kv/txn", body, true, err) ||
		!etcd_proto_parse_txn(store->response.data, store->response.len, &txn, err))
		return false;
	if (txn.succeeded)
	{
		if (revision != NULL)
			*revision = txn.revision;
		etcd_txn_result_finish(&txn);
		return true;
	}

	now_mod = (txn.has_range && txn.range.n > 0) ? txn.range.kvs[0].mod_revision : 0;
	/* an attempt that timed out on another member may be the very write that now makes the compare fail */
	note = store->maybe_applied ? " (an earlier attempt of this request timed out and may have been applied)" : "";
	if (guard_key != NULL && target == ETCD_COMPARE_MOD && now_mod == expected)
	{
		int64_t		held_by = (txn.has_range2 && txn.range2.n > 0) ? txn.range2.kvs[0].lease : 0;

		store_error_set(err, STORE_ERR_GUARD_LOST,
						"key \"%.200s\" not written: guard key \"%.200s\" is %s, not held by lease %" PRIx64 "%s", key,
						guard_key, held_by ? "held by another lease" : "gone or without a lease",
						(uint64_t) guard_lease, note);
		if (!store_fill_current(key, &txn, current, err))
		{
			etcd_txn_result_finish(&txn);
			return false;
		}
		etcd_txn_result_finish(&txn);
		return false;
	}
	switch (target)
	{
		case ETCD_COMPARE_CREATE:
			store_error_set(err, STORE_ERR_COMPARE_FAILED, "key \"%.200s\" already exists (mod_revision %" PRId64 ")%s",
							key, now_mod, note);
			break;
		case ETCD_COMPARE_MOD:
			if (now_mod == 0)
				store_error_set(err, STORE_ERR_COMPARE_FAILED,
								"key \"%.200s\" no longer exists (expected mod_revision %" PRId64 ")%s", key, expected,
								note);
			else
				store_error_set(err, STORE_ERR_COMPARE_FAILED,
								"key \"%.200s\" has mod_revision %" PRId64 ", expected %" PRId64 "%s", key, now_mod,
								expected, note);
			break;
		case ETCD_COMPARE_LEASE:
			store_error_set(err, STORE_ERR_COMPARE_FAILED, "key \"%.200s\" is not bound to lease %" PRIx64 "%s", key,
							(uint64_t) expected, note);
			break;
	}
	if (!store_fill_current(key, &txn, current, err))
	{
		etcd_txn_result_finish(&txn);
		return false;
	}
	etcd_txn_result_finish(&txn);
	return false;
}

bool
store_create(Store *store, const char *key, const char *value, size_t value_len, int64_t lease, int64_t *revision,
			 StoreKV *current, StoreError *err)
{
	return store_txn_put(store, key, ETCD_COMPARE_CREATE, 0, value, value_len, lease, NULL, 0, revision, current,
						 err);
}

bool
store_cas(Store *store, const char *key, const char *value, size_t value_len, int64_t expected_mod_revision,
		  int64_t lease, int64_t *revision, StoreKV *current, StoreError *err)
{
	if (expected_mod_revision <= 0)
	{
		store_error_set(err, STORE_ERR_INVALID, "compare-and-swap needs a positive mod_revision, not %" PRId64,
						expected_mod_revision);
		return false;
	}
	return store_txn_put(store, key, ETCD_COMPARE_MOD, expected_mod_revision, value, value_len, lease, NULL, 0,
						 revision, current, err);
}

bool
store_cas_guarded(Store *store, const char *key, const char *value, size_t value_len, int64_t expected_mod_revision,
				  const char *guard_key, int64_t guard_lease, int64_t *revision, StoreKV *current, StoreError *err)
{
	if (expected_mod_revision <= 0 || guard_key == NULL || guard_lease == 0)
	{
		store_error_set(err, STORE_ERR_INVALID, "a guarded compare-and-swap needs a positive mod_revision, a guard "
						"key and a lease");
		return false;
	}
	return store_txn_put(store, key, ETCD_COMPARE_MOD, expected_mod_revision, value, value_len, 0, guard_key,
						 guard_lease, revision, current, err);
}

bool
store_delete_cas(Store *store, const char *key, int64_t expected_mod_revision, StoreError *err)
{
	EtcdTxnResult txn;

	if (key == NULL || key[0] == '\0' || expected_mod_revision <= 0)
	{
		store_error_set(err, STORE_ERR_INVALID, "delete-if-unchanged needs a key and a positive mod_revision");
		return false;
	}
	if (!store_call_built(store, "/v3/kv/txn", etcd_proto_build_txn_delete(key, strlen(key), expected_mod_revision),
						  true, err) ||
		!etcd_proto_parse_txn(store->response.data, store->response.len, &txn, err))
		return false;
	etcd_txn_result_finish(&txn);
	if (!txn.succeeded)
	{
		store_error_set(err, STORE_ERR_COMPARE_FAILED, "key \"%.200s\" is not at mod_revision %" PRId64 "%s", key,
						expected_mod_revision,
						store->maybe_applied ? " (an earlier attempt of this request timed out and may have been applied)"
						: "");
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------------------------------------------------
 * Leases
 */

bool
store_lease_grant(Store *store, int64_t ttl_seconds, int64_t *lease_id, int64_t *granted_ttl, StoreError *err)
{
	int64_t		id;
	int64_t		ttl;

	if (ttl_seconds <= 0)
	{
		store_error_set(err, STORE_ERR_INVALID, "lease TTL must be positive, not %" PRId64, ttl_seconds);
		return false;
	}
	if (!store_call_built(store, "/v3/lease/grant", etcd_proto_build_lease_grant(ttl_seconds), true, err) ||
		!etcd_proto_parse_lease_grant(store->response.data, store->response.len, &id, &ttl, err))
		return false;
	*lease_id = id;
	if (granted_ttl != NULL)
		*granted_ttl = ttl;
	return true;
}

bool
store_lease_keepalive(Store *store, int64_t lease_id, int64_t *ttl, StoreError *err)
{
	int64_t		remaining;

	/*
	 * One POST per renewal: the gateway reads the body as a stream of one message, answers it once and ends the
	 * response. Several renewals in one streaming request are silently ignored by etcd (etcd issue 8237).
	 */
	if (!store_call_built(store, "/v3/lease/keepalive", etcd_proto_build_lease_id(lease_id), false, err) ||
		!etcd_proto_parse_lease_keepalive(store->response.data, store->response.len, lease_id, &remaining, err))
		return false;
	if (ttl != NULL)
		*ttl = remaining;
	return true;
}

bool
store_lease_revoke(Store *store, int64_t lease_id, StoreError *err)
{
	int64_t		rev;

	return store_call_built(store, "/v3/lease/revoke", etcd_proto_build_lease_id(lease_id), true, err) &&
		etcd_proto_parse_header(store->response.data, store->response.len, &rev, err);
}

/* store_authenticate: get a fresh token (a watch connection needs one before it starts) */
bool
store_authenticate(Store *store, StoreError *err)
{
	char	   *body = etcd_proto_build_authenticate(store->user, store->password);
	bool		ok;

	if (body == NULL)
	{
		store_error_set(err, STORE_ERR_INVALID, "could not encode the store user or password");
		return false;
	}
	ok = store_call(store, "/v3/auth/authenticate", body, false, true, err);
	explicit_bzero(body, strlen(body));
	free(body);
	return ok && store_take_token(store, err);
}

