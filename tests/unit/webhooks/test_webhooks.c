/*
 * test_webhooks.c — the pure parts of outgoing webhooks: Standard Webhooks
 * signatures (the reference vector, checked against the standardwebhooks
 * npm library), secrets, the SSRF address rules for IPv4 and IPv6, URL
 * checks, event-type patterns and endpoint body validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

#include "webhooks/webhooks.h"

static void test_sign_reference_vector(void **state)
{
    (void)state;
    /* the vector of the Standard Webhooks reference libraries; the npm
     * package `standardwebhooks` 1.1.1 gives the same value */
    char sig[WEBHOOK_SIG_MAX];
    const char *body = "{\"test\": 2432232314}";
    assert_int_equal(webhook_sign(sig, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                  1614265330, body, strlen(body)),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* the prefix is optional, as in the reference libraries */
    char sig2[WEBHOOK_SIG_MAX];
    assert_int_equal(webhook_sign(sig2, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                                  body, strlen(body)),
                     0);
    assert_string_equal(sig, sig2);
    /* any change of id, time or body changes the signature */
    assert_int_equal(webhook_sign(sig2, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                  1614265331, body, strlen(body)),
                     0);
    assert_string_not_equal(sig, sig2);
    assert_int_equal(webhook_sign(sig2, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJel",
                                  1614265330, body, strlen(body)),
                     0);
    assert_string_not_equal(sig, sig2);
    assert_int_equal(webhook_sign(sig2, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                  1614265330, body, strlen(body) - 1),
                     0);
    assert_string_not_equal(sig, sig2);
    /* secrets that do not decode */
    assert_int_equal(webhook_sign(sig2, "whsec_!!!", "m", 1, "x", 1), -1);
    assert_int_equal(webhook_sign(sig2, "whsec_", "m", 1, "x", 1), -1);
}

static void test_secret_new(void **state)
{
    (void)state;
    char a[WEBHOOK_SECRET_MAX], b[WEBHOOK_SECRET_MAX];
    webhook_secret_new(a);
    webhook_secret_new(b);
    assert_int_equal(strncmp(a, "whsec_", 6), 0);
    assert_int_equal(strlen(a), 6 + 32);
    assert_string_not_equal(a, b);
    unsigned char key[64];
    assert_int_equal(webhook_secret_decode(a, key, sizeof key), 24);
}

static const char *v4(const char *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    assert_int_equal(inet_pton(AF_INET, s, &a.sin_addr), 1);
    return webhook_addr_refused((struct sockaddr *)&a);
}

static const char *v6(const char *s)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
    assert_int_equal(inet_pton(AF_INET6, s, &a.sin6_addr), 1);
    return webhook_addr_refused((struct sockaddr *)&a);
}

#define REFUSED(expr, why) assert_string_equal((expr) ? (expr) : "(allowed)", why)
#define ALLOWED(expr) assert_null(expr)

static void test_addr_ipv4(void **state)
{
    (void)state;
    REFUSED(v4("127.0.0.1"), "loopback");
    REFUSED(v4("127.255.255.254"), "loopback");
    REFUSED(v4("0.0.0.0"), "unspecified");
    REFUSED(v4("10.0.0.1"), "private");
    REFUSED(v4("172.16.0.1"), "private");
    REFUSED(v4("172.31.255.255"), "private");
    ALLOWED(v4("172.32.0.1"));
    ALLOWED(v4("172.15.255.255"));
    REFUSED(v4("192.168.1.1"), "private");
    REFUSED(v4("100.64.0.1"), "private");
    ALLOWED(v4("100.128.0.1"));
    REFUSED(v4("169.254.169.254"), "link-local");
    REFUSED(v4("224.0.0.1"), "multicast");
    REFUSED(v4("239.255.255.250"), "multicast");
    REFUSED(v4("255.255.255.255"), "reserved");
    REFUSED(v4("240.0.0.1"), "reserved");
    REFUSED(v4("198.18.0.1"), "reserved");
    ALLOWED(v4("8.8.8.8"));
    ALLOWED(v4("93.184.216.34"));
    ALLOWED(v4("192.169.0.1"));
    ALLOWED(v4("11.0.0.1"));
}

