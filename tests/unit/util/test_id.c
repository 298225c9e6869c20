/*
 * test_id.c — unit tests for prefixed ULID-style ids and secrets (id.c).
 *
 * Ids are opaque to clients but the server relies on their shape (prefix,
 * 26 Crockford base32 characters), on their sorting by creation time, and
 * on their randomness; secrets must be URL-safe and of the promised length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "util/id.h"

static void test_shape(void **state)
{
    (void)state;
    char id[ID_MAX];
    assert_ptr_equal(id_new(id, "prod"), id);
    assert_int_equal(strlen(id), 5 + 26);
    assert_memory_equal(id, "prod_", 5);
    for (size_t i = 5; i < strlen(id); i++)
        if (!strchr("0123456789abcdefghjkmnpqrstvwxyz", id[i])) fail_msg("bad character '%c' in %s", id[i], id);
    assert_true(id_valid(id, strlen(id), "prod"));
    assert_false(id_valid(id, strlen(id), "ord"));
    assert_false(id_valid(id, strlen(id), "pro"));
    assert_false(id_valid(id, strlen(id) - 1, "prod"));
}

static void test_valid_rejects(void **state)
{
    (void)state;
    char id[ID_MAX];
    id_new(id, "ord");
    size_t n = strlen(id);
    char bad[ID_MAX];
    memcpy(bad, id, n + 1);
    bad[10] = 'u'; /* not in Crockford's alphabet */
    assert_false(id_valid(bad, n, "ord"));
    memcpy(bad, id, n + 1);
    bad[10] = 'A'; /* ids are lowercase */
    assert_false(id_valid(bad, n, "ord"));
    memcpy(bad, id, n + 1);
    bad[3] = '-';
    assert_false(id_valid(bad, n, "ord"));
    assert_false(id_valid("", 0, "ord"));
    assert_false(id_valid("ord_", 4, "ord"));
}

static void test_time_ordered_and_unique(void **state)
{
    (void)state;
    char a[ID_MAX], b[ID_MAX];
    id_new(a, "x");
    usleep(3000); /* a later millisecond */
    id_new(b, "x");
    assert_true(strcmp(a, b) < 0);
    /* the first 10 body characters are the timestamp: equal within one ms
     * is possible, but the random part makes ids distinct */
    enum { N = 2000 };
    static char ids[N][ID_MAX];
    for (int i = 0; i < N; i++) id_new(ids[i], "x");
    for (int i = 1; i < N; i++) {
        assert_true(strncmp(ids[i - 1] + 2, ids[i] + 2, 10) <= 0);
        assert_string_not_equal(ids[i - 1], ids[i]);
    }
}

static void test_long_prefix_is_cut(void **state)
{
    (void)state;
    char id[ID_MAX];
    const char *p = "a_very_long_prefix_that_would_overflow_the_buffer";
    id_new(id, p);
    assert_true(strlen(id) < ID_MAX);
    assert_int_equal(strlen(id), ID_MAX - 28 + 1 + 26);
}

static void test_secret(void **state)
{
    (void)state;
    char a[64], b[64];
    id_secret(a, 32);
    id_secret(b, 32);
    assert_int_equal(strlen(a), 43); /* 32 bytes, base64url without padding */
    assert_string_not_equal(a, b);
    for (const char *c = a; *c; c++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *c))
            fail_msg("secret has a non-URL-safe character '%c'", *c);
}

static void test_random_pool(void **state)
{
    (void)state;
    /* consecutive draws never repeat, across several pool refills */
    unsigned char prev[16] = { 0 }, cur[16];
    int zero_bytes = 0;
    for (int i = 0; i < 200; i++) {
        id_random(cur, sizeof cur);
        assert_memory_not_equal(prev, cur, sizeof cur);
        for (size_t k = 0; k < sizeof cur; k++) zero_bytes += cur[k] == 0;
        memcpy(prev, cur, sizeof cur);
    }
    /* 3200 random bytes: about 12.5 zeros expected; a zeroed pool would give 3200 */
    assert_true(zero_bytes < 60);
    /* odd sizes that straddle the pool's end, and a large request */
    unsigned char odd[7], big[1000];
    for (int i = 0; i < 100; i++) id_random(odd, sizeof odd);
    memset(big, 0, sizeof big);
    id_random(big, sizeof big);
    int zeros = 0;
    for (size_t k = 0; k < sizeof big; k++) zeros += big[k] == 0;
    assert_true(zeros < 30);
    id_random(big, 0);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_valid_rejects),
        cmocka_unit_test(test_time_ordered_and_unique),
        cmocka_unit_test(test_long_prefix_is_cut),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_random_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
