/*
 * test_jobs.c — the durable job queue on the configured backend, with real
 * worker processes: exactly-once completion with two workers, recovery after
 * SIGKILL, enqueue inside a rolled-back transaction, backoff to dead and a
 * manual retry, unique keys, and cron slots fired once with two workers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "db/db.h"
#include "db/migrate.h"
#include "jobs/jobq.h"
#include "jobs/runtime.h"
#include "util/timeutil.h"
#include "testdb.h"

static char g_url[512];

static db_t *open_url(const char *url)
{
    db_t *db = NULL;
    char err[256];
    if (db_open(&db, url, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "db_open: %s\n", err);
        abort();
    }
    return db;
}

static db_t *fresh(void)
{
    snprintf(g_url, sizeof g_url, "%s", testdb_new());
    db_t *db = open_url(g_url);
    int applied;
    char err[256];
    assert_int_equal(db_migrate(db, &applied, err, sizeof err), 0);
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec_script(c, "CREATE TABLE runs (job_id BIGINT NOT NULL, worker TEXT, at BIGINT)"), 0);
    db_release(c);
    return db;
}

DB_SQL(q_run, "INSERT INTO runs (job_id, worker, at) VALUES ($1, $2, $3)");
DB_SQL(q_runs, "SELECT COUNT(*), COUNT(DISTINCT job_id) FROM runs");
/* the runtime's own system.purge (every 10 minutes) may run during a test that
 * crosses a slot: it is not one of the test's jobs */
DB_SQL(q_state_count, "SELECT COUNT(*) FROM jobs WHERE state = $1 AND queue <> 'system.purge'");
DB_SQL(q_job, "SELECT state, attempts, errors FROM jobs WHERE id = $1");

static const char *g_worker_name = "parent";

static int h_record(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    db_conn_t *c = db_acquire(jobs_run_db(run));
    int64_t r = db_exec(c, &q_run, "LsL", job->id, g_worker_name, time_now_ms());
    db_release(c);
    if (r != 1) {
        jobs_fail(run, "could not record the run");
        return JOB_RETRY;
    }
    return JOB_OK;
}

static int64_t scalar(db_t *db, const db_sql_t *q, const char *fmt, const char *arg)
{
    db_conn_t *c = db_acquire(db);
    int rc;
    db_stmt_t *st = fmt[0] ? db_query(c, q, &rc, fmt, arg) : db_query(c, q, &rc, "");
    int64_t v = st && rc == DB_ROW ? db_col_int(st, 0) : -1;
    if (st) db_reset(st);
    db_release(c);
    return v;
}

static void wait_for(db_t *db, const char *state, int64_t want, int timeout_s)
{
    int64_t end = time_now_ms() + timeout_s * 1000;
    while (time_now_ms() < end) {
        if (scalar(db, &q_state_count, "s", state) >= want) return;
        usleep(50000);
    }
    fail_msg("timed out waiting for %lld jobs in state %s (have %lld)", (long long)want, state,
             (long long)scalar(db, &q_state_count, "s", state));
}

/* A worker process: opens its own database handle and runs until killed. */
static pid_t spawn_worker(const char *name, int64_t lease_ms, job_handler_fn fn, const char *queue,
                          const char *cron_name, const char *cron_expr)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
    g_worker_name = name;
    signal(SIGTERM, SIG_DFL);
    db_t *db = open_url(g_url);
    jobs_opts_t o = { .workers = 1, .batch = 64, .lease_ms = lease_ms, .poll_ms = 20, .worker_id = name };
    jobs_t *rt = jobs_new(db, &o);
    jobs_register(rt, queue, fn, NULL);
    if (cron_name) jobs_schedule(rt, cron_name, cron_expr, queue, NULL);
    jobs_start(rt);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    jobs_stop(rt, 5000);
    jobs_free(rt);
    db_close(db);
    _exit(0);
}

