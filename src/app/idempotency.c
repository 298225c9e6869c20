/*
 * idempotency.c — Idempotency-Key claims, replays and storage (see
 * idempotency.h).
 */
#include "app/idempotency.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "auth/access.h"
#include "http/server.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SLOT_IDEM 0

typedef struct idem_state {
    char scope[80];
    char key[IDEM_KEY_MAX + 3];
    char fp[65];
    int saved;    /* the handler stored its response in its transaction */
    int in_tx;    /* not claimed yet: the handler claims it in its transaction (idem_claim) */
    int answered; /* idem_answer_taken() answered: store nothing */
} idem_state_t;

DB_SQL(q_claim, "INSERT INTO idempotency_keys (scope, key, method, path, fingerprint, state, locked_until, created_at)"
                " VALUES ($1, $2, $3, $4, $5, 'in_flight', $6, $7) ON CONFLICT DO NOTHING");
DB_SQL(q_get, "SELECT fingerprint, state, status, content_type, body, locked_until FROM idempotency_keys"
              " WHERE scope = $1 AND key = $2");
DB_SQL(q_takeover, "UPDATE idempotency_keys SET locked_until = $3 WHERE scope = $1 AND key = $2"
                   " AND state = 'in_flight' AND locked_until < $4");
DB_SQL(q_save, "UPDATE idempotency_keys SET state = 'done', status = $3, content_type = $4, body = $5"
               " WHERE scope = $1 AND key = $2 AND state = 'in_flight'");
DB_SQL(q_release, "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'");
/* an answer of a route that claims in its transaction, when that
 * transaction did not store one (it rolled back, claim and all) */
DB_SQL(q_store, "INSERT INTO idempotency_keys (scope, key, method, path, fingerprint, state, status, content_type, body,"
                " locked_until, created_at) VALUES ($1, $2, $3, $4, $5, 'done', $6, $7, $8, $9, $9)"
                " ON CONFLICT (scope, key) DO UPDATE SET state = 'done', status = excluded.status,"
                " content_type = excluded.content_type, body = excluded.body"
                " WHERE idempotency_keys.state = 'in_flight'");
/* in batches (db_exec_batches): a key is kept per unsafe POST, so an
 * hour's keys of a busy shop are millions of rows */
DB_SQL(q_purge, "DELETE FROM idempotency_keys WHERE (scope, key) IN"
                " (SELECT scope, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)");

static void fingerprint(http_req_t *req, char out[65])
{
    crypto_hash_sha256_state h;
    unsigned char d[crypto_hash_sha256_BYTES];
    const char *m = http_method_name(http_method(req)), *p = http_path(req);
    str_t body = http_body(req);
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const unsigned char *)m, strlen(m));
    crypto_hash_sha256_update(&h, (const unsigned char *)"\n", 1);
    crypto_hash_sha256_update(&h, (const unsigned char *)p, strlen(p));
    crypto_hash_sha256_update(&h, (const unsigned char *)"\n", 1);
    crypto_hash_sha256_update(&h, (const unsigned char *)body.ptr, body.len);
    crypto_hash_sha256_final(&h, d);
    sodium_bin2hex(out, 65, d, sizeof d);
}

/* The caller's scope: a principal's subject, else a hash of the cart token,
 * else the client address. */
static void scope_of(http_req_t *req, char *out, size_t n)
{
    const principal_t *p = http_principal(req);
    if (p && p->sub[0]) {
        snprintf(out, n, "%s", p->sub);
        return;
    }
    const char *tok = http_header(req, "X-Cart-Token");
    if (tok && *tok) {
        unsigned char d[16];
        char hex[33];
        crypto_generichash(d, sizeof d, (const unsigned char *)tok, strlen(tok), NULL, 0);
        sodium_bin2hex(hex, sizeof hex, d, sizeof d);
        snprintf(out, n, "cart:%s", hex);
        return;
    }
    snprintf(out, n, "ip:%s", http_client_ip(req));
}

static int valid_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > IDEM_KEY_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e) return 0;
    return 1;
}

/* the claim is a write of its own, committed with others (db_tx groups) */
typedef struct {
    const idem_state_t *st;
    const char *method, *path;
    int64_t now, claimed;
} claim_t;

static int64_t claim_row(db_conn_t *c, const idem_state_t *st, const char *method, const char *path, int64_t now)
{
    return db_exec(c, &q_claim, "sssssLL", st->scope, st->key, method, path, st->fp, now + IDEM_LEASE_MS, now);
}

static int claim_tx(db_conn_t *c, void *ctx)
{
    claim_t *cl = ctx;
    int64_t n = claim_row(c, cl->st, cl->method, cl->path, cl->now);
    if (n < 0) return (int)n;
    cl->claimed = n;
    return 0;
}

