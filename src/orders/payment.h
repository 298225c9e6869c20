/*
 * payment.h — payments of orders, as seen by payment providers.
 *
 * The orders module owns the payments table (id pay_..., order_id, provider,
 * provider_ref, amount, currency, status) and the order state machine.
 * Providers and webhooks report outcomes through payment_apply_update(); it
 * is idempotent and ordered (a late "processing" never overwrites
 * "succeeded"; "refunded" only follows "succeeded"), moves the order
 * (pending_payment -> paid, -> payment_failed, paid... -> refunded) and
 * writes the events, inside the caller's transaction.
 *
 * Events written (type, subject, owner = the customer):
 *   payment.succeeded / payment.failed / payment.refunded   subject pay_...
 *   order.status_changed {from, to, reason, by}               subject ord_...
 */
#ifndef MERCATO_ORDERS_PAYMENT_H
#define MERCATO_ORDERS_PAYMENT_H

#include <jansson.h>
#include <stdint.h>

#include "db/db.h"
#include "payments/provider.h"

/* Applies a provider-reported status to the payment identified by
 * (provider, provider_ref).  amount is the amount concerned (refunds may be
 * partial; 0 = the whole payment).  Returns 0 when applied or already in
 * that state, 1 when no payment has this reference, or a negative DB error.
 * Must run inside a transaction.
 * For PAY_REFUNDED, amount is the TOTAL refunded so far (cumulative, as
 * providers report it), so a replayed report changes nothing; the order
 * moves to refunded once the whole amount is refunded. */
int payment_apply_update(db_conn_t *c, const char *provider, const char *provider_ref, pay_status_t status,
                         int64_t amount, const char *reason, const char *actor);

/* ---- creating payments (POST /v1/orders/{id}/payments) ---- */

#define PAYMENT_E_NOT_FOUND 1   /* no such order */
#define PAYMENT_E_NOT_PAYABLE 2 /* not waiting for payment, or a payment is in progress */
#define PAYMENT_E_PROVIDER 3    /* no provider of that name */

/* Creates a payment of the order's total with the caller's connection,
 * inside its transaction.  The built-in "test" provider decides at once
 * (no network: the payment and the order's move to paid or payment_failed
 * commit with the row); any other provider gets a payments.process job,
 * enqueued in the same transaction, that calls it off the HTTP thread.
 * pay_id receives the new id.  0 ok, PAYMENT_E_*, or <0 DB error. */
int payment_create(db_conn_t *c, const char *order_id, const char *provider, const char *method,
                   const char *actor, char pay_id[48]);
/* The payment as JSON (NULL when absent). */
json_t *payment_render(db_conn_t *c, const char *pay_id);
/* Registers the payments.process job handler. */
struct jobs;
void payment_jobs(struct jobs *rt);

#endif
