/*
 * src/common/store_watch.h
 *    A watch on a key prefix of the etcd store (store_watch.c): a streaming request on a curl handle of its own,
 *    resumed from the last revision seen after a reconnect, so no event is missed or repeated.
 */
#ifndef BULWARK_STORE_WATCH_H
#define BULWARK_STORE_WATCH_H

#include "store_etcd.h"

/*
 * Watch on a key prefix, from a revision (0 = from now). The stream asks etcd for progress notifications; a
 * stream silent for longer than silence_timeout_ms (0 = default 15000) is treated as dead and reconnected (to
 * the next endpoint when needed) from the last revision seen + 1, so no event is missed or repeated. When the
 * revision to resume from has been compacted, store_watch_next fails with STORE_ERR_COMPACTED: the caller
 * re-reads what it watches and creates a new watch from the revision of that read + 1.
 */
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

/* store_watch_revision: the last revision the watch has delivered or been told of by progress notifications. */
int64_t store_watch_revision(const StoreWatch *watch);

#endif
