/*
 * refund.c — refunds: an admin asks, the payment provider carries it out.
 *
 *   POST /v1/orders/{id}/refunds   {amount?, reason}   admin; Idempotency-Key
 *   GET  /v1/orders/{id}/refunds                       admin or the order's owner
 *
 * The request, in one transaction: the order's captured payment, what is
 * left to refund (captured − refunded − refunds still pending), a refund row
 * (pending), a refund.requested event and a payments.refund job — and the
 * Idempotency-Key answer (idem_save), so a retried request can never ask
 * for the money twice.  The job calls the provider (network, off the HTTP
 * thread) with the refund id as the provider's idempotency key, then in one
 * transaction marks the refund succeeded and reports the cumulative
 * refunded amount through payment_apply_update(), which moves the payment
 * and, for a full refund, the order to refunded.  A provider's webhook
 * reporting the same cumulative amount later changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/idempotency.h"
#include "auth/access.h"
#include "jobs/events.h"
#include "jobs/jobq.h"
#include "orders/order.h"
#include "orders/payment.h"
#include "orders/refund.h"
#include "util/log.h"
#include "util/timeutil.h"

#define REFUND_REASON_MAX 200

DB_SQL2(q_order_lock, "SELECT status, customer_id FROM orders WHERE id = $1",
        "SELECT status, customer_id FROM orders WHERE id = $1 FOR UPDATE");
DB_SQL(q_captured, "SELECT id, provider, provider_ref, amount, refunded, currency FROM payments"
                   " WHERE order_id = $1 AND status IN ('succeeded', 'refunded') AND provider_ref IS NOT NULL"
                   " ORDER BY created_at DESC, id DESC LIMIT 1");
DB_SQL(q_pending_sum, "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE payment_id = $1 AND status = 'pending'");
DB_SQL(q_refund_insert, "INSERT INTO refunds (id, order_id, payment_id, amount, currency, status, reason, actor,"
                        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $8)");
DB_SQL(q_refund_get, "SELECT r.id, r.order_id, r.payment_id, r.amount, r.currency, r.status, r.reason, r.provider_ref,"
                     " r.error, r.actor, r.created_at, r.updated_at, p.provider, p.provider_ref, o.customer_id"
                     " FROM refunds r JOIN payments p ON p.id = r.payment_id JOIN orders o ON o.id = r.order_id"
                     " WHERE r.id = $1");
DB_SQL(q_refund_list, "SELECT id FROM refunds WHERE order_id = $1 ORDER BY created_at, id");
DB_SQL(q_refund_done, "UPDATE refunds SET status = $2, provider_ref = $3, error = $4, updated_at = $5"
                      " WHERE id = $1 AND status = 'pending'");
DB_SQL(q_refunded_sum, "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE payment_id = $1 AND status = 'succeeded'");

/* ---------- rendering ---------- */

static json_t *render(db_conn_t *c, const char *id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_refund_get, &rc, "s", id);
    if (!st) return NULL;
    if (rc != DB_ROW) {
        db_reset(st);
        return NULL;
    }
    char a[32], b[32];
    json_t *o = json_pack("{s:s, s:s, s:s, s:{s:I, s:s}, s:s, s:s, s:o, s:o, s:s, s:s, s:s}", "id",
                          db_col_text(st, 0), "order_id", db_col_text(st, 1), "payment_id", db_col_text(st, 2),
                          "amount", "amount", (json_int_t)db_col_int(st, 3), "currency", db_col_text(st, 4), "status",
                          db_col_text(st, 5), "reason", db_col_text(st, 6), "provider_ref",
                          db_col_is_null(st, 7) ? json_null() : json_string(db_col_text(st, 7)), "error",
                          db_col_is_null(st, 8) ? json_null() : json_string(db_col_text(st, 8)), "requested_by",
                          db_col_text(st, 9), "created_at", time_fmt_rfc3339(a, db_col_int(st, 10)), "updated_at",
                          time_fmt_rfc3339(b, db_col_int(st, 11)));
    db_reset(st);
    return o;
}

/* ---------- the request ---------- */

#define REFUND_E_NOT_FOUND 1
#define REFUND_E_NOT_CAPTURED 2 /* no captured payment */
#define REFUND_E_NOTHING_LEFT 3
#define REFUND_E_TOO_MUCH 4
#define REFUND_E_STATUS 5 /* a full refund the order's status does not allow */

