/*
 * fuzz_rfc3339.c — libFuzzer harness for RFC 3339 time parsing/formatting.
 *
 * Timestamps arrive from clients (filters, webhooks) and are shown back as
 * RFC 3339 UTC strings.  The harness checks both directions:
 *   - any bytes: time_parse_rfc3339 either refuses them or yields an
 *     instant that formats to a 24-character UTC string which parses back
 *     to the same instant (when the instant is within years 0000-9999);
 *   - the first 8 bytes as an arbitrary millisecond count: formatting
 *     always gives a well-formed string that parses (values outside the
 *     representable years clamp to the first or last millisecond).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

#define MIN_MS (-62167219200000LL)   /* 0000-01-01T00:00:00.000Z */
#define MAX_MS (253402300799999LL)   /* 9999-12-31T23:59:59.999Z */

static void fmt_parse(int64_t ms)
{
    char s[32];
    time_fmt_rfc3339(s, ms);
    if (strlen(s) != 24 || s[23] != 'Z' || s[10] != 'T') abort();
    int64_t back;
    if (time_parse_rfc3339(s, 24, &back) != 0) abort();
    int64_t want = ms < MIN_MS ? MIN_MS : ms > MAX_MS ? MAX_MS : ms;
    if (back != want) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t ms;
    if (time_parse_rfc3339((const char *)data, size, &ms) == 0) {
        if (ms >= MIN_MS && ms <= MAX_MS) fmt_parse(ms);
    }
    if (size >= 8) {
        uint64_t raw;
        memcpy(&raw, data, 8);
        fmt_parse((int64_t)raw);
    }
    return 0;
}
