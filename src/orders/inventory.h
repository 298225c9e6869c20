/*
 * inventory.h — stock per variant: on hand and reserved.
 *
 * available = on_hand - reserved.  Checkout reserves (reserved += q) with
 * one conditional UPDATE per line — "... WHERE on_hand - reserved >= q" —
 * so two buyers can never both get the last unit, on SQLite (single writer)
 * and on PostgreSQL (row locks) alike, without serialisable isolation.
 * Lines are reserved in variant-id order so concurrent checkouts lock rows
 * in the same order and cannot deadlock.  Payment commits a reservation
 * (on_hand -= q, reserved -= q); cancellation or expiry releases it
 * (reserved -= q).  Every adjustment is recorded with a reason and an event.
 * All functions run with the caller's connection, inside its transaction.
 */
#ifndef MERCATO_ORDERS_INVENTORY_H
#define MERCATO_ORDERS_INVENTORY_H

#include <stdint.h>

#include "db/db.h"

/* 1 reserved, 0 not enough available, <0 database error. */
int inventory_reserve(db_conn_t *c, const char *variant_id, int64_t qty);
int inventory_release(db_conn_t *c, const char *variant_id, int64_t qty);
int inventory_commit(db_conn_t *c, const char *variant_id, int64_t qty);
/* Puts committed stock back on hand (cancel/refund before shipping). */
int inventory_restock(db_conn_t *c, const char *variant_id, int64_t qty);
/* Available units (0 when the variant has no stock row); <0 error. */
int64_t inventory_available(db_conn_t *c, const char *variant_id);
/* on_hand and reserved; 1 when no row. */
int inventory_get(db_conn_t *c, const char *variant_id, int64_t *on_hand, int64_t *reserved);
/* Adds delta to on_hand (negative allowed down to the reserved amount).
 * 0 ok (*on_hand_after set), 1 would go below reserved/zero, <0 error.
 * Records the adjustment and a stock.adjusted event. */
int inventory_adjust(db_conn_t *c, const char *variant_id, int64_t delta, const char *reason, const char *actor,
                     int64_t *on_hand_after);

#endif
