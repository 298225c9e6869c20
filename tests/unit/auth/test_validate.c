/*
 * test_validate.c — email normalisation, name and password rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "auth/validate.h"

static void test_email_ok(void **state)
{
    (void)state;
    char out[AUTH_EMAIL_MAX + 1];
    const char *why = NULL;
    struct { const char *in, *want; } ok[] = {
        { "a@example.com", "a@example.com" },
        { "  Ada.Lovelace+shop@Example.COM \t", "ada.lovelace+shop@example.com" },
        { "o'brien@sub.example.co.uk", "o'brien@sub.example.co.uk" },
        { "x@xn--bcher-kva.example", "x@xn--bcher-kva.example" },
        { "1@a-b.io", "1@a-b.io" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(auth_email_normalize(ok[i].in, out, sizeof out, &why), 0);
        assert_string_equal(out, ok[i].want);
    }
}

static void test_email_bad(void **state)
{
    (void)state;
    char out[AUTH_EMAIL_MAX + 1], long_local[80], long_all[300];
    const char *why;
    memset(long_local, 'a', 65);
    strcpy(long_local + 65, "@example.com");
    memset(long_all, 'a', 250);
    strcpy(long_all + 250, "@example.com");
    const char *bad[] = {
        "", "   ", "plain", "@example.com", "a@", "a@@example.com", "a@b@example.com", "a b@example.com",
        "a@localhost", "a@example", "a@-example.com", "a@example-.com", "a@example..com", ".a@example.com",
        "a.@example.com", "a..b@example.com", "\"q\"@example.com", "a@[127.0.0.1]", "a@example.123",
        "p\xd0\xb0ypal@example.com", "zero\xe2\x80\x8bwidth@example.com", "a@exa_mple.com", "a\x01@example.com",
        "a,b@example.com", "a(b)@example.com", long_local, long_all,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        if (auth_email_normalize(bad[i], out, sizeof out, &why) != -1) fail_msg("accepted: %s", bad[i]);
        assert_non_null(why);
    }
}

static void test_names(void **state)
{
    (void)state;
    char out[AUTH_NAME_MAX_BYTES + 1];
    const char *why;
    assert_int_equal(auth_name_check("  José Müller-Łukasz  ", out, sizeof out, &why), 0);
    assert_string_equal(out, "José Müller-Łukasz");
    assert_int_equal(auth_name_check("山田 太郎", out, sizeof out, &why), 0);
    const char *bad[] = {
        "", "   ", "Evil\xe2\x80\xae" "gnp.exe", "In\xe2\x80\x8bvisible", "Bell\x07", "Tab\tin", "bom\xef\xbb\xbf",
        "iso\xe2\x81\xa6late", "soft\xc2\xadhyphen", "c1\xc2\x85", "tag\xf3\xa0\x80\x81",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (auth_name_check(bad[i], out, sizeof out, &why) != -1) fail_msg("accepted name %zu", i);
    char longname[500];
    memset(longname, 'x', 101);
    longname[101] = '\0';
    assert_int_equal(auth_name_check(longname, out, sizeof out, &why), -1);
    /* 100 two-byte characters are fine */
    for (int i = 0; i < 100; i++) memcpy(longname + 2 * i, "\xc3\xa9", 2);
    longname[200] = '\0';
    assert_int_equal(auth_name_check(longname, out, sizeof out, &why), 0);
}

static void test_passwords(void **state)
{
    (void)state;
    const char *why;
    const char *ok[] = { "correct horse battery", "Tr0ub4dor&3x", "ünïcødé-pässwörd", "1234567890ab-cd" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (auth_password_check(ok[i], strlen(ok[i]), "ada@example.com", &why)) fail_msg("refused %s: %s", ok[i], why);
    const char *bad[] = { "short", "aaaaaaaaaaaaaaaa", "ababababababab", "Password123", "qwertyuiop",
                          "1234567890", "my-ada.lovelace-pw", "tab\there-xyz1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (auth_password_check(bad[i], strlen(bad[i]), "ada.lovelace@example.com", &why) == 0)
            fail_msg("accepted %s", bad[i]);
    char huge[600];
    memset(huge, 'x', sizeof huge);
    for (int i = 0; i < 600; i++) huge[i] = (char)('a' + i % 26);
    assert_int_equal(auth_password_check(huge, sizeof huge, NULL, &why), -1);
    assert_int_equal(auth_password_check(huge, 128, NULL, &why), 0);
    assert_int_equal(auth_password_check(huge, 129, NULL, &why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_ok), cmocka_unit_test(test_email_bad),
        cmocka_unit_test(test_names),    cmocka_unit_test(test_passwords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
