/*
 * src/common/json_merge_patch.h
 *    RFC 7386 JSON merge patch, the format of `bulwarkctl update --patch` and of every change made to the
 *    stored sparse cluster spec: an object patch merges member by member, a null member deletes, anything
 *    else replaces the target.
 */
#ifndef BULWARK_JSON_MERGE_PATCH_H
#define BULWARK_JSON_MERGE_PATCH_H

#include <jansson.h>

/*
 * json_merge_patch: a new value, target with patch applied; the caller owns the returned reference (json_decref).
 * Neither argument is modified or shared with the result. target may be NULL (no value). Returns NULL when
 * memory runs out, or when patch is NULL.
 */
json_t *json_merge_patch(const json_t *target, const json_t *patch) __attribute__((warn_unused_result));

#endif
