/*
 * src/common/http_client.h
 *    One HTTP request to a peer's endpoint (a keeper's /failsafe), with libcurl: a deadline for the whole
 *    request, no proxy from the environment, http only, the response body capped. Used where the store cannot
 *    help: keepers asking each other for failsafe promises, proxies asking the master's keeper for its role.
 */
#ifndef BULWARK_HTTP_CLIENT_H
#define BULWARK_HTTP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/* The most of a response body http_client_request keeps. */
#define HTTP_CLIENT_MAX_BODY (64 * 1024)

/*
 * http_client_request: method ("GET", "POST" without a body) on url, within timeout_ms. True when a response
 * came: its status in *status and its body in body (initialized by the caller); false with err filled when none
 * came (refused, timed out, not HTTP).
 */
bool http_client_request(const char *method, const char *url, int64_t timeout_ms, int *status, Buf *body,
						 char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
