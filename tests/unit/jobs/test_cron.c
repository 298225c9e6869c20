/*
 * test_cron.c — unit tests for the cron expression parser and next-slot
 * search (src/jobs/cron.c).
 *
 * Why: a recurring job that fires on the wrong day, twice, or never is a
 * silent bug, so every rule in cron.h has a case with an exact expected time.
 *
 * DESIGN
 * Most cases are table rows "expression, after, want" written as RFC 3339
 * strings so a failure reads like a calendar; each table reports every bad
 * row before failing.  A few rows use raw epoch numbers (taken from
 * `date -u +%s`) so the tests do not depend on timeutil alone.  Beyond the
 * tables, sequences of consecutive slots are checked against rules counted
 * independently (every leap day from 1970, every hour of a year), and a
 * randomised comparison runs cron_next() against a naive gmtime_r() walk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "jobs/cron.h"
#include "util/timeutil.h"

typedef struct next_case {
    const char *expr;
    const char *after; /* RFC 3339 */
    const char *want;  /* RFC 3339, or NULL for "no slot" (-1) */
} next_case_t;

static int64_t ts(const char *s)
{
    int64_t ms;
    if (time_parse_rfc3339(s, strlen(s), &ms) < 0) fail_msg("bad timestamp in test: %s", s);
    return ms;
}

