/*
 * tests/unit/test_opts.c
 *    Flag precedence: the command line over the environment over the default, also when a program parses its
 *    arguments in two stages (bulwarkctl's global flags, then the command's, both holding the store flags).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

static void
test_the_command_line_wins_over_the_environment_in_two_stages(void **state)
{
	const char *endpoints = "http://default:2379";
	int64_t		port = 5432;
	const char *other = "x";
	OptDef		store[] = {
		{"store-endpoints", 0, OPT_TYPE_STRING, &endpoints, "URLS", "endpoints"},
		OPT_END,
	};
	OptDef		cmd[] = {
		{"pg-port", 'p', OPT_TYPE_INT, &port, "PORT", "port"},
		{"other", 0, OPT_TYPE_STRING, &other, "X", "other"},
		OPT_END,
	};
	const OptDef *global_tables[] = {store, NULL};
	const OptDef *cmd_tables[] = {store, cmd, NULL};
	char	   *argv[] = {"bulwarkctl", "--store-endpoints", "http://flag:1", "status", "-p", "6000", NULL};
	int			argc = 6;
	int			optind_ = 1;
	bool		help;
	char		err[256];
	char	   *pos[4];
	int			npos;

	(void) state;
	setenv("BULWARK_STORE_ENDPOINTS", "http://env:1", 1);
	setenv("BULWARK_PG_PORT", "7000", 1);
	setenv("BULWARK_OTHER", "from-env", 1);
	assert_true(opts_parse(argc, argv, &optind_, global_tables, true, NULL, 0, NULL, &help, err, sizeof(err)));
	assert_string_equal(endpoints, "http://flag:1");
	assert_string_equal(argv[optind_], "status");
	optind_++;
	assert_true(opts_parse(argc, argv, &optind_, cmd_tables, false, pos, 4, &npos, &help, err, sizeof(err)));
	/* the flag given before the command name still wins over the environment */
	assert_string_equal(endpoints, "http://flag:1");
	assert_int_equal(port, 6000);
	/* the environment wins over the default where the command line is silent */
	assert_string_equal(other, "from-env");
	unsetenv("BULWARK_STORE_ENDPOINTS");
	unsetenv("BULWARK_PG_PORT");
	unsetenv("BULWARK_OTHER");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_command_line_wins_over_the_environment_in_two_stages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