static void stop_worker(pid_t pid)
{
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

typedef struct {
    int n;
} enq_ctx_t;

static int enqueue_many(db_conn_t *c, void *arg)
{
    enq_ctx_t *e = arg;
    json_t *p = json_object();
    for (int i = 0; i < e->n; i++) {
        json_object_set_new(p, "i", json_integer(i));
        if (jobq_enqueue(c, "record", p, NULL) <= 0) {
            json_decref(p);
            return DB_ERR;
        }
    }
    json_decref(p);
    return 0;
}

static void test_two_workers_exactly_once(void **state)
{
    (void)state;
    db_t *db = fresh();
    enq_ctx_t e = { 10000 };
    assert_int_equal(db_tx(db, enqueue_many, &e), 0);
    pid_t a = spawn_worker("wa", 30000, h_record, "record", NULL, NULL);
    pid_t b = spawn_worker("wb", 30000, h_record, "record", NULL, NULL);
    wait_for(db, "completed", 10000, 240);
    stop_worker(a);
    stop_worker(b);
    db_conn_t *c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_runs, &rc, "");
    assert_int_equal(db_col_int(st, 0), 10000); /* every job ran ... */
    assert_int_equal(db_col_int(st, 1), 10000); /* ... and none twice */
    db_reset(st);
    db_release(c);
    assert_int_equal(scalar(db, &q_state_count, "s", "queued"), 0);
    assert_int_equal(scalar(db, &q_state_count, "s", "running"), 0);
    db_close(db);
}

/* started -> record a marker, then hang so the process can be killed */
DB_SQL(q_marker, "INSERT INTO runs (job_id, worker, at) VALUES ($1, 'started', $2)");
DB_SQL(q_markers, "SELECT COUNT(*) FROM runs WHERE worker = $1");

static int h_hang(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    db_conn_t *c = db_acquire(jobs_run_db(run));
    db_exec(c, &q_marker, "LL", job->id, time_now_ms());
    db_release(c);
    for (;;) pause();
    return JOB_OK;
}

static void test_killed_worker_job_runs_again(void **state)
{
    (void)state;
    db_t *db = fresh();
    db_conn_t *c = db_acquire(db);
    int64_t id = jobq_enqueue(c, "slow", NULL, NULL);
    db_release(c);
    assert_true(id > 0);
    pid_t a = spawn_worker("victim", 1500, h_hang, "slow", NULL, NULL);
    int64_t end = time_now_ms() + 20000;
    while (scalar(db, &q_markers, "s", "started") < 1 && time_now_ms() < end) usleep(20000);
    assert_int_equal(scalar(db, &q_markers, "s", "started"), 1);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    /* a healthy worker takes over once the lease has expired */
    pid_t b = spawn_worker("rescuer", 30000, h_record, "slow", NULL, NULL);
    wait_for(db, "completed", 1, 30);
    stop_worker(b);
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_job, &rc, "L", id);
    assert_string_equal(db_col_text(st, 0), "completed");
    assert_int_equal(db_col_int(st, 1), 2); /* the killed run counted as an attempt */
    assert_non_null(strstr(db_col_text(st, 2), "lease expired"));
    db_reset(st);
    db_release(c);
    assert_int_equal(scalar(db, &q_markers, "s", "rescuer"), 1); /* completed once */
    db_close(db);
}

static void test_rolled_back_enqueue_never_runs(void **state)
{
    (void)state;
    db_t *db = fresh();
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_begin(c), 0);
    assert_true(jobq_enqueue(c, "record", NULL, NULL) > 0);
    db_rollback(c);
    assert_true(jobq_enqueue(c, "record", NULL, NULL) > 0); /* a committed one, to know workers ran */
    db_release(c);
    pid_t a = spawn_worker("w", 30000, h_record, "record", NULL, NULL);
    wait_for(db, "completed", 1, 30);
    usleep(300000);
    stop_worker(a);
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_runs, &rc, "");
    assert_int_equal(db_col_int(st, 0), 1);
    db_reset(st);
    db_release(c);
    db_close(db);
}

/* One worker runs queue with the transactional handler fn until a job of
 * it has completed (timeout_s at most), then stops. */
static void run_tx_queue(db_t *db, const char *queue, job_tx_handler_fn fn, const char *worker, int timeout_s)
{
    jobs_opts_t o = { .workers = 1, .lease_ms = 30000, .poll_ms = 20, .worker_id = worker };
    jobs_t *rt = jobs_new(db, &o);
    jobs_register_tx(rt, queue, fn, NULL);
    jobs_start(rt);
    wait_for(db, "completed", 1, timeout_s);
    jobs_stop(rt, 5000);
    jobs_free(rt);
}

/* A transactional handler's writes commit with its completion: the first
 * attempt writes a row and fails, which rolls the row back; the second
 * writes it and completes.  One row, two attempts, one error recorded. */
