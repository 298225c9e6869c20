/*
 * order.c — checkout, transitions, access and rendering (see order.h).
 */
#include "orders/order.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/events.h"
#include "jobs/jobq.h"
#include "orders/inventory.h"
#include "orders/pricing.h"
#include "util/timeutil.h"

#define MONEY_MAX 100000000000000LL

/* ---------- validation (pure) ---------- */

static void add_err(json_t **errs, const char *field, const char *msg)
{
    if (!*errs) *errs = json_array();
    json_array_append_new(*errs, json_pack("{s:s, s:s}", "field", field, "message", msg));
}

/* printable UTF-8 without control characters, 1..max bytes */
static int text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

int order_email_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > ORDER_EMAIL_MAX) return 0;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@')) return 0;
    const char *dot = strchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0' || s[n - 1] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

static const struct addr_field {
    const char *name;
    size_t max;
    int required;
} addr_fields[] = {
    { "name", 200, 1 },        { "line1", 200, 1 }, { "line2", 200, 0 }, { "city", 100, 1 },
    { "region", 100, 0 },      { "postal_code", 20, 1 }, { "country", 2, 1 }, { "phone", 32, 0 },
};
#define NADDR (sizeof addr_fields / sizeof addr_fields[0])

static json_t *parse_address(json_t *a, json_t **errs)
{
    char field[64];
    if (!json_is_object(a)) {
        add_err(errs, "shipping_address", "must be an object with name, line1, city, postal_code and country");
        return NULL;
    }
    int bad = 0;
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v) {
        size_t i;
        for (i = 0; i < NADDR; i++)
            if (!strcmp(k, addr_fields[i].name)) break;
        if (i == NADDR) {
            add_err(errs, "shipping_address", "has an unknown member");
            bad = 1;
            break;
        }
    }
    json_t *out = json_object();
    for (size_t i = 0; i < NADDR; i++) {
        const struct addr_field *f = &addr_fields[i];
        snprintf(field, sizeof field, "shipping_address.%s", f->name);
        json_t *x = json_object_get(a, f->name);
        if (!x || json_is_null(x)) {
            if (f->required) add_err(errs, field, "is required"), bad = 1;
            continue;
        }
        if (!json_is_string(x) || !text_ok(json_string_value(x), f->max)) {
            add_err(errs, field, "must be a non-empty string without control characters, not too long");
            bad = 1;
            continue;
        }
        const char *s = json_string_value(x);
        if (!strcmp(f->name, "country")) {
            if (strlen(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z') {
                add_err(errs, field, "must be an ISO 3166-1 alpha-2 code in capitals, e.g. DE");
                bad = 1;
                continue;
            }
        } else if (!strcmp(f->name, "postal_code")) {
            int ok = 1;
            for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == ' ' ||
                      *p == '-'))
                    ok = 0;
            if (!ok) {
                add_err(errs, field, "may hold only letters, digits, spaces and '-'");
                bad = 1;
                continue;
            }
        }
        json_object_set_new(out, f->name, json_string(s));
    }
    if (bad) {
        json_decref(out);
        return NULL;
    }
    return out;
}

int order_parse_checkout(json_t *body, checkout_input_t *out, json_t **errors)
{
    memset(out, 0, sizeof *out);
    *errors = NULL;
    json_t *errs = NULL;
    json_t *v = json_object_get(body, "cart_id");
    if (!json_is_string(v) || !id_valid(json_string_value(v), json_string_length(v), "cart"))
        add_err(&errs, "cart_id", "must be a cart id (cart_...)");
    else
        out->cart_id = json_string_value(v);
    v = json_object_get(body, "email");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || !order_email_valid(json_string_value(v)))
            add_err(&errs, "email", "must be an email address");
        else
            out->email = json_string_value(v);
    }
    json_t *addr = parse_address(json_object_get(body, "shipping_address"), &errs);
    const char *k;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "cart_id") && strcmp(k, "email") && strcmp(k, "shipping_address")) {
            add_err(&errs, k, "is not a checkout field");
            break;
        }
    }
    if (errs) {
        json_decref(addr);
        *errors = errs;
        out->cart_id = out->email = NULL;
        return -1;
    }
    out->address = addr;
    return 0;
}