static void run_next_cases(const next_case_t *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const next_case_t *t = &cases[i];
        cron_t c;
        char err[128];
        if (cron_parse(&c, t->expr, err, sizeof err) < 0) {
            print_error("\"%s\": unexpected parse error: %s\n", t->expr, err);
            bad++;
            continue;
        }
        int64_t got = cron_next(&c, ts(t->after));
        char gs[32], ws[32];
        int64_t want = t->want ? ts(t->want) : -1;
        if (got != want) {
            print_error("\"%s\" after %s: got %s, want %s\n", t->expr, t->after,
                        got < 0 ? "-1" : time_fmt_rfc3339(gs, got), want < 0 ? "-1" : time_fmt_rfc3339(ws, want));
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

#define RUN_CASES(tbl) run_next_cases((tbl), sizeof(tbl) / sizeof((tbl)[0]))

static void test_next_minutes_and_hours(void **state)
{
    static const next_case_t cases[] = {
        /* strictly after, at second 0 */
        { "* * * * *", "2026-03-15T12:34:56.789Z", "2026-03-15T12:35:00.000Z" },
        { "* * * * *", "2026-03-15T12:34:00.000Z", "2026-03-15T12:35:00.000Z" },
        { "* * * * *", "2026-03-15T12:33:59.999Z", "2026-03-15T12:34:00.000Z" },
        { "* * * * *", "2026-12-31T23:59:00.000Z", "2027-01-01T00:00:00.000Z" },
        /* steps and lists */
        { "*/15 * * * *", "2026-01-01T00:46:00Z", "2026-01-01T01:00:00Z" },
        { "*/15 * * * *", "2026-01-01T00:29:59Z", "2026-01-01T00:30:00Z" },
        { "5/20 * * * *", "2026-01-01T00:45:00Z", "2026-01-01T01:05:00Z" },
        { "5/20 * * * *", "2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z" },
        { "10-30/10 * * * *", "2026-01-01T00:30:00Z", "2026-01-01T01:10:00Z" },
        { "0,59 0,23 * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:59:00Z" },
        { "0,59 0,23 * * *", "2026-01-01T00:59:00Z", "2026-01-01T23:00:00Z" },
        { "0,59 0,23 * * *", "2026-01-01T23:59:00Z", "2026-01-02T00:00:00Z" },
        { "*/15 9-17 * * *", "2026-01-01T17:45:00Z", "2026-01-02T09:00:00Z" },
        { "30 */6 * * *", "2026-01-01T18:30:00Z", "2026-01-02T00:30:00Z" },
        { "0 1/5 * * *", "2026-01-01T21:00:00Z", "2026-01-02T01:00:00Z" }, /* 1,6,11,16,21 */
        { "30 2 * * *", "2026-03-15T02:30:00.001Z", "2026-03-16T02:30:00Z" },
        { "30 2 * * *", "2026-03-15T02:29:59.999Z", "2026-03-15T02:30:00Z" },
        /* a later minute in the current hour is found before the next hour */
        { "15,45 10,11 * * *", "2026-03-15T10:20:00Z", "2026-03-15T10:45:00Z" },
        { "15,45 10,11 * * *", "2026-03-15T10:50:00Z", "2026-03-15T11:15:00Z" },
    };
    RUN_CASES(cases);
}

static void test_next_days_months_years(void **state)
{
    static const next_case_t cases[] = {
        { "0 * * * *", "2026-12-31T23:00:00Z", "2027-01-01T00:00:00Z" },
        { "59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z" },
        { "0 0 1 1 *", "2099-06-01T00:00:00Z", "2100-01-01T00:00:00Z" },
        { "0 0 31 * *", "2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z" },  /* skips February */
        { "0 0 31 * *", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z" },  /* skips June */
        { "0 0 1 */3 *", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z" },
        { "0 0 1 */3 *", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z" },
        { "0 0 15 2-11/3 *", "2026-02-15T00:00:00Z", "2026-05-15T00:00:00Z" },
        { "0 0 1,15 * *", "2026-02-28T12:00:00Z", "2026-03-01T00:00:00Z" },
        /* leap years */
        { "0 0 29 2 *", "2024-01-01T00:00:00Z", "2024-02-29T00:00:00Z" },
        { "0 0 29 2 *", "2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z" },
        { "0 0 29 2 *", "2099-03-01T00:00:00Z", "2104-02-29T00:00:00Z" }, /* 2100 is not leap */
        { "0 0 29 2 *", "2097-03-01T00:00:00Z", NULL },                    /* 2104 is 7 years away */
        { "0 0 29 2 *", "1999-03-01T00:00:00Z", "2000-02-29T00:00:00Z" }, /* 2000 is leap */
        { "0 0 28-31 2 *", "2100-02-28T00:00:00Z", "2101-02-28T00:00:00Z" },
        { "0 0 28-31 2 *", "2024-02-28T00:00:00Z", "2024-02-29T00:00:00Z" },
        { "0 0 * 3 *", "2024-02-28T00:00:00Z", "2024-03-01T00:00:00Z" },
    };
    RUN_CASES(cases);

    static const next_case_t never[] = {
        { "0 0 30 2 *", "2026-01-01T00:00:00Z", NULL },
        { "0 0 31 2 *", "2026-01-01T00:00:00Z", NULL },
        { "0 0 31 4,6,9,11 *", "2026-01-01T00:00:00Z", NULL },
        { "0 0 30,31 FEB *", "2024-01-01T00:00:00Z", NULL },
    };
    RUN_CASES(never);
}

static void test_next_day_of_week_and_or_rule(void **state)
{
    /* March 2026: the 1st is a Sunday, Mondays are 2, 9, 16, 23, 30 */
    static const next_case_t cases[] = {
        { "0 12 * * 1", "2026-03-28T00:00:00Z", "2026-03-30T12:00:00Z" },
        { "0 12 * * MON", "2026-03-30T12:00:00Z", "2026-04-06T12:00:00Z" },
        { "0 0 * * SAT", "2026-12-31T00:00:00Z", "2027-01-02T00:00:00Z" },
        { "0 0 * * 7", "2026-03-02T00:00:00Z", "2026-03-08T00:00:00Z" }, /* 7 = Sunday */
        { "0 0 * * 0", "2026-03-02T00:00:00Z", "2026-03-08T00:00:00Z" },
        { "0 0 * * 5-7", "2026-03-02T00:00:00Z", "2026-03-06T00:00:00Z" },
        { "0 0 * * 5-7", "2026-03-07T00:00:00Z", "2026-03-08T00:00:00Z" },
        { "0 0 * * 5-7", "2026-03-08T00:00:00Z", "2026-03-13T00:00:00Z" },
        { "0 0 * * FRI-SUN", "2026-03-08T00:00:00Z", "2026-03-13T00:00:00Z" },
        { "*/15 9-17 * * MON-FRI", "2026-03-13T17:45:00Z", "2026-03-16T09:00:00Z" },
        /* both restricted: day 1 OR Monday */
        { "0 12 1 * 1", "2026-02-25T00:00:00Z", "2026-03-01T12:00:00Z" }, /* the 1st, a Sunday */
        { "0 12 1 * 1", "2026-03-01T12:00:00Z", "2026-03-02T12:00:00Z" }, /* a Monday */
        { "0 12 1 * 1", "2026-03-28T00:00:00Z", "2026-03-30T12:00:00Z" },
        { "0 12 1 * 1", "2026-03-30T12:00:00Z", "2026-04-01T12:00:00Z" }, /* a Wednesday */
        /* the classic surprise: "first Monday" written this way is days 1-7 OR any Monday */
        { "0 0 1-7 * 1", "2026-06-07T00:00:00Z", "2026-06-08T00:00:00Z" },
        { "0 0 1-7 * 1", "2026-06-08T00:00:00Z", "2026-06-15T00:00:00Z" },
        /* a stepped star counts as unrestricted (Vixie): odd days AND Mondays */
        { "0 12 */2 * MON", "2026-03-01T00:00:00Z", "2026-03-09T12:00:00Z" },
        { "0 12 */2 * MON", "2026-03-09T12:00:00Z", "2026-03-23T12:00:00Z" },
        /* the 1st AND Sun/Tue/Thu/Sat: Apr 1 is a Wed, May 1 a Fri, Jun 1 a Mon, Jul 1 a Wed */
        { "0 12 1 * */2", "2026-03-01T12:00:00Z", "2026-08-01T12:00:00Z" },
        /* a restricted month with both day fields restricted: Fridays in Feb 2026 are 6, 13, 20, 27 */
        { "0 0 13 FEB FRI", "2026-01-01T00:00:00Z", "2026-02-06T00:00:00Z" },
        { "0 0 13 FEB FRI", "2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z" },
        { "0 0 13 FEB FRI", "2026-02-27T00:00:00Z", "2027-02-05T00:00:00Z" },
    };
    RUN_CASES(cases);
}

static void test_next_names_and_macros(void **state)
{
    static const char *after = "2026-03-15T12:34:56.789Z"; /* a Sunday */
    const next_case_t cases[] = {
        { "0 9 * JAN,jul Mon-fri", after, "2026-07-01T09:00:00Z" },
        { "0 0 1 jan-MAR/2 *", after, "2027-01-01T00:00:00Z" },
        { "0 0 1 Dec *", after, "2026-12-01T00:00:00Z" },
        { "@yearly", after, "2027-01-01T00:00:00Z" },
        { "@annually", after, "2027-01-01T00:00:00Z" },
        { "@monthly", after, "2026-04-01T00:00:00Z" },
        { "@weekly", after, "2026-03-22T00:00:00Z" },
        { "@daily", after, "2026-03-16T00:00:00Z" },
        { "@midnight", after, "2026-03-16T00:00:00Z" },
        { "@hourly", after, "2026-03-15T13:00:00Z" },
        { "@HOURLY", after, "2026-03-15T13:00:00Z" },
        { "  @daily\t", after, "2026-03-16T00:00:00Z" },
        { "\t0  12\t* *   *  ", after, "2026-03-16T12:00:00Z" },
    };
    RUN_CASES(cases);
}

/* Raw epoch numbers from `date -u -d ... +%s`, independent of timeutil. */
static void test_next_raw_epoch(void **state)
{
    cron_t c;
    assert_int_equal(cron_parse(&c, "0 0 29 2 *", NULL, 0), 0);
    assert_true(cron_next(&c, INT64_C(1704067200000)) == INT64_C(1709164800000)); /* 2024-01-01 -> 2024-02-29 */
    assert_int_equal(cron_parse(&c, "0 0 1 1 *", NULL, 0), 0);
    assert_true(cron_next(&c, -1) == 0);                  /* 1969-12-31T23:59:59.999 -> the epoch */
    assert_true(cron_next(&c, -86400000) == 0);           /* 1969-12-31 -> the epoch */
    assert_true(cron_next(&c, 0) == INT64_C(31536000000)); /* 1971-01-01 */
    assert_int_equal(cron_parse(&c, "* * * * *", NULL, 0), 0);
    assert_true(cron_next(&c, 59999) == 60000);
    assert_true(cron_next(&c, 60000) == 120000);
    assert_true(cron_next(&c, -60001) == -60000);
    /* outside years 1-9999 */
    assert_true(cron_next(&c, INT64_MAX) == -1);
    assert_true(cron_next(&c, INT64_MIN) == -1);
    assert_true(cron_next(&c, INT64_C(253402300800000)) == -1);
    assert_true(cron_next(&c, INT64_C(253402300799999)) == INT64_C(253402300800000));
    /* a zeroed cron_t has no slot and must not loop */
    cron_t zero;
    memset(&zero, 0, sizeof zero);
    assert_true(cron_next(&zero, 0) == -1);
}

/* Every Feb 29 from 1970 to 2400, in order, and nothing else.  The 8-year
 * gaps around 2100, 2200 and 2300 are longer than the horizon: there the
 * search must say -1, and the chain restarts on January 1st. */
static void test_sequence_leap_days(void **state)
{
    cron_t c;
    assert_int_equal(cron_parse(&c, "0 0 29 2 *", NULL, 0), 0);
    int64_t t = 0;
    int count = 0, restarts = 0, prev = 1968;
    for (int y = 1970; y < 2400; y++) {
        if (!((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) continue;
        char want[32], got[32];
        snprintf(want, sizeof want, "%04d-02-29T00:00:00.000Z", y);
        if (y - prev > 4) {
            assert_true(cron_next(&c, t) == -1);
            snprintf(got, sizeof got, "%04d-01-01T00:00:00Z", y);
            t = ts(got);
            restarts++;
        }
        prev = y;
        t = cron_next(&c, t);
        assert_true(t > 0);
        assert_string_equal(time_fmt_rfc3339(got, t), want);
        count++;
    }
    assert_int_equal(count, 104); /* 430 years: 107 multiples of 4, minus 2100, 2200, 2300 */
    assert_int_equal(restarts, 3);
}

/* Consecutive slots: "* * * * *" is every minute; "@hourly" gives exactly
 * 8784 slots in the leap year 2024; a working-hours schedule 2260 in 2026. */
static void test_sequence_counts(void **state)
{
    cron_t c;
    assert_int_equal(cron_parse(&c, "* * * * *", NULL, 0), 0);
    int64_t t = ts("2024-02-28T23:00:00Z");
    for (int i = 0; i < 3000; i++) {
        int64_t n = cron_next(&c, t);
        assert_true(n == t + 60000);
        t = n;
    }

    assert_int_equal(cron_parse(&c, "@hourly", NULL, 0), 0);
    int64_t end = ts("2025-01-01T00:00:00Z");
    t = ts("2024-01-01T00:00:00Z") - 1;
    int count = 0;
    while ((t = cron_next(&c, t)) < end) count++;
    assert_int_equal(count, 366 * 24);

    /* 2026 has 261 weekdays; 9:00-16:00 on the hour is 8 slots a day */
    assert_int_equal(cron_parse(&c, "0 9-16 * * MON-FRI", NULL, 0), 0);
    end = ts("2027-01-01T00:00:00Z");
    t = ts("2026-01-01T00:00:00Z") - 1;
    count = 0;
    while ((t = cron_next(&c, t)) < end) count++;
    assert_int_equal(count, 261 * 8);
}

/* ---- randomised comparison with a naive reference ---- */

static int ref_day_matches(const cron_t *c, int64_t day)
{
    time_t tt = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (!((c->month >> (tm.tm_mon + 1)) & 1)) return 0;
    int dom_ok = (c->dom >> tm.tm_mday) & 1, dow_ok = (c->dow >> tm.tm_wday) & 1;
    return (c->dom_star || c->dow_star) ? dom_ok && dow_ok : dom_ok || dow_ok;
}

static int64_t ref_next(const cron_t *c, int64_t after_ms)
{
    int64_t after_min = after_ms / 60000; /* after_ms >= 0 here */
    int64_t limit = after_min + (int64_t)CRON_HORIZON_DAYS * 1440;
    for (int64_t day = (after_min + 1) / 1440; day * 1440 <= limit; day++) {
        if (!ref_day_matches(c, day)) continue;
        for (int64_t m = day * 1440; m < day * 1440 + 1440; m++)
            if (m > after_min && ((c->hour >> (m % 1440 / 60)) & 1) && ((c->minute >> (m % 60)) & 1))
                return m <= limit ? m * 60000 : -1;
    }
    return -1;
}

static void test_next_matches_reference(void **state)
{
    static const char *exprs[] = {
        "* * * * *",          "*/7 * * * *",         "59 23 * * *",        "0 0 1 * *",
        "0 0 31 * *",         "0 0 29 2 *",          "0 0 30 2 *",         "15 3 * * 0",
        "0 12 13 * 5",        "0 0 1-7 * MON",       "0 12 */2 * MON",     "*/10 8-18/2 * 3-9 1-5",
        "30 6 1,15,28-31 * *",        "0 0 28-31 2 *",       "0 */5 1,15,31 * 7",  "0 0 * FEB,AUG SAT,SUN",
        "1/17 2/9 3/11 4/5 *", "0 0 31 DEC 6",       "@weekly",            "@monthly",
    };
    uint64_t rng = 0x9E3779B97F4A7C15u;
    int bad = 0, compared = 0;
    for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++) {
        cron_t c;
        char err[128];
        if (cron_parse(&c, exprs[e], err, sizeof err) < 0) fail_msg("\"%s\": %s", exprs[e], err);
        for (int i = 0; i < 40; i++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            int64_t after = (int64_t)(rng % UINT64_C(7258118400000)); /* 1970 .. 2200 */
            int64_t got = cron_next(&c, after), want = ref_next(&c, after);
            compared++;
            if (got != want) {
                char a[32], g[32], w[32];
                print_error("\"%s\" after %s: got %s, want %s\n", exprs[e], time_fmt_rfc3339(a, after),
                            got < 0 ? "-1" : time_fmt_rfc3339(g, got), want < 0 ? "-1" : time_fmt_rfc3339(w, want));
                bad++;
            }
        }
    }
    assert_int_equal(bad, 0);
    assert_int_equal(compared, 20 * 40);
}

/* ---- parsing ---- */

static void test_parse_bits(void **state)
{
    cron_t c;
    char err[128];
    assert_int_equal(cron_parse(&c, "*/15 1-10/3 * * *", err, sizeof err), 0);
    assert_true(c.minute == ((UINT64_C(1) << 0) | (UINT64_C(1) << 15) | (UINT64_C(1) << 30) | (UINT64_C(1) << 45)));
    assert_int_equal(c.hour, (1u << 1) | (1u << 4) | (1u << 7) | (1u << 10));
    assert_int_equal(c.dom, 0xFFFFFFFEu);
    assert_int_equal(c.month, 0x1FFE);
    assert_int_equal(c.dow, 0x7F);
    assert_true(c.dom_star && c.dow_star);

    assert_int_equal(cron_parse(&c, "5/20 0 */2 * 5-7", err, sizeof err), 0);
    assert_true(c.minute == ((UINT64_C(1) << 5) | (UINT64_C(1) << 25) | (UINT64_C(1) << 45)));
    assert_int_equal(c.dom, 0xAAAAAAAAu); /* 1, 3, ..., 31 */
    assert_int_equal(c.dow, (1u << 5) | (1u << 6) | (1u << 0));
    assert_true(c.dom_star);
    assert_false(c.dow_star);

    /* day-of-week: '*' and a/s stop at 6; 7 only where written */
    assert_int_equal(cron_parse(&c, "0 0 1 * 1/2", err, sizeof err), 0);
    assert_int_equal(c.dow, (1u << 1) | (1u << 3) | (1u << 5));
    assert_false(c.dom_star || c.dow_star);
    assert_int_equal(cron_parse(&c, "0 0 * * */2", err, sizeof err), 0);
    assert_int_equal(c.dow, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 6));
    assert_int_equal(cron_parse(&c, "0 0 * * 0-7/7", err, sizeof err), 0);
    assert_int_equal(c.dow, 1u << 0);
    assert_int_equal(cron_parse(&c, "0 0 * * 7", err, sizeof err), 0);
    assert_int_equal(c.dow, 1u << 0);

    /* names, any case, in lists and ranges; month a/s runs to 12 */
    assert_int_equal(cron_parse(&c, "0 0 * feb,Jun-AUG,12 sun,Wed-fRi", err, sizeof err), 0);
    assert_int_equal(c.month, (1u << 2) | (1u << 6) | (1u << 7) | (1u << 8) | (1u << 12));
    assert_int_equal(c.dow, (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5));
    assert_int_equal(cron_parse(&c, "0 0 * * FRI-SUN", err, sizeof err), 0);
    assert_int_equal(c.dow, (1u << 5) | (1u << 6) | (1u << 0));
    assert_int_equal(cron_parse(&c, "0 0 * * SUN-SAT", err, sizeof err), 0);
    assert_int_equal(c.dow, 0x7F);
    assert_int_equal(cron_parse(&c, "0 0 * 10/2 *", err, sizeof err), 0);
    assert_int_equal(c.month, (1u << 10) | (1u << 12));

    /* a macro is exactly its expansion */
    cron_t m;
    assert_int_equal(cron_parse(&m, "@weekly", err, sizeof err), 0);
    assert_int_equal(cron_parse(&c, "0 0 * * 0", err, sizeof err), 0);
    assert_memory_equal(&m, &c, sizeof c);
    assert_int_equal(cron_parse(&m, "@Annually", err, sizeof err), 0);
    assert_int_equal(cron_parse(&c, "0 0 1 1 *", err, sizeof err), 0);
    assert_memory_equal(&m, &c, sizeof c);

    /* exactly CRON_EXPR_MAX bytes is still fine */
    char longest[CRON_EXPR_MAX + 1];
    memset(longest, ' ', CRON_EXPR_MAX);
    memcpy(longest, "* * * * *", 9);
    longest[CRON_EXPR_MAX] = '\0';
    assert_int_equal(cron_parse(&c, longest, err, sizeof err), 0);
}

static void test_parse_errors(void **state)
{
    static const struct {
        const char *expr, *msg;
    } cases[] = {
        { "", "cron expression is empty" },
        { " \t ", "cron expression is empty" },
        { "* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4" },
        { "* * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 6" },
        { "61 * * * *", "minute field: 61 is out of range 0-59" },
        { "* 24 * * *", "hour field: 24 is out of range 0-23" },
        { "* * 0 * *", "day-of-month field: 0 is out of range 1-31" },
        { "* * 32 * *", "day-of-month field: 32 is out of range 1-31" },
        { "* * * 0 *", "month field: 0 is out of range 1-12" },
        { "* * * 13 *", "month field: 13 is out of range 1-12" },
        { "* * * * 8", "day-of-week field: 8 is out of range 0-7" },
        { "1-60 * * * *", "minute field: 60 is out of range 0-59" },
        { "99999999999999999999 * * * *", "minute field: 9999999999999999... is out of range 0-59" },
        { "1,,2 * * * *", "minute field: empty item in list" },
        { ",1 * * * *", "minute field: empty item in list" },
        { "1, * * * *", "minute field: empty item in list" },
        { "* * * * 1,", "day-of-week field: empty item in list" },
        { "5-2 * * * *", "minute field: range 5-2 is reversed" },
        { "* * * DEC-JAN *", "month field: range 12-1 is reversed" },
        { "* * * * 5-0", "day-of-week field: range 5-0 is reversed" },
        { "* * * * SAT-MON", "day-of-week field: range 6-1 is reversed" },
        { "1- * * * *", "minute field: range is missing its end" },
        { "*/0 * * * *", "minute field: step 0 is not allowed" },
        { "* 1-5/0 * * *", "hour field: step 0 is not allowed" },
        { "*/ * * * *", "minute field: '/' must be followed by a step number" },
        { "*/x * * * *", "minute field: '/' must be followed by a step number" },
        { "*/60 * * * *", "minute field: step 60 is out of range 1-59" },
        { "* * * */13 *", "month field: step 13 is out of range 1-12" },
        { "5x * * * *", "minute field: unexpected character 'x'" },
        { "5/2/3 * * * *", "minute field: unexpected character '/'" },
        { "1-5-7 * * * *", "minute field: unexpected character '-'" },
        { "*-5 * * * *", "minute field: unexpected character '-'" },
        { "? * * * *", "minute field: unexpected character '?'" },
        { "* * L * *", "day-of-month field: names are not allowed here (\"L\")" },
        { "JAN * * * *", "minute field: names are not allowed here (\"JAN\")" },
        { "* * * FOO *", "month field: unknown name \"FOO\"" },
        { "* * * * MONDAY", "day-of-week field: unknown name \"MONDAY\"" },
        { "* * * * MON#2", "day-of-week field: unexpected character '#'" },
        { "* * * * *\n", "day-of-week field: unexpected byte 0x0A" },
        { "* * * * 1\r", "day-of-week field: unexpected byte 0x0D" },
        { "@reboot", "unknown macro \"@reboot\"" },
        { "@", "unknown macro \"@\"" },
        { "@daily 1", "@daily takes no fields after it" },
        { "0 0 @daily * *", "day-of-month field: unexpected character '@'" },
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cron_t c;
        memset(&c, 0xAB, sizeof c);
        char err[128] = "";
        int rc = cron_parse(&c, cases[i].expr, err, sizeof err);
        cron_t zero;
        memset(&zero, 0, sizeof zero);
        if (rc != -1 || strcmp(err, cases[i].msg) != 0 || memcmp(&c, &zero, sizeof c) != 0) {
            print_error("\"%s\": rc %d, err \"%s\", want \"%s\"\n", cases[i].expr, rc, err, cases[i].msg);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_parse_error_edges(void **state)
{
    cron_t c;
    char err[128];
    char toolong[CRON_EXPR_MAX + 2];
    memset(toolong, ' ', sizeof toolong - 1);
    memcpy(toolong, "* * * * *", 9);
    toolong[CRON_EXPR_MAX + 1] = '\0';
    assert_int_equal(cron_parse(&c, toolong, err, sizeof err), -1);
    assert_string_equal(err, "cron expression is longer than 256 bytes");

    /* no message buffer, or a tiny one: still -1, never an overflow */
    assert_int_equal(cron_parse(&c, "61 * * * *", NULL, 0), -1);
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    assert_int_equal(cron_parse(&c, "61 * * * *", tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "minute ");
    assert_int_equal(cron_parse(&c, NULL, err, sizeof err), -1);
    assert_string_equal(err, "no cron expression");

    /* success clears a previous message */
    assert_int_equal(cron_parse(&c, "* * * * *", err, sizeof err), 0);
    assert_string_equal(err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_minutes_and_hours),
        cmocka_unit_test(test_next_days_months_years),
        cmocka_unit_test(test_next_day_of_week_and_or_rule),
        cmocka_unit_test(test_next_names_and_macros),
        cmocka_unit_test(test_next_raw_epoch),
        cmocka_unit_test(test_sequence_leap_days),
        cmocka_unit_test(test_sequence_counts),
        cmocka_unit_test(test_next_matches_reference),
        cmocka_unit_test(test_parse_bits),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_error_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
