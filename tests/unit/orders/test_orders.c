/*
 * test_orders.c — the pure parts of the orders module: the state machine
 * table, totals per region, order numbers, and the checkout body parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "orders/order.h"
#include "orders/order_state.h"
#include "orders/pricing.h"
#include "payments/provider.h"
#include "payments/test_provider.h"

static void test_status_names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < ORDER_NSTATUS; i++) assert_int_equal(order_status_parse(order_status_name(i)), i);
    assert_int_equal(order_status_parse("teleported"), -1);
    assert_string_equal(order_status_name(ORDER_NSTATUS), "unknown");
    for (int i = 0; i < PAY_NSTATUS; i++) assert_int_equal(pay_status_parse(pay_status_name(i)), i);
    assert_int_equal(pay_status_parse("maybe"), -1);
}

static void test_transitions(void **state)
{
    (void)state;
    assert_true(order_transition_allowed(ORDER_PENDING_PAYMENT, ORDER_PAID, BY_SYSTEM));
    assert_false(order_transition_allowed(ORDER_PENDING_PAYMENT, ORDER_PAID, BY_ADMIN));
    assert_false(order_transition_allowed(ORDER_PENDING_PAYMENT, ORDER_PAID, BY_CUSTOMER));
    assert_true(order_transition_allowed(ORDER_PENDING_PAYMENT, ORDER_CANCELLED, BY_CUSTOMER));
    assert_false(order_transition_allowed(ORDER_SHIPPED, ORDER_CANCELLED, BY_CUSTOMER | BY_ADMIN | BY_SYSTEM));
    assert_false(order_transition_allowed(ORDER_CANCELLED, ORDER_PAID, BY_SYSTEM));
    /* terminal states lead nowhere; nothing leads to pending_payment */
    for (int to = 0; to < ORDER_NSTATUS; to++) {
        assert_false(order_transition_allowed(ORDER_CANCELLED, to, BY_CUSTOMER | BY_SYSTEM | BY_ADMIN));
        assert_false(order_transition_allowed(ORDER_REFUNDED, to, BY_CUSTOMER | BY_SYSTEM | BY_ADMIN));
        assert_false(order_transition_allowed(to, ORDER_PENDING_PAYMENT, BY_CUSTOMER | BY_SYSTEM | BY_ADMIN));
        assert_false(order_transition_allowed(to, to, BY_CUSTOMER | BY_SYSTEM | BY_ADMIN));
    }
    /* a status never both holds a reservation and has committed stock */
    for (int s = 0; s < ORDER_NSTATUS; s++)
        assert_false(order_status_holds_reservation(s) && order_status_stock_committed(s));
}

static void test_totals(void **state)
{
    (void)state;
    region_t eu = { .code = "eu", .currency = "EUR", .shipping_amount = 499, .free_shipping_over = 5000, .tax_rate_bps = 2000 };
    totals_t t;
    assert_int_equal(pricing_totals(&eu, 1999, 1, &t), 0);
    assert_int_equal(t.shipping, 499);
    assert_int_equal(t.tax, 400); /* 399.8 rounds half up */
    assert_int_equal(t.total, 1999 + 499 + 400);
    assert_int_equal(pricing_totals(&eu, 5000, 1, &t), 0);
    assert_int_equal(t.shipping, 0);
    assert_int_equal(pricing_totals(&eu, 0, 0, &t), 0);
    assert_int_equal(t.total, 0);
    assert_int_equal(pricing_totals(&eu, -1, 1, &t), -1);
    assert_int_equal(pricing_totals(&eu, INT64_MAX / 2, 1, &t), -1);
}