int order_parse_quantity(json_t *v, int64_t min, int64_t *out)
{
    if (!json_is_integer(v)) return -1;
    json_int_t q = json_integer_value(v);
    if (q < min || q > CART_MAX_QTY) return -1;
    *out = q;
    return 0;
}

int order_parse_lines(json_t *lines, line_req_t *out, int max, json_t **errors)
{
    *errors = NULL;
    json_t *errs = NULL;
    if (!json_is_array(lines) || json_array_size(lines) == 0 || json_array_size(lines) > (size_t)max) {
        add_err(&errs, "lines", "must be an array of 1 to 100 {variant_id, quantity} objects");
        *errors = errs;
        return -1;
    }
    int n = 0;
    size_t i;
    json_t *l;
    char field[48];
    json_array_foreach(lines, i, l) {
        json_t *vid = json_object_get(l, "variant_id");
        snprintf(field, sizeof field, "lines[%zu]", i);
        if (!json_is_object(l) || !json_is_string(vid) ||
            !id_valid(json_string_value(vid), json_string_length(vid), "var")) {
            add_err(&errs, field, "needs a variant_id (var_...)");
            continue;
        }
        int64_t q;
        if (order_parse_quantity(json_object_get(l, "quantity"), 1, &q) < 0) {
            add_err(&errs, field, "quantity must be an integer from 1 to 999");
            continue;
        }
        int dup = 0;
        for (int j = 0; j < n; j++)
            if (!strcmp(out[j].variant_id, json_string_value(vid))) dup = 1;
        if (dup) {
            add_err(&errs, field, "repeats a variant");
            continue;
        }
        out[n].variant_id = json_string_value(vid);
        out[n].quantity = q;
        n++;
    }
    if (errs) {
        *errors = errs;
        return -1;
    }
    return n;
}

/* ---------- order numbers ---------- */

