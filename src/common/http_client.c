/*
 * src/common/http_client.c
 *    See http_client.h. A new easy handle per request: these requests are rare (a few a second at most, and only
 *    while the store is unreachable), so keeping connections would buy nothing.
 */
#include "http_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static size_t
http_client_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	Buf		   *body = ctx;
	size_t		n = size * nmemb;
	size_t		room = body->len < HTTP_CLIENT_MAX_BODY ? HTTP_CLIENT_MAX_BODY - body->len : 0;

	/* what does not fit is dropped: the answers read here are a few bytes */
	if (room > 0 && !buf_append(body, data, n < room ? n : room))
		return 0;
	return n;
}

bool
http_client_request(const char *method, const char *url, int64_t timeout_ms, int *status, Buf *body,
					char *err, size_t errlen)
{
	CURL	   *easy = curl_easy_init();
	char		errbuf[CURL_ERROR_SIZE] = "";
	CURLcode	rc;
	long		code = 0;
	bool		ok = true;

	*status = 0;
	if (easy == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return false;
	}
	ok &= curl_easy_setopt(easy, CURLOPT_URL, url) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http") == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_NOPROXY, "*") == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) (timeout_ms > 0 ? timeout_ms : 1)) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, http_client_write) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_WRITEDATA, body) == CURLE_OK;
	if (strcmp(method, "POST") == 0)
	{
		ok &= curl_easy_setopt(easy, CURLOPT_POST, 1L) == CURLE_OK;
		ok &= curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "") == CURLE_OK;
		ok &= curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L) == CURLE_OK;
	}
	if (!ok)
	{
		snprintf(err, errlen, "could not set up a request to %s", url);
		curl_easy_cleanup(easy);
		return false;
	}
	rc = curl_easy_perform(easy);
	if (rc != CURLE_OK)
	{
		snprintf(err, errlen, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		curl_easy_cleanup(easy);
		return false;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	*status = (int) code;
	curl_easy_cleanup(easy);
	return true;
}
