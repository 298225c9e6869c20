/*
 * jobq.h — the durable job queue: jobs live in the database.
 *
 * DESIGN
 * A job is a row (queue, JSON payload, priority, run_at, attempts,
 * max_attempts, backoff, unique key, lease).  jobq_enqueue() writes it with
 * the caller's connection, so inside a transaction it becomes visible only
 * on commit and disappears with a rollback: work triggered by a change is
 * enqueued with the change.
 *
 * Workers claim ready jobs in batches: PostgreSQL uses
 * SELECT ... FOR UPDATE SKIP LOCKED, SQLite an atomic UPDATE ... RETURNING.
 * A claim sets a lease (locked_by, locked_until) that the worker extends
 * while the job runs; a worker that dies leaves a lease that expires, and the
 * job is claimed again (that counts as an attempt).  A failed attempt is
 * retried after backoff_ms * 2^(attempt-1) with +-20% jitter (capped at one
 * hour); after max_attempts the job is 'dead' with its error history, and an
 * operator can retry or discard it.
 *
 * States: queued -> running -> completed | queued (retry) | dead;
 *         dead|queued -> discarded; dead -> queued (manual retry).
 */
#ifndef MERCATO_JOBS_JOBQ_H
#define MERCATO_JOBS_JOBQ_H

#include <jansson.h>
#include <stdint.h>

#include "db/db.h"

#define JOB_STATE_LIST(X) \
    X(QUEUED, "queued")   \
    X(RUNNING, "running") \
    X(COMPLETED, "completed") \
    X(DEAD, "dead")       \
    X(DISCARDED, "discarded")

typedef enum {
#define X(name, str) JOB_##name,
    JOB_STATE_LIST(X)
#undef X
    JOB_NSTATES
} job_state_t;

const char *job_state_name(job_state_t s);
int job_state_parse(const char *s); /* -1 when unknown */

typedef struct jobq_opts {
    int priority;            /* higher runs first (default 0) */
    int64_t delay_ms;        /* run no earlier than now + delay */
    int64_t run_at_ms;       /* absolute epoch ms; overrides delay when > 0 */
    int max_attempts;        /* default 5 */
    int64_t backoff_ms;      /* base of the exponential backoff (default 1000) */
    const char *unique_key;  /* a second enqueue while a job with this key is
                                queued or running is a no-op */
} jobq_opts_t;

/* Enqueues a job with the caller's connection (inside its transaction when
 * one is open).  payload is borrowed (NULL = {}); opts may be NULL.
 * Returns the job id (> 0), 0 when a live job with the same unique key
 * already exists, or a negative DB_* error. */
int64_t jobq_enqueue(db_conn_t *c, const char *queue, json_t *payload, const jobq_opts_t *opts);

/* A claimed job as handlers see it; strings valid while the handler runs. */
typedef struct job {
    int64_t id;
    const char *queue;
    json_t *payload;         /* borrowed */
    int attempt;             /* 1 for the first run */
    int max_attempts;
    const char *traceparent; /* of the request that enqueued it, or NULL */
} job_t;

/* Operations (admin API and CLI). */
int jobq_retry(db_conn_t *c, int64_t id);   /* dead/discarded -> queued; 0 ok, 1 not found/not allowed */
int jobq_discard(db_conn_t *c, int64_t id); /* queued/dead -> discarded; 0 ok, 1 not found/not allowed */
/* {"queues":[{"queue":..,"queued":n,"running":n,"completed":n,"dead":n,"discarded":n}], "totals":{...}} */
json_t *jobq_stats(db_conn_t *c);
/* Jobs filtered by queue and/or state (NULL = any), newest first, keyset
 * pagination by id (before_id 0 = from the newest).  Array of job objects. */
json_t *jobq_list(db_conn_t *c, const char *queue, const char *state, int64_t before_id, int limit);
json_t *jobq_get(db_conn_t *c, int64_t id); /* NULL when absent */

#endif
