/*
 * test_orders.c — checkout, stock and payments at the database layer, on
 * the configured backend: many threads checking out the last units at once
 * (each thread its own connection and transaction, as HTTP threads do),
 * all-or-nothing reservations, expiry, transitions with their stock side
 * effects, and the ordering rules of payment_apply_update.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "db/migrate.h"
#include "orders/cart.h"
#include "orders/inventory.h"
#include "orders/order.h"
#include "orders/payment.h"
#include "jobs/runtime.h"
#include "payments/test_provider.h"
#include "util/timeutil.h"
#include "testdb.h"

#define SELLER "usr_01jfxhsy00aaaaaaaaaaaaaaaa"
#define V1 "var_01jgfjjz00aaaaaaaaaaaaaaaa"
#define V2 "var_01jgfjjz00bbbbbbbbbbbbbbbb"
#define V3 "var_01jgfjjz00cccccccccccccccc"

DB_SQL(q_product, "INSERT INTO products (id, seller_id, handle, title, status, created_at, updated_at)"
                  " VALUES ($1, $2, $3, $4, $5, 0, 0)");
DB_SQL(q_variant, "INSERT INTO variants (id, product_id, sku, title, price_amount, currency, created_at, updated_at)"
                  " VALUES ($1, $2, $3, 'Std', $4, 'EUR', 0, 0)");

static int exec_tx(db_conn_t *c, void *ctx)
{
    (void)c;
    (void)ctx;
    return 0;
}

static db_t *open_fresh(void)
{
    db_t *db = NULL;
    char err[256];
    db_opts_t o = { .pool_size = 40, .busy_timeout_ms = 20000 };
    assert_int_equal(db_open(&db, testdb_new(), &o, err, sizeof err), 0);
    int applied;
    assert_int_equal(db_migrate(db, &applied, err, sizeof err), 0);
    db_conn_t *c = db_acquire(db);
    const char *vids[] = { V1, V2, V3 };
    for (int i = 0; i < 3; i++) {
        char pid[64], handle[32], sku[32];
        snprintf(pid, sizeof pid, "prod_01jgfjjz00%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c", 'a' + i, 'a' + i, 'a' + i,
                 'a' + i, 'a' + i, 'a' + i, 'a' + i, 'a' + i, 'a' + i, 'a' + i, 'a' + i, 'a' + i, 'a' + i, 'a' + i,
                 'a' + i, 'a' + i);
        snprintf(handle, sizeof handle, "p%d", i);
        snprintf(sku, sizeof sku, "SKU-%d", i);
        assert_int_equal(db_exec(c, &q_product, "sssss", pid, SELLER, handle, "Thing", i == 2 ? "draft" : "published"), 1);
        assert_int_equal(db_exec(c, &q_variant, "sssL", vids[i], pid, sku, (int64_t)1000 * (i + 1)), 1);
    }
    db_release(c);
    (void)exec_tx;
    return db;
}

typedef struct adj {
    const char *v;
    int64_t delta;
} adj_t;

static int adjust_tx(db_conn_t *c, void *ctx)
{
    adj_t *a = ctx;
    return inventory_adjust(c, a->v, a->delta, "test", "system", NULL);
}

static void set_stock(db_t *db, const char *v, int64_t delta)
{
    adj_t a = { v, delta };
    assert_int_equal(db_tx(db, adjust_tx, &a), 0);
}

typedef struct mk {
    const char *v1, *v2;
    int64_t q1, q2;
    cart_t cart;
    char token[CART_TOKEN_MAX];
} mk_t;

static int make_cart_tx(db_conn_t *c, void *ctx)
{
    mk_t *m = ctx;
    int existing;
    int64_t av;
    int rc = cart_create(c, NULL, "eu", &m->cart, m->token, &existing);
    if (rc == 0 && m->v1) rc = cart_set_item(c, &m->cart, m->v1, m->q1, 0, &av);
    if (rc == 0 && m->v2) rc = cart_set_item(c, &m->cart, m->v2, m->q2, 0, &av);
    return rc;
}

typedef struct co {
    mk_t *m;
    checkout_res_t res;
    json_t *addr;
} co_t;

static int checkout_tx(db_conn_t *c, void *ctx)
{
    co_t *x = ctx;
    json_decref(x->res.short_lines);
    json_decref(x->res.errors);
    checkout_input_t in = { .cart_id = x->m->cart.id, .email = "a@b.co", .address = x->addr };
    return order_checkout(c, &in, NULL, x->m->token, 60000, &x->res);
}

static int checkout(db_t *db, mk_t *m, co_t *x)
{
    memset(x, 0, sizeof *x);
    x->m = m;
    x->addr = json_pack("{s:s}", "name", "A");
    int rc = db_tx(db, checkout_tx, x);
    json_decref(x->addr);
    return rc;
}

static void stock_is(db_t *db, const char *v, int64_t oh, int64_t rs)
{
    db_conn_t *c = db_acquire(db);
    int64_t a, b;
    assert_int_equal(inventory_get(c, v, &a, &b), 0);
    db_release(c);
    assert_int_equal(a, oh);
    assert_int_equal(b, rs);
}

/* ---- many threads, few units ---- */

