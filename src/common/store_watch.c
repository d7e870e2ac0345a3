/*
 * src/common/store_watch.c
 *    The watch on a key prefix (store_watch.h): a streaming POST /v3/watch on a curl easy handle of its own, driven
 *    by its own multi handle (so that it can wait with curl_multi_poll now and be driven from an epoll loop later),
 *    parsed by etcd_proto as the stream arrives, reconnected with backoff from the last revision seen + 1 when the
 *    connection ends, stays silent past its deadline (progress notifications keep a healthy stream talking), or
 *    its endpoint fails; a fresh auth token once per failing stretch.
 */
#include "store_watch.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "etcd_proto.h"
#include "log.h"
#include "store_internal.h"
#include "timestamp.h"

/* ---------------------------------------------------------------------------------------------------------
 * Watch
 */

struct StoreWatch
{
	Store	   *store;			/* borrowed: endpoints, TLS settings and the auth token */
	char	   *key;
	size_t		key_len;
	char	   *range_end;
	size_t		range_end_len;
	int64_t		next_revision;	/* resume from here; 0 = from now (nothing seen yet) */
	int64_t		silence_timeout_ms;

	CURLM	   *multi;
	CURL	   *easy;
	bool		running;		/* easy is attached to multi */
	size_t		endpoint;		/* the endpoint of the current or next connection */
	struct curl_slist *headers;
	char	   *body;
	char		curl_error[CURL_ERROR_SIZE];
	long		http_status;	/* of the current connection, 0 until known */
	bool		created;		/* the current connection's watch was created */
	bool		abort;			/* the write callback asked to drop the connection */
	int64_t		last_bytes_ms;	/* last byte received (or connection start) */
	int64_t		retry_at_ms;	/* no reconnection before then */
	int64_t		backoff_ms;
	bool		reauth_tried;	/* one fresh token per failing stretch */

	EtcdWatchStream stream;
	Buf			error_body;		/* body of a non-200 answer */
	StoreEvent *pending;		/* events parsed and not yet returned */
	size_t		n_pending;
	size_t		cap_pending;
	StoreError	failure;		/* kind != NONE: what every store_watch_next returns from now on */
	StoreError	problem;		/* why the last connection ended, while reconnecting */
	StoreTry	tries[STORE_MAX_ENDPOINTS];	/* failed connections since the stream last worked */
	size_t		n_tries;
	uint64_t	failures;		/* connections ended, ever: tells whether one failed during a call */
};

/* watch_note_problem: remember why a connection failed, for the caller's UNREACHABLE error */
static void
watch_note_problem(StoreWatch *watch, const char *why)
{
	StoreTry   *t;
	const char *url = watch->store->endpoints[watch->endpoint];

	store_error_set(&watch->problem, STORE_ERR_UNREACHABLE, "%s", why);
	/* one entry per endpoint: the newest reason replaces an older one */
	for (size_t i = 0; i < watch->n_tries; i++)
	{
		if (watch->tries[i].url == url)
		{
			store_text_copy(watch->tries[i].why, sizeof(watch->tries[i].why), why);
			return;
		}
	}
	if (watch->n_tries == STORE_MAX_ENDPOINTS)
		return;
	t = &watch->tries[watch->n_tries++];
	t->url = url;
	t->timed_out = false;
	store_text_copy(t->why, sizeof(t->why), why);
}

static bool
watch_push_event(StoreWatch *watch, StoreEvent *ev)
{
	if (watch->n_pending == watch->cap_pending)
	{
		size_t		cap = watch->cap_pending ? watch->cap_pending * 2 : 16;
		StoreEvent *p = realloc(watch->pending, cap * sizeof(StoreEvent));

		if (p == NULL)
			return false;
		watch->pending = p;
		watch->cap_pending = cap;
	}
	watch->pending[watch->n_pending++] = *ev;
	memset(ev, 0, sizeof(*ev));
	return true;
}

