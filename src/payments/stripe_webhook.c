/*
 * stripe_webhook.c — POST /v1/webhooks/stripe: Stripe tells us what happened
 * to a PaymentIntent.
 *
 * DESIGN
 * 1. Verify Stripe-Signature over the exact body bytes with
 *    --stripe-webhook-secret (stripe_sig_verify: 300 s tolerance,
 *    constant-time, several v1 values).  Bad or stale: 400, nothing changes.
 * 2. Parse the event (stripe_event_parse).  Not an event: 400.
 * 3. In one transaction: record the event id in stripe_events (a second
 *    delivery of the same id is acknowledged with 200 and "duplicate":
 *    true, and applies nothing), then hand a relevant event to
 *    payment_apply_update() (src/orders/payment.h), which moves the
 *    payment and the order and writes their events in this transaction.
 * 4. An event about a PaymentIntent we do not know (yet: the charge job
 *    may not have committed the pi_ reference when Stripe is quick) rolls
 *    back and answers 409, so Stripe sends it again later; the
 *    reconciliation job covers the rest.
 *
 * Types other than payment_intent.succeeded, payment_intent.payment_failed
 * and charge.refunded are recorded and acknowledged.
 */
#include <string.h>

#include "app/app.h"
#include "auth/access.h"
#include "orders/payment.h"
#include "payments/stripe.h"
#include "util/log.h"
#include "util/timeutil.h"

DB_SQL(q_event_insert,
       "INSERT INTO stripe_events (id, type, payment_ref, livemode, received_at) VALUES ($1, $2, $3, $4, $5)"
       " ON CONFLICT (id) DO NOTHING");

typedef struct {
    const stripe_event_t *ev;
    int duplicate;
    int unknown;
} hook_ctx_t;

static int apply_tx(db_conn_t *c, void *vctx)
{
    hook_ctx_t *h = vctx;
    h->duplicate = h->unknown = 0;
    int64_t ch = db_exec(c, &q_event_insert, "sssiL", h->ev->id, h->ev->type, h->ev->ref[0] ? h->ev->ref : NULL,
                         h->ev->livemode, time_now_ms());
    if (ch < 0) return (int)ch;
    if (ch == 0) {
        h->duplicate = 1;
        return 0;
    }
    if (!h->ev->relevant) return 0;
    int rc = payment_apply_update(c, "stripe", h->ev->ref, h->ev->status, h->ev->amount,
                                  h->ev->reason[0] ? h->ev->reason : NULL, "stripe");
    if (rc == 1) {
        h->unknown = 1;
        return 1; /* roll back: the event is not recorded, Stripe retries */
    }
    return rc;
}

static void post_stripe_webhook(http_req_t *req)
{
    app_t *app = http_app(req);
    const char *secret = app->cfg->stripe_webhook_secret;
    if (!secret || !secret[0]) {
        http_respond_problem(req, 404, "not-found", "Not Found", "Stripe webhooks are not configured.");
        return;
    }
    str_t body = http_body(req);
    int rc = stripe_sig_verify(http_header(req, "Stripe-Signature"), body.ptr ? body.ptr : "", body.len, secret,
                               time_now_ms() / 1000, STRIPE_TOLERANCE_S);
    if (rc != STRIPE_SIG_OK) {
        http_respond_problem(req, 400, "invalid-signature", "Invalid Signature", stripe_sig_reason(rc));
        return;
    }
    stripe_event_t ev;
    if (stripe_event_parse(body.ptr ? body.ptr : "", body.len, &ev) < 0) {
        http_respond_problem(req, 400, "invalid-event", "Invalid Event", "The body is not a Stripe event.");
        return;
    }
    hook_ctx_t h = { &ev, 0, 0 };
    rc = db_tx(app->db, apply_tx, &h);
    if (h.unknown) {
        http_respond_problem(req, 409, "unknown-payment", "Unknown Payment",
                             "No payment has this PaymentIntent yet; send the event again later.");
        return;
    }
    if (rc != 0) {
        log_error("stripe", "event %s (%s) not applied: %d", ev.id, ev.type, rc);
        http_set_header(req, "Retry-After", "5");
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The event could not be stored; try again.");
        return;
    }
    http_respond_json(req, 200, json_pack("{s:b, s:s, s:b}", "received", 1, "id", ev.id, "duplicate", h.duplicate));
}

void stripe_webhook_routes(router_t *r)
{
    router_add(r, HTTP_POST, "/v1/webhooks/stripe", post_stripe_webhook, AUTH_PUBLIC);
}