typedef struct refund_op {
    http_req_t *req;
    const char *order_id;
    int64_t amount; /* 0 = all that is left */
    const char *reason;
    const char *actor;
    int64_t left;   /* out: refundable amount */
    char status[32]; /* out: the order's status (REFUND_E_STATUS) */
    char id[ID_MAX];
    char *body;
} refund_op_t;

static int request_tx(db_conn_t *c, void *ctx)
{
    refund_op_t *op = ctx;
    free(op->body);
    op->body = NULL;
    int rc;
    db_stmt_t *st = db_query(c, &q_order_lock, &rc, "s", op->order_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return REFUND_E_NOT_FOUND;
    }
    snprintf(op->status, sizeof op->status, "%s", db_col_text(st, 0));
    char customer[ID_MAX] = "";
    if (!db_col_is_null(st, 1)) snprintf(customer, sizeof customer, "%s", db_col_text(st, 1));
    db_reset(st);

    st = db_query(c, &q_captured, &rc, "s", op->order_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return REFUND_E_NOT_CAPTURED;
    }
    char pay_id[ID_MAX], currency[8];
    snprintf(pay_id, sizeof pay_id, "%s", db_col_text(st, 0));
    int64_t captured = db_col_int(st, 3), refunded = db_col_int(st, 4);
    snprintf(currency, sizeof currency, "%s", db_col_text(st, 5));
    db_reset(st);
    st = db_query(c, &q_pending_sum, &rc, "s", pay_id);
    if (!st) return rc;
    int64_t pending = db_col_int(st, 0);
    db_reset(st);

    op->left = captured - refunded - pending;
    if (op->left <= 0) return REFUND_E_NOTHING_LEFT;
    int64_t amount = op->amount ? op->amount : op->left;
    if (amount > op->left) return REFUND_E_TOO_MUCH;
    /* refunding everything moves the order to refunded: the state machine must allow it */
    int os = order_status_parse(op->status);
    if (refunded + pending + amount >= captured &&
        (os < 0 || !order_transition_allowed((order_status_t)os, ORDER_REFUNDED, BY_SYSTEM)))
        return REFUND_E_STATUS;

    int64_t now = time_now_ms();
    id_new(op->id, "ref");
    if ((rc = (int)db_exec(c, &q_refund_insert, "sssLsssL", op->id, op->order_id, pay_id, amount, currency,
                           op->reason, op->actor, now)) < 0)
        return rc;
    json_t *p = json_pack("{s:s, s:s, s:I, s:s, s:s}", "refund_id", op->id, "payment_id", pay_id, "amount",
                          (json_int_t)amount, "currency", currency, "reason", op->reason);
    int64_t eid = event_append_owned(c, "refund.requested", op->order_id, op->actor, customer[0] ? customer : NULL, p);
    json_decref(p);
    if (eid < 0) return (int)eid;
    json_t *jp = json_pack("{s:s}", "refund_id", op->id);
    char key[ID_MAX + 8];
    snprintf(key, sizeof key, "refund:%s", op->id);
    jobq_opts_t o = { .unique_key = key, .max_attempts = 12, .backoff_ms = 2000 };
    int64_t jid = jobq_enqueue(c, "payments.refund", jp, &o);
    json_decref(jp);
    if (jid < 0) return (int)jid;
    json_t *r = render(c, op->id);
    if (!r) return DB_ERR;
    op->body = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    if (!op->body) return DB_ERR;
    return idem_save(c, op->req, 202, "application/json", op->body);
}

static void problem_db(http_req_t *req, int rc)
{
    log_error("refunds", "database error %d", rc);
    http_set_header(req, "Retry-After", "1");
    http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The database is busy; retry in a second.");
}

static void invalid(http_req_t *req, const char *field, const char *msg)
{
    json_t *errors = json_pack("[{s:s, s:s}]", "field", field, "message", msg);
    http_respond_problem_errors(req, 422, "validation-failed", "Validation Failed", "The refund request is not valid.",
                                errors);
}

