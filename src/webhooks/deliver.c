/*
 * deliver.c — from the event log to the receiver: the consumer that makes
 * deliveries, and the job that sends one over HTTP and logs the attempt.
 *
 * The consumer runs on one process at a time (jobs_consume_events) but may
 * see an event twice after a crash; INSERT ... ON CONFLICT DO NOTHING on
 * (endpoint_id, msg_id) and enqueueing only when a row was inserted make
 * each (endpoint, event) one delivery and one job.  The job reads the
 * delivery, sends it outside any transaction, then records the attempt and
 * the outcome in one transaction.  The backoff is computed here (the job
 * runtime is told with jobs_retry_after) so the attempt log can say when
 * the next try is due.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "app/app.h"
#include "jobs/jobq.h"
#include "util/id.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "webhooks/webhooks.h"
#include "util/curl_once.h"

static webhook_settings_t S = { 0, 8, 30000, 10000, 5 };

void webhook_configure(const webhook_settings_t *s) { S = *s; }

int64_t webhook_delivery_enqueue(db_conn_t *c, const char *delivery_id)
{
    json_t *p = json_pack("{s:s}", "delivery_id", delivery_id);
    char key[ID_MAX + 8];
    snprintf(key, sizeof key, "webhook:%s", delivery_id);
    /* backoff_ms is only the runtime's fallback: the handler sets each delay */
    jobq_opts_t o = { .max_attempts = S.max_attempts, .backoff_ms = S.backoff_ms, .unique_key = key };
    int64_t id = jobq_enqueue(c, WEBHOOK_QUEUE, p, &o);
    json_decref(p);
    return id;
}

/* ---- the consumer ---- */

DB_SQL(q_matching, "SELECT id, event_types FROM webhook_endpoints WHERE enabled = 1 AND start_after_event < $1 ORDER BY id");
DB_SQL(q_delivery_insert,
       "INSERT INTO webhook_deliveries (id, endpoint_id, msg_id, event_id, event_type, body, status, attempts,"
       " next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7)"
       " ON CONFLICT (endpoint_id, msg_id) DO NOTHING");

#define MATCH_MAX 256

/* the ids of up to max enabled endpoints that want ev; their number, or a
 * negative error */
static int matching(db_conn_t *c, const event_t *ev, char (*ids)[ID_MAX], int max)
{
    int n = 0, rc;
    db_stmt_t *st = db_query(c, &q_matching, &rc, "L", ev->id);
    if (!st) return rc;
    while (rc == DB_ROW && n < max) {
        if (webhook_types_match(db_col_text(st, 1), ev->type)) snprintf(ids[n++], ID_MAX, "%s", db_col_text(st, 0));
        if (n < max) rc = db_step(st);
    }
    db_reset(st);
    return rc < 0 ? rc : n;
}

/* {"type", "timestamp", "data"}: data is the event's payload with the
 * subject (the id of the object) added as "id" unless the payload has one. */
static char *event_body(const event_t *ev)
{
    json_t *data = json_loads(ev->payload ? ev->payload : "{}", 0, NULL);
    if (!json_is_object(data)) {
        json_decref(data);
        data = json_object();
    }
    if (ev->subject && !json_object_get(data, "id")) json_object_set_new(data, "id", json_string(ev->subject));
    char ts[32];
    json_t *b = json_pack("{s:s, s:s, s:o}", "type", ev->type, "timestamp", time_fmt_rfc3339(ts, ev->created_at), "data", data);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

/* The consumer, inside the batch's transaction: one delivery (and one job)
 * per endpoint that wants the event; a replayed event inserts nothing. */
int webhook_on_event(db_conn_t *c, const event_t *ev, void *ctx)
{
    (void)ctx;
    char ids[MATCH_MAX][ID_MAX];
    int n = matching(c, ev, ids, MATCH_MAX);
    if (n <= 0) return n; /* an endpoint added later starts after this event anyway */
    char *body = event_body(ev);
    if (!body) return -1;
    char msg_id[32];
    snprintf(msg_id, sizeof msg_id, "evt_%lld", (long long)ev->id);
    int64_t now = time_now_ms();
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char did[ID_MAX];
        id_new(did, "whd");
        int64_t ch = db_exec(c, &q_delivery_insert, "sssLssL", did, ids[i], msg_id, ev->id, ev->type, body, now);
        if (ch < 0) rc = (int)ch;
        else if (ch == 1) {
            int64_t jid = webhook_delivery_enqueue(c, did);
            if (jid < 0) rc = (int)jid;
        }
    }
    free(body);
    if (rc != 0) log_warn("webhooks", "event %lld not turned into deliveries yet (%d)", (long long)ev->id, rc);
    return rc;
}

