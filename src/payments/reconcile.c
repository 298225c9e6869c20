/*
 * reconcile.c — the payments.reconcile job: asks the provider about
 * payments stuck in between (processing, requires_action) for longer than a
 * few minutes — a webhook that never came, a job that gave up — and applies
 * what the provider says through payment_apply_update(), which is
 * idempotent, so a webhook arriving at the same time is harmless.
 *
 * Scheduled every 5 minutes; `mercato jobs enqueue payments.reconcile
 * '{"min_age_s":0}'` runs it at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/runtime.h"
#include "orders/payment.h"
#include "payments/provider.h"
#include "payments/reconcile.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define RECONCILE_BATCH 200
#define RECONCILE_MIN_AGE_S 300

DB_SQL(q_stuck, "SELECT provider, provider_ref FROM payments WHERE status IN ('processing', 'requires_action')"
                " AND provider_ref IS NOT NULL AND updated_at <= $1 ORDER BY updated_at, id LIMIT $2");

typedef struct stuck {
    char provider[40];
    char ref[160];
} stuck_t;

typedef struct apply_ctx {
    const stuck_t *p;
    const pay_result_t *res;
} apply_ctx_t;

static int apply_tx(db_conn_t *c, void *ctx)
{
    apply_ctx_t *a = ctx;
    int rc = payment_apply_update(c, a->p->provider, a->p->ref, a->res->status, 0,
                                  a->res->error[0] ? a->res->error : "reconciled with the provider", "system:reconcile");
    return rc < 0 ? rc : 0;
}

static int job_reconcile(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    json_t *age = json_object_get(job->payload, "min_age_s");
    int64_t min_age_ms = (json_is_integer(age) && json_integer_value(age) >= 0 ? json_integer_value(age)
                                                                                 : RECONCILE_MIN_AGE_S) * 1000;
    db_t *db = jobs_run_db(run);
    db_conn_t *c = db_acquire(db);
    if (!c) {
        jobs_fail(run, "no database connection");
        return JOB_RETRY;
    }
    stuck_t *list = xcalloc(RECONCILE_BATCH, sizeof *list);
    int n = 0, rc;
    db_stmt_t *st = db_query(c, &q_stuck, &rc, "Li", time_now_ms() - min_age_ms, RECONCILE_BATCH);
    while (st && rc == DB_ROW && n < RECONCILE_BATCH) {
        snprintf(list[n].provider, sizeof list[n].provider, "%s", db_col_text(st, 0));
        snprintf(list[n].ref, sizeof list[n].ref, "%s", db_col_text(st, 1));
        n++;
        rc = db_step(st);
    }
    if (st) db_reset(st);
    db_release(c);
    if (rc < 0) {
        free(list);
        jobs_fail(run, "database error %d", rc);
        return JOB_RETRY;
    }
    int settled = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        const pay_provider_t *pv = pay_provider_find(list[i].provider);
        if (!pv || !pv->retrieve) continue;
        pay_result_t res;
        memset(&res, 0, sizeof res);
        jobs_heartbeat(run);
        if (pv->retrieve(pv->ctx, list[i].ref, &res) != 0) {
            failed++;
            continue;
        }
        if (res.status == PAY_PROCESSING || res.status == PAY_REQUIRES_ACTION) continue;
        apply_ctx_t a = { &list[i], &res };
        if (db_tx(db, apply_tx, &a) < 0) {
            failed++;
            continue;
        }
        settled++;
    }
    free(list);
    if (n) log_info("payments", "reconciled %d stuck payment(s): %d settled, %d could not be asked", n, settled, failed);
    return JOB_OK;
}

void reconcile_jobs(jobs_t *rt)
{
    jobs_register(rt, "payments.reconcile", job_reconcile, NULL);
    jobs_schedule(rt, "payments.reconcile", "*/5 * * * *", "payments.reconcile", NULL);
}