static int h_tx(db_conn_t *c, job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    if (db_exec(c, &q_run, "LsL", job->id, "tx", time_now_ms()) != 1) return JOB_RETRY;
    if (job->attempt == 1) {
        jobs_fail(run, "attempt %d fails after writing", job->attempt);
        return JOB_RETRY;
    }
    return JOB_OK;
}

static void test_tx_handler_writes_commit_with_completion(void **state)
{
    (void)state;
    db_t *db = fresh();
    db_conn_t *c = db_acquire(db);
    jobq_opts_t jo = { .max_attempts = 3, .backoff_ms = 10 };
    int64_t id = jobq_enqueue(c, "txjob", NULL, &jo);
    assert_true(id > 0);
    db_release(c);
    run_tx_queue(db, "txjob", h_tx, "tx", 10);
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_runs, &rc, "");
    assert_int_equal(db_col_int(st, 0), 1);
    db_reset(st);
    st = db_query(c, &q_job, &rc, "L", id);
    assert_int_equal(rc, DB_ROW);
    assert_int_equal(db_col_int(st, 1), 2);
    json_t *errs = json_loads(db_col_text(st, 2), 0, NULL);
    db_reset(st);
    db_release(c);
    assert_int_equal(json_array_size(errs), 1);
    json_decref(errs);
    db_close(db);
}

/* JOB_AGAIN: one row runs its steps.  The handler records each step it
 * runs (in its transaction), fails once at step 2 after writing (that
 * write rolls back and the step runs again), and asks for the next step
 * with a new payload until step 3.  One job row, three recorded steps, no
 * other job inserted; its attempts start again at each step. */
DB_SQL(q_steps, "SELECT COUNT(*), SUM(CASE WHEN worker = 'step1' THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN worker = 'step2' THEN 1 ELSE 0 END), SUM(CASE WHEN worker = 'step3' THEN 1 ELSE 0 END)"
                " FROM runs");
DB_SQL(q_job_rows, "SELECT COUNT(*) FROM jobs WHERE queue = 'stepper'");
DB_SQL(q_job_payload, "SELECT payload, attempts FROM jobs WHERE id = $1");
static int g_step2_failed;

static int h_steps(db_conn_t *c, job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    int step = (int)json_integer_value(json_object_get(job->payload, "step"));
    char name[16];
    snprintf(name, sizeof name, "step%d", step);
    if (db_exec(c, &q_run, "LsL", job->id, name, time_now_ms()) != 1) return JOB_RETRY;
    if (step == 2 && !g_step2_failed) {
        g_step2_failed = 1;
        jobs_fail(run, "step 2 fails once after writing");
        return JOB_RETRY;
    }
    if (step >= 3) return JOB_OK;
    json_t *next = json_pack("{s:i}", "step", step + 1);
    int rc = jobs_again(run, 10, next);
    json_decref(next);
    return rc;
}

static void test_job_again_steps_one_row(void **state)
{
    (void)state;
    db_t *db = fresh();
    db_conn_t *c = db_acquire(db);
    json_t *p = json_pack("{s:i}", "step", 1);
    jobq_opts_t jo = { .max_attempts = 2, .backoff_ms = 10 };
    int64_t id = jobq_enqueue(c, "stepper", p, &jo);
    json_decref(p);
    assert_true(id > 0);
    db_release(c);
    run_tx_queue(db, "stepper", h_steps, "steps", 20);
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_steps, &rc, "");
    assert_int_equal(db_col_int(st, 0), 3); /* step 2's failed write rolled back */
    assert_int_equal(db_col_int(st, 1), 1);
    assert_int_equal(db_col_int(st, 2), 1);
    assert_int_equal(db_col_int(st, 3), 1);
    db_reset(st);
    st = db_query(c, &q_job_rows, &rc, "");
    assert_int_equal(db_col_int(st, 0), 1);
    db_reset(st);
    st = db_query(c, &q_job_payload, &rc, "L", id);
    assert_int_equal(rc, DB_ROW);
    assert_string_equal(db_col_text(st, 0), "{\"step\":3}");
    /* max_attempts 2, and step 2 took two: the count started again per step */
    assert_int_equal(db_col_int(st, 1), 1);
    db_reset(st);
    db_release(c);
    assert_int_equal(scalar(db, &q_state_count, "s", "dead"), 0);
    db_close(db);
}

