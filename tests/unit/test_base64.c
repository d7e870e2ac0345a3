/*
 * tests/unit/test_base64.c
 *    Base64 as etcd's gateway speaks it: RFC 4648 vectors, binary round trips of every length, and the strict
 *    decoder refusing everything that is not a canonical encoding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

typedef struct Vector
{
	const char *plain;
	const char *encoded;
} Vector;

static void
test_rfc4648_and_etcd_vectors_encode_and_decode(void **state)
{
	static const Vector vectors[] = {
		{"", ""},
		{"f", "Zg=="},
		{"fo", "Zm8="},
		{"foo", "Zm9v"},
		{"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
		{"/stolon/cluster/c1/keepers/k1", "L3N0b2xvbi9jbHVzdGVyL2MxL2tlZXBlcnMvazE="},
		{"{\"uid\":\"k2b\"}", "eyJ1aWQiOiJrMmIifQ=="},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
	{
		char	   *enc = base64_encode(vectors[i].plain, strlen(vectors[i].plain));
		char	   *dec;
		size_t		len;

		assert_non_null(enc);
		assert_string_equal(enc, vectors[i].encoded);
		assert_int_equal(base64_encoded_len(strlen(vectors[i].plain)), strlen(enc));
		free(enc);

		assert_true(base64_decode(vectors[i].encoded, strlen(vectors[i].encoded), &dec, &len));
		assert_int_equal(len, strlen(vectors[i].plain));
		assert_memory_equal(dec, vectors[i].plain, len);
		assert_int_equal(dec[len], '\0');
		free(dec);
	}
}

static void
test_binary_bytes_of_every_length_round_trip(void **state)
{
	unsigned char data[300];

	(void) state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char) (i * 37 + 11);	/* all byte values, NUL and 0xff included */
	data[0] = 0x00;
	data[1] = 0xff;
	for (size_t n = 0; n <= sizeof(data); n++)
	{
		char	   *enc = base64_encode(data, n);
		char	   *dec;
		size_t		len;

		assert_non_null(enc);
		assert_int_equal(strlen(enc) % 4, 0);
		assert_true(base64_decode(enc, strlen(enc), &dec, &len));
		assert_int_equal(len, n);
		if (n > 0)
			assert_memory_equal(dec, data, n);
		free(dec);
		free(enc);
	}
}

static void
test_decoder_rejects_non_canonical_or_foreign_text(void **state)
{
	static const char *const bad[] = {
		"Zg",			/* no padding */
		"Zg=",			/* short padding */
		"Z===",			/* three padding characters */
		"====",			/* padding only */
		"Zm8=Zm8=",		/* padding in the middle */
		"Zh==",			/* bits beyond the last byte are not zero */
		"Zm9=",			/* same, with one padding character */
		"Zm9v\n",		/* whitespace */
		"Zm 9v",
		"Zm-_",			/* the URL-safe alphabet */
		"Zm9\x80",		/* non-ASCII */
		"=Zm9",			/* padding first */
		"Zm=v",			/* padding inside the last group */
	};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		char	   *dec = (char *) 1;
		size_t		len = 99;

		assert_false(base64_decode(bad[i], strlen(bad[i]), &dec, &len));
		assert_null(dec);
		assert_int_equal(len, 0);
	}
}

static void
test_decoder_stops_at_the_given_length_and_rejects_embedded_nul(void **state)
{
	char	   *dec;
	size_t		len;

	(void) state;
	/* the length decides, not a NUL: "Zm9vXXXX" cut at 4 is "foo" */
	assert_true(base64_decode("Zm9vXXXX", 4, &dec, &len));
	assert_int_equal(len, 3);
	assert_string_equal(dec, "foo");
	free(dec);
	assert_false(base64_decode("Zm9v\0AAA", 8, &dec, &len));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_and_etcd_vectors_encode_and_decode),
		cmocka_unit_test(test_binary_bytes_of_every_length_round_trip),
		cmocka_unit_test(test_decoder_rejects_non_canonical_or_foreign_text),
		cmocka_unit_test(test_decoder_stops_at_the_given_length_and_rejects_embedded_nul),
	};

	return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
