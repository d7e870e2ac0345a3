/*
 * tests/tools/store_tool.c
 *    A small command line over the etcd client (store_etcd.h), for the integration tests and for poking at a
 *    store by hand. One command per run; results on stdout, one line each; errors on stderr as
 *    "store_tool: <kind>: <message>" with exit code 4 (store), 5 (compare failed), 6 (key not found), 2 (usage).
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_watch.h"
#include "exitcode.h"
#include "log.h"
#include "store_etcd.h"

/* what we read of a password file */
#define TOOL_MAX_PASSWORD 1024

/* the largest VALUE read from stdin ("-"): beyond etcd's limit, so that its refusal can be tested */
#define TOOL_MAX_STDIN_VALUE (16 * 1024 * 1024)

typedef struct ToolOptions
{
	StoreConfig config;
	int64_t		lease;			/* put --lease */
	int64_t		from;			/* watch --from */
	int64_t		count;			/* watch --count, 0 = no limit */
	int64_t		max_seconds;	/* watch --max-seconds */
	int64_t		silence_ms;		/* watch --silence-ms */
	char		password[TOOL_MAX_PASSWORD];
} ToolOptions;

static void tool_usage(FILE *out);
static int	tool_fail(const StoreError *err);
static bool tool_parse_int64(const char *text, const char *what, int64_t *out);

static void
tool_usage(FILE *out)
{
	fprintf(out,
			"usage: store_tool --endpoints URLS [--timeout-ms N] [--connect-timeout-ms N] [--debug]\n"
			"                  [--user NAME --password-file FILE] [--ca-file F] [--cert-file F] [--key-file F]\n"
			"                  COMMAND ARGS\n"
			"commands:\n"
			"  get KEY                          prints: KEY VALUE MOD_REVISION\n"
			"  put KEY VALUE [--lease ID]       prints: REVISION (VALUE \"-\": read it from stdin)\n"
			"  del KEY                          prints: DELETED\n"
			"  list PREFIX                      prints: KEY VALUE MOD_REVISION, one line per key\n"
			"  create KEY VALUE [--lease ID]    prints: REVISION (exit 5 when the key exists)\n"
			"  cas KEY MOD_REVISION VALUE       prints: REVISION (exit 5 when the key changed)\n"
			"  cas-guarded KEY MOD_REVISION VALUE GUARD_KEY LEASE_ID\n"
			"                                   as cas, and only while GUARD_KEY is bound to LEASE_ID\n"
			"  lease-grant TTL                  prints: LEASE_ID\n"
			"  lease-keepalive ID               prints: TTL\n"
			"  lease-revoke ID\n"
			"  watch PREFIX [--from REV] [--count N] [--max-seconds S] [--silence-ms MS]\n"
			"                                   prints: PUT KEY VALUE MOD_REVISION | DELETE KEY MOD_REVISION\n");
}

static int
tool_fail(const StoreError *err)
{
	fprintf(stderr, "store_tool: %s: %s\n", store_error_kind_to_string(err->kind), err->message);
	return err->kind == STORE_ERR_COMPARE_FAILED || err->kind == STORE_ERR_GUARD_LOST ? EXIT_CODE_CONFLICT
		: EXIT_CODE_STORE;
}

static bool
tool_parse_int64(const char *text, const char *what, int64_t *out)
{
	char	   *end = NULL;
	long long	v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
	{
		fprintf(stderr, "store_tool: invalid %s \"%s\": not an integer\n", what, text);
		return false;
	}
	*out = (int64_t) v;
	return true;
}

static bool
tool_read_password(const char *path, ToolOptions *opts)
{
	FILE	   *f = fopen(path, "r");
	size_t		n;

	if (f == NULL)
	{
		fprintf(stderr, "store_tool: could not open password file \"%s\": %s\n", path, strerror(errno));
		return false;
	}
	n = fread(opts->password, 1, sizeof(opts->password) - 1, f);
	fclose(f);
	opts->password[n] = '\0';
	while (n > 0 && (opts->password[n - 1] == '\n' || opts->password[n - 1] == '\r'))
		opts->password[--n] = '\0';
	opts->config.password = opts->password;
	return true;
}

