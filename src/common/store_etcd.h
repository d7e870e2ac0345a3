/*
 * src/common/store_etcd.h
 *    The etcd v3 client of every bulwark program, over etcd's HTTP/JSON gateway (/v3/...) with libcurl.
 *
 * Unary calls (get, list, put, delete, txn, leases) are synchronous with a per-request deadline and move to the
 * next endpoint when one is down. A watch is a streaming request on its own curl handle, resumed from the last
 * revision seen after a reconnect. Every failure is reported once through StoreError (kind + message); the
 * client does not log errors itself except at debug level, so callers decide how loud to be.
 */
#ifndef BULWARK_STORE_ETCD_H
#define BULWARK_STORE_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum StoreErrorKind
{
	STORE_ERR_NONE = 0,
	STORE_ERR_UNREACHABLE,		/* no endpoint answered; the message lists the endpoints tried */
	STORE_ERR_TIMEOUT,			/* no answer within the deadline: a write may still have been applied */
	STORE_ERR_COMPARE_FAILED,	/* a txn compare (create-if-absent, CAS) did not hold */
	STORE_ERR_GUARD_LOST,		/* a guarded write's guard key is no longer held by the caller's lease (leadership lost) */
	STORE_ERR_COMPACTED,		/* a watch start revision was compacted: re-read, then watch again */
	STORE_ERR_TOO_LARGE,		/* the request or response exceeds a size limit */
	STORE_ERR_LEASE_NOT_FOUND,	/* the lease expired or never existed */
	STORE_ERR_AUTH,				/* authentication failed or permission denied */
	STORE_ERR_PROTOCOL,			/* the response is not what the gateway should send */
	STORE_ERR_SERVER,			/* any other error answer from etcd; the message carries etcd's text */
	STORE_ERR_INVALID,			/* bad arguments or configuration given to the client */
} StoreErrorKind;

typedef struct StoreError
{
	StoreErrorKind kind;
	char		message[512];
} StoreError;

const char *store_error_kind_to_string(StoreErrorKind kind);

