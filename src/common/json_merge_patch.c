/*
 * src/common/json_merge_patch.c
 *    RFC 7386 merge patch, following the pseudocode of its section 2 on deep copies, so the caller's values stay
 *    untouched. Recursion depth is bounded by the patch's depth, which jansson's parser limits.
 */
#include "json_merge_patch.h"

json_t *
json_merge_patch(const json_t *target, const json_t *patch)
{
	json_t	   *result;
	const char *key;
	json_t	   *value;
	json_t	   *merged;

	if (patch == NULL)
		return NULL;
	if (!json_is_object(patch))
		return json_deep_copy(patch);

	if (target != NULL && json_is_object(target))
		result = json_deep_copy(target);
	else
		result = json_object();
	if (result == NULL)
		return NULL;

	/* json_object_foreach needs a non-const object; patch is only read */
	json_object_foreach((json_t *) patch, key, value)
	{
		if (json_is_null(value))
		{
			json_object_del(result, key);
			continue;
		}
		merged = json_merge_patch(json_object_get(result, key), value);
		if (merged == NULL || json_object_set_new(result, key, merged) != 0)
		{
			json_decref(result);
			return NULL;
		}
	}
	return result;
}
