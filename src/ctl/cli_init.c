/*
 * src/ctl/cli_init.c
 *    bulwarkctl init: create a cluster's data in the store from a spec (default {"initMode":"new"}).
 *    Create-only unless --yes, which replaces an existing cluster (a new cluster uid: keepers re-initialize).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "cluster_json.h"
#include "exitcode.h"

#define CTL_MAX_SPEC_BYTES (1024 * 1024)

/*
 * ctl_decode_spec_arg: the spec from -f FILE/- or the positional argument, else the default. Returns an exit
 * code; on success *sparse (caller decrefs) and *effective are filled.
 */
static int
ctl_decode_spec_arg(const char *file, const char *arg, const char *dflt, json_t **sparse, ClusterSpec *effective)
{
	char	   *text = NULL;
	size_t		len = 0;
	char		err[1024];
	int			rc = EXIT_CODE_OK;

	if (file && arg)
	{
		ctl_error("give the spec either with -f or as an argument, not both");
		return EXIT_CODE_BAD_ARGS;
	}
	if (file)
	{
		if ((text = ctl_read_input(file, CTL_MAX_SPEC_BYTES, &len)) == NULL)
			return EXIT_CODE_BAD_ARGS;
	}
	else
	{
		text = strdup(arg ? arg : dflt);
		if (text == NULL)
			return EXIT_CODE_INTERNAL;
		len = strlen(text);
	}
	if (!cluster_spec_decode_text(text, len, sparse, effective, err, sizeof(err)))
	{
		ctl_error("bad cluster spec: %s", err);
		rc = EXIT_CODE_BAD_SPEC;
	}
	free(text);
	return rc;
}

static int
ctl_init_run(Ctl *ctl, int argc, char **argv)
{
	const char *file = NULL;
	bool		yes = false;
	OptDef		table[] = {
		{"file", 'f', OPT_TYPE_STRING, &file, "FILE", "read the spec from FILE (- for stdin)"},
		{"yes", 'y', OPT_TYPE_BOOL, &yes, NULL, "replace an existing cluster (its state is lost)"},
		OPT_END,
	};
	char	   *pos[1];
	int			npos = 0;
	int			rc;
	json_t	   *sparse = NULL;
	ClusterSpec spec;
	ClusterData cd;
	char	   *text = NULL;
	char		key[512];
	Store	   *store;
	StoreError	serr;
	StoreKV		current = {0};
	char		err[1024];

	if (!ctl_parse(ctl, &ctl_cmd_init, argc, argv, table, pos, 1, &npos, &rc))
		return rc;
	if ((store = ctl_store(ctl)) == NULL)
		return EXIT_CODE_BAD_ARGS;
	rc = ctl_decode_spec_arg(file, npos ? pos[0] : NULL, "{\"initMode\":\"new\"}", &sparse, &spec);
	if (rc != EXIT_CODE_OK)
		return rc;
	cluster_spec_finish(&spec);	/* validated; cluster_data_new_for_init decodes it again */

	if (!cluster_data_new_for_init(sparse, &cd, err, sizeof(err)))
	{
		ctl_error("could not build the cluster data: %s", err);
		json_decref(sparse);
		return EXIT_CODE_INTERNAL;
	}
	json_decref(sparse);
	text = cluster_data_encode(&cd, false);
	cluster_data_finish(&cd);
	if (text == NULL)
	{
		ctl_error("could not encode the cluster data");
		return EXIT_CODE_INTERNAL;
	}

	ctl_cluster_key(ctl, key, sizeof(key));
	rc = EXIT_CODE_OK;
	if (!store_create(store, key, text, strlen(text), 0, NULL, &current, &serr))
	{
		if (serr.kind != STORE_ERR_COMPARE_FAILED)
			rc = ctl_fail_store("could not create the cluster data", &serr);
		else if (!yes)
		{
			ctl_error("cluster \"%s\" already exists in the store (key \"%s\"); run again with --yes to replace it "
					  "(its keepers will re-initialize)", ctl->store_opts.cluster_name, key);
			rc = EXIT_CODE_CONFLICT;
		}
		else if (!store_cas(store, key, text, strlen(text), current.mod_revision, 0, NULL, NULL, &serr))
			rc = ctl_fail_store("could not replace the cluster data", &serr);
		store_kv_finish(&current);
	}
	if (rc == EXIT_CODE_OK)
		printf("cluster \"%s\" initialized\n", ctl->store_opts.cluster_name);
	free(text);
	return rc;
}

const CtlCommand ctl_cmd_init = {
	"init", "init [-f FILE|-] [--yes] [SPEC]",
	"create a new cluster in the store from a spec (default: {\"initMode\":\"new\"})",
	ctl_init_run,
};