/* store_error_set: fill err (when not NULL) with kind and a printf-formatted message, truncated to fit. */
void store_error_set(StoreError *err, StoreErrorKind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

typedef struct StoreConfig
{
	const char *endpoints;		/* comma-separated URLs, http:// or https:// (all the same scheme) */
	const char *ca_file;		/* TLS: CA bundle to verify the server; NULL = system default */
	const char *cert_file;		/* TLS client certificate, with key_file */
	const char *key_file;
	const char *user;			/* etcd auth; NULL = no auth */
	const char *password;		/* the password itself (callers read it from --store-password-file) */
	int64_t		request_timeout_ms; /* whole-request deadline for unary calls; 0 = default 5000 */
	int64_t		connect_timeout_ms; /* per endpoint connection attempt; 0 = default 1000 */
} StoreConfig;

typedef struct Store Store;

/* store_new: parse the configuration (no I/O yet). false with err filled when the endpoints are malformed. */
bool store_new(const StoreConfig *config, Store **out, StoreError *err) __attribute__((warn_unused_result));
void store_free(Store *store);

/*
 * store_set_request_timeout: the whole-request deadline of the unary calls from now on (ms > 0; the connection
 * attempt's own deadline shrinks with it). For a caller whose own deadline is shorter than the configured one:
 * the proxy's reads must fail over to another endpoint well within proxyTimeout.
 */
void store_set_request_timeout(Store *store, int64_t ms);

typedef struct StoreKV
{
	char	   *key;			/* malloc'ed, NUL-terminated */
	char	   *value;			/* malloc'ed, NUL-terminated (value_len bytes before the NUL); "" for deletes */
	size_t		value_len;
	int64_t		create_revision;
	int64_t		mod_revision;
	int64_t		version;
	int64_t		lease;
} StoreKV;

void store_kv_finish(StoreKV *kv);

typedef struct StoreKVList
{
	StoreKV    *kvs;
	size_t		n;
	int64_t		revision;		/* the store revision the list was read at */
} StoreKVList;

void store_kv_list_finish(StoreKVList *list);

/* store_get: *found false (and kv untouched) when the key does not exist. *revision: the store revision. */
bool store_get(Store *store, const char *key, StoreKV *kv, bool *found, int64_t *revision, StoreError *err)
	__attribute__((warn_unused_result));

/* store_list: every key under prefix (byte prefix), sorted by key. */
bool store_list(Store *store, const char *prefix, StoreKVList *out, StoreError *err)
	__attribute__((warn_unused_result));

/* store_put: unconditional put; lease 0 = none. *revision (may be NULL): the revision of the write. */
bool store_put(Store *store, const char *key, const char *value, size_t value_len, int64_t lease,
			   int64_t *revision, StoreError *err) __attribute__((warn_unused_result));

/* store_delete: delete one key; *deleted (may be NULL) = number of keys deleted (0 or 1). */
bool store_delete(Store *store, const char *key, int64_t *deleted, StoreError *err)
	__attribute__((warn_unused_result));

/* store_delete_prefix: delete every key under prefix. */
bool store_delete_prefix(Store *store, const char *prefix, int64_t *deleted, StoreError *err)
	__attribute__((warn_unused_result));

/*
 * store_create: put only if the key does not exist (a txn comparing create_revision == 0). When it exists:
 * false with STORE_ERR_COMPARE_FAILED, and *current (may be NULL) filled with the existing key.
 */
bool store_create(Store *store, const char *key, const char *value, size_t value_len, int64_t lease,
				  int64_t *revision, StoreKV *current, StoreError *err) __attribute__((warn_unused_result));

/*
 * store_cas: put only if the key's mod_revision equals expected (a txn). On a failed compare: false with
 * STORE_ERR_COMPARE_FAILED, and *current (may be NULL) filled with the key as it is now (current->mod_revision
 * is 0 when the key no longer exists).
 */
bool store_cas(Store *store, const char *key, const char *value, size_t value_len, int64_t expected_mod_revision,
			   int64_t lease, int64_t *revision, StoreKV *current, StoreError *err) __attribute__((warn_unused_result));

/*
 * store_cas_guarded: store_cas that also requires guard_key to be bound to guard_lease (a leader key created on
 * the writer's lease), in the same txn: a writer that lost its leadership cannot write, whatever its clock says.
 * A failed guard is STORE_ERR_COMPARE_FAILED too, with a message naming the guard key.
 */
bool store_cas_guarded(Store *store, const char *key, const char *value, size_t value_len,
					   int64_t expected_mod_revision, const char *guard_key, int64_t guard_lease, int64_t *revision,
					   StoreKV *current, StoreError *err) __attribute__((warn_unused_result));

/* store_delete_cas: delete only if mod_revision equals expected (a txn); STORE_ERR_COMPARE_FAILED otherwise. */
bool store_delete_cas(Store *store, const char *key, int64_t expected_mod_revision, StoreError *err)
	__attribute__((warn_unused_result));

/* Leases. store_lease_keepalive: *ttl = remaining TTL; STORE_ERR_LEASE_NOT_FOUND when the lease is gone. */
bool store_lease_grant(Store *store, int64_t ttl_seconds, int64_t *lease_id, int64_t *granted_ttl, StoreError *err)
	__attribute__((warn_unused_result));
bool store_lease_keepalive(Store *store, int64_t lease_id, int64_t *ttl, StoreError *err)
	__attribute__((warn_unused_result));
bool store_lease_revoke(Store *store, int64_t lease_id, StoreError *err) __attribute__((warn_unused_result));

/*
 * Watch on a key prefix, from a revision (0 = from now). The stream asks etcd for progress notifications; a
 * stream silent for longer than silence_timeout_ms (0 = default 15000) is treated as dead and reconnected (to
 * the next endpoint when needed) from the last revision seen + 1, so no event is missed or repeated. When the
 * revision to resume from has been compacted, store_watch_next fails with STORE_ERR_COMPACTED: the caller
 * re-reads what it watches and creates a new watch from the revision of that read + 1.
 */
typedef enum StoreEventType
{
	STORE_EVENT_PUT = 0,
	STORE_EVENT_DELETE,
} StoreEventType;

typedef struct StoreEvent
{
	StoreEventType type;
	StoreKV		kv;				/* for deletes: key and mod_revision only */
} StoreEvent;

typedef struct StoreWatch StoreWatch;

bool store_watch_new(Store *store, const char *prefix, int64_t start_revision, int64_t silence_timeout_ms,
					 StoreWatch **out, StoreError *err) __attribute__((warn_unused_result));
void store_watch_free(StoreWatch *watch);

/*
 * store_watch_next: wait up to timeout_ms for events. On success *events (caller frees with
 * store_events_free) holds n >= 0 events in revision order (n == 0 when the wait ended with none).
 * Reconnects are internal; it fails only for what the caller must act on (COMPACTED, AUTH, INVALID) or when no
 * endpoint could be reached within timeout_ms (UNREACHABLE; calling again retries).
 */
bool store_watch_next(StoreWatch *watch, int timeout_ms, StoreEvent **events, size_t *n, StoreError *err)
	__attribute__((warn_unused_result));
void store_events_free(StoreEvent *events, size_t n);

/* store_watch_revision: the last revision the watch has delivered or been told of by progress notifications. */
int64_t store_watch_revision(const StoreWatch *watch);

/* store_prefix_end: the range_end that selects every key starting with prefix (last byte + 1). Caller frees. */
char *store_prefix_end(const char *prefix, size_t len, size_t *out_len);

#endif