static volatile int g_should_fail = 1;

static int h_flaky(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    (void)job;
    if (g_should_fail) {
        jobs_fail(run, "attempt %d: the remote said no", job->attempt);
        return JOB_RETRY;
    }
    return h_record(run, job, NULL);
}

static void test_backoff_to_dead_then_retry(void **state)
{
    (void)state;
    db_t *db = fresh();
    db_conn_t *c = db_acquire(db);
    jobq_opts_t o = { .max_attempts = 3, .backoff_ms = 100 };
    int64_t id = jobq_enqueue(c, "flaky", NULL, &o);
    db_release(c);
    /* in-process runtime so the handler's behaviour can be switched */
    g_should_fail = 1;
    jobs_opts_t jo = { .workers = 1, .poll_ms = 20, .lease_ms = 30000 };
    jobs_t *rt = jobs_new(db, &jo);
    jobs_register(rt, "flaky", h_flaky, NULL);
    int64_t t0 = time_now_ms();
    jobs_start(rt);
    wait_for(db, "dead", 1, 30);
    int64_t took = time_now_ms() - t0;
    /* backoff 100 ms then 200 ms (+-20%): at least ~240 ms before dead */
    assert_true(took >= 240);
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_job, &rc, "L", id);
    assert_string_equal(db_col_text(st, 0), "dead");
    assert_int_equal(db_col_int(st, 1), 3);
    json_t *hist = json_loads(db_col_text(st, 2), 0, NULL);
    db_reset(st);
    assert_int_equal(json_array_size(hist), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 2), "error")),
                        "attempt 3: the remote said no");
    json_decref(hist);
    /* not retriable while queued; retriable once dead */
    assert_int_equal(jobq_discard(c, id + 1000), 1);
    g_should_fail = 0;
    assert_int_equal(jobq_retry(c, id), 0);
    assert_int_equal(jobq_retry(c, id), 1); /* already queued */
    db_release(c);
    jobs_notify(rt);
    wait_for(db, "completed", 1, 30);
    jobs_stop(rt, 5000);
    jobs_free(rt);
    c = db_acquire(db);
    json_t *j = jobq_get(c, id);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "completed");
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 3); /* history kept */
    json_decref(j);
    json_t *stats = jobq_stats(c);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(stats, "totals"), "completed")), 1);
    json_decref(stats);
    db_release(c);
    db_close(db);
}

static void test_unique_key(void **state)
{
    (void)state;
    db_t *db = fresh();
    db_conn_t *c = db_acquire(db);
    jobq_opts_t o = { .unique_key = "reindex:prod_1" };
    int64_t a = jobq_enqueue(c, "record", NULL, &o);
    assert_true(a > 0);
    assert_int_equal(jobq_enqueue(c, "record", NULL, &o), 0);
    assert_int_equal(jobq_discard(c, a), 0);
    /* a finished job frees the key */
    assert_true(jobq_enqueue(c, "record", NULL, &o) > a);
    json_t *list = jobq_list(c, "record", "discarded", 0, 10);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    db_release(c);
    db_close(db);
}

static pthread_mutex_t g_order_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_order[16], g_norder;

static int h_order(job_run_t *run, const job_t *job, void *ctx)
{
    (void)run;
    (void)ctx;
    pthread_mutex_lock(&g_order_mu);
    if (g_norder < 16) g_order[g_norder++] = (int)json_integer_value(json_object_get(job->payload, "p"));
    pthread_mutex_unlock(&g_order_mu);
    return JOB_OK;
}

/* Claims go priority by priority (see claim() in runtime.c): higher first,
 * several priorities with batches smaller than each, and a delayed job of the
 * highest priority waits for its time without holding the others back. */