/* watch_handle_message: apply one parsed stream message; sets watch->abort to drop the connection */
static void
watch_handle_message(StoreWatch *watch, EtcdWatchMessage *msg)
{
	int64_t		threshold = watch->next_revision;
	int64_t		max_revision = 0;

	if (msg->error.kind != STORE_ERR_NONE)
	{
		log_debug("watch stream error url=%s kind=%s message=\"%s\"", watch->store->endpoints[watch->endpoint],
				  store_error_kind_to_string(msg->error.kind), msg->error.message);
		switch (msg->error_action)
		{
			case ETCD_ERROR_ACTION_REAUTH:
				if (!watch->reauth_tried && watch->store->user != NULL)
				{
					watch->reauth_tried = true;
					free(watch->store->token);
					watch->store->token = NULL;
					watch_note_problem(watch, msg->error.message);
					watch->abort = true;
					return;
				}
				watch->failure = msg->error;
				break;
			case ETCD_ERROR_ACTION_NEXT_ENDPOINT:
				watch_note_problem(watch, msg->error.message);
				break;
			case ETCD_ERROR_ACTION_FAIL:
				if (msg->error.kind == STORE_ERR_COMPACTED || msg->error.kind == STORE_ERR_AUTH ||
					msg->error.kind == STORE_ERR_INVALID)
					watch->failure = msg->error;
				else
					watch_note_problem(watch, msg->error.message);
				break;
		}
		watch->abort = true;
		return;
	}

	if (msg->canceled)
	{
		StoreErrorKind kind;
		EtcdErrorAction action;

		if (msg->compact_revision > 0)
			store_error_set(&watch->failure, STORE_ERR_COMPACTED,
							"watch from revision %" PRId64 " is no longer possible: compacted up to revision %" PRId64,
							watch->next_revision, msg->compact_revision);
		else
		{
			etcd_proto_classify_error(-1, 0, msg->cancel_reason, &kind, &action);

			/*
			 * etcd 3.4 cancels a watch whose token it does not know with "permission denied", not "invalid auth
			 * token": that is what a restarted member (simple tokens live in memory) answers. One fresh token first.
			 */
			if ((kind == STORE_ERR_AUTH || action == ETCD_ERROR_ACTION_REAUTH) && watch->store->user != NULL &&
				!watch->reauth_tried)
			{
				watch->reauth_tried = true;
				free(watch->store->token);
				watch->store->token = NULL;
				watch_note_problem(watch, msg->cancel_reason);
			}
			else if (kind == STORE_ERR_AUTH || kind == STORE_ERR_INVALID)
				store_error_set(&watch->failure, kind, "watch canceled by etcd: %s", msg->cancel_reason);
			else
				watch_note_problem(watch, msg->cancel_reason[0] != '\0' ? msg->cancel_reason : "watch canceled by etcd");
		}
		log_debug("watch canceled url=%s compact_revision=%" PRId64 " reason=\"%s\"",
				  watch->store->endpoints[watch->endpoint], msg->compact_revision, msg->cancel_reason);
		watch->abort = true;
		return;
	}

	if (msg->created)
	{
		log_debug("watch created url=%s revision=%" PRId64 " next_revision=%" PRId64,
				  watch->store->endpoints[watch->endpoint], msg->revision, watch->next_revision);
		watch->created = true;
		watch->backoff_ms = 0;
		watch->n_tries = 0;
		watch->reauth_tried = false;
		watch->problem.kind = STORE_ERR_NONE;
		/* "from now" becomes a revision at the first creation: everything after it is ours */
		if (watch->next_revision == 0 && msg->revision > 0)
			watch->next_revision = msg->revision + 1;
	}

	/*
	 * After a reconnect etcd replays from next_revision, so nothing below it can come again; the filter is a
	 * guard. The threshold is taken before the message: the events of one txn share a revision.
	 */
	for (size_t i = 0; i < msg->n_events; i++)
	{
		StoreEvent *ev = &msg->events[i];

		if (threshold > 0 && ev->kv.mod_revision < threshold)
		{
			log_debug("watch dropped an event seen before mod_revision=%" PRId64, ev->kv.mod_revision);
			continue;
		}
		if (ev->kv.mod_revision > max_revision)
			max_revision = ev->kv.mod_revision;
		if (!watch_push_event(watch, ev))
		{
			store_error_set(&watch->failure, STORE_ERR_INVALID, "out of memory for watch events");
			watch->abort = true;
			return;
		}
	}
	if (max_revision >= watch->next_revision)
		watch->next_revision = max_revision + 1;

	/* a progress notification: every event up to its revision has been sent */
	if (etcd_watch_message_is_progress(msg) && watch->created && msg->revision >= watch->next_revision)
		watch->next_revision = msg->revision + 1;
}

