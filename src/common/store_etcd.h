/*
 * src/common/store_etcd.h
 *    The etcd v3 client of every bulwark program, over etcd's HTTP/JSON gateway (/v3/...) with libcurl.
 *
 * Unary calls (get, list, put, delete, txn, leases) are synchronous with a per-request deadline and move to the
 * next endpoint when one is down. A watch (store_watch.h) is a streaming request on its own curl handle, resumed
 * from the last revision seen after a reconnect. Every failure is reported once through StoreError (kind + message); the
 * client does not log errors itself except at debug level, so callers decide how loud to be.
 */
#ifndef BULWARK_STORE_ETCD_H
#define BULWARK_STORE_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_types.h"

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
 * A failed guard is STORE_ERR_GUARD_LOST, with a message naming the guard key.
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

#endif
