/*
 * buf.c — capped growable buffer (see buf.h).
 */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

static size_t limit(const buf_t *b)
{
    return b->max ? b->max : ((size_t)-1) / 2;
}

static int reserve(buf_t *b, size_t extra)
{
    if (extra > limit(b) - b->len) return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need) nc *= 2;
    b->ptr = xrealloc(b->ptr, nc);
    b->cap = nc;
    return 0;
}

int buf_append(buf_t *b, const void *data, size_t n)
{
    if (reserve(b, n) < 0) return -1;
    if (n) memcpy(b->ptr + b->len, data, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int buf_puts(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(buf_t *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap2);
    va_end(ap2);
    if (n < 0) return -1;
    if ((size_t)n < sizeof tmp) return buf_append(b, tmp, (size_t)n);
    if (reserve(b, (size_t)n) < 0) return -1;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int buf_json_escape(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        char u[7];
        switch (c) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
                u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = 0;
                rep = u;
            }
        }
        if (rep) {
            if (buf_append(b, s + start, i - start) < 0) return -1;
            if (buf_puts(b, rep) < 0) return -1;
            start = i + 1;
        }
    }
    return buf_append(b, s + start, n - start);
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->ptr) b->ptr[0] = '\0';
}

void buf_free(buf_t *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

char *buf_steal(buf_t *b, size_t *len_out)
{
    if (!b->ptr) {
        /* nothing appended yet: hand out an empty string, not raw heap */
        if (reserve(b, 0) < 0) return NULL;
        b->ptr[0] = '\0';
    }
    char *p = b->ptr;
    if (len_out) *len_out = b->len;
    b->ptr = NULL;
    b->len = b->cap = 0;
    return p;
}