/* tool_value: VALUE itself, or all of stdin when VALUE is "-"; caller frees *owned (NULL when not read) */
static bool
tool_value(const char *arg, const char **value, size_t *len, char **owned)
{
	size_t		cap = 65536;
	size_t		n = 0;
	char	   *data;

	*owned = NULL;
	if (strcmp(arg, "-") != 0)
	{
		*value = arg;
		*len = strlen(arg);
		return true;
	}
	data = malloc(cap);
	if (data == NULL)
		return false;
	for (;;)
	{
		size_t		got;

		if (n == cap)
		{
			char	   *p;

			if (cap >= TOOL_MAX_STDIN_VALUE)
			{
				fprintf(stderr, "store_tool: value on stdin exceeds %d bytes\n", TOOL_MAX_STDIN_VALUE);
				free(data);
				return false;
			}
			p = realloc(data, cap * 2);
			if (p == NULL)
			{
				free(data);
				return false;
			}
			data = p;
			cap *= 2;
		}
		got = fread(data + n, 1, cap - n, stdin);
		if (got == 0)
			break;
		n += got;
	}
	*owned = data;
	*value = data;
	*len = n;
	return true;
}

static int64_t
tool_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
tool_print_kv(const StoreKV *kv)
{
	printf("%s %.*s %" PRId64 "\n", kv->key, (int) kv->value_len, kv->value, kv->mod_revision);
}

static int
tool_watch(Store *store, const char *prefix, const ToolOptions *opts)
{
	StoreWatch *watch;
	StoreError	err;
	StoreError	last = {0};
	int64_t		deadline = tool_now_ms() + opts->max_seconds * 1000;
	int64_t		seen = 0;

	if (!store_watch_new(store, prefix, opts->from, opts->silence_ms, &watch, &err))
		return tool_fail(&err);
	while (opts->count == 0 || seen < opts->count)
	{
		int64_t		left = deadline - tool_now_ms();
		StoreEvent *events;
		size_t		n;

		if (left <= 0)
			break;
		if (!store_watch_next(watch, left < 500 ? (int) left : 500, &events, &n, &err))
		{
			/* unreachable is transient for a watch: it retries on the next call */
			if (err.kind == STORE_ERR_UNREACHABLE)
			{
				if (strcmp(err.message, last.message) != 0)
					fprintf(stderr, "store_tool: retrying: %s\n", err.message);
				last = err;
				continue;
			}
			store_watch_free(watch);
			return tool_fail(&err);
		}
		last.message[0] = '\0';
		for (size_t i = 0; i < n; i++)
		{
			const StoreEvent *ev = &events[i];

			switch (ev->type)
			{
				case STORE_EVENT_PUT:
					printf("PUT %s %.*s %" PRId64 "\n", ev->kv.key, (int) ev->kv.value_len, ev->kv.value,
						   ev->kv.mod_revision);
					break;
				case STORE_EVENT_DELETE:
					printf("DELETE %s %" PRId64 "\n", ev->kv.key, ev->kv.mod_revision);
					break;
			}
			fflush(stdout);
			seen++;
		}
		store_events_free(events, n);
	}
	store_watch_free(watch);
	return EXIT_CODE_OK;
}

