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

#include <stdint.h>

#include "db/db.h"
#include "payments/provider.h"

/* Applies a provider-reported status to the payment identified by
 * (provider, provider_ref).  amount is the amount concerned (refunds may be
 * partial; 0 = the whole payment).  Returns 0 when applied or already in
 * that state, 1 when no payment has this reference, or a negative DB error.
 * Must run inside a transaction. */
int payment_apply_update(db_conn_t *c, const char *provider, const char *provider_ref, pay_status_t status,
                         int64_t amount, const char *reason, const char *actor);

#endif