#define EXISTING_NONE 0     /* no row for the key */
#define EXISTING_ANSWERED 1 /* replayed, or refused (422, 409, 503) */
#define EXISTING_TAKEN 2    /* an expired claim is ours now: run the request */

/* The key's row decides: the stored answer again, 422 for another request,
 * 409 while in flight — or, when allowed, taking over a claim whose request
 * died before committing. */
static int answer_existing(http_req_t *req, db_conn_t *c, const idem_state_t *st, int64_t now, int may_take_over)
{
    int rc;
    db_stmt_t *s = db_query(c, &q_get, &rc, "ss", st->scope, st->key);
    if (!s) {
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The idempotency store is unavailable.");
        return EXISTING_ANSWERED;
    }
    if (rc != DB_ROW) {
        db_reset(s);
        return EXISTING_NONE;
    }
    int same = strcmp(db_col_text(s, 0), st->fp) == 0;
    int done = strcmp(db_col_text(s, 1), "done") == 0;
    int64_t locked_until = db_col_int(s, 5);
    if (!same) {
        db_reset(s);
        http_respond_problem(req, 422, "idempotency-key-reused", "Idempotency-Key Reused",
                             "This Idempotency-Key was already used for a different request (method, path or body).");
        return EXISTING_ANSWERED;
    }
    if (done) {
        int status = (int)db_col_int(s, 2);
        const char *ct = db_col_text(s, 3);
        const char *body = db_col_text(s, 4);
        size_t bl = db_col_len(s, 4);
        http_set_header(req, "Idempotent-Replayed", "true");
        if (body && bl)
            http_respond_bytes(req, status, ct, body, bl);
        else
            http_respond_empty(req, status);
        db_reset(s);
        return EXISTING_ANSWERED;
    }
    db_reset(s);
    if (may_take_over && locked_until < now &&
        db_exec(c, &q_takeover, "ssLL", st->scope, st->key, now + IDEM_LEASE_MS, now) == 1)
        return EXISTING_TAKEN; /* the first request died before committing: run it now */
    http_set_header(req, "Retry-After", "1");
    http_respond_problem(req, 409, "idempotency-key-in-use", "Conflict",
                         "A request with this Idempotency-Key is still being processed; retry shortly.");
    return EXISTING_ANSWERED;
}

int idem_pre(http_req_t *req, int flags)
{
    if (!(flags & (HTTP_ROUTE_IDEMPOTENT | HTTP_ROUTE_IDEM_REQUIRED))) return 0;
    const char *key = http_header(req, "Idempotency-Key");
    if (!key) {
        if (!(flags & HTTP_ROUTE_IDEM_REQUIRED)) return 0;
        http_respond_problem(req, 400, "idempotency-key-required", "Idempotency-Key Required",
                             "This request creates something that must happen once: send an Idempotency-Key "
                             "header (a unique value such as a UUID) and reuse it when retrying.");
        return 1;
    }
    /* the draft allows a structured-field string: strip surrounding quotes */
    size_t kl = strlen(key);
    char kbuf[IDEM_KEY_MAX + 3];
    if (kl >= 2 && kl < sizeof kbuf && key[0] == '"' && key[kl - 1] == '"') {
        memcpy(kbuf, key + 1, kl - 2);
        kbuf[kl - 2] = '\0';
        key = kbuf;
    }
    if (!valid_key(key)) {
        http_respond_problem(req, 400, "invalid-idempotency-key", "Invalid Idempotency-Key",
                             "The Idempotency-Key must be 1 to 255 visible ASCII characters.");
        return 1;
    }
    idem_state_t *st = arena_calloc(http_arena(req), sizeof *st);
    scope_of(req, st->scope, sizeof st->scope);
    snprintf(st->key, sizeof st->key, "%s", key);
    fingerprint(req, st->fp);
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) {
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "No database connection is available.");
        return 1;
    }
    int64_t now = time_now_ms();
    int ret = 1;
    if (flags & HTTP_ROUTE_IDEM_IN_TX) {
        /* a read only: the handler's transaction writes the claim */
        int e = answer_existing(req, c, st, now, 1);
        if (e != EXISTING_ANSWERED) {
            st->in_tx = e == EXISTING_NONE; /* a taken-over claim is already ours */
            http_set_slot(req, SLOT_IDEM, st);
            ret = 0;
        }
        goto out;
    }
    claim_t cl = { st, http_method_name(http_method(req)), http_path(req), now, 0 };
    int64_t n = db_tx(app->db, claim_tx, &cl);
    if (n == 0) n = cl.claimed;
    if (n == 1) {
        http_set_slot(req, SLOT_IDEM, st);
        ret = 0;
        goto out;
    }
    if (n < 0) {
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The idempotency store is unavailable.");
        goto out;
    }
    int e = answer_existing(req, c, st, now, 1);
    if (e == EXISTING_TAKEN) {
        http_set_slot(req, SLOT_IDEM, st);
        ret = 0;
    } else if (e == EXISTING_NONE) {
        /* the row vanished between the claim and the read (purged): try once more later */
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 409, "idempotency-key-in-use", "Conflict",
                             "A request with this Idempotency-Key is being processed; retry shortly.");
    }
