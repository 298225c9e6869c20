/*
 * notify.c — in-app notifications and order emails (see notify.h).
 *
 * DESIGN
 * NOTICE_LIST is the one place that says which event becomes which
 * notification and email.  A row matches an event by type and, for status
 * events, by one data field's value (order.status_changed "to",
 * shipment.status_changed "status").  The consumer inserts the
 * notification keyed by the event id (ON CONFLICT DO NOTHING: a replayed
 * event is a no-op) and, only when that insert happened, enqueues the
 * email in the same transaction, so a crash can neither lose nor double a
 * mail.  The recipient is the event's "email" field, else the address the
 * order was placed with, else the owner's account email.  Guest orders (no
 * owner) get the emails only, their row (user_id "") being the marker.
 *
 * Lists are newest first; the cursor is the last item's event id (opaque
 * to clients).
 */
#include "live/notify.h"

#include <stdlib.h>
#include <string.h>

#include "auth/access.h"
#include "http/http.h"
#include "live/live.h"
#include "mail/mail.h"
#include "util/id.h"
#include "util/log.h"
#include "util/timeutil.h"

/* X(event type, data field, value, kind, title, mail template or NULL) */
#define NOTICE_LIST(X)                                                                                          \
    X("order.created", NULL, NULL, "order_confirmed", "Order confirmed", "order_confirmation")                  \
    X("payment.succeeded", NULL, NULL, "payment_succeeded", "Payment received", NULL)                           \
    X("payment.failed", NULL, NULL, "payment_failed", "Payment failed", "payment_failed")                       \
    X("order.status_changed", "to", "shipped", "order_shipped", "Your order has shipped", "order_shipped")      \
    X("order.status_changed", "to", "delivered", "order_delivered", "Your order was delivered", "order_delivered") \
    X("order.status_changed", "to", "cancelled", "order_cancelled", "Your order was cancelled", NULL)          \
    X("shipment.status_changed", "status", "in_transit", "shipment_in_transit", "Your parcel is on its way", NULL) \
    X("shipment.status_changed", "status", "out_for_delivery", "shipment_out_for_delivery",                    \
      "Your parcel is out for delivery", NULL)                                                                  \
    X("shipment.status_changed", "status", "failed", "shipment_failed", "A delivery attempt failed", NULL)     \
    X("shipment.status_changed", "status", "returned", "shipment_returned", "Your parcel is being returned", NULL)

typedef struct notice {
    const char *type, *field, *value, *kind, *title, *mail;
} notice_t;

static const notice_t notices[] = {
#define X(t, f, v, k, ti, m) { t, f, v, k, ti, m },
    NOTICE_LIST(X)
#undef X
};

static const notice_t *notice_for(const char *type, json_t *data)
{
    for (size_t i = 0; i < sizeof notices / sizeof notices[0]; i++) {
        const notice_t *n = &notices[i];
        if (strcmp(n->type, type) != 0) continue;
        if (!n->field) return n;
        const char *v = json_string_value(json_object_get(data, n->field));
        if (v && !strcmp(v, n->value)) return n;
    }
    return NULL;
}

const char *notify_kind_for(const char *type, json_t *data)
{
    const notice_t *n = notice_for(type, data);
    return n ? n->kind : NULL;
}

void notify_money(char *out, size_t outlen, long long minor, const char *currency)
{
    static const char *zero_dec[] = { "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF" };
    const char *cur = currency && *currency ? currency : "";
    for (size_t i = 0; i < sizeof zero_dec / sizeof zero_dec[0]; i++)
        if (!strcmp(cur, zero_dec[i])) {
            snprintf(out, outlen, "%lld %s", minor, cur);
            return;
        }
    long long a = minor < 0 ? -minor : minor;
    snprintf(out, outlen, "%s%lld.%02lld%s%s", minor < 0 ? "-" : "", a / 100, a % 100, *cur ? " " : "", cur);
}

/* ---------- the consumer ---------- */

DB_SQL(q_insert, "INSERT INTO notifications (id, user_id, event_id, kind, subject, title, body, data, created_at) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING");
DB_SQL(q_user_email, "SELECT email FROM users WHERE id = $1");
DB_SQL(q_order_email, "SELECT email FROM orders WHERE id = $1");
DB_SQL(q_tracking, "SELECT tracking_number, carrier FROM shipments WHERE order_id = $1 AND tracking_number IS NOT NULL"
                   " ORDER BY id");

