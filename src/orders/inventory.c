/*
 * inventory.c — stock reservations and adjustments (see inventory.h).
 */
#include "orders/inventory.h"

#include <jansson.h>

#include "jobs/events.h"
#include "util/id.h"
#include "util/timeutil.h"

DB_SQL(q_reserve, "UPDATE inventory SET reserved = reserved + $2, updated_at = $3"
                  " WHERE variant_id = $1 AND on_hand - reserved >= $2");
DB_SQL(q_release, "UPDATE inventory SET reserved = reserved - $2, updated_at = $3"
                  " WHERE variant_id = $1 AND reserved >= $2");
DB_SQL(q_commit, "UPDATE inventory SET reserved = reserved - $2, on_hand = on_hand - $2, updated_at = $3"
                 " WHERE variant_id = $1 AND reserved >= $2");
DB_SQL(q_restock, "UPDATE inventory SET on_hand = on_hand + $2, updated_at = $3 WHERE variant_id = $1");
DB_SQL(q_get, "SELECT on_hand, reserved FROM inventory WHERE variant_id = $1");
DB_SQL(q_upsert, "INSERT INTO inventory (variant_id, on_hand, reserved, updated_at) VALUES ($1, 0, 0, $2)"
                 " ON CONFLICT (variant_id) DO NOTHING");
DB_SQL(q_adjust, "UPDATE inventory SET on_hand = on_hand + $2, updated_at = $3"
                 " WHERE variant_id = $1 AND on_hand + $2 >= reserved AND on_hand + $2 >= 0");
DB_SQL(q_record, "INSERT INTO stock_adjustments (id, variant_id, delta, reason, actor, on_hand, created_at)"
                 " VALUES ($1, $2, $3, $4, $5, $6, $7)");

static int changed(int64_t n) { return n < 0 ? (int)n : n == 1 ? 1 : 0; }

int inventory_reserve(db_conn_t *c, const char *variant_id, int64_t qty)
{
    return changed(db_exec(c, &q_reserve, "sLL", variant_id, qty, time_now_ms()));
}

int inventory_release(db_conn_t *c, const char *variant_id, int64_t qty)
{
    return changed(db_exec(c, &q_release, "sLL", variant_id, qty, time_now_ms()));
}

int inventory_commit(db_conn_t *c, const char *variant_id, int64_t qty)
{
    return changed(db_exec(c, &q_commit, "sLL", variant_id, qty, time_now_ms()));
}

int inventory_restock(db_conn_t *c, const char *variant_id, int64_t qty)
{
    return changed(db_exec(c, &q_restock, "sLL", variant_id, qty, time_now_ms()));
}

int inventory_get(db_conn_t *c, const char *variant_id, int64_t *on_hand, int64_t *reserved)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_get, &rc, "s", variant_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        *on_hand = *reserved = 0;
        return 1;
    }
    *on_hand = db_col_int(st, 0);
    *reserved = db_col_int(st, 1);
    db_reset(st);
    return 0;
}

int64_t inventory_available(db_conn_t *c, const char *variant_id)
{
    int64_t oh, rs;
    int rc = inventory_get(c, variant_id, &oh, &rs);
    if (rc < 0) return rc;
    return oh - rs;
}

int inventory_adjust(db_conn_t *c, const char *variant_id, int64_t delta, const char *reason, const char *actor,
                     int64_t *on_hand_after)
{
    int64_t now = time_now_ms();
    if (db_exec(c, &q_upsert, "sL", variant_id, now) < 0) return DB_ERR;
    int64_t n = db_exec(c, &q_adjust, "sLL", variant_id, delta, now);
    if (n < 0) return (int)n;
    if (n == 0) return 1;
    int64_t oh, rs;
    if (inventory_get(c, variant_id, &oh, &rs) != 0) return DB_ERR;
    char id[ID_MAX];
    id_new(id, "adj");
    if (db_exec(c, &q_record, "ssLssLL", id, variant_id, delta, reason, actor, oh, now) < 0) return DB_ERR;
    json_t *p = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I}", "adjustment_id", id, "variant_id", variant_id, "delta",
                          (json_int_t)delta, "reason", reason, "on_hand", (json_int_t)oh, "reserved", (json_int_t)rs);
    int64_t ev = event_append(c, "stock.adjusted", variant_id, actor, p);
    json_decref(p);
    if (ev < 0) return (int)ev;
    if (on_hand_after) *on_hand_after = oh;
    return 0;
}