static void test_priorities_and_delayed(void **state)
{
    (void)state;
    db_t *db = fresh();
    db_conn_t *c = db_acquire(db);
    int prios[] = { 0, -3, 5, 0, 5, -3, 0, 5 };
    for (size_t i = 0; i < sizeof prios / sizeof *prios; i++) {
        jobq_opts_t o = { .priority = prios[i] };
        json_t *p = json_pack("{s:i}", "p", prios[i]);
        assert_true(jobq_enqueue(c, "record", p, &o) > 0);
        json_decref(p);
    }
    jobq_opts_t later = { .priority = 9, .delay_ms = 4000 }; /* far enough for a loaded CI machine */
    json_t *p9 = json_pack("{s:i}", "p", 9);
    int64_t delayed = jobq_enqueue(c, "record", p9, &later);
    json_decref(p9);
    assert_true(delayed > 0);
    db_release(c);
    jobs_opts_t o = { .workers = 1, .batch = 2, .lease_ms = 30000, .poll_ms = 20, .worker_id = "prio" };
    jobs_t *rt = jobs_new(db, &o);
    jobs_register(rt, "record", h_order, NULL);
    jobs_start(rt);
    wait_for(db, "completed", 8, 30);
    assert_int_equal(scalar(db, &q_state_count, "s", "queued"), 1); /* the delayed one is not due yet */
    wait_for(db, "completed", 9, 30);
    jobs_stop(rt, 5000);
    jobs_free(rt);
    int want[] = { 5, 5, 5, 0, 0, 0, -3, -3, 9 };
    assert_int_equal(g_norder, 9);
    for (int i = 0; i < 9; i++) assert_int_equal(g_order[i], want[i]);
    db_close(db);
}

/* A shared consumer: sees every event once, promptly (woken by the commit),
 * and a runtime stopped gracefully hands its cursor over at once — a second
 * runtime with the same consumer continues where the first stopped, without
 * waiting for the 30 s lease or replaying what was handled. */
static pthread_mutex_t g_seen_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_seen[32];
static int g_nseen;

static int c_record(db_conn_t *c, const event_t *ev, void *ctx)
{
    (void)c;
    (void)ctx;
    pthread_mutex_lock(&g_seen_mu);
    if (g_nseen < 32) g_seen[g_nseen++] = ev->id;
    pthread_mutex_unlock(&g_seen_mu);
    return 0;
}

static int seen_count(void)
{
    pthread_mutex_lock(&g_seen_mu);
    int n = g_nseen;
    pthread_mutex_unlock(&g_seen_mu);
    return n;
}

static void wait_seen(int want)
{
    int64_t end = time_now_ms() + 10000;
    while (seen_count() < want && time_now_ms() < end) usleep(10000);
    assert_int_equal(seen_count(), want);
}

static void append_events(db_t *db, int n, int64_t *ids)
{
    db_conn_t *c = db_acquire(db);
    for (int i = 0; i < n; i++) {
        assert_int_equal(db_begin(c), 0);
        ids[i] = event_append(c, "test.happened", "subj_1", "test", NULL);
        assert_true(ids[i] > 0);
        assert_int_equal(db_commit(c), 0);
    }
    db_release(c);
}

static void test_consumer_handover(void **state)
{
    (void)state;
    db_t *db = fresh();
    jobs_opts_t o = { .workers = 1, .lease_ms = 30000, .poll_ms = 20, .worker_id = "ca" };
    jobs_t *a = jobs_new(db, &o);
    jobs_consume_events(a, "counter", c_record, NULL);
    jobs_start(a);
    int64_t ids[8];
    append_events(db, 5, ids);
    wait_seen(5);
    jobs_stop(a, 5000);
    jobs_free(a);
    for (int i = 0; i < 5; i++) assert_int_equal(g_seen[i], ids[i]);

    o.worker_id = "cb";
    jobs_t *b = jobs_new(db, &o);
    jobs_consume_events(b, "counter", c_record, NULL);
    jobs_start(b);
    append_events(db, 3, ids + 5);
    wait_seen(8); /* within 10 s: the first runtime's lease did not hold it */
    usleep(300000);
    assert_int_equal(seen_count(), 8); /* nothing replayed */
    for (int i = 5; i < 8; i++) assert_int_equal(g_seen[i], ids[i]);
    jobs_stop(b, 5000);
    jobs_free(b);
    db_close(db);
}

/* A consumer's writes commit with its cursor, per event: an event the
 * consumer refuses after writing leaves no row, the events before it are
 * kept, and it is offered again (and then handled once). */
static int64_t g_refuse = -1;

static int c_write(db_conn_t *c, const event_t *ev, void *ctx)
{
    (void)ctx;
    if (db_exec(c, &q_run, "LsL", ev->id, "consumer", time_now_ms()) != 1) return -1;
    if (ev->id == __atomic_load_n(&g_refuse, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&g_refuse, -1, __ATOMIC_RELEASE); /* once */
        return 1;
    }
    return 0;
}

