/*
 * jobs_bench.c — job queue throughput on the configured database.
 *
 *   jobs_bench DATABASE_URL [N]
 *
 * Prints, for N no-op jobs (default 50000):
 *   enqueue, one job per transaction (N/10 jobs)
 *   enqueue, batched 1000 per transaction
 *   processing by 2 worker threads (claim batch 64), until all completed
 * as jobs/s.  The database should be empty and migrated by the caller
 * (bench/jobs.sh does it with `mercato migrate`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "db/db.h"
#include "db/migrate.h"
#include "jobs/jobq.h"
#include "jobs/runtime.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

static int noop(job_run_t *run, const job_t *job, void *ctx)
{
    (void)run;
    (void)job;
    (void)ctx;
    return JOB_OK;
}

typedef struct {
    int n;
} batch_t;

static int enqueue_batch(db_conn_t *c, void *arg)
{
    batch_t *b = arg;
    for (int i = 0; i < b->n; i++)
        if (jobq_enqueue(c, "bench.noop", NULL, NULL) <= 0) return DB_ERR;
    return 0;
}

DB_SQL(q_done, "SELECT COUNT(*) FROM jobs WHERE state = 'completed'");
DB_SQL(q_clear, "DELETE FROM jobs");

static int64_t completed(db_t *db)
{
    db_conn_t *c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_done, &rc, "");
    int64_t n = st ? db_col_int(st, 0) : -1;
    if (st) db_reset(st);
    db_release(c);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: jobs_bench DATABASE_URL [N]\n");
        return 2;
    }
    if (sodium_init() < 0) return 1;
    log_set_level(LOG_WARN);
    int n = argc > 2 ? atoi(argv[2]) : 50000;
    db_t *db;
    char err[256];
    db_opts_t o = { .pool_size = 8 };
    if (db_open(&db, argv[1], &o, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int applied;
    if (db_migrate(db, &applied, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const char *backend = db_kind_name(db);

    /* one per transaction */
    int single = n / 10;
    int64_t t0 = time_mono_us();
    for (int i = 0; i < single; i++) {
        batch_t b = { 1 };
        if (db_tx(db, enqueue_batch, &b) != 0) return 1;
    }
    double secs = (double)(time_mono_us() - t0) / 1e6;
    printf("%-8s enqueue one-per-transaction  %8.0f jobs/s  (%d jobs)\n", backend, single / secs, single);

    db_conn_t *c = db_acquire(db);
    db_exec(c, &q_clear, "");
    db_release(c);

    /* batched */
    t0 = time_mono_us();
    for (int done = 0; done < n; done += 1000) {
        batch_t b = { n - done < 1000 ? n - done : 1000 };
        if (db_tx(db, enqueue_batch, &b) != 0) return 1;
    }
    secs = (double)(time_mono_us() - t0) / 1e6;
    printf("%-8s enqueue batched (1000/tx)    %8.0f jobs/s  (%d jobs)\n", backend, n / secs, n);

    /* processing */
    jobs_opts_t jo = { .workers = 2, .batch = 64, .poll_ms = 10 };
    jobs_t *rt = jobs_new(db, &jo);
    jobs_register(rt, "bench.noop", noop, NULL);
    t0 = time_mono_us();
    jobs_start(rt);
    while (completed(db) < n) usleep(2000);
    secs = (double)(time_mono_us() - t0) / 1e6;
    jobs_stop(rt, 5000);
    jobs_free(rt);
    printf("%-8s process no-op, 2 workers     %8.0f jobs/s  (%d jobs, %.2f s)  RSS %ld MB\n", backend, n / secs, n,
           secs, metrics_process_rss_bytes() / (1024 * 1024));
    db_close(db);
    return 0;
}
