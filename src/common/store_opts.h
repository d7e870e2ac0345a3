/*
 * src/common/store_opts.h
 *    The flags every bulwark program shares: the cluster name, where the store is and how to reach it
 *    (endpoints, prefix, TLS, auth, timeout) and the log level; and the cluster's key layout in the store:
 *    <prefix>/<cluster>/clusterdata, keepers/<uid>, sentinels/<uid>, proxies/<uid>, leader, history/<n>.
 */
#ifndef BULWARK_STORE_OPTS_H
#define BULWARK_STORE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opts.h"
#include "store_etcd.h"

typedef struct StoreOptions
{
	const char *cluster_name;
	const char *endpoints;
	const char *prefix;
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	const char *user;
	const char *password_file;
	int64_t		timeout_ms;
	const char *log_level;
	OptDef		table[11];		/* the flags above, for opts_parse; OPT_END-terminated */
} StoreOptions;

/* store_options_init: defaults, and the flag table pointing into opts. */
void store_options_init(StoreOptions *opts);

/*
 * store_options_apply_log_level: set the process's log level from --log-level; false with err filled when
 * the level is unknown.
 */
bool store_options_apply_log_level(const StoreOptions *opts, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * store_options_validate: the cluster name is set and well-formed, the prefix starts with '/', the password
 * file is readable when a user is given. false with err filled naming the flag.
 */
bool store_options_validate(const StoreOptions *opts, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * store_options_open: a Store for these options (reads the password file, trimming trailing newlines and
 * warning when it is readable by group or others). false with err filled.
 */
bool store_options_open(const StoreOptions *opts, Store **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* store_options_key: "<prefix>/<cluster>/<rel>" into out; rel may be "" for the cluster's own prefix. */
void store_options_key(const StoreOptions *opts, const char *rel, char *out, size_t outlen);

/*
 * read_secret_file: the contents of a password file, trailing newlines trimmed, into out (at most outlen-1
 * bytes). Warns (once per call) when group or others can read it. false with err filled when unreadable,
 * empty or too long.
 */
bool read_secret_file(const char *path, char *out, size_t outlen, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