void order_number_new(char out[ORDER_NUMBER_MAX], int64_t now_ms)
{
    static const char crock[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* 40 bits: the millisecond of the day (27 bits), then 13 random bits.
     * Numbers of one day sort by time, so the unique index on them takes
     * each new one at its right edge (one page per commit) instead of a
     * random leaf per order; two orders in one millisecond share the time
     * bits, and the insert draws again when the random bits collide too. */
    unsigned char r[2];
    randombytes_buf(r, sizeof r);
    uint64_t ms_of_day = (uint64_t)(now_ms % 86400000LL);
    uint64_t bits = ms_of_day << 13 | (((uint64_t)r[0] << 8 | r[1]) & 0x1fff);
    char tail[9];
    for (int i = 7; i >= 0; i--) {
        tail[i] = crock[bits & 31];
        bits >>= 5;
    }
    tail[8] = '\0';
    snprintf(out, ORDER_NUMBER_MAX, "M%02u%02u%02u-%.8s", (unsigned)(tm.tm_year % 100) % 100u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u, tail);
}

/* ---------- checkout ---------- */

DB_SQL(q_cart_claim, "UPDATE carts SET status = 'converted', updated_at = $2 WHERE id = $1 AND status = 'active'");
DB_SQL(q_account_email, "SELECT email FROM users WHERE id = $1");
DB_SQL(q_cart_email, "SELECT email FROM carts WHERE id = $1");
DB_SQL(q_cart_lines, "SELECT ci.variant_id, ci.quantity, v.sku, v.title, v.price_amount, v.currency, p.id, p.title,"
                     " p.status, p.seller_id"
                     " FROM cart_items ci LEFT JOIN variants v ON v.id = ci.variant_id"
                     " LEFT JOIN products p ON p.id = v.product_id"
                     " WHERE ci.cart_id = $1 ORDER BY ci.variant_id");
DB_SQL(q_order_insert,
       "INSERT INTO orders (id, number, customer_id, guest_token_hash, email, cart_id, region, currency, status,"
       " subtotal, shipping, tax, total, shipping_address, reserved_until, created_at, updated_at)"
       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending_payment', $9, $10, $11, $12, $13, $14, $15, $15)"
       " ON CONFLICT (number) DO NOTHING");
DB_SQL(q_line_insert, "INSERT INTO order_lines (id, order_id, position, variant_id, product_id, seller_id, sku, title,"
                      " quantity, unit_price, line_total) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
DB_SQL(q_resv_insert, "INSERT INTO reservations (order_id, variant_id, quantity, state, expires_at, updated_at)"
                      " VALUES ($1, $2, $3, 'held', $4, $5)");

typedef struct co_line {
    char variant_id[ID_MAX], product_id[ID_MAX], seller_id[ID_MAX];
    char sku[128], title[400];
    int64_t qty, price;
} co_line_t;

int order_checkout(db_conn_t *c, const checkout_input_t *in, const char *user_id, const char *cart_token,
                   int64_t ttl_ms, checkout_res_t *out)
{
    memset(out, 0, sizeof *out);
    cart_t cart;
    int rc = cart_find(c, in->cart_id, user_id, cart_token, &cart);
    if (rc != 0) return rc < 0 ? rc : ORDER_E_NOT_FOUND;
    int64_t now = time_now_ms();
    /* claim the cart first: concurrent checkouts of one cart queue on this row */
    int64_t n = db_exec(c, &q_cart_claim, "sL", cart.id, now);
    if (n < 0) return (int)n;
    if (n == 0) return ORDER_E_CLOSED;

    char email[ORDER_EMAIL_MAX + 1] = "";
    if (in->email) {
        snprintf(email, sizeof email, "%s", in->email);
    } else {
        db_stmt_t *st = db_query(c, &q_cart_email, &rc, "s", cart.id);
        if (!st) return rc;
        if (rc == DB_ROW && !db_col_is_null(st, 0)) snprintf(email, sizeof email, "%s", db_col_text(st, 0));
        db_reset(st);
    }
    if (!email[0] && user_id) {
        /* a signed-in customer's receipts go to their account's address */
        db_stmt_t *st = db_query(c, &q_account_email, &rc, "s", user_id);
        if (!st) return rc;
        if (rc == DB_ROW && !db_col_is_null(st, 0)) snprintf(email, sizeof email, "%s", db_col_text(st, 0));
        db_reset(st);
    }
    if (!email[0]) {
        out->errors = json_pack("[{s:s, s:s}]", "field", "email", "message",
                                "is required (in the body, or set on the cart)");
        return ORDER_E_INVALID;
    }
    region_t region;
    rc = region_load(c, cart.region, &region);
    if (rc != 0) return rc < 0 ? rc : DB_ERR;

    co_line_t *lines = calloc(CART_MAX_LINES, sizeof *lines);
    if (!lines) return DB_ERR;
    int nl = 0;
    int ret = ORDER_OK;
    db_stmt_t *st = db_query(c, &q_cart_lines, &rc, "s", cart.id);
    if (!st) {
        free(lines);
        return rc;
    }
    while (rc == DB_ROW && nl < CART_MAX_LINES) {
        co_line_t *l = &lines[nl];
        snprintf(l->variant_id, sizeof l->variant_id, "%s", db_col_text(st, 0));
        l->qty = db_col_int(st, 1);
        char field[64];
        snprintf(field, sizeof field, "items[%s]", l->variant_id);
        if (db_col_is_null(st, 2) || strcmp(db_col_text(st, 8), "published") != 0) {
            add_err(&out->errors, field, "this variant is no longer for sale; remove it from the cart");
        } else if (strcmp(db_col_text(st, 5), cart.currency) != 0) {
            add_err(&out->errors, field, "this variant is priced in another currency than the cart");
        } else {
            snprintf(l->sku, sizeof l->sku, "%s", db_col_text(st, 2));
            const char *vt = db_col_text(st, 3), *pt = db_col_text(st, 7);
            if (vt && *vt) snprintf(l->title, sizeof l->title, "%s / %s", pt, vt);
            else snprintf(l->title, sizeof l->title, "%s", pt);
            l->price = db_col_int(st, 4);
            snprintf(l->product_id, sizeof l->product_id, "%s", db_col_text(st, 6));
            snprintf(l->seller_id, sizeof l->seller_id, "%s", db_col_text(st, 9));
        }
        nl++;
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) {
        ret = rc;
        goto done;
    }
    if (out->errors) {
        ret = ORDER_E_INVALID;
        goto done;
    }
    if (nl == 0) {
        ret = ORDER_E_EMPTY;
        goto done;
    }
    /* reserve in variant-id order (the query's order): all or nothing */
    int64_t subtotal = 0;
    for (int i = 0; i < nl; i++) {
        co_line_t *l = &lines[i];
        if (l->price > MONEY_MAX / l->qty || subtotal > MONEY_MAX - l->price * l->qty) {
            add_err(&out->errors, "items", "the order total is too large");
            ret = ORDER_E_INVALID;
            goto done;
        }
        subtotal += l->price * l->qty;
        rc = inventory_reserve(c, l->variant_id, l->qty);
        if (rc < 0) {
            ret = rc;
            goto done;
        }
        if (rc == 0) {
            int64_t avail = inventory_available(c, l->variant_id);
            if (avail < 0) {
                ret = (int)avail;
                goto done;
            }
            if (!out->short_lines) out->short_lines = json_array();
            json_array_append_new(out->short_lines,
                                  json_pack("{s:s, s:I, s:I}", "variant_id", l->variant_id, "requested",
                                            (json_int_t)l->qty, "available", (json_int_t)avail));
        }
    }
    if (out->short_lines) {
        ret = ORDER_E_STOCK;
        goto done;
    }
    totals_t t;
    if (pricing_totals(&region, subtotal, nl, &t) < 0) {
        add_err(&out->errors, "items", "the order total is too large");
        ret = ORDER_E_INVALID;
        goto done;
    }
    id_new(out->order_id, "ord");
    char number[ORDER_NUMBER_MAX];
    char th[65];
    const char *thp = NULL;
    if (!user_id) {
        id_secret(out->order_token, 24);
        cart_token_hash(out->order_token, th);
        thp = th;
    }
    char *addr = json_dumps(in->address, JSON_COMPACT | JSON_SORT_KEYS);
    int64_t until = now + ttl_ms;
    n = 0;
    for (int draw = 0; draw < 16 && n == 0; draw++) { /* 0: the number was taken (same ms, same random bits) */
        order_number_new(number, now);
        n = db_exec(c, &q_order_insert, "ssssssssLLLLsLL", out->order_id, number, user_id, thp, email, cart.id,
                    cart.region, cart.currency, t.subtotal, t.shipping, t.tax, t.total, addr, until, now);
    }
    free(addr);
    if (n == 0) n = DB_ERR; /* 16 draws of 8,192 all taken: not by chance */
    if (n < 0) {
        ret = (int)n;
        goto done;
    }
    for (int i = 0; i < nl; i++) {
        co_line_t *l = &lines[i];
        char lid[ID_MAX];
        id_new(lid, "oli");
        if ((n = db_exec(c, &q_line_insert, "ssisssssLLL", lid, out->order_id, i + 1, l->variant_id, l->product_id,
                         l->seller_id, l->sku, l->title, l->qty, l->price, l->price * l->qty)) < 0 ||
            (n = db_exec(c, &q_resv_insert, "ssLLL", out->order_id, l->variant_id, l->qty, until, now)) < 0) {
            ret = (int)n;
            goto done;
        }
    }
    /* expiry: the reservations' expires_at, swept by expire_sweep (routes.c) */
    json_t *ev = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:s, s:s}", "order_id", out->order_id, "number", number,
                           "status", "pending_payment", "total", (json_int_t)t.total, "currency", cart.currency,
                           "lines", nl, "cart_id", cart.id, "email", email);
    int64_t eid = event_append_owned(c, "order.created", out->order_id, user_id ? user_id : "guest", user_id, ev);
    json_decref(ev);
    if (eid < 0) ret = (int)eid;
done:
    free(lines);
    return ret;
}

