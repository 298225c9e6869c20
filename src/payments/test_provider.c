/*
 * test_provider.c — the built-in "test" payment provider: decides from the
 * payment method token alone, with no network and no state, so an order can
 * be paid end to end in development, tests and benchmarks.
 *
 *   tok_visa, tok_mastercard, pm_card_visa       succeed
 *   tok_decline, tok_chargeDeclined, any other   fail ("Your card was declined.")
 *
 * The provider reference encodes the outcome ("test_ok_pay_..." /
 * "test_dec_pay_..."), so retrieve() answers without remembering anything,
 * and charging the same payment id twice gives the same answer (idempotent).
 */
#include "payments/test_provider.h"

#include <stdio.h>
#include <string.h>

static int succeeds(const char *m)
{
    return m && (!strcmp(m, "tok_visa") || !strcmp(m, "tok_mastercard") || !strcmp(m, "pm_card_visa"));
}

static int test_charge(void *ctx, const pay_request_t *req, pay_result_t *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    if (succeeds(req->method)) {
        out->status = PAY_SUCCEEDED;
        snprintf(out->ref, sizeof out->ref, "test_ok_%s", req->payment_id);
    } else {
        out->status = PAY_FAILED;
        snprintf(out->ref, sizeof out->ref, "test_dec_%s", req->payment_id);
        snprintf(out->error, sizeof out->error, "Your card was declined.");
    }
    return 0;
}

static int test_retrieve(void *ctx, const char *ref, pay_result_t *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    snprintf(out->ref, sizeof out->ref, "%s", ref);
    if (!strncmp(ref, "test_ok_", 8)) out->status = PAY_SUCCEEDED;
    else if (!strncmp(ref, "test_dec_", 9)) out->status = PAY_FAILED;
    else return -1;
    return 0;
}

static int test_refund(void *ctx, const char *ref, int64_t amount, const char *idem_key, pay_result_t *out)
{
    (void)ctx;
    (void)amount;
    (void)idem_key;
    memset(out, 0, sizeof *out);
    if (strncmp(ref, "test_ok_", 8) != 0) {
        snprintf(out->error, sizeof out->error, "only a succeeded test payment can be refunded");
        return -1;
    }
    out->status = PAY_REFUNDED;
    snprintf(out->ref, sizeof out->ref, "%s", ref);
    return 0;
}

static const pay_provider_t test_provider = {
    .name = "test",
    .charge = test_charge,
    .retrieve = test_retrieve,
    .refund = test_refund,
    .ctx = NULL,
};

void pay_test_register(void)
{
    pay_provider_register(&test_provider);
}
