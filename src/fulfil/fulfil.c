/*
 * fulfil.c — shipments, carrier events, the order roll-up, the demo carrier
 * and the jobs that drive them (see fulfil.h for the flow).
 */
#include "fulfil/fulfil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "jobs/events.h"
#include "jobs/jobq.h"
#include "orders/order.h"
#include "util/log.h"
#include "util/timeutil.h"

/* ---------- validation of a carrier event body ---------- */

static void err(json_t *errors, const char *field, const char *msg)
{
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "message", msg));
}

/* Visible ASCII (no spaces), 1..max bytes. */
static bool token_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return false;
    return true;
}

/* Printable text without control characters (UTF-8 allowed), up to max bytes. */
static bool text_ok(const char *s, size_t len, size_t max)
{
    if (len > max) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

static void opt_text(json_t *body, const char *name, char *out, size_t max, json_t *errors)
{
    out[0] = '\0';
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v)) return;
    if (!json_is_string(v)) {
        err(errors, name, "must be a string");
        return;
    }
    size_t len = json_string_length(v);
    if (!text_ok(json_string_value(v), len, max)) {
        char m[96];
        snprintf(m, sizeof m, "must be at most %zu bytes without control characters", max);
        err(errors, name, m);
        return;
    }
    memcpy(out, json_string_value(v), len + 1);
}

int fulfil_parse_event(json_t *body, int64_t now_ms, carrier_event_t *out, json_t *errors)
{
    memset(out, 0, sizeof *out);
    size_t before = json_array_size(errors);
    if (!json_is_object(body)) {
        err(errors, "", "must be a JSON object");
        return -1;
    }
    const char *known[] = { "id", "status", "occurred_at", "location", "tracking_number", "note" };
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++) ok |= strcmp(key, known[i]) == 0;
        if (!ok) err(errors, key, "is not a field of a carrier event");
    }
    json_t *v = json_object_get(body, "id");
    if (!json_is_string(v) || !token_ok(json_string_value(v), CARRIER_EVENT_ID_MAX) ||
        strlen(json_string_value(v)) != json_string_length(v))
        err(errors, "id", "is required: the carrier's event id, 1 to 128 visible ASCII characters");
    else
        memcpy(out->external_id, json_string_value(v), json_string_length(v) + 1);

    v = json_object_get(body, "status");
    int st = json_is_string(v) ? ship_status_parse(json_string_value(v)) : -1;
    if (st < 0 || st == SHIP_PENDING)
        err(errors, "status",
            "is required: label_created, in_transit, out_for_delivery, delivered, failed or returned");
    else
        out->status = (ship_status_t)st;

    v = json_object_get(body, "occurred_at");
    int64_t t = 0;
    if (!json_is_string(v) || time_parse_rfc3339(json_string_value(v), json_string_length(v), &t) != 0)
        err(errors, "occurred_at", "is required: an RFC 3339 time");
    else if (t > now_ms + 10 * 60 * 1000)
        err(errors, "occurred_at", "is in the future");
    else if (t < 946684800000LL) /* 2000-01-01 */
        err(errors, "occurred_at", "is too far in the past");
    else
        out->occurred_at = t;

    opt_text(body, "location", out->location, CARRIER_LOCATION_MAX, errors);
    opt_text(body, "note", out->note, CARRIER_NOTE_MAX, errors);
    v = json_object_get(body, "tracking_number");
    if (v && !json_is_null(v)) {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        bool ok = s && strlen(s) == json_string_length(v) && strlen(s) >= 4 && strlen(s) <= CARRIER_TRACKING_MAX;
        for (const char *p = s; ok && *p; p++)
            ok = (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '-';
        if (!ok)
            err(errors, "tracking_number", "must be 4 to 64 letters, digits or '-'");
        else
            memcpy(out->tracking_number, s, strlen(s) + 1);
    }
    return json_array_size(errors) > before ? -1 : 0;
}

/* ---------- SQL ---------- */

DB_SQL2(q_ship_lock,
        "SELECT s.order_id, s.status, s.status_at, o.customer_id, o.status FROM shipments s"
        " JOIN orders o ON o.id = s.order_id WHERE s.id = $1",
        "SELECT s.order_id, s.status, s.status_at, o.customer_id, o.status FROM shipments s"
        " JOIN orders o ON o.id = s.order_id WHERE s.id = $1 FOR UPDATE OF s, o");