/* ---------- transitions ---------- */

DB_SQL2(q_order_lock, "SELECT status, customer_id FROM orders WHERE id = $1",
        "SELECT status, customer_id FROM orders WHERE id = $1 FOR UPDATE");
DB_SQL(q_order_status_of, "SELECT status, customer_id FROM orders WHERE id = $1");
DB_SQL(q_order_set_status, "UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4");
DB_SQL(q_resv_by_state, "SELECT variant_id, quantity FROM reservations WHERE order_id = $1 AND state = $2"
                        " ORDER BY variant_id");
/* SQLite without statistics on reservations picked the (state,
 * expires_at) index of the time for this, reading every reservation in
 * that state to find the order's (every payment walked all held ones);
 * "+state" keeps the state term off the indexes, so the order's key is
 * used */
const db_sql_t order_sql_resv_set_state = {
    "UPDATE reservations SET state = $3, updated_at = $4 WHERE order_id = $1 AND +state = $2",
    "UPDATE reservations SET state = $3, updated_at = $4 WHERE order_id = $1 AND state = $2"
};
#define q_resv_set_state order_sql_resv_set_state

/* the held reservations past their time, oldest first (the expiry sweep,
 * routes.c): the partial index reservations_held has exactly them, in that
 * order.  One row per line: an order's lines share their expiry and come
 * together.  (DISTINCT order_id ORDER BY order_id made SQLite scan every
 * reservation by key to spare the sort.) */
