/*
 * src/common/etcd_proto.h
 *    The wire format of etcd's v3 JSON gateway, without any I/O: builders of request bodies and parsers of
 *    response bodies, error bodies and the watch stream. store_etcd.c moves the bytes; this module turns them
 *    into StoreKV, StoreEvent and StoreError values.
 *
 * The gateway's quirks are all handled here: keys and values are base64, int64 fields come as JSON strings,
 * proto3 zero values are omitted (no "kvs" when nothing matched, no "succeeded" when a txn compare failed, no
 * "type" on PUT events, no "TTL" for a lease that is gone), and errors come either as an HTTP error with
 * {"error"|"message", "code"} or, inside a stream, as {"error":{"grpc_code", "message", ...}}. Every parser
 * takes untrusted bytes: it never crashes, never reads beyond len, and fails with STORE_ERR_PROTOCOL and a
 * message saying what was wrong.
 */
#ifndef BULWARK_ETCD_PROTO_H
#define BULWARK_ETCD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store_types.h"

/* The largest response body or watch message accepted; a larger one fails with STORE_ERR_TOO_LARGE. */
#define ETCD_PROTO_MAX_MESSAGE (8 * 1024 * 1024)

/*
 * Request builders. Each returns a malloc'ed, NUL-terminated compact JSON body (caller frees), or NULL when
 * memory runs out or a string cannot be encoded (the user name or password is not UTF-8). Keys, range ends and
 * values are byte strings with explicit lengths; a range end of length 0 is left out (a single key).
 */
char *etcd_proto_build_range(const char *key, size_t key_len, const char *range_end, size_t range_end_len);
char *etcd_proto_build_put(const char *key, size_t key_len, const char *value, size_t value_len, int64_t lease);
char *etcd_proto_build_delete_range(const char *key, size_t key_len, const char *range_end, size_t range_end_len);

typedef enum EtcdCompareTarget
{
	ETCD_COMPARE_CREATE = 0,	/* compare the key's create_revision (0 = the key does not exist) */
	ETCD_COMPARE_MOD,			/* compare the key's mod_revision */
	ETCD_COMPARE_LEASE,			/* compare the key's lease (0 = no lease, or no key) */
} EtcdCompareTarget;

const char *etcd_compare_target_to_string(EtcdCompareTarget target);

/*
 * etcd_proto_build_txn_put: a txn that puts key = value (with lease when not 0) if the key's target revision
 * equals revision, and otherwise reads the key (so the caller learns what is there now).
 */
char *etcd_proto_build_txn_put(const char *key, size_t key_len, EtcdCompareTarget target, int64_t revision,
							   const char *value, size_t value_len, int64_t lease);

/*
 * etcd_proto_build_txn_put_guarded: as etcd_proto_build_txn_put with a second compare, "guard_key is bound to
 * guard_lease" (a leader key held on the writer's lease): the put happens only while the writer still holds it.
 * On failure it reads the key, then the guard key.
 */
char *etcd_proto_build_txn_put_guarded(const char *key, size_t key_len, EtcdCompareTarget target, int64_t revision,
									   const char *value, size_t value_len, int64_t lease, const char *guard_key,
									   size_t guard_key_len, int64_t guard_lease);

/* etcd_proto_build_txn_delete: a txn that deletes key if its mod_revision equals mod_revision. */
char *etcd_proto_build_txn_delete(const char *key, size_t key_len, int64_t mod_revision);

char *etcd_proto_build_lease_grant(int64_t ttl_seconds);
/* etcd_proto_build_lease_id: {"ID":"<id>"}, the body of lease keepalive and lease revoke */
char *etcd_proto_build_lease_id(int64_t lease_id);
char *etcd_proto_build_authenticate(const char *user, const char *password);

/* etcd_proto_build_watch_create: a create_request for [key, range_end) from start_revision (0 = now), with progress notifications. */
char *etcd_proto_build_watch_create(const char *key, size_t key_len, const char *range_end, size_t range_end_len,
									int64_t start_revision);

/*
 * Response parsers, for the body of an HTTP 2xx answer. They fill their out-params only on success (lists and
 * KVs they fill are the caller's to finish); on failure err says why, usually STORE_ERR_PROTOCOL.
 */

/* etcd_proto_parse_range: the kvs (none when "kvs" is omitted) and the header revision. */
bool etcd_proto_parse_range(const char *body, size_t len, StoreKVList *out, StoreError *err)
	__attribute__((warn_unused_result));

/* etcd_proto_parse_put: the header revision, which is the revision of the write. */
bool etcd_proto_parse_put(const char *body, size_t len, int64_t *revision, StoreError *err)
	__attribute__((warn_unused_result));

/* etcd_proto_parse_delete_range: the number of keys deleted (0 when omitted) and the header revision. */
bool etcd_proto_parse_delete_range(const char *body, size_t len, int64_t *deleted, int64_t *revision,
								   StoreError *err) __attribute__((warn_unused_result));

typedef struct EtcdTxnResult
{
	bool		succeeded;		/* false when "succeeded" is omitted: the compare failed */
	int64_t		revision;		/* header revision: of the write when it succeeded */
	bool		has_range;		/* a response_range was among the responses */
	StoreKVList range;			/* its kvs, when has_range; finish with store_kv_list_finish */
	bool		has_range2;		/* a second response_range */
	StoreKVList range2;			/* its kvs, when has_range2; finish with store_kv_list_finish */
} EtcdTxnResult;

/* etcd_proto_parse_txn: the outcome of a txn and the kvs of its first two response_ranges, if any. */
bool etcd_proto_parse_txn(const char *body, size_t len, EtcdTxnResult *out, StoreError *err)
	__attribute__((warn_unused_result));