DB_SQL(q_sev_find, "SELECT id FROM shipment_events WHERE shipment_id = $1 AND source = $2 AND external_id = $3");
DB_SQL(q_sev_insert,
       "INSERT INTO shipment_events (id, shipment_id, source, external_id, status, occurred_at, location,"
       " tracking_number, note, applied, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
DB_SQL(q_ship_move, "UPDATE shipments SET status = $2, status_at = $3, tracking_number = COALESCE($4, tracking_number),"
                    " updated_at = $5 WHERE id = $1");
DB_SQL(q_ship_statuses, "SELECT status FROM shipments WHERE order_id = $1 ORDER BY id");
DB_SQL2(q_order_lock, "SELECT status, customer_id FROM orders WHERE id = $1",
        "SELECT status, customer_id FROM orders WHERE id = $1 FOR UPDATE");
DB_SQL(q_order_sellers, "SELECT DISTINCT seller_id FROM order_lines WHERE order_id = $1 ORDER BY seller_id");
DB_SQL(q_ship_insert,
       "INSERT INTO shipments (id, order_id, seller_id, carrier, status, status_at, created_at, updated_at)"
       " VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) ON CONFLICT (order_id, seller_id) DO NOTHING");
DB_SQL(q_ship_get, "SELECT id, order_id, seller_id, carrier, status, status_at, tracking_number, created_at, updated_at"
                   " FROM shipments WHERE id = $1");
DB_SQL(q_ship_lines, "SELECT l.variant_id, l.sku, l.title, l.quantity FROM shipments s JOIN order_lines l"
                     " ON l.order_id = s.order_id AND l.seller_id = s.seller_id WHERE s.id = $1 ORDER BY l.position");
DB_SQL(q_ship_events, "SELECT id, external_id, source, status, occurred_at, location, tracking_number, note, applied,"
                      " received_at FROM shipment_events WHERE shipment_id = $1 ORDER BY occurred_at, received_at, id");
DB_SQL(q_ship_carrier, "SELECT carrier, status_at FROM shipments WHERE id = $1");

/* ---------- the order roll-up ---------- */

/* Moves the order one allowed system step through the orders module (its
 * checks, side effects and order.status_changed event). */
static int order_step(db_conn_t *c, const char *order_id, order_status_t from, order_status_t to, const char *actor,
                      const char *reason)
{
    int rc = order_transition(c, order_id, to, BY_SYSTEM, actor ? actor : "system", reason, (int)from, NULL);
    if (rc > 0) {
        log_error("fulfil", "order %s: %s -> %s refused (%d)", order_id, order_status_name(from),
                  order_status_name(to), rc);
        return DB_ERR;
    }
    return rc;
}

/* Brings the order's status in line with its shipments. */
static int order_rollup(db_conn_t *c, const char *order_id, const char *actor)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_order_lock, &rc, "s", order_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return 0;
    }
    int cur = order_status_parse(db_col_text(st, 0));
    db_reset(st);

    ship_status_t ss[64];
    int n = 0;
    st = db_query(c, &q_ship_statuses, &rc, "s", order_id);
    if (!st) return rc;
    while (rc == DB_ROW && n < 64) {
        int s = ship_status_parse(db_col_text(st, 0));
        ss[n++] = s < 0 ? SHIP_PENDING : (ship_status_t)s;
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) return rc;
    if (cur < 0 || n == 0) return 0;
    order_status_t target = ship_rollup(ss, n);
    order_status_t path[8];
    int steps = ship_order_path((order_status_t)cur, target, path, 8);
    if (steps < 0) {
        if (cur != (int)target)
            log_info("fulfil", "order %s stays %s (shipments imply %s)", order_id, order_status_name(cur),
                     order_status_name(target));
        return 0;
    }
    order_status_t from = (order_status_t)cur;
    for (int i = 0; i < steps; i++) {
        rc = order_step(c, order_id, from, path[i], actor, "shipment update");
        if (rc < 0) return rc;
        from = path[i];
    }
    return 0;
}

/* ---------- carrier events ---------- */