#define THREADS 16
#define PER_THREAD 6

typedef struct worker {
    db_t *db;
    mk_t carts[PER_THREAD];
    int ok, short_, other;
} worker_t;

static void *buyer(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        co_t x;
        int rc = checkout(w->db, &w->carts[i], &x);
        if (rc == ORDER_OK) w->ok++;
        else if (rc == ORDER_E_STOCK) w->short_++;
        else w->other++;
        json_decref(x.res.short_lines);
        json_decref(x.res.errors);
    }
    db_release(db_acquire(w->db)); /* the thread's connection goes back */
    return NULL;
}

static void test_concurrent_last_units(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    set_stock(db, V1, 7);
    static worker_t w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&w[t], 0, sizeof w[t]);
        w[t].db = db;
        for (int i = 0; i < PER_THREAD; i++) {
            w[t].carts[i].v1 = V1;
            w[t].carts[i].q1 = 1;
            assert_int_equal(db_tx(db, make_cart_tx, &w[t].carts[i]), 0);
        }
    }
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, buyer, &w[t]);
    int ok = 0, sh = 0, other = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        ok += w[t].ok;
        sh += w[t].short_;
        other += w[t].other;
    }
    assert_int_equal(other, 0);
    assert_int_equal(ok, 7);
    assert_int_equal(sh, THREADS * PER_THREAD - 7);
    stock_is(db, V1, 7, 7);
    db_conn_t *c = db_acquire(db);
    static const db_sql_t q = { "SELECT COALESCE(SUM(quantity), 0), COUNT(DISTINCT order_id) FROM reservations WHERE state = 'held'",
                                "SELECT COALESCE(SUM(quantity), 0), COUNT(DISTINCT order_id) FROM reservations WHERE state = 'held'" };
    int rc;
    db_stmt_t *st = db_query(c, &q, &rc, "");
    assert_int_equal(rc, DB_ROW);
    assert_int_equal(db_col_int(st, 0), 7);
    assert_int_equal(db_col_int(st, 1), 7);
    db_reset(st);
    db_release(c);
    db_close(db);
}

/* ---- all or nothing ---- */

static void test_all_or_nothing(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    set_stock(db, V1, 5);
    set_stock(db, V2, 2);
    mk_t m = { .v1 = V1, .q1 = 3, .v2 = V2, .q2 = 2 };
    assert_int_equal(db_tx(db, make_cart_tx, &m), 0);
    set_stock(db, V2, -1); /* someone took one after it went into the cart */
    co_t x;
    assert_int_equal(checkout(db, &m, &x), ORDER_E_STOCK);
    assert_int_equal(json_array_size(x.res.short_lines), 1);
    json_t *l = json_array_get(x.res.short_lines, 0);
    assert_string_equal(json_string_value(json_object_get(l, "variant_id")), V2);
    assert_int_equal(json_integer_value(json_object_get(l, "requested")), 2);
    assert_int_equal(json_integer_value(json_object_get(l, "available")), 1);
    json_decref(x.res.short_lines);
    stock_is(db, V1, 5, 0); /* the first line's reservation was rolled back */
    stock_is(db, V2, 1, 0);
    /* the cart is still active: fix it and check out */
    db_conn_t *c = db_acquire(db);
    int64_t av;
    assert_int_equal(cart_set_item(c, &m.cart, V2, 1, 0, &av), 0);
    db_release(c);
    assert_int_equal(checkout(db, &m, &x), ORDER_OK);
    stock_is(db, V1, 5, 3);
    stock_is(db, V2, 1, 1);
    /* a second checkout of the same cart */
    co_t y;
    assert_int_equal(checkout(db, &m, &y), ORDER_E_CLOSED);
    db_close(db);
}

