/*
 * db.c — backend-independent half of the storage interface: opening,
 * connection borrowing, transactions with retry, the statement cache and the
 * convenience calls (see db.h).
 */
#include "db/db.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "db/db_int.h"
#include "db/sqlite_vfs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"
#include "util/sched.h"
#include "util/timeutil.h"

void db_set_err(db_conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
}

const char *db_errmsg(db_conn_t *c) { return c->errmsg; }
db_kind_t db_kind(const db_t *db) { return db->kind; }
const char *db_kind_name(const db_t *db) { return db->kind == DB_SQLITE ? "sqlite" : "postgres"; }
db_t *db_of(db_conn_t *c) { return c->db; }
db_kind_t db_conn_kind(const db_conn_t *c) { return c->kind; }
bool db_in_tx(const db_conn_t *c) { return c->in_tx; }

bool db_tx_mark(db_conn_t *c, unsigned bit)
{
    if (c->tx_flags & bit) return false;
    c->tx_flags |= bit;
    return true;
}

static db_commit_hook_fn g_commit_hook;

void db_set_commit_hook(db_commit_hook_fn fn) { __atomic_store_n(&g_commit_hook, fn, __ATOMIC_RELEASE); }

void db_notify_commit(unsigned marks)
{
    db_commit_hook_fn fn = __atomic_load_n(&g_commit_hook, __ATOMIC_ACQUIRE);
    if (fn && marks) fn(marks);
}

static void conn_free(db_conn_t *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots && c->slots[i].st) {
            db_stmt_t *st = c->slots[i].st;
            if (c->kind == DB_SQLITE) dbsq_finalize(st);
            else dbpg_finalize(st);
            free(st);
        }
    free(c->slots);
    if (c->kind == DB_SQLITE) dbsq_close_conn(c);
    else dbpg_close_conn(c);
    free(c);
}

static void unlist(db_t *db, db_conn_t *c)
{
    for (size_t i = 0; i < db->nall; i++)
        if (db->all[i] == c) {
            db->all[i] = db->all[--db->nall];
            break;
        }
}

/* thread exit: SQLite connections are per thread */
static void tls_destructor(void *p)
{
    db_conn_t *c = p;
    if (!c) return;
    db_t *db = c->db;
    if (c->kind == DB_SQLITE) {
        pthread_mutex_lock(&db->mu);
        unlist(db, c);
        pthread_mutex_unlock(&db->mu);
        if (c->holds_write_lock) db_write_unlock(c);
        conn_free(c);
    }
}

int db_open(db_t **out, const char *url, const db_opts_t *opts, char *err, size_t errlen)
{
    db_t *db = xcalloc(1, sizeof *db);
    db->pool_size = opts && opts->pool_size > 0 ? opts->pool_size : 16;
    db->busy_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    if (strncmp(url, "sqlite:", 7) == 0) {
        db->kind = DB_SQLITE;
        const char *p = url + 7;
        if (strncmp(p, "//", 2) == 0) p += 2; /* sqlite://path */
        if (!*p) {
            snprintf(err, errlen, "DATABASE_URL sqlite: needs a file path");
            free(db);
            return -1;
        }
        db->path = xstrdup(p);
    } else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        db->kind = DB_POSTGRES;
        db->conninfo = xstrdup(url);
    } else {
        snprintf(err, errlen, "DATABASE_URL must start with sqlite: or postgres://");
        free(db);
        return -1;
    }
    pthread_key_create(&db->tls, tls_destructor);
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    pthread_mutex_init(&db->write_mu, NULL);
    pthread_cond_init(&db->write_cv, NULL);
    pthread_mutex_init(&db->group_mu, NULL);
    db->group_max = opts && opts->group_max > 0 ? opts->group_max : 64;
    /* open one connection now so configuration errors show at start-up */
    db_conn_t *c = db_acquire(db);
    if (!c) {
        snprintf(err, errlen, "cannot connect to the database");
        db_close(db);
        return -1;
    }
    if (c->dead) {
        snprintf(err, errlen, "%s", c->errmsg);
        db_release(c);
        db_close(db);
        return -1;
    }
    db_release(c);
    *out = db;
    return 0;
}

void db_close(db_t *db)
{
    if (!db) return;
    if (db->kind == DB_SQLITE) dbsq_ckpt_stop(db);
    db_conn_t *mine = pthread_getspecific(db->tls);
    if (mine) pthread_setspecific(db->tls, NULL);
    for (size_t i = 0; i < db->nall; i++) conn_free(db->all[i]);
    free(db->all);
    pthread_key_delete(db->tls);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cv);
    pthread_mutex_destroy(&db->write_mu);
    pthread_cond_destroy(&db->write_cv);
    pthread_mutex_destroy(&db->group_mu);
    free(db->path);
    free(db->conninfo);
    free(db);
}

static db_conn_t *conn_new(db_t *db)
{
    db_conn_t *c = xcalloc(1, sizeof *c);
    c->db = db;
    c->kind = db->kind;
    int rc = db->kind == DB_SQLITE ? dbsq_open_conn(db, c) : dbpg_open_conn(db, c);
    if (rc < 0) c->dead = 1;
    pthread_mutex_lock(&db->mu);
    if (db->nall == db->capall) {
        db->capall = db->capall ? db->capall * 2 : 16;
        db->all = xrealloc(db->all, db->capall * sizeof *db->all);
    }
    db->all[db->nall++] = c;
    pthread_mutex_unlock(&db->mu);
    return c;
}