int fulfil_apply_event(db_conn_t *c, const char *shipment_id, const char *source, const char *actor,
                       const carrier_event_t *ev, fulfil_result_t *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    db_stmt_t *st = db_query(c, &q_ship_lock, &rc, "s", shipment_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return 0;
    }
    out->found = true;
    char order_id[ID_MAX], customer[ID_MAX] = "";
    snprintf(order_id, sizeof order_id, "%s", db_col_text(st, 0));
    int cur = ship_status_parse(db_col_text(st, 1));
    int64_t status_at = db_col_int(st, 2);
    bool has_customer = !db_col_is_null(st, 3);
    if (has_customer) snprintf(customer, sizeof customer, "%s", db_col_text(st, 3));
    int ostatus = order_status_parse(db_col_text(st, 4));
    db_reset(st);

    st = db_query(c, &q_sev_find, &rc, "sss", shipment_id, source, ev->external_id);
    if (!st) return rc;
    if (rc == DB_ROW) {
        snprintf(out->event_id, sizeof out->event_id, "%s", db_col_text(st, 0));
        out->replay = true;
        db_reset(st);
        return 0;
    }
    db_reset(st);

    /* An order that was cancelled or refunded keeps its timeline but no
     * carrier event moves anything any more. */
    bool order_live = ostatus == ORDER_PAID || ostatus == ORDER_FULFILLING || ostatus == ORDER_SHIPPED ||
                      ostatus == ORDER_DELIVERED || ostatus == ORDER_DELIVERY_FAILED || ostatus == ORDER_RETURNED;
    out->applied = order_live && cur >= 0 && ship_transition_allowed((ship_status_t)cur, ev->status) &&
                   ev->occurred_at >= status_at;
    int64_t now = time_now_ms();
    id_new(out->event_id, "sev");
    const char *loc = ev->location[0] ? ev->location : NULL;
    const char *trk = ev->tracking_number[0] ? ev->tracking_number : NULL;
    const char *note = ev->note[0] ? ev->note : NULL;
    int64_t n = db_exec(c, &q_sev_insert, "sssssLsssiL", out->event_id, shipment_id, source, ev->external_id,
                        ship_status_name(ev->status), ev->occurred_at, loc, trk, note, out->applied ? 1 : 0, now);
    if (n < 0) return (int)n;
    if (!out->applied) return 0;

    n = db_exec(c, &q_ship_move, "ssLsL", shipment_id, ship_status_name(ev->status), ev->occurred_at, trk, now);
    if (n < 0) return (int)n;
    char at[32];
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?}", "shipment_id", shipment_id, "order_id",
                          order_id, "from", ship_status_name((ship_status_t)cur), "to", ship_status_name(ev->status),
                          "status", ship_status_name(ev->status),
                          "occurred_at", time_fmt_rfc3339(at, ev->occurred_at), "tracking_number", trk, "location",
                          loc);
    int64_t eid = event_append_owned(c, "shipment.status_changed", order_id, actor, has_customer ? customer : NULL, p);
    json_decref(p);
    if (eid < 0) return (int)eid;
    return order_rollup(c, order_id, actor);
}

/* ---------- shipments of a paid order ---------- */

static int enqueue_demo_step(db_conn_t *c, const char *shipment_id, int step, int64_t delay_ms)
{
    char key[ID_MAX + 16];
    snprintf(key, sizeof key, "demo:%s:%d", shipment_id, step);
    json_t *p = json_pack("{s:s, s:i}", "shipment_id", shipment_id, "step", step);
    jobq_opts_t o = { .delay_ms = delay_ms, .unique_key = key, .max_attempts = 10 };
    int64_t id = jobq_enqueue(c, "carrier.demo", p, &o);
    json_decref(p);
    return id < 0 ? (int)id : 0;
}

int fulfil_create_shipments(db_conn_t *c, const char *order_id, const char *carrier, int64_t demo_step_ms)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_order_lock, &rc, "s", order_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return 0;
    }
    int ostatus = order_status_parse(db_col_text(st, 0));
    char customer[ID_MAX] = "";
    bool has_customer = !db_col_is_null(st, 1);
    if (has_customer) snprintf(customer, sizeof customer, "%s", db_col_text(st, 1));
    db_reset(st);
    if (ostatus != ORDER_PAID) return 0; /* cancelled meanwhile, or already fulfilling */

    char sellers[32][ID_MAX];
    int ns = 0;
    st = db_query(c, &q_order_sellers, &rc, "s", order_id);
    if (!st) return rc;
    while (rc == DB_ROW && ns < 32) {
        snprintf(sellers[ns++], ID_MAX, "%s", db_col_text(st, 0));
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) return rc;

    int64_t now = time_now_ms();
    int created = 0;
    for (int i = 0; i < ns; i++) {
        char id[ID_MAX];
        id_new(id, "shp");
        int64_t n = db_exec(c, &q_ship_insert, "ssssL", id, order_id, sellers[i], carrier, now);
        if (n < 0) return (int)n;
        if (n == 0) continue;
        created++;
        json_t *p = json_pack("{s:s, s:s, s:s, s:s}", "shipment_id", id, "order_id", order_id, "seller_id",
                              sellers[i], "carrier", carrier);
        int64_t eid = event_append_owned(c, "shipment.created", order_id, "system", has_customer ? customer : NULL, p);
        json_decref(p);
        if (eid < 0) return (int)eid;
        if (strcmp(carrier, "demo") == 0 && (rc = enqueue_demo_step(c, id, 1, demo_step_ms)) < 0) return rc;
    }
    rc = order_step(c, order_id, ORDER_PAID, ORDER_FULFILLING, "system", "shipments created");
    return rc < 0 ? rc : created;
}

