/*
 * str.h — a string slice {ptr,len}, not necessarily NUL-terminated.
 *
 * Slices borrow memory from whoever owns the bytes (usually a request arena).
 */
#ifndef MERCATO_UTIL_STR_H
#define MERCATO_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct str {
    const char *ptr;
    size_t len;
} str_t;

#define STR_LIT(s) ((str_t){ (s), sizeof(s) - 1 })
#define STR_NULL ((str_t){ NULL, 0 })

static inline str_t str_from(const char *s)
{
    return (str_t){ s, s ? strlen(s) : 0 };
}

static inline bool str_eq(str_t a, str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool str_eq_cstr(str_t a, const char *b)
{
    return str_eq(a, str_from(b));
}

/* ASCII case-insensitive comparison. */
bool str_eq_nocase(str_t a, str_t b);

/* Parse a base-10 signed integer occupying the whole slice; 0 ok, -1 otherwise
 * (empty, junk, overflow). */
int str_to_i64(str_t s, long long *out);

#endif
