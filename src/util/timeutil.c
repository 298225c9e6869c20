/*
 * timeutil.c — clocks and RFC 3339 formatting/parsing (see timeutil.h).
 */
#include "util/timeutil.h"

#include <stdio.h>
#include <time.h>

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's algorithm. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Inverse of days_from_civil (same source). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* The instants RFC 3339 can write: years 0000 to 9999. */
#define RFC3339_MIN_MS (-62167219200000LL)
#define RFC3339_MAX_MS (253402300799999LL)

char *time_fmt_rfc3339(char out[32], int64_t ms)
{
    /* Clamp rather than print garbage: gmtime_r fails (and leaves its
     * output undefined) for instants whose year does not fit an int, and a
     * five-digit year is not RFC 3339.  Pure arithmetic, no libc time. */
    if (ms < RFC3339_MIN_MS) ms = RFC3339_MIN_MS;
    if (ms > RFC3339_MAX_MS) ms = RFC3339_MAX_MS;
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000; /* 0 .. 86399999 */
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    unsigned msec = (unsigned)(rem % 1000), secs = (unsigned)(rem / 1000);
    /* the % 10000 and % 100 are no-ops that tell the compiler the widths */
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y % 10000u, mo % 100u, d % 100u,
             secs / 3600 % 100u, secs / 60 % 60, secs % 60, msec % 1000u);
    return out;
}

static int digits(const char *s, size_t len, size_t *i, int n, int *out)
{
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9') return -1;
        v = v * 10 + (s[*i] - '0');
        (*i)++;
    }
    *out = v;
    return 0;
}

static int expect(const char *s, size_t len, size_t *i, const char *set)
{
    if (*i >= len) return -1;
    for (const char *c = set; *c; c++)
        if (s[*i] == *c) {
            (*i)++;
            return 0;
        }
    return -1;
}

int time_parse_rfc3339(const char *s, size_t len, int64_t *out_ms)
{
    size_t i = 0;
    int y, mo, d, h, mi, se, ms = 0;
    if (digits(s, len, &i, 4, &y) || expect(s, len, &i, "-") || digits(s, len, &i, 2, &mo) ||
        expect(s, len, &i, "-") || digits(s, len, &i, 2, &d) || expect(s, len, &i, "Tt ") ||
        digits(s, len, &i, 2, &h) || expect(s, len, &i, ":") || digits(s, len, &i, 2, &mi) ||
        expect(s, len, &i, ":") || digits(s, len, &i, 2, &se))
        return -1;
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60) return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return -1;
    if (i < len && s[i] == '.') {
        i++;
        int nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (nd < 3) ms = ms * 10 + (s[i] - '0');
            nd++;
            i++;
        }
        if (nd == 0) return -1;
        while (nd < 3) {
            ms *= 10;
            nd++;
        }
    }
    int off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1, oh, om;
        i++;
        if (digits(s, len, &i, 2, &oh) || expect(s, len, &i, ":") || digits(s, len, &i, 2, &om))
            return -1;
        if (oh > 23 || om > 59) return -1;
        off = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (i != len) return -1;
    if (se == 60) se = 59; /* leap second: clamp */
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - (int64_t)off * 60;
    *out_ms = secs * 1000 + ms;
    return 0;
}
