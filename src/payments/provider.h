/*
 * provider.h — the payment provider interface.
 *
 * A provider moves money for a payment row that the orders module created.
 * Calls may block on the network, so they run in jobs (queue
 * "payments.process"), never on an HTTP thread.  Providers: "test" (built in,
 * decides from the payment method token, no network) and "stripe"
 * (PaymentIntents over Stripe's REST API; final states also arrive by
 * signed webhook).  Final outcomes are applied with payment_apply_update()
 * (src/orders/payment.h), which is idempotent, so a webhook, a job and the
 * reconciliation job may all report the same outcome safely.
 */
#ifndef MERCATO_PAYMENTS_PROVIDER_H
#define MERCATO_PAYMENTS_PROVIDER_H

#include <stdint.h>

/* Provider-side status, normalised. */
#define PAY_STATUS_LIST(X)                                                       \
    X(PROCESSING, "processing")   /* submitted, outcome not known yet */          \
    X(REQUIRES_ACTION, "requires_action") /* customer must act (3-D Secure) */    \
    X(SUCCEEDED, "succeeded")                                                    \
    X(FAILED, "failed")                                                          \
    X(REFUNDED, "refunded")

typedef enum {
#define X(name, str) PAY_##name,
    PAY_STATUS_LIST(X)
#undef X
    PAY_NSTATUS
} pay_status_t;

const char *pay_status_name(pay_status_t s);
int pay_status_parse(const char *s); /* -1 when unknown */

typedef struct pay_result {
    pay_status_t status;
    char ref[128];           /* provider's id (pi_..., re_...) */
    char client_secret[256]; /* for client-side confirmation, when any */
    char error[256];         /* decline / failure reason for people */
    int retryable;           /* a transport or 5xx error: try the call again later */
} pay_result_t;

typedef struct pay_request {
    const char *payment_id;   /* pay_... (our id; also the idempotency key base) */
    const char *order_id;
    int64_t amount;           /* minor units */
    const char *currency;     /* ISO 4217, upper case */
    const char *method;       /* payment method token, e.g. "tok_visa", "pm_card_visa" */
    const char *customer_email;
} pay_request_t;

typedef struct pay_provider {
    const char *name;
    /* Creates and confirms a payment.  0 = a definite answer in out (status
     * and ref set), -1 = could not reach a decision (out->retryable says
     * whether to retry).  Must be idempotent for the same payment_id. */
    int (*charge)(void *ctx, const pay_request_t *req, pay_result_t *out);
    /* Asks the provider for the current state of ref (reconciliation). */
    int (*retrieve)(void *ctx, const char *ref, pay_result_t *out);
    /* Refunds amount of ref; idem_key makes retries safe. */
    int (*refund)(void *ctx, const char *ref, int64_t amount, const char *idem_key, pay_result_t *out);
    void *ctx;
} pay_provider_t;

/* Registry: providers register at start-up; lookup by name (NULL if absent). */
void pay_provider_register(const pay_provider_t *p);
const pay_provider_t *pay_provider_find(const char *name);

#endif
