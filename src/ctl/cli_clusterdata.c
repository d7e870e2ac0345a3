/*
 * src/ctl/cli_clusterdata.c
 *    bulwarkctl clusterdata read|write: the raw cluster data document, for backups, inspection and repair.
 *    write decodes and validates the document first (a document no component could use is never stored) and
 *    replaces an existing one only with --yes.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "cluster_json.h"
#include "exitcode.h"

#define CTL_MAX_CLUSTER_DATA_BYTES (1024 * 1024)

static int
ctl_clusterdata_read(Ctl *ctl, int argc, char **argv)
{
	bool		pretty = false;
	OptDef		table[] = {
		{"pretty", 0, OPT_TYPE_BOOL, &pretty, NULL, "indent the JSON"},
		OPT_END,
	};
	Store	   *store;
	char		key[512];
	StoreKV		kv;
	StoreError	serr;
	bool		found;
	int			rc;
	json_t	   *doc;

	if (!ctl_parse(ctl, &ctl_cmd_clusterdata, argc, argv, table, NULL, 0, NULL, &rc))
		return rc;
	if ((store = ctl_store(ctl)) == NULL)
		return EXIT_CODE_BAD_ARGS;
	ctl_cluster_key(ctl, key, sizeof(key));
	if (!store_get(store, key, &kv, &found, NULL, &serr))
		return ctl_fail_store("could not read the cluster data", &serr);
	if (!found)
	{
		ctl_error("cluster \"%s\" not found: no key \"%s\" in the store", ctl->store_opts.cluster_name, key);
		return EXIT_CODE_NOT_FOUND;
	}
	/* print what is stored even when it does not decode: this is the command to look at a broken document */
	doc = json_loadb(kv.value, kv.value_len, 0, NULL);
	if (doc)
	{
		ctl_print_json(doc, pretty);
		json_decref(doc);
	}
	else
	{
		fwrite(kv.value, 1, kv.value_len, stdout);
		putchar('\n');
	}
	store_kv_finish(&kv);
	return EXIT_CODE_OK;
}

static int
ctl_clusterdata_write(Ctl *ctl, int argc, char **argv)
{
	const char *file = NULL;
	bool		yes = false;
	OptDef		table[] = {
		{"file", 'f', OPT_TYPE_STRING, &file, "FILE", "the cluster data document (- for stdin)"},
		{"yes", 'y', OPT_TYPE_BOOL, &yes, NULL, "replace the existing cluster data"},
		OPT_END,
	};
	Store	   *store;
	char		key[512];
	char		err[1024];
	char	   *text;
	char	   *out;
	size_t		len;
	int			rc;
	ClusterData cd;
	StoreError	serr;
	StoreKV		current = {0};

	if (!ctl_parse(ctl, &ctl_cmd_clusterdata, argc, argv, table, NULL, 0, NULL, &rc))
		return rc;
	if (file == NULL)
	{
		ctl_error("clusterdata write: -f FILE (or -f - for stdin) is required");
		return EXIT_CODE_BAD_ARGS;
	}
	if ((store = ctl_store(ctl)) == NULL)
		return EXIT_CODE_BAD_ARGS;
	if ((text = ctl_read_input(file, CTL_MAX_CLUSTER_DATA_BYTES, &len)) == NULL)
		return EXIT_CODE_BAD_ARGS;
	if (!cluster_data_decode(text, len, &cd, err, sizeof(err)))
	{
		ctl_error("bad cluster data: %s", err);
		free(text);
		return EXIT_CODE_BAD_SPEC;
	}
	free(text);
	out = cluster_data_encode(&cd, false);
	cluster_data_finish(&cd);
	if (out == NULL)
		return EXIT_CODE_INTERNAL;

	ctl_cluster_key(ctl, key, sizeof(key));
	rc = EXIT_CODE_OK;
	if (!store_create(store, key, out, strlen(out), 0, NULL, &current, &serr))
	{
		if (serr.kind != STORE_ERR_COMPARE_FAILED)
			rc = ctl_fail_store("could not write the cluster data", &serr);
		else if (!yes)
		{
			ctl_error("cluster \"%s\" already has cluster data; run again with --yes to replace it",
					  ctl->store_opts.cluster_name);
			rc = EXIT_CODE_CONFLICT;
		}
		else if (!store_cas(store, key, out, strlen(out), current.mod_revision, 0, NULL, NULL, &serr))
			rc = ctl_fail_store("could not replace the cluster data", &serr);
		store_kv_finish(&current);
	}
	free(out);
	return rc;
}

static int
ctl_clusterdata_run(Ctl *ctl, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "read") == 0)
		return ctl_clusterdata_read(ctl, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "write") == 0)
		return ctl_clusterdata_write(ctl, argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
	{
		printf("Usage: bulwarkctl %s\n\n%s\n\n"
			   "  read [--pretty]            print the stored document\n"
			   "  write -f FILE|- [--yes]    validate and store a document (--yes replaces an existing one)\n",
			   ctl_cmd_clusterdata.usage, ctl_cmd_clusterdata.summary);
		return EXIT_CODE_OK;
	}
	ctl_error("clusterdata: expected \"read\" or \"write\" (see bulwarkctl clusterdata --help)");
	return EXIT_CODE_BAD_ARGS;
}

const CtlCommand ctl_cmd_clusterdata = {
	"clusterdata", "clusterdata read [--pretty] | write -f FILE|- [--yes]",
	"read or write the raw cluster data document (backup, inspection, repair)",
	ctl_clusterdata_run,
};