static void test_unpublished_and_empty(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    set_stock(db, V3, 5);
    mk_t m = { 0 };
    assert_int_equal(db_tx(db, make_cart_tx, &m), 0);
    co_t x;
    assert_int_equal(checkout(db, &m, &x), ORDER_E_EMPTY);
    db_conn_t *c = db_acquire(db);
    int64_t av;
    assert_int_equal(cart_set_item(c, &m.cart, V3, 1, 0, &av), CART_E_VARIANT);
    db_release(c);
    db_close(db);
}

/* ---- expiry and transitions ---- */

typedef struct one {
    const char *id;
    order_status_t to;
    int who;
} one_t;

static int expire_tx(db_conn_t *c, void *ctx) { return order_expire(c, ((one_t *)ctx)->id); }
static int move_tx(db_conn_t *c, void *ctx)
{
    one_t *o = ctx;
    return order_transition(c, o->id, o->to, o->who, "test", "because", -1, NULL);
}

static void test_expiry_and_transitions(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    set_stock(db, V1, 10);
    mk_t m1 = { .v1 = V1, .q1 = 2 }, m2 = { .v1 = V1, .q1 = 3 };
    assert_int_equal(db_tx(db, make_cart_tx, &m1), 0);
    assert_int_equal(db_tx(db, make_cart_tx, &m2), 0);
    co_t a, b;
    assert_int_equal(checkout(db, &m1, &a), ORDER_OK);
    assert_int_equal(checkout(db, &m2, &b), ORDER_OK);
    stock_is(db, V1, 10, 5);
    one_t e = { .id = a.res.order_id };
    assert_int_equal(db_tx(db, expire_tx, &e), 0);
    stock_is(db, V1, 10, 3);
    assert_int_equal(db_tx(db, expire_tx, &e), 0); /* twice is harmless */
    stock_is(db, V1, 10, 3);
    /* b: paid commits, shipped, then a cancel is refused */
    one_t p = { b.res.order_id, ORDER_PAID, BY_ADMIN };
    assert_int_equal(db_tx(db, move_tx, &p), ORDER_E_TRANSITION); /* only the system marks paid */
    p.who = BY_SYSTEM;
    assert_int_equal(db_tx(db, move_tx, &p), 0);
    stock_is(db, V1, 7, 0);
    one_t f = { b.res.order_id, ORDER_FULFILLING, BY_ADMIN };
    assert_int_equal(db_tx(db, move_tx, &f), 0);
    one_t cc = { b.res.order_id, ORDER_CANCELLED, BY_CUSTOMER };
    assert_int_equal(db_tx(db, move_tx, &cc), 0); /* before shipment: back on hand */
    stock_is(db, V1, 10, 0);
    assert_int_equal(db_tx(db, move_tx, &cc), ORDER_E_TRANSITION);
    /* expiring a cancelled order does nothing */
    one_t e2 = { .id = b.res.order_id };
    assert_int_equal(db_tx(db, expire_tx, &e2), 0);
    stock_is(db, V1, 10, 0);
    db_close(db);
}

/* ---- provider outcomes ---- */

DB_SQL(q_pay, "INSERT INTO payments (id, order_id, provider, provider_ref, amount, currency, status, created_at, updated_at)"
              " VALUES ('pay_x', $1, 'stripe', 'pi_1', $2, 'EUR', 'processing', 0, 0)");
