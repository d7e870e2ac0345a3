/*
 * src/sentinel/history.c
 *    The decision log operators read with `bulwarkctl history`: one key per decision at
 *    <prefix>/<cluster>/history/<n>, n zero-padded to 20 digits so keys sort in order, each created only if
 *    absent so that two sentinels (an old leader finishing a write, the new one starting) never overwrite each
 *    other's entries. The value is JSON {time, eventId, kind, reason, uids}.
 *
 * Event ids: the decisions of one failover (master failed, elected, proxies routed) share one id, so the
 * timeline of a failover reads as one story; the steps of a switchover carry the id bulwarkctl gave it (in the
 * planner's events), and the routing after its election continues it; every other decision gets its own id.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "sentinel/sentinel.h"
#include "timestamp.h"

/* The first free n: one past the highest existing key (listed once, then counted locally). */
static bool
history_find_next(Sentinel *s)
{
	StoreKVList list;
	StoreError	err = {0};
	size_t		plen = strlen(s->key_history);

	memset(&list, 0, sizeof(list));
	if (!store_list(s->store, s->key_history, &list, &err))
	{
		log_warn("could not list the history: %s prefix=%s", err.message, s->key_history);
		return false;
	}
	s->history_next = 1;
	for (size_t i = 0; i < list.n; i++)
	{
		char	   *end = NULL;
		long long	n = strtoll(list.kvs[i].key + plen, &end, 10);

		if (end != NULL && *end == '\0' && n >= s->history_next)
			s->history_next = n + 1;
	}
	store_kv_list_finish(&list);
	return true;
}

static const char *
history_event_id(Sentinel *s, PlannerEventKind kind, char *own, size_t size)
{
	bool		opens = kind == PLANNER_EVENT_MASTER_FAILED || kind == PLANNER_EVENT_INIT_STARTED;
	bool		continues = kind == PLANNER_EVENT_MASTER_ELECTED || kind == PLANNER_EVENT_PROXIES_ROUTED ||
		kind == PLANNER_EVENT_INIT_DONE || kind == PLANNER_EVENT_INIT_FAILED;

	if (opens || (continues && s->open_event_id[0] == '\0'))
	{
		if (!uid_generate(s->open_event_id, sizeof(s->open_event_id)))
			s->open_event_id[0] = '\0';
	}
	if (opens || continues)
	{
		snprintf(own, size, "%s", s->open_event_id);
		if (kind == PLANNER_EVENT_PROXIES_ROUTED || kind == PLANNER_EVENT_INIT_DONE)
			s->open_event_id[0] = '\0';
		return own;
	}
	if (!uid_generate(own, size))
		own[0] = '\0';
	return own;
}

static char *
history_encode(const PlannerEvent *ev, const char *event_id, int64_t wall_ms)
{
	char		ts[TIMESTAMP_FORMAT_SIZE];
	json_t	   *o = json_object();
	json_t	   *uids = json_array();
	char	   *text;

	if (o == NULL || uids == NULL)
	{
		json_decref(o);
		json_decref(uids);
		return NULL;
	}
	for (size_t i = 0; i < ev->uids.count; i++)
		json_array_append_new(uids, json_string(ev->uids.items[i]));
	json_object_set_new(o, "time", json_string(timestamp_format(wall_ms, ts, sizeof(ts))));
	json_object_set_new(o, "eventId", json_string(event_id));
	json_object_set_new(o, "kind", json_string(planner_event_kind_to_string(ev->kind)));
	json_object_set_new(o, "reason", json_string(ev->reason));
	json_object_set_new(o, "uids", uids);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

void
history_append(Sentinel *s, const PlannerEvent *events, size_t n, int64_t wall_ms)
{
	for (size_t i = 0; i < n; i++)
	{
		char		id[UID_SIZE];
		char	   *text;

		if (events[i].event_id[0] != '\0')
		{
			/* a switchover's step: its own id; the routing that follows its election continues it */
			snprintf(id, sizeof(id), "%s", events[i].event_id);
			if (events[i].kind == PLANNER_EVENT_MASTER_ELECTED)
				snprintf(s->open_event_id, sizeof(s->open_event_id), "%s", id);
		}
		else
			history_event_id(s, events[i].kind, id, sizeof(id));
		/* what an operator must look at: maintenance leaving failures alone, aborted switchovers */
		if (events[i].kind == PLANNER_EVENT_PAUSED || events[i].kind == PLANNER_EVENT_SWITCHOVER_ABORTED ||
			events[i].kind == PLANNER_EVENT_NO_ELIGIBLE_MASTER)
			log_warn("decision: %s kind=%s event=%s", events[i].reason, planner_event_kind_to_string(events[i].kind),
					 id);
		else
			log_info("decision: %s kind=%s event=%s", events[i].reason,
					 planner_event_kind_to_string(events[i].kind), id);
		if (s->history_next == 0 && !history_find_next(s))
			continue;
		text = history_encode(&events[i], id, wall_ms);
		if (text == NULL)
			continue;
		/* A few tries: another sentinel may have taken the same n. */
		for (int attempt = 0; attempt < 5; attempt++)
		{
			char		key[600];
			StoreError	err = {0};

			snprintf(key, sizeof(key), "%s%020" PRId64, s->key_history, s->history_next);
			if (store_create(s->store, key, text, strlen(text), 0, NULL, NULL, &err))
			{
				s->history_next++;
				break;
			}
			if (err.kind != STORE_ERR_COMPARE_FAILED)
			{
				log_warn("could not append to the history: %s key=%s", err.message, key);
				break;
			}
			s->history_next = 0;
			if (!history_find_next(s))
				break;
		}
		free(text);
	}
}
