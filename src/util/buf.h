/*
 * buf.h — a growable byte buffer with a hard cap (curl's dynbuf "toobig").
 *
 * Every buffer that grows from outside input has a maximum; an append past it
 * fails with -1 and leaves the buffer as it was, so the caller can answer 413
 * instead of growing without end.  The content is always NUL-terminated.
 */
#ifndef MERCATO_UTIL_BUF_H
#define MERCATO_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *ptr;  /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len; 0 means SIZE_MAX/2 */
} buf_t;

#define BUF_INIT(maxlen) ((buf_t){ NULL, 0, 0, (maxlen) })

/* 0 on success, -1 when the result would exceed max (buffer unchanged). */
int buf_append(buf_t *b, const void *data, size_t n);
int buf_puts(buf_t *b, const char *s);
int buf_putc(buf_t *b, char c);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Appends s as the inside of a JSON string (no quotes), escaping as needed. */
int buf_json_escape(buf_t *b, const char *s, size_t n);

void buf_reset(buf_t *b);  /* len = 0, keeps memory */
void buf_free(buf_t *b);   /* releases memory */
/* Hands the bytes to the caller (who frees them) and resets the buffer. */
char *buf_steal(buf_t *b, size_t *len_out);

#endif