DB_SQL(q_pay_state, "SELECT p.status, p.refunded, o.status FROM payments p JOIN orders o ON o.id = p.order_id"
                    " WHERE p.id = 'pay_x'");

typedef struct upd {
    pay_status_t s;
    int64_t amount;
} upd_t;

static int upd_tx(db_conn_t *c, void *ctx)
{
    upd_t *u = ctx;
    return payment_apply_update(c, "stripe", "pi_1", u->s, u->amount, "r", "system");
}

static void pay_is(db_t *db, const char *ps, int64_t refunded, const char *os)
{
    db_conn_t *c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_pay_state, &rc, "");
    assert_int_equal(rc, DB_ROW);
    assert_string_equal(db_col_text(st, 0), ps);
    assert_int_equal(db_col_int(st, 1), refunded);
    assert_string_equal(db_col_text(st, 2), os);
    db_reset(st);
    db_release(c);
}

static void test_payment_updates(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    set_stock(db, V1, 4);
    mk_t m = { .v1 = V1, .q1 = 2 };
    assert_int_equal(db_tx(db, make_cart_tx, &m), 0);
    co_t x;
    assert_int_equal(checkout(db, &m, &x), ORDER_OK);
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec(c, &q_pay, "sL", x.res.order_id, (int64_t)1000), 1);
    db_release(c);
    upd_t u = { PAY_REQUIRES_ACTION, 0 };
    assert_int_equal(db_tx(db, upd_tx, &u), 0);
    pay_is(db, "requires_action", 0, "pending_payment");
    u.s = PAY_SUCCEEDED;
    assert_int_equal(db_tx(db, upd_tx, &u), 0);
    pay_is(db, "succeeded", 0, "paid");
    stock_is(db, V1, 2, 0);
    assert_int_equal(db_tx(db, upd_tx, &u), 0); /* replay */
    u.s = PAY_PROCESSING;                       /* late interim report */
    assert_int_equal(db_tx(db, upd_tx, &u), 0);
    u.s = PAY_FAILED; /* a success never fails afterwards */
    assert_int_equal(db_tx(db, upd_tx, &u), 0);
    pay_is(db, "succeeded", 0, "paid");
    u = (upd_t){ PAY_REFUNDED, 400 };
    assert_int_equal(db_tx(db, upd_tx, &u), 0);
    assert_int_equal(db_tx(db, upd_tx, &u), 0); /* cumulative: a replay changes nothing */
    pay_is(db, "succeeded", 400, "paid");
    u.amount = 0; /* the rest */
    assert_int_equal(db_tx(db, upd_tx, &u), 0);
    pay_is(db, "refunded", 1000, "refunded");
    stock_is(db, V1, 4, 0); /* refunded before shipping: back on hand */
    c = db_acquire(db);
    assert_int_equal(payment_apply_update(c, "stripe", "pi_unknown", PAY_SUCCEEDED, 0, NULL, NULL), 1);
    db_release(c);
    db_close(db);
}

/* ---- a provider that is not decided inline goes through payments.process ---- */

typedef struct payc {
    const char *order_id;
    char pay_id[48];
    const char *method;
} payc_t;

static int pay_tx(db_conn_t *c, void *ctx)
{
    payc_t *p = ctx;
    return payment_create(c, p->order_id, "test_async", p->method, "test", p->pay_id);
}

DB_SQL(q_pay_status, "SELECT status FROM payments WHERE id = $1");

static int pay_status_is(db_t *db, const char *id, const char *want)
{
    db_conn_t *c = db_acquire(db);
    int rc, ok = 0;
    db_stmt_t *st = db_query(c, &q_pay_status, &rc, "s", id);
    if (st) {
        ok = rc == DB_ROW && !strcmp(db_col_text(st, 0), want);
        db_reset(st);
    }
    db_release(c);
    return ok;
}

