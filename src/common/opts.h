/*
 * src/common/opts.h
 *    Command line flags for every bulwark program, from one declarative table per command: the table drives
 *    getopt_long, the BULWARK_<FLAG_NAME> environment variables and --help. The environment gives a flag's
 *    value when the command line does not (--store-endpoints <- BULWARK_STORE_ENDPOINTS); the command line wins.
 *    A value that does not parse is an error naming the flag (or the variable) and the expected form.
 */
#ifndef BULWARK_OPTS_H
#define BULWARK_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum OptType
{
	OPT_TYPE_STRING = 0,		/* target: const char ** (points into argv or environ, or the default) */
	OPT_TYPE_INT,				/* target: int64_t *; decimal */
	OPT_TYPE_BOOL,				/* target: bool *; a flag without value; from env: true/false/1/0/yes/no */
	OPT_TYPE_DURATION,			/* target: int64_t * milliseconds; "500ms", "5s", "1m30s" */
} OptType;

typedef struct OptDef
{
	const char *name;			/* long name without dashes: "store-endpoints" */
	char		short_name;		/* 0 when none */
	OptType		type;
	void	   *target;
	const char *metavar;		/* shown in --help: "URLS"; NULL for bools */
	const char *help;			/* one line; the default is appended from *target's initial value */
} OptDef;

#define OPT_END {NULL, 0, OPT_TYPE_STRING, NULL, NULL, NULL}

/*
 * opts_parse: apply BULWARK_* environment values for every flag in the tables (tables: a NULL-terminated
 * array of OPT_END-terminated OptDef arrays, e.g. global flags + the command's), then the flags of argv
 * from index *optind_io. Parsing stops at the first non-flag argument when stop_at_nonopt, else non-flag
 * arguments are collected in order into positional (at most max_positional; more is an error).
 * "--help"/"-h" sets *help. On error: false with err filled ("--store-timeout: expected a duration like
 * \"5s\", got \"abc\"").
 */
bool opts_parse(int argc, char **argv, int *optind_io, const OptDef *const *tables, bool stop_at_nonopt,
				char **positional, int max_positional, int *n_positional, bool *help, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* opts_given: argv gives d ("--name", "--name=...", "-c", "-cVALUE") before any "--" that ends the flags. */
bool opts_given(const OptDef *d, int argc, char **argv);

/* opts_value_size: the size of d's target (a const char *, an int64_t or a bool). */
size_t opts_value_size(const OptDef *d);

/* opts_print_help: the flags of the tables, one per line, with metavar, help and default, to stdout. */
void opts_print_help(const OptDef *const *tables);

/* opts_env_name: "store-endpoints" -> "BULWARK_STORE_ENDPOINTS" into out. */
void opts_env_name(const char *name, char *out, size_t outlen);

#endif
