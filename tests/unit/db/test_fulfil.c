/*
 * test_fulfil.c — fulfilment on the configured backend: shipments per
 * seller of a paid order (once), carrier events recorded once and applied
 * only forward, the order rolled up through every intermediate status,
 * cancelled orders left alone, and concurrent duplicates of one carrier
 * event recorded exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "db/db.h"
#include "db/migrate.h"
#include "fulfil/fulfil.h"
#include "jobs/events.h"
#include "util/timeutil.h"
#include "testdb.h"

static db_t *open_fresh(void)
{
    db_t *db = NULL;
    char err[256];
    assert_int_equal(db_open(&db, testdb_new(), NULL, err, sizeof err), 0);
    int applied;
    assert_int_equal(db_migrate(db, &applied, err, sizeof err), 0);
    return db;
}

DB_SQL(q_order, "INSERT INTO orders (id, number, customer_id, email, cart_id, region, currency, status, subtotal,"
                " shipping, tax, total, shipping_address, created_at, updated_at)"
                " VALUES ($1, $2, 'usr_buyer', 'b@example.com', $3, 'eu', 'EUR', $4, 1000, 0, 0, 1000, '{}', $5, $5)");
DB_SQL(q_line, "INSERT INTO order_lines (id, order_id, position, variant_id, product_id, seller_id, sku, title,"
               " quantity, unit_price, line_total) VALUES ($1, $2, $3, $4, 'prod_x', $5, $6, 'Thing', 1, 500, 500)");
DB_SQL(q_status, "SELECT status FROM orders WHERE id = $1");
DB_SQL(q_set_status, "UPDATE orders SET status = $2 WHERE id = $1");
DB_SQL(q_ships, "SELECT id, seller_id, status FROM shipments WHERE order_id = $1 ORDER BY seller_id");
DB_SQL(q_count_sev, "SELECT COUNT(*) FROM shipment_events WHERE shipment_id = $1");

static void make_order(db_t *db, const char *id, const char *status)
{
    db_conn_t *c = db_acquire(db);
    char num[32], cart[32];
    snprintf(num, sizeof num, "N-%s", id);
    snprintf(cart, sizeof cart, "cart-%s", id);
    assert_int_equal(db_exec(c, &q_order, "ssssL", id, num, cart, status, time_now_ms()), 1);
    char lid[48];
    snprintf(lid, sizeof lid, "%s-l1", id);
    assert_int_equal(db_exec(c, &q_line, "ssisss", lid, id, 1, "var_a", "usr_seller_b", "SKU-A"), 1);
    snprintf(lid, sizeof lid, "%s-l2", id);
    assert_int_equal(db_exec(c, &q_line, "ssisss", lid, id, 2, "var_b", "usr_seller_a", "SKU-B"), 1);
    snprintf(lid, sizeof lid, "%s-l3", id);
    assert_int_equal(db_exec(c, &q_line, "ssisss", lid, id, 3, "var_c", "usr_seller_a", "SKU-C"), 1);
    db_release(c);
}

static char *order_status(db_t *db, const char *id, char out[32])
{
    db_conn_t *c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_status, &rc, "s", id);
    assert_int_equal(rc, DB_ROW);
    snprintf(out, 32, "%s", db_col_text(st, 0));
    db_reset(st);
    db_release(c);
    return out;
}

typedef struct create_ctx {
    const char *order_id;
    int created;
} create_ctx_t;

static int create_tx(db_conn_t *c, void *ctx)
{
    create_ctx_t *x = ctx;
    x->created = fulfil_create_shipments(c, x->order_id, "acme", 0);
    return x->created < 0 ? x->created : 0;
}

static int create(db_t *db, const char *order_id)
{
    create_ctx_t x = { order_id, 0 };
    assert_int_equal(db_tx(db, create_tx, &x), 0);
    return x.created;
}

typedef struct apply_ctx {
    const char *shipment_id;
    carrier_event_t ev;
    fulfil_result_t res;
} apply_ctx_t;

static int apply_tx(db_conn_t *c, void *ctx)
{
    apply_ctx_t *a = ctx;
    return fulfil_apply_event(c, a->shipment_id, "cli_carrier", "cli_carrier", &a->ev, &a->res);
}

static fulfil_result_t apply(db_t *db, const char *shipment_id, const char *ext, ship_status_t st, int64_t at)
{
    apply_ctx_t a = { .shipment_id = shipment_id };
    snprintf(a.ev.external_id, sizeof a.ev.external_id, "%s", ext);
    a.ev.status = st;
    a.ev.occurred_at = at;
    snprintf(a.ev.tracking_number, sizeof a.ev.tracking_number, "TRK-%s", ext);
    assert_int_equal(db_tx(db, apply_tx, &a), 0);
    return a.res;
}

static int ships(db_t *db, const char *order_id, char ids[][ID_MAX], char status[][32])
{
    db_conn_t *c = db_acquire(db);
    int rc, n = 0;
    db_stmt_t *st = db_query(c, &q_ships, &rc, "s", order_id);
    while (st && rc == DB_ROW) {
        snprintf(ids[n], ID_MAX, "%s", db_col_text(st, 0));
        snprintf(status[n], 32, "%s", db_col_text(st, 2));
        n++;
        rc = db_step(st);
    }
    if (st) db_reset(st);
    db_release(c);
    return n;
}

typedef struct collect {
    char types[64][48];
    char payloads[64][256];
    int n;
} collect_t;

static int collect_fn(const event_t *ev, void *ctx)
{
    collect_t *cl = ctx;
    if (cl->n < 64) {
        snprintf(cl->types[cl->n], 48, "%s", ev->type);
        snprintf(cl->payloads[cl->n], 256, "%s", ev->payload);
        cl->n++;
    }
    return 0;
}

static void test_flow(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    make_order(db, "ord_flow", "pending_payment");
    assert_int_equal(create(db, "ord_flow"), 0); /* not paid: nothing */
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec(c, &q_set_status, "ss", "ord_flow", "paid"), 1);
    db_release(c);
    assert_int_equal(create(db, "ord_flow"), 2); /* one per seller */
    assert_int_equal(create(db, "ord_flow"), 0); /* once */
    char st[32];
    assert_string_equal(order_status(db, "ord_flow", st), "fulfilling");

    char ids[4][ID_MAX], ss[4][32];
    assert_int_equal(ships(db, "ord_flow", ids, ss), 2);
    assert_string_equal(ss[0], "pending");
    int64_t t = time_now_ms() - 100000;

    fulfil_result_t r = apply(db, ids[0], "a1", SHIP_LABEL_CREATED, t + 1000);
    assert_true(r.found && r.applied && !r.replay);
    r = apply(db, ids[0], "a1", SHIP_LABEL_CREATED, t + 1000);
    assert_true(r.found && r.replay && !r.applied);
    r = apply(db, ids[0], "a2", SHIP_IN_TRANSIT, t + 2000);
    assert_true(r.applied);
    assert_string_equal(order_status(db, "ord_flow", st), "fulfilling"); /* the other one has not left */
    r = apply(db, ids[1], "b1", SHIP_IN_TRANSIT, t + 2500);
    assert_true(r.applied);
    assert_string_equal(order_status(db, "ord_flow", st), "shipped");
    r = apply(db, ids[0], "a3", SHIP_DELIVERED, t + 5000);
    assert_true(r.applied);
    /* late and out of order: recorded, changes nothing */
    r = apply(db, ids[0], "a-late", SHIP_OUT_FOR_DELIVERY, t + 4000);
    assert_true(r.found && !r.applied && !r.replay);
    r = apply(db, ids[1], "b-old", SHIP_LABEL_CREATED, t + 2600);
    assert_false(r.applied);
    assert_string_equal(order_status(db, "ord_flow", st), "shipped");
    /* a failed attempt, then delivered after all */
    r = apply(db, ids[1], "b2", SHIP_FAILED, t + 6000);
    assert_true(r.applied);
    assert_string_equal(order_status(db, "ord_flow", st), "delivery_failed");
    r = apply(db, ids[1], "b3", SHIP_DELIVERED, t + 9000);
    assert_true(r.applied);
    assert_string_equal(order_status(db, "ord_flow", st), "delivered"); /* via shipped */
    assert_int_equal(ships(db, "ord_flow", ids, ss), 2);
    assert_string_equal(ss[0], "delivered");
    assert_string_equal(ss[1], "delivered");

    /* unknown shipment */
    r = apply(db, "shp_nope", "x", SHIP_DELIVERED, t);
    assert_false(r.found);

    /* the timeline: every order status on the way is an event, in order */
    c = db_acquire(db);
    collect_t cl = { .n = 0 };
    assert_true(event_read(c, 0, "ord_flow", 100, collect_fn, &cl) > 0);
    db_release(c);
    const char *want[] = { "\"to\": \"fulfilling\"", "\"to\": \"shipped\"", "\"to\": \"delivery_failed\"",
                           "\"to\": \"shipped\"", "\"to\": \"delivered\"" };
    int w = 0, created = 0, moved = 0;
    for (int i = 0; i < cl.n; i++) {
        if (!strcmp(cl.types[i], "shipment.created")) created++;
        if (!strcmp(cl.types[i], "shipment.status_changed")) moved++;
        if (!strcmp(cl.types[i], "order.status_changed")) {
            assert_true(w < 5);
            json_t *p = json_loads(cl.payloads[i], 0, NULL);
            char *s = json_dumps(json_object_get(p, "to"), JSON_ENCODE_ANY);
            char exp[64];
            snprintf(exp, sizeof exp, "\"to\": %s", s);
            assert_string_equal(exp, want[w]);
            free(s);
            json_decref(p);
            w++;
        }
    }
    assert_int_equal(w, 5);
    assert_int_equal(created, 2);
    assert_int_equal(moved, 6);

    /* rendering */
    c = db_acquire(db);
    json_t *o = fulfil_render_shipment(c, ids[1], true);
    db_release(c);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "delivered");
    assert_int_equal(json_array_size(json_object_get(o, "events")), 4);
    assert_int_equal(json_array_size(json_object_get(o, "lines")), 1);
    assert_string_equal(json_string_value(json_object_get(o, "tracking_number")), "TRK-b3");
    json_decref(o);
    db_close(db);
}

