/*
 * payment.c — payments of orders: creation, provider outcomes, the
 * payments.process job (see payment.h).
 *
 * Lock order: stock rows and the order are updated before any event is
 * appended, because an append holds PostgreSQL's event advisory lock until
 * commit; taking row locks after it could deadlock with a checkout that
 * holds a stock row and waits for the same advisory lock.
 *
 * Ordering of provider reports: processing and requires_action are interim;
 * succeeded and failed are final (a failed payment may still succeed later,
 * as a retried PaymentIntent can, but a succeeded one never fails);
 * refunded only follows succeeded.  A report that would move a payment
 * backwards is ignored, and a report of the state it is already in changes
 * nothing, so webhooks, jobs and reconciliation may race and repeat safely.
 */
#include "orders/payment.h"

#include <stdio.h>
#include <string.h>

#include "jobs/events.h"
#include "jobs/jobq.h"
#include "jobs/runtime.h"
#include "orders/order.h"
#include "util/log.h"
#include "util/timeutil.h"

DB_SQL2(q_pay_by_ref,
        "SELECT id, order_id, status, amount, refunded, currency FROM payments WHERE provider = $1 AND provider_ref = $2",
        "SELECT id, order_id, status, amount, refunded, currency FROM payments WHERE provider = $1 AND provider_ref = $2"
        " FOR UPDATE");
DB_SQL(q_pay_set, "UPDATE payments SET status = $2, error = $3, refunded = $4, updated_at = $5 WHERE id = $1");

static int pay_event(db_conn_t *c, const char *type, const char *pay_id, const char *order_id, const char *actor,
                     const char *status, int64_t amount, const char *currency, const char *reason)
{
    order_status_t os;
    char customer[ID_MAX] = "";
    int rc = order_status_of(c, order_id, &os, customer);
    if (rc < 0) return rc;
    json_t *p = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "payment_id", pay_id, "order_id", order_id, "status",
                          status, "amount", (json_int_t)amount, "currency", currency, "reason", reason ? reason : "");
    int64_t ev = event_append_owned(c, type, pay_id, actor, customer[0] ? customer : NULL, p);
    json_decref(p);
    return ev < 0 ? (int)ev : 0;
}

/* Moves the order when the table allows it; a refusal is not an error here
 * (e.g. a payment that succeeds after its order was cancelled). */
static int move_order(db_conn_t *c, const char *order_id, order_status_t to, const char *actor, const char *reason)
{
    int rc = order_transition(c, order_id, to, BY_SYSTEM, actor, reason, -1, NULL);
    if (rc == ORDER_E_TRANSITION || rc == ORDER_E_NOT_FOUND) {
        log_warn("payments", "order %s not moved to %s after %s", order_id, order_status_name(to), reason);
        return 0;
    }
    return rc;
}

int payment_apply_update(db_conn_t *c, const char *provider, const char *provider_ref, pay_status_t status,
                         int64_t amount, const char *reason, const char *actor)
{
    if (!actor) actor = "system";
    int rc;
    db_stmt_t *st = db_query(c, &q_pay_by_ref, &rc, "ss", provider, provider_ref);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return 1;
    }
    char id[ID_MAX], order_id[ID_MAX], currency[4];
    snprintf(id, sizeof id, "%s", db_col_text(st, 0));
    snprintf(order_id, sizeof order_id, "%s", db_col_text(st, 1));
    int cur = pay_status_parse(db_col_text(st, 2));
    int64_t total = db_col_int(st, 3), refunded = db_col_int(st, 4);
    snprintf(currency, sizeof currency, "%s", db_col_text(st, 5));
    db_reset(st);
    if (cur < 0) return DB_ERR;
    if ((int)status == cur && status != PAY_REFUNDED) return 0;
    int64_t now = time_now_ms();
    int interim = cur == PAY_PROCESSING || cur == PAY_REQUIRES_ACTION;

    switch (status) {
    case PAY_PROCESSING:
    case PAY_REQUIRES_ACTION:
        if (!interim) return 0;
        return db_exec(c, &q_pay_set, "sssLL", id, pay_status_name(status), NULL, refunded, now) < 0 ? DB_ERR : 0;
    case PAY_SUCCEEDED:
        if (cur == PAY_SUCCEEDED || cur == PAY_REFUNDED) return 0;
        if (db_exec(c, &q_pay_set, "sssLL", id, "succeeded", NULL, refunded, now) < 0) return DB_ERR;
        if ((rc = move_order(c, order_id, ORDER_PAID, actor, "payment_succeeded")) < 0) return rc;
        return pay_event(c, "payment.succeeded", id, order_id, actor, "succeeded", total, currency, reason);
    case PAY_FAILED:
        if (!interim) return 0;
        if (db_exec(c, &q_pay_set, "sssLL", id, "failed", reason, refunded, now) < 0) return DB_ERR;
        {
            order_status_t os;
            if ((rc = order_status_of(c, order_id, &os, NULL)) < 0) return rc;
            if (os == ORDER_PENDING_PAYMENT &&
                (rc = move_order(c, order_id, ORDER_PAYMENT_FAILED, actor, "payment_failed")) < 0)
                return rc;
        }
        return pay_event(c, "payment.failed", id, order_id, actor, "failed", total, currency, reason);
    case PAY_REFUNDED: {
        if (cur != PAY_SUCCEEDED && cur != PAY_REFUNDED) return 0;
        int64_t now_refunded = amount <= 0 || amount > total ? total : amount;
        if (now_refunded <= refunded) return 0;
        int full = now_refunded >= total;
        if (db_exec(c, &q_pay_set, "sssLL", id, full ? "refunded" : "succeeded", NULL, now_refunded, now) < 0)
            return DB_ERR;
        if (full && (rc = move_order(c, order_id, ORDER_REFUNDED, actor, "payment_refunded")) < 0) return rc;
        return pay_event(c, "payment.refunded", id, order_id, actor, full ? "refunded" : "partially_refunded",
                         now_refunded - refunded, currency, reason);
    }
    default:
        return DB_ERR;
    }
}

