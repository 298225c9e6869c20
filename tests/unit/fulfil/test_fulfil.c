/*
 * test_fulfil.c — the shipment state machine, the order roll-up, the path
 * search over order transitions, and carrier event validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fulfil/fulfil.h"
#include "fulfil/shipment_state.h"

static void test_names_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < SHIP_NSTATUS; i++) assert_int_equal(ship_status_parse(ship_status_name(i)), i);
    assert_int_equal(ship_status_parse("shipped"), -1);
    assert_int_equal(ship_status_parse(""), -1);
    assert_int_equal(ship_status_parse(NULL), -1);
}

static void test_transitions(void **state)
{
    (void)state;
    assert_true(ship_transition_allowed(SHIP_PENDING, SHIP_LABEL_CREATED));
    assert_true(ship_transition_allowed(SHIP_IN_TRANSIT, SHIP_DELIVERED));
    assert_true(ship_transition_allowed(SHIP_FAILED, SHIP_OUT_FOR_DELIVERY));
    assert_true(ship_transition_allowed(SHIP_DELIVERED, SHIP_RETURNED));
    /* never backwards, nothing after returned, no self-moves */
    assert_false(ship_transition_allowed(SHIP_DELIVERED, SHIP_IN_TRANSIT));
    assert_false(ship_transition_allowed(SHIP_OUT_FOR_DELIVERY, SHIP_IN_TRANSIT));
    assert_false(ship_transition_allowed(SHIP_IN_TRANSIT, SHIP_LABEL_CREATED));
    for (int i = 0; i < SHIP_NSTATUS; i++) {
        assert_false(ship_transition_allowed(i, i));
        assert_false(ship_transition_allowed(SHIP_RETURNED, i));
        assert_false(ship_transition_allowed(i, SHIP_PENDING));
    }
}

static void test_rollup(void **state)
{
    (void)state;
    ship_status_t a[] = { SHIP_DELIVERED, SHIP_DELIVERED };
    assert_int_equal(ship_rollup(a, 2), ORDER_DELIVERED);
    ship_status_t b[] = { SHIP_DELIVERED, SHIP_IN_TRANSIT };
    assert_int_equal(ship_rollup(b, 2), ORDER_SHIPPED);
    ship_status_t c[] = { SHIP_LABEL_CREATED, SHIP_IN_TRANSIT };
    assert_int_equal(ship_rollup(c, 2), ORDER_FULFILLING);
    ship_status_t d[] = { SHIP_FAILED, SHIP_DELIVERED };
    assert_int_equal(ship_rollup(d, 2), ORDER_DELIVERY_FAILED);
    ship_status_t e[] = { SHIP_RETURNED, SHIP_DELIVERED };
    assert_int_equal(ship_rollup(e, 2), ORDER_RETURNED);
    ship_status_t f[] = { SHIP_PENDING };
    assert_int_equal(ship_rollup(f, 1), ORDER_FULFILLING);
    assert_int_equal(ship_rollup(NULL, 0), ORDER_FULFILLING);
}

