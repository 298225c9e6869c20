/*
 * timeutil.h — clocks and RFC 3339 time.
 *
 * Project-wide choice: time is stored as integer milliseconds since the Unix
 * epoch, UTC (SQLite INTEGER, PostgreSQL BIGINT), and shown to clients as
 * RFC 3339 UTC strings with millisecond precision ("2026-11-24T10:00:00.000Z").
 */
#ifndef MERCATO_UTIL_TIMEUTIL_H
#define MERCATO_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);       /* wall clock, ms since epoch */
int64_t time_mono_us(void);      /* monotonic clock, µs */
int64_t time_mono_ns(void);      /* monotonic clock, ns */

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars + NUL) into out; returns out. */
char *time_fmt_rfc3339(char out[32], int64_t ms);

/* Parses an RFC 3339 timestamp (any offset, optional fraction) to epoch ms.
 * 0 on success, -1 on malformed input. */
int time_parse_rfc3339(const char *s, size_t len, int64_t *out_ms);

#endif
