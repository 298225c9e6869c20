/*
 * test_uri.c — unit tests for the strict request-target parser (uri.c).
 *
 * The parser is the first code that reads client bytes; these tests pin the
 * decisions uri.h documents: what is decoded, and every trick that must be
 * refused with a sentence for the 400 problem detail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "http/uri.h"

static int parse(arena_t *a, const char *raw, uri_t *u, const char **err)
{
    *err = NULL;
    return uri_parse(a, raw, strlen(raw), u, err);
}

static void test_plain_path(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    uri_t u;
    const char *err;
    assert_int_equal(parse(a, "/v1/products/prod_1", &u, &err), 0);
    assert_string_equal(u.path, "/v1/products/prod_1");
    assert_int_equal(u.nquery, 0);
    assert_int_equal(parse(a, "/", &u, &err), 0);
    assert_string_equal(u.path, "/");
    arena_free(a);
}

static void test_path_decoding(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    uri_t u;
    const char *err;
    assert_int_equal(parse(a, "/%7Euser/%41%62/%e2%82%ac", &u, &err), 0);
    assert_string_equal(u.path, "/~user/Ab/\xe2\x82\xac");
    /* '+' is literal in a path, only the query turns it into a space */
    assert_int_equal(parse(a, "/a+b", &u, &err), 0);
    assert_string_equal(u.path, "/a+b");
    /* "..." and ".a" are ordinary segments */
    assert_int_equal(parse(a, "/v1/.../.a/a.", &u, &err), 0);
    assert_string_equal(u.path, "/v1/.../.a/a.");
    arena_free(a);
}

static void test_query(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    uri_t u;
    const char *err;
    assert_int_equal(parse(a, "/x?limit=20&q=red+shoes&tag=a&tag=%C3%A9&flag&&empty=", &u, &err), 0);
    assert_string_equal(u.path, "/x");
    assert_int_equal(u.nquery, 6);
    assert_string_equal(u.query[0].name, "limit");
    assert_string_equal(u.query[0].value, "20");
    assert_string_equal(u.query[1].value, "red shoes");
    assert_string_equal(u.query[2].name, "tag");
    assert_string_equal(u.query[3].value, "\xc3\xa9");
    assert_string_equal(u.query[4].name, "flag");
    assert_string_equal(u.query[4].value, "");
    assert_string_equal(u.query[5].name, "empty");
    assert_string_equal(u.query[5].value, "");
    /* an empty query string is fine */
    assert_int_equal(parse(a, "/x?", &u, &err), 0);
    assert_int_equal(u.nquery, 0);
    /* '=' inside a value and an encoded slash are allowed in the query */
    assert_int_equal(parse(a, "/x?next=%2Fa%2Fb&eq=a=b", &u, &err), 0);
    assert_string_equal(u.query[0].value, "/a/b");
    assert_string_equal(u.query[1].value, "a=b");
    arena_free(a);
}

static void expect_refused(const char *raw, const char *needle)
{
    arena_t *a = arena_new();
    uri_t u;
    const char *err = NULL;
    assert_int_equal(uri_parse(a, raw, strlen(raw), &u, &err), -1);
    assert_non_null(err);
    if (!strstr(err, needle)) fail_msg("'%s': error '%s' lacks '%s'", raw, err, needle);
    arena_free(a);
}

static void test_refused_paths(void **state)
{
    (void)state;
    expect_refused("", "absolute path");
    expect_refused("healthz", "absolute path");
    expect_refused("http://h/x", "absolute path");
    expect_refused("?a=1", "absolute path");
    expect_refused("/v1/../x", "'..'");
    expect_refused("/v1/..", "'..'");
    expect_refused("/v1/./echo", "'.'");
    expect_refused("/.", "'.'");
    expect_refused("/v1/%2e%2e/x", "'..'");
    expect_refused("/v1/%2E/x", "'.'");
    expect_refused("/a%00b", "NUL");
    expect_refused("/a%2Fb", "slash");
    expect_refused("/a%2fb", "slash");
    expect_refused("/a%5cb", "slash");
    expect_refused("/a%zz", "percent-escape");
    expect_refused("/a%4", "percent-escape");
    expect_refused("/a%", "percent-escape");
    expect_refused("/a%0a", "control");
    expect_refused("/a\tb", "control");
    expect_refused("/a\x7f", "control");
    expect_refused("/x#frag", "fragment");
    expect_refused("/x?a=1#frag", "fragment");
}

static void test_refused_queries(void **state)
{
    (void)state;
    expect_refused("/x?%00=1", "NUL");
    expect_refused("/x?a=%00", "NUL");
    expect_refused("/x?a=%0", "percent-escape");
    expect_refused("/x?a=%g1", "percent-escape");
    expect_refused("/x?=1", "without a name");
    expect_refused("/x?a=\x01", "control");
}

static void test_raw_nul_inside_length(void **state)
{
    (void)state;
    /* a NUL byte inside the given length must not end the path early */
    arena_t *a = arena_new();
    uri_t u;
    const char *err = NULL;
    static const char raw[] = "/ok\0/../x";
    assert_int_equal(uri_parse(a, raw, sizeof raw - 1, &u, &err), -1);
    static const char rawq[] = "/ok?a=b\0c";
    assert_int_equal(uri_parse(a, rawq, sizeof rawq - 1, &u, &err), -1);
    arena_free(a);
}

static void test_query_param_limit(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    char raw[2048] = "/x?";
    for (int i = 0; i < URI_MAX_QUERY_PARAMS; i++) {
        char p[32];
        snprintf(p, sizeof p, "p%d=%d&", i, i);
        strcat(raw, p);
    }
    uri_t u;
    const char *err;
    assert_int_equal(parse(a, raw, &u, &err), 0);
    assert_int_equal(u.nquery, URI_MAX_QUERY_PARAMS);
    assert_string_equal(u.query[URI_MAX_QUERY_PARAMS - 1].name, "p63");
    strcat(raw, "one=more");
    assert_int_equal(parse(a, raw, &u, &err), -1);
    assert_non_null(strstr(err, "too many"));
    arena_free(a);
}

static void test_uri_decode(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    char *out;
    assert_int_equal(uri_decode(a, "a+b%20c", 7, 1, &out), 0);
    assert_string_equal(out, "a b c");
    assert_int_equal(uri_decode(a, "a+b%20c", 7, 0, &out), 0);
    assert_string_equal(out, "a+b c");
    /* only the first len bytes count */
    assert_int_equal(uri_decode(a, "abc%41", 3, 0, &out), 0);
    assert_string_equal(out, "abc");
    assert_int_equal(uri_decode(a, "%41", 2, 0, &out), -1);
    assert_int_equal(uri_decode(a, "%00", 3, 0, &out), -1);
    assert_int_equal(uri_decode(a, "a\0b", 3, 0, &out), -1);
    assert_int_equal(uri_decode(a, "", 0, 0, &out), 0);
    assert_string_equal(out, "");
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_path),
        cmocka_unit_test(test_path_decoding),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_refused_paths),
        cmocka_unit_test(test_refused_queries),
        cmocka_unit_test(test_raw_nul_inside_length),
        cmocka_unit_test(test_query_param_limit),
        cmocka_unit_test(test_uri_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