DB_SQL(q_cursor, "SELECT last_id FROM event_consumers WHERE name = $1");

static void test_consumer_writes_commit_with_cursor(void **state)
{
    (void)state;
    db_t *db = fresh();
    int64_t ids[5];
    /* a consumer starts at the present: the events come after its start */
    jobs_opts_t o = { .workers = 1, .lease_ms = 30000, .poll_ms = 20, .worker_id = "cw" };
    jobs_t *rt = jobs_new(db, &o);
    jobs_consume_events(rt, "writer", c_write, NULL);
    jobs_start(rt);
    usleep(100000);
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_begin(c), 0);
    for (int i = 0; i < 5; i++) ids[i] = event_append(c, "test.happened", "subj_1", "test", NULL);
    __atomic_store_n(&g_refuse, ids[2], __ATOMIC_RELEASE);
    assert_int_equal(db_commit(c), 0);
    db_release(c);
    int64_t end = time_now_ms() + 10000;
    while (scalar(db, &q_cursor, "s", "writer") < ids[4] && time_now_ms() < end) usleep(20000);
    jobs_stop(rt, 5000);
    jobs_free(rt);
    assert_int_equal(scalar(db, &q_cursor, "s", "writer"), ids[4]);
    assert_int_equal(__atomic_load_n(&g_refuse, __ATOMIC_ACQUIRE), -1); /* it was refused once */
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_runs, &rc, "");
    assert_int_equal(rc, DB_ROW);
    assert_int_equal(db_col_int(st, 0), 5); /* the refused offer's row was rolled back */
    assert_int_equal(db_col_int(st, 1), 5);
    db_reset(st);
    db_release(c);
    db_close(db);
}

/* The purge removes events that are past the retention and consumed by
 * every shared consumer (oldest first, by id), nothing younger and nothing
 * a consumer has not reached; without consumers, everything past the
 * retention. */
DB_SQL(q_age_event, "UPDATE events SET created_at = 1000 WHERE id = $1");
DB_SQL(q_set_cursor, "INSERT INTO event_consumers (name, last_id, updated_at) VALUES ('reader', $1, 0)");
DB_SQL(q_drop_cursors, "DELETE FROM event_consumers");
DB_SQL(q_events_left, "SELECT COUNT(*), MIN(id) FROM events WHERE id >= $1");
DB_SQL(q_purges_done, "SELECT COUNT(*) FROM jobs WHERE queue = 'system.purge' AND state = $1");

static void run_purge(db_t *db)
{
    db_conn_t *c = db_acquire(db);
    assert_true(jobq_enqueue(c, "system.purge", NULL, NULL) > 0);
    db_release(c);
    jobs_opts_t o = { .workers = 1, .lease_ms = 30000, .poll_ms = 20, .worker_id = "pg", .retention_ms = 60000 };
    jobs_t *rt = jobs_new(db, &o);
    jobs_start(rt);
    int64_t end = time_now_ms() + 10000;
    while (scalar(db, &q_purges_done, "s", "completed") < 1 && time_now_ms() < end) usleep(20000);
    jobs_stop(rt, 5000);
    jobs_free(rt);
    assert_int_equal(scalar(db, &q_purges_done, "s", "completed"), 1);
    c = db_acquire(db);
    assert_int_equal(db_exec_script(c, "DELETE FROM jobs"), 0);
    db_release(c);
}

static void events_left(db_t *db, int64_t from, int64_t want_n, int64_t want_min)
{
    db_conn_t *c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_events_left, &rc, "L", from);
    assert_int_equal(rc, DB_ROW);
    assert_int_equal(db_col_int(st, 0), want_n);
    assert_int_equal(db_col_int(st, 1), want_min);
    db_reset(st);
    db_release(c);
}

static void test_purge_consumed_old_events(void **state)
{
    (void)state;
    db_t *db = fresh();
    int64_t ids[6];
    append_events(db, 6, ids);
    db_conn_t *c = db_acquire(db);
    for (int i = 0; i < 5; i++) assert_int_equal(db_exec(c, &q_age_event, "L", ids[i]), 1);
    assert_int_equal(db_exec(c, &q_set_cursor, "L", ids[2]), 1); /* consumed through the third */
    db_release(c);
    run_purge(db);
    events_left(db, ids[0], 3, ids[3]); /* old but not consumed, and the young one, stay */
    c = db_acquire(db);
    assert_int_equal(db_exec(c, &q_drop_cursors, ""), 1);
    db_release(c);
    run_purge(db);
    events_left(db, ids[0], 1, ids[5]); /* no consumers: only the retention counts */
    db_close(db);
}

