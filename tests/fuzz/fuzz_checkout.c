/*
 * fuzz_checkout.c — libFuzzer harness for the orders module's body parsers:
 * the checkout body (cart id, email, shipping address) and the line lists
 * of POST /v1/inventory/availability (order_parse_checkout,
 * order_parse_lines, order_parse_quantity, order_email_valid).
 *
 * Invariants: a parser either accepts and returns what it promises (a
 * normalised address object holding only known members with non-empty
 * strings and a two-capital country; lines with valid variant ids,
 * quantities in 1..999 and no repeats) or refuses with a non-empty errors
 * array; never both, never a crash or a leak.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orders/order.h"

static void check_checkout(json_t *body)
{
    checkout_input_t in;
    json_t *errs = NULL;
    int rc = order_parse_checkout(body, &in, &errs);
    if (rc == 0) {
        if (errs || !in.cart_id || !json_is_object(in.address)) abort();
        if (!id_valid(in.cart_id, strlen(in.cart_id), "cart")) abort();
        if (in.email && !order_email_valid(in.email)) abort();
        const char *c = json_string_value(json_object_get(in.address, "country"));
        if (!c || strlen(c) != 2 || c[0] < 'A' || c[0] > 'Z') abort();
        const char *k;
        json_t *v;
        json_object_foreach(in.address, k, v) {
            if (!json_is_string(v) || json_string_length(v) == 0) abort();
        }
        json_decref(in.address);
    } else {
        if (!json_is_array(errs) || json_array_size(errs) == 0 || in.address) abort();
        json_decref(errs);
    }
}

static void check_lines(json_t *lines)
{
    line_req_t out[CART_MAX_LINES];
    json_t *errs = NULL;
    int n = order_parse_lines(lines, out, CART_MAX_LINES, &errs);
    if (n < 0) {
        if (!json_is_array(errs) || json_array_size(errs) == 0) abort();
        json_decref(errs);
        return;
    }
    if (errs || n == 0 || n > CART_MAX_LINES) abort();
    for (int i = 0; i < n; i++) {
        if (out[i].quantity < 1 || out[i].quantity > CART_MAX_QTY) abort();
        if (!id_valid(out[i].variant_id, strlen(out[i].variant_id), "var")) abort();
        for (int j = 0; j < i; j++)
            if (!strcmp(out[i].variant_id, out[j].variant_id)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    if (!j) return 0;
    if (json_is_object(j)) {
        check_checkout(j);
        check_lines(json_object_get(j, "lines"));
        int64_t q;
        json_t *qv = json_object_get(j, "quantity");
        if (qv && order_parse_quantity(qv, 0, &q) == 0 && (q < 0 || q > CART_MAX_QTY)) abort();
        json_t *e = json_object_get(j, "email");
        if (json_is_string(e)) (void)order_email_valid(json_string_value(e));
    }
    json_decref(j);
    return 0;
}
