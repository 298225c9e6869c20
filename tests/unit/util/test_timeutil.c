/*
 * test_timeutil.c — unit tests for clocks and RFC 3339 time (timeutil.c).
 *
 * Project-wide, time is integer milliseconds since the epoch shown as
 * RFC 3339 UTC with milliseconds; these tests pin formatting, parsing with
 * offsets and fractions, calendar validation, and the clamping at the ends
 * of the representable years.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/timeutil.h"

static int64_t parse(const char *s)
{
    int64_t ms = 0x7eadbeef;
    if (time_parse_rfc3339(s, strlen(s), &ms) != 0) fail_msg("'%s' did not parse", s);
    return ms;
}

static void refused(const char *s)
{
    int64_t ms = 42;
    if (time_parse_rfc3339(s, strlen(s), &ms) == 0) fail_msg("'%s' parsed to %lld", s, (long long)ms);
    assert_int_equal(ms, 42); /* untouched on failure */
}

static void test_format(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(time_fmt_rfc3339(out, 0), "1970-01-01T00:00:00.000Z");
    assert_string_equal(time_fmt_rfc3339(out, 1795514400123LL), "2026-11-24T10:00:00.123Z");
    assert_string_equal(time_fmt_rfc3339(out, -1), "1969-12-31T23:59:59.999Z");
    assert_string_equal(time_fmt_rfc3339(out, 951782400000LL), "2000-02-29T00:00:00.000Z");
    assert_string_equal(time_fmt_rfc3339(out, 4107542399999LL), "2100-02-28T23:59:59.999Z");
    assert_string_equal(time_fmt_rfc3339(out, 4107542400000LL), "2100-03-01T00:00:00.000Z");
    assert_string_equal(time_fmt_rfc3339(out, -62167219200000LL), "0000-01-01T00:00:00.000Z");
    assert_string_equal(time_fmt_rfc3339(out, 253402300799999LL), "9999-12-31T23:59:59.999Z");
}

static void test_format_clamps(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(time_fmt_rfc3339(out, INT64_MAX), "9999-12-31T23:59:59.999Z");
    assert_string_equal(time_fmt_rfc3339(out, 253402300800000LL), "9999-12-31T23:59:59.999Z");
    assert_string_equal(time_fmt_rfc3339(out, INT64_MIN), "0000-01-01T00:00:00.000Z");
    assert_string_equal(time_fmt_rfc3339(out, -62167219200001LL), "0000-01-01T00:00:00.000Z");
}

static void test_parse_utc(void **state)
{
    (void)state;
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2026-11-24T10:00:00.123Z"), 1795514400123LL);
    assert_int_equal(parse("2026-11-24t10:00:00.123z"), 1795514400123LL);
    assert_int_equal(parse("2026-11-24 10:00:00.123Z"), 1795514400123LL);
    assert_int_equal(parse("1969-12-31T23:59:59.999Z"), -1);
    assert_int_equal(parse("2024-02-29T00:00:00Z"), 1709164800000LL);
    assert_int_equal(parse("2000-02-29T00:00:00Z"), 951782400000LL);
}

static void test_parse_offsets(void **state)
{
    (void)state;
    int64_t utc = parse("2026-11-24T10:00:00Z");
    assert_int_equal(parse("2026-11-24T11:00:00+01:00"), utc);
    assert_int_equal(parse("2026-11-24T05:30:00-04:30"), utc);
    assert_int_equal(parse("2026-11-24T10:00:00+00:00"), utc);
    assert_int_equal(parse("2026-11-24T10:00:00-00:00"), utc);
    /* an offset can cross a day boundary */
    assert_int_equal(parse("2026-11-25T09:59:00+23:59"), utc);
}

static void test_parse_fractions(void **state)
{
    (void)state;
    int64_t base = parse("2026-11-24T10:00:00Z");
    assert_int_equal(parse("2026-11-24T10:00:00.1Z"), base + 100);
    assert_int_equal(parse("2026-11-24T10:00:00.12Z"), base + 120);
    assert_int_equal(parse("2026-11-24T10:00:00.123Z"), base + 123);
    /* digits past milliseconds are truncated, not rounded */
    assert_int_equal(parse("2026-11-24T10:00:00.123999999Z"), base + 123);
    assert_int_equal(parse("2026-11-24T10:00:00.000001Z"), base);
    assert_int_equal(parse("2026-11-24T10:00:00.5+01:00"), base - 3600000 + 500);
}

static void test_leap_second_clamps(void **state)
{
    (void)state;
    assert_int_equal(parse("2016-12-31T23:59:60Z"), parse("2016-12-31T23:59:59Z"));
}

static void test_parse_invalid(void **state)
{
    (void)state;
    refused("");
    refused("2026-11-24");
    refused("2026-11-24T10:00:00");          /* no offset */
    refused("2026-11-24T10:00Z");            /* no seconds */
    refused("2026-11-24T10:00:00.Z");        /* empty fraction */
    refused("2026-11-24T10:00:00+0100");     /* offset without colon */
    refused("2026-11-24T10:00:00+01");
    refused("2026-11-24T10:00:00+24:00");
    refused("2026-11-24T10:00:00+01:60");
    refused("2026-11-24T10:00:00Zjunk");
    refused("2026-11-24T10:00:00 Z");
    refused("2026-13-01T00:00:00Z");
    refused("2026-00-01T00:00:00Z");
    refused("2026-01-00T00:00:00Z");
    refused("2026-04-31T00:00:00Z");
    refused("2023-02-29T00:00:00Z");          /* not a leap year */
    refused("1900-02-29T00:00:00Z");          /* century, not a leap year */
    refused("2026-11-24T24:00:00Z");
    refused("2026-11-24T23:60:00Z");
    refused("2026-11-24T23:59:61Z");
    refused("2026/11/24T10:00:00Z");
    refused("26-11-24T10:00:00Z");
    refused("2026-1-24T10:00:00Z");
    refused("+2026-11-24T10:00:00Z");
    refused("2026-11-24X10:00:00Z");
}

static void test_parse_respects_length(void **state)
{
    (void)state;
    int64_t ms;
    const char *s = "2026-11-24T10:00:00Z trailing";
    assert_int_equal(time_parse_rfc3339(s, 20, &ms), 0);
    assert_int_equal(ms, parse("2026-11-24T10:00:00Z"));
    assert_int_equal(time_parse_rfc3339(s, 19, &ms), -1);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const int64_t samples[] = { 0, 1, -1, 999, 1000, 86399999, 86400000, 1795514400123LL,
                                       -62167219200000LL, 253402300799999LL, 951868799999LL,
                                       -2208988800000LL };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char out[32];
        time_fmt_rfc3339(out, samples[i]);
        assert_int_equal(strlen(out), 24);
        assert_int_equal(parse(out), samples[i]);
    }
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t now = time_now_ms();
    assert_true(now > 1700000000000LL); /* after Nov 2023 */
    int64_t a = time_mono_ns(), b = time_mono_ns();
    assert_true(b >= a);
    int64_t us = time_mono_us();
    assert_true(us / 1000 - a / 1000000 < 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_clamps),
        cmocka_unit_test(test_parse_utc),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_fractions),
        cmocka_unit_test(test_leap_second_clamps),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_respects_length),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