/* tool_run: run one command; the exit code */
static int
tool_run(Store *store, int argc, char **argv, const ToolOptions *opts)
{
	const char *cmd = argv[0];
	StoreError	err;
	int64_t		revision = 0;

#define NEED_ARGS(n) \
	do { \
		if (argc != (n) + 1) \
		{ \
			fprintf(stderr, "store_tool: %s takes %d argument%s\n", cmd, (n), (n) == 1 ? "" : "s"); \
			return EXIT_CODE_BAD_ARGS; \
		} \
	} while (0)

	if (strcmp(cmd, "get") == 0)
	{
		StoreKV		kv;
		bool		found;

		NEED_ARGS(1);
		if (!store_get(store, argv[1], &kv, &found, &revision, &err))
			return tool_fail(&err);
		if (!found)
		{
			fprintf(stderr, "store_tool: not-found: key \"%s\" does not exist (revision %" PRId64 ")\n", argv[1],
					revision);
			return EXIT_CODE_NOT_FOUND;
		}
		tool_print_kv(&kv);
		store_kv_finish(&kv);
	}
	else if (strcmp(cmd, "put") == 0)
	{
		const char *value;
		size_t		len;
		char	   *owned;
		bool		ok;

		NEED_ARGS(2);
		if (!tool_value(argv[2], &value, &len, &owned))
			return EXIT_CODE_BAD_ARGS;
		ok = store_put(store, argv[1], value, len, opts->lease, &revision, &err);
		free(owned);
		if (!ok)
			return tool_fail(&err);
		printf("%" PRId64 "\n", revision);
	}
	else if (strcmp(cmd, "del") == 0)
	{
		int64_t		deleted;

		NEED_ARGS(1);
		if (!store_delete(store, argv[1], &deleted, &err))
			return tool_fail(&err);
		printf("%" PRId64 "\n", deleted);
	}
	else if (strcmp(cmd, "list") == 0)
	{
		StoreKVList list;

		NEED_ARGS(1);
		if (!store_list(store, argv[1], &list, &err))
			return tool_fail(&err);
		for (size_t i = 0; i < list.n; i++)
			tool_print_kv(&list.kvs[i]);
		store_kv_list_finish(&list);
	}
	else if (strcmp(cmd, "create") == 0)
	{
		NEED_ARGS(2);
		if (!store_create(store, argv[1], argv[2], strlen(argv[2]), opts->lease, &revision, NULL, &err))
			return tool_fail(&err);
		printf("%" PRId64 "\n", revision);
	}
	else if (strcmp(cmd, "cas") == 0)
	{
		int64_t		expected;

		NEED_ARGS(3);
		if (!tool_parse_int64(argv[2], "mod revision", &expected))
			return EXIT_CODE_BAD_ARGS;
		if (!store_cas(store, argv[1], argv[3], strlen(argv[3]), expected, opts->lease, &revision, NULL, &err))
			return tool_fail(&err);
		printf("%" PRId64 "\n", revision);
	}
	else if (strcmp(cmd, "cas-guarded") == 0)
	{
		int64_t		expected;
		int64_t		guard_lease;

		NEED_ARGS(5);
		if (!tool_parse_int64(argv[2], "mod revision", &expected) ||
			!tool_parse_int64(argv[5], "lease ID", &guard_lease))
			return EXIT_CODE_BAD_ARGS;
		if (!store_cas_guarded(store, argv[1], argv[3], strlen(argv[3]), expected, argv[4], guard_lease, &revision,
							   NULL, &err))
			return tool_fail(&err);
		printf("%" PRId64 "\n", revision);
	}
	else if (strcmp(cmd, "lease-grant") == 0)
	{
		int64_t		ttl;
		int64_t		id;

		NEED_ARGS(1);
		if (!tool_parse_int64(argv[1], "TTL", &ttl))
			return EXIT_CODE_BAD_ARGS;
		if (!store_lease_grant(store, ttl, &id, NULL, &err))
			return tool_fail(&err);
		printf("%" PRId64 "\n", id);
	}
	else if (strcmp(cmd, "lease-keepalive") == 0)
	{
		int64_t		id;
		int64_t		ttl;

		NEED_ARGS(1);
		if (!tool_parse_int64(argv[1], "lease ID", &id))
			return EXIT_CODE_BAD_ARGS;
		if (!store_lease_keepalive(store, id, &ttl, &err))
			return tool_fail(&err);
		printf("%" PRId64 "\n", ttl);
	}
	else if (strcmp(cmd, "lease-revoke") == 0)
	{
		int64_t		id;

		NEED_ARGS(1);
		if (!tool_parse_int64(argv[1], "lease ID", &id))
			return EXIT_CODE_BAD_ARGS;
		if (!store_lease_revoke(store, id, &err))
			return tool_fail(&err);
	}
	else if (strcmp(cmd, "watch") == 0)
	{
		NEED_ARGS(1);
		return tool_watch(store, argv[1], opts);
	}
	else
	{
		fprintf(stderr, "store_tool: unknown command \"%s\"\n", cmd);
		tool_usage(stderr);
		return EXIT_CODE_BAD_ARGS;
	}
#undef NEED_ARGS
	return EXIT_CODE_OK;
}

