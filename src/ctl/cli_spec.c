/*
 * src/ctl/cli_spec.c
 *    bulwarkctl spec (print the spec as set, or with every default) and bulwarkctl update (replace the spec,
 *    or merge a JSON merge patch into it), written as a compare-and-swap retried on conflicts.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "cluster_json.h"
#include "exitcode.h"
#include "log.h"

#define CTL_UPDATE_ATTEMPTS 10

static int
ctl_spec_run(Ctl *ctl, int argc, char **argv)
{
	bool		defaults = false;
	OptDef		table[] = {
		{"defaults", 0, OPT_TYPE_BOOL, &defaults, NULL, "show every field, with the defaults of those not set"},
		OPT_END,
	};
	ClusterData cd;
	int64_t		rev;
	int			rc;

	if (!ctl_parse(ctl, &ctl_cmd_spec, argc, argv, table, NULL, 0, NULL, &rc))
		return rc;
	if ((rc = ctl_read_cluster_data(ctl, &cd, &rev)) != EXIT_CODE_OK)
		return rc;
	if (defaults)
	{
		json_t	   *full = cluster_spec_encode(&cd.cluster.spec);

		if (full == NULL)
			rc = EXIT_CODE_INTERNAL;
		else
			ctl_print_json(full, true);
		json_decref(full);
	}
	else if (cd.cluster.spec_sparse)
		ctl_print_json(cd.cluster.spec_sparse, true);
	else
		puts("{}");
	cluster_data_finish(&cd);
	return rc;
}

const CtlCommand ctl_cmd_spec = {
	"spec", "spec [--defaults]",
	"print the cluster spec as set (--defaults: every field, with defaults filled in)",
	ctl_spec_run,
};

/*
 * ctl_update_apply: the spec of cd replaced by input, or patched with it; decoded, validated and checked against
 * the update rules first (cd unchanged otherwise). Returns an exit code; the error is printed.
 */
static int
ctl_update_apply(ClusterData *cd, const json_t *input, bool patch)
{
	char		err[1024];
	bool		ok = patch ? cluster_data_patch_spec(cd, input, err, sizeof(err))
		: cluster_data_set_spec(cd, input, err, sizeof(err));

	if (!ok)
	{
		ctl_error("bad cluster spec: %s", err);
		return EXIT_CODE_BAD_SPEC;
	}
	return EXIT_CODE_OK;
}

static int
ctl_update_run(Ctl *ctl, int argc, char **argv)
{
	const char *file = NULL;
	bool		patch = false;
	OptDef		table[] = {
		{"patch", 'p', OPT_TYPE_BOOL, &patch, NULL, "merge the given JSON into the spec (RFC 7386) instead of replacing it"},
		{"file", 'f', OPT_TYPE_STRING, &file, "FILE", "read the spec or patch from FILE (- for stdin)"},
		OPT_END,
	};
	char	   *pos[1];
	int			npos = 0;
	int			rc;
	char	   *text;
	size_t		len;
	json_t	   *input;
	json_error_t jerr;
	char		key[512];
	Store	   *store;

	if (!ctl_parse(ctl, &ctl_cmd_update, argc, argv, table, pos, 1, &npos, &rc))
		return rc;
	if ((file == NULL) == (npos == 0))
	{
		ctl_error("update: give the spec%s either with -f FILE or as an argument (e.g. bulwarkctl update --patch "
				  "'{\"failInterval\": \"5s\"}')", patch ? " patch" : "");
		return EXIT_CODE_BAD_ARGS;
	}
	if (file)
	{
		if ((text = ctl_read_input(file, 1024 * 1024, &len)) == NULL)
			return EXIT_CODE_BAD_ARGS;
	}
	else if ((text = strdup(pos[0])) == NULL)
		return EXIT_CODE_INTERNAL;
	else
		len = strlen(text);
	input = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (input == NULL)
	{
		ctl_error("bad cluster spec: invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		return EXIT_CODE_BAD_SPEC;
	}
	if (!json_is_object(input))
	{
		ctl_error("bad cluster spec: expected a JSON object");
		json_decref(input);
		return EXIT_CODE_BAD_SPEC;
	}
	if ((store = ctl_store(ctl)) == NULL)
	{
		json_decref(input);
		return EXIT_CODE_BAD_ARGS;
	}
	ctl_cluster_key(ctl, key, sizeof(key));

	/* read, change, compare-and-swap; another writer (the sentinel) may win the race: read again and retry */
	for (int attempt = 1;; attempt++)
	{
		ClusterData cd;
		int64_t		rev;
		char	   *out;
		StoreError	serr;

		if ((rc = ctl_read_cluster_data(ctl, &cd, &rev)) != EXIT_CODE_OK)
			break;
		if ((rc = ctl_update_apply(&cd, input, patch)) != EXIT_CODE_OK)
		{
			cluster_data_finish(&cd);
			break;
		}
		out = cluster_data_encode(&cd, false);
		cluster_data_finish(&cd);
		if (out == NULL)
		{
			rc = EXIT_CODE_INTERNAL;
			break;
		}
		if (store_cas(store, key, out, strlen(out), rev, 0, NULL, NULL, &serr))
		{
			free(out);
			printf("cluster \"%s\" spec updated\n", ctl->store_opts.cluster_name);
			rc = EXIT_CODE_OK;
			break;
		}
		free(out);
		if (serr.kind != STORE_ERR_COMPARE_FAILED || attempt == CTL_UPDATE_ATTEMPTS)
		{
			rc = ctl_fail_store("could not write the cluster data", &serr);
			break;
		}
		log_debug("cluster data changed while updating it, retrying attempt=%d", attempt + 1);
	}
	json_decref(input);
	return rc;
}

const CtlCommand ctl_cmd_update = {
	"update", "update [--patch] (-f FILE|- | SPEC)",
	"replace the cluster spec, or merge a JSON merge patch into it with --patch",
	ctl_update_run,
};