static size_t
watch_write(char *data, size_t size, size_t nmemb, void *arg)
{
	StoreWatch *watch = arg;
	size_t		len = size * nmemb;

	watch->last_bytes_ms = timestamp_monotonic_ms();
	if (watch->http_status == 0)
		(void) curl_easy_getinfo(watch->easy, CURLINFO_RESPONSE_CODE, &watch->http_status);
	if (watch->http_status != 200)
	{
		size_t		room = watch->error_body.max - watch->error_body.len;

		/* keep the head of an error answer, ignore the rest */
		if (!buf_append(&watch->error_body, data, len < room ? len : room))
			return 0;
		return len;
	}

	while (len > 0 && !watch->abort)
	{
		EtcdWatchMessage msg;
		StoreError	e;
		bool		have;
		size_t		used;

		if (!etcd_watch_stream_feed(&watch->stream, data, len, &used, &msg, &have, &e))
		{
			log_debug("watch stream unreadable url=%s kind=%s message=\"%s\"",
					  watch->store->endpoints[watch->endpoint], store_error_kind_to_string(e.kind), e.message);
			/* a message too large for us will be too large again: the caller must know */
			if (e.kind == STORE_ERR_TOO_LARGE)
				watch->failure = e;
			else
				watch_note_problem(watch, e.message);
			watch->abort = true;
			break;
		}
		data += used;
		len -= used;
		if (have)
		{
			watch_handle_message(watch, &msg);
			etcd_watch_message_finish(&msg);
		}
	}
	return watch->abort ? 0 : size * nmemb;
}