const db_sql_t order_sql_due_orders = {
    "SELECT order_id FROM reservations WHERE state = 'held' AND expires_at <= $1 ORDER BY expires_at LIMIT 200",
    "SELECT order_id FROM reservations WHERE state = 'held' AND expires_at <= $1 ORDER BY expires_at LIMIT 200"
};

int order_status_of(db_conn_t *c, const char *order_id, order_status_t *status, char customer_id[ID_MAX])
{
    int rc;
    db_stmt_t *st = db_query(c, &q_order_status_of, &rc, "s", order_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return ORDER_E_NOT_FOUND;
    }
    int s = order_status_parse(db_col_text(st, 0));
    *status = s < 0 ? ORDER_PENDING_PAYMENT : (order_status_t)s;
    if (customer_id) {
        customer_id[0] = '\0';
        if (!db_col_is_null(st, 1)) snprintf(customer_id, ID_MAX, "%s", db_col_text(st, 1));
    }
    db_reset(st);
    return s < 0 ? DB_ERR : ORDER_OK;
}

/* Applies fn to every reservation of the order in `state` (variant order),
 * then moves them to new_state. */
static int resv_apply(db_conn_t *c, const char *order_id, const char *state, const char *new_state,
                      int (*fn)(db_conn_t *, const char *, int64_t))
{
    struct {
        char v[ID_MAX];
        int64_t q;
    } *rs = calloc(CART_MAX_LINES, sizeof *rs);
    if (!rs) return DB_ERR;
    int rc, n = 0;
    db_stmt_t *st = db_query(c, &q_resv_by_state, &rc, "ss", order_id, state);
    if (!st) {
        free(rs);
        return rc;
    }
    while (rc == DB_ROW && n < CART_MAX_LINES) {
        snprintf(rs[n].v, ID_MAX, "%s", db_col_text(st, 0));
        rs[n].q = db_col_int(st, 1);
        n++;
        rc = db_step(st);
    }
    db_reset(st);
    int ret = rc < 0 ? rc : 0;
    for (int i = 0; i < n && ret == 0; i++) {
        rc = fn(c, rs[i].v, rs[i].q);
        if (rc < 0) ret = rc;
        else if (rc == 0) ret = DB_ERR; /* the stock row disagrees with the reservation: never commit that */
    }
    free(rs);
    if (ret == 0 && n > 0 && db_exec(c, &q_resv_set_state, "sssL", order_id, state, new_state, time_now_ms()) < 0)
        ret = DB_ERR;
    return ret;
}

static const char *who_name(int who)
{
    return who & BY_ADMIN ? "admin" : who & BY_CUSTOMER ? "customer" : "system";
}

