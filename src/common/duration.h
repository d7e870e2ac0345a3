/*
 * src/common/duration.h
 *    Durations of the cluster spec and the command line: int64 milliseconds in memory, Go-style strings in JSON
 *    and flags ("5s", "500ms", "1m30s", "1.5s", "48h"), so that specs read the same as Stolon's.
 *
 * Parsing accepts a sequence of <decimal number><unit> with units h, m, s, ms, us (or µs) and ns, and the bare
 * "0". It refuses signs, empty text, unknown units, values finer than a millisecond and values above
 * DURATION_MAX_MS. Formatting is Go's time.Duration.String() restricted to milliseconds: "0s", "500ms", "1.5s",
 * "1m30s", "1h0m0s", so a formatted duration parses back to the same value.
 */
#ifndef BULWARK_DURATION_H
#define BULWARK_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The largest duration: Go's maximum (2^63-1 ns) in whole milliseconds, so that every accepted value converts
 * to int64 nanoseconds (clock arithmetic) without overflow and is also a valid Go duration.
 */
#define DURATION_MAX_MS (INT64_MAX / 1000000)

/* Big enough for any formatted duration, sign included ("-2562047h47m16.854s"). */
#define DURATION_FORMAT_SIZE 32

/*
 * duration_parse: true and *out_ms set when text is a valid duration; false otherwise, with the reason in err
 * (lowercase, no full stop, e.g. `unknown unit "x"`) when err is not NULL. *out_ms is untouched on failure.
 */
bool duration_parse(const char *text, int64_t *out_ms, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * duration_format: writes the canonical form of ms into buf (size bytes, DURATION_FORMAT_SIZE is always enough)
 * and returns buf. Negative values get a leading '-' (for logs; duration_parse refuses them).
 */
char *duration_format(int64_t ms, char *buf, size_t size);

#endif