/* watch_disconnect: drop the current connection (if any) */
static void
watch_disconnect(StoreWatch *watch)
{
	if (watch->running)
	{
		(void) curl_multi_remove_handle(watch->multi, watch->easy);
		watch->running = false;
	}
	(void) curl_easy_setopt(watch->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(watch->headers);
	watch->headers = NULL;
	free(watch->body);
	watch->body = NULL;
}

/* watch_after_failure: move to the next endpoint; back off when connections fail without ever streaming */
static void
watch_after_failure(StoreWatch *watch)
{
	int64_t		now = timestamp_monotonic_ms();

	watch_disconnect(watch);
	watch->failures++;
	watch->endpoint = (watch->endpoint + 1) % watch->store->n_endpoints;
	if (watch->created)
	{
		/* a stream that worked and broke: try the next member at once */
		watch->backoff_ms = 0;
		watch->retry_at_ms = now;
	}
	else
	{
		watch->backoff_ms = watch->backoff_ms == 0 ? STORE_WATCH_BACKOFF_MIN_MS : watch->backoff_ms * 2;
		if (watch->backoff_ms > STORE_WATCH_BACKOFF_MAX_MS)
			watch->backoff_ms = STORE_WATCH_BACKOFF_MAX_MS;
		/* a full round of failures waits; moving to an endpoint not yet tried in this round does not */
		watch->retry_at_ms = (watch->endpoint == 0) ? now + watch->backoff_ms : now;
	}
	watch->created = false;
}

/* watch_connect: start a watch request on the current endpoint; false only for failures no retry can fix */
static bool
watch_connect(StoreWatch *watch)
{
	Store	   *store = watch->store;
	char		url[STORE_MAX_URL + 16];
	bool		ok;

	if (store->user != NULL && store->token == NULL)
	{
		StoreError	e;

		if (!store_authenticate(store, &e))
		{
			if (e.kind == STORE_ERR_AUTH || e.kind == STORE_ERR_INVALID)
			{
				watch->failure = e;
				return false;
			}
			watch_note_problem(watch, e.message);
			watch_after_failure(watch);
			return true;
		}
	}

	watch->body = etcd_proto_build_watch_create(watch->key, watch->key_len, watch->range_end, watch->range_end_len,
												watch->next_revision);
	watch->headers = store_headers_new(store);
	if (watch->body == NULL || watch->headers == NULL)
	{
		store_error_set(&watch->failure, STORE_ERR_INVALID, "out of memory for a watch request");
		watch_disconnect(watch);
		return false;
	}
	snprintf(url, sizeof(url), "%s/v3/watch", store->endpoints[watch->endpoint]);
	ok = store_curl_setup(store, watch->easy, url, watch->headers, watch->curl_error);
	ok &= curl_easy_setopt(watch->easy, CURLOPT_POST, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(watch->easy, CURLOPT_POSTFIELDS, watch->body) == CURLE_OK;
	ok &= curl_easy_setopt(watch->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(watch->body)) == CURLE_OK;
	ok &= curl_easy_setopt(watch->easy, CURLOPT_WRITEFUNCTION, watch_write) == CURLE_OK;
	ok &= curl_easy_setopt(watch->easy, CURLOPT_WRITEDATA, watch) == CURLE_OK;
	/* no CURLOPT_TIMEOUT_MS: the stream is meant to last; silence detection bounds it instead */
	if (!ok || curl_multi_add_handle(watch->multi, watch->easy) != CURLM_OK)
	{
		store_error_set(&watch->failure, STORE_ERR_INVALID, "could not set up the watch request to %s", url);
		watch_disconnect(watch);
		return false;
	}
	log_debug("watch connecting url=%s start_revision=%" PRId64, url, watch->next_revision);
	watch->running = true;
	watch->http_status = 0;
	watch->created = false;
	watch->abort = false;
	watch->curl_error[0] = '\0';
	watch->last_bytes_ms = timestamp_monotonic_ms();
	etcd_watch_stream_reset(&watch->stream);
	buf_reset(&watch->error_body);
	return true;
}

/* watch_finish_transfer: the connection ended (by etcd, by the network, or by our write callback) */
static void
watch_finish_transfer(StoreWatch *watch, CURLcode code)
{
	const char *url = watch->store->endpoints[watch->endpoint];

	if (watch->abort)
	{
		/* the write callback has already said why */
	}
	else if (code == CURLE_OK && watch->http_status == 200)
		watch_note_problem(watch, "watch stream ended");
	else if (code == CURLE_OK)
	{
		StoreError	e;
		EtcdErrorAction action;

		etcd_proto_parse_error(watch->http_status, watch->error_body.data, watch->error_body.len, &e, &action);
		log_debug("watch refused url=%s status=%ld message=\"%s\"", url, watch->http_status, e.message);
		switch (action)
		{
			case ETCD_ERROR_ACTION_REAUTH:
				if (!watch->reauth_tried && watch->store->user != NULL)
				{
					watch->reauth_tried = true;
					free(watch->store->token);
					watch->store->token = NULL;
					watch_note_problem(watch, e.message);
				}
				else
					watch->failure = e;
				break;
			case ETCD_ERROR_ACTION_NEXT_ENDPOINT:
				watch_note_problem(watch, e.message);
				break;
			case ETCD_ERROR_ACTION_FAIL:
				if (e.kind == STORE_ERR_COMPACTED || e.kind == STORE_ERR_AUTH || e.kind == STORE_ERR_INVALID)
					watch->failure = e;
				else
					watch_note_problem(watch, e.message);
				break;
		}
	}
	else
	{
		char		why[200];

		store_describe_curl_error(watch->easy, code, watch->curl_error, why, sizeof(why));
		watch_note_problem(watch, why);
	}
	log_debug("watch connection ended url=%s curl=%d reason=\"%s\"", url, (int) code, watch->problem.message);
	watch_after_failure(watch);
}

bool
store_watch_new(Store *store, const char *prefix, int64_t start_revision, int64_t silence_timeout_ms,
				StoreWatch **out, StoreError *err)
{
	StoreWatch *watch;
	size_t		prefix_len = prefix != NULL ? strlen(prefix) : 0;

	*out = NULL;
	if (start_revision < 0 || silence_timeout_ms < 0)
	{
		store_error_set(err, STORE_ERR_INVALID, "watch start revision and silence timeout must not be negative");
		return false;
	}
	watch = calloc(1, sizeof(StoreWatch));
	if (watch == NULL)
	{
		store_error_set(err, STORE_ERR_INVALID, "out of memory");
		return false;
	}
	watch->store = store;
	watch->next_revision = start_revision;
	watch->silence_timeout_ms = silence_timeout_ms > 0 ? silence_timeout_ms : STORE_DEFAULT_SILENCE_TIMEOUT_MS;
	watch->endpoint = store->current;
	etcd_watch_stream_init(&watch->stream, ETCD_PROTO_MAX_MESSAGE);
	buf_init(&watch->error_body, STORE_MAX_ERROR_BODY);
	/* the empty prefix is every key: key "\0", range_end "\0" */
	watch->range_end = store_prefix_end(prefix != NULL ? prefix : "", prefix_len, &watch->range_end_len);
	watch->key = prefix_len > 0 ? strndup(prefix, prefix_len) : calloc(2, 1);
	watch->key_len = prefix_len > 0 ? prefix_len : 1;
	watch->multi = curl_multi_init();
	watch->easy = curl_easy_init();
	if (watch->range_end == NULL || watch->key == NULL || watch->multi == NULL || watch->easy == NULL)
	{
		store_error_set(err, STORE_ERR_INVALID, "out of memory for a watch");
		store_watch_free(watch);
		return false;
	}
	log_debug("watch new prefix=\"%s\" start_revision=%" PRId64 " silence_timeout_ms=%" PRId64,
			  prefix != NULL ? prefix : "", start_revision, watch->silence_timeout_ms);
	*out = watch;
	return true;
}

void
store_watch_free(StoreWatch *watch)
{
	if (watch == NULL)
		return;
	if (watch->easy != NULL)
		watch_disconnect(watch);
	if (watch->easy != NULL)
		curl_easy_cleanup(watch->easy);
	if (watch->multi != NULL)
		curl_multi_cleanup(watch->multi);
	store_events_free(watch->pending, watch->n_pending);
	etcd_watch_stream_finish(&watch->stream);
	buf_finish(&watch->error_body);
	free(watch->key);
	free(watch->range_end);
	free(watch);
}

int64_t
store_watch_revision(const StoreWatch *watch)
{
	return watch->next_revision > 0 ? watch->next_revision - 1 : 0;
}

/* watch_drive: let curl move bytes, and handle the end of the transfer */
static void
watch_drive(StoreWatch *watch)
{
	CURLMsg    *m;
	int			running = 0;
	int			left = 0;

	(void) curl_multi_perform(watch->multi, &running);
	while ((m = curl_multi_info_read(watch->multi, &left)) != NULL)
	{
		if (m->msg == CURLMSG_DONE && m->easy_handle == watch->easy)
		{
			CURLcode	code = m->data.result;

			/* m is invalid once the handle is removed: keep what we need first */
			watch_finish_transfer(watch, code);
			break;
		}
	}
}

bool
store_watch_next(StoreWatch *watch, int timeout_ms, StoreEvent **events, size_t *n, StoreError *err)
{
	int64_t		deadline = timestamp_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	uint64_t	failures_before = watch->failures;

	*events = NULL;
	*n = 0;
	for (;;)
	{
		int64_t		now;
		int64_t		wait_ms;

		if (watch->n_pending > 0)
			break;
		if (watch->failure.kind != STORE_ERR_NONE)
		{
			watch_disconnect(watch);
			*err = watch->failure;
			return false;
		}

		now = timestamp_monotonic_ms();
		if (!watch->running && now >= watch->retry_at_ms)
		{
			if (!watch_connect(watch))
				continue;		/* failure is set */
		}
		if (watch->running)
			watch_drive(watch);
		if (watch->n_pending > 0 || watch->failure.kind != STORE_ERR_NONE)
			continue;

		now = timestamp_monotonic_ms();
		if (watch->running && now - watch->last_bytes_ms > watch->silence_timeout_ms)
		{
			char		why[96];

			snprintf(why, sizeof(why), "no data for %" PRId64 " ms", now - watch->last_bytes_ms);
			log_debug("watch silent url=%s silence_ms=%" PRId64, watch->store->endpoints[watch->endpoint],
					  now - watch->last_bytes_ms);
			watch_note_problem(watch, why);
			/* a silent stream that had been created still counts as having worked: reconnect at once */
			watch_after_failure(watch);
			continue;
		}
		if (now >= deadline)
			break;

		wait_ms = deadline - now;
		if (!watch->running && watch->retry_at_ms - now < wait_ms)
			wait_ms = watch->retry_at_ms - now;
		if (watch->running && watch->last_bytes_ms + watch->silence_timeout_ms + 1 - now < wait_ms)
			wait_ms = watch->last_bytes_ms + watch->silence_timeout_ms + 1 - now;
		if (wait_ms < 1)
			wait_ms = 1;
		(void) curl_multi_poll(watch->multi, NULL, 0, (int) wait_ms, NULL);
	}

	if (watch->n_pending > 0)
	{
		*events = watch->pending;
		*n = watch->n_pending;
		watch->pending = NULL;
		watch->n_pending = 0;
		watch->cap_pending = 0;
		return true;
	}
	/* no events: that is an error only when connections failed during this call and none works now */
	if (watch->failures != failures_before && !watch->created && watch->n_tries > 0)
	{
		char		list[400];

		store_format_tries(watch->tries, watch->n_tries, watch->n_tries, list, sizeof(list));
		store_error_set(err, STORE_ERR_UNREACHABLE, "store unreachable for the watch: tried %s", list);
		return false;
	}
	return true;
}
