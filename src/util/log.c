/*
 * log.c — JSON line logger (see log.h).
 *
 * Lines are built in a fixed thread-local array (no heap, nothing to free at
 * thread exit); a line longer than the array is cut and marked truncated.
 */
#include "util/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/timeutil.h"

#define LINE_MAX_BYTES 16384

typedef struct {
    char data[LINE_MAX_BYTES];
    size_t len;
    int truncated;
} line_t;

static log_level_t g_level = LOG_INFO;
static __thread const char *t_request_id;
static __thread const char *t_trace_id;
static __thread const char *t_traceparent;
static __thread line_t t_line;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(log_level_t lvl) { g_level = lvl; }
log_level_t log_get_level(void) { return g_level; }

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    return -1;
}

void log_set_context(const char *request_id, const char *trace_id)
{
    t_request_id = request_id;
    t_trace_id = trace_id;
}

void log_get_context(const char **request_id, const char **trace_id, const char **traceparent)
{
    *request_id = t_request_id;
    *trace_id = t_trace_id;
    *traceparent = t_traceparent;
}

void log_set_traceparent(const char *traceparent) { t_traceparent = traceparent; }
const char *log_traceparent(void) { return t_traceparent; }

/* room kept for the closing of a truncated line */
#define TAIL_RESERVE 48

static void put(line_t *l, const char *s, size_t n)
{
    if (l->truncated) return;
    size_t room = LINE_MAX_BYTES - TAIL_RESERVE - l->len;
    if (n > room) {
        n = room;
        l->truncated = 1;
    }
    memcpy(l->data + l->len, s, n);
    l->len += n;
}

static void puts_(line_t *l, const char *s) { put(l, s, strlen(s)); }

static void put_escaped(line_t *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && !l->truncated; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[6];
        switch (c) {
        case '"': put(l, "\\\"", 2); break;
        case '\\': put(l, "\\\\", 2); break;
        case '\n': put(l, "\\n", 2); break;
        case '\r': put(l, "\\r", 2); break;
        case '\t': put(l, "\\t", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                tmp[0] = '\\'; tmp[1] = 'u'; tmp[2] = '0'; tmp[3] = '0';
                tmp[4] = hex[c >> 4]; tmp[5] = hex[c & 15];
                put(l, tmp, 6);
            } else {
                put(l, (const char *)&s[i], 1);
            }
        }
    }
}

static void put_field(line_t *l, const char *key, const char *val)
{
    put(l, ",\"", 2);
    puts_(l, key);
    put(l, "\":\"", 3);
    put_escaped(l, val, strlen(val));
    put(l, "\"", 1);
}

static void line_start(line_t *l, log_level_t lvl)
{
    char ts[32];
    l->len = 0;
    l->truncated = 0;
    puts_(l, "{\"time\":\"");
    puts_(l, time_fmt_rfc3339(ts, time_now_ms()));
    puts_(l, "\",\"level\":\"");
    puts_(l, level_names[lvl]);
    put(l, "\"", 1);
    if (t_request_id) put_field(l, "request_id", t_request_id);
    if (t_trace_id) put_field(l, "trace_id", t_trace_id);
}

static void line_end(line_t *l)
{
    if (l->truncated) {
        /* a cut may leave us inside a string: close it and flag the line */
        const char *tail = "\",\"truncated\":true}\n";
        memcpy(l->data + l->len, tail, strlen(tail));
        l->len += strlen(tail);
    } else {
        memcpy(l->data + l->len, "}\n", 2);
        l->len += 2;
    }
    size_t off = 0;
    while (off < l->len) {
        ssize_t n = write(STDERR_FILENO, l->data + off, l->len - off);
        if (n <= 0) break;
        off += (size_t)n;
    }
}

void log_msg(log_level_t lvl, const char *component, const char *fmt, ...)
{
    if (lvl < g_level) return;
    line_t *l = &t_line;
    line_start(l, lvl);
    if (component) put_field(l, "component", component);
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    put(l, ",\"msg\":\"", 8);
    put_escaped(l, msg, (size_t)n);
    put(l, "\"", 1);
    line_end(l);
}

void log_raw_fields(log_level_t lvl, const char *fields, size_t len)
{
    if (lvl < g_level) return;
    line_t *l = &t_line;
    line_start(l, lvl);
    put(l, ",", 1);
    put(l, fields, len);
    line_end(l);
}