static void test_order_number(void **state)
{
    (void)state;
    char a[ORDER_NUMBER_MAX], b[ORDER_NUMBER_MAX];
    order_number_new(a, 1795534439400LL); /* 2026-11-24 */
    assert_int_equal(strlen(a), 16);
    assert_memory_equal(a, "M261124-", 8);
    for (int i = 8; i < 16; i++) assert_non_null(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", a[i]));
    /* a day's numbers sort by time (the index takes them at its edge), and
     * one millisecond's differ in their random bits (8,192 values) */
    int same = 0;
    for (int i = 0; i < 64; i++) {
        order_number_new(b, 1795534439400LL + 1);
        assert_true(strcmp(a, b) < 0);
        char c2[ORDER_NUMBER_MAX];
        order_number_new(c2, 1795534439400LL + 1);
        same += strcmp(b, c2) == 0;
    }
    assert_true(same < 8);
    order_number_new(b, 1795534439400LL + 86399999LL - 1795534439400LL % 86400000LL); /* the day's last ms */
    assert_true(strcmp(a, b) < 0);
    assert_memory_equal(b, "M261124-", 8);
}

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_checkout_parser(void **state)
{
    (void)state;
    checkout_input_t in;
    json_t *errs;
    json_t *b = parse("{\"cart_id\":\"cart_01m8732gvqzjk0x74gs2wwmyyt\",\"email\":\"a@b.co\",\"shipping_address\":"
                      "{\"name\":\"A\",\"line1\":\"x\",\"city\":\"c\",\"postal_code\":\"N1 9GU\",\"country\":\"GB\"}}");
    assert_int_equal(order_parse_checkout(b, &in, &errs), 0);
    assert_null(errs);
    assert_string_equal(in.email, "a@b.co");
    assert_int_equal(json_object_size(in.address), 5);
    json_decref(in.address);
    json_decref(b);
    b = parse("{\"cart_id\":\"cart_01m8732gvqzjk0x74gs2wwmyyt\",\"shipping_address\":"
              "{\"name\":\"A\",\"line1\":\"x\",\"city\":\"c\",\"postal_code\":\"1\",\"country\":\"gb\",\"x\":1}}");
    assert_int_equal(order_parse_checkout(b, &in, &errs), -1);
    assert_true(json_array_size(errs) >= 2);
    assert_null(in.address);
    json_decref(errs);
    json_decref(b);
    assert_true(order_email_valid("ada@example.org"));
    assert_false(order_email_valid("ada@example"));
    assert_false(order_email_valid("a da@example.org"));
    assert_false(order_email_valid("@example.org"));
    assert_false(order_email_valid("a@@example.org"));
}

static void test_lines_parser(void **state)
{
    (void)state;
    line_req_t out[CART_MAX_LINES];
    json_t *errs;
    json_t *l = parse("[{\"variant_id\":\"var_01jgfjjz00xpnrfwm3b1tas66q\",\"quantity\":3}]");
    assert_int_equal(order_parse_lines(l, out, CART_MAX_LINES, &errs), 1);
    assert_int_equal(out[0].quantity, 3);
    json_decref(l);
    const char *bad[] = { "[]", "{}", "[{\"variant_id\":\"var_01jgfjjz00xpnrfwm3b1tas66q\",\"quantity\":0}]",
                          "[{\"variant_id\":\"var_01jgfjjz00xpnrfwm3b1tas66q\",\"quantity\":1000}]",
                          "[{\"variant_id\":\"var_01jgfjjz00xpnrfwm3b1tas66q\",\"quantity\":1.5}]",
                          "[{\"variant_id\":\"prod_01jgfjjz00xpnrfwm3b1tas66q\",\"quantity\":1}]",
                          "[{\"variant_id\":\"var_01jgfjjz00xpnrfwm3b1tas66q\",\"quantity\":1},"
                          "{\"variant_id\":\"var_01jgfjjz00xpnrfwm3b1tas66q\",\"quantity\":1}]" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l = parse(bad[i]);
        assert_int_equal(order_parse_lines(l, out, CART_MAX_LINES, &errs), -1);
        assert_true(json_array_size(errs) >= 1);
        json_decref(errs);
        json_decref(l);
    }
}

static void test_test_provider(void **state)
{
    (void)state;
    pay_test_register();
    const pay_provider_t *p = pay_provider_find("test");
    assert_non_null(p);
    assert_null(pay_provider_find("stripe-but-not-here"));
    pay_request_t rq = { .payment_id = "pay_1", .amount = 100, .currency = "EUR", .method = "tok_visa" };
    pay_result_t r;
    assert_int_equal(p->charge(p->ctx, &rq, &r), 0);
    assert_int_equal(r.status, PAY_SUCCEEDED);
    pay_result_t again;
    assert_int_equal(p->retrieve(p->ctx, r.ref, &again), 0);
    assert_int_equal(again.status, PAY_SUCCEEDED);
    const char *declines[] = { "tok_decline", "tok_chargeDeclined" };
    for (int i = 0; i < 2; i++) {
        rq.method = declines[i];
        assert_int_equal(p->charge(p->ctx, &rq, &r), 0);
        assert_int_equal(r.status, PAY_FAILED);
        assert_true(r.error[0] != '\0');
    }
    assert_int_equal(p->refund(p->ctx, r.ref, 100, "k", &again), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names_round_trip), cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_totals),                  cmocka_unit_test(test_order_number),
        cmocka_unit_test(test_checkout_parser),         cmocka_unit_test(test_lines_parser),
        cmocka_unit_test(test_test_provider),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