static const char *str_field(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* "total": {"amount","currency"} or an integer with "currency" beside it */
static void total_of(json_t *d, char *out, size_t outlen)
{
    json_t *t = json_object_get(d, "total");
    out[0] = '\0';
    if (json_is_object(t) && json_is_integer(json_object_get(t, "amount")))
        notify_money(out, outlen, json_integer_value(json_object_get(t, "amount")), str_field(t, "currency"));
    else if (json_is_integer(t))
        notify_money(out, outlen, json_integer_value(t), str_field(d, "currency"));
}

typedef struct apply_ctx {
    const event_t *ev;
    const notice_t *n;
    json_t *data;
    const char *public_url, *shop;
} apply_ctx_t;

static int apply_notice(db_conn_t *c, const apply_ctx_t *a)
{
    const event_t *ev = a->ev;
    json_t *d = a->data;
    const char *order_id = str_field(d, "order_id");
    if (!*order_id) order_id = ev->subject;
    const char *tracking = str_field(d, "tracking_number");
    const char *carrier = str_field(d, "carrier");
    char tracking_buf[256] = "", carrier_buf[64] = "";
    if (!*tracking && !strcmp(a->n->kind, "order_shipped")) {
        /* the order's status event does not carry them: the shipments do
         * (one tracking number per seller's parcel) */
        int rc;
        db_stmt_t *st = db_query(c, &q_tracking, &rc, "s", order_id);
        if (!st) return rc;
        while (rc == DB_ROW) {
            size_t n = strlen(tracking_buf);
            snprintf(tracking_buf + n, sizeof tracking_buf - n, "%s%s", n ? ", " : "", db_col_text(st, 0));
            if (!carrier_buf[0]) snprintf(carrier_buf, sizeof carrier_buf, "%s", db_col_text(st, 1));
            rc = db_step(st);
        }
        db_reset(st);
        if (rc < 0) return rc;
        tracking = tracking_buf;
        if (!*carrier) carrier = carrier_buf;
    }
    char total[64], body[512];
    total_of(d, total, sizeof total);
    if (!strcmp(a->n->kind, "order_confirmed"))
        snprintf(body, sizeof body, "We received your order %s%s%s.", order_id, *total ? " of " : "", total);
    else if (*tracking)
        snprintf(body, sizeof body, "%s: order %s (tracking number %s).", a->n->title, order_id, tracking);
    else
        snprintf(body, sizeof body, "%s: order %s.", a->n->title, order_id);

    json_t *nd = json_object();
    json_object_set_new(nd, "order_id", json_string(order_id));
    json_object_set_new(nd, "event_type", json_string(ev->type));
    static const char *copy[] = { "status", "to", "tracking_number", "carrier", "reason", "total", "shipment_id" };
    for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
        json_t *v = json_object_get(d, copy[i]);
        if (v && !json_is_null(v)) json_object_set(nd, copy[i], v);
    }
    char *ndt = json_dumps(nd, JSON_COMPACT);
    json_decref(nd);
    char nid[ID_MAX];
    id_new(nid, "ntf");
    /* a guest's order has no account: the row (user_id "") is then only the
     * once-per-event marker for its email, and no one can list it */
    bool member = ev->owner && !strncmp(ev->owner, "usr_", 4);
    int64_t ch = db_exec(c, &q_insert, "ssLsssssL", nid, member ? ev->owner : "", ev->id, a->n->kind, order_id,
                         a->n->title, body, ndt ? ndt : "{}", ev->created_at);
    free(ndt);
    if (ch < 0) return (int)ch;
    if (ch == 0 || !a->n->mail) return 0; /* replayed event, or no mail for this kind */

    char email[320] = "";
    snprintf(email, sizeof email, "%s", str_field(d, "email"));
    if (!email[0]) {
        /* the address the order was placed with, else the account's */
        int rc;
        db_stmt_t *st = db_query(c, &q_order_email, &rc, "s", order_id);
        if (!st) return rc;
        if (rc == DB_ROW && db_col_text(st, 0)) snprintf(email, sizeof email, "%s", db_col_text(st, 0));
        db_reset(st);
    }
    if (!email[0] && member) {
        int rc;
        db_stmt_t *st = db_query(c, &q_user_email, &rc, "s", ev->owner);
        if (!st) return rc;
        if (rc == DB_ROW && db_col_text(st, 0)) snprintf(email, sizeof email, "%s", db_col_text(st, 0));
        db_reset(st);
    }
    if (!email[0]) {
        log_warn("notify", "no email address for %s (%s); notification only", member ? ev->owner : order_id, ev->type);
        return 0;
    }
    char url[512];
    snprintf(url, sizeof url, "%s/orders/%s", a->public_url ? a->public_url : "", order_id);
    json_t *vars = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "shop", a->shop ? a->shop : "mercato",
                             "order_id", order_id, "order_url", url, "total", total, "tracking_number", tracking,
                             "carrier", carrier, "tracking_url", str_field(d, "tracking_url"), "reason",
                             str_field(d, "reason"));
    int64_t job = mail_enqueue(c, email, a->n->mail, vars);
    json_decref(vars);
    return job < 0 ? (int)job : 0;
}

