/*
 * test_live.c — the live layer on the configured backend: the notification
 * consumer is idempotent per event (a replayed event makes no second row
 * and no second email), the mapping table picks the right kinds (status
 * changes only for shipped/delivered/cancelled), mail goes to the event's
 * address and carries the template's variables, events without an owner
 * are ignored, and the SSE framing of stored events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "db/db.h"
#include "db/migrate.h"
#include "jobs/events.h"
#include "live/live.h"
#include "live/notify.h"
#include "util/buf.h"
#include "testdb.h"

static db_t *fresh(void)
{
    db_t *db = NULL;
    char err[256];
    if (db_open(&db, testdb_new(), NULL, err, sizeof err) != 0) {
        fprintf(stderr, "db_open: %s\n", err);
        abort();
    }
    int applied;
    assert_int_equal(db_migrate(db, &applied, err, sizeof err), 0);
    return db;
}

DB_SQL(q_count_n, "SELECT COUNT(*) FROM notifications WHERE user_id = $1");
DB_SQL(q_kinds, "SELECT kind FROM notifications WHERE user_id = $1 ORDER BY event_id");
DB_SQL(q_mail, "SELECT payload FROM jobs WHERE queue = 'mail' ORDER BY id");

static int64_t count(db_conn_t *c, const db_sql_t *q, const char *arg)
{
    int rc;
    db_stmt_t *st = db_query(c, q, &rc, "s", arg);
    assert_non_null(st);
    int64_t n = db_col_int(st, 0);
    db_reset(st);
    return n;
}

typedef struct collect {
    db_t *db;
    int n;
} collect_t;

static int apply_tx(db_conn_t *c, void *ev) { return notify_apply(c, ev, "https://shop.example", "Shop"); }

/* one event per transaction (the runtime takes up to 200) */
static int apply_cb(const event_t *ev, void *ctx)
{
    collect_t *k = ctx;
    assert_int_equal(db_tx(k->db, apply_tx, (void *)ev), 0);
    k->n++;
    return 0;
}

/* runs the consumer over the whole log, as the runtime would */
static int consume_all(db_t *db)
{
    db_conn_t *c = db_acquire(db);
    collect_t k = { db, 0 };
    assert_true(event_read(c, 0, NULL, 1000, apply_cb, &k) >= 0);
    db_release(c);
    return k.n;
}

static void append(db_conn_t *c, const char *type, const char *subject, const char *owner, const char *json)
{
    json_t *d = json_loads(json, 0, NULL);
    assert_non_null(d);
    assert_true(event_append_owned(c, type, subject, "test", owner, d) > 0);
    json_decref(d);
}

static void test_consumer_is_idempotent_and_maps_once(void **state)
{
    (void)state;
    db_t *db = fresh();
    db_conn_t *c = db_acquire(db);
    append(c, "order.created", "ord_1", "usr_a",
           "{\"order_id\":\"ord_1\",\"email\":\"a@example.com\",\"total\":{\"amount\":1999,\"currency\":\"EUR\"}}");
    append(c, "order.status_changed", "ord_1", "usr_a", "{\"from\":\"pending_payment\",\"to\":\"paid\"}");
    append(c, "order.status_changed", "ord_1", "usr_a",
           "{\"to\":\"shipped\",\"tracking_number\":\"TR9\",\"email\":\"a@example.com\"}");
    append(c, "order.status_changed", "ord_1", "usr_a", "{\"to\":\"cancelled\"}");
    append(c, "order.created", "ord_2", NULL, "{\"email\":\"guest@example.com\"}"); /* a guest: mail, no notification */
    append(c, "order.status_changed", "ord_2", NULL, "{\"to\":\"cancelled\"}");          /* a guest: no mail for it */
    append(c, "product.published", "prod_1", "usr_a", "{}");                        /* not customer-facing */
    db_release(c);

    assert_int_equal(consume_all(db), 7);
    assert_int_equal(consume_all(db), 7); /* the replay of a crash */

    c = db_acquire(db);
    assert_int_equal(count(c, &q_count_n, "usr_a"), 3);
    int rc;
    db_stmt_t *st = db_query(c, &q_kinds, &rc, "s", "usr_a");
    const char *want[] = { "order_confirmed", "order_shipped", "order_cancelled" };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rc, DB_ROW);
        assert_string_equal(db_col_text(st, 0), want[i]);
        rc = db_step(st);
    }
    db_reset(st);
    /* two emails (confirmation, shipped); cancelled has none; none twice */
    st = db_query(c, &q_mail, &rc, "");
    int mails = 0;
    while (rc == DB_ROW) {
        json_t *p = json_loads(db_col_text(st, 0), 0, NULL);
        const char *t = json_string_value(json_object_get(p, "template"));
        json_t *vars = json_object_get(p, "vars");
        if (mails == 2) {
            assert_string_equal(json_string_value(json_object_get(p, "to")), "guest@example.com");
            assert_string_equal(t, "order_confirmation");
        } else {
            assert_string_equal(json_string_value(json_object_get(p, "to")), "a@example.com");
        }
        if (mails == 2) {
        } else if (mails == 0) {
            assert_string_equal(t, "order_confirmation");
            assert_string_equal(json_string_value(json_object_get(vars, "total")), "19.99 EUR");
            assert_string_equal(json_string_value(json_object_get(vars, "order_url")), "https://shop.example/orders/ord_1");
        } else {
            assert_string_equal(t, "order_shipped");
            assert_string_equal(json_string_value(json_object_get(vars, "tracking_number")), "TR9");
        }
        json_decref(p);
        mails++;
        rc = db_step(st);
    }
    db_reset(st);
    assert_int_equal(mails, 3);
    db_release(c);
    db_close(db);
}

