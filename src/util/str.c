/*
 * str.c — helpers for {ptr,len} slices.
 */
#include "util/str.h"

#include <limits.h>

bool str_eq_nocase(str_t a, str_t b)
{
    if (a.len != b.len) return false;
    for (size_t i = 0; i < a.len; i++) {
        unsigned char x = (unsigned char)a.ptr[i], y = (unsigned char)b.ptr[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        if (x != y) return false;
    }
    return true;
}

int str_to_i64(str_t s, long long *out)
{
    size_t i = 0;
    int neg = 0;
    unsigned long long v = 0;
    if (s.len == 0 || s.len > 20) return -1;
    if (s.ptr[0] == '-' || s.ptr[0] == '+') {
        neg = s.ptr[0] == '-';
        i = 1;
        if (s.len == 1) return -1;
    }
    for (; i < s.len; i++) {
        char c = s.ptr[i];
        if (c < '0' || c > '9') return -1;
        unsigned d = (unsigned)(c - '0');
        if (v > (ULLONG_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1) return -1;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX) return -1;
        *out = (long long)v;
    }
    return 0;
}