/* ---------- creation ---------- */

DB_SQL2(q_order_for_pay, "SELECT status, total, currency, email FROM orders WHERE id = $1",
        "SELECT status, total, currency, email FROM orders WHERE id = $1 FOR UPDATE");
DB_SQL(q_pay_open, "SELECT 1 FROM payments WHERE order_id = $1 AND status IN ('processing', 'requires_action')"
                   " LIMIT 1");
DB_SQL(q_pay_insert, "INSERT INTO payments (id, order_id, provider, provider_ref, method, amount, currency, status,"
                     " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'processing', $8, $8)");

int payment_create(db_conn_t *c, const char *order_id, const char *provider, const char *method,
                   const char *actor, char pay_id[48])
{
    const pay_provider_t *pv = pay_provider_find(provider);
    if (!pv) return PAYMENT_E_PROVIDER;
    int rc;
    db_stmt_t *st = db_query(c, &q_order_for_pay, &rc, "s", order_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return PAYMENT_E_NOT_FOUND;
    }
    int os = order_status_parse(db_col_text(st, 0));
    int64_t total = db_col_int(st, 1);
    char currency[4], email[ORDER_EMAIL_MAX + 1];
    snprintf(currency, sizeof currency, "%s", db_col_text(st, 2));
    snprintf(email, sizeof email, "%s", db_col_text(st, 3));
    db_reset(st);
    if (os < 0 || !order_status_holds_reservation((order_status_t)os)) return PAYMENT_E_NOT_PAYABLE;
    st = db_query(c, &q_pay_open, &rc, "s", order_id);
    if (!st) return rc;
    db_reset(st);
    if (rc == DB_ROW) return PAYMENT_E_NOT_PAYABLE;

    id_new(pay_id, "pay");
    int64_t now = time_now_ms();
    if (!strcmp(pv->name, "test")) {
        /* no network: decide now, in this transaction */
        pay_request_t rq = { .payment_id = pay_id, .order_id = order_id, .amount = total, .currency = currency,
                             .method = method, .customer_email = email };
        pay_result_t res;
        if (pv->charge(pv->ctx, &rq, &res) != 0) return DB_ERR;
        if (db_exec(c, &q_pay_insert, "sssssLsL", pay_id, order_id, provider, res.ref, method, total, currency,
                    now) < 0)
            return DB_ERR;
        rc = payment_apply_update(c, provider, res.ref, res.status, 0, res.error[0] ? res.error : NULL, actor);
        return rc < 0 ? rc : 0;
    }
    if (db_exec(c, &q_pay_insert, "sssNsLsL", pay_id, order_id, provider, method, total, currency, now) < 0)
        return DB_ERR;
    json_t *p = json_pack("{s:s}", "payment_id", pay_id);
    jobq_opts_t jo = { .max_attempts = 8, .backoff_ms = 2000, .unique_key = pay_id };
    int64_t jid = jobq_enqueue(c, "payments.process", p, &jo);
    json_decref(p);
    return jid < 0 ? (int)jid : 0;
}

DB_SQL(q_pay_get, "SELECT id, order_id, provider, status, amount, refunded, currency, error, client_secret,"
                  " created_at, updated_at FROM payments WHERE id = $1");

