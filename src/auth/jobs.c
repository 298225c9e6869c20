/*
 * jobs.c — the identity module's background work.
 *
 * "auth.code": mails a one-time code.  The job creates the code itself — a
 * uniform 6-digit number from libsodium, stored only as a keyed hash, older
 * unused codes of the same purpose superseded — commits, then renders the
 * template and sends it.  The clear code exists only in this worker's
 * memory for the duration of the send: not in the request, the jobs table,
 * or any log.  A failed send is retried with a fresh code (the earlier one
 * was never delivered, or is superseded anyway).
 *
 * "auth.cleanup" (every 10 minutes): purges expired codes, refresh tokens,
 * sessions and deny-list rows.  Used refresh tokens are kept until they
 * expire, so a late replay is still recognised as reuse.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "auth/denylist.h"
#include "mail/mail.h"
#include "util/log.h"
#include "util/timeutil.h"

DB_SQL(q_user_for_code, "SELECT email, name, status, email_verified_at FROM users WHERE id = $1");
DB_SQL(q_code_supersede, "UPDATE auth_codes SET consumed_at = $3 WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL");
DB_SQL(q_code_insert, "INSERT INTO auth_codes (id, user_id, purpose, code_hash, attempts, expires_at, created_at) "
                      "VALUES ($1, $2, $3, $4, 0, $5, $6)");
/* purges go in batches (db_exec_batches binds the LIMIT) */
DB_SQL(q_purge_codes, "DELETE FROM auth_codes WHERE id IN (SELECT id FROM auth_codes WHERE expires_at < $1 LIMIT $2)");
DB_SQL(q_purge_tokens, "DELETE FROM refresh_tokens WHERE token_hash IN"
                       " (SELECT token_hash FROM refresh_tokens WHERE expires_at < $1 LIMIT $2)");
DB_SQL(q_purge_sessions, "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions"
                         " WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $2) LIMIT $3)");

typedef struct code_job_tx {
    const char *user_id, *purpose;
    char code[8];
    char email[260];
    char name[420];
    int send;
} code_job_tx_t;

static int code_job_fn(db_conn_t *c, void *ctx)
{
    code_job_tx_t *t = ctx;
    int64_t now = time_now_ms();
    t->send = 0;
    int rc;
    db_stmt_t *st = db_query(c, &q_user_for_code, &rc, "s", t->user_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return 0;
    }
    snprintf(t->email, sizeof t->email, "%s", db_col_text(st, 0));
    snprintf(t->name, sizeof t->name, "%s", db_col_text(st, 1));
    int active = !strcmp(db_col_text(st, 2), "active"), verified = !db_col_is_null(st, 3);
    db_reset(st);
    if (!active || (!strcmp(t->purpose, "verify_email") && verified)) return 0;
    snprintf(t->code, sizeof t->code, "%06u", (unsigned)randombytes_uniform(1000000));
    char hash[65], id[ID_MAX];
    auth_code_hash(t->user_id, t->purpose, t->code, hash);
    id_new(id, "otc");
    int64_t n = db_exec(c, &q_code_supersede, "ssL", t->user_id, t->purpose, (long long)now);
    if (n >= 0)
        n = db_exec(c, &q_code_insert, "ssssLL", id, t->user_id, t->purpose, hash,
                    (long long)(now + g_auth.cfg->code_ttl * 1000), (long long)now);
    if (n < 0) return (int)n;
    t->send = 1;
    return 0;
}

static int code_job(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    const char *uid = json_string_value(json_object_get(job->payload, "user_id"));
    const char *purpose = json_string_value(json_object_get(job->payload, "purpose"));
    if (!uid || !purpose || (strcmp(purpose, "verify_email") && strcmp(purpose, "reset_password"))) {
        jobs_fail(run, "auth.code payload needs user_id and a known purpose");
        return JOB_DEAD;
    }
    code_job_tx_t t = { .user_id = uid, .purpose = purpose };
    int rc = db_tx(jobs_run_db(run), code_job_fn, &t);
    if (rc < 0) {
        jobs_fail(run, "database error %d", rc);
        return JOB_RETRY;
    }
    if (!t.send) {
        log_info("auth", "no %s code sent to %s (verified, disabled or gone)", purpose, uid);
        return JOB_OK;
    }
    json_t *vars = json_pack("{s:s, s:s, s:I, s:s}", "name", t.name, "code", t.code, "minutes",
                             (json_int_t)(g_auth.cfg->code_ttl / 60), "shop", g_auth.cfg->shop_name);
    mail_msg_t m;
    char err[256];
    int r = mail_render(!strcmp(purpose, "verify_email") ? "verify_email" : "reset_password", vars, &m, err, sizeof err);
    /* wipe the code from everything that held it */
    json_object_set_new(vars, "code", json_string("000000"));
    json_decref(vars);
    sodium_memzero(t.code, sizeof t.code);
    if (r < 0) {
        jobs_fail(run, "%s", err);
        return JOB_DEAD;
    }
    r = mail_send(t.email, &m, err, sizeof err);
    sodium_memzero(m.subject, strlen(m.subject));
    sodium_memzero(m.text, strlen(m.text));
    sodium_memzero(m.html, strlen(m.html));
    mail_msg_free(&m);
    if (r == MAIL_OK) {
        log_info("auth", "%s code mailed to %s", purpose, uid);
        return JOB_OK;
    }
    jobs_fail(run, "%s", err);
    return r == MAIL_EPERM ? JOB_DEAD : JOB_RETRY;
}

/* each purge in batches outside any transaction (it used to be one
 * db_tx: on SQLite a group commit's transaction, which every request
 * writing meanwhile waited for) */
static int cleanup_job(job_run_t *run, const job_t *job, void *ctx)
{
    (void)job;
    (void)ctx;
    db_conn_t *c = db_acquire(jobs_run_db(run));
    if (!c) return jobs_retry_after(run, 60000);
    int64_t now = time_now_ms();
    int64_t n[4] = { 0 };
    n[0] = db_exec_batches(c, &q_purge_codes, DB_PURGE_BATCH, "L", now);
    if (n[0] >= 0) n[1] = db_exec_batches(c, &q_purge_tokens, DB_PURGE_BATCH, "L", now);
    if (n[1] >= 0) n[2] = db_exec_batches(c, &q_purge_sessions, DB_PURGE_BATCH, "LL", now, now - 86400000LL);
    if (n[2] >= 0) n[3] = denylist_purge(c, now);
    db_release(c);
    for (int i = 0; i < 4; i++)
        if (n[i] < 0) {
            jobs_fail(run, "database error %lld", (long long)n[i]);
            return JOB_RETRY;
        }
    log_info("auth", "cleanup: %lld codes, %lld refresh tokens, %lld sessions, %lld denied tokens purged",
             (long long)n[0], (long long)n[1], (long long)n[2], (long long)n[3]);
    return JOB_OK;
}

void auth_jobs(jobs_t *rt, app_t *app)
{
    /* a worker-only process has not run auth_start(): code jobs need the keys */
    if (!g_auth.cfg && auth_prepare(app) < 0) {
        log_error("auth", "identity jobs not registered: keys could not be loaded");
        return;
    }
    jobs_register(rt, "auth.code", code_job, NULL);
    jobs_register(rt, "auth.cleanup", cleanup_job, NULL);
    if (jobs_schedule(rt, "auth.cleanup", "*/10 * * * *", "auth.cleanup", NULL) < 0)
        log_error("auth", "could not schedule auth.cleanup");
}
