/*
 * src/ctl/cli_history.c
 *    bulwarkctl history: the leader sentinel's decisions from <prefix>/<cluster>/history/<n>, oldest first,
 *    with their reasons; the decisions of one failover share an event id, and the text output shows each
 *    step's time since the first step of its event (detected +0 ms, elected, proxies routed), the failover
 *    timeline in milliseconds.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "duration.h"
#include "exitcode.h"
#include "timestamp.h"

typedef struct HistoryEntry
{
	json_t	   *doc;			/* the stored object, with "n" added */
	int64_t		time_ms;
	const char *event_id;		/* borrowed from doc */
} HistoryEntry;

/* ctl_history_since: --since as a duration back from now ("10m") or an RFC 3339 time. */
static bool
ctl_history_since(const char *arg, int64_t *since_ms)
{
	int64_t		ms;

	if (duration_parse(arg, &ms, NULL, 0))
	{
		*since_ms = timestamp_now_ms() - ms;
		return true;
	}
	return timestamp_parse(arg, since_ms);
}

static int
ctl_history_run(Ctl *ctl, int argc, char **argv)
{
	bool		as_json = false;
	const char *since = "";
	OptDef		table[] = {
		{"json", 0, OPT_TYPE_BOOL, &as_json, NULL, "print the entries as a JSON array"},
		{"since", 0, OPT_TYPE_STRING, &since, "WHEN", "only entries after WHEN: a duration back from now (\"10m\") or an RFC 3339 time"},
		OPT_END,
	};
	Store	   *store;
	char		prefix[512];
	StoreKVList list;
	StoreError	serr;
	int64_t		since_ms = INT64_MIN;
	HistoryEntry *entries;
	size_t		n = 0;
	int			rc;

	if (!ctl_parse(ctl, &ctl_cmd_history, argc, argv, table, NULL, 0, NULL, &rc))
		return rc;
	if (since[0] && !ctl_history_since(since, &since_ms))
	{
		ctl_error("history: --since: \"%s\" is neither a duration like \"10m\" nor a time like "
				  "\"2026-11-28T15:00:00Z\"", since);
		return EXIT_CODE_BAD_ARGS;
	}
	if ((store = ctl_store(ctl)) == NULL)
		return EXIT_CODE_BAD_ARGS;
	store_options_key(&ctl->store_opts, "history/", prefix, sizeof(prefix));
	if (!store_list(store, prefix, &list, &serr))
		return ctl_fail_store("could not read the history", &serr);
	entries = calloc(list.n ? list.n : 1, sizeof(HistoryEntry));
	if (entries == NULL)
	{
		store_kv_list_finish(&list);
		return EXIT_CODE_INTERNAL;
	}
	for (size_t i = 0; i < list.n; i++)
	{
		json_t	   *doc = json_loadb(list.kvs[i].value, list.kvs[i].value_len, 0, NULL);
		json_t	   *t = doc ? json_object_get(doc, "time") : NULL;
		json_t	   *id = doc ? json_object_get(doc, "eventId") : NULL;
		int64_t		ms = 0;

		/* an entry that does not decode is shown, not dropped: this is what operators read after an incident */
		if (doc == NULL || !json_is_object(doc))
		{
			json_decref(doc);
			doc = json_pack("{s:s, s:s}", "kind", "invalid", "reason", "this history entry is not a JSON object");
		}
		if (t == NULL || !json_is_string(t) || !timestamp_parse(json_string_value(t), &ms))
			ms = 0;
		if (ms < since_ms)
		{
			json_decref(doc);
			continue;
		}
		json_object_set_new(doc, "n", json_integer(strtoll(list.kvs[i].key + strlen(prefix), NULL, 10)));
		entries[n].doc = doc;
		entries[n].time_ms = ms;
		entries[n].event_id = id && json_is_string(id) ? json_string_value(id) : "";
		n++;
	}
	store_kv_list_finish(&list);

	if (as_json)
	{
		json_t	   *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append(arr, entries[i].doc);
		ctl_print_json(arr, true);
		json_decref(arr);
	}
	else
	{
		printf("%-24s %-8s %8s  %-24s %s\n", "TIME", "EVENT", "+MS", "KIND", "REASON");
		for (size_t i = 0; i < n; i++)
		{
			const char *kind = json_string_value(json_object_get(entries[i].doc, "kind"));
			const char *reason = json_string_value(json_object_get(entries[i].doc, "reason"));
			const char *time = json_string_value(json_object_get(entries[i].doc, "time"));
			int64_t		first = entries[i].time_ms;

			/* the offset from the first entry of the same event: a failover's timeline */
			for (size_t j = 0; j < i; j++)
				if (entries[i].event_id[0] && strcmp(entries[j].event_id, entries[i].event_id) == 0)
				{
					first = entries[j].time_ms;
					break;
				}
			printf("%-24s %-8s %8lld  %-24s %s\n", time ? time : "?", entries[i].event_id,
				   (long long) (entries[i].time_ms - first), kind ? kind : "?", reason ? reason : "");
		}
	}
	for (size_t i = 0; i < n; i++)
		json_decref(entries[i].doc);
	free(entries);
	return EXIT_CODE_OK;
}

const CtlCommand ctl_cmd_history = {
	"history", "history [--json] [--since WHEN]",
	"show the sentinel's decisions (elections, failovers, ...) with their reasons and timeline",
	ctl_history_run,
};
