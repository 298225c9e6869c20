/*
 * fuzz_cron.c — libFuzzer harness for src/jobs/cron.c.
 *
 * Why: cron expressions come from configuration and, later, from operators
 * over the admin API, so the parser reads untrusted bytes; and cron_next()
 * is calendar arithmetic, where off-by-one bugs hide at month, year and
 * century boundaries.
 *
 * DESIGN
 * The input is copied and NUL-terminated, then parsed.  A failed parse must
 * leave a message and a zeroed cron_t.  A successful one is run through
 * cron_next() from fixed timestamps chosen at awkward places (the epoch and
 * the millisecond before it, a leap day, the non-leap year 2100, an exact
 * minute boundary, mid-minute) and checked against a deliberately naive
 * reference that uses libc's gmtime_r() instead of cron.c's own calendar
 * code: it walks day by day and, on the first day that matches, minute by
 * minute.  The result must be the same slot (or -1 for both), strictly after
 * the start, at second 0, and inside the horizon.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/cron.h"

static const int64_t starts_ms[] = {
    0,                      /* 1970-01-01T00:00:00.000Z */
    -1,                     /* 1969-12-31T23:59:59.999Z */
    INT64_C(1709164799999), /* 2024-02-28T23:59:59.999Z, a leap day follows */
    INT64_C(4102443000000), /* 2099-12-31T23:30:00.000Z, 2100 is not leap */
    INT64_C(1956527940000), /* 2031-12-31T23:59:00.000Z, exactly on a minute */
    INT64_C(1773578096789), /* 2026-03-15T12:34:56.789Z */
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Does this day (days since the epoch) match, judged through gmtime_r? */
static int ref_day_matches(const cron_t *c, int64_t day)
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) abort();
    if (!((c->month >> (tm.tm_mon + 1)) & 1)) return 0;
    int dom_ok = (c->dom >> tm.tm_mday) & 1, dow_ok = (c->dow >> tm.tm_wday) & 1;
    return (c->dom_star || c->dow_star) ? dom_ok && dow_ok : dom_ok || dow_ok;
}

/* Is this epoch minute a slot of c? */
static int ref_slot_matches(const cron_t *c, int64_t minute)
{
    int64_t day = floor_div(minute, 1440);
    int rem = (int)(minute - day * 1440);
    return ref_day_matches(c, day) && ((c->hour >> (rem / 60)) & 1) && ((c->minute >> (rem % 60)) & 1);
}

/* The naive next slot, as an epoch minute, or -1 past the horizon. */
static int64_t ref_next_minute(const cron_t *c, int64_t after_ms)
{
    int64_t after_min = floor_div(after_ms, 60000);
    int64_t limit = after_min + (int64_t)CRON_HORIZON_DAYS * 1440;
    for (int64_t day = floor_div(after_min + 1, 1440); day * 1440 <= limit; day++) {
        if (!ref_day_matches(c, day)) continue;
        for (int h = 0; h < 24; h++) {
            if (!((c->hour >> h) & 1)) continue;
            for (int m = 0; m < 60; m++) {
                int64_t slot = day * 1440 + h * 60 + m;
                if (slot > after_min && ((c->minute >> m) & 1)) return slot <= limit ? slot : -1;
            }
        }
    }
    return -1;
}

static void check(int ok, const char *what, const char *expr, int64_t after, int64_t got, int64_t want)
{
    if (ok) return;
    fprintf(stderr, "fuzz_cron: %s\n  expr  \"%s\"\n  after %lld\n  got   %lld\n  want  %lld\n", what, expr,
            (long long)after, (long long)got, (long long)want);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024) return 0; /* the parser stops at CRON_EXPR_MAX anyway */
    char *expr = malloc(size + 1);
    if (!expr) return 0;
    memcpy(expr, data, size);
    expr[size] = '\0';

    cron_t c;
    char err[160];
    memset(err, 'x', sizeof err);
    if (cron_parse(&c, expr, err, sizeof err) < 0) {
        cron_t zero;
        memset(&zero, 0, sizeof zero);
        check(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL, "failed parse without a message", expr,
              0, 0, 0);
        check(memcmp(&c, &zero, sizeof c) == 0, "failed parse left a non-zero cron_t", expr, 0, 0, 0);
        free(expr);
        return 0;
    }
    check(strlen(expr) <= CRON_EXPR_MAX, "accepted an over-long expression", expr, 0, 0, 0);
    check(c.minute && c.hour && c.dom && c.month && c.dow, "accepted an empty field", expr, 0, 0, 0);
    check((c.minute >> 60) == 0 && (c.hour >> 24) == 0 && (c.dom & 1) == 0 && (c.month & 0xE001) == 0 &&
              (c.dow & 0x80) == 0,
          "bits outside a field's range", expr, 0, 0, 0);

    for (size_t i = 0; i < sizeof starts_ms / sizeof starts_ms[0]; i++) {
        int64_t after = starts_ms[i];
        int64_t got = cron_next(&c, after);
        int64_t want_min = ref_next_minute(&c, after);
        int64_t want = want_min < 0 ? -1 : want_min * 60000;
        check(got == want, "cron_next disagrees with the reference", expr, after, got, want);
        if (got < 0) continue;
        check(got > after, "result not after the start", expr, after, got, want);
        check(got % 60000 == 0, "result not on a minute", expr, after, got, want);
        check(ref_slot_matches(&c, got / 60000), "result is not a slot", expr, after, got, want);
        check(got - after <= (int64_t)CRON_HORIZON_DAYS * 86400000 + 60000, "result beyond the horizon", expr,
              after, got, want);
    }
    free(expr);
    return 0;
}