int order_transition(db_conn_t *c, const char *order_id, order_status_t to, int who, const char *actor,
                     const char *reason, int expect_from, order_status_t *from_out)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_order_lock, &rc, "s", order_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return ORDER_E_NOT_FOUND;
    }
    int fs = order_status_parse(db_col_text(st, 0));
    char customer[ID_MAX] = "";
    if (!db_col_is_null(st, 1)) snprintf(customer, sizeof customer, "%s", db_col_text(st, 1));
    db_reset(st);
    if (fs < 0) return DB_ERR;
    order_status_t from = (order_status_t)fs;
    if (from_out) *from_out = from;
    if (expect_from >= 0 && (int)from != expect_from) return ORDER_E_TRANSITION;
    if (!order_transition_allowed(from, to, who)) return ORDER_E_TRANSITION;

    /* stock follows the status */
    if (to == ORDER_PAID && order_status_holds_reservation(from)) {
        rc = resv_apply(c, order_id, "held", "committed", inventory_commit);
    } else if (to == ORDER_CANCELLED || to == ORDER_REFUNDED) {
        if (order_status_holds_reservation(from))
            rc = resv_apply(c, order_id, "held", "released", inventory_release);
        else if (from == ORDER_PAID || from == ORDER_FULFILLING) /* nothing has left the warehouse */
            rc = resv_apply(c, order_id, "committed", "released", inventory_restock);
        else
            rc = 0;
    } else {
        rc = 0;
    }
    if (rc < 0) return rc;
    int64_t n = db_exec(c, &q_order_set_status, "ssLs", order_id, order_status_name(to), time_now_ms(),
                        order_status_name(from));
    if (n < 0) return (int)n;
    if (n == 0) return ORDER_E_TRANSITION;
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s}", "order_id", order_id, "from", order_status_name(from), "to",
                          order_status_name(to), "by", who_name(who), "reason", reason ? reason : "");
    int64_t ev = event_append_owned(c, "order.status_changed", order_id, actor, customer[0] ? customer : NULL, p);
    json_decref(p);
    return ev < 0 ? (int)ev : ORDER_OK;
}

int order_expire(db_conn_t *c, const char *order_id)
{
    order_status_t s;
    int rc = order_status_of(c, order_id, &s, NULL);
    if (rc == ORDER_E_NOT_FOUND) return 0;
    if (rc < 0) return rc;
    if (!order_status_holds_reservation(s)) return 0; /* paid or already closed */
    rc = order_transition(c, order_id, ORDER_CANCELLED, BY_SYSTEM, "system", "reservation_expired", (int)s, NULL);
    if (rc == ORDER_E_TRANSITION || rc == ORDER_E_NOT_FOUND) return 0;
    return rc;
}

/* ---------- access and rendering ---------- */

DB_SQL(q_access, "SELECT customer_id, guest_token_hash FROM orders WHERE id = $1");
DB_SQL(q_seller_has, "SELECT 1 FROM order_lines WHERE order_id = $1 AND seller_id = $2 LIMIT 1");

int order_access(db_conn_t *c, const char *order_id, const order_viewer_t *v)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_access, &rc, "s", order_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return ORDER_SEE_NONE;
    }
    int see = ORDER_SEE_NONE;
    if (v->admin) see = ORDER_SEE_ADMIN;
    else if (v->user_id && !db_col_is_null(st, 0) && !strcmp(db_col_text(st, 0), v->user_id)) see = ORDER_SEE_OWNER;
    else if (v->order_token && *v->order_token && !db_col_is_null(st, 1)) {
        char h[65];
        cart_token_hash(v->order_token, h);
        if (sodium_memcmp(h, db_col_text(st, 1), 64) == 0) see = ORDER_SEE_OWNER;
    }
    db_reset(st);
    if (see == ORDER_SEE_NONE && v->user_id) {
        st = db_query(c, &q_seller_has, &rc, "ss", order_id, v->user_id);
        if (!st) return rc;
        if (rc == DB_ROW) see = ORDER_SEE_SELLER;
        db_reset(st);
    }
    return see;
}

DB_SQL(q_order_get, "SELECT id, number, customer_id, email, region, currency, status, subtotal, shipping, tax, total,"
                    " shipping_address, reserved_until, created_at, updated_at FROM orders WHERE id = $1");
DB_SQL(q_order_lines, "SELECT id, variant_id, product_id, seller_id, sku, title, quantity, unit_price, line_total"
                      " FROM order_lines WHERE order_id = $1 ORDER BY position");
DB_SQL(q_order_payments, "SELECT id, provider, status, amount, refunded, currency, error, created_at, client_secret FROM payments"
                         " WHERE order_id = $1 ORDER BY created_at, id");

static json_t *money(int64_t amount, const char *currency)
{
    return json_pack("{s:I, s:s}", "amount", (json_int_t)amount, "currency", currency);
}