/* ---- one HTTP attempt ---- */

typedef struct {
    long status;
    int64_t retry_after_ms; /* -1 when absent */
    int64_t duration_ms;
    char error[256];
    char refused[160];
} send_result_t;

static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
    send_result_t *r = ctx;
    (void)purpose;
    if (!S.allow_private) {
        const char *why = webhook_addr_refused(&a->addr);
        if (why) {
            char txt[INET6_ADDRSTRLEN] = "?";
            if (a->family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&a->addr)->sin_addr, txt, sizeof txt);
            else if (a->family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->addr)->sin6_addr, txt, sizeof txt);
            snprintf(r->refused, sizeof r->refused, "refused to connect to %s: a %s address (--webhook-allow-private)", txt, why);
            return CURL_SOCKET_BAD;
        }
    }
    return socket(a->family, a->socktype, a->protocol);
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    send_result_t *r = ctx;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[128];
        size_t vl = len - 12;
        if (vl >= sizeof v) vl = sizeof v - 1;
        memcpy(v, p + 12, vl);
        v[vl] = 0;
        char *s = v;
        while (*s == ' ' || *s == '\t') s++;
        char *e = s + strlen(s);
        while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ')) *--e = 0;
        char *end;
        long long secs = strtoll(s, &end, 10);
        if (*s >= '0' && *s <= '9' && !*end) {
            r->retry_after_ms = secs * 1000;
        } else {
            time_t t = curl_getdate(s, NULL);
            if (t > 0) {
                int64_t d = (int64_t)t * 1000 - time_now_ms();
                r->retry_after_ms = d > 0 ? d : 0;
            }
        }
        if (r->retry_after_ms > 86400000) r->retry_after_ms = 86400000; /* a day at most */
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n; /* the receiver's answer body is not kept */
}