/* PostgreSQL: an event committed by another process wakes this process's
 * consumers through LISTEN/NOTIFY; with the consumers' own round set to a
 * minute, only the notification can deliver it within the test's 10 s. */
static void test_consumer_woken_by_other_process(void **state)
{
    (void)state;
    db_t *db = fresh();
    if (db_kind(db) != DB_POSTGRES) {
        db_close(db);
        skip(); /* SQLite has no cross-process signal: other processes' events wait for the round */
    }
    pthread_mutex_lock(&g_seen_mu);
    g_nseen = 0;
    pthread_mutex_unlock(&g_seen_mu);
    jobs_opts_t o = { .workers = 1, .lease_ms = 30000, .poll_ms = 20, .worker_id = "cl", .consumer_ms = 60000 };
    jobs_t *rt = jobs_new(db, &o);
    jobs_consume_events(rt, "listener", c_record, NULL);
    jobs_start(rt);
    usleep(300000); /* the first round has run; the next is a minute away */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        db_t *other = open_url(g_url);
        int64_t id;
        append_events(other, 1, &id);
        db_close(other);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    wait_seen(1);
    jobs_stop(rt, 5000);
    jobs_free(rt);
    db_close(db);
}

DB_SQL(q_make_due, "UPDATE job_schedules SET next_run_at = $1 WHERE name = 'tick'");
DB_SQL(q_ticks, "SELECT COUNT(*), COUNT(DISTINCT unique_key) FROM jobs WHERE queue = 'tick'");
DB_SQL(q_sched_exists, "SELECT COUNT(*) FROM job_schedules WHERE name = $1");

static void test_cron_fires_once_per_slot(void **state)
{
    (void)state;
    db_t *db = fresh();
    pid_t a = spawn_worker("ca", 30000, h_record, "tick", "tick", "0 0 1 1 *");
    pid_t b = spawn_worker("cb", 30000, h_record, "tick", "tick", "0 0 1 1 *");
    int64_t end = time_now_ms() + 10000;
    while (scalar(db, &q_sched_exists, "s", "tick") < 1 && time_now_ms() < end) usleep(20000);
    /* make five distinct past slots due, one after the other */
    int64_t base = (time_now_ms() / 60000 - 100) * 60000;
    for (int i = 0; i < 5; i++) {
        db_conn_t *c = db_acquire(db);
        db_exec(c, &q_make_due, "L", base + i * 60000);
        db_release(c);
        int64_t until = time_now_ms() + 10000;
        int64_t want = i + 1;
        for (;;) {
            db_conn_t *c2 = db_acquire(db);
            int rc;
            db_stmt_t *st = db_query(c2, &q_ticks, &rc, "");
            int64_t n = db_col_int(st, 0);
            db_reset(st);
            db_release(c2);
            if (n >= want || time_now_ms() > until) break;
            usleep(20000);
        }
    }
    usleep(1500000); /* give a double fire every chance to show up */
    stop_worker(a);
    stop_worker(b);
    db_conn_t *c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_ticks, &rc, "");
    int64_t n = db_col_int(st, 0), distinct = db_col_int(st, 1);
    db_reset(st);
    db_release(c);
    assert_int_equal(n, 5);
    assert_int_equal(distinct, 5);
    db_close(db);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unique_key),
        cmocka_unit_test(test_priorities_and_delayed),
        cmocka_unit_test(test_consumer_handover),
        cmocka_unit_test(test_consumer_writes_commit_with_cursor),
        cmocka_unit_test(test_purge_consumed_old_events),
        cmocka_unit_test(test_consumer_woken_by_other_process),
        cmocka_unit_test(test_rolled_back_enqueue_never_runs),
        cmocka_unit_test(test_tx_handler_writes_commit_with_completion),
        cmocka_unit_test(test_job_again_steps_one_row),
        cmocka_unit_test(test_backoff_to_dead_then_retry),
        cmocka_unit_test(test_killed_worker_job_runs_again),
        cmocka_unit_test(test_cron_fires_once_per_slot),
        cmocka_unit_test(test_two_workers_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