static void test_addr_ipv6(void **state)
{
    (void)state;
    REFUSED(v6("::"), "unspecified");
    REFUSED(v6("::1"), "loopback");
    REFUSED(v6("fe80::1"), "link-local");
    REFUSED(v6("febf::1"), "link-local");
    REFUSED(v6("fc00::1"), "private");
    REFUSED(v6("fd12:3456::1"), "private");
    REFUSED(v6("fec0::1"), "private");
    REFUSED(v6("ff02::1"), "multicast");
    REFUSED(v6("2001:db8::1"), "reserved");
    /* IPv4 inside IPv6 is judged by the IPv4 part */
    REFUSED(v6("::ffff:127.0.0.1"), "loopback");
    REFUSED(v6("::ffff:10.0.0.1"), "private");
    REFUSED(v6("::ffff:169.254.169.254"), "link-local");
    ALLOWED(v6("::ffff:8.8.8.8"));
    REFUSED(v6("64:ff9b::7f00:1"), "loopback");
    ALLOWED(v6("64:ff9b::808:808"));
    REFUSED(v6("::127.0.0.1"), "loopback");
    REFUSED(v6("::8.8.8.8"), "reserved");
    REFUSED(v6("2002:7f00:1::"), "loopback");
    REFUSED(v6("2002:c0a8:101::1"), "private");
    ALLOWED(v6("2606:4700:4700::1111"));
    ALLOWED(v6("2a00:1450:4001::200e"));
    struct sockaddr other = { .sa_family = AF_UNIX };
    REFUSED(webhook_addr_refused(&other), "not an IP address");
    REFUSED(webhook_addr_refused(NULL), "not an IP address");
}

static int url_ok(const char *u, int allow)
{
    char err[160] = "";
    int rc = webhook_url_check(u, allow, err, sizeof err);
    if (rc < 0) assert_true(err[0] != 0);
    return rc == 0;
}

static void test_url_check(void **state)
{
    (void)state;
    assert_true(url_ok("https://hooks.example.com/in?x=1", 0));
    assert_true(url_ok("http://example.com:8080/", 0));
    assert_true(url_ok("HTTPS://EXAMPLE.COM/", 0));
    assert_true(url_ok("http://8.8.8.8/", 0));
    assert_false(url_ok("ftp://example.com/", 0));
    assert_false(url_ok("file:///etc/passwd", 0));
    assert_false(url_ok("gopher://example.com/", 0));
    assert_false(url_ok("example.com/x", 0));
    assert_false(url_ok("", 0));
    assert_false(url_ok("https://", 0));
    assert_false(url_ok("https://u:p@example.com/", 0));
    assert_false(url_ok("https://u@example.com/", 0));
    assert_false(url_ok("https://example.com/#x", 0));
    assert_false(url_ok("https://exa mple.com/", 0));
    assert_false(url_ok("https://example.com/\x01", 0));
    assert_false(url_ok("https://ex\xc3\xa4mple.com/", 0));
    /* literal private addresses and localhost are refused up front ... */
    assert_false(url_ok("http://127.0.0.1:8080/", 0));
    assert_false(url_ok("http://localhost/", 0));
    assert_false(url_ok("http://LOCALHOST./", 0));
    assert_false(url_ok("http://api.localhost/", 0));
    assert_false(url_ok("http://[::1]/", 0));
    assert_false(url_ok("http://[::ffff:127.0.0.1]/", 0));
    assert_false(url_ok("http://[fe80::1%25eth0]/", 0));
    assert_false(url_ok("http://169.254.169.254/latest", 0));
    assert_false(url_ok("http://0.0.0.0/", 0));
    /* ... unless allowed */
    assert_true(url_ok("http://127.0.0.1:8080/", 1));
    assert_true(url_ok("http://localhost/", 1));
    assert_true(url_ok("http://[::1]:9/", 1));
    char big[WEBHOOK_URL_MAX + 32];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "https://x.com/", 14);
    assert_false(url_ok(big, 0));
}