out:
    db_release(c);
    return ret;
}

int idem_claim(db_conn_t *c, http_req_t *req)
{
    idem_state_t *st = http_slot(req, SLOT_IDEM);
    if (!st || !st->in_tx) return 0;
    int64_t n = claim_row(c, st, http_method_name(http_method(req)), http_path(req), time_now_ms());
    if (n < 0) return (int)n;
    return n == 1 ? 0 : IDEM_TAKEN;
}

void idem_answer_taken(http_req_t *req)
{
    idem_state_t *st = http_slot(req, SLOT_IDEM);
    app_t *app = http_app(req);
    db_conn_t *c = st ? db_acquire(app->db) : NULL;
    if (st) st->answered = 1;
    /* no takeover here: the other request's claim is fresh */
    if (!c || answer_existing(req, c, st, time_now_ms(), 0) == EXISTING_NONE) {
        /* its transaction rolled back after ours saw the claim: a retry runs it */
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 409, "idempotency-key-in-use", "Conflict",
                             "A request with this Idempotency-Key is being processed; retry shortly.");
    }
    if (c) db_release(c);
}

int idem_save(db_conn_t *c, http_req_t *req, int status, const char *ctype, const char *body)
{
    idem_state_t *st = http_slot(req, SLOT_IDEM);
    if (!st) return 0;
    int64_t n = db_exec(c, &q_save, "ssiss", st->scope, st->key, status, ctype, body);
    if (n < 0) return (int)n;
    st->saved = 1;
    return 0;
}

void idem_tx_done(http_req_t *req, int rc)
{
    idem_state_t *st = http_slot(req, SLOT_IDEM);
    if (st && rc != 0) st->saved = 0;
}

void idem_post(http_req_t *req, int flags)
{
    (void)flags;
    idem_state_t *st = http_slot(req, SLOT_IDEM);
    if (!st || st->saved || st->answered) return;
    app_t *app = http_app(req);
    int status = http_status(req);
    if (st->in_tx && status >= 500) return; /* the claim rolled back with the handler's transaction */
    db_conn_t *c = db_acquire(app->db);
    if (!c) return; /* the claim expires; a retry runs the request again */
    if (st->in_tx) {
        /* the handler answered without storing (a refusal: its transaction,
         * claim and all, rolled back): store the answer as a first claim */
        size_t len;
        const char *ct;
        const char *body = http_response_body(req, &len, &ct);
        char *copy = body ? arena_strndup(http_arena(req), body, len) : NULL;
        if (db_exec(c, &q_store, "sssssissL", st->scope, st->key, http_method_name(http_method(req)), http_path(req),
                    st->fp, status, ct, copy, time_now_ms()) < 0)
            log_error("idempotency", "could not store the response for a key: %s", db_errmsg(c));
        db_release(c);
        return;
    }
    if (status >= 500) {
        db_exec(c, &q_release, "ss", st->scope, st->key);
    } else {
        size_t len;
        const char *ct;
        const char *body = http_response_body(req, &len, &ct);
        char *copy = body ? arena_strndup(http_arena(req), body, len) : NULL;
        if (db_exec(c, &q_save, "ssiss", st->scope, st->key, status, ct, copy) < 0)
            log_error("idempotency", "could not store the response for a key: %s", db_errmsg(c));
    }
    db_release(c);
}

static int purge_handler(job_run_t *run, const job_t *job, void *ctx)
{
    (void)job;
    (void)ctx;
    db_conn_t *c = db_acquire(jobs_run_db(run));
    if (!c) return jobs_retry_after(run, 60000);
    int64_t n = db_exec_batches(c, &q_purge, DB_PURGE_BATCH, "L", time_now_ms() - 48LL * 3600 * 1000);
    db_release(c);
    if (n < 0) {
        jobs_fail(run, "purge of idempotency keys failed");
        return JOB_RETRY;
    }
    if (n > 0) log_info("idempotency", "purged %lld keys older than 48 hours", (long long)n);
    return JOB_OK;
}

void idem_jobs(jobs_t *rt)
{
    jobs_register(rt, "idempotency.purge", purge_handler, NULL);
    jobs_schedule(rt, "idempotency.purge", "23 * * * *", "idempotency.purge", NULL);
}
