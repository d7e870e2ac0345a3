/*
 * tests/unit/lib/test_json.c
 *    JSON helpers for the unit tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_json.h"

json_t *
test_json_parse(const char *text)
{
	json_error_t err;
	json_t	   *v = json_loads(text, 0, &err);

	if (v == NULL)
		fail_msg("bad test JSON %s: %s", text, err.text);
	return v;
}
