/*
 * src/proxy/balance.h
 *    Least-connections balancing of the read-only port across every forwarding thread: the number of open
 *    read-only connections per backend, counted when a connection is routed to one and released when it
 *    closes. Shared by the workers so that the spread is the process's, not each worker's (the kernel's
 *    SO_REUSEPORT hash hands the workers uneven shares of a few clients).
 *
 * Why a mutex and not an atomic per backend: it is taken once per read-only connection (never per message),
 * and the set of backends follows the route table, which a fixed array of atomics indexed by position could
 * not track while workers apply a new table one after the other.
 */
#ifndef BULWARK_BALANCE_H
#define BULWARK_BALANCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "routing.h"

typedef struct BalanceEntry
{
	RouteTarget target;			/* the backend (route_target_equal: same DB at the same address) */
	uint64_t	count;			/* open connections counted for it; entries at 0 are removed */
} BalanceEntry;

typedef struct Balance
{
	pthread_mutex_t mutex;
	BalanceEntry *entries;
	size_t		n;
	size_t		cap;
} Balance;

/* balance_init/balance_finish: caller-owned storage. */
void balance_init(Balance *b);
void balance_finish(Balance *b);

/*
 * balance_acquire: of targets[0..n) (n >= 1), the one with the fewest open connections (the first of equals),
 * counted once more; the caller calls balance_release with it when that connection closes. *counted is false
 * when the count could not be recorded (out of memory): the choice stands and must not be released.
 */
const RouteTarget *balance_acquire(Balance *b, const RouteTarget *targets, size_t n, bool *counted);

/* balance_release: one connection to t closed. */
void balance_release(Balance *b, const RouteTarget *t);

/* balance_count: the open connections counted for t. */
uint64_t balance_count(Balance *b, const RouteTarget *t);

#endif
