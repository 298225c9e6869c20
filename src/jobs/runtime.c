/*
 * runtime.c — worker threads, the scheduler thread and the event watcher
 * (see runtime.h and jobq.h).
 *
 * DESIGN
 * Workers claim up to `batch` ready jobs in one statement (UPDATE ...
 * RETURNING; FOR UPDATE SKIP LOCKED on PostgreSQL), run the handlers one by
 * one, then write all outcomes in one transaction.  A job's lease is kept
 * alive by the scheduler thread, which extends every lease held by this
 * runtime's workers each lease/3; it also re-queues jobs whose lease expired
 * (their worker died), fires cron schedules with a compare-and-set on
 * next_run_at (exactly one instance wins each slot), and runs shared event
 * consumers under a lease row.  A third thread polls the event log for local
 * watchers.  Completion is guarded by locked_by so a worker that lost its
 * lease cannot complete a job another worker has taken over.
 */
#include "jobs/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "jobs/cron.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"
#include "util/sched.h"
#include "util/timeutil.h"

#define MAX_HANDLERS 64
#define MAX_SCHEDULES 64
#define MAX_CONSUMERS 32
/* events per consumer transaction, and batches per round */
#define CONSUME_BATCH 200
#define CONSUME_ROUNDS 10
#define MAX_WATCHERS 32
#define MAX_SWEEPS 8
#define MAX_BATCH 256
#define ERR_HISTORY 20

typedef struct handler {
    char *queue;
    job_handler_fn fn;
    job_tx_handler_fn tx_fn; /* or this: runs inside the outcomes' transaction */
    void *ctx;
    uint64_t completed, failed, dead;
    metrics_hist_t duration;
} handler_t;

typedef struct schedule {
    char *name, *expr, *queue, *payload;
    cron_t cron;
} schedule_t;

typedef struct consumer {
    char *name;
    event_consumer_fn fn;
    void *ctx;
    int64_t held_until; /* our lease on the cursor row, as we wrote it (0 = not ours) */
    int64_t last;       /* the cursor, valid while we hold the lease */
    uint64_t consumed;  /* events handled by this process (metric) */
} consumer_t;

typedef struct watcher {
    event_watch_fn fn;
    void *ctx;
} watcher_t;

typedef struct claimed {
    int64_t id;
    char *queue;
    char *payload;
    char *traceparent;
    int attempts, max_attempts, priority;
    int64_t backoff_ms;
    /* outcome */
    int result;
    char *error;
    int64_t retry_delay; /* -1: exponential backoff */
    int64_t again_delay; /* JOB_AGAIN: run again after this long ... */
    char *again_payload; /* ... with this payload (NULL: the same) */
    int ran;
    int in_tx; /* a transactional handler's job: runs in write_outcomes */
    int64_t tx_us; /* its handler's time in the run that committed (observed after the commit) */
} claimed_t;

typedef struct worker {
    struct jobs *rt;
    int index;
    char id[160];
    pthread_t thread;
    int started;
} worker_t;

struct job_run {
    struct jobs *rt;
    worker_t *w;
    claimed_t *cj;
    char err[1024];
    int has_err;
    int64_t retry_delay;
    int64_t again_delay;
    char *again_payload;
};

struct jobs {
    db_t *db;
    jobs_opts_t opts;
    char base_id[128];
    handler_t handlers[MAX_HANDLERS];
    int nhandlers;
    handler_t other; /* jobs of unknown queues */
    schedule_t schedules[MAX_SCHEDULES];
    int nschedules;
    consumer_t consumers[MAX_CONSUMERS];
    int nconsumers;
    watcher_t watchers[MAX_WATCHERS];
    int nwatchers;
    struct {
        jobs_sweep_fn fn;
        void *ctx;
        int64_t period_ms, last;
    } sweeps[MAX_SWEEPS];
    int nsweeps;
    worker_t *workers;
    pthread_t sched_thread, watch_thread, listen_thread;
    int sched_started, watch_started, listen_started;
    uint64_t ev_seen; /* g_ev_seq when the scheduler last looked */
    atomic_int stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t lease_expired, sched_fired;
};

/* ---------- SQL ---------- */

/* Claims go one priority at a time so each is a range scan of the ready
 * jobs only (index jobs_ready: priority = $5 AND run_at <= now): with the
 * priority left open, the scan walked past every delayed job (an
 * orders.expire per pending order) whenever fewer than `batch` were ready —
 * a millisecond per claim at 10,000 delayed jobs, inside SQLite's write lock. */
DB_SQL2(q_claim,
        "UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1,"
        " updated_at = $3 WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND priority = $5"
        " AND run_at <= $3 ORDER BY run_at, id LIMIT $4)"
        " RETURNING id, queue, payload, attempts, max_attempts, backoff_ms, traceparent, priority",
        "UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1,"
        " updated_at = $3 WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND priority = $5"
        " AND run_at <= $3 ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)"
        " RETURNING id, queue, payload, attempts, max_attempts, backoff_ms, traceparent, priority");
/* with several priorities, one whose jobs are all delayed is skipped with
 * a read instead of an UPDATE that takes the write lock to change nothing */
DB_SQL(q_prio_ready, "SELECT 1 FROM jobs WHERE state = 'queued' AND priority = $1 AND run_at <= $2 LIMIT 1");
/* the distinct priorities of queued jobs, highest first: one index seek each */
DB_SQL(q_priorities,
       "WITH RECURSIVE p(v) AS (SELECT MAX(priority) FROM jobs WHERE state = 'queued'"
       " UNION ALL SELECT (SELECT MAX(priority) FROM jobs WHERE state = 'queued' AND priority < p.v)"
       " FROM p WHERE p.v IS NOT NULL) SELECT v FROM p WHERE v IS NOT NULL LIMIT 16");
DB_SQL(q_complete, "UPDATE jobs SET state = 'completed', locked_by = NULL, locked_until = NULL,"
                   " finished_at = $3, updated_at = $3 WHERE id = $1 AND locked_by = $2 AND state = 'running'");
/* all successful jobs of a batch in one statement: ids as a JSON array (SQLite)
 * or an array literal (PostgreSQL) */
DB_SQL2(q_complete_many,
        "UPDATE jobs SET state = 'completed', locked_by = NULL, locked_until = NULL, finished_at = $3, updated_at = $3"
        " WHERE locked_by = $2 AND state = 'running' AND id IN (SELECT value FROM json_each($1))",
        "UPDATE jobs SET state = 'completed', locked_by = NULL, locked_until = NULL, finished_at = $3, updated_at = $3"
        " WHERE locked_by = $2 AND state = 'running' AND id = ANY (CAST($1 AS BIGINT[]))");
DB_SQL(q_errors, "SELECT errors FROM jobs WHERE id = $1");
DB_SQL(q_fail, "UPDATE jobs SET state = $3, run_at = $4, last_error = $5, errors = $6, locked_by = NULL,"
               " locked_until = NULL, updated_at = $7, finished_at = CASE WHEN $3 = 'dead' THEN CAST($7 AS BIGINT) ELSE NULL END"
               " WHERE id = $1 AND locked_by = $2 AND state = 'running'");
DB_SQL(q_release, "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until = NULL,"
                  " attempts = attempts - 1, updated_at = $3 WHERE id = $1 AND locked_by = $2 AND state = 'running'");
