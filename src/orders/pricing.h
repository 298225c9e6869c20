/*
 * pricing.h — cart and order totals from a region's rates.
 *
 * Prices are tax-exclusive integer minor units.  shipping = the region's
 * flat rate unless the subtotal reaches its free-shipping threshold (0 =
 * never free) or the cart is empty; tax = subtotal * rate (basis points),
 * rounded half up; total = subtotal + shipping + tax.  Overflow is refused.
 */
#ifndef MERCATO_ORDERS_PRICING_H
#define MERCATO_ORDERS_PRICING_H

#include <stdint.h>

#include "db/db.h"

typedef struct region {
    char code[16];
    char name[64];
    char currency[4];
    int64_t shipping_amount;
    int64_t free_shipping_over;
    int64_t tax_rate_bps;
} region_t;

typedef struct totals {
    int64_t subtotal, shipping, tax, total;
} totals_t;

/* 0 ok; -1 when an amount would overflow. */
int pricing_totals(const region_t *r, int64_t subtotal, int item_count, totals_t *out);
/* Loads a region by code: 0 found, 1 unknown, <0 database error. */
int region_load(db_conn_t *c, const char *code, region_t *out);

#endif
