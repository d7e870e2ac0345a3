/*
 * src/proxy/balance.c
 *    The shared read-only connection counts: a small array searched linearly (as many entries as backends
 *    with open read-only connections, a handful in practice), under one mutex.
 */
#include "balance.h"

#include <stdlib.h>
#include <string.h>

void
balance_init(Balance *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->mutex, NULL);
}

void
balance_finish(Balance *b)
{
	pthread_mutex_destroy(&b->mutex);
	free(b->entries);
	b->entries = NULL;
	b->n = b->cap = 0;
}

static BalanceEntry *
balance_find_locked(Balance *b, const RouteTarget *t)
{
	for (size_t i = 0; i < b->n; i++)
		if (route_target_equal(&b->entries[i].target, t))
			return &b->entries[i];
	return NULL;
}

const RouteTarget *
balance_acquire(Balance *b, const RouteTarget *targets, size_t n, bool *counted)
{
	size_t		best = 0;
	uint64_t	best_count = UINT64_MAX;
	BalanceEntry *e;

	pthread_mutex_lock(&b->mutex);
	for (size_t i = 0; i < n; i++)
	{
		BalanceEntry *found = balance_find_locked(b, &targets[i]);
		uint64_t	count = found ? found->count : 0;

		if (count < best_count)
		{
			best = i;
			best_count = count;
		}
	}
	e = balance_find_locked(b, &targets[best]);
	if (e == NULL && b->n == b->cap)
	{
		size_t		cap = b->cap ? 2 * b->cap : 8;
		BalanceEntry *entries = realloc(b->entries, cap * sizeof(*entries));

		if (entries != NULL)
		{
			b->entries = entries;
			b->cap = cap;
		}
	}
	if (e == NULL && b->n < b->cap)
	{
		e = &b->entries[b->n++];
		e->target = targets[best];
		e->count = 0;
	}
	if (e != NULL)
		e->count++;
	*counted = e != NULL;
	pthread_mutex_unlock(&b->mutex);
	return &targets[best];
}

void
balance_release(Balance *b, const RouteTarget *t)
{
	BalanceEntry *e;

	pthread_mutex_lock(&b->mutex);
	e = balance_find_locked(b, t);
	if (e != NULL && e->count > 0 && --e->count == 0)
		*e = b->entries[--b->n];
	pthread_mutex_unlock(&b->mutex);
}

uint64_t
balance_count(Balance *b, const RouteTarget *t)
{
	const BalanceEntry *e;
	uint64_t	count;

	pthread_mutex_lock(&b->mutex);
	e = balance_find_locked(b, t);
	count = e ? e->count : 0;
	pthread_mutex_unlock(&b->mutex);
	return count;
}