/* etcd_txn_result_finish: frees what etcd_proto_parse_txn filled in. */
void etcd_txn_result_finish(EtcdTxnResult *txn);

/* etcd_proto_parse_lease_grant: the granted lease ID and TTL; a non-empty "error" field fails with STORE_ERR_SERVER. */
bool etcd_proto_parse_lease_grant(const char *body, size_t len, int64_t *lease_id, int64_t *ttl, StoreError *err)
	__attribute__((warn_unused_result));

/*
 * etcd_proto_parse_lease_keepalive: the remaining TTL from {"result":{...}}. A result without TTL (or TTL <= 0)
 * means the lease is gone: false with STORE_ERR_LEASE_NOT_FOUND. An {"error":{...}} message is mapped like an
 * error body. A result for another lease ID than lease_id is a protocol error.
 */
bool etcd_proto_parse_lease_keepalive(const char *body, size_t len, int64_t lease_id, int64_t *ttl, StoreError *err)
	__attribute__((warn_unused_result));

/* etcd_proto_parse_header: only the header revision (lease revoke and other answers with nothing else to read). */
bool etcd_proto_parse_header(const char *body, size_t len, int64_t *revision, StoreError *err)
	__attribute__((warn_unused_result));

/* etcd_proto_parse_authenticate: the token; caller frees. */
bool etcd_proto_parse_authenticate(const char *body, size_t len, char **token, StoreError *err)
	__attribute__((warn_unused_result));

/* What a client should do about an error answer. */
typedef enum EtcdErrorAction
{
	ETCD_ERROR_ACTION_FAIL = 0,		/* report it: another member would answer the same */
	ETCD_ERROR_ACTION_NEXT_ENDPOINT,	/* this member cannot serve now (no leader, timed out, unavailable) */
	ETCD_ERROR_ACTION_REAUTH,		/* the auth token is invalid or stale: authenticate again, then retry */
} EtcdErrorAction;

const char *etcd_error_action_to_string(EtcdErrorAction action);

/*
 * etcd_proto_classify_error: map a gRPC code (-1 when unknown), an HTTP status (0 when none) and etcd's message
 * to a StoreErrorKind and an action. "request is too large" -> TOO_LARGE, "has been compacted" -> COMPACTED,
 * "lease not found" -> LEASE_NOT_FOUND, Unauthenticated / PermissionDenied / auth messages -> AUTH,
 * "request timed out" or "context deadline exceeded" (what the 3.4 gateway answers after 7 s without
 * quorum, HTTP 503 or 500) -> TIMEOUT, other Unavailable (code 14, HTTP 503) -> UNREACHABLE, InvalidArgument -> INVALID,
 * anything else SERVER.
 */
void etcd_proto_classify_error(int64_t grpc_code, long http_status, const char *message, StoreErrorKind *kind,
							   EtcdErrorAction *action);

/*
 * etcd_proto_parse_error: the error of a non-2xx answer (or a 2xx answer carrying {"error":...}). Always fills
 * err and *action: a body that is not etcd's JSON is described by its HTTP status and its first printable bytes.
 * err->message is etcd's message followed by " (http S, code C)".
 */
void etcd_proto_parse_error(long http_status, const char *body, size_t len, StoreError *err, EtcdErrorAction *action);

/*
 * The watch stream: newline-delimited JSON messages, {"result":{...}} or {"error":{...}}, arriving in slices that
 * do not align with messages. EtcdWatchStream keeps the partial message between slices, up to max_message bytes.
 */
typedef struct EtcdWatchMessage
{
	int64_t		revision;		/* header revision */
	int64_t		watch_id;
	bool		created;
	bool		canceled;
	int64_t		compact_revision;	/* with canceled: the start revision was compacted */
	char		cancel_reason[256];
	StoreEvent *events;			/* n_events events, in the order etcd sent them */
	size_t		n_events;
	StoreError	error;			/* kind != STORE_ERR_NONE for an {"error":{...}} message */
	EtcdErrorAction error_action;
} EtcdWatchMessage;

/* etcd_watch_message_finish: free the events; the message is left empty. */
void etcd_watch_message_finish(EtcdWatchMessage *msg);

/* etcd_watch_message_is_progress: a result that is only a header: a progress notification. */
bool etcd_watch_message_is_progress(const EtcdWatchMessage *msg);

/* etcd_proto_parse_watch_message: parse one message (one line without its newline). */
bool etcd_proto_parse_watch_message(const char *text, size_t len, EtcdWatchMessage *msg, StoreError *err)
	__attribute__((warn_unused_result));

typedef struct EtcdWatchStream
{
	Buf			line;			/* the message received so far, without its newline */
	bool		discarding;		/* after an oversized message: drop bytes until its newline */
} EtcdWatchStream;

void etcd_watch_stream_init(EtcdWatchStream *stream, size_t max_message);
void etcd_watch_stream_finish(EtcdWatchStream *stream);
/* etcd_watch_stream_reset: forget any partial message (after a reconnect). */
void etcd_watch_stream_reset(EtcdWatchStream *stream);

/*
 * etcd_watch_stream_feed: consume the bytes of data up to and including the end of the next message (at most len;
 * *used says how many). When that completes a message, it is parsed into *msg (the caller finishes it) and
 * *have is true. Empty lines are skipped. False, with *used still set, when the message is larger than the
 * maximum (STORE_ERR_TOO_LARGE; the rest of it is then skipped) or does not parse (STORE_ERR_PROTOCOL): the
 * caller may go on feeding the following bytes. Call it in a loop until the slice is used up.
 */
bool etcd_watch_stream_feed(EtcdWatchStream *stream, const char *data, size_t len, size_t *used,
							EtcdWatchMessage *msg, bool *have, StoreError *err) __attribute__((warn_unused_result));

#endif
