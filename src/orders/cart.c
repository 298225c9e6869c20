/*
 * cart.c — carts (see cart.h).
 */
#include "orders/cart.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "orders/inventory.h"
#include "orders/pricing.h"
#include "util/timeutil.h"

DB_SQL(q_user_cart, "SELECT id, user_id, region, currency, status, created_at, updated_at FROM carts"
                    " WHERE user_id = $1 AND status = 'active'");
DB_SQL(q_insert, "INSERT INTO carts (id, user_id, token_hash, region, currency, status, created_at, updated_at)"
                 " VALUES ($1, $2, $3, $4, $5, 'active', $6, $6)");
DB_SQL(q_get, "SELECT id, user_id, region, currency, status, created_at, updated_at, token_hash FROM carts"
              " WHERE id = $1");
DB_SQL(q_variant, "SELECT v.currency, p.status FROM variants v JOIN products p ON p.id = v.product_id"
                  " WHERE v.id = $1");
DB_SQL(q_item_qty, "SELECT quantity FROM cart_items WHERE cart_id = $1 AND variant_id = $2");
DB_SQL(q_lines, "SELECT COUNT(*) FROM cart_items WHERE cart_id = $1");
DB_SQL(q_item_upsert, "INSERT INTO cart_items (cart_id, variant_id, quantity, added_at) VALUES ($1, $2, $3, $4)"
                      " ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = excluded.quantity");
DB_SQL(q_item_delete, "DELETE FROM cart_items WHERE cart_id = $1 AND variant_id = $2");
DB_SQL(q_touch, "UPDATE carts SET updated_at = $2 WHERE id = $1");
DB_SQL(q_set_region, "UPDATE carts SET region = $2, currency = $3, updated_at = $4 WHERE id = $1");
DB_SQL(q_other_currency, "SELECT COUNT(*) FROM cart_items ci JOIN variants v ON v.id = ci.variant_id"
                         " WHERE ci.cart_id = $1 AND v.currency <> $2");
DB_SQL(q_items, "SELECT ci.variant_id, ci.quantity, v.sku, v.title, v.price_amount, v.currency, p.id, p.title,"
                " p.status, p.seller_id, COALESCE(i.on_hand - i.reserved, 0)"
                " FROM cart_items ci LEFT JOIN variants v ON v.id = ci.variant_id"
                " LEFT JOIN products p ON p.id = v.product_id"
                " LEFT JOIN inventory i ON i.variant_id = ci.variant_id"
                " WHERE ci.cart_id = $1 ORDER BY ci.added_at, ci.variant_id");
DB_SQL(q_mark, "UPDATE carts SET status = $2, updated_at = $3 WHERE id = $1");
DB_SQL(q_expire, "UPDATE carts SET status = 'expired' WHERE id IN"
                 " (SELECT id FROM carts WHERE status = 'active' AND updated_at < $1 LIMIT $2)");
DB_SQL(q_merge_src, "SELECT variant_id, quantity FROM cart_items WHERE cart_id = $1 ORDER BY added_at, variant_id");

void cart_token_hash(const char *token, char out[65])
{
    unsigned char d[32];
    crypto_generichash(d, sizeof d, (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, 65, d, sizeof d);
}

static void load_row(db_stmt_t *st, cart_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", db_col_text(st, 0));
    if (!db_col_is_null(st, 1)) snprintf(out->user_id, sizeof out->user_id, "%s", db_col_text(st, 1));
    snprintf(out->region, sizeof out->region, "%s", db_col_text(st, 2));
    snprintf(out->currency, sizeof out->currency, "%s", db_col_text(st, 3));
    snprintf(out->status, sizeof out->status, "%s", db_col_text(st, 4));
    out->created_at = db_col_int(st, 5);
    out->updated_at = db_col_int(st, 6);
}

int cart_create(db_conn_t *c, const char *user_id, const char *region_code, cart_t *out,
                char token_out[CART_TOKEN_MAX], int *existing)
{
    int rc;
    *existing = 0;
    token_out[0] = '\0';
    if (user_id) {
        db_stmt_t *st = db_query(c, &q_user_cart, &rc, "s", user_id);
        if (!st) return rc;
        if (rc == DB_ROW) {
            load_row(st, out);
            db_reset(st);
            *existing = 1;
            return 0;
        }
        db_reset(st);
    }
    region_t r;
    rc = region_load(c, region_code, &r);
    if (rc != 0) return rc < 0 ? rc : CART_E_REGION;
    memset(out, 0, sizeof *out);
    id_new(out->id, "cart");
    char hash[65];
    const char *hp = NULL;
    if (!user_id) {
        id_secret(token_out, 24);
        cart_token_hash(token_out, hash);
        hp = hash;
    } else {
        snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
    }
    int64_t now = time_now_ms();
    int64_t n = db_exec(c, &q_insert, "sssssL", out->id, user_id, hp, r.code, r.currency, now);
    if (n < 0) return (int)n;
    snprintf(out->region, sizeof out->region, "%s", r.code);
    snprintf(out->currency, sizeof out->currency, "%s", r.currency);
    snprintf(out->status, sizeof out->status, "active");
    out->created_at = out->updated_at = now;
    return 0;
}

int cart_find(db_conn_t *c, const char *cart_id, const char *user_id, const char *token, cart_t *out)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_get, &rc, "s", cart_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return CART_E_NOT_FOUND;
    }
    load_row(st, out);
    int ok = 0;
    if (user_id && out->user_id[0] && strcmp(out->user_id, user_id) == 0) ok = 1;
    if (!ok && token && !db_col_is_null(st, 7)) {
        char h[65];
        cart_token_hash(token, h);
        ok = sodium_memcmp(h, db_col_text(st, 7), 64) == 0;
    }
    db_reset(st);
    return ok ? 0 : CART_E_NOT_FOUND;
}