static void test_money_and_mapping(void **state)
{
    (void)state;
    char out[64];
    notify_money(out, sizeof out, 1999, "EUR");
    assert_string_equal(out, "19.99 EUR");
    notify_money(out, sizeof out, 5, "USD");
    assert_string_equal(out, "0.05 USD");
    notify_money(out, sizeof out, 1200, "JPY");
    assert_string_equal(out, "1200 JPY");
    notify_money(out, sizeof out, -250, "EUR");
    assert_string_equal(out, "-2.50 EUR");
    json_t *d = json_pack("{s:s}", "to", "delivered");
    assert_string_equal(notify_kind_for("order.status_changed", d), "order_delivered");
    json_object_set_new(d, "to", json_string("fulfilling"));
    assert_null(notify_kind_for("order.status_changed", d));
    json_decref(d);
    d = json_pack("{s:s}", "status", "in_transit");
    assert_string_equal(notify_kind_for("shipment.status_changed", d), "shipment_in_transit");
    json_decref(d);
    d = json_object();
    assert_string_equal(notify_kind_for("payment.failed", d), "payment_failed");
    assert_null(notify_kind_for("payment.refunded", d));
    json_decref(d);
}

static int format_cb(const event_t *ev, void *ctx)
{
    live_sse_format(ctx, ev);
    return 0;
}

static void test_sse_format_of_stored_events(void **state)
{
    (void)state;
    db_t *db = fresh();
    db_conn_t *c = db_acquire(db);
    append(c, "order.created", "ord_9", "usr_b", "{\"note\":\"two\\nlines\"}");
    buf_t b = BUF_INIT(0);
    assert_int_equal(event_read(c, 0, "ord_9", 10, format_cb, &b), 1);
    db_release(c);
    assert_non_null(strstr(b.ptr, "id: 1\nevent: order.created\ndata: {\"id\":1,\"type\":\"order.created\","
                                  "\"subject\":\"ord_9\""));
    assert_non_null(strstr(b.ptr, "\"data\":{\"note\":\"two\\nlines\"}}\n\n"));
    assert_ptr_equal(strstr(b.ptr, "\n\n"), b.ptr + b.len - 2);
    buf_free(&b);
    int64_t v;
    assert_int_equal(live_parse_event_id("42", 2, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(live_parse_event_id("9223372036854775808", 19, &v), -1);
    assert_int_equal(live_parse_event_id("4 2", 3, &v), -1);
    assert_int_equal(live_parse_cursor("n0", 2, &v), -1);
    assert_int_equal(live_parse_cursor("n17", 3, &v), 0);
    assert_int_equal(v, 17);
    db_close(db);
}

/* A user's notifications come from the indexes on user_id, which leave
 * out the guests' marker rows (migration 0016): the queries must say so
 * for SQLite to use them. */
static void test_list_plans(void **state)
{
    (void)state;
    db_t *db = fresh();
    if (db_kind(db) != DB_SQLITE) {
        db_close(db);
        skip(); /* PostgreSQL plans with its statistics */
    }
    db_conn_t *c = db_acquire(db);
    const struct {
        const db_sql_t *q;
        const char *index;
    } cases[] = { { &notify_sql_list, "USING INDEX notifications_user" },
                  { &notify_sql_list_unread, "USING INDEX notifications_unread" } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char plan[512];
        testdb_plan_of(c, cases[i].q, plan, sizeof plan, "sLL", "usr_x", (int64_t)1000, (int64_t)20);
        if (!strstr(plan, cases[i].index)) fail_msg("%s: %s", cases[i].index, plan);
    }
    db_release(c);
    db_close(db);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consumer_is_idempotent_and_maps_once),
        cmocka_unit_test(test_money_and_mapping),
        cmocka_unit_test(test_sse_format_of_stored_events),
        cmocka_unit_test(test_list_plans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