/* ---------- rendering ---------- */

json_t *fulfil_render_shipment(db_conn_t *c, const char *shipment_id, bool with_events)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_ship_get, &rc, "s", shipment_id);
    if (!st) return NULL;
    if (rc != DB_ROW) {
        db_reset(st);
        return NULL;
    }
    char a[32], b[32], t[32];
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "id", db_col_text(st, 0), "order_id",
                          db_col_text(st, 1), "seller_id", db_col_text(st, 2), "carrier", db_col_text(st, 3),
                          "status", db_col_text(st, 4), "status_at", time_fmt_rfc3339(t, db_col_int(st, 5)),
                          "tracking_number",
                          db_col_is_null(st, 6) ? json_null() : json_string(db_col_text(st, 6)), "created_at",
                          time_fmt_rfc3339(a, db_col_int(st, 7)), "updated_at", time_fmt_rfc3339(b, db_col_int(st, 8)));
    db_reset(st);
    json_t *lines = json_array();
    st = db_query(c, &q_ship_lines, &rc, "s", shipment_id);
    while (st && rc == DB_ROW) {
        json_array_append_new(lines, json_pack("{s:s, s:s, s:s, s:I}", "variant_id", db_col_text(st, 0), "sku",
                                               db_col_text(st, 1), "title", db_col_text(st, 2), "quantity",
                                               (json_int_t)db_col_int(st, 3)));
        rc = db_step(st);
    }
    if (st) db_reset(st);
    json_object_set_new(o, "lines", lines);
    if (!with_events) return o;
    json_t *events = json_array();
    st = db_query(c, &q_ship_events, &rc, "s", shipment_id);
    while (st && rc == DB_ROW) {
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "id", db_col_text(st, 0), "external_id",
                              db_col_text(st, 1), "source", db_col_text(st, 2), "status", db_col_text(st, 3),
                              "occurred_at", time_fmt_rfc3339(a, db_col_int(st, 4)), "applied",
                              (int)db_col_int(st, 8), "received_at", time_fmt_rfc3339(b, db_col_int(st, 9)));
        json_object_set_new(e, "location", db_col_is_null(st, 5) ? json_null() : json_string(db_col_text(st, 5)));
        json_object_set_new(e, "tracking_number",
                            db_col_is_null(st, 6) ? json_null() : json_string(db_col_text(st, 6)));
        json_object_set_new(e, "note", db_col_is_null(st, 7) ? json_null() : json_string(db_col_text(st, 7)));
        json_array_append_new(events, e);
        rc = db_step(st);
    }
    if (st) db_reset(st);
    json_object_set_new(o, "events", events);
    return o;
}

/* ---------- jobs and the event consumer ---------- */

/* fulfilment.ship jobs enqueued by an older version (the consumer now
 * creates shipments itself) */
static int job_ship(db_conn_t *c, job_run_t *run, const job_t *job, void *ctx)
{
    app_t *app = ctx;
    const char *order_id = json_string_value(json_object_get(job->payload, "order_id"));
    if (!order_id) {
        jobs_fail(run, "payload without order_id");
        return JOB_DEAD;
    }
    int created = fulfil_create_shipments(c, order_id, app->cfg->fulfilment_carrier, app->cfg->demo_carrier_step * 1000LL);
    if (created < 0) {
        jobs_fail(run, "database error %d", created);
        return JOB_RETRY;
    }
    if (created > 0) log_info("fulfil", "order %s: %d shipment(s) created", order_id, created);
    return JOB_OK;
}

