/*
 * src/common/uid.h
 *    Identifiers of the cluster data: random ones (cluster, db, sentinel and proxy uids, info uids, boot uuids)
 *    and the one rule every uid that reaches PostgreSQL must follow.
 *
 * A keeper or db uid ends up in replication slot and application names ("bulwark_<uid>"), which PostgreSQL
 * limits to [a-z0-9_] and 63 bytes; uid_is_valid checks that rule, and UID_SIZE holds any valid uid with its
 * NUL. Random uids are 8 lowercase hex characters from getrandom(2), as Stolon's, so they follow the rule.
 */
#ifndef BULWARK_UID_H
#define BULWARK_UID_H

#include <stdbool.h>
#include <stddef.h>

/* A uid of at most 63 characters and its NUL. */
#define UID_SIZE 64
#define UID_MAX_LEN (UID_SIZE - 1)

/* Length of uid_generate's result, without the NUL. */
#define UID_RANDOM_LEN 8

/* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" and its NUL. */
#define UUID_SIZE 37

/*
 * uid_generate: 8 random lowercase hex characters into out (size >= UID_RANDOM_LEN + 1). False when the kernel
 * gives no randomness (logged) or out is too small; out is then an empty string.
 */
bool uid_generate(char *out, size_t size) __attribute__((warn_unused_result));

/* uid_generate_uuid: a random RFC 4122 version 4 UUID, lowercase, into out (size >= UUID_SIZE); false as above. */
bool uid_generate_uuid(char *out, size_t size) __attribute__((warn_unused_result));

/* uid_is_valid: true when s matches ^[a-z0-9_]+$ and has at most UID_MAX_LEN characters. */
bool uid_is_valid(const char *s);

#endif
