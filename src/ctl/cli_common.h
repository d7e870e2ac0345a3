/*
 * src/ctl/cli_common.h
 *    What every bulwarkctl command shares: the context (global flags, the store, lazily opened), flag parsing
 *    for a command, reading a document from a file or stdin, reading and writing the cluster data, and the
 *    mapping from failures to the documented exit codes.
 */
#ifndef BULWARK_CLI_COMMON_H
#define BULWARK_CLI_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "opts.h"
#include "store_etcd.h"
#include "store_opts.h"

typedef struct Ctl
{
	StoreOptions store_opts;
	Store	   *store;			/* NULL until ctl_store() */
} Ctl;

typedef struct CtlCommand
{
	const char *name;
	const char *usage;			/* "init [-f FILE|-] [--yes] [SPEC]" */
	const char *summary;		/* one line, for bulwarkctl --help */
	int			(*run) (Ctl *ctl, int argc, char **argv);
} CtlCommand;

/*
 * ctl_parse: parse a command's argv (argv[0] is the command name) with the global flags and the command's
 * own table (may be NULL); positional arguments go to positional (at most max). Prints --help and returns
 * false with *exit_code = 0 on --help; prints the error and returns false with *exit_code = 2 on bad flags
 * or when the global flags are invalid.
 */
bool ctl_parse(Ctl *ctl, const CtlCommand *cmd, int argc, char **argv, const OptDef *table, char **positional,
			   int max_positional, int *n_positional, int *exit_code);

/* ctl_store: the store, opened on first use; NULL (error printed) when the options do not make a store. */
Store *ctl_store(Ctl *ctl);

/* ctl_exit_for_store_error: print "bulwarkctl: what: message" and return the exit code for err's kind. */
int ctl_fail_store(const char *what, const StoreError *err);

/* ctl_error: print "bulwarkctl: message" to stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * ctl_read_input: the whole contents of path ("-" = stdin), at most max_bytes, NUL-terminated. Caller frees.
 * NULL with the error printed.
 */
char *ctl_read_input(const char *path, size_t max_bytes, size_t *len);

/*
 * ctl_read_cluster_data: read and decode the cluster data. Returns EXIT_CODE_OK and fills cd and
 * *mod_revision, or prints the problem and returns EXIT_CODE_NOT_FOUND (no cluster), EXIT_CODE_STORE or
 * EXIT_CODE_BAD_SPEC (the stored document does not decode; raw_out, when not NULL, then still gets it).
 */
int ctl_read_cluster_data(Ctl *ctl, ClusterData *cd, int64_t *mod_revision);

/*
 * CtlApplyFn: changes cd in place for ctl_update_cluster_data. Returns EXIT_CODE_OK to write it, or any other
 * exit code to stop without writing (the function printed why); *unchanged = true (initially false) stops with
 * EXIT_CODE_OK and no write (nothing to do).
 */
typedef int (*CtlApplyFn) (ClusterData *cd, void *arg, bool *unchanged);

/*
 * ctl_update_cluster_data: read the cluster data, apply fn, compare-and-swap it on the revision read; when
 * another writer (the sentinel) won, read again and re-apply, up to CTL_CAS_ATTEMPTS times (then exit 5).
 * Returns an exit code.
 */
#define CTL_CAS_ATTEMPTS 10
int ctl_update_cluster_data(Ctl *ctl, CtlApplyFn fn, void *arg);

/* ctl_actor: "user@host" of whoever runs bulwarkctl, for the by fields of operator actions, into out. */
void ctl_actor(char *out, size_t outlen);

/* ctl_cluster_key: the cluster data key of this cluster, into out. */
void ctl_cluster_key(const Ctl *ctl, char *out, size_t outlen);

/* ctl_print_json: dump a JSON value to stdout, pretty (indent 2) or compact, sorted keys, newline. */
struct json_t;
void ctl_print_json(struct json_t *value, bool pretty);

extern const CtlCommand ctl_cmd_init;
extern const CtlCommand ctl_cmd_spec;
extern const CtlCommand ctl_cmd_update;
extern const CtlCommand ctl_cmd_clusterdata;
extern const CtlCommand ctl_cmd_status;
extern const CtlCommand ctl_cmd_version;
extern const CtlCommand ctl_cmd_history;
extern const CtlCommand ctl_cmd_failkeeper;
extern const CtlCommand ctl_cmd_removekeeper;
extern const CtlCommand ctl_cmd_pause;
extern const CtlCommand ctl_cmd_resume;
extern const CtlCommand ctl_cmd_switchover;

#endif