void db_thread_done(db_t *db)
{
    db_conn_t *c = pthread_getspecific(db->tls);
    if (!c || c->kind != DB_SQLITE || c->depth > 0 || c->in_tx) return;
    pthread_setspecific(db->tls, NULL);
    tls_destructor(c);
}

db_conn_t *db_acquire(db_t *db)
{
    db_conn_t *c = pthread_getspecific(db->tls);
    if (c) {
        c->depth++;
        return c;
    }
    if (db->kind == DB_SQLITE) {
        c = conn_new(db);
    } else {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += db->busy_ms / 1000;
        deadline.tv_nsec += (long)(db->busy_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&db->mu);
        int waited = 0;
        while (!db->idle && db->nopen >= db->pool_size) {
            waited = 1;
            if (pthread_cond_timedwait(&db->cv, &db->mu, &deadline) == ETIMEDOUT) break;
        }
        if (waited) db->pool_waits++;
        if (db->idle) {
            c = db->idle;
            db->idle = c->next_idle;
            db->in_use++;
            pthread_mutex_unlock(&db->mu);
        } else if (db->nopen < db->pool_size) {
            db->nopen++;
            db->in_use++;
            pthread_mutex_unlock(&db->mu);
            c = conn_new(db);
        } else {
            pthread_mutex_unlock(&db->mu);
            log_error("db", "connection pool exhausted (%d connections) after %d ms", db->pool_size, db->busy_ms);
            return NULL;
        }
        if (!c->dead && PQstatus(c->pg) != CONNECTION_OK) {
            PQreset(c->pg);
            if (PQstatus(c->pg) != CONNECTION_OK) {
                db_set_err(c, "%s", PQerrorMessage(c->pg));
                c->dead = 1;
            } else {
                /* server-side prepared statements are gone after a reset */
                for (size_t i = 0; i < c->cap; i++)
                    if (c->slots[i].st) {
                        dbpg_finalize(c->slots[i].st);
                        free(c->slots[i].st);
                        c->slots[i].st = NULL;
                        c->slots[i].key = NULL;
                    }
                c->n = 0;
            }
        }
    }
    c->depth = 1;
    pthread_setspecific(db->tls, c);
    return c;
}

void db_release(db_conn_t *c)
{
    if (!c) return;
    if (--c->depth > 0) return;
    db_t *db = c->db;
    if (c->in_tx) {
        log_error("db", "connection released inside a transaction; rolling back");
        db_rollback(c);
    }
    if (db->kind == DB_SQLITE) return; /* stays bound to its thread */
    pthread_setspecific(db->tls, NULL);
    pthread_mutex_lock(&db->mu);
    db->in_use--;
    if (c->dead && PQstatus(c->pg) != CONNECTION_OK) {
        unlist(db, c);
        db->nopen--;
        pthread_mutex_unlock(&db->mu);
        conn_free(c);
        pthread_mutex_lock(&db->mu);
    } else {
        c->dead = 0;
        c->next_idle = db->idle;
        db->idle = c;
    }
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
}

int db_ping(db_t *db)
{
    DB_SQL(q_ping, "SELECT 1");
    db_conn_t *c = db_acquire(db);
    if (!c) return -1;
    if (c->dead) {
        db_release(c);
        return -1;
    }
    int rc;
    db_stmt_t *st = db_query(c, &q_ping, &rc, "");
    if (st) db_reset(st);
    db_release(c);
    return rc == DB_ROW ? 0 : -1;
}

/* ---------- transactions ---------- */

static int simple(db_conn_t *c, const char *sql)
{
    if (c->kind == DB_SQLITE) return dbsq_exec_script(c, sql);
    return dbpg_exec_script(c, sql);
}

/* Transaction control on SQLite through the connection's statement cache:
 * sqlite3_exec() prepared "BEGIN IMMEDIATE" and "COMMIT" again for every
 * group (~3 us each, inside the write lock).  PostgreSQL: a simple query. */
DB_SQL(q_tx_begin_write, "BEGIN IMMEDIATE");
DB_SQL(q_tx_begin_read, "BEGIN");
DB_SQL(q_tx_commit, "COMMIT");
DB_SQL(q_tx_rollback, "ROLLBACK");

static int tx_control(db_conn_t *c, const db_sql_t *q)
{
    if (c->kind != DB_SQLITE) return simple(c, q->pg);
    int64_t rc = db_exec(c, q, "");
    return rc < 0 ? (int)rc : DB_OK;
}

void db_write_lock(db_conn_t *c)
{
    db_t *db = c->db;
    uint64_t t0 = (uint64_t)time_mono_ns();
    pthread_mutex_lock(&db->write_mu);
    uint64_t mine = db->write_next++;
    while (db->write_serving != mine) pthread_cond_wait(&db->write_cv, &db->write_mu);
    pthread_mutex_unlock(&db->write_mu);
    uint64_t t1 = (uint64_t)time_mono_ns();
    /* counters written by the holder only; /metrics reads them relaxed */
    db->write_since = t1;
    __atomic_store_n(&db->write_locks, db->write_locks + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&db->write_wait_ns, db->write_wait_ns + (t1 - t0), __ATOMIC_RELAXED);
    c->holds_write_lock = 1;
}

