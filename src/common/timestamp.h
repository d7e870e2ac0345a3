/*
 * src/common/timestamp.h
 *    Wall-clock times of the cluster data (changeTime, lastHealthyTime): int64 milliseconds since the Unix epoch
 *    in memory, RFC 3339 UTC text with milliseconds in JSON ("2026-03-01T12:00:05.250Z").
 *
 * These times are for people and for coarse rules such as dead keeper removal. Liveness and failover timing
 * never compare wall clocks across hosts (docs/design.md section 3); they use each process's monotonic clock.
 */
#ifndef BULWARK_TIMESTAMP_H
#define BULWARK_TIMESTAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" and its NUL. */
#define TIMESTAMP_FORMAT_SIZE 25

/* The representable range: years 0001 to 9999, as RFC 3339 requires four-digit years. */
#define TIMESTAMP_MIN_MS (-62135596800000LL)	/* 0001-01-01T00:00:00.000Z */
#define TIMESTAMP_MAX_MS (253402300799999LL)	/* 9999-12-31T23:59:59.999Z */

/*
 * timestamp_monotonic_ms: CLOCK_MONOTONIC in milliseconds: what every timer, deadline and liveness judgement
 * uses (it never jumps with the wall clock); meaningless across hosts and processes' boots.
 */
int64_t timestamp_monotonic_ms(void);

/* timestamp_now_ms: the current wall-clock time (CLOCK_REALTIME) in milliseconds since the epoch. */
int64_t timestamp_now_ms(void);

/*
 * timestamp_format: writes ms as RFC 3339 UTC with exactly three fraction digits into buf (size bytes,
 * TIMESTAMP_FORMAT_SIZE is enough) and returns buf. Values outside the representable range are clamped to it.
 */
char *timestamp_format(int64_t ms, char *buf, size_t size);

/*
 * timestamp_parse: true and *out_ms set for an RFC 3339 date-time ("T" or "t" separator, "Z" or a +hh:mm/-hh:mm
 * offset, any number of fraction digits, truncated to milliseconds); false for anything else, *out_ms untouched.
 */
bool timestamp_parse(const char *text, int64_t *out_ms) __attribute__((warn_unused_result));

#endif
