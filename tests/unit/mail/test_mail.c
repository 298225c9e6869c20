/*
 * test_mail.c — templates and MIME: variables substituted, HTML escaped,
 * subjects kept on one line and RFC 2047-encoded, unknown variables and
 * injected headers refused, and the assembled message well formed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "mail/mail.h"

static void test_render(void **state)
{
    (void)state;
    json_t *vars = json_pack("{s:s, s:s, s:i, s:s}", "name", "<b>Ann</b> & \"co\"", "code", "042917", "minutes", 15,
                             "shop", "Shop\r\nBcc: evil@example.com");
    mail_msg_t m;
    char err[128];
    assert_int_equal(mail_render("verify_email", vars, &m, err, sizeof err), 0);
    assert_non_null(strstr(m.text, "Hello <b>Ann</b> & \"co\","));         /* text: as is */
    assert_non_null(strstr(m.text, "Your verification code is: 042917"));
    assert_non_null(strstr(m.text, "expires in 15 minutes"));
    assert_non_null(strstr(m.html, "Hello &lt;b&gt;Ann&lt;/b&gt; &amp; &quot;co&quot;,")); /* HTML: escaped */
    assert_null(strstr(m.html, "<b>Ann"));
    assert_null(strchr(m.subject, '\n'));                                  /* no header injection */
    assert_null(strchr(m.subject, '\r'));
    assert_non_null(strstr(m.subject, "042917"));
    assert_null(strstr(m.text, "{{"));
    mail_msg_free(&m);
    json_decref(vars);
}

static void test_render_errors(void **state)
{
    (void)state;
    mail_msg_t m;
    char err[128];
    json_t *vars = json_pack("{s:s}", "name", "Ann"); /* code missing */
    assert_int_equal(mail_render("verify_email", vars, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "not set"));
    assert_int_equal(mail_render("no_such_template", vars, &m, err, sizeof err), -1);
    assert_int_equal(mail_render("../etc/passwd", vars, &m, err, sizeof err), -1);
    json_object_set_new(vars, "code", json_pack("{}")); /* not a scalar */
    assert_int_equal(mail_render("verify_email", vars, &m, err, sizeof err), -1);
    json_decref(vars);
}

static void test_build(void **state)
{
    (void)state;
    assert_int_equal(mail_configure("", "Test Shop <shop@shop.example>"), 0);
    mail_msg_t m = { strdup("Ihr Bestätigungscode für den Laden: 123456 — bitte schnell eingeben, danke!"),
                     strdup("text body ü\n"), strdup("<p>html</p>") };
    size_t len;
    char *msg = mail_build("Test Shop <shop@shop.example>", "ann@example.com", &m, &len);
    assert_non_null(msg);
    assert_int_equal(strlen(msg), len);
    assert_non_null(strstr(msg, "From: Test Shop <shop@shop.example>\r\n"));
    assert_non_null(strstr(msg, "To: <ann@example.com>\r\n"));
    assert_non_null(strstr(msg, "Subject: =?UTF-8?B?"));
    assert_non_null(strstr(msg, "\r\n =?UTF-8?B?")); /* long subject folded into several words */
    assert_non_null(strstr(msg, "MIME-Version: 1.0\r\n"));
    assert_non_null(strstr(msg, "Content-Type: multipart/alternative; boundary="));
    assert_non_null(strstr(msg, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64"));
    assert_non_null(strstr(msg, "Message-ID: <msg_"));
    /* every line is CRLF-terminated and at most 78 characters + CRLF */
    for (char *p = msg; *p;) {
        char *nl = strstr(p, "\r\n");
        assert_non_null(nl);
        assert_true(nl - p <= 78);
        for (char *q = p; q < nl; q++) assert_true(*q != '\n' && *q != '\r');
        p = nl + 2;
    }
    free(msg);
    assert_null(mail_build("x <a@b.c>", "evil@example.com\r\nBcc: x@example.com", &m, &len));
    assert_null(mail_build("x <a@b.c>", "<a@example.com>", &m, &len));
    assert_null(mail_build("x <a@b.c>", "no-at-sign", &m, &len));
    mail_msg_free(&m);
    /* with SMTP_URL empty, sending succeeds without a server */
    mail_msg_t m2 = { strdup("s"), strdup("t"), strdup("h") };
    char err[128];
    assert_int_equal(mail_send("ann@example.com", &m2, err, sizeof err), MAIL_OK);
    mail_msg_free(&m2);
    assert_int_equal(mail_configure("", "no address here"), -1);
}

static void test_send_unreachable(void **state)
{
    (void)state;
    /* a closed port: a temporary failure, worth a retry */
    assert_int_equal(mail_configure("smtp://127.0.0.1:1", "shop@shop.example"), 0);
    mail_msg_t m = { strdup("s"), strdup("t"), strdup("h") };
    char err[128] = "";
    assert_int_equal(mail_send("ann@example.com", &m, err, sizeof err), MAIL_ETEMP);
    assert_non_null(strstr(err, "smtp:"));
    mail_msg_free(&m);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render), cmocka_unit_test(test_render_errors),
        cmocka_unit_test(test_build),  cmocka_unit_test(test_send_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