static void post_refund(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    const char *id = http_param(req, "id");
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    refund_op_t op = { .req = req, .order_id = id, .actor = p ? p->sub : "operator" };
    json_t *a = json_object_get(body, "amount");
    if (a && !json_is_null(a)) {
        if (!json_is_integer(a) || json_integer_value(a) < 1 || json_integer_value(a) > 100000000000LL)
            return invalid(req, "amount", "must be a positive integer amount in minor units");
        op.amount = json_integer_value(a);
    }
    json_t *r = json_object_get(body, "reason");
    size_t rl = json_is_string(r) ? json_string_length(r) : 0;
    op.reason = json_is_string(r) ? json_string_value(r) : NULL;
    bool ok = op.reason && rl >= 1 && rl <= REFUND_REASON_MAX && strlen(op.reason) == rl;
    for (size_t i = 0; ok && i < rl; i++) ok = (unsigned char)op.reason[i] >= 0x20 && op.reason[i] != 0x7f;
    if (!ok) return invalid(req, "reason", "is required: 1 to 200 characters, no control characters");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "amount") != 0 && strcmp(key, "reason") != 0) return invalid(req, key, "is not a field of a refund");
    }
    if (!id || !id_valid(id, strlen(id), "ord")) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No such order.");
        return;
    }
    app_t *app = http_app(req);
    int rc = db_tx(app->db, request_tx, &op);
    idem_tx_done(req, rc);
    char detail[192];
    switch (rc) {
    case 0:
        if (app->jobs) jobs_notify(app->jobs);
        http_respond_bytes(req, 202, "application/json", op.body, strlen(op.body));
        break;
    case REFUND_E_NOT_FOUND:
        http_respond_problem(req, 404, "not-found", "Not Found", "No such order.");
        break;
    case REFUND_E_NOT_CAPTURED:
        http_respond_problem(req, 409, "not-refundable", "Not Refundable", "The order has no captured payment to refund.");
        break;
    case REFUND_E_NOTHING_LEFT:
        http_respond_problem(req, 409, "not-refundable", "Not Refundable",
                             "The payment is fully refunded (or the rest is being refunded).");
        break;
    case REFUND_E_TOO_MUCH:
        snprintf(detail, sizeof detail, "At most %lld can still be refunded.", (long long)op.left);
        http_respond_problem_ext(req, 422, "refund-exceeds-payment", "Refund Exceeds Payment", detail,
                                 json_pack("{s:I}", "refundable", (json_int_t)op.left));
        break;
    case REFUND_E_STATUS:
        snprintf(detail, sizeof detail, "An order that is %s cannot be refunded in full; refund part of it, or wait.",
                 op.status);
        http_respond_problem_ext(req, 409, "not-refundable", "Not Refundable", detail,
                                 json_pack("{s:s}", "current_status", op.status));
        break;
    default:
        problem_db(req, rc);
    }
    free(op.body);
}

static void list_refunds(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    const char *id = http_param(req, "id");
    if (!id || !id_valid(id, strlen(id), "ord")) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No such order.");
        return;
    }
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) return problem_db(req, DB_ENOCONN);
    order_viewer_t v = { p && p->kind == PRINCIPAL_USER ? p->sub : NULL,
                         p && (p->kind == PRINCIPAL_OPERATOR || p->role == ROLE_ADMIN),
                         http_header(req, "X-Order-Token") };
    int see = order_access(c, id, &v);
    if (see < 0) {
        db_release(c);
        return problem_db(req, see);
    }
    if (see != ORDER_SEE_OWNER && see != ORDER_SEE_ADMIN) {
        db_release(c);
        http_respond_problem(req, 404, "not-found", "Not Found", "No such order.");
        return;
    }
    char ids[64][ID_MAX];
    int n = 0, rc;
    db_stmt_t *st = db_query(c, &q_refund_list, &rc, "s", id);
    while (st && rc == DB_ROW && n < 64) {
        snprintf(ids[n++], ID_MAX, "%s", db_col_text(st, 0));
        rc = db_step(st);
    }
    if (st) db_reset(st);
    json_t *items = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = render(c, ids[i]);
        if (o) json_array_append_new(items, o);
    }
    db_release(c);
    http_respond_json(req, 200, json_pack("{s:o}", "items", items));
}

/* ---------- the job ---------- */

typedef struct done_op {
    const char *refund_id;
    bool ok;
    const pay_result_t *res;
    const char *provider, *payment_ref, *payment_id, *order_id, *customer, *reason;
    int64_t amount;
} done_op_t;

