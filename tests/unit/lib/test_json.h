/*
 * tests/unit/lib/test_json.h
 *    Helpers the unit tests share (linked into every test binary from tests/unit/lib/).
 */
#ifndef BULWARK_TEST_JSON_H
#define BULWARK_TEST_JSON_H

#include <jansson.h>

/* test_json_parse: text parsed as JSON (a new reference); fails the running test when it does not parse. */
json_t *test_json_parse(const char *text);

#endif