static bool notice_type(const char *type)
{
    for (size_t i = 0; i < sizeof notices / sizeof notices[0]; i++)
        if (!strcmp(notices[i].type, type)) return true;
    return false;
}

int notify_apply(db_conn_t *c, const event_t *ev, const char *public_url, const char *shop)
{
    /* most events make no notice: their payloads are not parsed (this runs
     * in the consumer's write transaction) */
    if (!ev->type || !notice_type(ev->type)) return 0;
    bool member = ev->owner && !strncmp(ev->owner, "usr_", 4);
    json_t *data = json_loads(ev->payload ? ev->payload : "{}", 0, NULL);
    if (!json_is_object(data)) {
        json_decref(data);
        return 0;
    }
    const notice_t *n = notice_for(ev->type, data);
    /* guests (no account) get the emails, not in-app notifications */
    if (n && !member) {
        const char *oid = str_field(data, "order_id");
        if (!*oid && ev->subject) oid = ev->subject;
        if (!n->mail || strncmp(oid, "ord_", 4) != 0) n = NULL;
    }
    int rc = 0;
    if (n) {
        apply_ctx_t a = { ev, n, data, public_url, shop };
        rc = apply_notice(c, &a);
        if (rc < 0) log_warn("notify", "event %lld (%s): %d; will retry", (long long)ev->id, ev->type, rc);
    }
    json_decref(data);
    return rc;
}

/* ---------- HTTP ---------- */

/* "user_id <> ''" in every query by user: the indexes on user_id leave
 * out the guests' marker rows (migration 0016), and a partial index serves
 * a query only when its WHERE says so too (a session's user id is never
 * empty) */
#define NTF_COLS "id, event_id, kind, subject, title, body, data, read_at, created_at"
const db_sql_t notify_sql_list = {
    "SELECT " NTF_COLS " FROM notifications"
    " WHERE user_id = $1 AND user_id <> '' AND event_id < $2 ORDER BY event_id DESC LIMIT $3",
    "SELECT " NTF_COLS " FROM notifications"
    " WHERE user_id = $1 AND user_id <> '' AND event_id < $2 ORDER BY event_id DESC LIMIT $3"
};
const db_sql_t notify_sql_list_unread = {
    "SELECT " NTF_COLS " FROM notifications"
    " WHERE user_id = $1 AND user_id <> '' AND event_id < $2 AND read_at IS NULL ORDER BY event_id DESC LIMIT $3",
    "SELECT " NTF_COLS " FROM notifications"
    " WHERE user_id = $1 AND user_id <> '' AND event_id < $2 AND read_at IS NULL ORDER BY event_id DESC LIMIT $3"
};
#define q_list notify_sql_list
#define q_list_unread notify_sql_list_unread
DB_SQL(q_get, "SELECT id, event_id, kind, subject, title, body, data, read_at, created_at FROM notifications "
              "WHERE id = $1 AND user_id = $2");
DB_SQL(q_mark, "UPDATE notifications SET read_at = $3 WHERE id = $1 AND user_id = $2 AND read_at IS NULL");
DB_SQL(q_mark_all, "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND user_id <> '' AND read_at IS NULL");
DB_SQL(q_unread, "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND user_id <> '' AND read_at IS NULL");

static json_t *row_json(db_stmt_t *st)
{
    char ts[32];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(db_col_text(st, 0)));
    json_object_set_new(o, "kind", json_string(db_col_text(st, 2)));
    json_object_set_new(o, "order_id", json_string(db_col_text(st, 3)));
    json_object_set_new(o, "title", json_string(db_col_text(st, 4)));
    json_object_set_new(o, "body", json_string(db_col_text(st, 5)));
    json_t *d = json_loads(db_col_text(st, 6) ? db_col_text(st, 6) : "{}", 0, NULL);
    json_object_set_new(o, "data", d ? d : json_object());
    json_object_set_new(o, "event_id", json_integer(db_col_int(st, 1)));
    int read = !db_col_is_null(st, 7);
    json_object_set_new(o, "read", json_boolean(read));
    json_object_set_new(o, "read_at", read ? json_string(time_fmt_rfc3339(ts, db_col_int(st, 7))) : json_null());
    json_object_set_new(o, "created_at", json_string(time_fmt_rfc3339(ts, db_col_int(st, 8))));
    return o;
}

