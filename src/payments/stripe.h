/*
 * stripe.h — the Stripe payment provider and Stripe's incoming webhooks.
 *
 * DESIGN
 * The provider (stripe_provider()) implements pay_provider_t over Stripe's
 * REST API with libcurl: form-encoded requests, the secret key as bearer,
 * our payment id as Idempotency-Key, a configurable base URL (tests point
 * it at a local server answering with Stripe's documented payloads).  It
 * blocks on the network, so it runs in jobs only.
 *
 * Incoming webhooks are checked by stripe_sig_verify() — a pure function:
 * parse "t=...,v1=...,v1=...", HMAC-SHA256 with the endpoint secret (the
 * whole "whsec_..." text is the key, as in Stripe's libraries) over
 * "t.body", a tolerance window, a constant-time compare against every v1
 * value; v0 and unknown schemes are ignored.  stripe_event_parse() turns
 * an event body into the provider-neutral update the orders module
 * applies (payment_intent.succeeded, payment_intent.payment_failed,
 * charge.refunded).  The route that glues both to payment_apply_update()
 * lives in stripe_webhook.c.
 */
#ifndef MERCATO_PAYMENTS_STRIPE_H
#define MERCATO_PAYMENTS_STRIPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "http/router.h"
#include "payments/provider.h"

#define STRIPE_TOLERANCE_S 300
#define STRIPE_SIG_MAX_V1 8 /* v1 values looked at in one header */

/* Results of stripe_sig_verify. */
#define STRIPE_SIG_OK 0
#define STRIPE_SIG_EMALFORMED (-1) /* no header, no t=, a bad t, or an over-long header */
#define STRIPE_SIG_ENOSIG (-2)     /* no v1 signature in the header */
#define STRIPE_SIG_ESTALE (-3)     /* t is more than tolerance seconds from now */
#define STRIPE_SIG_EMISMATCH (-4)  /* no v1 value matches */

/* Verifies a Stripe-Signature header for body with the endpoint secret at
 * time now (epoch seconds); tolerance_s <= 0 means STRIPE_TOLERANCE_S.
 * Timestamps too far in the past and in the future are both refused.
 * Returns STRIPE_SIG_OK or one of the negative codes above. */
int stripe_sig_verify(const char *header, const char *body, size_t len, const char *secret, int64_t now,
                      int64_t tolerance_s);
/* A short reason for people for a stripe_sig_verify() result. */
const char *stripe_sig_reason(int rc);

/* Maps a PaymentIntent object to a result: succeeded; processing,
 * requires_confirmation, requires_capture -> processing; requires_action
 * (client_secret kept); requires_payment_method after a failed attempt and
 * canceled -> failed (last_payment_error.message as error).  0 ok, -1 when
 * pi is not a PaymentIntent. */
int stripe_payment_intent_result(json_t *pi, pay_result_t *out);
/* Maps a Refund object: succeeded -> refunded (ref = re_...), pending and
 * requires_action -> processing, failed and canceled -> failed. */
int stripe_refund_result(json_t *refund, pay_result_t *out);
/* Maps one HTTP answer of Stripe's API (status and body) to a provider
 * result: 0 with a definite answer (including a card decline, 402), or -1
 * with out->retryable set for 409/429/5xx and transport errors (status 0)
 * and cleared for other errors (bad request, bad key).  refund selects the
 * Refund mapping for 2xx bodies. */
int stripe_answer_result(long status, const char *body, int refund, pay_result_t *out);

/* An incoming event, reduced to what payments need. */
typedef struct stripe_event {
    char id[128];      /* evt_... */
    char type[96];
    int relevant;      /* 1 when it maps to a payment update */
    pay_status_t status;
    char ref[128];     /* the PaymentIntent id pi_... */
    int64_t amount;    /* amount concerned: received, or refunded (0 = all of it) */
    char reason[256];  /* decline reason for failures */
    int livemode;
} stripe_event_t;

/* Parses an event body.  0 ok (out->relevant says whether it matters),
 * -1 when the body is not a Stripe event (no id/type/data.object). */
int stripe_event_parse(const char *body, size_t len, stripe_event_t *out);

/* Configuration (copied).  An empty secret key leaves the provider
 * unusable (its calls fail without retry). */
void stripe_configure(const char *secret_key, const char *api_base, int timeout_s);
/* The provider ("stripe"), for pay_provider_register(). */
const pay_provider_t *stripe_provider(void);

/* Mounts POST /v1/webhooks/stripe (stripe_webhook.c; needs the orders
 * module's payment_apply_update at link time). */
void stripe_webhook_routes(router_t *r);

#endif
