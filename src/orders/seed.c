/*
 * seed.c — demo stock for the demo catalog (see orders.h).
 */
#include "orders/orders.h"

#include "jobs/events.h"
#include "util/log.h"
#include "util/timeutil.h"

DB_SQL(q_seed, "INSERT INTO inventory (variant_id, on_hand, reserved, updated_at)"
               " SELECT id, $1, 0, $2 FROM variants WHERE true ON CONFLICT (variant_id) DO NOTHING");

static int seed_tx(db_conn_t *c, void *ctx)
{
    long *n = ctx;
    int64_t rows = db_exec(c, &q_seed, "LL", (int64_t)ORDERS_DEMO_STOCK, time_now_ms());
    if (rows < 0) return (int)rows;
    *n = (long)rows;
    if (rows == 0) return 0;
    json_t *p = json_pack("{s:I, s:I}", "variants", (json_int_t)rows, "on_hand", (json_int_t)ORDERS_DEMO_STOCK);
    int64_t ev = event_append(c, "stock.seeded", "inventory", "system", p);
    json_decref(p);
    return ev < 0 ? (int)ev : 0;
}

long orders_seed_demo(db_t *db)
{
    long n = 0;
    int rc = db_tx(db, seed_tx, &n);
    if (rc != 0) {
        log_error("orders", "could not seed demo stock (%d)", rc);
        return rc < 0 ? rc : -1;
    }
    return n;
}
