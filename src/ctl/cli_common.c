/*
 * src/ctl/cli_common.c
 *    The pieces every bulwarkctl command shares.
 */
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cluster_json.h"
#include "exitcode.h"
#include "log.h"

void
ctl_error(const char *fmt, ...)
{
	va_list		ap;

	fputs("bulwarkctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool
ctl_parse(Ctl *ctl, const CtlCommand *cmd, int argc, char **argv, const OptDef *table, char **positional,
		  int max_positional, int *n_positional, int *exit_code)
{
	const OptDef *tables[3] = {ctl->store_opts.table, table, NULL};
	const OptDef *own[2] = {table, NULL};
	int			optind_ = 1;
	int			npos = 0;
	bool		help = false;
	char		err[512];
	StoreOptions before = ctl->store_opts;
	bool		ok;

	ok = opts_parse(argc, argv, &optind_, tables, false, positional, max_positional, &npos, &help, err, sizeof(err));
	/*
	 * The global flags (before the command name) were parsed with the environment under them already; this parse
	 * must not put the environment back over them: a store flag the command's own arguments do not give keeps the
	 * value of the global parse.
	 */
	for (const OptDef *d = ctl->store_opts.table; d->name; d++)
	{
		size_t		off = (size_t) ((const char *) d->target - (const char *) &ctl->store_opts);

		if (!opts_given(d, argc, argv))
			memcpy((char *) &ctl->store_opts + off, (const char *) &before + off, opts_value_size(d));
	}
	if (!ok)
	{
		ctl_error("%s: %s (see bulwarkctl %s --help)", cmd->name, err, cmd->name);
		*exit_code = EXIT_CODE_BAD_ARGS;
		return false;
	}
	if (help)
	{
		printf("Usage: bulwarkctl %s\n\n%s\n", cmd->usage, cmd->summary);
		if (table && table[0].name)
		{
			printf("\nFlags:\n");
			opts_print_help(own);
		}
		printf("\nGlobal flags: see bulwarkctl --help\n");
		*exit_code = EXIT_CODE_OK;
		return false;
	}
	if (!store_options_apply_log_level(&ctl->store_opts, err, sizeof(err)))
	{
		ctl_error("%s", err);
		*exit_code = EXIT_CODE_BAD_ARGS;
		return false;
	}
	if (n_positional)
		*n_positional = npos;
	return true;
}

Store *
ctl_store(Ctl *ctl)
{
	char		err[512];

	if (ctl->store)
		return ctl->store;
	if (!store_options_validate(&ctl->store_opts, err, sizeof(err)) ||
		!store_options_open(&ctl->store_opts, &ctl->store, err, sizeof(err)))
	{
		ctl_error("%s", err);
		ctl->store = NULL;
		return NULL;
	}
	return ctl->store;
}

int
ctl_fail_store(const char *what, const StoreError *err)
{
	ctl_error("%s: %s", what, err->message);
	switch (err->kind)
	{
		case STORE_ERR_COMPARE_FAILED:
		case STORE_ERR_GUARD_LOST:
			return EXIT_CODE_CONFLICT;
		case STORE_ERR_INVALID:
			return EXIT_CODE_BAD_ARGS;
		case STORE_ERR_NONE:
		case STORE_ERR_UNREACHABLE:
		case STORE_ERR_TIMEOUT:
		case STORE_ERR_COMPACTED:
		case STORE_ERR_TOO_LARGE:
		case STORE_ERR_LEASE_NOT_FOUND:
		case STORE_ERR_AUTH:
		case STORE_ERR_PROTOCOL:
		case STORE_ERR_SERVER:
			break;
	}
	return EXIT_CODE_STORE;
}

char *
ctl_read_input(const char *path, size_t max_bytes, size_t *len)
{
	Buf			b;
	char		chunk[8192];
	int			fd;
	ssize_t		n;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
	{
		ctl_error("could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, max_bytes);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0)
	{
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			ctl_error("could not read \"%s\": %s", path, strerror(errno));
			break;
		}
		if (!buf_append(&b, chunk, (size_t) n))
		{
			ctl_error("\"%s\" is larger than %zu bytes", path, max_bytes);
			n = -1;
			break;
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (n < 0)
	{
		buf_finish(&b);
		return NULL;
	}
	*len = b.len;
	return buf_steal(&b);
}

void
ctl_cluster_key(const Ctl *ctl, char *out, size_t outlen)
{
	store_options_key(&ctl->store_opts, "clusterdata", out, outlen);
}

int
ctl_read_cluster_data(Ctl *ctl, ClusterData *cd, int64_t *mod_revision)
{
	Store	   *store = ctl_store(ctl);
	char		key[512];
	char		err[1024];
	StoreKV		kv;
	StoreError	serr;
	bool		found;

	if (store == NULL)
		return EXIT_CODE_BAD_ARGS;
	ctl_cluster_key(ctl, key, sizeof(key));
	if (!store_get(store, key, &kv, &found, NULL, &serr))
		return ctl_fail_store("could not read the cluster data", &serr);
	if (!found)
	{
		ctl_error("cluster \"%s\" not found: no key \"%s\" in the store (run bulwarkctl init first, or check "
				  "--cluster-name and --store-prefix)", ctl->store_opts.cluster_name, key);
		return EXIT_CODE_NOT_FOUND;
	}
	if (!cluster_data_decode(kv.value, kv.value_len, cd, err, sizeof(err)))
	{
		ctl_error("the stored cluster data of \"%s\" is invalid: %s (inspect it with bulwarkctl clusterdata read; "
				  "repair it with bulwarkctl clusterdata write)", ctl->store_opts.cluster_name, err);
		store_kv_finish(&kv);
		return EXIT_CODE_BAD_SPEC;
	}
	*mod_revision = kv.mod_revision;
	store_kv_finish(&kv);
	return EXIT_CODE_OK;
}

void
ctl_print_json(json_t *value, bool pretty)
{
	char	   *s = json_dumps(value, JSON_SORT_KEYS | (pretty ? JSON_INDENT(2) : JSON_COMPACT));

	if (s)
	{
		puts(s);
		free(s);
	}
}

int
ctl_update_cluster_data(Ctl *ctl, CtlApplyFn fn, void *arg)
{
	Store	   *store = ctl_store(ctl);
	char		key[512];

	if (store == NULL)
		return EXIT_CODE_BAD_ARGS;
	ctl_cluster_key(ctl, key, sizeof(key));
	for (int attempt = 1;; attempt++)
	{
		ClusterData cd;
		int64_t		rev;
		char	   *out;
		StoreError	serr;
		bool		unchanged = false;
		int			rc;

		if ((rc = ctl_read_cluster_data(ctl, &cd, &rev)) != EXIT_CODE_OK)
			return rc;
		rc = fn(&cd, arg, &unchanged);
		if (rc != EXIT_CODE_OK || unchanged)
		{
			cluster_data_finish(&cd);
			return rc;
		}
		out = cluster_data_encode(&cd, false);
		cluster_data_finish(&cd);
		if (out == NULL)
			return EXIT_CODE_INTERNAL;
		if (store_cas(store, key, out, strlen(out), rev, 0, NULL, NULL, &serr))
		{
			free(out);
			return EXIT_CODE_OK;
		}
		free(out);
		if (serr.kind != STORE_ERR_COMPARE_FAILED)
			return ctl_fail_store("could not write the cluster data", &serr);
		if (attempt == CTL_CAS_ATTEMPTS)
		{
			ctl_error("the cluster data kept changing while writing it (%d attempts): try again", attempt);
			return EXIT_CODE_CONFLICT;
		}
		log_debug("cluster data changed while updating it, retrying attempt=%d", attempt + 1);
	}
}

void
ctl_actor(char *out, size_t outlen)
{
	char		host[256] = "";
	const char *user = getenv("USER");

	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	snprintf(out, outlen, "%s@%s", user && user[0] ? user : "unknown", host[0] ? host : "unknown");
}
