/*
 * test_webhooks_db.c — the webhook event consumer on the configured backend:
 * one delivery and one job per (endpoint, event) however often and from
 * however many threads the event is offered; only enabled endpoints whose
 * filter matches and that existed before the event get one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "db/db.h"
#include "db/migrate.h"
#include "jobs/events.h"
#include "util/timeutil.h"
#include "webhooks/webhooks.h"
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

DB_SQL(q_ep, "INSERT INTO webhook_endpoints (id, url, description, event_types, secret, enabled, failed_deliveries,"
             " start_after_event, created_at, updated_at) VALUES ($1, 'https://h.example/', '', $2,"
             " 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', $3, 0, $4, 0, 0)");
DB_SQL(q_count_deliveries, "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1");
DB_SQL(q_count_jobs, "SELECT COUNT(*) FROM jobs WHERE queue = 'webhooks.deliver'");
DB_SQL(q_body, "SELECT body, msg_id, event_type FROM webhook_deliveries WHERE endpoint_id = $1");

static int64_t count(db_t *db, const db_sql_t *q, const char *arg)
{
    db_conn_t *c = db_acquire(db);
    int rc;
    db_stmt_t *st = arg ? db_query(c, q, &rc, "s", arg) : db_query(c, q, &rc, "");
    assert_non_null(st);
    int64_t n = db_col_int(st, 0);
    db_reset(st);
    db_release(c);
    return n;
}

static void add_endpoint(db_t *db, const char *id, const char *types, int enabled, int64_t after)
{
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec(c, &q_ep, "ssiL", id, types, enabled, after), 1);
    db_release(c);
}

typedef struct {
    db_t *db;
    event_t ev;
} offer_t;

static int offer_tx(db_conn_t *c, void *p) { return webhook_on_event(c, &((offer_t *)p)->ev, NULL); }

/* offers the event again and again, each time in its own transaction, as
 * consumers of two instances (or one after a crash) might */
static void *offer_thread(void *p)
{
    offer_t *o = p;
    for (int i = 0; i < 5; i++)
        if (db_tx(o->db, offer_tx, o) != 0) return (void *)1;
    return NULL;
}

static void test_exactly_once_per_endpoint_and_event(void **state)
{
    (void)state;
    db_t *db = fresh();
    add_endpoint(db, "whe_all", "[\"*\"]", 1, 0);
    add_endpoint(db, "whe_orders", "[\"order.*\"]", 1, 0);
    add_endpoint(db, "whe_products", "[\"product.published\"]", 1, 0);
    add_endpoint(db, "whe_disabled", "[\"*\"]", 0, 0);
    db_conn_t *c = db_acquire(db);
    json_t *p = json_pack("{s:s, s:I}", "status", "paid", "total", (json_int_t)1999);
    int64_t id = event_append(c, "order.paid", "ord_1", "system", p);
    json_decref(p);
    assert_true(id > 0);
    db_release(c);
    /* an endpoint created after the event does not get it */
    add_endpoint(db, "whe_late", "[\"*\"]", 1, id);

    offer_t o = { db, { .id = id, .type = "order.paid", .subject = "ord_1", .actor = "system",
                        .payload = "{\"status\":\"paid\",\"total\":1999}", .created_at = 1700000000000 } };
    pthread_t t[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, offer_thread, &o), 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    assert_int_equal(count(db, &q_count_deliveries, "whe_all"), 1);
    assert_int_equal(count(db, &q_count_deliveries, "whe_orders"), 1);
    assert_int_equal(count(db, &q_count_deliveries, "whe_products"), 0);
    assert_int_equal(count(db, &q_count_deliveries, "whe_disabled"), 0);
    assert_int_equal(count(db, &q_count_deliveries, "whe_late"), 0);
    assert_int_equal(count(db, &q_count_jobs, NULL), 2);

    /* the stored body is the Standard Webhooks payload */
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_body, &rc, "s", "whe_orders");
    assert_int_equal(rc, DB_ROW);
    json_t *b = json_loads(db_col_text(st, 0), 0, NULL);
    char want_id[32];
    snprintf(want_id, sizeof want_id, "evt_%lld", (long long)id);
    assert_string_equal(db_col_text(st, 1), want_id);
    assert_string_equal(db_col_text(st, 2), "order.paid");
    db_reset(st);
    db_release(c);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "type")), "order.paid");
    assert_string_equal(json_string_value(json_object_get(b, "timestamp")), "2023-11-14T22:13:20.000Z");
    json_t *data = json_object_get(b, "data");
    assert_string_equal(json_string_value(json_object_get(data, "id")), "ord_1");
    assert_int_equal(json_integer_value(json_object_get(data, "total")), 1999);
    json_decref(b);
    db_close(db);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_once_per_endpoint_and_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