static void test_type_patterns(void **state)
{
    (void)state;
    assert_true(webhook_type_matches("*", "order.paid"));
    assert_true(webhook_type_matches("order.*", "order.paid"));
    assert_true(webhook_type_matches("order.*", "order.status_changed"));
    assert_false(webhook_type_matches("order.*", "orders.paid"));
    assert_false(webhook_type_matches("order.*", "order"));
    assert_true(webhook_type_matches("order.paid", "order.paid"));
    assert_false(webhook_type_matches("order.paid", "order.paid.x"));
    assert_true(webhook_types_match("[\"a.b\",\"order.*\"]", "order.created"));
    assert_false(webhook_types_match("[\"a.b\"]", "order.created"));
    assert_false(webhook_types_match("not json", "order.created"));
}

static int parse_errors(const char *json, int creating)
{
    json_t *b = json_loads(json, JSON_ALLOW_NUL, NULL);
    assert_non_null(b);
    json_t *errors = json_array();
    webhook_input_t in;
    int n = webhook_input_parse(b, creating, 0, &in, errors);
    assert_int_equal((size_t)n, json_array_size(errors));
    json_decref(errors);
    json_decref(b);
    return n;
}

static void test_input_parse(void **state)
{
    (void)state;
    assert_int_equal(parse_errors("{\"url\":\"https://a.example/\",\"event_types\":[\"*\"]}", 1), 0);
    assert_int_equal(parse_errors("{\"url\":\"https://a.example/\",\"event_types\":[\"order.*\",\"payment.succeeded\"],"
                                  "\"description\":\"ERP\"}",
                                  1),
                     0);
    assert_int_equal(parse_errors("{}", 1), 2);
    assert_int_equal(parse_errors("{}", 0), 0);
    assert_int_equal(parse_errors("{\"enabled\":false}", 0), 0);
    assert_int_equal(parse_errors("{\"enabled\":false}", 1), 3); /* not allowed on create + 2 required */
    assert_int_equal(parse_errors("{\"enabled\":\"no\"}", 0), 1);
    assert_int_equal(parse_errors("{\"url\":1,\"event_types\":\"*\"}", 1), 2);
    assert_int_equal(parse_errors("{\"url\":\"https://a.example/\",\"event_types\":[\"*\",\"a..b\",\"a.*.b\",\"A\",\"\"]}", 1), 4);
    assert_int_equal(parse_errors("{\"url\":\"https://a.example/\",\"event_types\":[\"order*\"]}", 1), 1);
    assert_int_equal(parse_errors("{\"url\":\"https://a.example/\",\"event_types\":[\".*\"]}", 1), 1);
    assert_int_equal(parse_errors("{\"url\":\"https://a.example/\",\"event_types\":[\"*.*\"]}", 1), 1);
    assert_int_equal(parse_errors("{\"url\":\"https://a.example/\",\"event_types\":[\"a\\u0000b\"]}", 1), 1);
    assert_int_equal(parse_errors("{\"url\":\"http://10.0.0.1/\",\"event_types\":[\"*\"]}", 1), 1);
    assert_int_equal(parse_errors("{\"url\":\"https://a.example/\",\"event_types\":[\"*\"],\"other\":1}", 1), 1);
    json_t *b = json_pack("{s:s, s:[s]}", "url", "https://a.example/", "event_types", "*");
    json_t *many = json_array();
    for (int i = 0; i < WEBHOOK_TYPES_MAX + 1; i++) json_array_append_new(many, json_string("a.b"));
    json_object_set_new(b, "event_types", many);
    json_t *errors = json_array();
    webhook_input_t in;
    assert_int_equal(webhook_input_parse(b, 1, 0, &in, errors), 1);
    json_decref(errors);
    json_decref(b);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_reference_vector),
        cmocka_unit_test(test_secret_new),
        cmocka_unit_test(test_addr_ipv4),
        cmocka_unit_test(test_addr_ipv6),
        cmocka_unit_test(test_url_check),
        cmocka_unit_test(test_type_patterns),
        cmocka_unit_test(test_input_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