void db_write_unlock(db_conn_t *c)
{
    db_t *db = c->db;
    __atomic_store_n(&db->write_held_ns, db->write_held_ns + ((uint64_t)time_mono_ns() - db->write_since), __ATOMIC_RELAXED);
    c->holds_write_lock = 0;
    pthread_mutex_lock(&db->write_mu);
    db->write_serving++;
    pthread_cond_broadcast(&db->write_cv);
    pthread_mutex_unlock(&db->write_mu);
}

int db_begin(db_conn_t *c)
{
    if (c->dead) return DB_ENOCONN;
    if (c->in_tx) {
        db_set_err(c, "nested transaction");
        return DB_ERR;
    }
    if (c->kind == DB_SQLITE) {
        db_write_lock(c);
        int rc = tx_control(c, &q_tx_begin_write);
        if (rc < 0) {
            db_write_unlock(c);
            return rc;
        }
    } else {
        int rc = simple(c, "BEGIN");
        if (rc < 0) return rc;
    }
    c->in_tx = 1;
    return DB_OK;
}

int db_begin_read(db_conn_t *c)
{
    if (c->dead) return DB_ENOCONN;
    if (c->in_tx) {
        db_set_err(c, "nested transaction");
        return DB_ERR;
    }
    int rc = c->kind == DB_SQLITE ? tx_control(c, &q_tx_begin_read) : simple(c, "BEGIN READ ONLY");
    if (rc < 0) return rc;
    c->in_tx = 2;
    return DB_OK;
}

static void end_tx(db_conn_t *c)
{
    c->in_tx = 0;
    c->tx_flags = 0;
    if (c->holds_write_lock) db_write_unlock(c);
}

int db_commit(db_conn_t *c)
{
    if (!c->in_tx) return DB_OK;
    int rc = tx_control(c, &q_tx_commit);
    if (rc < 0) {
        /* SQLite keeps the transaction open on a failed COMMIT; PG ends it */
        if (c->kind == DB_SQLITE) tx_control(c, &q_tx_rollback);
        end_tx(c);
        __atomic_fetch_add(&c->db->rollbacks, 1, __ATOMIC_RELAXED);
        return rc;
    }
    unsigned marks = c->tx_flags;
    end_tx(c);
    __atomic_fetch_add(&c->db->commits, 1, __ATOMIC_RELAXED);
    db_notify_commit(marks);
    return DB_OK;
}

int db_rollback(db_conn_t *c)
{
    if (!c->in_tx) return DB_OK;
    /* reset cached statements first so SQLite can roll back cleanly */
    int rc = tx_control(c, &q_tx_rollback);
    end_tx(c);
    __atomic_fetch_add(&c->db->rollbacks, 1, __ATOMIC_RELAXED);
    return rc;
}

/* the pause before retry number attempt (1..9) after DB_EBUSY */
static void busy_backoff(int attempt) { usleep((useconds_t)(200 * attempt + (rand() % 500))); }

