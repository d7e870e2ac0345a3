/*
 * src/ctl/main.c
 *    bulwarkctl: the operator's command line. Parses the global flags, picks the command and runs it; the
 *    commands live in one file per group (cli_init.c, cli_spec.c, cli_clusterdata.c, cli_status.c, cli_history.c,
 *    cli_ops.c).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli_common.h"
#include "exitcode.h"
#include "log.h"

static const CtlCommand *const ctl_commands[] = {
	&ctl_cmd_init,
	&ctl_cmd_status,
	&ctl_cmd_spec,
	&ctl_cmd_update,
	&ctl_cmd_clusterdata,
	&ctl_cmd_history,
	&ctl_cmd_switchover,
	&ctl_cmd_failkeeper,
	&ctl_cmd_removekeeper,
	&ctl_cmd_pause,
	&ctl_cmd_resume,
	&ctl_cmd_version,
	NULL,
};

static void
ctl_print_usage(Ctl *ctl)
{
	const OptDef *const tables[] = {ctl->store_opts.table, NULL};

	printf("bulwarkctl: operate a bulwark PostgreSQL cluster\n\n");
	printf("Usage: bulwarkctl [global flags] COMMAND [flags] [args]\n\nCommands:\n");
	for (const CtlCommand *const *c = ctl_commands; *c; c++)
		printf("  %-14s %s\n", (*c)->name, (*c)->summary);
	printf("\nGlobal flags (also accepted after the command):\n");
	opts_print_help(tables);
	printf("\nRun \"bulwarkctl COMMAND --help\" for a command's flags. Exit codes: 0 ok, 1 internal error,\n"
		   "2 bad arguments, 3 bad spec or cluster data, 4 store error, 5 conflict or refused, 6 cluster or\n"
		   "keeper not found, 8 aborted (switchover --wait).\n");
}

int
main(int argc, char **argv)
{
	Ctl			ctl;
	const OptDef *tbl[2];
	int			optind_ = 1;
	bool		help = false;
	char		err[512];
	int			rc = EXIT_CODE_BAD_ARGS;

	log_set_program("bulwarkctl");
	memset(&ctl, 0, sizeof(ctl));
	store_options_init(&ctl.store_opts);
	tbl[0] = ctl.store_opts.table;
	tbl[1] = NULL;

	if (!opts_parse(argc, argv, &optind_, tbl, true, NULL, 0, NULL, &help, err, sizeof(err)))
	{
		ctl_error("%s (see bulwarkctl --help)", err);
		return EXIT_CODE_BAD_ARGS;
	}
	if (help || optind_ >= argc)
	{
		ctl_print_usage(&ctl);
		return help ? EXIT_CODE_OK : EXIT_CODE_BAD_ARGS;
	}

	for (const CtlCommand *const *c = ctl_commands; *c; c++)
	{
		if (strcmp((*c)->name, argv[optind_]) == 0)
		{
			if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			{
				ctl_error("could not initialize libcurl");
				return EXIT_CODE_INTERNAL;
			}
			rc = (*c)->run(&ctl, argc - optind_, argv + optind_);
			store_free(ctl.store);
			curl_global_cleanup();
			return rc;
		}
	}
	ctl_error("unknown command \"%s\" (see bulwarkctl --help)", argv[optind_]);
	return EXIT_CODE_BAD_ARGS;
}