static void test_cancelled_order_is_left_alone(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    make_order(db, "ord_c", "paid");
    assert_int_equal(create(db, "ord_c"), 2);
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec(c, &q_set_status, "ss", "ord_c", "cancelled"), 1);
    db_release(c);
    char ids[4][ID_MAX], ss[4][32], st[32];
    ships(db, "ord_c", ids, ss);
    fulfil_result_t r = apply(db, ids[0], "c1", SHIP_IN_TRANSIT, time_now_ms());
    assert_true(r.found && !r.applied);
    assert_string_equal(order_status(db, "ord_c", st), "cancelled");
    ships(db, "ord_c", ids, ss);
    assert_string_equal(ss[0], "pending");
    db_close(db);
}

typedef struct race {
    db_t *db;
    const char *shipment_id;
    int applied, replays;
    pthread_mutex_t mu;
} race_t;

static void *racer(void *arg)
{
    race_t *rc = arg;
    apply_ctx_t a = { .shipment_id = rc->shipment_id };
    snprintf(a.ev.external_id, sizeof a.ev.external_id, "same-event");
    a.ev.status = SHIP_IN_TRANSIT;
    a.ev.occurred_at = time_now_ms();
    if (db_tx(rc->db, apply_tx, &a) == 0) {
        pthread_mutex_lock(&rc->mu);
        rc->applied += a.res.applied;
        rc->replays += a.res.replay;
        pthread_mutex_unlock(&rc->mu);
    }
    return NULL;
}

static void test_concurrent_duplicates(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    make_order(db, "ord_r", "paid");
    assert_int_equal(create(db, "ord_r"), 2);
    char ids[4][ID_MAX], ss[4][32];
    ships(db, "ord_r", ids, ss);
    race_t rc = { .db = db, .shipment_id = ids[0], .mu = PTHREAD_MUTEX_INITIALIZER };
    pthread_t th[8];
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, racer, &rc);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    assert_int_equal(rc.applied, 1);
    assert_int_equal(rc.replays, 7);
    db_conn_t *c = db_acquire(db);
    int r;
    db_stmt_t *st = db_query(c, &q_count_sev, &r, "s", ids[0]);
    assert_int_equal(db_col_int(st, 0), 1);
    db_reset(st);
    db_release(c);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow),
        cmocka_unit_test(test_cancelled_order_is_left_alone),
        cmocka_unit_test(test_concurrent_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