static void test_payments_process_job(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    /* the real test provider under another name, so payment_create takes
     * the asynchronous path that network providers (Stripe) take */
    pay_test_register();
    static pay_provider_t async;
    async = *pay_provider_find("test");
    async.name = "test_async";
    pay_provider_register(&async);
    set_stock(db, V1, 4);
    mk_t m1 = { .v1 = V1, .q1 = 1 }, m2 = { .v1 = V1, .q1 = 1 };
    assert_int_equal(db_tx(db, make_cart_tx, &m1), 0);
    assert_int_equal(db_tx(db, make_cart_tx, &m2), 0);
    co_t a, b;
    assert_int_equal(checkout(db, &m1, &a), ORDER_OK);
    assert_int_equal(checkout(db, &m2, &b), ORDER_OK);
    payc_t pa = { .order_id = a.res.order_id, .method = "tok_visa" }, pb = { .order_id = b.res.order_id, .method = "tok_decline" };
    assert_int_equal(db_tx(db, pay_tx, &pa), 0);
    assert_int_equal(db_tx(db, pay_tx, &pb), 0);
    assert_true(pay_status_is(db, pa.pay_id, "processing"));
    payc_t again = { .order_id = a.res.order_id, .method = "tok_visa" };
    assert_int_equal(db_tx(db, pay_tx, &again), PAYMENT_E_NOT_PAYABLE); /* one in progress */
    jobs_opts_t jo = { .workers = 1, .poll_ms = 20, .lease_ms = 30000 };
    jobs_t *rt = jobs_new(db, &jo);
    payment_jobs(rt);
    jobs_start(rt);
    for (int i = 0; i < 500 && !(pay_status_is(db, pa.pay_id, "succeeded") && pay_status_is(db, pb.pay_id, "failed")); i++)
        usleep(20000);
    jobs_stop(rt, 5000);
    jobs_free(rt);
    assert_true(pay_status_is(db, pa.pay_id, "succeeded"));
    assert_true(pay_status_is(db, pb.pay_id, "failed"));
    order_status_t s;
    db_conn_t *c = db_acquire(db);
    assert_int_equal(order_status_of(c, a.res.order_id, &s, NULL), 0);
    assert_int_equal(s, ORDER_PAID);
    assert_int_equal(order_status_of(c, b.res.order_id, &s, NULL), 0);
    assert_int_equal(s, ORDER_PAYMENT_FAILED);
    db_release(c);
    stock_is(db, V1, 3, 1);
    db_close(db);
}

/* SQLite, without statistics on reservations, picked the (state,
 * expires_at) index for "WHERE order_id = ? AND state = ?": every payment
 * read all held reservations to find its order's.  The order's key it must
 * be, however many reservations are held. */
static void test_reservation_update_plan(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    if (db_kind(db) != DB_SQLITE) {
        db_close(db);
        skip(); /* PostgreSQL plans with its statistics */
    }
    db_conn_t *c = db_acquire(db);
    char plan[512];
    testdb_plan_of(c, &order_sql_resv_set_state, plan, sizeof plan, "sssL", "ord_x", "held", "committed", (int64_t)0);
    db_release(c);
    assert_non_null(strstr(plan, "(order_id=?)"));
    assert_null(strstr(plan, "reservations_held"));
    db_close(db);
}

/* The expiry sweep reads the held reservations' partial index (migration
 * 0016: it no longer holds committed and released ones), not the table. */
static void test_expiry_sweep_plan(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    if (db_kind(db) != DB_SQLITE) {
        db_close(db);
        skip(); /* PostgreSQL plans with its statistics */
    }
    db_conn_t *c = db_acquire(db);
    char plan[512];
    testdb_plan_of(c, &order_sql_due_orders, plan, sizeof plan, "L", (int64_t)0);
    db_release(c);
    assert_non_null(strstr(plan, "USING INDEX reservations_held (expires_at<?)"));
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_last_units), cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_unpublished_and_empty), cmocka_unit_test(test_expiry_and_transitions),
        cmocka_unit_test(test_payment_updates),       cmocka_unit_test(test_payments_process_job),
        cmocka_unit_test(test_reservation_update_plan),
        cmocka_unit_test(test_expiry_sweep_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
