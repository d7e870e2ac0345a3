/*
 * tests/unit/test_json_merge_patch.c
 *    RFC 7386 merge patch: the examples of the RFC's appendix A, and that the inputs are left untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "json_merge_patch.h"

static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t	   *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (v == NULL)
		fail_msg("bad test JSON %s: %s", text, err.text);
	return v;
}

static void
test_rfc7386_appendix_examples(void **state)
{
	static const struct
	{
		const char *target;
		const char *patch;
		const char *result;
	}			cases[] = {
		{"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
		{"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
		{"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
		{"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
		{"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
		{"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
		{"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
		{"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
		{"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
		{"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
		{"{\"a\":\"foo\"}", "null", "null"},
		{"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
		{"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
		{"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
		{"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		json_t	   *target = parse(cases[i].target);
		json_t	   *patch = parse(cases[i].patch);
		json_t	   *want = parse(cases[i].result);
		char	   *target_before = json_dumps(target, JSON_SORT_KEYS | JSON_ENCODE_ANY);
		char	   *patch_before = json_dumps(patch, JSON_SORT_KEYS | JSON_ENCODE_ANY);
		json_t	   *got = json_merge_patch(target, patch);
		char	   *target_after = json_dumps(target, JSON_SORT_KEYS | JSON_ENCODE_ANY);
		char	   *patch_after = json_dumps(patch, JSON_SORT_KEYS | JSON_ENCODE_ANY);

		assert_non_null(got);
		if (!json_equal(got, want))
		{
			char	   *g = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);

			fail_msg("case %zu: %s + %s gave %s, want %s", i, cases[i].target, cases[i].patch, g, cases[i].result);
		}
		assert_string_equal(target_before, target_after);
		assert_string_equal(patch_before, patch_after);
		free(target_before);
		free(target_after);
		free(patch_before);
		free(patch_after);
		json_decref(got);
		json_decref(target);
		json_decref(patch);
		json_decref(want);
	}
}

static void
test_result_shares_nothing_with_inputs(void **state)
{
	json_t	   *target = parse("{\"a\":{\"b\":[1]},\"k\":{\"x\":1}}");
	json_t	   *patch = parse("{\"c\":{\"d\":2}}");
	json_t	   *got = json_merge_patch(target, patch);

	(void) state;
	assert_non_null(got);
	json_object_set_new(json_object_get(got, "a"), "b", json_integer(9));
	json_object_set_new(json_object_get(got, "c"), "d", json_integer(9));
	assert_int_equal(json_array_size(json_object_get(json_object_get(target, "a"), "b")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(patch, "c"), "d")), 2);
	json_decref(got);
	json_decref(target);
	json_decref(patch);
}

static void
test_missing_target_is_no_value(void **state)
{
	json_t	   *patch = parse("{\"a\":1,\"b\":null}");
	json_t	   *want = parse("{\"a\":1}");
	json_t	   *got = json_merge_patch(NULL, patch);

	(void) state;
	assert_true(json_equal(got, want));
	assert_null(json_merge_patch(want, NULL));
	json_decref(got);
	json_decref(patch);
	json_decref(want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7386_appendix_examples),
		cmocka_unit_test(test_result_shares_nothing_with_inputs),
		cmocka_unit_test(test_missing_target_is_no_value),
	};

	return cmocka_run_group_tests_name("json_merge_patch", tests, NULL, NULL);
}
