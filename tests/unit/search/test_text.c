/*
 * test_text.c — the search tokenizer, folding, FTS5 expression building and
 * trigram similarity (src/search/text.c, src/search/terms.c).  The point of
 * these tests: no user text can become query syntax.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "search/terms.h"
#include "search/text.h"

static char *expr(arena_t *a, const char *q, int prefix)
{
    search_tokens_t t;
    search_tokenize(a, q, strlen(q), &t);
    return search_fts5_expr(a, &t, prefix);
}

static void test_tokenize_and_fold(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    search_tokens_t t;
    const char *q = "  Crème BRÛLÉE, wool-sweater!! Ærø Łódź ПРИВЕТ 42 ";
    search_tokenize(a, q, strlen(q), &t);
    assert_int_equal(t.n, 8);
    assert_string_equal(t.tok[0], "creme");
    assert_string_equal(t.tok[1], "brulee");
    assert_string_equal(t.tok[2], "wool");
    assert_string_equal(t.tok[3], "sweater");
    assert_string_equal(t.tok[4], "æro");
    assert_string_equal(t.tok[5], "lodz");
    assert_string_equal(t.tok[6], "привет");
    assert_string_equal(t.tok[7], "42");
    assert_string_equal(search_fold(a, "  Hello,  Wörld ", 16), "hello world");
    /* emoji, symbols and invalid UTF-8 separate words and vanish */
    const char *junk = "\xF0\x9F\x98\x80wool\xE2\x9C\x93\xFF\xC3sweater\xE2\x80\x8D";
    search_tokenize(a, junk, strlen(junk), &t);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.tok[0], "wool");
    assert_string_equal(t.tok[1], "sweater");
    arena_free(a);
}

static void test_fts5_expressions_are_quoted(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    assert_string_equal(expr(a, "wool sweater", 0), "\"wool\" \"sweater\"");
    assert_string_equal(expr(a, "wool sw", 1), "\"wool\" \"sw\"*");
    /* operators and syntax become plain words or disappear */
    assert_string_equal(expr(a, "wool OR sweater", 0), "\"wool\" \"or\" \"sweater\"");
    assert_string_equal(expr(a, "NEAR(a b) NOT c", 0), "\"near\" \"a\" \"b\" \"not\" \"c\"");
    assert_string_equal(expr(a, "title:boots ^hat *x", 0), "\"title\" \"boots\" \"hat\" \"x\"");
    assert_string_equal(expr(a, "\"unbalanced (quote", 0), "\"unbalanced\" \"quote\"");
    assert_string_equal(expr(a, "'; DROP TABLE products; --", 0), "\"drop\" \"table\" \"products\"");
    assert_null(expr(a, "((( ))) \"\" * ^ -- ;", 0));
    assert_null(expr(a, "", 1));
    /* every emitted byte is a quote, a space, a star or a word character */
    const char *nasty = "a\"b c'd e)f g(h i:j k*l m^n o-p q+r s{t} u[v] w<x> y|z";
    const char *e = expr(a, nasty, 1);
    for (const char *p = e; *p; p++)
        assert_true(*p == '"' || *p == ' ' || *p == '*' || (*p >= 'a' && *p <= 'z'));
    arena_free(a);
}

static void test_limits(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    char big[10 * 1024 + 1];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (i % 7 == 6) ? ' ' : (char)('a' + i % 26);
    big[sizeof big - 1] = '\0';
    search_tokens_t t;
    search_tokenize(a, big, strlen(big), &t);
    assert_int_equal(t.n, SEARCH_TOKENS_MAX);
    assert_true(t.truncated);
    /* one 1000-byte word is cut at SEARCH_TOKEN_BYTES on a character boundary */
    char word[1001];
    for (int i = 0; i < 1000; i += 2) memcpy(word + i, "\xC3\xA9", 2); /* é -> e */
    word[1000] = '\0';
    search_tokenize(a, word, 1000, &t);
    assert_int_equal(t.n, 1);
    assert_true(strlen(t.tok[0]) <= SEARCH_TOKEN_BYTES);
    assert_int_equal(t.tok[0][0], 'e');
    arena_free(a);
}

static void test_trigram_similarity(void **state)
{
    (void)state;
    assert_true(search_trigram_similarity("sweater", "sweater") > 0.999);
    double s = search_trigram_similarity("sweater", "swaeter");
    assert_true(s > 0.3 && s < 0.4); /* 4 shared of 12: pg_trgm says 0.333 */
    assert_true(search_trigram_similarity("sweater", "sweatr") >= 0.5);
    assert_true(search_trigram_similarity("boots", "lamp") < 0.1);
    assert_true(search_trigram_similarity("", "lamp") == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_and_fold),
        cmocka_unit_test(test_fts5_expressions_are_quoted),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_trigram_similarity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