/* JOB_AGAIN: the same row, queued for its next step */
DB_SQL(q_again, "UPDATE jobs SET state = 'queued', run_at = $3, payload = COALESCE($4, payload), attempts = 0,"
                " locked_by = NULL, locked_until = NULL, updated_at = $5"
                " WHERE id = $1 AND locked_by = $2 AND state = 'running'");
DB_SQL(q_heartbeat, "UPDATE jobs SET locked_until = $1 WHERE locked_by = $2 AND state = 'running'");
DB_SQL(q_expired, "SELECT id, attempts, max_attempts, backoff_ms, locked_by FROM jobs"
                  " WHERE state = 'running' AND locked_until < $1 ORDER BY locked_until LIMIT 100");
DB_SQL(q_sched_upsert,
       "INSERT INTO job_schedules (name, cron, queue, payload, next_run_at, enabled, updated_at)"
       " VALUES ($1, $2, $3, $4, $5, 1, $6)"
       " ON CONFLICT (name) DO UPDATE SET queue = excluded.queue, payload = excluded.payload,"
       " next_run_at = CASE WHEN job_schedules.cron = excluded.cron THEN job_schedules.next_run_at"
       " ELSE excluded.next_run_at END, cron = excluded.cron, updated_at = excluded.updated_at");
DB_SQL(q_sched_due, "SELECT name, next_run_at FROM job_schedules WHERE enabled = 1 AND next_run_at <= $1");
DB_SQL(q_sched_cas, "UPDATE job_schedules SET next_run_at = $3, last_run_at = $2, updated_at = $4"
                    " WHERE name = $1 AND next_run_at = $2");
DB_SQL(q_cons_init, "INSERT INTO event_consumers (name, last_id, updated_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (name) DO NOTHING");
DB_SQL(q_cons_lease, "UPDATE event_consumers SET locked_by = $2, locked_until = $3"
                     " WHERE name = $1 AND (locked_by IS NULL OR locked_by = $2 OR locked_until < $4)");
DB_SQL(q_cons_cursor, "SELECT last_id FROM event_consumers WHERE name = $1");
DB_SQL(q_cons_release, "UPDATE event_consumers SET locked_by = NULL, locked_until = NULL WHERE locked_by = $1");
DB_SQL(q_cons_save, "UPDATE event_consumers SET last_id = $2, updated_at = $3 WHERE name = $1 AND locked_by = $4");
/* Queue depth for /metrics.  "WHERE state IN (...) GROUP BY queue, state"
 * read all of jobs_queue_state, finished jobs too (kept --job-retention
 * hours): ~190 ms per scrape with 2 million of them.  Here the queues are
 * found by skipping from one to the next in that index and each (queue,
 * state) is counted in its own range: the work grows with the live jobs
 * and the number of queues only (0.15 ms on the same table). */
DB_SQL(q_depth,
       "WITH RECURSIVE qs(name) AS (SELECT MIN(queue) FROM jobs"
       " UNION ALL SELECT (SELECT MIN(queue) FROM jobs WHERE queue > qs.name) FROM qs WHERE qs.name IS NOT NULL)"
       " SELECT name, state, n FROM (SELECT qs.name AS name, st.state AS state,"
       " (SELECT COUNT(*) FROM jobs WHERE queue = qs.name AND state = st.state) AS n"
       " FROM qs, (SELECT 'queued' AS state UNION ALL SELECT 'running' UNION ALL SELECT 'dead') AS st"
       " WHERE qs.name IS NOT NULL) AS d WHERE n > 0 ORDER BY name, state");
DB_SQL(q_purge_jobs, "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('completed', 'discarded')"
                     " AND finished_at < $1 LIMIT 5000)");
/* the log's oldest rows, by id (ids grow with time), older than the cutoff
 * and consumed: no index on created_at, which every event would write
 * (migration 0015); a young row among the oldest (clocks of two instances)
 * is skipped, and a batch of only young rows means nothing older is left */
DB_SQL(q_purge_events, "DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, created_at FROM events"
                       " WHERE id <= (SELECT COALESCE(MIN(last_id), 0) FROM event_consumers) ORDER BY id LIMIT 5000)"
                       " AS oldest WHERE created_at < $1)");
DB_SQL(q_purge_events_nocons, "DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, created_at FROM events"
                              " ORDER BY id LIMIT 5000) AS oldest WHERE created_at < $1)");
DB_SQL(q_cons_count, "SELECT COUNT(*) FROM event_consumers");
/* events after each cursor: ids are dense enough (a gap is an id taken by
 * a rolled-back append) for the difference to be the backlog */
DB_SQL(q_cons_lag, "SELECT name, (SELECT COALESCE(MAX(id), 0) FROM events) - last_id FROM event_consumers ORDER BY name");

/* ---------- helpers ---------- */

static handler_t *find_handler(jobs_t *rt, const char *queue)
{
    for (int i = 0; i < rt->nhandlers; i++)
        if (strcmp(rt->handlers[i].queue, queue) == 0) return &rt->handlers[i];
    return NULL;
}

/* Committed events wake the consumer loop at once, at most every
 * CONSUMER_MIN_GAP_MS, instead of it finding them on its next round: this
 * process's commits through the storage layer's commit hook, other
 * processes' on PostgreSQL through LISTEN (listen_main). Process-wide (a
 * sequence number every runtime compares with the one it last saw), so the
 * hook never points into a freed runtime. */
#define CONSUMER_MIN_GAP_MS 20
static pthread_mutex_t g_ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ev_cv = PTHREAD_COND_INITIALIZER;
static uint64_t g_ev_seq, g_ev_stop_gen;

static void on_commit(unsigned marks)
{
    if (!(marks & EVENTS_TXMARK_APPENDED)) return;
    pthread_mutex_lock(&g_ev_mu);
    g_ev_seq++;
    pthread_cond_broadcast(&g_ev_cv);
    pthread_mutex_unlock(&g_ev_mu);
}

static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* the scheduler's pause: up to ms, less when an event was committed since
 * this runtime last looked; returns whether one was */
static int wait_events(jobs_t *rt, int64_t ms)
{
    struct timespec ts = deadline_in(ms);
    pthread_mutex_lock(&g_ev_mu);
    uint64_t gen = g_ev_stop_gen;
    while (g_ev_seq == rt->ev_seen && gen == g_ev_stop_gen && !atomic_load(&rt->stopping))
        if (pthread_cond_timedwait(&g_ev_cv, &g_ev_mu, &ts) != 0) break;
    int woken = g_ev_seq != rt->ev_seen;
    rt->ev_seen = g_ev_seq;
    pthread_mutex_unlock(&g_ev_mu);
    return woken;
}

static void wake_schedulers(void)
{
    pthread_mutex_lock(&g_ev_mu);
    g_ev_stop_gen++;
    pthread_cond_broadcast(&g_ev_cv);
    pthread_mutex_unlock(&g_ev_mu);
}

static void sleep_ms(jobs_t *rt, int64_t ms)
{
    struct timespec ts = deadline_in(ms);
    pthread_mutex_lock(&rt->mu);
    if (!atomic_load(&rt->stopping)) pthread_cond_timedwait(&rt->cv, &rt->mu, &ts);
    pthread_mutex_unlock(&rt->mu);
}