static int variant_check(db_conn_t *c, const cart_t *cart, const char *variant_id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_variant, &rc, "s", variant_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return CART_E_VARIANT;
    }
    int ret = 0;
    if (strcmp(db_col_text(st, 1), "published") != 0) ret = CART_E_VARIANT;
    else if (strcmp(db_col_text(st, 0), cart->currency) != 0) ret = CART_E_CURRENCY;
    db_reset(st);
    return ret;
}

static int64_t item_qty(db_conn_t *c, const char *cart_id, const char *variant_id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_item_qty, &rc, "ss", cart_id, variant_id);
    if (!st) return rc;
    int64_t q = rc == DB_ROW ? db_col_int(st, 0) : 0;
    db_reset(st);
    return q;
}

int cart_set_item(db_conn_t *c, cart_t *cart, const char *variant_id, int64_t qty, int add, int64_t *avail)
{
    if (strcmp(cart->status, "active") != 0) return CART_E_CLOSED;
    int64_t now = time_now_ms();
    if (!add && qty == 0) {
        int64_t n = db_exec(c, &q_item_delete, "ss", cart->id, variant_id);
        if (n < 0) return (int)n;
        if (db_exec(c, &q_touch, "sL", cart->id, now) < 0) return DB_ERR;
        return n == 1 ? 0 : CART_E_NOT_FOUND;
    }
    int rc = variant_check(c, cart, variant_id);
    if (rc != 0) return rc;
    int64_t cur = item_qty(c, cart->id, variant_id);
    if (cur < 0) return (int)cur;
    if (cur == 0) {
        int r2;
        db_stmt_t *st = db_query(c, &q_lines, &r2, "s", cart->id);
        if (!st) return r2;
        int64_t lines = db_col_int(st, 0);
        db_reset(st);
        if (lines >= CART_MAX_LINES) return CART_E_LINES;
    }
    int64_t want = add ? cur + qty : qty;
    int64_t a = inventory_available(c, variant_id);
    if (a < 0) return (int)a;
    if (want > a || want > CART_MAX_QTY) {
        *avail = a;
        return CART_E_STOCK;
    }
    if (db_exec(c, &q_item_upsert, "ssLL", cart->id, variant_id, want, now) < 0) return DB_ERR;
    if (db_exec(c, &q_touch, "sL", cart->id, now) < 0) return DB_ERR;
    cart->updated_at = now;
    return 0;
}

int cart_set_region(db_conn_t *c, cart_t *cart, const char *code)
{
    if (strcmp(cart->status, "active") != 0) return CART_E_CLOSED;
    region_t r;
    int rc = region_load(c, code, &r);
    if (rc != 0) return rc < 0 ? rc : CART_E_REGION;
    db_stmt_t *st = db_query(c, &q_other_currency, &rc, "ss", cart->id, r.currency);
    if (!st) return rc;
    int64_t other = db_col_int(st, 0);
    db_reset(st);
    if (other > 0) return CART_E_CURRENCY;
    if (db_exec(c, &q_set_region, "sssL", cart->id, r.code, r.currency, time_now_ms()) < 0) return DB_ERR;
    snprintf(cart->region, sizeof cart->region, "%s", r.code);
    snprintf(cart->currency, sizeof cart->currency, "%s", r.currency);
    return 0;
}

