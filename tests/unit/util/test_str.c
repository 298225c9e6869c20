/*
 * test_str.c — unit tests for string slices (str.h, str.c).
 *
 * str_to_i64 reads client numbers (Content-Length, ?limit=), so its
 * overflow and junk handling is what keeps a bad header from becoming a
 * wrong size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>

#include "util/str.h"

static void test_eq(void **state)
{
    (void)state;
    assert_true(str_eq(STR_LIT("abc"), str_from("abc")));
    assert_false(str_eq(STR_LIT("abc"), STR_LIT("abd")));
    assert_false(str_eq(STR_LIT("abc"), STR_LIT("ab")));
    assert_true(str_eq(STR_NULL, STR_LIT("")));
    assert_true(str_eq_cstr((str_t){ "abcdef", 3 }, "abc"));
    assert_false(str_eq_cstr((str_t){ "abcdef", 3 }, "abcd"));
    assert_int_equal(str_from(NULL).len, 0);
}

static void test_eq_nocase(void **state)
{
    (void)state;
    assert_true(str_eq_nocase(STR_LIT("Content-Type"), STR_LIT("content-type")));
    assert_true(str_eq_nocase(STR_LIT("APPLICATION/JSON"), STR_LIT("application/json")));
    assert_false(str_eq_nocase(STR_LIT("abc"), STR_LIT("abd")));
    assert_false(str_eq_nocase(STR_LIT("abc"), STR_LIT("abcd")));
    /* only ASCII letters fold: '@' (0x40) and '`' (0x60) stay apart */
    assert_false(str_eq_nocase(STR_LIT("@"), STR_LIT("`")));
    assert_false(str_eq_nocase(STR_LIT("["), STR_LIT("{")));
    assert_true(str_eq_nocase(STR_LIT(""), STR_LIT("")));
}

static long long to_i64_ok(const char *s)
{
    long long v = -7;
    if (str_to_i64(str_from(s), &v) != 0) fail_msg("'%s' refused", s);
    return v;
}

static void refused(const char *s)
{
    long long v = 12345;
    if (str_to_i64(str_from(s), &v) == 0) fail_msg("'%s' accepted as %lld", s, v);
    assert_int_equal(v, 12345);
}

static void test_to_i64(void **state)
{
    (void)state;
    assert_int_equal(to_i64_ok("0"), 0);
    assert_int_equal(to_i64_ok("42"), 42);
    assert_int_equal(to_i64_ok("-42"), -42);
    assert_int_equal(to_i64_ok("+42"), 42);
    assert_int_equal(to_i64_ok("0007"), 7);
    assert_true(to_i64_ok("9223372036854775807") == LLONG_MAX);
    assert_true(to_i64_ok("-9223372036854775808") == LLONG_MIN);
    long long v;
    assert_int_equal(str_to_i64((str_t){ "123abc", 3 }, &v), 0);
    assert_int_equal(v, 123);
}

static void test_to_i64_refused(void **state)
{
    (void)state;
    refused("");
    refused("-");
    refused("+");
    refused(" 1");
    refused("1 ");
    refused("1.0");
    refused("0x10");
    refused("12a");
    refused("--1");
    refused("9223372036854775808");
    refused("-9223372036854775809");
    refused("18446744073709551616");
    refused("99999999999999999999");
    refused("000000000000000000001"); /* 21 characters */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq),
        cmocka_unit_test(test_eq_nocase),
        cmocka_unit_test(test_to_i64),
        cmocka_unit_test(test_to_i64_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