/* backoff_ms * 2^(attempt-1), +-20% jitter, capped at an hour */
static int64_t backoff_delay(int64_t base, int attempt)
{
    int64_t d = base;
    for (int i = 1; i < attempt && d < 3600000; i++) d *= 2;
    if (d > 3600000) d = 3600000;
    int64_t span = d / 5;
    if (span > 0) d += (int64_t)randombytes_uniform((uint32_t)(2 * span + 1)) - span;
    return d < 0 ? 0 : d;
}

/* ---------- handler API ---------- */

void jobs_fail(job_run_t *run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->err, sizeof run->err, fmt, ap);
    va_end(ap);
    run->has_err = 1;
}

db_t *jobs_run_db(job_run_t *run) { return run->rt->db; }

void jobs_heartbeat(job_run_t *run)
{
    db_conn_t *c = db_acquire(run->rt->db);
    if (!c) return;
    db_exec(c, &q_heartbeat, "Ls", time_now_ms() + run->rt->opts.lease_ms, run->w->id);
    db_release(c);
}

int jobs_retry_after(job_run_t *run, int64_t delay_ms)
{
    run->retry_delay = delay_ms < 0 ? 0 : delay_ms;
    return JOB_RETRY;
}

int jobs_again(job_run_t *run, int64_t delay_ms, json_t *payload)
{
    run->again_delay = delay_ms < 0 ? 0 : delay_ms;
    free(run->again_payload);
    run->again_payload = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    return JOB_AGAIN;
}

/* ---------- registration ---------- */

jobs_t *jobs_new(db_t *db, const jobs_opts_t *opts)
{
    jobs_t *rt = xcalloc(1, sizeof *rt);
    rt->db = db;
    if (opts) rt->opts = *opts;
    if (rt->opts.batch <= 0) rt->opts.batch = 32;
    if (rt->opts.batch > MAX_BATCH) rt->opts.batch = MAX_BATCH;
    if (rt->opts.lease_ms <= 0) rt->opts.lease_ms = 30000;
    if (rt->opts.poll_ms <= 0) rt->opts.poll_ms = 200;
    if (rt->opts.retention_ms <= 0) rt->opts.retention_ms = 7LL * 24 * 3600 * 1000;
    if (rt->opts.watch_ms <= 0) rt->opts.watch_ms = 25;
    if (rt->opts.consumer_ms <= 0) rt->opts.consumer_ms = 200;
    if (rt->opts.worker_id && rt->opts.worker_id[0]) {
        snprintf(rt->base_id, sizeof rt->base_id, "%s", rt->opts.worker_id);
    } else {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        unsigned char r[4];
        randombytes_buf(r, sizeof r);
        snprintf(rt->base_id, sizeof rt->base_id, "%s:%d:%02x%02x%02x%02x", host, (int)getpid(), r[0], r[1], r[2],
                 r[3]);
    }
    rt->opts.worker_id = NULL;
    rt->other.queue = xstrdup("other");
    pthread_mutex_init(&rt->mu, NULL);
    pthread_cond_init(&rt->cv, NULL);
    return rt;
}

void jobs_free(jobs_t *rt)
{
    if (!rt) return;
    for (int i = 0; i < rt->nhandlers; i++) free(rt->handlers[i].queue);
    for (int i = 0; i < rt->nschedules; i++) {
        free(rt->schedules[i].name);
        free(rt->schedules[i].expr);
        free(rt->schedules[i].queue);
        free(rt->schedules[i].payload);
    }
    for (int i = 0; i < rt->nconsumers; i++) free(rt->consumers[i].name);
    free(rt->other.queue);
    free(rt->workers);
    pthread_mutex_destroy(&rt->mu);
    pthread_cond_destroy(&rt->cv);
    free(rt);
}

void jobs_register(jobs_t *rt, const char *queue, job_handler_fn fn, void *ctx)
{
    handler_t *h = find_handler(rt, queue);
    if (!h) {
        if (rt->nhandlers >= MAX_HANDLERS) {
            log_error("jobs", "too many job queues; %s not registered", queue);
            return;
        }
        h = &rt->handlers[rt->nhandlers++];
        h->queue = xstrdup(queue);
    }
    h->fn = fn;
    h->tx_fn = NULL;
    h->ctx = ctx;
}

void jobs_register_tx(jobs_t *rt, const char *queue, job_tx_handler_fn fn, void *ctx)
{
    jobs_register(rt, queue, NULL, ctx);
    handler_t *h = find_handler(rt, queue);
    if (h) h->tx_fn = fn;
}

int jobs_schedule(jobs_t *rt, const char *name, const char *expr, const char *queue, json_t *payload)
{
    char err[160];
    cron_t cr;
    if (cron_parse(&cr, expr, err, sizeof err) < 0) {
        log_error("jobs", "schedule %s: %s", name, err);
        return -1;
    }
    if (rt->nschedules >= MAX_SCHEDULES) return -1;
    schedule_t *s = &rt->schedules[rt->nschedules++];
    s->name = xstrdup(name);
    s->expr = xstrdup(expr);
    s->queue = xstrdup(queue);
    char *p = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    s->payload = xstrdup(p ? p : "{}");
    free(p);
    s->cron = cr;
    return 0;
}

void jobs_consume_events(jobs_t *rt, const char *name, event_consumer_fn fn, void *ctx)
{
    if (rt->nconsumers >= MAX_CONSUMERS) return;
    consumer_t *c = &rt->consumers[rt->nconsumers++];
    c->name = xstrdup(name);
    c->fn = fn;
    c->ctx = ctx;
}

void jobs_sweep(jobs_t *rt, int64_t period_ms, jobs_sweep_fn fn, void *ctx)
{
    if (rt->nsweeps >= MAX_SWEEPS) return;
    rt->sweeps[rt->nsweeps].fn = fn;
    rt->sweeps[rt->nsweeps].ctx = ctx;
    rt->sweeps[rt->nsweeps].period_ms = period_ms > 0 ? period_ms : 1000;
    rt->sweeps[rt->nsweeps].last = 0;
    rt->nsweeps++;
}

void jobs_watch_events(jobs_t *rt, event_watch_fn fn, void *ctx)
{
    if (rt->nwatchers >= MAX_WATCHERS) return;
    rt->watchers[rt->nwatchers].fn = fn;
    rt->watchers[rt->nwatchers].ctx = ctx;
    rt->nwatchers++;
}