static db_conn_t *conn_or_503(http_req_t *req)
{
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) {
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The database is busy; retry shortly.");
    }
    return c;
}

static void db_failed(http_req_t *req, db_conn_t *c)
{
    db_release(c);
    http_set_header(req, "Retry-After", "1");
    http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The notifications could not be read.");
}

static void list_notifications(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    const char *lv = http_query(req, "limit"), *cv = http_query(req, "cursor"), *uv = http_query(req, "unread");
    long limit = 20;
    char *end;
    if (lv && *lv) {
        limit = strtol(lv, &end, 10);
        if (*end || limit < 1 || limit > 100) {
            http_respond_problem(req, 400, "invalid-limit", "Bad Request", "limit must be an integer from 1 to 100.");
            return;
        }
    }
    int64_t before = INT64_MAX;
    if (cv && *cv && live_parse_cursor(cv, strlen(cv), &before) < 0) {
        http_respond_problem(req, 400, "invalid-cursor", "Bad Request", "The cursor is malformed; start again without it.");
        return;
    }
    int unread = 0;
    if (uv && *uv) {
        if (!strcmp(uv, "true") || !strcmp(uv, "1")) unread = 1;
        else if (strcmp(uv, "false") && strcmp(uv, "0")) {
            http_respond_problem(req, 400, "invalid-parameter", "Bad Request", "unread must be true or false.");
            return;
        }
    }
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int rc;
    db_stmt_t *st = db_query(c, unread ? &q_list_unread : &q_list, &rc, "sLi", p->sub, (int64_t)before, (int)limit + 1);
    if (!st) { db_failed(req, c); return; }
    json_t *items = json_array();
    int64_t last = 0;
    int more = 0;
    while (rc == DB_ROW) {
        if ((long)json_array_size(items) == limit) {
            more = 1;
            break;
        }
        json_array_append_new(items, row_json(st));
        last = db_col_int(st, 1);
        rc = db_step(st);
    }
    db_reset(st);
    db_release(c);
    if (rc < 0) {
        json_decref(items);
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The notifications could not be read.");
        return;
    }
    char cur[32];
    snprintf(cur, sizeof cur, "n%lld", (long long)last);
    http_respond_json(req, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor", more ? json_string(cur) : json_null()));
}

static void unread_count(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int rc;
    db_stmt_t *st = db_query(c, &q_unread, &rc, "s", p->sub);
    if (!st || rc != DB_ROW) {
        if (st) db_reset(st);
        { db_failed(req, c); return; }
    }
    int64_t n = db_col_int(st, 0);
    db_reset(st);
    db_release(c);
    http_respond_json(req, 200, json_pack("{s:I}", "unread", (json_int_t)n));
}

static void mark_read(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    const char *id = http_param(req, "id");
    if (!id || !id_valid(id, strlen(id), "ntf")) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No such notification.");
        return;
    }
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    if (db_exec(c, &q_mark, "ssL", id, p->sub, time_now_ms()) < 0) { db_failed(req, c); return; }
    int rc;
    db_stmt_t *st = db_query(c, &q_get, &rc, "ss", id, p->sub);
    if (!st) { db_failed(req, c); return; }
    if (rc != DB_ROW) {
        db_reset(st);
        db_release(c);
        http_respond_problem(req, 404, "not-found", "Not Found", "No such notification.");
        return;
    }
    json_t *o = row_json(st);
    db_reset(st);
    db_release(c);
    http_respond_json(req, 200, o);
}

static void mark_all_read(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int64_t n = db_exec(c, &q_mark_all, "sL", p->sub, time_now_ms());
    if (n < 0) { db_failed(req, c); return; }
    db_release(c);
    http_respond_json(req, 200, json_pack("{s:I}", "updated", (json_int_t)n));
}

void notify_routes(router_t *r)
{
    router_add(r, HTTP_GET, "/v1/me/notifications", list_notifications, AUTH_USER);
    router_add(r, HTTP_GET, "/v1/me/notifications/unread-count", unread_count, AUTH_USER);
    router_add(r, HTTP_POST, "/v1/me/notifications/{id}/read", mark_read, AUTH_USER);
    router_add(r, HTTP_POST, "/v1/me/notifications/read-all", mark_all_read, AUTH_USER);
}
