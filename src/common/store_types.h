/*
 * src/common/store_types.h
 *    The values the etcd client hands out and the wire format produces: errors (kind and message), keys with
 *    their revisions, lists, watch events. Kept apart from the client (store_etcd.h) so that the wire format
 *    (etcd_proto.h) depends on these types only, not on the client built on top of it.
 */
#ifndef BULWARK_STORE_TYPES_H
#define BULWARK_STORE_TYPES_H

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

/* Watch events (store_watch.h). */
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

/* store_events_free: frees n events and the array. */
void store_events_free(StoreEvent *events, size_t n);

/* store_prefix_end: the range_end that selects every key starting with prefix (last byte + 1). Caller frees. */
char *store_prefix_end(const char *prefix, size_t len, size_t *out_len);

#endif