static int done_tx(db_conn_t *c, void *ctx)
{
    done_op_t *d = ctx;
    int64_t now = time_now_ms();
    int64_t n = db_exec(c, &q_refund_done, "ssssL", d->refund_id, d->ok ? "succeeded" : "failed",
                        d->ok && d->res->ref[0] ? d->res->ref : NULL, d->ok ? NULL : d->res->error, now);
    if (n < 0) return (int)n;
    if (n == 0) return 0; /* already settled by an earlier attempt */
    json_t *p = json_pack("{s:s, s:I, s:s?}", "refund_id", d->refund_id, "amount", (json_int_t)d->amount, "error",
                          d->ok ? NULL : d->res->error);
    int64_t eid = event_append_owned(c, d->ok ? "refund.succeeded" : "refund.failed", d->order_id, "system",
                                     d->customer, p);
    json_decref(p);
    if (eid < 0) return (int)eid;
    if (!d->ok) return 0;
    int rc;
    db_stmt_t *st = db_query(c, &q_refunded_sum, &rc, "s", d->payment_id);
    if (!st) return rc;
    int64_t total = db_col_int(st, 0);
    db_reset(st);
    rc = payment_apply_update(c, d->provider, d->payment_ref, PAY_REFUNDED, total, d->reason, "system");
    return rc < 0 ? rc : 0;
}

static int job_refund(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    const char *rid = json_string_value(json_object_get(job->payload, "refund_id"));
    if (!rid) {
        jobs_fail(run, "payload without refund_id");
        return JOB_DEAD;
    }
    db_t *db = jobs_run_db(run);
    db_conn_t *c = db_acquire(db);
    if (!c) {
        jobs_fail(run, "no database connection");
        return JOB_RETRY;
    }
    int rc;
    db_stmt_t *st = db_query(c, &q_refund_get, &rc, "s", rid);
    if (!st || rc != DB_ROW) {
        if (st) db_reset(st);
        db_release(c);
        if (rc < 0) {
            jobs_fail(run, "database error %d", rc);
            return JOB_RETRY;
        }
        return JOB_OK; /* gone */
    }
    char order_id[ID_MAX], payment_id[ID_MAX], status[16], provider[40], pref[160], customer[ID_MAX] = "",
        reason[REFUND_REASON_MAX + 1];
    snprintf(order_id, sizeof order_id, "%s", db_col_text(st, 1));
    snprintf(payment_id, sizeof payment_id, "%s", db_col_text(st, 2));
    int64_t amount = db_col_int(st, 3);
    snprintf(status, sizeof status, "%s", db_col_text(st, 5));
    snprintf(reason, sizeof reason, "%s", db_col_text(st, 6));
    snprintf(provider, sizeof provider, "%s", db_col_text(st, 12));
    snprintf(pref, sizeof pref, "%s", db_col_text(st, 13));
    if (!db_col_is_null(st, 14)) snprintf(customer, sizeof customer, "%s", db_col_text(st, 14));
    db_reset(st);
    db_release(c);
    if (strcmp(status, "pending") != 0) return JOB_OK;

    const pay_provider_t *pv = pay_provider_find(provider);
    pay_result_t res;
    memset(&res, 0, sizeof res);
    bool ok;
    if (!pv) {
        snprintf(res.error, sizeof res.error, "payment provider %s is not configured", provider);
        ok = false;
    } else if (pv->refund(pv->ctx, pref, amount, rid, &res) == 0 && res.status == PAY_REFUNDED) {
        ok = true;
    } else if (res.retryable && job->attempt < job->max_attempts) {
        jobs_fail(run, "provider: %s", res.error[0] ? res.error : "no answer");
        return JOB_RETRY;
    } else {
        if (!res.error[0]) snprintf(res.error, sizeof res.error, "the provider refused the refund");
        ok = false;
    }
    done_op_t d = { rid, ok, &res, provider, pref, payment_id, order_id, customer[0] ? customer : NULL, reason, amount };
    rc = db_tx(db, done_tx, &d);
    if (rc < 0) {
        jobs_fail(run, "database error %d", rc);
        return JOB_RETRY;
    }
    if (!ok) log_warn("refunds", "refund %s of order %s failed: %s", rid, order_id, res.error);
    return JOB_OK;
}

void refund_routes(router_t *r)
{
    router_add(r, HTTP_POST, "/v1/orders/{id}/refunds", post_refund, AUTH_ADMIN | HTTP_ROUTE_IDEMPOTENT);
    router_add(r, HTTP_GET, "/v1/orders/{id}/refunds", list_refunds, AUTH_PUBLIC);
}

void refund_jobs(jobs_t *rt)
{
    jobs_register(rt, "payments.refund", job_refund, NULL);
}
