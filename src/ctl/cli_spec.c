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

/* What ctl_update_apply applies: the spec or patch given, and which of the two it is. */
typedef struct CtlSpecChange
{
	const json_t *input;
	bool		patch;
} CtlSpecChange;

/*
 * ctl_update_apply: the spec of cd replaced by the input, or patched with it; decoded, validated and checked
 * against the update rules first (cd unchanged otherwise). A CtlApplyFn for ctl_update_cluster_data.
 */
static int
ctl_update_apply(ClusterData *cd, void *arg, bool *unchanged)
{
	const CtlSpecChange *change = arg;
	char		err[1024];
	bool		ok = change->patch ? cluster_data_patch_spec(cd, change->input, err, sizeof(err))
		: cluster_data_set_spec(cd, change->input, err, sizeof(err));

	(void) unchanged;
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
	CtlSpecChange change;

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
	change.input = input;
	change.patch = patch;
	/* read, change, compare-and-swap, retried when another writer (the sentinel) wins the race */
	rc = ctl_update_cluster_data(ctl, ctl_update_apply, &change);
	if (rc == EXIT_CODE_OK)
		printf("cluster \"%s\" spec updated\n", ctl->store_opts.cluster_name);
	json_decref(input);
	return rc;
}

const CtlCommand ctl_cmd_update = {
	"update", "update [--patch] (-f FILE|- | SPEC)",
	"replace the cluster spec, or merge a JSON merge patch into it with --patch",
	ctl_update_run,
};