static void send_once(const char *url, struct curl_slist *hdrs, const char *body, send_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after_ms = -1;
    curl_once();
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(r->error, sizeof r->error, "curl_easy_init failed");
        return;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");            /* never via a proxy from the environment */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(S.timeout_ms < 5000 ? S.timeout_ms : 5000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)S.timeout_ms);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mercato-webhooks/" MERCATO_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    int64_t t0 = time_mono_us();
    CURLcode rc = curl_easy_perform(h);
    r->duration_ms = (time_mono_us() - t0) / 1000;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    } else if (r->refused[0]) {
        snprintf(r->error, sizeof r->error, "%s", r->refused);
    } else {
        /* curl's detail when it has one, else its generic text */
        snprintf(r->error, sizeof r->error, "%.*s", (int)sizeof r->error - 1, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    curl_easy_cleanup(h);
}

/* ---- the job ---- */

DB_SQL(q_load,
       "SELECT d.status, d.msg_id, d.body, d.attempts, e.id, e.url, e.secret, e.prev_secret, e.prev_secret_until,"
       " e.enabled FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1");
DB_SQL(q_attempt_insert,
       "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code, duration_ms, error, next_retry_at)"
       " VALUES ($1, $2, $3, $4, $5, $6, NULLIF(CAST($7 AS BIGINT), 0))");
DB_SQL(q_delivery_update,
       "UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status_code = $4, last_error = $5,"
       " next_attempt_at = NULLIF(CAST($6 AS BIGINT), 0), updated_at = $7 WHERE id = $1");
DB_SQL(q_delivery_skip,
       "UPDATE webhook_deliveries SET status = 'failed', last_error = $2, next_attempt_at = NULL, updated_at = $3"
       " WHERE id = $1 AND status = 'pending'");
DB_SQL(q_endpoint_ok, "UPDATE webhook_endpoints SET failed_deliveries = 0 WHERE id = $1 AND failed_deliveries <> 0");
DB_SQL(q_endpoint_failed,
       "UPDATE webhook_endpoints SET failed_deliveries = failed_deliveries + 1 WHERE id = $1");
DB_SQL(q_endpoint_disable_after,
       "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $2, updated_at = $3"
       " WHERE id = $1 AND enabled = 1 AND failed_deliveries >= $4");
DB_SQL(q_endpoint_disable,
       "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $2, updated_at = $3 WHERE id = $1 AND enabled = 1");

typedef enum { OUT_SUCCEEDED, OUT_RETRY, OUT_FAILED, OUT_GONE } outcome_t;

typedef struct {
    const char *delivery_id;
    const char *endpoint_id;
    int attempt;
    int64_t started_at;
    const send_result_t *res;
    outcome_t outcome;
    int64_t next_retry_at; /* 0 = none */
} record_ctx_t;

static int record_tx(db_conn_t *c, void *vctx)
{
    record_ctx_t *r = vctx;
    int64_t now = time_now_ms();
    const char *err = r->res->error[0] ? r->res->error : NULL;
    char codebuf[64];
    if (!err && r->outcome != OUT_SUCCEEDED) {
        snprintf(codebuf, sizeof codebuf, "HTTP %ld", r->res->status);
        err = codebuf;
    }
    int64_t ch;
    if (r->res->status > 0)
        ch = db_exec(c, &q_attempt_insert, "siLLLsL", r->delivery_id, r->attempt, r->started_at, (int64_t)r->res->status,
                     r->res->duration_ms, err, r->next_retry_at);
    else
        ch = db_exec(c, &q_attempt_insert, "siLNLsL", r->delivery_id, r->attempt, r->started_at, r->res->duration_ms, err,
                     r->next_retry_at);
    if (ch < 0) return (int)ch;
    const char *status = r->outcome == OUT_SUCCEEDED ? "succeeded" : r->outcome == OUT_RETRY ? "pending" : "failed";
    if (r->res->status > 0)
        ch = db_exec(c, &q_delivery_update, "ssiLsLL", r->delivery_id, status, r->attempt, (int64_t)r->res->status, err,
                     r->next_retry_at, now);
    else
        ch = db_exec(c, &q_delivery_update, "ssiNsLL", r->delivery_id, status, r->attempt, err, r->next_retry_at, now);
    if (ch < 0) return (int)ch;
    if (r->outcome == OUT_SUCCEEDED) {
        ch = db_exec(c, &q_endpoint_ok, "s", r->endpoint_id);
    } else if (r->outcome == OUT_GONE) {
        ch = db_exec(c, &q_endpoint_disable, "ssL", r->endpoint_id, "the endpoint answered 410 Gone", now);
    } else if (r->outcome == OUT_FAILED) {
        ch = db_exec(c, &q_endpoint_failed, "s", r->endpoint_id);
        if (ch >= 0) {
            char why[128];
            snprintf(why, sizeof why, "%d consecutive deliveries failed after every attempt", S.disable_after);
            ch = db_exec(c, &q_endpoint_disable_after, "ssLi", r->endpoint_id, why, now, S.disable_after);
        }
    }
    return ch < 0 ? (int)ch : 0;
}

/* ---- metrics: attempts by outcome (no endpoint labels: unbounded) ---- */

static struct {
    uint64_t delivered, failed, refused, gone;
    metrics_hist_t duration;
} M;

static void render_metrics(buf_t *out, void *ctx)
{
    (void)ctx;
    metrics_family(out, "mercato_webhook_attempts_total", "counter", "Outgoing webhook HTTP attempts by outcome.");
    buf_printf(out, "mercato_webhook_attempts_total{outcome=\"delivered\"} %llu\n", (unsigned long long)metrics_get(&M.delivered));
    buf_printf(out, "mercato_webhook_attempts_total{outcome=\"failed\"} %llu\n", (unsigned long long)metrics_get(&M.failed));
    buf_printf(out, "mercato_webhook_attempts_total{outcome=\"refused\"} %llu\n", (unsigned long long)metrics_get(&M.refused));
    buf_printf(out, "mercato_webhook_attempts_total{outcome=\"gone\"} %llu\n", (unsigned long long)metrics_get(&M.gone));
    metrics_family(out, "mercato_webhook_attempt_duration_seconds", "histogram", "Duration of outgoing webhook HTTP attempts.");
    metrics_hist_render(out, "mercato_webhook_attempt_duration_seconds", "", &M.duration);
}

static int64_t backoff_ms(int attempt)
{
    int64_t d = S.backoff_ms;
    for (int i = 1; i < attempt && d < 3600000; i++) d *= 2;
    if (d > 3600000) d = 3600000;
    uint32_t r = randombytes_uniform(4001); /* +-20% jitter */
    return d + d * ((int64_t)r - 2000) / 10000;
}

static int deliver_job(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    const char *did = json_string_value(json_object_get(job->payload, "delivery_id"));
    if (!did) {
        jobs_fail(run, "payload needs \"delivery_id\"");
        return JOB_DEAD;
    }
    db_t *db = jobs_run_db(run);
    db_conn_t *c = db_acquire(db);
    if (!c) {
        jobs_fail(run, "no database connection");
        return JOB_RETRY;
    }
    int rc;
    db_stmt_t *st = db_query(c, &q_load, &rc, "s", did);
    if (!st) {
        db_release(c);
        jobs_fail(run, "cannot read delivery: %d", rc);
        return JOB_RETRY;
    }
    if (rc != DB_ROW) { /* the endpoint was deleted with its deliveries */
        db_reset(st);
        db_release(c);
        return JOB_OK;
    }
    char status[16], endpoint_id[ID_MAX], msg_id[64];
    snprintf(status, sizeof status, "%s", db_col_text(st, 0));
    snprintf(msg_id, sizeof msg_id, "%s", db_col_text(st, 1));
    char *body = strdup(db_col_text(st, 2));
    int attempt = (int)db_col_int(st, 3) + 1;
    snprintf(endpoint_id, sizeof endpoint_id, "%s", db_col_text(st, 4));
    char *url = strdup(db_col_text(st, 5));
    char secret[WEBHOOK_SECRET_MAX] = "", prev[WEBHOOK_SECRET_MAX] = "";
    snprintf(secret, sizeof secret, "%s", db_col_text(st, 6));
    if (!db_col_is_null(st, 7) && db_col_int(st, 8) > time_now_ms()) snprintf(prev, sizeof prev, "%s", db_col_text(st, 7));
    int enabled = (int)db_col_int(st, 9);
    db_reset(st);
    int result = JOB_OK;
    if (!body || !url) abort(); /* out of memory */
    if (strcmp(status, "pending") != 0) goto out; /* already finished (a stale job) */
    if (!enabled) {
        db_exec(c, &q_delivery_skip, "ssL", did, "not sent: the endpoint is disabled", time_now_ms());
        goto out;
    }
    db_release(c);
    c = NULL;

    /* sign and send */
    int64_t ts = time_now_ms() / 1000;
    char sig[WEBHOOK_SIG_MAX], sig2[WEBHOOK_SIG_MAX], hsig[2 * WEBHOOK_SIG_MAX + 32], hid[96], hts[48];
    if (webhook_sign(sig, secret, msg_id, ts, body, strlen(body)) < 0) {
        jobs_fail(run, "the endpoint's secret does not decode");
        result = JOB_DEAD;
        goto out;
    }
    if (prev[0] && webhook_sign(sig2, prev, msg_id, ts, body, strlen(body)) == 0)
        snprintf(hsig, sizeof hsig, "webhook-signature: %s %s", sig, sig2);
    else
        snprintf(hsig, sizeof hsig, "webhook-signature: %s", sig);
    snprintf(hid, sizeof hid, "webhook-id: %s", msg_id);
    snprintf(hts, sizeof hts, "webhook-timestamp: %lld", (long long)ts);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, hid);
    hdrs = curl_slist_append(hdrs, hts);
    hdrs = curl_slist_append(hdrs, hsig);
    hdrs = curl_slist_append(hdrs, "Expect:");
    send_result_t res;
    int64_t started = time_now_ms();
    send_once(url, hdrs, body, &res);
    curl_slist_free_all(hdrs);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(prev, sizeof prev);

    metrics_hist_observe_us(&M.duration, res.duration_ms * 1000);
    metrics_inc(res.refused[0]                            ? &M.refused
                : res.status >= 200 && res.status < 300 ? &M.delivered
                : res.status == 410                     ? &M.gone
                                                        : &M.failed);
    record_ctx_t rec = { did, endpoint_id, attempt, started, &res, OUT_SUCCEEDED, 0 };
    int64_t delay = 0;
    if (res.status >= 200 && res.status < 300) {
        rec.outcome = OUT_SUCCEEDED;
    } else if (res.status == 410) {
        rec.outcome = OUT_GONE;
    } else if (job->attempt < job->max_attempts) {
        rec.outcome = OUT_RETRY;
        delay = res.retry_after_ms >= 0 ? res.retry_after_ms : backoff_ms(job->attempt);
        rec.next_retry_at = time_now_ms() + delay;
    } else {
        rec.outcome = OUT_FAILED;
    }
    rc = db_tx(db, record_tx, &rec);
    if (rc != 0) log_warn("webhooks", "attempt %d of %s not recorded (%d)", attempt, did, rc);
    switch (rec.outcome) {
    case OUT_SUCCEEDED:
    case OUT_GONE:
        result = JOB_OK;
        break;
    case OUT_RETRY:
        if (res.status) jobs_fail(run, "HTTP %ld", res.status);
        else jobs_fail(run, "%s", res.error);
        result = jobs_retry_after(run, delay);
        break;
    case OUT_FAILED:
        if (res.status) jobs_fail(run, "HTTP %ld after %d attempts", res.status, attempt);
        else jobs_fail(run, "%s (after %d attempts)", res.error, attempt);
        result = JOB_DEAD;
        break;
    }
out:
    if (c) db_release(c);
    free(body);
    free(url);
    return result;
}

