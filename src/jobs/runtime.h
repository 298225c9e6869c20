/*
 * runtime.h — the job runtime: worker threads, the scheduler and event
 * consumers, running inside `mercato serve` or alone as `mercato worker`.
 *
 * Modules register handlers per queue, cron schedules and event consumers
 * at start-up (app_jobs() in src/app/jobs.c), then the runtime starts N
 * worker threads.  jobs_stop() drains: no new claims, running jobs finish
 * within the deadline, and leases of jobs that could not finish are
 * released so another worker can take them at once.
 */
#ifndef MERCATO_JOBS_RUNTIME_H
#define MERCATO_JOBS_RUNTIME_H

#include <jansson.h>
#include <stdint.h>

#include "db/db.h"
#include "jobs/events.h"
#include "jobs/jobq.h"

typedef struct jobs jobs_t;

/* Handler result: 0 success; JOB_RETRY (or any other negative) fails this
 * attempt (retried with backoff until max_attempts); JOB_DEAD fails for
 * good.  Set a message with jobs_fail() before returning. */
#define JOB_OK 0
#define JOB_RETRY (-1)
#define JOB_DEAD (-2)
#define JOB_AGAIN 1 /* success, and the same job runs again: see jobs_again() */

typedef struct job_run job_run_t; /* per-attempt context */
typedef int (*job_handler_fn)(job_run_t *run, const job_t *job, void *ctx);

/* Records why this attempt failed (copied; stored in last_error/errors). */
void jobs_fail(job_run_t *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The database, for handlers. */
db_t *jobs_run_db(job_run_t *run);
/* Extends the lease of a long-running job (called automatically too). */
void jobs_heartbeat(job_run_t *run);
/* Sets the delay before the next attempt instead of the exponential
 * backoff, e.g. when a remote asked us to wait (Retry-After).  The attempt
 * still counts.  Returns JOB_RETRY for chaining: return jobs_retry_after(...). */
int jobs_retry_after(job_run_t *run, int64_t delay_ms);
/* The attempt succeeded and the job is to run again after delay_ms, as the
 * same row (queued again, its attempts back to 0) with payload (copied;
 * NULL keeps the old one): for work that moves through timed steps, which
 * would otherwise complete its row and insert the next step's (the demo
 * carrier).  For a transactional handler it takes effect with its writes.
 * Returns JOB_AGAIN for chaining: return jobs_again(...). */
int jobs_again(job_run_t *run, int64_t delay_ms, json_t *payload);

typedef struct jobs_opts {
    int workers;            /* worker threads (>= 0) */
    int batch;              /* jobs claimed per round trip (default 32) */
    int64_t lease_ms;       /* lease length (default 30000) */
    int64_t poll_ms;        /* idle poll interval (default 200) */
    const char *worker_id;  /* locked_by prefix; default host:pid */
    int64_t retention_ms;   /* purge completed jobs / consumed events older than this (default 7 days) */
    int64_t watch_ms;       /* local event watcher poll interval (default 25) */
    int64_t consumer_ms;    /* shared consumers' round when nothing wakes them (default 200) */
} jobs_opts_t;

jobs_t *jobs_new(db_t *db, const jobs_opts_t *opts);
void jobs_free(jobs_t *rt);

/* Registration (before jobs_start).  ctx is passed back to the handler. */
void jobs_register(jobs_t *rt, const char *queue, job_handler_fn fn, void *ctx);
/* A job whose whole effect is writes to the database: fn runs inside the
 * transaction that records its batch's outcomes, in its own savepoint, with
 * the connection c (it may run on another thread: use c, see db_tx).  Its
 * writes commit together with its completion, so it takes effect exactly
 * once; on any result but JOB_OK they are rolled back and the failure is
 * recorded as for other handlers.  It saves a transaction per job, and the
 * wait for it.  fn must not act outside the database. */
typedef int (*job_tx_handler_fn)(db_conn_t *c, job_run_t *run, const job_t *job, void *ctx);
void jobs_register_tx(jobs_t *rt, const char *queue, job_tx_handler_fn fn, void *ctx);
/* A recurring job: 5-field cron expression in UTC.  -1 for a bad expression. */
int jobs_schedule(jobs_t *rt, const char *name, const char *cron, const char *queue, json_t *payload);
/* A shared event-log consumer: called in id order for every event by
 * exactly one process at a time across all instances (the cursor and a
 * lease live in event_consumers).  Events come in batches of up to 200, each
 * batch one write transaction that also moves the cursor, so what fn writes
 * (through c, and only c: it may run on another thread, see db_tx) commits
 * exactly when its event counts as handled.  fn returns 0 when the event is
 * handled; non-zero rolls the batch back, and the events before the
 * refused one are committed again without it (so fn may be called twice
 * for them, in two transactions of which only the second commits): the
 * refused event is offered again later.  fn must not act outside the database (enqueue a job for that).
 * Runs on the scheduler thread, so only in processes with workers. */
typedef int (*event_consumer_fn)(db_conn_t *c, const event_t *ev, void *ctx);
void jobs_consume_events(jobs_t *rt, const char *name, event_consumer_fn fn, void *ctx);
/* A local watcher: called in this process for every event committed after
 * start-up, in id order, within tens of milliseconds (in-process caches,
 * live streams).  Every instance runs its own watchers, workers or not. */
typedef void (*event_watch_fn)(const event_t *ev, void *ctx);
void jobs_watch_events(jobs_t *rt, event_watch_fn fn, void *ctx);
/* A sweep: called on the scheduler thread about every period_ms (so only in
 * processes with workers, and in each of them), for housekeeping that is
 * cheaper as one indexed query now and then than as a job row per item
 * (unpaid orders' reservations).  fn does its own transactions with db and
 * must be safe to run in several processes at once. */
typedef void (*jobs_sweep_fn)(db_t *db, void *ctx);
void jobs_sweep(jobs_t *rt, int64_t period_ms, jobs_sweep_fn fn, void *ctx);

int jobs_start(jobs_t *rt);
/* Drains and joins the threads (see the file comment). */
void jobs_stop(jobs_t *rt, int deadline_ms);
/* Wakes idle workers now (e.g. right after an enqueue committed). */
void jobs_notify(jobs_t *rt);

/* Registers /metrics families (queue depth, outcomes, durations). */
void jobs_register_metrics(jobs_t *rt);

#endif