int cart_merge(db_conn_t *c, const char *user_id, cart_t *from, cart_t *out)
{
    if (strcmp(from->status, "active") != 0) return CART_E_CLOSED;
    char tok[CART_TOKEN_MAX];
    int existing;
    int rc = cart_create(c, user_id, from->region, out, tok, &existing);
    if (rc != 0) return rc;
    if (strcmp(out->id, from->id) == 0) return 0;
    int r2;
    db_stmt_t *st = db_query(c, &q_merge_src, &r2, "s", from->id);
    if (!st) return r2;
    struct {
        char v[ID_MAX];
        int64_t q;
    } lines[CART_MAX_LINES];
    int n = 0;
    while (r2 == DB_ROW && n < CART_MAX_LINES) {
        snprintf(lines[n].v, sizeof lines[n].v, "%s", db_col_text(st, 0));
        lines[n].q = db_col_int(st, 1);
        n++;
        r2 = db_step(st);
    }
    db_reset(st);
    if (r2 < 0) return r2;
    for (int i = 0; i < n; i++) {
        int64_t cur = item_qty(c, out->id, lines[i].v);
        if (cur < 0) return (int)cur;
        int64_t a = inventory_available(c, lines[i].v);
        if (a < 0) return (int)a;
        int64_t want = cur + lines[i].q;
        if (want > a) want = a;
        if (want > CART_MAX_QTY) want = CART_MAX_QTY;
        if (want <= cur) continue;
        int64_t av;
        rc = cart_set_item(c, out, lines[i].v, want, 0, &av);
        if (rc < 0) return rc; /* business refusals drop the line */
    }
    if (db_exec(c, &q_mark, "ssL", from->id, "merged", time_now_ms()) < 0) return DB_ERR;
    snprintf(from->status, sizeof from->status, "merged");
    return 0;
}

static json_t *money(int64_t amount, const char *currency)
{
    return json_pack("{s:I, s:s}", "amount", (json_int_t)amount, "currency", currency);
}

json_t *cart_render(db_conn_t *c, const cart_t *cart)
{
    region_t r;
    if (region_load(c, cart->region, &r) != 0) return NULL;
    int rc;
    db_stmt_t *st = db_query(c, &q_items, &rc, "s", cart->id);
    if (!st) return NULL;
    json_t *items = json_array();
    int64_t subtotal = 0;
    int count = 0;
    while (rc == DB_ROW) {
        const char *vid = db_col_text(st, 0);
        int64_t q = db_col_int(st, 1);
        int present = !db_col_is_null(st, 2);
        int published = present && db_col_text(st, 8) && strcmp(db_col_text(st, 8), "published") == 0;
        int64_t price = present ? db_col_int(st, 4) : 0;
        int64_t avail = db_col_int(st, 10);
        json_t *it = json_object();
        json_object_set_new(it, "variant_id", json_string(vid));
        json_object_set_new(it, "quantity", json_integer(q));
        if (present) {
            json_object_set_new(it, "product_id", json_string(db_col_text(st, 6)));
            json_object_set_new(it, "sku", json_string(db_col_text(st, 2)));
            json_object_set_new(it, "title", json_string(db_col_text(st, 7)));
            json_object_set_new(it, "variant_title", json_string(db_col_text(st, 3)));
            json_object_set_new(it, "seller_id", json_string(db_col_text(st, 9)));
            json_object_set_new(it, "unit_price", money(price, db_col_text(st, 5)));
            json_object_set_new(it, "line_total", money(price * q, db_col_text(st, 5)));
        }
        json_object_set_new(it, "available", json_boolean(published && avail >= q));
        json_object_set_new(it, "available_quantity", json_integer(avail < 0 ? 0 : avail));
        json_array_append_new(items, it);
        if (present && published) {
            subtotal += price * q;
            count++;
        }
        rc = db_step(st);
    }
    db_reset(st);
    totals_t t;
    if (rc < 0 || pricing_totals(&r, subtotal, count, &t) < 0) {
        json_decref(items);
        return NULL;
    }
    char a[32], b[32];
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:{s:o, s:o, s:o, s:o}, s:s, s:s}", "id", cart->id, "status",
                     cart->status, "region", cart->region, "currency", cart->currency, "items", items, "totals",
                     "subtotal", money(t.subtotal, cart->currency), "shipping", money(t.shipping, cart->currency),
                     "tax", money(t.tax, cart->currency), "total", money(t.total, cart->currency), "created_at",
                     time_fmt_rfc3339(a, cart->created_at), "updated_at", time_fmt_rfc3339(b, cart->updated_at));
}

int64_t cart_expire_idle(db_conn_t *c, int64_t idle_ms)
{
    /* in batches: a burst of abandoned carts must not hold the writer */
    return db_exec_batches(c, &q_expire, DB_PURGE_BATCH, "L", time_now_ms() - idle_ms);
}
