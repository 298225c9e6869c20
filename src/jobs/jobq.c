/*
 * jobq.c — durable job queue: enqueue and the operations side (see jobq.h).
 * Claiming, completion and failure live in runtime.c, beside the workers.
 */
#include "jobs/jobq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/timeutil.h"

static const char *const state_names[] = {
#define X(name, str) str,
    JOB_STATE_LIST(X)
#undef X
};

const char *job_state_name(job_state_t s)
{
    return s >= 0 && s < JOB_NSTATES ? state_names[s] : "unknown";
}

int job_state_parse(const char *s)
{
    for (int i = 0; i < JOB_NSTATES; i++)
        if (strcmp(s, state_names[i]) == 0) return i;
    return -1;
}

/* ON CONFLICT DO NOTHING: the only unique index besides the key is the
 * partial one on live unique keys, so a conflict means "already enqueued". */
#define ENQUEUE_SQL                                                                                     \
    "INSERT INTO jobs (queue, payload, priority, state, run_at, max_attempts, backoff_ms, unique_key,"  \
    " traceparent, created_at, updated_at)"                                                             \
    " VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $9) ON CONFLICT DO NOTHING"
DB_SQL2(q_enqueue, ENQUEUE_SQL, ENQUEUE_SQL " RETURNING id"); /* see db_insert_id */

int64_t jobq_enqueue(db_conn_t *c, const char *queue, json_t *payload, const jobq_opts_t *opts)
{
    jobq_opts_t def = { 0 };
    if (!opts) opts = &def;
    int64_t now = time_now_ms();
    int64_t run_at = opts->run_at_ms > 0 ? opts->run_at_ms : now + (opts->delay_ms > 0 ? opts->delay_ms : 0);
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    int64_t id = db_insert_id(c, &q_enqueue, "ssiLiLssL", queue, text ? text : "{}", opts->priority, run_at,
                              opts->max_attempts > 0 ? opts->max_attempts : 5,
                              (int64_t)(opts->backoff_ms > 0 ? opts->backoff_ms : 1000), opts->unique_key,
                              log_traceparent(), now);
    free(text);
    return id;
}

DB_SQL(q_retry, "UPDATE jobs SET state = 'queued', run_at = $2, attempts = 0, locked_by = NULL,"
                " locked_until = NULL, finished_at = NULL, updated_at = $2"
                " WHERE id = $1 AND state IN ('dead', 'discarded')");
DB_SQL(q_discard, "UPDATE jobs SET state = 'discarded', locked_by = NULL, locked_until = NULL,"
                  " finished_at = $2, updated_at = $2 WHERE id = $1 AND state IN ('queued', 'dead')");

int jobq_retry(db_conn_t *c, int64_t id)
{
    int64_t n = db_exec(c, &q_retry, "LL", id, time_now_ms());
    if (n < 0) return (int)n;
    return n == 1 ? 0 : 1;
}

int jobq_discard(db_conn_t *c, int64_t id)
{
    int64_t n = db_exec(c, &q_discard, "LL", id, time_now_ms());
    if (n < 0) return (int)n;
    return n == 1 ? 0 : 1;
}

DB_SQL(q_stats, "SELECT queue, state, COUNT(*) FROM jobs GROUP BY queue, state ORDER BY queue");

json_t *jobq_stats(db_conn_t *c)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_stats, &rc, "");
    if (!st) return NULL;
    json_t *queues = json_object(), *totals = json_object();
    for (int i = 0; i < JOB_NSTATES; i++) json_object_set_new(totals, state_names[i], json_integer(0));
    while (rc == DB_ROW) {
        const char *q = db_col_text(st, 0), *s = db_col_text(st, 1);
        int64_t n = db_col_int(st, 2);
        json_t *qo = json_object_get(queues, q);
        if (!qo) {
            qo = json_object();
            json_object_set_new(qo, "queue", json_string(q));
            for (int i = 0; i < JOB_NSTATES; i++) json_object_set_new(qo, state_names[i], json_integer(0));
            json_object_set_new(queues, q, qo);
        }
        json_object_set_new(qo, s, json_integer(n));
        json_object_set_new(totals, s, json_integer(json_integer_value(json_object_get(totals, s)) + n));
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) {
        json_decref(queues);
        json_decref(totals);
        return NULL;
    }
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(queues, k, v) json_array_append(arr, v);
    json_decref(queues);
    return json_pack("{s:o, s:o}", "queues", arr, "totals", totals);
}

#define JOB_COLS "id, queue, payload, priority, state, run_at, attempts, max_attempts, unique_key," \
                 " locked_by, locked_until, last_error, errors, created_at, updated_at, finished_at"

DB_SQL(q_list, "SELECT " JOB_COLS " FROM jobs"
               " WHERE (CAST($1 AS TEXT) IS NULL OR queue = $1) AND (CAST($2 AS TEXT) IS NULL OR state = $2)"
               " AND ($3 = 0 OR id < $3) ORDER BY id DESC LIMIT $4");
DB_SQL(q_get, "SELECT " JOB_COLS " FROM jobs WHERE id = $1");

static json_t *time_or_null(db_stmt_t *st, int col)
{
    if (db_col_is_null(st, col)) return json_null();
    char ts[32];
    return json_string(time_fmt_rfc3339(ts, db_col_int(st, col)));
}

static json_t *json_text_or(const char *text, json_t *fallback)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (!j) return fallback;
    json_decref(fallback);
    return j;
}

static json_t *row_to_json(db_stmt_t *st)
{
    char id[32];
    snprintf(id, sizeof id, "job_%lld", (long long)db_col_int(st, 0));
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(id));
    json_object_set_new(j, "queue", json_string(db_col_text(st, 1)));
    json_object_set_new(j, "payload", json_text_or(db_col_text(st, 2), json_object()));
    json_object_set_new(j, "priority", json_integer(db_col_int(st, 3)));
    json_object_set_new(j, "state", json_string(db_col_text(st, 4)));
    json_object_set_new(j, "run_at", time_or_null(st, 5));
    json_object_set_new(j, "attempts", json_integer(db_col_int(st, 6)));
    json_object_set_new(j, "max_attempts", json_integer(db_col_int(st, 7)));
    json_object_set_new(j, "unique_key", db_col_is_null(st, 8) ? json_null() : json_string(db_col_text(st, 8)));
    json_object_set_new(j, "locked_by", db_col_is_null(st, 9) ? json_null() : json_string(db_col_text(st, 9)));
    json_object_set_new(j, "locked_until", time_or_null(st, 10));
    json_t *le = db_col_is_null(st, 11) ? NULL : json_string(db_col_text(st, 11));
    json_object_set_new(j, "last_error", le ? le : json_null());
    json_object_set_new(j, "errors", json_text_or(db_col_text(st, 12), json_array()));
    json_object_set_new(j, "created_at", time_or_null(st, 13));
    json_object_set_new(j, "updated_at", time_or_null(st, 14));
    json_object_set_new(j, "finished_at", time_or_null(st, 15));
    return j;
}

json_t *jobq_list(db_conn_t *c, const char *queue, const char *state, int64_t before_id, int limit)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_list, &rc, "ssLi", queue, state, before_id, limit);
    if (!st) return NULL;
    json_t *arr = json_array();
    while (rc == DB_ROW) {
        json_array_append_new(arr, row_to_json(st));
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

json_t *jobq_get(db_conn_t *c, int64_t id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_get, &rc, "L", id);
    if (!st) return NULL;
    json_t *j = rc == DB_ROW ? row_to_json(st) : NULL;
    db_reset(st);
    return j;
}