void jobs_notify(jobs_t *rt)
{
    pthread_mutex_lock(&rt->mu);
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

/* ---------- workers ---------- */

static void claimed_free(claimed_t *cj, int n)
{
    for (int i = 0; i < n; i++) {
        free(cj[i].queue);
        free(cj[i].payload);
        free(cj[i].traceparent);
        free(cj[i].error);
        free(cj[i].again_payload);
    }
}

typedef struct claim_ctx {
    jobs_t *rt;
    worker_t *w;
    claimed_t *out;
    int64_t now;
    int64_t prio[16]; /* the queued jobs' priorities, highest first */
    int np;
    int n; /* claimed so far */
} claim_ctx_t;

/* The claiming UPDATEs, one priority at a time.  A transaction fn: on
 * SQLite it joins a group commit (one COMMIT with the requests' writes
 * instead of one of its own), and may run again if its group cannot be
 * kept, so it starts from nothing each time. */
static int claim_tx(db_conn_t *c, void *arg)
{
    claim_ctx_t *x = arg;
    jobs_t *rt = x->rt;
    claimed_t *out = x->out;
    claimed_free(out, x->n);
    x->n = 0;
    int rc = 0, n = 0;
    int want = rt->opts.batch < MAX_BATCH ? rt->opts.batch : MAX_BATCH;
    for (int k = 0; k < x->np && n < want; k++) {
        db_stmt_t *st;
        if (x->np > 1) {
            st = db_query(c, &q_prio_ready, &rc, "LL", x->prio[k], x->now);
            if (!st) break;
            db_reset(st);
            if (rc < 0) break;
            if (rc != DB_ROW) continue;
        }
        st = db_query(c, &q_claim, &rc, "sLLiL", x->w->id, x->now + rt->opts.lease_ms, x->now, want - n, x->prio[k]);
        if (!st) break;
        while (rc == DB_ROW && n < MAX_BATCH) {
            claimed_t *j = &out[n++];
            memset(j, 0, sizeof *j);
            j->id = db_col_int(st, 0);
            j->queue = xstrdup(db_col_text(st, 1));
            j->payload = xstrdup(db_col_text(st, 2) ? db_col_text(st, 2) : "{}");
            j->attempts = (int)db_col_int(st, 3);
            j->max_attempts = (int)db_col_int(st, 4);
            j->backoff_ms = db_col_int(st, 5);
            j->traceparent = db_col_is_null(st, 6) ? NULL : xstrdup(db_col_text(st, 6));
            j->priority = (int)db_col_int(st, 7);
            j->retry_delay = -1;
            rc = db_step(st);
        }
        db_reset(st);
        if (rc < 0) break;
    }
    x->n = n;
    if (rc < 0) {
        claimed_free(out, n);
        x->n = 0;
        return rc;
    }
    return 0;
}

static int claim(jobs_t *rt, worker_t *w, db_conn_t *c, claimed_t *out)
{
    claim_ctx_t x = { .rt = rt, .w = w, .out = out, .now = time_now_ms() };
    int rc;
    /* which priorities have queued jobs: a read, so an idle poll never
     * takes the write lock */
    db_stmt_t *st = db_query(c, &q_priorities, &rc, "");
    if (!st) return rc;
    while (rc == DB_ROW && x.np < 16) {
        x.prio[x.np++] = db_col_int(st, 0);
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) return rc;
    if (x.np == 0) return 0;
    /* PostgreSQL: each UPDATE commits by itself (FOR UPDATE SKIP LOCKED
     * lets workers claim side by side); SQLite: one grouped transaction */
    rc = db_kind(rt->db) == DB_SQLITE ? db_tx(rt->db, claim_tx, &x) : claim_tx(c, &x);
    if (rc < 0) { /* e.g. the fn ran but its COMMIT failed: nothing is claimed */
        claimed_free(out, x.n);
        return rc;
    }
    int n = x.n;
    /* RETURNING order is unspecified: run in priority order */
    for (int i = 1; i < n; i++) {
        claimed_t t = out[i];
        int k = i - 1;
        while (k >= 0 && (out[k].priority < t.priority || (out[k].priority == t.priority && out[k].id > t.id))) {
            out[k + 1] = out[k];
            k--;
        }
        out[k + 1] = t;
    }
    return n;
}

/* Runs cj's handler; c is the transaction a transactional handler writes
 * in (NULL for the others). */
static void run_one(jobs_t *rt, worker_t *w, claimed_t *cj, db_conn_t *c)
{
    handler_t *h = find_handler(rt, cj->queue);
    cj->ran = 1;
    if (!h || (!h->fn && !h->tx_fn)) {
        cj->result = JOB_RETRY;
        cj->error = xstrdup("no handler is registered for this queue in this process");
        cj->retry_delay = 10000;
        return;
    }
    json_error_t jerr;
    json_t *payload = json_loads(cj->payload, 0, &jerr);
    if (!payload) {
        cj->result = JOB_DEAD;
        cj->error = xstrdup("payload is not valid JSON");
        return;
    }
    job_run_t run = { .rt = rt, .w = w, .cj = cj, .retry_delay = -1 };
    job_t job = {
        .id = cj->id,
        .queue = cj->queue,
        .payload = payload,
        .attempt = cj->attempts,
        .max_attempts = cj->max_attempts,
        .traceparent = cj->traceparent,
    };
    char jobid[32];
    snprintf(jobid, sizeof jobid, "job_%lld", (long long)cj->id);
    char trace[33] = "";
    if (cj->traceparent && strlen(cj->traceparent) >= 35) {
        memcpy(trace, cj->traceparent + 3, 32);
        trace[32] = '\0';
    }
    log_set_context(jobid, trace[0] ? trace : NULL);
    log_set_traceparent(cj->traceparent);
    int64_t t0 = time_mono_us();
    int rc = c && h->tx_fn ? h->tx_fn(c, &run, &job, h->ctx) : h->fn ? h->fn(&run, &job, h->ctx) : JOB_RETRY;
    if (c) cj->tx_us = time_mono_us() - t0; /* its transaction may run again: counted once it commits */
    else metrics_hist_observe_us(&h->duration, time_mono_us() - t0);
    log_set_context(NULL, NULL);
    log_set_traceparent(NULL);
    json_decref(payload);
    cj->result = rc == JOB_OK ? JOB_OK : rc == JOB_AGAIN ? JOB_AGAIN : rc == JOB_DEAD ? JOB_DEAD : JOB_RETRY;
    if (cj->result < 0) cj->error = xstrdup(run.has_err ? run.err : "the handler failed without a message");
    cj->retry_delay = run.retry_delay;
    cj->again_delay = run.again_delay;
    if (cj->result == JOB_AGAIN) {
        cj->again_payload = run.again_payload;
        run.again_payload = NULL;
    }
    free(run.again_payload);
}

/* Writes a failure: next attempt or dead, with the error appended to history. */
static int record_failure(jobs_t *rt, db_conn_t *c, const char *locked_by, int64_t id, int attempts,
                          int max_attempts, int64_t backoff_ms, int64_t retry_delay, int force_dead,
                          const char *error, int *went_dead)
{
    int64_t now = time_now_ms();
    int rc;
    db_stmt_t *st = db_query(c, &q_errors, &rc, "L", id);
    if (!st) return rc;
    json_t *hist = rc == DB_ROW && db_col_text(st, 0) ? json_loads(db_col_text(st, 0), 0, NULL) : NULL;
    db_reset(st);
    if (!json_is_array(hist)) {
        json_decref(hist);
        hist = json_array();
    }
    char ts[32];
    json_array_append_new(hist, json_pack("{s:i, s:s, s:s}", "attempt", attempts, "at", time_fmt_rfc3339(ts, now),
                                          "error", error));
    while (json_array_size(hist) > ERR_HISTORY) json_array_remove(hist, 0);
    char *htext = json_dumps(hist, JSON_COMPACT);
    json_decref(hist);
    int dead = force_dead || attempts >= max_attempts;
    int64_t delay = retry_delay >= 0 ? retry_delay : backoff_delay(backoff_ms, attempts);
    int64_t n = db_exec(c, &q_fail, "LssLssL", id, locked_by, dead ? "dead" : "queued", now + delay, error, htext,
                        now);
    (void)rt;
    free(htext);
    *went_dead = dead;
    return n < 0 ? (int)n : 0;
}

typedef struct outcome_ctx {
    jobs_t *rt;
    worker_t *w;
    claimed_t *cj;
    int n;
} outcome_ctx_t;

DB_SQL(q_job_savepoint, "SAVEPOINT job");
DB_SQL(q_job_release, "RELEASE job");
DB_SQL(q_job_rollback_to, "ROLLBACK TO job");

/* A transactional handler's job, in its own savepoint: what it wrote is
 * kept only when it succeeded, and commits with its completion. */
static int run_in_tx(outcome_ctx_t *o, db_conn_t *c, claimed_t *j)
{
    free(j->error); /* this fn may run again after a busy retry */
    j->error = NULL;
    free(j->again_payload);
    j->again_payload = NULL;
    if (db_exec(c, &q_job_savepoint, "") < 0) return DB_ERR;
    run_one(o->rt, o->w, j, c);
    if (j->result >= 0) return db_exec(c, &q_job_release, "") < 0 ? DB_ERR : 0;
    return db_exec(c, &q_job_rollback_to, "") < 0 || db_exec(c, &q_job_release, "") < 0 ? DB_ERR : 0;
}

static int write_outcomes(db_conn_t *c, void *arg)
{
    outcome_ctx_t *o = arg;
    for (int i = 0; i < o->n; i++) {
        if (!o->cj[i].in_tx) continue;
        int rc = run_in_tx(o, c, &o->cj[i]);
        if (rc < 0) return rc;
    }
    int64_t now = time_now_ms();
    int pg = db_conn_kind(c) == DB_POSTGRES;
    char ids[MAX_BATCH * 21 + 4];
    size_t off = 0;
    int nok = 0;
    ids[off++] = pg ? '{' : '[';
    for (int i = 0; i < o->n; i++)
        if (o->cj[i].ran && o->cj[i].result == JOB_OK)
            off += (size_t)snprintf(ids + off, sizeof ids - off, "%s%lld", nok++ ? "," : "", (long long)o->cj[i].id);
    ids[off++] = pg ? '}' : ']';
    ids[off] = '\0';
    if (nok > 1) {
        int64_t r = db_exec(c, &q_complete_many, "ssL", ids, o->w->id, now);
        if (r < 0) return (int)r;
        if (r < nok) log_warn("jobs", "%d jobs finished after their lease was lost; not marked completed", (int)(nok - r));
    }
    for (int i = 0; i < o->n; i++) {
        claimed_t *j = &o->cj[i];
        if (!j->ran) {
            if (db_exec(c, &q_release, "LsL", j->id, o->w->id, now) < 0) return DB_EBUSY;
            continue;
        }
        if (j->result == JOB_OK) {
            if (nok > 1) continue;
            int64_t r = db_exec(c, &q_complete, "LsL", j->id, o->w->id, now);
            if (r < 0) return (int)r;
            if (r == 0) log_warn("jobs", "job_%lld finished after its lease was lost; not marked completed", (long long)j->id);
        } else if (j->result == JOB_AGAIN) {
            int64_t r = db_exec(c, &q_again, "LsLsL", j->id, o->w->id, now + j->again_delay, j->again_payload, now);
            if (r < 0) return (int)r;
            if (r == 0) log_warn("jobs", "job_%lld finished after its lease was lost; not queued again", (long long)j->id);
        } else {
            int dead;
            int rc = record_failure(o->rt, c, o->w->id, j->id, j->attempts, j->max_attempts, j->backoff_ms,
                                    j->retry_delay, j->result == JOB_DEAD, j->error, &dead);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

static void count_outcomes(jobs_t *rt, claimed_t *cj, int n)
{
    for (int i = 0; i < n; i++) {
        if (!cj[i].ran) continue;
        handler_t *h = find_handler(rt, cj[i].queue);
        if (!h) h = &rt->other;
        if (cj[i].in_tx) metrics_hist_observe_us(&h->duration, cj[i].tx_us);
        if (cj[i].result >= 0) { /* JOB_AGAIN too: the attempt succeeded */
            metrics_inc(&h->completed);
        } else {
            int dead = cj[i].result == JOB_DEAD || cj[i].attempts >= cj[i].max_attempts;
            metrics_inc(dead ? &h->dead : &h->failed);
            log_warn("jobs", "job_%lld (%s) attempt %d/%d failed%s: %s", (long long)cj[i].id, cj[i].queue,
                     cj[i].attempts, cj[i].max_attempts, dead ? " for good (dead)" : "", cj[i].error);
        }
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    jobs_t *rt = w->rt;
    sched_batch_join();
    claimed_t *cj = xcalloc(MAX_BATCH, sizeof *cj);
    int64_t idle_ms = 5;
    while (!atomic_load(&rt->stopping)) {
        db_conn_t *c = db_acquire(rt->db);
        if (!c) {
            sleep_ms(rt, 1000);
            continue;
        }
        int n = claim(rt, w, c, cj);
        db_release(c);
        if (n <= 0) {
            if (n < 0) {
                log_error("jobs", "claim failed (%d); backing off", n);
                sleep_ms(rt, 1000);
            } else {
                /* idle: poll with a short, growing interval */
                sleep_ms(rt, idle_ms);
                idle_ms = idle_ms * 2 > rt->opts.poll_ms ? rt->opts.poll_ms : idle_ms * 2;
            }
            continue;
        }
        idle_ms = 5;
        int in_tx = 0;
        for (int i = 0; i < n; i++) {
            if (atomic_load(&rt->stopping)) break; /* drain: the rest are released */
            handler_t *h = find_handler(rt, cj[i].queue);
            if (h && h->tx_fn) cj[i].in_tx = 1, in_tx++; /* runs with the outcomes */
            else run_one(rt, w, &cj[i], NULL);
        }
        outcome_ctx_t o = { rt, w, cj, n };
        int rc = db_tx(rt->db, write_outcomes, &o);
        if (rc != 0) log_error("jobs", "could not record %d job outcomes (%d); their leases will expire", n, rc);
        else count_outcomes(rt, cj, n);
        if (rc == 0 && in_tx) jobs_notify(rt); /* their writes may have enqueued jobs due now */
        claimed_free(cj, n);
    }
    free(cj);
    return NULL;
}

/* ---------- scheduler thread: leases, cron, shared consumers ---------- */

static void heartbeat_all(jobs_t *rt, db_conn_t *c)
{
    int64_t until = time_now_ms() + rt->opts.lease_ms;
    for (int i = 0; i < rt->opts.workers; i++) db_exec(c, &q_heartbeat, "Ls", until, rt->workers[i].id);
}

typedef struct expired {
    int64_t id, backoff;
    int attempts, max_attempts;
    char *locked_by;
} expired_t;

static void reap_expired(jobs_t *rt, db_conn_t *c)
{
    int rc;
    int64_t now = time_now_ms();
    db_stmt_t *st = db_query(c, &q_expired, &rc, "L", now);
    if (!st) return;
    expired_t ex[100];
    int n = 0;
    while (rc == DB_ROW && n < 100) {
        ex[n].id = db_col_int(st, 0);
        ex[n].attempts = (int)db_col_int(st, 1);
        ex[n].max_attempts = (int)db_col_int(st, 2);
        ex[n].backoff = db_col_int(st, 3);
        ex[n].locked_by = xstrdup(db_col_text(st, 4) ? db_col_text(st, 4) : "");
        n++;
        rc = db_step(st);
    }
    db_reset(st);
    for (int i = 0; i < n; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "lease expired: worker %s stopped before finishing", ex[i].locked_by);
        int dead = 0;
        if (db_begin(c) == 0) {
            if (record_failure(rt, c, ex[i].locked_by, ex[i].id, ex[i].attempts, ex[i].max_attempts, ex[i].backoff, 0,
                               0, msg, &dead) == 0 &&
                db_commit(c) == 0) {
                metrics_inc(&rt->lease_expired);
                log_warn("jobs", "job_%lld: %s; %s", (long long)ex[i].id, msg, dead ? "now dead" : "re-queued");
            } else {
                db_rollback(c);
            }
        }
        free(ex[i].locked_by);
    }
}

static void register_schedules(jobs_t *rt, db_conn_t *c)
{
    int64_t now = time_now_ms();
    for (int i = 0; i < rt->nschedules; i++) {
        schedule_t *s = &rt->schedules[i];
        int64_t next = cron_next(&s->cron, now);
        if (db_exec(c, &q_sched_upsert, "ssssLL", s->name, s->expr, s->queue, s->payload, next, now) < 0)
            log_error("jobs", "cannot register schedule %s: %s", s->name, db_errmsg(c));
    }
}

static schedule_t *find_schedule(jobs_t *rt, const char *name)
{
    for (int i = 0; i < rt->nschedules; i++)
        if (strcmp(rt->schedules[i].name, name) == 0) return &rt->schedules[i];
    return NULL;
}

typedef struct fire_ctx {
    schedule_t *s;
    int64_t slot, next;
    int fired;
} fire_ctx_t;

static int fire_tx(db_conn_t *c, void *arg)
{
    fire_ctx_t *f = arg;
    f->fired = 0;
    int64_t n = db_exec(c, &q_sched_cas, "sLLL", f->s->name, f->slot, f->next, time_now_ms());
    if (n < 0) return (int)n;
    if (n == 0) return 0; /* another worker or instance took this slot */
    json_t *payload = json_loads(f->s->payload, 0, NULL);
    char key[256];
    snprintf(key, sizeof key, "cron:%s:%lld", f->s->name, (long long)f->slot);
    jobq_opts_t o = { .unique_key = key, .max_attempts = 3 };
    int64_t id = jobq_enqueue(c, f->s->queue, payload, &o);
    json_decref(payload);
    if (id < 0) return (int)id;
    f->fired = 1;
    return 0;
}

static void fire_due(jobs_t *rt, db_conn_t *c)
{
    int64_t now = time_now_ms();
    int rc;
    db_stmt_t *st = db_query(c, &q_sched_due, &rc, "L", now);
    if (!st) return;
    struct {
        char name[128];
        int64_t slot;
    } due[MAX_SCHEDULES];
    int n = 0;
    while (rc == DB_ROW && n < MAX_SCHEDULES) {
        snprintf(due[n].name, sizeof due[n].name, "%s", db_col_text(st, 0));
        due[n].slot = db_col_int(st, 1);
        n++;
        rc = db_step(st);
    }
    db_reset(st);
    for (int i = 0; i < n; i++) {
        schedule_t *s = find_schedule(rt, due[i].name);
        if (!s) continue; /* a schedule of another version of the binary */
        /* missed slots (downtime) collapse into one run now */
        fire_ctx_t f = { .s = s, .slot = due[i].slot, .next = cron_next(&s->cron, now) };
        if (f.next < 0) f.next = INT64_MAX / 2;
        if (db_tx(rt->db, fire_tx, &f) == 0 && f.fired) {
            metrics_inc(&rt->sched_fired);
            log_info("jobs", "schedule %s fired for slot %lld", s->name, (long long)due[i].slot);
        }
    }
}

/* A batch of events is copied out of the read statement before any
 * consumer runs: on SQLite an open statement pins this connection's read
 * snapshot, and a consumer that writes (enqueues jobs, inserts rows) would
 * get SQLITE_BUSY_SNAPSHOT as soon as another thread had committed. */
typedef struct event_copy {
    event_t ev;
    char *type, *subject, *actor, *owner, *payload;
} event_copy_t;

typedef struct consume_ctx {
    event_copy_t *evs;
    int n;
} consume_ctx_t;

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

static int copy_one(const event_t *ev, void *arg)
{
    consume_ctx_t *cc = arg;
    event_copy_t *e = &cc->evs[cc->n++];
    e->type = dup_or_null(ev->type);
    e->subject = dup_or_null(ev->subject);
    e->actor = dup_or_null(ev->actor);
    e->owner = dup_or_null(ev->owner);
    e->payload = dup_or_null(ev->payload);
    e->ev = *ev;
    e->ev.type = e->type, e->ev.subject = e->subject, e->ev.actor = e->actor;
    e->ev.owner = e->owner, e->ev.payload = e->payload;
    return 0;
}

static void copies_free(consume_ctx_t *cc)
{
    for (int i = 0; i < cc->n; i++) {
        free(cc->evs[i].type);
        free(cc->evs[i].subject);
        free(cc->evs[i].actor);
        free(cc->evs[i].owner);
        free(cc->evs[i].payload);
    }
    cc->n = 0;
}

/* One batch of a consumer's events in one write transaction, then the
 * cursor, guarded by our lease, so the batch's effects and the cursor move
 * together.  No savepoint per event (on PostgreSQL each is a round trip,
 * and most events need no write at all): when fn refuses an event the
 * whole transaction rolls back, and run_consumers commits the events
 * before it again on their own. */
typedef struct consume_tx {
    jobs_t *rt;
    consumer_t *cons;
    const event_copy_t *evs;
    int n;         /* events to offer */
    int refused;   /* the index of the event fn refused, or -1 */
    int lost;      /* the cursor's lease is not ours any more */
} consume_tx_t;

static int consume_batch_tx(db_conn_t *c, void *arg)
{
    consume_tx_t *x = arg;
    consumer_t *cons = x->cons;
    x->refused = -1, x->lost = 0; /* db_tx may run this again after a busy retry */
    for (int k = 0; k < x->n; k++) {
        if (cons->fn(c, &x->evs[k].ev, cons->ctx) != 0) {
            x->refused = k;
            return 1; /* roll back; the caller keeps the events before it */
        }
    }
    if (x->n == 0) return 0;
    int64_t got = db_exec(c, &q_cons_save, "sLLs", cons->name, x->evs[x->n - 1].ev.id, time_now_ms(), x->rt->base_id);
    if (got < 0) return (int)got;
    if (got != 1) {
        x->lost = 1;
        return 1; /* roll back (not a database error): the cursor's new holder offers the batch again */
    }
    return 0;
}

static void run_consumers(jobs_t *rt, db_conn_t *c)
{
    for (int i = 0; i < rt->nconsumers; i++) {
        consumer_t *cons = &rt->consumers[i];
        int64_t now = time_now_ms();
        /* The lease is renewed when half of it is gone, not every round (a
         * write per consumer every round, idle or not); while it is ours,
         * nobody else moves the cursor, so ours stays right. */
        int fresh = now >= cons->held_until;
        if (now >= cons->held_until - rt->opts.lease_ms / 2) {
            int64_t got = db_exec(c, &q_cons_lease, "ssLL", cons->name, rt->base_id, now + rt->opts.lease_ms, now);
            if (got != 1) { /* another instance holds it */
                cons->held_until = 0;
                continue;
            }
            cons->held_until = now + rt->opts.lease_ms;
        }
        if (fresh) {
            int rc;
            db_stmt_t *st = db_query(c, &q_cons_cursor, &rc, "s", cons->name);
            if (!st) {
                cons->held_until = 0;
                continue;
            }
            cons->last = rc == DB_ROW ? db_col_int(st, 0) : 0;
            db_reset(st);
        }
        event_copy_t *evs = xmalloc(CONSUME_BATCH * sizeof *evs);
        for (int round = 0; round < CONSUME_ROUNDS; round++) {
            consume_ctx_t cc = { evs, 0 };
            int n = event_read(c, cons->last, NULL, CONSUME_BATCH, copy_one, &cc);
            consume_tx_t x = { .rt = rt, .cons = cons, .evs = evs, .n = cc.n, .refused = -1 };
            int rc = cc.n ? db_tx(rt->db, consume_batch_tx, &x) : 0;
            int refused = x.refused;
            if (refused > 0 && !x.lost) {
                /* the events before the refused one, without it */
                x.n = refused;
                rc = db_tx(rt->db, consume_batch_tx, &x);
                if (x.refused >= 0) rc = 1; /* refused now what it took before: try next round */
            }
            int handled = rc == 0 ? x.n : 0;
            if (handled > 0) {
                cons->last = evs[handled - 1].ev.id;
                metrics_add(&cons->consumed, (uint64_t)handled);
                jobs_notify(rt); /* the batch may have enqueued jobs: do not wait for the workers' poll */
            }
            copies_free(&cc);
            if (x.lost) cons->held_until = 0; /* re-read the cursor next round */
            if (rc != 0 || refused >= 0 || x.lost || n < CONSUME_BATCH) break;
        }
        free(evs);
    }
}

static void init_consumers(jobs_t *rt, db_conn_t *c)
{
    int64_t start = event_last_id(c);
    for (int i = 0; i < rt->nconsumers; i++)
        /* a new consumer starts at the present, not at the beginning of history */
        db_exec(c, &q_cons_init, "sLL", rt->consumers[i].name, start < 0 ? 0 : start, time_now_ms());
}

static void *sched_main(void *arg)
{
    jobs_t *rt = arg;
    sched_batch_join();
    db_conn_t *c = db_acquire(rt->db);
    if (c) {
        register_schedules(rt, c);
        db_release(c);
    }
    int64_t last_hb = 0, last_reap = 0, last_cron = 0, last_consume = 0;
    int woken = 1;
    while (!atomic_load(&rt->stopping)) {
        int64_t now = time_now_ms();
        c = db_acquire(rt->db);
        if (c) {
            if (now - last_hb >= rt->opts.lease_ms / 3) {
                heartbeat_all(rt, c);
                last_hb = now;
            }
            if (now - last_reap >= 1000) {
                reap_expired(rt, c);
                last_reap = now;
            }
            if (now - last_cron >= 1000) {
                fire_due(rt, c);
                last_cron = now;
            }
            if (woken || now - last_consume >= rt->opts.consumer_ms) {
                run_consumers(rt, c);
                last_consume = now;
            }
            db_release(c);
        }
        for (int i = 0; i < rt->nsweeps; i++) {
            if (now - rt->sweeps[i].last < rt->sweeps[i].period_ms) continue;
            rt->sweeps[i].fn(rt->db, rt->sweeps[i].ctx);
            rt->sweeps[i].last = now;
        }
        int64_t spent = time_now_ms() - now;
        if (spent < CONSUMER_MIN_GAP_MS) sleep_ms(rt, CONSUMER_MIN_GAP_MS - spent);
        /* housekeeping (leases, cron) wants a turn every 200 ms; consumers
         * every consumer_ms or when an event is committed */
        if (rt->nconsumers > 0) woken = wait_events(rt, 200 - CONSUMER_MIN_GAP_MS);
        else sleep_ms(rt, 200 - CONSUMER_MIN_GAP_MS);
    }
    return NULL;
}

/* PostgreSQL: events committed by other processes (API instances, other
 * workers) arrive as notifications on EVENTS_CHANNEL and wake the
 * consumers like a local commit does. */
static void *listen_main(void *arg)
{
    jobs_t *rt = arg;
    db_listener_t *l = NULL;
    while (!atomic_load(&rt->stopping)) {
        if (!l && !(l = db_listen(rt->db, EVENTS_CHANNEL))) {
            sleep_ms(rt, 1000);
            continue;
        }
        if (db_listener_wait(l, 250) == 1) on_commit(EVENTS_TXMARK_APPENDED);
    }
    db_listener_free(l);
    return NULL;
}

/* ---------- local event watchers ---------- */

typedef struct watch_ctx {
    jobs_t *rt;
    int64_t last;
} watch_ctx_t;

static int watch_one(const event_t *ev, void *arg)
{
    watch_ctx_t *wc = arg;
    for (int i = 0; i < wc->rt->nwatchers; i++) wc->rt->watchers[i].fn(ev, wc->rt->watchers[i].ctx);
    wc->last = ev->id;
    return 0;
}

static void *watch_main(void *arg)
{
    jobs_t *rt = arg;
    watch_ctx_t wc = { rt, 0 };
    db_conn_t *c = db_acquire(rt->db);
    if (c) {
        int64_t l = event_last_id(c);
        wc.last = l > 0 ? l : 0;
        db_release(c);
    }
    while (!atomic_load(&rt->stopping)) {
        c = db_acquire(rt->db);
        int n = 0;
        if (c) {
            n = event_read(c, wc.last, NULL, 500, watch_one, &wc);
            db_release(c);
        }
        if (n < 500) sleep_ms(rt, rt->opts.watch_ms);
    }
    return NULL;
}

/* ---------- built-in jobs ---------- */

static int purge_handler(job_run_t *run, const job_t *job, void *ctx)
{
    jobs_t *rt = ctx;
    db_conn_t *c = db_acquire(run->rt->db);
    if (!c) return jobs_retry_after(run, 60000);
    int64_t cutoff = time_now_ms() - rt->opts.retention_ms;
    int64_t jobs_deleted = 0, events_deleted = 0, n;
    do {
        n = db_exec(c, &q_purge_jobs, "L", cutoff);
        if (n > 0) jobs_deleted += n;
    } while (n == 5000);
    int rc;
    db_stmt_t *st = db_query(c, &q_cons_count, &rc, "");
    int64_t ncons = st ? db_col_int(st, 0) : 0;
    if (st) db_reset(st);
    do {
        n = db_exec(c, ncons ? &q_purge_events : &q_purge_events_nocons, "L", cutoff);
        if (n > 0) events_deleted += n;
    } while (n == 5000);
    db_release(c);
    if (n < 0) {
        jobs_fail(run, "purge failed");
        return JOB_RETRY;
    }
    log_info("jobs", "purge: removed %lld finished jobs and %lld consumed events older than %lld ms",
             (long long)jobs_deleted, (long long)events_deleted, (long long)rt->opts.retention_ms);
    (void)job;
    return JOB_OK;
}

/* ---------- start / stop ---------- */

int jobs_start(jobs_t *rt)
{
    if (rt->nconsumers > 0) db_set_commit_hook(on_commit);
    /* Consumer cursors exist before this process commits anything (and
     * before the HTTP server accepts requests), in every process that
     * registers consumers, workers or not: a new consumer starts at the
     * present, and no event committed after start-up can fall before it. */
    if (rt->nconsumers > 0) {
        db_conn_t *c = db_acquire(rt->db);
        if (!c) {
            log_error("jobs", "cannot initialise event consumers: no database connection");
            return -1;
        }
        init_consumers(rt, c);
        db_release(c);
    }
    if (rt->opts.workers > 0) {
        jobs_register(rt, "system.purge", purge_handler, rt);
        jobs_schedule(rt, "system.purge", "*/10 * * * *", "system.purge", NULL);
        rt->workers = xcalloc((size_t)rt->opts.workers, sizeof(worker_t));
        for (int i = 0; i < rt->opts.workers; i++) {
            worker_t *w = &rt->workers[i];
            w->rt = rt;
            w->index = i;
            snprintf(w->id, sizeof w->id, "%s:w%d", rt->base_id, i);
            if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                log_error("jobs", "cannot start worker thread: %s", strerror(errno));
                return -1;
            }
            w->started = 1;
        }
        if (pthread_create(&rt->sched_thread, NULL, sched_main, rt) == 0) rt->sched_started = 1;
        if (rt->sched_started && rt->nconsumers > 0 && db_kind(rt->db) == DB_POSTGRES &&
            pthread_create(&rt->listen_thread, NULL, listen_main, rt) == 0)
            rt->listen_started = 1;
    }
    if (rt->nwatchers > 0 && pthread_create(&rt->watch_thread, NULL, watch_main, rt) == 0) rt->watch_started = 1;
    log_info("jobs", "job runtime started: %d workers, %d queues, %d schedules, %d consumers, %d watchers (id %s)",
             rt->opts.workers, rt->nhandlers, rt->nschedules, rt->nconsumers, rt->nwatchers, rt->base_id);
    return 0;
}

static int join_until(pthread_t t, int64_t deadline_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t left = deadline_ms - time_now_ms();
    if (left < 0) left = 0;
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(t, NULL, &ts);
}

void jobs_stop(jobs_t *rt, int deadline_ms)
{
    atomic_store(&rt->stopping, 1);
    jobs_notify(rt);
    wake_schedulers();
    int64_t deadline = time_now_ms() + deadline_ms;
    int stuck = 0;
    for (int i = 0; i < rt->opts.workers && rt->workers; i++) {
        worker_t *w = &rt->workers[i];
        if (!w->started) continue;
        if (join_until(w->thread, deadline) != 0) {
            /* the handler is still running: give its jobs back so another
             * worker can take them now instead of after the lease */
            stuck++;
            db_conn_t *c = db_acquire(rt->db);
            if (c) {
                db_exec(c, &q_heartbeat, "Ls", time_now_ms() - 1, w->id);
                db_release(c);
            }
            pthread_detach(w->thread);
            log_warn("jobs", "worker %s did not finish within the deadline; its jobs were released", w->id);
        }
        w->started = 0;
    }
    if (rt->sched_started) {
        pthread_join(rt->sched_thread, NULL);
        /* hand the consumers' cursors over now, not after the lease */
        db_conn_t *c = db_acquire(rt->db);
        if (c) {
            db_exec(c, &q_cons_release, "s", rt->base_id);
            db_release(c);
        }
        for (int i = 0; i < rt->nconsumers; i++) rt->consumers[i].held_until = 0;
    }
    if (rt->watch_started) pthread_join(rt->watch_thread, NULL);
    if (rt->listen_started) pthread_join(rt->listen_thread, NULL);
    rt->sched_started = rt->watch_started = rt->listen_started = 0;
    if (!stuck) log_info("jobs", "job runtime drained");
}

/* ---------- metrics ---------- */

static void render_jobs_metrics(buf_t *out, void *ctx)
{
    jobs_t *rt = ctx;
    metrics_family(out, "mercato_jobs_processed_total", "counter", "Job attempts finished by this process, by queue and outcome.");
    for (int i = 0; i <= rt->nhandlers; i++) {
        handler_t *h = i < rt->nhandlers ? &rt->handlers[i] : &rt->other;
        buf_printf(out, "mercato_jobs_processed_total{queue=\"%s\",outcome=\"completed\"} %llu\n", h->queue,
                   (unsigned long long)metrics_get(&h->completed));
        buf_printf(out, "mercato_jobs_processed_total{queue=\"%s\",outcome=\"failed\"} %llu\n", h->queue,
                   (unsigned long long)metrics_get(&h->failed));
        buf_printf(out, "mercato_jobs_processed_total{queue=\"%s\",outcome=\"dead\"} %llu\n", h->queue,
                   (unsigned long long)metrics_get(&h->dead));
    }
    metrics_family(out, "mercato_job_duration_seconds", "histogram", "Time spent in job handlers, by queue.");
    for (int i = 0; i < rt->nhandlers; i++) {
        char labels[160];
        snprintf(labels, sizeof labels, "queue=\"%s\"", rt->handlers[i].queue);
        metrics_hist_render(out, "mercato_job_duration_seconds", labels, &rt->handlers[i].duration);
    }
    metrics_family(out, "mercato_jobs_lease_expired_total", "counter", "Jobs re-queued because their worker's lease expired.");
    buf_printf(out, "mercato_jobs_lease_expired_total %llu\n", (unsigned long long)metrics_get(&rt->lease_expired));
    metrics_family(out, "mercato_job_schedules_fired_total", "counter", "Cron slots fired by this process.");
    buf_printf(out, "mercato_job_schedules_fired_total %llu\n", (unsigned long long)metrics_get(&rt->sched_fired));
    metrics_family(out, "mercato_event_consumer_events_total", "counter",
                   "Events handled by this process's shared event consumers, by consumer.");
    for (int i = 0; i < rt->nconsumers; i++)
        buf_printf(out, "mercato_event_consumer_events_total{consumer=\"%s\"} %llu\n", rt->consumers[i].name,
                   (unsigned long long)metrics_get(&rt->consumers[i].consumed));
    db_conn_t *c = db_acquire(rt->db);
    if (!c) return;
    int rc;
    metrics_family(out, "mercato_event_consumer_lag", "gauge",
                   "Events in the log after a shared consumer's cursor (not yet handled), by consumer.");
    db_stmt_t *lag = db_query(c, &q_cons_lag, &rc, "");
    while (lag && rc == DB_ROW) {
        int64_t behind = db_col_int(lag, 1); /* negative when the log was purged empty */
        buf_printf(out, "mercato_event_consumer_lag{consumer=\"%s\"} %lld\n", db_col_text(lag, 0),
                   (long long)(behind > 0 ? behind : 0));
        rc = db_step(lag);
    }
    if (lag) db_reset(lag);
    metrics_family(out, "mercato_jobs", "gauge", "Jobs in the database by queue and live state (queue depth).");
    db_stmt_t *st = db_query(c, &q_depth, &rc, "");
    while (st && rc == DB_ROW) {
        /* queue names come from code, but escape quotes anyway */
        const char *q = db_col_text(st, 0);
        buf_puts(out, "mercato_jobs{queue=\"");
        for (const char *p = q; p && *p; p++) {
            if (*p == '"' || *p == '\\') buf_putc(out, '\\');
            if (*p == '\n') {
                buf_puts(out, "\\n");
                continue;
            }
            buf_putc(out, *p);
        }
        buf_printf(out, "\",state=\"%s\"} %lld\n", db_col_text(st, 1), (long long)db_col_int(st, 2));
        rc = db_step(st);
    }
    if (st) db_reset(st);
    db_release(c);
}

void jobs_register_metrics(jobs_t *rt) { metrics_register(render_jobs_metrics, rt); }
