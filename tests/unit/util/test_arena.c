/*
 * test_arena.c — unit tests for the region allocator (arena.c).
 *
 * Every request's memory comes from an arena, so the tests check the
 * properties callers depend on: alignment, that allocations never overlap
 * (small ones in shared blocks, big ones in dedicated blocks), string
 * helpers, and that deferred destructors run once, in reverse order, at
 * arena_free.  Run under ASan this also proves that arena_free releases
 * every block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/arena.h"

static void test_alignment_and_zero(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    for (size_t n = 0; n < 100; n++) {
        void *p = arena_alloc(a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
    }
    unsigned char *z = arena_calloc(a, 333);
    for (int i = 0; i < 333; i++) assert_int_equal(z[i], 0);
    arena_free(a);
}

static void test_no_overlap_across_blocks(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    enum { N = 3000 };
    static unsigned char *ptrs[N];
    static size_t sizes[N];
    /* mixed sizes: many small ones spill over several 16 KiB blocks, a few
     * exceed a quarter block and get dedicated blocks */
    for (int i = 0; i < N; i++) {
        sizes[i] = (i % 97 == 0) ? 5000 + (size_t)i : (size_t)(1 + i % 200);
        ptrs[i] = arena_alloc(a, sizes[i]);
        memset(ptrs[i], i & 0xff, sizes[i]);
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            if (ptrs[i][k] != (i & 0xff)) fail_msg("allocation %d was overwritten at %zu", i, k);
    size_t total = 0;
    for (int i = 0; i < N; i++) total += (sizes[i] + 15) & ~(size_t)15;
    assert_int_equal(arena_used(a), total);
    arena_free(a);
}

static void test_large_allocation(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    char *small1 = arena_strdup(a, "before");
    char *big = arena_alloc(a, 1 << 20);
    memset(big, 'b', 1 << 20);
    char *small2 = arena_strdup(a, "after");
    assert_string_equal(small1, "before");
    assert_string_equal(small2, "after");
    assert_int_equal(big[(1 << 20) - 1], 'b');
    arena_free(a);
}

static void test_strings(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    assert_string_equal(arena_strdup(a, "abc"), "abc");
    assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
    assert_string_equal(arena_strndup(a, "", 0), "");
    assert_string_equal(arena_sprintf(a, "%s-%d-%05.1f", "x", 42, 3.14159), "x-42-003.1");
    str_t s = { "slice-not-terminated", 5 };
    assert_string_equal(arena_str(a, s), "slice");
    char longfmt[5000];
    memset(longfmt, 'y', sizeof longfmt - 1);
    longfmt[sizeof longfmt - 1] = '\0';
    char *p = arena_sprintf(a, "[%s]", longfmt);
    assert_int_equal(strlen(p), sizeof longfmt + 1);
    arena_free(a);
}

static int g_order[8];
static int g_norder;

static void record(void *p) { g_order[g_norder++] = (int)(intptr_t)p; }

static void test_defer_lifo(void **state)
{
    (void)state;
    g_norder = 0;
    arena_t *a = arena_new();
    arena_defer(a, record, (void *)1);
    arena_defer(a, record, (void *)2);
    arena_alloc(a, 100000);
    arena_defer(a, record, (void *)3);
    assert_int_equal(g_norder, 0);
    arena_free(a);
    assert_int_equal(g_norder, 3);
    assert_int_equal(g_order[0], 3);
    assert_int_equal(g_order[1], 2);
    assert_int_equal(g_order[2], 1);
    arena_free(NULL); /* a no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_zero),
        cmocka_unit_test(test_no_overlap_across_blocks),
        cmocka_unit_test(test_large_allocation),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_defer_lifo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
