/*
 * test_buf.c — unit tests for the capped growable buffer (buf.c).
 *
 * The hard cap is what turns an oversized client input into a 413 instead
 * of unbounded growth, so the tests insist that a refused append leaves the
 * buffer exactly as it was, and that JSON escaping (used by the access log
 * and config dump) produces valid JSON string contents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/buf.h"

static void test_append_and_nul(void **state)
{
    (void)state;
    buf_t b = BUF_INIT(0);
    assert_null(b.ptr);
    assert_int_equal(buf_puts(&b, "hello"), 0);
    assert_int_equal(buf_putc(&b, ' '), 0);
    assert_int_equal(buf_append(&b, "world!!", 5), 0);
    assert_int_equal(b.len, 11);
    assert_string_equal(b.ptr, "hello world");
    assert_int_equal(buf_append(&b, NULL, 0), 0);
    assert_int_equal(b.len, 11);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.ptr, "");
    buf_free(&b);
    assert_null(b.ptr);
}

static void test_growth(void **state)
{
    (void)state;
    buf_t b = BUF_INIT(0);
    for (int i = 0; i < 10000; i++) assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.ptr[9999], 'a' + 9999 % 26);
    assert_int_equal(b.ptr[10000], '\0');
    buf_free(&b);
}

static void test_cap_enforced(void **state)
{
    (void)state;
    buf_t b = BUF_INIT(10);
    assert_int_equal(buf_puts(&b, "0123456789"), 0); /* exactly the cap */
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_putc(&b, 'x'), -1);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.ptr, "0123456789");
    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "01234"), 0);
    assert_int_equal(buf_puts(&b, "567890"), -1); /* would be 11: nothing appended */
    assert_string_equal(b.ptr, "01234");
    assert_int_equal(buf_printf(&b, "%s", "abcdef"), -1);
    assert_string_equal(b.ptr, "01234");
    assert_int_equal(buf_printf(&b, "%d", 56789), 0);
    assert_string_equal(b.ptr, "0123456789");
    /* a huge length must not wrap around the cap check (volatile: keeps an
     * LTO build from warning about the memcpy that the check prevents) */
    volatile size_t huge = SIZE_MAX;
    assert_int_equal(buf_append(&b, "x", huge), -1);
    assert_int_equal(b.len, 10);
    buf_free(&b);
}

static void test_printf_long(void **state)
{
    (void)state;
    buf_t b = BUF_INIT(0);
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(buf_printf(&b, "<%s>%d", big, 7), 0); /* past the 256-byte fast path */
    assert_int_equal(b.len, 1002);
    assert_int_equal(b.ptr[0], '<');
    assert_int_equal(b.ptr[1000], '>');
    assert_int_equal(b.ptr[1001], '7');
    buf_free(&b);
    buf_t c = BUF_INIT(500);
    assert_int_equal(buf_printf(&c, "%s", big), -1);
    assert_int_equal(c.len, 0);
    buf_free(&c);
}

static void test_steal(void **state)
{
    (void)state;
    buf_t b = BUF_INIT(0);
    size_t n = 99;
    char *s = buf_steal(&b, &n); /* empty buffer still gives a string */
    assert_non_null(s);
    assert_int_equal(n, 0);
    assert_string_equal(s, "");
    free(s);
    buf_puts(&b, "abc");
    s = buf_steal(&b, &n);
    assert_int_equal(n, 3);
    assert_string_equal(s, "abc");
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
    free(s);
}

static void test_json_escape(void **state)
{
    (void)state;
    buf_t b = BUF_INIT(0);
    const char in[] = "a\"b\\c\nd\re\tf\x01g\x7fh\x1fé/";
    assert_int_equal(buf_json_escape(&b, in, sizeof in - 1), 0);
    assert_string_equal(b.ptr, "a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007fh\\u001fé/");
    /* the result is a valid JSON string that decodes back to the input */
    buf_t doc = BUF_INIT(0);
    buf_printf(&doc, "[\"%s\"]", b.ptr);
    json_error_t err;
    json_t *j = json_loads(doc.ptr, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_array_get(j, 0)), in);
    json_decref(j);
    buf_free(&doc);
    /* embedded NUL within the length is escaped, not a terminator */
    buf_reset(&b);
    assert_int_equal(buf_json_escape(&b, "a\0b", 3), 0);
    assert_string_equal(b.ptr, "a\\u0000b");
    buf_free(&b);
}

static void test_json_escape_respects_cap(void **state)
{
    (void)state;
    buf_t b = BUF_INIT(8);
    assert_int_equal(buf_json_escape(&b, "abcdefgh", 8), 0);
    buf_reset(&b);
    assert_int_equal(buf_json_escape(&b, "abcdefg\n", 8), -1); /* 9 bytes escaped */
    assert_true(b.len <= 8);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_nul),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_cap_enforced),
        cmocka_unit_test(test_printf_long),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_json_escape_respects_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
