/*
 * test_ratelimit.c — the token bucket's arithmetic and the keyed table:
 * bursts, refill, Retry-After, reset time, clock going backwards, key
 * isolation, bounded memory and header formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/ratelimit.h"

static const rl_rule_t per_min5 = { 5, 60000 }; /* one token every 12 s */

static void test_burst_then_deny(void **state)
{
    (void)state;
    rl_bucket_t b;
    rl_result_t r;
    rl_bucket_init(&b, &per_min5, 1000);
    for (int i = 0; i < 5; i++) {
        rl_bucket_take(&b, &per_min5, 1000, 1, &r);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 4 - i);
        assert_int_equal(r.limit, 5);
        assert_int_equal(r.reset_s, 12 * (i + 1));
    }
    rl_bucket_take(&b, &per_min5, 1000, 1, &r);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retry_after_s, 12);
    assert_int_equal(r.reset_s, 60);
}

static void test_refill_exact(void **state)
{
    (void)state;
    rl_bucket_t b;
    rl_result_t r;
    rl_bucket_init(&b, &per_min5, 0);
    for (int i = 0; i < 5; i++) rl_bucket_take(&b, &per_min5, 0, 1, &r);
    rl_bucket_take(&b, &per_min5, 11999, 1, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 1); /* 1 ms left rounds up to a second */
    rl_bucket_take(&b, &per_min5, 12000, 1, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    /* slow trickle: many calls 1 ms apart must not lose time */
    for (int64_t t = 12001; t < 24000; t++) {
        rl_bucket_take(&b, &per_min5, t, 0, &r);
    }
    rl_bucket_take(&b, &per_min5, 24000, 1, &r);
    assert_true(r.allowed);
}

static void test_full_after_window(void **state)
{
    (void)state;
    rl_bucket_t b;
    rl_result_t r;
    rl_bucket_init(&b, &per_min5, 0);
    for (int i = 0; i < 5; i++) rl_bucket_take(&b, &per_min5, 0, 1, &r);
    rl_bucket_take(&b, &per_min5, 10 * 60000, 0, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 5); /* capped at the quota */
    assert_int_equal(r.reset_s, 0);
}

static void test_clock_backwards(void **state)
{
    (void)state;
    rl_bucket_t b;
    rl_result_t r;
    rl_bucket_init(&b, &per_min5, 50000);
    for (int i = 0; i < 5; i++) rl_bucket_take(&b, &per_min5, 50000, 1, &r);
    rl_bucket_take(&b, &per_min5, 10000, 1, &r); /* earlier: no refill, no crash */
    assert_false(r.allowed);
    rl_bucket_take(&b, &per_min5, 62000, 1, &r);
    assert_true(r.allowed);
}

static void test_cost_and_peek(void **state)
{
    (void)state;
    rl_bucket_t b;
    rl_result_t r;
    rl_rule_t big = { 1000000000, 60000 };
    rl_bucket_init(&b, &big, 0);
    rl_bucket_take(&b, &big, 0, 0, &r); /* peek takes nothing */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 1000000000);
    rl_bucket_take(&b, &big, 0, 999999999, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 1);
    rl_bucket_take(&b, &big, 0, 2, &r); /* denied take leaves the bucket alone */
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 1);
    rl_bucket_take(&b, &big, 60000, 0, &r); /* no overflow refilling a huge quota */
    assert_int_equal(r.remaining, 1000000000);
}

static void test_table_keys_isolated(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(1024);
    rl_result_t r;
    for (int i = 0; i < 5; i++) ratelimit_take(rl, "ip:1.2.3.4", 10, &per_min5, 0, 1, &r);
    ratelimit_take(rl, "ip:1.2.3.4", 10, &per_min5, 0, 1, &r);
    assert_false(r.allowed);
    ratelimit_take(rl, "ip:1.2.3.5", 10, &per_min5, 0, 1, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);
    ratelimit_free(rl);
}

static void test_table_bounded(void **state)
{
    (void)state;
    /* far more keys than slots: memory stays fixed, recent keys keep state */
    ratelimit_t *rl = ratelimit_new(1024);
    rl_result_t r;
    char key[32];
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        ratelimit_take(rl, key, (size_t)n, &per_min5, i, 1, &r);
        assert_true(r.allowed);
    }
    for (int i = 0; i < 4; i++) ratelimit_take(rl, "hot", 3, &per_min5, 300000, 1, &r);
    ratelimit_take(rl, "hot", 3, &per_min5, 300000, 1, &r);
    assert_true(r.allowed);
    ratelimit_take(rl, "hot", 3, &per_min5, 300000, 1, &r);
    assert_false(r.allowed);
    ratelimit_free(rl);
}

static void test_headers(void **state)
{
    (void)state;
    rl_result_t r = { .allowed = true, .limit = 5, .remaining = 3, .reset_s = 24 };
    char pol[64], st[64];
    rl_format_headers("client", &per_min5, &r, pol, sizeof pol, st, sizeof st);
    assert_string_equal(pol, "\"client\";q=5;w=60");
    assert_string_equal(st, "\"client\";r=3;t=24");
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_deny),   cmocka_unit_test(test_refill_exact),
        cmocka_unit_test(test_full_after_window), cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_cost_and_peek),     cmocka_unit_test(test_table_keys_isolated),
        cmocka_unit_test(test_table_bounded),     cmocka_unit_test(test_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