static void test_order_path(void **state)
{
    (void)state;
    order_status_t p[8];
    assert_int_equal(ship_order_path(ORDER_FULFILLING, ORDER_DELIVERED, p, 8), 2);
    assert_int_equal(p[0], ORDER_SHIPPED);
    assert_int_equal(p[1], ORDER_DELIVERED);
    assert_int_equal(ship_order_path(ORDER_SHIPPED, ORDER_SHIPPED, p, 8), 0);
    assert_int_equal(ship_order_path(ORDER_DELIVERY_FAILED, ORDER_DELIVERED, p, 8), 2);
    assert_int_equal(p[0], ORDER_SHIPPED);
    assert_int_equal(ship_order_path(ORDER_SHIPPED, ORDER_RETURNED, p, 8), 1);
    /* never back, never out of a final or foreign state */
    assert_int_equal(ship_order_path(ORDER_DELIVERED, ORDER_SHIPPED, p, 8), -1);
    assert_int_equal(ship_order_path(ORDER_CANCELLED, ORDER_SHIPPED, p, 8), -1);
    assert_int_equal(ship_order_path(ORDER_REFUNDED, ORDER_DELIVERED, p, 8), -1);
    assert_int_equal(ship_order_path(ORDER_FULFILLING, ORDER_DELIVERED, p, 1), -1);
    /* every step of every path is an allowed system transition */
    for (int f = 0; f < ORDER_NSTATUS; f++)
        for (int t = 0; t < ORDER_NSTATUS; t++) {
            int n = ship_order_path(f, t, p, 8);
            order_status_t cur = f;
            for (int i = 0; i < n; i++) {
                assert_true(order_transition_allowed(cur, p[i], BY_SYSTEM));
                cur = p[i];
            }
            if (n > 0) assert_int_equal(cur, t);
        }
}

static int parse(const char *text, carrier_event_t *ev, json_t **errors)
{
    json_t *body = json_loads(text, 0, NULL);
    *errors = json_array();
    int rc = fulfil_parse_event(body, 1800000000000LL, ev, *errors);
    json_decref(body);
    return rc;
}

static void test_parse_event(void **state)
{
    (void)state;
    carrier_event_t ev;
    json_t *errors;
    assert_int_equal(parse("{\"id\":\"e-1\",\"status\":\"in_transit\",\"occurred_at\":\"2026-11-24T10:00:00Z\","
                           "\"location\":\"Lyon\",\"tracking_number\":\"1Z-999\"}",
                           &ev, &errors),
                     0);
    assert_int_equal(json_array_size(errors), 0);
    assert_string_equal(ev.external_id, "e-1");
    assert_int_equal(ev.status, SHIP_IN_TRANSIT);
    assert_string_equal(ev.location, "Lyon");
    assert_string_equal(ev.tracking_number, "1Z-999");
    assert_string_equal(ev.note, "");
    json_decref(errors);

    const char *bad[] = {
        "[]",
        "{}",
        "{\"id\":\"e\",\"status\":\"pending\",\"occurred_at\":\"2026-11-24T10:00:00Z\"}",
        "{\"id\":\"e\",\"status\":\"shipped\",\"occurred_at\":\"2026-11-24T10:00:00Z\"}",
        "{\"id\":\"has space\",\"status\":\"delivered\",\"occurred_at\":\"2026-11-24T10:00:00Z\"}",
        "{\"id\":\"e\",\"status\":\"delivered\",\"occurred_at\":\"yesterday\"}",
        "{\"id\":\"e\",\"status\":\"delivered\",\"occurred_at\":\"2099-01-01T00:00:00Z\"}",
        "{\"id\":\"e\",\"status\":\"delivered\",\"occurred_at\":\"2026-11-24T10:00:00Z\",\"tracking_number\":\"a b\"}",
        "{\"id\":\"e\",\"status\":\"delivered\",\"occurred_at\":\"2026-11-24T10:00:00Z\",\"location\":\"a\\u0000b\"}",
        "{\"id\":\"e\",\"status\":\"delivered\",\"occurred_at\":\"2026-11-24T10:00:00Z\",\"extra\":1}",
        "{\"id\":\"e\\u0000x\",\"status\":\"delivered\",\"occurred_at\":\"2026-11-24T10:00:00Z\"}",
        "{\"id\":5,\"status\":\"delivered\",\"occurred_at\":\"2026-11-24T10:00:00Z\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *body = json_loads(bad[i], JSON_ALLOW_NUL, NULL);
        errors = json_array();
        assert_int_equal(fulfil_parse_event(body, 1800000000000LL, &ev, errors), -1);
        assert_true(json_array_size(errors) > 0);
        json_decref(errors);
        json_decref(body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_roundtrip), cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_rollup),          cmocka_unit_test(test_order_path),
        cmocka_unit_test(test_parse_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