json_t *order_render(db_conn_t *c, const char *order_id, const char *only_seller)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_order_get, &rc, "s", order_id);
    if (!st) return NULL;
    if (rc != DB_ROW) {
        db_reset(st);
        return NULL;
    }
    char cur[4];
    snprintf(cur, sizeof cur, "%s", db_col_text(st, 5));
    char a[32], b[32], r[32];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(db_col_text(st, 0)));
    json_object_set_new(o, "number", json_string(db_col_text(st, 1)));
    json_object_set_new(o, "status", json_string(db_col_text(st, 6)));
    json_object_set_new(o, "region", json_string(db_col_text(st, 4)));
    json_object_set_new(o, "currency", json_string(cur));
    if (!only_seller) {
        json_object_set_new(o, "customer_id", db_col_is_null(st, 2) ? json_null() : json_string(db_col_text(st, 2)));
        json_object_set_new(o, "email", json_string(db_col_text(st, 3)));
        json_t *addr = json_loads(db_col_text(st, 11), 0, NULL);
        json_object_set_new(o, "shipping_address", addr ? addr : json_null());
        json_object_set_new(o, "totals",
                            json_pack("{s:o, s:o, s:o, s:o}", "subtotal", money(db_col_int(st, 7), cur), "shipping",
                                      money(db_col_int(st, 8), cur), "tax", money(db_col_int(st, 9), cur), "total",
                                      money(db_col_int(st, 10), cur)));
    }
    json_object_set_new(o, "reserved_until",
                        db_col_is_null(st, 12) ? json_null() : json_string(time_fmt_rfc3339(r, db_col_int(st, 12))));
    json_object_set_new(o, "created_at", json_string(time_fmt_rfc3339(a, db_col_int(st, 13))));
    json_object_set_new(o, "updated_at", json_string(time_fmt_rfc3339(b, db_col_int(st, 14))));
    db_reset(st);

    json_t *lines = json_array();
    int64_t seller_total = 0;
    st = db_query(c, &q_order_lines, &rc, "s", order_id);
    if (!st) goto fail;
    while (rc == DB_ROW) {
        if (!only_seller || !strcmp(only_seller, db_col_text(st, 3))) {
            json_t *l = json_object();
            json_object_set_new(l, "id", json_string(db_col_text(st, 0)));
            json_object_set_new(l, "variant_id", json_string(db_col_text(st, 1)));
            json_object_set_new(l, "product_id", json_string(db_col_text(st, 2)));
            json_object_set_new(l, "seller_id", json_string(db_col_text(st, 3)));
            json_object_set_new(l, "sku", json_string(db_col_text(st, 4)));
            json_object_set_new(l, "title", json_string(db_col_text(st, 5)));
            json_object_set_new(l, "quantity", json_integer(db_col_int(st, 6)));
            json_object_set_new(l, "unit_price", money(db_col_int(st, 7), cur));
            json_object_set_new(l, "line_total", money(db_col_int(st, 8), cur));
            seller_total += db_col_int(st, 8);
            json_array_append_new(lines, l);
        }
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) goto fail;
    json_object_set_new(o, "lines", lines);
    lines = NULL;
    if (only_seller) {
        json_object_set_new(o, "seller_total", money(seller_total, cur));
        return o;
    }
    json_t *pays = json_array();
    json_object_set_new(o, "payments", pays);
    st = db_query(c, &q_order_payments, &rc, "s", order_id);
    if (!st) goto fail;
    while (rc == DB_ROW) {
        json_t *p = json_pack("{s:s, s:s, s:s, s:o, s:I, s:s}", "id", db_col_text(st, 0), "provider",
                              db_col_text(st, 1), "status", db_col_text(st, 2), "amount",
                              money(db_col_int(st, 3), db_col_text(st, 5)), "refunded",
                              (json_int_t)db_col_int(st, 4), "created_at",
                              time_fmt_rfc3339(a, db_col_int(st, 7)));
        if (!db_col_is_null(st, 6)) json_object_set_new(p, "error", json_string(db_col_text(st, 6)));
        /* the browser needs it to finish 3-D Secure; only while it can */
        if (!db_col_is_null(st, 8) && !strcmp(db_col_text(st, 2), "requires_action"))
            json_object_set_new(p, "client_secret", json_string(db_col_text(st, 8)));
        json_array_append_new(pays, p);
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) goto fail;
    return o;
