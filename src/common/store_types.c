/*
 * src/common/store_types.c
 *    The store's values: error kinds and messages, keys, lists, events; see store_types.h.
 */
#include "store_types.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
store_error_kind_to_string(StoreErrorKind kind)
{
	switch (kind)
	{
		case STORE_ERR_NONE:
			return "none";
		case STORE_ERR_UNREACHABLE:
			return "unreachable";
		case STORE_ERR_TIMEOUT:
			return "timeout";
		case STORE_ERR_COMPARE_FAILED:
			return "compare-failed";
		case STORE_ERR_GUARD_LOST:
			return "guard-lost";
		case STORE_ERR_COMPACTED:
			return "compacted";
		case STORE_ERR_TOO_LARGE:
			return "too-large";
		case STORE_ERR_LEASE_NOT_FOUND:
			return "lease-not-found";
		case STORE_ERR_AUTH:
			return "auth";
		case STORE_ERR_PROTOCOL:
			return "protocol";
		case STORE_ERR_SERVER:
			return "server";
		case STORE_ERR_INVALID:
			return "invalid";
	}
	return "unknown";
}

void
store_error_set(StoreError *err, StoreErrorKind kind, const char *fmt, ...)
{
	va_list		ap;

	if (err == NULL)
		return;
	err->kind = kind;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void
store_kv_finish(StoreKV *kv)
{
	if (kv == NULL)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void
store_kv_list_finish(StoreKVList *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++)
		store_kv_finish(&list->kvs[i]);
	free(list->kvs);
	list->kvs = NULL;
	list->n = 0;
}

void
store_events_free(StoreEvent *events, size_t n)
{
	if (events == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_kv_finish(&events[i].kv);
	free(events);
}

char *
store_prefix_end(const char *prefix, size_t len, size_t *out_len)
{
	char	   *end = malloc(len + 2);

	if (end == NULL)
		return NULL;
	if (len > 0)
		memcpy(end, prefix, len);
	/* drop trailing 0xff bytes and increment the last other byte; nothing left means "to the end": "\0" */
	while (len > 0 && (unsigned char) end[len - 1] == 0xff)
		len--;
	if (len == 0)
	{
		end[0] = '\0';
		end[1] = '\0';
		*out_len = 1;
		return end;
	}
	end[len - 1] = (char) ((unsigned char) end[len - 1] + 1);
	end[len] = '\0';
	*out_len = len;
	return end;
}

/* ---------------------------------------------------------------------------------------------------------
 * Configuration
 */

