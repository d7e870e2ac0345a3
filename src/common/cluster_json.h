/*
 * src/common/cluster_json.h
 *    The JSON form of the cluster data model: the clusterdata document, the cluster spec, and the keeper,
 *    sentinel and proxy reports, as stored in etcd and shown by bulwarkctl.
 *
 * Decoding is strict, because these documents drive failover: an unknown field, a wrong type, a bad enum value
 * or an out-of-range number is an error naming its full path ("cluster.spec.maxStandbys: expected an integer,
 * got string", "dbs.abc123.spec.role: unknown value \"boss\" (expected master or standby)",
 * "spec: unknown field \"failIntervl\""). Input is bounded (CLUSTER_JSON_MAX_TEXT bytes; jansson limits nesting
 * to 2048 levels) and any byte sequence is safe to decode. Durations are Go-style strings ("5s"), times RFC 3339
 * UTC with milliseconds, LSNs PostgreSQL's "16/B374D848" text; keepers, dbs and pgParameters are JSON objects
 * keyed by uid or name.
 *
 * Encoding is canonical: sorted keys and a fixed form for every value, so the same data always gives the same
 * bytes and decode(encode(x)) == x. Absent optional values (NULL pointers) are omitted; everything else is
 * written, zero values included.
 *
 * The spec is stored sparse: cluster.spec in the document holds only the fields the user set, and defaults are
 * applied when it is read, so a later release can change a default. In the sparse spec (and only there) a null
 * member means "not set"; the decoder drops such members from the sparse copy it keeps.
 *
 * Every function that fails writes one message into err (errlen bytes, may be 0) and touches nothing else;
 * messages are lowercase without a full stop.
 */
#ifndef BULWARK_CLUSTER_JSON_H
#define BULWARK_CLUSTER_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cluster.h"

/* Largest document decoded: etcd refuses values above 1.5 MiB by default, so anything bigger is not ours. */
#define CLUSTER_JSON_MAX_TEXT (2 * 1024 * 1024)

/* ---- clusterdata ---- */

/*
 * cluster_data_decode: parses text (len bytes, no NUL needed) into *out, which the call initializes. True on
 * success, the caller then owns *out (cluster_data_finish). On failure *out is left initialized and empty.
 * Refuses formatVersion != 1 before looking at anything else, and a spec that does not validate.
 */
bool cluster_data_decode(const char *text, size_t len, ClusterData *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* cluster_data_from_json: as cluster_data_decode, from a parsed document (borrowed, not modified). */
bool cluster_data_from_json(const json_t *doc, ClusterData *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * cluster_data_encode: the canonical JSON text of cd (compact, or indented by 2 when pretty), caller frees.
 * NULL when memory runs out or a string in cd is not valid UTF-8.
 */
char *cluster_data_encode(const ClusterData *cd, bool pretty) __attribute__((warn_unused_result));

/* cluster_data_to_json: cd as a new JSON object, caller decrefs; NULL as for cluster_data_encode. */
json_t *cluster_data_to_json(const ClusterData *cd) __attribute__((warn_unused_result));

/*
 * cluster_data_new_for_init: fills *out (uninitialized storage) with the document `bulwarkctl init` writes:
 * format version 1, a new random cluster uid, generation 1, phase initializing, no keepers or dbs, proxy
 * generation 1 with no master, change times now, and the spec decoded and validated from sparse_spec (borrowed;
 * NULL = {}), of which out keeps a copy without null members. False when the spec is invalid or no random uid
 * could be made; *out is then initialized and empty.
 */
bool cluster_data_new_for_init(const json_t *sparse_spec, ClusterData *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * cluster_data_set_spec: replaces the cluster's spec by sparse (borrowed) when it decodes, validates and is an
 * allowed update of the current effective spec (cluster_spec_validate_update); both the sparse and effective
 * specs change together. False with a message otherwise, cd unchanged.
 */
bool cluster_data_set_spec(ClusterData *cd, const json_t *sparse, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * cluster_data_patch_spec: as cluster_data_set_spec with the RFC 7386 merge patch of the current sparse spec by
 * patch (borrowed), for `bulwarkctl update --patch`. An object in the patch merges member by member (so
 * {"pgParameters":{"work_mem":null}} removes one parameter); to replace pgParameters wholesale, as the sentinel
 * does when it adopts the initial instance's parameters, give cluster_data_set_spec a modified copy of
 * spec_sparse instead.
 */
bool cluster_data_patch_spec(ClusterData *cd, const json_t *patch, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* ---- the cluster spec ---- */

/*
 * cluster_spec_decode: the effective spec of a sparse spec object (borrowed): defaults, then the fields sparse
 * sets, then validation. *effective (uninitialized storage) is filled on success and owned by the caller
 * (cluster_spec_finish); on failure it holds the defaults and owns nothing. Errors are rooted at "spec".
 */
bool cluster_spec_decode(const json_t *sparse, ClusterSpec *effective, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * cluster_spec_decode_text: as cluster_spec_decode from text; on success also *sparse_out (when not NULL) = a new
 * reference to the sparse object without its null members, caller decrefs.
 */
bool cluster_spec_decode_text(const char *text, size_t len, json_t **sparse_out, ClusterSpec *effective,
							  char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * cluster_spec_encode: the full effective spec, every field with its value (for `bulwarkctl spec --defaults`
 * and for printing); a new object, caller decrefs. initMode is omitted while unset. NULL when out of memory.
 */
json_t *cluster_spec_encode(const ClusterSpec *spec) __attribute__((warn_unused_result));

/* ---- reports ---- */

/*
 * x_decode: parses text (len bytes) into *out, which the call initializes; true on success (caller finishes
 * *out when it has a finish function), false with a message, *out initialized and empty. x_encode: canonical
 * compact JSON text, caller frees; NULL when out of memory.
 */
bool keeper_info_decode(const char *text, size_t len, KeeperInfo *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
char *keeper_info_encode(const KeeperInfo *ki) __attribute__((warn_unused_result));
bool sentinel_info_decode(const char *text, size_t len, SentinelInfo *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
char *sentinel_info_encode(const SentinelInfo *si) __attribute__((warn_unused_result));
bool proxy_info_decode(const char *text, size_t len, ProxyInfo *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
char *proxy_info_encode(const ProxyInfo *pi) __attribute__((warn_unused_result));

/* ---- helpers ---- */

/*
 * cluster_json_dump: value as canonical text (sorted keys; compact, or indented by 2 when pretty), caller frees;
 * NULL when out of memory.
 */
char *cluster_json_dump(const json_t *value, bool pretty) __attribute__((warn_unused_result));

/*
 * db_spec_equal: true when a and b have the same JSON form, i.e. no keeper would act differently; the sentinel
 * bumps a DB's generation when its spec changes. Out of memory counts as "different" (a spare generation bump is
 * harmless, a missed one is not).
 */
bool db_spec_equal(const DbSpec *a, const DbSpec *b);

/*
 * cluster_data_equal: a and b would encode to the same document (compared field by field from the codec's
 * tables, without encoding). For the planner's "did this round change anything".
 */
bool cluster_data_equal(const ClusterData *a, const ClusterData *b);

#endif