json_t *payment_render(db_conn_t *c, const char *pay_id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_pay_get, &rc, "s", pay_id);
    if (!st) return NULL;
    if (rc != DB_ROW) {
        db_reset(st);
        return NULL;
    }
    char a[32], b[32];
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:{s:I, s:s}, s:I, s:s, s:s}", "id", db_col_text(st, 0), "order_id",
                          db_col_text(st, 1), "provider", db_col_text(st, 2), "status", db_col_text(st, 3), "amount",
                          "amount", (json_int_t)db_col_int(st, 4), "currency", db_col_text(st, 6), "refunded",
                          (json_int_t)db_col_int(st, 5), "created_at", time_fmt_rfc3339(a, db_col_int(st, 9)),
                          "updated_at", time_fmt_rfc3339(b, db_col_int(st, 10)));
    if (o && !db_col_is_null(st, 7)) json_object_set_new(o, "error", json_string(db_col_text(st, 7)));
    if (o && !db_col_is_null(st, 8)) json_object_set_new(o, "client_secret", json_string(db_col_text(st, 8)));
    db_reset(st);
    return o;
}

/* ---------- payments.process (providers that talk to a network) ---------- */

DB_SQL(q_pay_load, "SELECT p.order_id, p.provider, p.method, p.amount, p.currency, p.status, o.email,"
                   " p.provider_ref FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.id = $1");
DB_SQL(q_pay_ref, "UPDATE payments SET provider_ref = $2, client_secret = $3, updated_at = $4"
                  " WHERE id = $1 AND provider_ref IS NULL");

typedef struct apply_ctx {
    const char *pay_id, *provider;
    pay_result_t *res;
} apply_ctx_t;

static int apply_tx(db_conn_t *c, void *vctx)
{
    apply_ctx_t *a = vctx;
    if (db_exec(c, &q_pay_ref, "sssL", a->pay_id, a->res->ref, a->res->client_secret[0] ? a->res->client_secret : NULL,
                time_now_ms()) < 0)
        return DB_ERR;
    int rc = payment_apply_update(c, a->provider, a->res->ref, a->res->status, 0,
                                  a->res->error[0] ? a->res->error : NULL, "system");
    return rc < 0 ? rc : 0;
}

static int process_handler(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    const char *pay_id = json_string_value(json_object_get(job->payload, "payment_id"));
    if (!pay_id) {
        jobs_fail(run, "payload without payment_id");
        return JOB_DEAD;
    }
    db_t *db = jobs_run_db(run);
    db_conn_t *c = db_acquire(db);
    if (!c) return jobs_retry_after(run, 1000);
    int rc;
    char order_id[ID_MAX], provider[32], method[128], currency[4], email[ORDER_EMAIL_MAX + 1];
    int64_t amount;
    db_stmt_t *st = db_query(c, &q_pay_load, &rc, "s", pay_id);
    if (!st) {
        db_release(c);
        jobs_fail(run, "database error loading %s", pay_id);
        return JOB_RETRY;
    }
    if (rc != DB_ROW || strcmp(db_col_text(st, 5), "processing") != 0 || !db_col_is_null(st, 7)) {
        db_reset(st);
        db_release(c);
        return JOB_OK; /* gone, or already submitted / decided */
    }
    snprintf(order_id, sizeof order_id, "%s", db_col_text(st, 0));
    snprintf(provider, sizeof provider, "%s", db_col_text(st, 1));
    snprintf(method, sizeof method, "%s", db_col_is_null(st, 2) ? "" : db_col_text(st, 2));
    amount = db_col_int(st, 3);
    snprintf(currency, sizeof currency, "%s", db_col_text(st, 4));
    snprintf(email, sizeof email, "%s", db_col_text(st, 6));
    db_reset(st);
    db_release(c);
    const pay_provider_t *pv = pay_provider_find(provider);
    if (!pv) {
        jobs_fail(run, "no payment provider '%s' in this process", provider);
        return JOB_RETRY;
    }
    pay_request_t rq = { .payment_id = pay_id, .order_id = order_id, .amount = amount, .currency = currency,
                         .method = method, .customer_email = email };
    pay_result_t res;
    memset(&res, 0, sizeof res);
    if (pv->charge(pv->ctx, &rq, &res) != 0) {
        jobs_fail(run, "provider %s: %s", provider, res.error[0] ? res.error : "no decision");
        return res.retryable ? JOB_RETRY : JOB_DEAD;
    }
    apply_ctx_t a = { pay_id, provider, &res };
    rc = db_tx(db, apply_tx, &a);
    if (rc != 0) {
        jobs_fail(run, "could not record the outcome of %s", pay_id);
        return JOB_RETRY;
    }
    return JOB_OK;
}

void payment_jobs(struct jobs *rt)
{
    jobs_register(rt, "payments.process", process_handler, NULL);
}