int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"endpoints", required_argument, NULL, 'e'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"connect-timeout-ms", required_argument, NULL, 'c'},
		{"user", required_argument, NULL, 'u'},
		{"password-file", required_argument, NULL, 'p'},
		{"ca-file", required_argument, NULL, 'A'},
		{"cert-file", required_argument, NULL, 'C'},
		{"key-file", required_argument, NULL, 'K'},
		{"lease", required_argument, NULL, 'l'},
		{"from", required_argument, NULL, 'f'},
		{"count", required_argument, NULL, 'n'},
		{"max-seconds", required_argument, NULL, 's'},
		{"silence-ms", required_argument, NULL, 'S'},
		{"debug", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	ToolOptions opts;
	Store	   *store;
	StoreError	err;
	int			c;
	int			code;

	memset(&opts, 0, sizeof(opts));
	opts.max_seconds = 60;
	log_set_program(argv[0]);
	log_set_level(LOG_LEVEL_WARN);

	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'e':
				opts.config.endpoints = optarg;
				break;
			case 't':
				if (!tool_parse_int64(optarg, "--timeout-ms", &opts.config.request_timeout_ms))
					return EXIT_CODE_BAD_ARGS;
				break;
			case 'c':
				if (!tool_parse_int64(optarg, "--connect-timeout-ms", &opts.config.connect_timeout_ms))
					return EXIT_CODE_BAD_ARGS;
				break;
			case 'u':
				opts.config.user = optarg;
				break;
			case 'p':
				if (!tool_read_password(optarg, &opts))
					return EXIT_CODE_BAD_ARGS;
				break;
			case 'A':
				opts.config.ca_file = optarg;
				break;
			case 'C':
				opts.config.cert_file = optarg;
				break;
			case 'K':
				opts.config.key_file = optarg;
				break;
			case 'l':
				if (!tool_parse_int64(optarg, "--lease", &opts.lease))
					return EXIT_CODE_BAD_ARGS;
				break;
			case 'f':
				if (!tool_parse_int64(optarg, "--from", &opts.from))
					return EXIT_CODE_BAD_ARGS;
				break;
			case 'n':
				if (!tool_parse_int64(optarg, "--count", &opts.count))
					return EXIT_CODE_BAD_ARGS;
				break;
			case 's':
				if (!tool_parse_int64(optarg, "--max-seconds", &opts.max_seconds))
					return EXIT_CODE_BAD_ARGS;
				break;
			case 'S':
				if (!tool_parse_int64(optarg, "--silence-ms", &opts.silence_ms))
					return EXIT_CODE_BAD_ARGS;
				break;
			case 'd':
				log_set_level(LOG_LEVEL_DEBUG);
				break;
			case 'h':
				tool_usage(stdout);
				return EXIT_CODE_OK;
			default:
				tool_usage(stderr);
				return EXIT_CODE_BAD_ARGS;
		}
	}
	if (opts.config.endpoints == NULL || optind >= argc)
	{
		tool_usage(stderr);
		return EXIT_CODE_BAD_ARGS;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		fprintf(stderr, "store_tool: could not initialize libcurl\n");
		return EXIT_CODE_INTERNAL;
	}
	if (!store_new(&opts.config, &store, &err))
	{
		fprintf(stderr, "store_tool: %s: %s\n", store_error_kind_to_string(err.kind), err.message);
		curl_global_cleanup();
		return EXIT_CODE_BAD_ARGS;
	}
	code = tool_run(store, argc - optind, argv + optind, &opts);
	store_free(store);
	curl_global_cleanup();
	return code;
}
