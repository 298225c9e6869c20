/*
 * fuzz_live.c — libFuzzer harness for the live layer's client-facing
 * parsers and its SSE framing.
 *
 *   - Last-Event-ID (header or ?last_event_id=) and the notification cursor
 *     come from clients: they either refuse the bytes or yield a value that
 *     prints back to an accepted string with the same value;
 *   - an event with arbitrary type, subject and payload (split at NUL
 *     bytes) always formats to one SSE message: "id: " first, exactly one
 *     blank line, at the end, and no CR, so no content can end an event
 *     early or inject fields.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live/live.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int64_t v, back;
    char tmp[32];
    if (live_parse_event_id(s, size, &v) == 0) {
        if (v < 0) abort();
        int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
        if (live_parse_event_id(tmp, (size_t)n, &back) != 0 || back != v) abort();
    }
    if (live_parse_cursor(s, size, &v) == 0) {
        if (v <= 0) abort();
        int n = snprintf(tmp, sizeof tmp, "n%lld", (long long)v);
        if (live_parse_cursor(tmp, (size_t)n, &back) != 0 || back != v) abort();
    }

    /* type \0 subject \0 payload */
    char *copy = malloc(size + 3);
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = copy[size + 2] = '\0';
    const char *type = copy;
    const char *subject = type + strlen(type) + 1;
    if (subject > copy + size) subject = copy + size + 1;
    const char *payload = subject + strlen(subject) + 1;
    if (payload > copy + size + 1) payload = copy + size + 2;
    event_t ev = { .id = 42, .type = type, .subject = subject, .payload = payload, .created_at = 1700000000000 };
    buf_t b = BUF_INIT(0);
    live_sse_format(&b, &ev);
    if (b.len < 6 || strncmp(b.ptr, "id: 42\n", 7) != 0) abort();
    if (strcmp(b.ptr + b.len - 2, "\n\n") != 0) abort();
    char *blank = strstr(b.ptr, "\n\n");
    if (blank != b.ptr + b.len - 2) abort();
    if (memchr(b.ptr, '\r', b.len)) abort();
    buf_free(&b);
    free(copy);
    return 0;
}
