/*
 * tests/unit/test_buf.c
 *    The bounded buffer: appends up to the maximum, refuses beyond it without changing the contents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void
test_append_up_to_max_then_refuse(void **state)
{
	Buf			b;

	(void) state;
	buf_init(&b, 10);
	assert_string_equal(buf_cstr(&b), "");
	assert_true(buf_append_str(&b, "hello"));
	assert_true(buf_printf(&b, "%d%s", 12, "34"));
	assert_int_equal(b.len, 9);
	assert_false(buf_append_str(&b, "xy"));
	assert_string_equal(buf_cstr(&b), "hello1234");
	assert_true(buf_append_str(&b, "z"));
	assert_int_equal(b.len, 10);
	assert_false(buf_printf(&b, "%s", "q"));
	buf_finish(&b);
}

static void
test_consume_moves_rest_to_front(void **state)
{
	Buf			b;
	char	   *s;

	(void) state;
	buf_init(&b, 1 << 20);
	assert_true(buf_append_str(&b, "line1\nline2\n"));
	buf_consume(&b, 6);
	assert_string_equal(buf_cstr(&b), "line2\n");
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	assert_true(buf_append_str(&b, "kept"));
	s = buf_steal(&b);
	assert_string_equal(s, "kept");
	assert_null(b.data);
	free(s);
	buf_finish(&b);
}

static void
test_large_appends_grow(void **state)
{
	Buf			b;
	char		chunk[1000];

	(void) state;
	memset(chunk, 'a', sizeof(chunk));
	buf_init(&b, 100000);
	for (int i = 0; i < 100; i++)
		assert_true(buf_append(&b, chunk, sizeof(chunk)));
	assert_false(buf_append(&b, chunk, 1));
	assert_int_equal(strlen(buf_cstr(&b)), 100000);
	buf_finish(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_up_to_max_then_refuse),
		cmocka_unit_test(test_consume_moves_rest_to_front),
		cmocka_unit_test(test_large_appends_grow),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
