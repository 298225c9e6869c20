/*
 * pricing.c — totals and regions (see pricing.h).
 */
#include "orders/pricing.h"

#include <stdio.h>
#include <string.h>

#define MONEY_MAX 100000000000000LL /* 10^14 minor units: far beyond any real order */

int pricing_totals(const region_t *r, int64_t subtotal, int item_count, totals_t *out)
{
    if (subtotal < 0 || subtotal > MONEY_MAX) return -1;
    out->subtotal = subtotal;
    out->shipping = 0;
    if (item_count > 0 && !(r->free_shipping_over > 0 && subtotal >= r->free_shipping_over))
        out->shipping = r->shipping_amount;
    out->tax = (subtotal * r->tax_rate_bps + 5000) / 10000;
    out->total = out->subtotal + out->shipping + out->tax;
    return 0;
}

DB_SQL(q_region, "SELECT code, name, currency, shipping_amount, free_shipping_over, tax_rate_bps FROM regions"
                 " WHERE code = $1");

int region_load(db_conn_t *c, const char *code, region_t *out)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_region, &rc, "s", code);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return 1;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->code, sizeof out->code, "%s", db_col_text(st, 0));
    snprintf(out->name, sizeof out->name, "%s", db_col_text(st, 1));
    snprintf(out->currency, sizeof out->currency, "%s", db_col_text(st, 2));
    out->shipping_amount = db_col_int(st, 3);
    out->free_shipping_over = db_col_int(st, 4);
    out->tax_rate_bps = db_col_int(st, 5);
    db_reset(st);
    return 0;
}