/* The demo carrier: label_created, in_transit, out_for_delivery, delivered,
 * one step per --demo-carrier-step seconds, through the same path as a real
 * carrier's events. */
static const ship_status_t demo_steps[] = { SHIP_LABEL_CREATED, SHIP_IN_TRANSIT, SHIP_OUT_FOR_DELIVERY,
                                            SHIP_DELIVERED };
static const char *const demo_places[] = { "Seller's warehouse", "Sorting centre", "Local depot", "Front door" };

static int job_demo(db_conn_t *c, job_run_t *run, const job_t *job, void *ctx)
{
    app_t *app = ctx;
    const char *shipment_id = json_string_value(json_object_get(job->payload, "shipment_id"));
    int step = (int)json_integer_value(json_object_get(job->payload, "step"));
    if (!shipment_id) {
        jobs_fail(run, "payload without shipment_id");
        return JOB_DEAD;
    }
    int rc;
    db_stmt_t *st = db_query(c, &q_ship_carrier, &rc, "s", shipment_id);
    if (!st) {
        jobs_fail(run, "database error %d", rc);
        return JOB_RETRY;
    }
    bool demo = rc == DB_ROW && strcmp(db_col_text(st, 0), "demo") == 0;
    int64_t status_at = rc == DB_ROW ? db_col_int(st, 1) : 0;
    db_reset(st);
    if (!demo || step < 1 || step > 4) return JOB_OK;
    /* strictly after the previous step, even within one millisecond */
    int64_t now = time_now_ms();
    carrier_event_t ev = { .status = demo_steps[step - 1], .occurred_at = now > status_at ? now : status_at + 1 };
    snprintf(ev.external_id, sizeof ev.external_id, "demo-%s-%d", shipment_id, step);
    snprintf(ev.location, sizeof ev.location, "%s", demo_places[step - 1]);
    /* a stable tracking number from the shipment id */
    const char *body = strchr(shipment_id, '_');
    snprintf(ev.tracking_number, sizeof ev.tracking_number, "DEMO-%.10s", body ? body + 1 : shipment_id);
    for (char *p = ev.tracking_number; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    fulfil_result_t res;
    if ((rc = fulfil_apply_event(c, shipment_id, "demo", "carrier:demo", &ev, &res)) < 0) {
        jobs_fail(run, "database error %d", rc);
        return JOB_RETRY;
    }
    if (!res.applied || step >= 4) return JOB_OK;
    /* the next step is this job again, not a new one: completing a row and
     * inserting the next was ~10 index changes per step, ~23% of the SQLite
     * writer's time in a long bench/checkout.sh run (bench/README.md) */
    json_t *next = json_pack("{s:s, s:i}", "shipment_id", shipment_id, "step", step + 1);
    rc = jobs_again(run, app->cfg->demo_carrier_step * 1000LL, next);
    json_decref(next);
    return rc;
}

/* order.status_changed to "paid" -> the order's shipments, in the
 * consumer's batch transaction (so exactly once with its cursor; creating
 * them twice would do nothing anyway).  Until stop 13 this enqueued a
 * fulfilment.ship job per order: a job row inserted, claimed and completed
 * for work that is only writes to the same database.  A database error
 * stops the batch before this event; the next round offers it again. */
static int consume(db_conn_t *c, const event_t *ev, void *ctx)
{
    app_t *app = ctx;
    if (strcmp(ev->type, "order.status_changed") != 0) return 0;
    json_t *p = json_loads(ev->payload, 0, NULL);
    const char *to = json_string_value(json_object_get(p, "to"));
    int rc = 0;
    if (to && strcmp(to, "paid") == 0) {
        int created = fulfil_create_shipments(c, ev->subject, app->cfg->fulfilment_carrier,
                                              app->cfg->demo_carrier_step * 1000LL);
        if (created < 0) {
            log_warn("fulfil", "order %s: shipments not created yet (database error %d)", ev->subject, created);
            rc = -1;
        } else if (created > 0) {
            log_debug("fulfil", "order %s: %d shipment(s) created", ev->subject, created);
        }
    }
    json_decref(p);
    return rc;
}

void fulfil_jobs(jobs_t *rt, struct app *app)
{
    jobs_register_tx(rt, "fulfilment.ship", job_ship, app);
    jobs_register_tx(rt, "carrier.demo", job_demo, app);
    if (app->cfg->fulfilment_auto) jobs_consume_events(rt, "fulfilment", consume, app);
}