/* ---- retention: finished deliveries (and their attempts) go after
 * --job-retention, like finished jobs, so the log does not grow without end */

/* in batches (db_exec_batches); no index on updated_at: each batch reads
 * the table from its oldest rows, which are the ones deleted */
DB_SQL(q_purge, "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries"
                " WHERE status <> 'pending' AND updated_at < $1 LIMIT $2)");

static int64_t g_retention_ms = INT64_C(168) * 3600 * 1000;

static int purge_job(job_run_t *run, const job_t *job, void *ctx)
{
    (void)job;
    (void)ctx;
    db_conn_t *c = db_acquire(jobs_run_db(run));
    if (!c) return JOB_RETRY;
    int64_t n = db_exec_batches(c, &q_purge, DB_PURGE_BATCH, "L", time_now_ms() - g_retention_ms);
    db_release(c);
    if (n < 0) {
        jobs_fail(run, "purge failed: %lld", (long long)n);
        return JOB_RETRY;
    }
    if (n > 0) log_info("webhooks", "purged %lld finished deliveries", (long long)n);
    return JOB_OK;
}

void webhook_jobs(jobs_t *rt, app_t *app)
{
    config_t *cfg = app->cfg;
    webhook_settings_t s = {
        .allow_private = cfg->webhook_allow_private,
        .max_attempts = (int)cfg->webhook_max_attempts,
        .backoff_ms = cfg->webhook_backoff_ms,
        .timeout_ms = cfg->webhook_timeout * 1000,
        .disable_after = (int)cfg->webhook_disable_after,
    };
    webhook_configure(&s);
    jobs_register(rt, WEBHOOK_QUEUE, deliver_job, app);
    metrics_register(render_metrics, NULL);
    jobs_consume_events(rt, "webhooks", webhook_on_event, app);
    g_retention_ms = cfg->job_retention * 3600 * 1000;
    jobs_register(rt, "webhooks.purge", purge_job, NULL);
    jobs_schedule(rt, "webhooks.purge", "23 * * * *", "webhooks.purge", NULL);
}