/* one transaction for fn alone, retried on DB_EBUSY */
static int tx_alone(db_conn_t *c, db_tx_fn fn, void *ctx)
{
    db_t *db = c->db;
    int rc = DB_EBUSY;
    for (int attempt = 0; attempt < 10; attempt++) {
        if (attempt) {
            __atomic_fetch_add(&db->retries, 1, __ATOMIC_RELAXED);
            busy_backoff(attempt);
        }
        rc = db_begin(c);
        if (rc == DB_EBUSY) continue;
        if (rc < 0) break;
        rc = fn(c, ctx);
        if (rc != 0) {
            db_rollback(c);
            if (rc == DB_EBUSY) continue;
            break;
        }
        rc = db_commit(c);
        if (rc == DB_EBUSY) continue;
        break;
    }
    if (rc < 0 && rc != DB_ECONSTRAINT) {
        __atomic_fetch_add(&db->errors, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

/* ---------- group commit (SQLite) ----------
 *
 * Callers queue their fn in a batch: the newest queued one, unless it holds
 * group_max entries, then a new batch behind it.  Every
 * caller of a batch sleeps on the batch's one word (a futex).  Nobody
 * leading: the new batch is marked LEAD at once; otherwise the leader of the
 * batch before marks it when its own commit is done.  Any one caller of a
 * LEAD batch takes the lead (the first to wake), BEGINs (waiting for the
 * write lock lets more callers join), takes the batch off the queue (no
 * more newcomers), runs
 * each fn in the one transaction (optimistically without, and after a
 * failure with, a savepoint per fn: see lead_group) on the shared writer
 * connection, commits, marks the next batch LEAD (waking one of its
 * callers), then marks its own batch DONE, which wakes all its callers in
 * one system call.  Under load one commit (one WAL append, one lock
 * hand-off, one wake-up call) serves many transactions; alone, a caller
 * leads itself at once.
 *
 * Waking the callers one by one (a condition variable each, as before)
 * cost a caller ~0.8 ms on average between the commit and its wake-up on a
 * 2-core machine: each wake could preempt the leader before the next.
 *
 * When the group cannot be kept (BEGIN, a savepoint or COMMIT fails), it is
 * rolled back and every fn in it runs again alone; fn that returned
 * DB_EBUSY runs again alone after the group commits. */

/* a thread's log context, to log as the caller whose fn the leader runs */
typedef struct {
    const char *request_id, *trace_id, *traceparent;
} log_as_t;

static void log_as(const log_as_t *who)
{
    log_set_context(who->request_id, who->trace_id);
    log_set_traceparent(who->traceparent);
}

typedef struct group_tx {
    db_tx_fn fn;
    void *ctx;
    log_as_t caller; /* the caller's log context */
    int rc;
    struct group_tx *next;
} group_tx_t;

enum { GB_WAIT, GB_LEAD, GB_LEADING, GB_DONE };

typedef struct group_batch {
    int word;   /* GB_*, written atomically; the batch's callers sleep on it */
    int n;      /* entries */
    int refs;   /* callers that have not left yet; the last frees the batch */
    group_tx_t *head, *tail;
    struct group_batch *next;
} group_batch_t;

static void batch_set(group_batch_t *b, int word, int wake)
{
    __atomic_store_n(&b->word, word, __ATOMIC_RELEASE);
    syscall(SYS_futex, &b->word, FUTEX_WAKE_PRIVATE, wake, NULL, NULL, 0);
}

/* prepared once per connection (cached), not parsed for every fn */
DB_SQL(q_savepoint, "SAVEPOINT g");
/* groups that run the careful way after an optimistic pass failed */
#define GROUP_CAREFUL_AFTER_FAILURE 16
DB_SQL(q_release, "RELEASE g");
DB_SQL(q_rollback_to, "ROLLBACK TO g");

static int savepoint(db_conn_t *c, const db_sql_t *q) { return db_exec(c, q, "") < 0 ? DB_ERR : 0; }

/* BEGIN, retried while another process holds SQLite's lock */
static int begin_retrying(db_conn_t *c)
{
    int rc = DB_EBUSY;
    for (int attempt = 0; attempt < 10 && rc == DB_EBUSY; attempt++) {
        if (attempt) busy_backoff(attempt);
        rc = db_begin(c);
    }
    return rc;
}

/* COMMIT of a group of n; 1 when it failed (the group is broken) */
static int commit_group(db_conn_t *c, int n)
{
    db_t *db = c->db;
    if (db_commit(c) < 0) {
        log_warn("db", "group commit of %d transactions failed (%s); each runs alone", n, c->errmsg);
        return 1;
    }
    __atomic_fetch_add(&db->groups, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&db->grouped, (uint64_t)n, __ATOMIC_RELAXED);
    return 0;
}

/* The leader's part: BEGIN first (waiting for the write lock lets more
 * callers join the batch), then close the batch, run it and commit. */
static void lead_group(db_conn_t *c, group_batch_t *b)
{
    db_t *db = c->db;
    int rc = begin_retrying(c);
    pthread_mutex_lock(&db->group_mu);
    /* a LEAD batch is always the oldest one; unlinked, it takes no more
     * entries (callers join the queue's newest batch) */
    db->batch_head = b->next;
    if (!db->batch_head) db->batch_tail = NULL;
    group_tx_t *g = b->head;
    int n = b->n;
    pthread_mutex_unlock(&db->group_mu);

    log_as_t self;
    log_get_context(&self.request_id, &self.trace_id, &self.traceparent);
    int broken = 0;
    if (rc < 0) {
        for (group_tx_t *x = g; x; x = x->next) x->rc = rc;
        __atomic_fetch_add(&db->errors, (uint64_t)n, __ATOMIC_RELAXED);
        return;
    }
    /* The optimistic pass: every fn without a savepoint of its own.  A
     * savepoint costs two statements and a copy of every page its fn then
     * touches first into the statement journal (~15 pages per checkout);
     * nearly every fn succeeds.  When one does not (a refused checkout, a
     * busy retry), the transaction rolls back and the group runs again the
     * careful way, each fn in its savepoint — fns may run again (db_tx) —
     * and so do the next groups for a while: where refusals come in
     * streaks (a sold-out variant), each group would otherwise run twice.
     * A group of one needs no savepoint at all: its fn's failure is the
     * transaction's. */
    int careful = n > 1 && db->group_careful > 0;
    if (careful) db->group_careful--;
    if (!careful) {
        int failed = 0;
        for (group_tx_t *x = g; x && !failed; x = x->next) {
            log_as(&x->caller);
            x->rc = x->fn(c, x->ctx);
            failed = x->rc != 0;
        }
        log_as(&self);
        if (!failed) {
            broken = commit_group(c, n);
            goto finish;
        }
        db_rollback(c);
        if (n == 1) goto finish;
        __atomic_fetch_add(&db->group_reruns, 1, __ATOMIC_RELAXED);
        db->group_careful = GROUP_CAREFUL_AFTER_FAILURE;
        if (begin_retrying(c) < 0) {
            broken = 1;
            goto finish;
        }
    }
    for (group_tx_t *x = g; x && !broken; x = x->next) {
        log_as(&x->caller);
        if (savepoint(c, &q_savepoint) < 0) {
            broken = 1;
            break;
        }
        x->rc = x->fn(c, x->ctx);
        if (x->rc == 0) {
            if (savepoint(c, &q_release) < 0) broken = 1;
        } else if (savepoint(c, &q_rollback_to) < 0 || savepoint(c, &q_release) < 0) {
            broken = 1;
        }
    }
    log_as(&self);
    if (broken) {
        log_warn("db", "group of %d transactions rolled back (%s); each runs alone", n, c->errmsg);
        db_rollback(c);
    } else {
        broken = commit_group(c, n);
    }
finish:
    for (group_tx_t *x = g; x; x = x->next) {
        if (broken || x->rc == DB_EBUSY) {
            /* counts its own errors */
            log_as(&x->caller);
            x->rc = tx_alone(c, x->fn, x->ctx);
            log_as(&self);
        } else if (x->rc < 0 && x->rc != DB_ECONSTRAINT) {
            __atomic_fetch_add(&db->errors, 1, __ATOMIC_RELAXED);
        }
    }
}

int db_group_queued(db_t *db)
{
    pthread_mutex_lock(&db->group_mu);
    int n = 0;
    for (group_batch_t *b = db->batch_head; b; b = b->next) n += b->n;
    pthread_mutex_unlock(&db->group_mu);
    return n;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int tx_grouped(db_conn_t *c, db_tx_fn fn, void *ctx)
{
    db_t *db = c->db;
    group_tx_t me = { .fn = fn, .ctx = ctx };
    log_get_context(&me.caller.request_id, &me.caller.trace_id, &me.caller.traceparent);
    pthread_mutex_lock(&db->group_mu);
    group_batch_t *b = db->batch_tail;
    if (!b || b->n >= db->group_max) {
        b = xcalloc(1, sizeof *b);
        if (db->batch_tail)
            db->batch_tail->next = b;
        else
            db->batch_head = b;
        db->batch_tail = b;
    }
    if (b->tail)
        b->tail->next = &me;
    else
        b->head = &me;
    b->tail = &me;
    b->n++;
    b->refs++;
    if (!db->group_leading) {
        /* nobody leads, so nothing is queued before this batch */
        db->group_leading = 1;
        __atomic_store_n(&b->word, GB_LEAD, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&db->group_mu);

    for (;;) {
        int w = __atomic_load_n(&b->word, __ATOMIC_ACQUIRE);
        if (w == GB_DONE) break;
        if (w == GB_LEAD) {
            if (!__atomic_compare_exchange_n(&b->word, &w, GB_LEADING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                continue;
            /* Leaders share one connection: SQLite drops a connection's
             * page cache whenever another connection has written, so a
             * writer that changed with every group would read its pages
             * again each time.  The thread's connection is swapped for it
             * meanwhile, so a fn that acquires "its" connection gets the
             * one in the transaction.  Only the leader touches it. */
            if (!db->writer) db->writer = conn_new(db);
            db_conn_t *wc = db->writer->dead ? c : db->writer;
            if (wc != c) {
                pthread_setspecific(db->tls, wc);
                wc->depth = 1;
            }
            sched_lead_begin();
            /* wall and this thread's CPU while leading: their ratio is how
             * much of the writer's time it waited (the checkpointer's
             * step, I/O, other threads on its core) */
            uint64_t w0 = (uint64_t)time_mono_ns(), c0 = thread_cpu_ns();
            lead_group(wc, b);
            __atomic_fetch_add(&db->lead_ns, (uint64_t)time_mono_ns() - w0, __ATOMIC_RELAXED);
            if (wc != c) pthread_setspecific(db->tls, c);
            /* the next batch first: the write lock is free from now on */
            pthread_mutex_lock(&db->group_mu);
            if (db->batch_head)
                batch_set(db->batch_head, GB_LEAD, 1);
            else
                db->group_leading = 0;
            pthread_mutex_unlock(&db->group_mu);
            batch_set(b, GB_DONE, INT_MAX);
            /* the CPU clock only after the two wakes: reading it is a system
             * call that updates the scheduler's account of this thread, and
             * one whose time slice was used up was preempted right there,
             * before the hand-off (~25% of the groups in a sched_switch
             * trace, ~0.9 ms each); the two wakes count as leading */
            __atomic_fetch_add(&db->lead_cpu_ns, thread_cpu_ns() - c0, __ATOMIC_RELAXED);
            /* only now back to SCHED_BATCH: the switch lets any runnable
             * thread take the CPU at once, and done before the two wakes
             * above it held back the next leader and this batch's callers
             * (a sched_switch trace: ~25% of the groups) */
            sched_lead_end();
            break;
        }
        syscall(SYS_futex, &b->word, FUTEX_WAIT_PRIVATE, w, NULL, NULL, 0);
    }
    int rc = me.rc;
    if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) free(b);
    return rc;
}

int db_tx(db_t *db, db_tx_fn fn, void *ctx)
{
    db_conn_t *c = db_acquire(db);
    if (!c) return DB_ENOCONN;
    int rc;
    /* a connection already in a transaction or holding the write lock gets
     * the old path (and its error), never a group it would break or block */
    if (c->kind == DB_SQLITE && db->group_max > 1 && !c->dead && !c->in_tx && !c->holds_write_lock)
        rc = tx_grouped(c, fn, ctx);
    else
        rc = tx_alone(c, fn, ctx);
    db_release(c);
    return rc;
}

/* ---------- statements ---------- */

static size_t slot_of(const db_conn_t *c, const db_sql_t *key)
{
    uintptr_t h = (uintptr_t)key;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 20) & (c->cap - 1);
}

static void cache_grow(db_conn_t *c)
{
    size_t oc = c->cap;
    cache_slot_t *old = c->slots;
    c->cap = oc ? oc * 2 : 64;
    c->slots = xcalloc(c->cap, sizeof *c->slots);
    c->n = 0;
    for (size_t i = 0; i < oc; i++)
        if (old[i].key) {
            size_t j = slot_of(c, old[i].key);
            while (c->slots[j].key) j = (j + 1) & (c->cap - 1);
            c->slots[j] = old[i];
            c->n++;
        }
    free(old);
}

static db_stmt_t *stmt_new(db_conn_t *c, const db_sql_t *q)
{
    db_stmt_t *st = xcalloc(1, sizeof *st);
    st->c = c;
    st->key = q;
    int rc = c->kind == DB_SQLITE ? dbsq_prepare(st) : dbpg_prepare(st);
    if (rc < 0) {
        log_error("db", "prepare failed: %s", c->errmsg);
        free(st);
        return NULL;
    }
    return st;
}

db_stmt_t *db_prepare(db_conn_t *c, const db_sql_t *q)
{
    if (c->dead) {
        db_set_err(c, "no database connection");
        return NULL;
    }
    if (c->n * 2 >= c->cap) cache_grow(c);
    size_t j = slot_of(c, q);
    while (c->slots[j].key && c->slots[j].key != q) j = (j + 1) & (c->cap - 1);
    if (c->slots[j].key == q) {
        db_stmt_t *st = c->slots[j].st;
        if (!st->busy) {
            st->busy = 1;
            return st;
        }
        /* the cached statement is in use further up the stack */
        db_stmt_t *tmp = stmt_new(c, q);
        if (tmp) {
            tmp->temp = 1;
            tmp->busy = 1;
        }
        return tmp;
    }
    db_stmt_t *st = stmt_new(c, q);
    if (!st) return NULL;
    c->slots[j].key = q;
    c->slots[j].st = st;
    c->n++;
    st->busy = 1;
    return st;
}

void db_bind_int(db_stmt_t *st, int idx, int64_t v)
{
    if (st->c->kind == DB_SQLITE) {
        sqlite3_bind_int64(st->sq, idx, v);
        return;
    }
    if (idx < 1 || idx > st->nparams) return;
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    free(st->pvals[idx - 1]);
    st->pvals[idx - 1] = xstrdup(tmp);
}

void db_bind_textn(db_stmt_t *st, int idx, const char *s, size_t n)
{
    if (!s) {
        db_bind_null(st, idx);
        return;
    }
    if (st->c->kind == DB_SQLITE) {
        sqlite3_bind_text(st->sq, idx, s, (int)n, SQLITE_TRANSIENT);
        return;
    }
    if (idx < 1 || idx > st->nparams) return;
    free(st->pvals[idx - 1]);
    st->pvals[idx - 1] = xstrndup(s, n);
}

void db_bind_text(db_stmt_t *st, int idx, const char *s)
{
    db_bind_textn(st, idx, s, s ? strlen(s) : 0);
}

void db_bind_null(db_stmt_t *st, int idx)
{
    if (st->c->kind == DB_SQLITE) {
        sqlite3_bind_null(st->sq, idx);
        return;
    }
    if (idx < 1 || idx > st->nparams) return;
    free(st->pvals[idx - 1]);
    st->pvals[idx - 1] = NULL;
}

int db_step(db_stmt_t *st)
{
    int rc = st->c->kind == DB_SQLITE ? dbsq_step(st) : dbpg_step(st);
    if (rc < 0 && rc != DB_EBUSY && rc != DB_ECONSTRAINT)
        log_error("db", "statement failed: %s", st->c->errmsg);
    return rc;
}

int db_col_count(db_stmt_t *st)
{
    if (st->c->kind == DB_SQLITE) return sqlite3_column_count(st->sq);
    return st->res ? PQnfields(st->res) : 0;
}

bool db_col_is_null(db_stmt_t *st, int col)
{
    if (st->c->kind == DB_SQLITE) return sqlite3_column_type(st->sq, col) == SQLITE_NULL;
    return !st->res || st->row < 0 || st->row >= st->nrows || PQgetisnull(st->res, st->row, col);
}

int64_t db_col_int(db_stmt_t *st, int col)
{
    if (st->c->kind == DB_SQLITE) return sqlite3_column_int64(st->sq, col);
    if (db_col_is_null(st, col)) return 0;
    const char *v = PQgetvalue(st->res, st->row, col);
    if (v[0] == 't' && v[1] == '\0') return 1; /* boolean expressions */
    if (v[0] == 'f' && v[1] == '\0') return 0;
    return strtoll(v, NULL, 10);
}

const char *db_col_text(db_stmt_t *st, int col)
{
    if (st->c->kind == DB_SQLITE) return (const char *)sqlite3_column_text(st->sq, col);
    if (db_col_is_null(st, col)) return NULL;
    return PQgetvalue(st->res, st->row, col);
}

size_t db_col_len(db_stmt_t *st, int col)
{
    if (st->c->kind == DB_SQLITE) {
        sqlite3_column_text(st->sq, col);
        return (size_t)sqlite3_column_bytes(st->sq, col);
    }
    if (db_col_is_null(st, col)) return 0;
    return (size_t)PQgetlength(st->res, st->row, col);
}

int64_t db_changes(db_stmt_t *st) { return st->changes; }

void db_reset(db_stmt_t *st)
{
    if (!st) return;
    if (st->c->kind == DB_SQLITE) dbsq_reset(st);
    else dbpg_reset(st);
    st->busy = 0;
    if (st->temp) {
        if (st->c->kind == DB_SQLITE) dbsq_finalize(st);
        else dbpg_finalize(st);
        free(st);
    }
}

static int bind_va(db_stmt_t *st, const char *fmt, va_list ap)
{
    int idx = 1;
    for (const char *f = fmt; *f; f++, idx++) {
        switch (*f) {
        case 'i': db_bind_int(st, idx, va_arg(ap, int)); break;
        case 'L': db_bind_int(st, idx, va_arg(ap, int64_t)); break;
        case 's': db_bind_text(st, idx, va_arg(ap, const char *)); break;
        case 'N': db_bind_null(st, idx); break;
        default:
            db_set_err(st->c, "bad bind format '%c'", *f);
            return DB_ERR;
        }
    }
    return DB_OK;
}

/* db_exec's body; limit > 0 is bound as the parameter after fmt's */
static int64_t exec_va(db_conn_t *c, const db_sql_t *q, int64_t limit, const char *fmt, va_list ap)
{
    db_stmt_t *st = db_prepare(c, q);
    if (!st) return DB_ERR;
    int rc = bind_va(st, fmt, ap);
    if (limit > 0) db_bind_int(st, (int)strlen(fmt) + 1, limit);
    if (rc == DB_OK) {
        do {
            rc = db_step(st);
        } while (rc == DB_ROW);
    }
    int64_t changes = st->changes;
    db_reset(st);
    return rc < 0 ? rc : changes;
}

int64_t db_exec(db_conn_t *c, const db_sql_t *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int64_t n = exec_va(c, q, 0, fmt, ap);
    va_end(ap);
    return n;
}

int64_t db_exec_batches(db_conn_t *c, const db_sql_t *q, int64_t batch, const char *fmt, ...)
{
    if (c->in_tx) {
        db_set_err(c, "db_exec_batches inside a transaction");
        return DB_ERR;
    }
    int64_t total = 0, changes;
    do {
        va_list ap;
        va_start(ap, fmt);
        changes = exec_va(c, q, batch, fmt, ap);
        va_end(ap);
        if (changes < 0) return changes;
        total += changes;
    } while (changes >= batch);
    return total;
}

int64_t db_insert_id(db_conn_t *c, const db_sql_t *q, const char *fmt, ...)
{
    db_stmt_t *st = db_prepare(c, q);
    if (!st) return DB_ERR;
    va_list ap;
    va_start(ap, fmt);
    int rc = bind_va(st, fmt, ap);
    va_end(ap);
    int64_t id = 0;
    if (rc == DB_OK) {
        rc = db_step(st);
        if (rc == DB_ROW && c->kind == DB_POSTGRES) id = db_col_int(st, 0);
        while (rc == DB_ROW) rc = db_step(st);
    }
    if (rc >= 0 && c->kind == DB_SQLITE && st->changes > 0) id = sqlite3_last_insert_rowid(c->sq);
    db_reset(st);
    return rc < 0 ? rc : id;
}

db_stmt_t *db_query(db_conn_t *c, const db_sql_t *q, int *rcp, const char *fmt, ...)
{
    db_stmt_t *st = db_prepare(c, q);
    if (!st) {
        *rcp = DB_ERR;
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = bind_va(st, fmt, ap);
    va_end(ap);
    if (rc == DB_OK) rc = db_step(st);
    *rcp = rc;
    if (rc < 0) {
        db_reset(st);
        return NULL;
    }
    return st;
}

int db_exec_script(db_conn_t *c, const char *sql)
{
    return c->kind == DB_SQLITE ? dbsq_exec_script(c, sql) : dbpg_exec_script(c, sql);
}

static void render_db_metrics(buf_t *out, void *ctx)
{
    db_t *db = ctx;
    metrics_family(out, "mercato_db_transactions_total", "counter", "Database transactions by outcome.");
    buf_printf(out, "mercato_db_transactions_total{outcome=\"commit\"} %llu\n",
               (unsigned long long)metrics_get(&db->commits));
    buf_printf(out, "mercato_db_transactions_total{outcome=\"rollback\"} %llu\n",
               (unsigned long long)metrics_get(&db->rollbacks));
    metrics_family(out, "mercato_db_transaction_retries_total", "counter",
                   "Transactions retried after a busy or serialization error.");
    buf_printf(out, "mercato_db_transaction_retries_total %llu\n", (unsigned long long)metrics_get(&db->retries));
    metrics_family(out, "mercato_db_connections", "gauge", "Open database connections.");
    pthread_mutex_lock(&db->mu);
    size_t n = db->nall;
    int in_use = db->in_use;
    pthread_mutex_unlock(&db->mu);
    buf_printf(out, "mercato_db_connections{backend=\"%s\"} %zu\n", db_kind_name(db), n);
    if (db->kind == DB_SQLITE) {
        metrics_family(out, "mercato_db_write_lock_acquisitions_total", "counter",
                       "Times a writer took SQLite's in-process write lock (one per write transaction).");
        buf_printf(out, "mercato_db_write_lock_acquisitions_total %llu\n",
                   (unsigned long long)metrics_get(&db->write_locks));
        metrics_family(out, "mercato_db_write_lock_wait_seconds_total", "counter",
                       "Time writers spent waiting for the write lock, summed over threads.");
        buf_printf(out, "mercato_db_write_lock_wait_seconds_total %.6f\n", metrics_get(&db->write_wait_ns) / 1e9);
        metrics_family(out, "mercato_db_write_lock_held_seconds_total", "counter",
                       "Time the write lock was held (the writer's busy time; its rate is the writer's utilisation).");
        buf_printf(out, "mercato_db_write_lock_held_seconds_total %.6f\n", metrics_get(&db->write_held_ns) / 1e9);
        metrics_family(out, "mercato_db_checkpoints_total", "counter",
                       "WAL checkpoints by the background checkpointer.");
        buf_printf(out, "mercato_db_checkpoints_total %llu\n", (unsigned long long)metrics_get(&db->ckpts));
        metrics_family(out, "mercato_db_checkpoint_pages_total", "counter", "WAL pages copied into the database file.");
        buf_printf(out, "mercato_db_checkpoint_pages_total %llu\n", (unsigned long long)metrics_get(&db->ckpt_frames));
        metrics_family(out, "mercato_db_checkpoint_seconds_total", "counter", "Time spent checkpointing.");
        buf_printf(out, "mercato_db_checkpoint_seconds_total %.6f\n", metrics_get(&db->ckpt_ns) / 1e9);
        metrics_family(out, "mercato_db_checkpoint_lock_seconds_total", "counter",
                       "Of the checkpoint time, the part holding the write lock (the last frames, waiting for readers).");
        buf_printf(out, "mercato_db_checkpoint_lock_seconds_total %.6f\n", metrics_get(&db->ckpt_lock_ns) / 1e9);
        metrics_family(out, "mercato_db_checkpoint_restarts_total", "counter",
                       "Checkpoints after which the WAL starts again from its beginning (readers of older snapshots waited for).");
        buf_printf(out, "mercato_db_checkpoint_restarts_total %llu\n", (unsigned long long)metrics_get(&db->ckpt_restarts));
        uint64_t wal_calls, wal_bytes;
        dbsq_vfs_stats(&wal_calls, &wal_bytes);
        metrics_family(out, "mercato_db_wal_writes_total", "counter",
                       "Write calls to the WAL file (a commit's frames go out in one; see src/db/sqlite_vfs.c).");
        buf_printf(out, "mercato_db_wal_writes_total %llu\n", (unsigned long long)wal_calls);
        metrics_family(out, "mercato_db_wal_written_bytes_total", "counter", "Bytes written to the WAL file.");
        buf_printf(out, "mercato_db_wal_written_bytes_total %llu\n", (unsigned long long)wal_bytes);
        metrics_family(out, "mercato_db_group_commits_total", "counter",
                       "SQLite commits that carried one or more db transactions (group commit).");
        buf_printf(out, "mercato_db_group_commits_total %llu\n", (unsigned long long)metrics_get(&db->groups));
        metrics_family(out, "mercato_db_grouped_transactions_total", "counter",
                       "db transactions committed in those groups (divided by the commits: the mean group size).");
        buf_printf(out, "mercato_db_grouped_transactions_total %llu\n", (unsigned long long)metrics_get(&db->grouped));
        metrics_family(out, "mercato_db_group_reruns_total", "counter",
                       "Groups whose optimistic pass (no savepoint per transaction) failed and ran again with savepoints.");
        buf_printf(out, "mercato_db_group_reruns_total %llu\n", (unsigned long long)metrics_get(&db->group_reruns));
        metrics_family(out, "mercato_db_group_leader_seconds_total", "counter",
                       "Time group leaders spent leading (BEGIN to the last caller's result; wall clock).");
        buf_printf(out, "mercato_db_group_leader_seconds_total %.6f\n", metrics_get(&db->lead_ns) / 1e9);
        metrics_family(out, "mercato_db_group_leader_cpu_seconds_total", "counter",
                       "CPU time of the group leaders' threads while leading and handing on (SQLite work, JSON, the fns' logic, the wakes).");
        buf_printf(out, "mercato_db_group_leader_cpu_seconds_total %.6f\n", metrics_get(&db->lead_cpu_ns) / 1e9);
    }
    if (db->kind == DB_POSTGRES) {
        metrics_family(out, "mercato_db_pool_in_use", "gauge", "PostgreSQL connections checked out.");
        buf_printf(out, "mercato_db_pool_in_use %d\n", in_use);
        metrics_family(out, "mercato_db_pool_waits_total", "counter", "Times a caller waited for a pooled connection.");
        buf_printf(out, "mercato_db_pool_waits_total %llu\n", (unsigned long long)metrics_get(&db->pool_waits));
    }
}

void db_register_metrics(db_t *db) { metrics_register(render_db_metrics, db); }