fail:
    json_decref(lines);
    json_decref(o);
    return NULL;
}

/* ---------- lists ---------- */

DB_SQL(q_list_customer, "SELECT id FROM orders WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3");
DB_SQL(q_list_seller, "SELECT DISTINCT order_id FROM order_lines WHERE seller_id = $1 AND order_id < $2"
                      " ORDER BY order_id DESC LIMIT $3");
DB_SQL(q_list_all, "SELECT id FROM orders WHERE id < $1 ORDER BY id DESC LIMIT $2");
DB_SQL(q_list_status, "SELECT id FROM orders WHERE status = $1 AND id < $2 ORDER BY id DESC LIMIT $3");
/* first pages: no sentinel id, whose order would depend on PostgreSQL's collation */
DB_SQL(q_first_customer, "SELECT id FROM orders WHERE customer_id = $1 ORDER BY id DESC LIMIT $2");
DB_SQL(q_first_seller, "SELECT DISTINCT order_id FROM order_lines WHERE seller_id = $1 ORDER BY order_id DESC LIMIT $2");
DB_SQL(q_first_all, "SELECT id FROM orders ORDER BY id DESC LIMIT $1");
DB_SQL(q_first_status, "SELECT id FROM orders WHERE status = $1 ORDER BY id DESC LIMIT $2");

json_t *order_list(db_conn_t *c, const char *by, const char *key, const char *after, int limit)
{
    const char *before = after && *after ? after : NULL;
    int rc;
    db_stmt_t *st;
    int seller = !strcmp(by, "seller"), customer = !strcmp(by, "customer");
    if (before) {
        if (customer) st = db_query(c, &q_list_customer, &rc, "ssi", key, before, limit + 1);
        else if (seller) st = db_query(c, &q_list_seller, &rc, "ssi", key, before, limit + 1);
        else if (key) st = db_query(c, &q_list_status, &rc, "ssi", key, before, limit + 1);
        else st = db_query(c, &q_list_all, &rc, "si", before, limit + 1);
    } else {
        if (customer) st = db_query(c, &q_first_customer, &rc, "si", key, limit + 1);
        else if (seller) st = db_query(c, &q_first_seller, &rc, "si", key, limit + 1);
        else if (key) st = db_query(c, &q_first_status, &rc, "si", key, limit + 1);
        else st = db_query(c, &q_first_all, &rc, "i", limit + 1);
    }
    if (!st) return NULL;
    char (*ids)[ID_MAX] = calloc((size_t)limit + 1, ID_MAX);
    int n = 0;
    while (rc == DB_ROW && n <= limit) {
        snprintf(ids[n], ID_MAX, "%s", db_col_text(st, 0));
        n++;
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) {
        free(ids);
        return NULL;
    }
    json_t *items = json_array();
    int shown = n > limit ? limit : n;
    for (int i = 0; i < shown; i++) {
        json_t *o = order_render(c, ids[i], seller ? key : NULL);
        if (!o) {
            json_decref(items);
            free(ids);
            return NULL;
        }
        json_array_append_new(items, o);
    }
    json_t *res = json_pack("{s:o, s:o}", "items", items, "next_cursor",
                            n > limit ? json_string(ids[limit - 1]) : json_null());
    free(ids);
    return res;
}

typedef struct ev_ctx {
    json_t *arr;
} ev_ctx_t;

static int ev_one(const event_t *ev, void *ctx)
{
    ev_ctx_t *e = ctx;
    char t[32];
    json_t *p = json_loads(ev->payload ? ev->payload : "{}", 0, NULL);
    json_array_append_new(e->arr, json_pack("{s:I, s:s, s:s?, s:o, s:s}", "id", (json_int_t)ev->id, "type", ev->type,
                                            "actor", ev->actor, "data", p ? p : json_object(), "created_at",
                                            time_fmt_rfc3339(t, ev->created_at)));
    return 0;
}

json_t *order_events(db_conn_t *c, const char *order_id, int64_t after, int limit)
{
    ev_ctx_t e = { json_array() };
    if (event_read(c, after, order_id, limit, ev_one, &e) < 0) {
        json_decref(e.arr);
        return NULL;
    }
    return e.arr;
}
