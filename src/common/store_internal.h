/*
 * src/common/store_internal.h
 *    What the etcd client's two halves share and nobody else sees: the Store itself, the record of a failed
 *    endpoint, and the transport helpers that the unary calls (store_etcd.c) and the watch (store_watch.c) both
 *    use. Not for use outside src/common/store_*.c.
 */
#ifndef BULWARK_STORE_INTERNAL_H
#define BULWARK_STORE_INTERNAL_H

#include <curl/curl.h>

#include "buf.h"
#include "store_etcd.h"

#define STORE_DEFAULT_REQUEST_TIMEOUT_MS 5000
#define STORE_DEFAULT_CONNECT_TIMEOUT_MS 1000
#define STORE_DEFAULT_SILENCE_TIMEOUT_MS 15000
#define STORE_MAX_ENDPOINTS 16
#define STORE_MAX_URL 512

/* our own cap on a request body; etcd refuses more than --max-request-bytes (1.5 MiB by default) anyway */
#define STORE_MAX_REQUEST (8 * 1024 * 1024)

/* what we keep of an error answer on a watch connection */
#define STORE_MAX_ERROR_BODY (64 * 1024)

/* reconnect backoff of a watch whose connection attempts fail */
#define STORE_WATCH_BACKOFF_MIN_MS 100
#define STORE_WATCH_BACKOFF_MAX_MS 1000

struct Store
{
	char	   *endpoints[STORE_MAX_ENDPOINTS];	/* base URLs, no trailing slash */
	size_t		n_endpoints;
	size_t		current;		/* the endpoint that answered last: tried first */
	char	   *ca_file;
	char	   *cert_file;
	char	   *key_file;
	char	   *user;
	char	   *password;
	int64_t		request_timeout_ms;
	int64_t		connect_timeout_ms;
	int64_t		connect_timeout_cfg_ms;	/* as configured: store_set_request_timeout shrinks the one in force */
	char	   *token;			/* auth token, NULL until authenticated (or without auth) */
	CURL	   *easy;			/* reused for every unary call */
	Buf			response;		/* body of the last unary answer */
	bool		response_too_large;
	bool		maybe_applied;	/* the last call had an attempt whose outcome is unknown */
	char		curl_error[CURL_ERROR_SIZE];
};

/* One endpoint that failed during a call, for the error message. */
typedef struct StoreTry
{
	const char *url;
	char		why[200];
	bool		timed_out;		/* the request was sent and no answer came in time */
} StoreTry;

/* store_text_copy: src into dst (truncated to fit, always NUL-terminated). */
void store_text_copy(char *dst, size_t dst_size, const char *src);

/* store_headers_new: the request headers (content type, the auth token when there is one); caller frees. */
struct curl_slist *store_headers_new(const Store *store);

/* store_curl_setup: the options every request of this store shares (URL, TLS, timeouts, headers). */
bool store_curl_setup(const Store *store, CURL *easy, const char *url, struct curl_slist *headers, char *errbuf);

/* store_describe_curl_error: why a transfer failed, in words, into why. */
void store_describe_curl_error(CURL *easy, CURLcode code, const char *errbuf, char *why, size_t why_size);

/* store_format_tries: "url (why), url (why)" of the tries, skipping the one at index skip, into out. */
void store_format_tries(const StoreTry *tries, size_t n, size_t skip, char *out, size_t out_size);

/* store_authenticate: a fresh auth token (etcd's /v3/auth/authenticate) into store->token. */
bool store_authenticate(Store *store, StoreError *err);

#endif
