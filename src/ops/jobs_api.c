/*
 * jobs_api.c — the job queue's admin API (the jobs dashboard's backend).
 *
 *   GET  /v1/admin/jobs                    counts per queue and state, schedules
 *   GET  /v1/admin/queues/{queue}/jobs     jobs of a queue, ?state=&limit=&cursor=
 *   GET  /v1/admin/jobs/{id}               one job with its error history
 *   POST /v1/admin/jobs/{id}/retry         dead/discarded -> queued
 *   POST /v1/admin/jobs/{id}/discard       queued/dead -> discarded
 *
 * Admin only: the access hook enforces AUTH_ADMIN; the handlers check again
 * (an admin principal, or the operator token) so the routes stay closed even
 * in a build without the identity module.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "auth/access.h"
#include "jobs/jobq.h"
#include "ops/ops.h"
#include "util/timeutil.h"

static int require_admin(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    if (p && p->role == ROLE_ADMIN) return 0;
    app_t *app = http_app(req);
    const char *auth = http_header(req, "Authorization");
    const char *tok = app->cfg->admin_token;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0 && tok && tok[0]) {
        const char *given = auth + 7;
        size_t gl = strlen(given), tl = strlen(tok);
        if (gl == tl && sodium_memcmp(given, tok, tl) == 0) return 0;
    }
    if (p) {
        http_respond_problem(req, 403, "forbidden", "Forbidden", "This operation needs an admin.");
    } else {
        http_set_header(req, "WWW-Authenticate", "Bearer");
        http_respond_problem(req, 401, "unauthorized", "Unauthorized", "A valid admin bearer token is required.");
    }
    return -1;
}

static int64_t job_id_param(http_req_t *req)
{
    const char *s = http_param(req, "id");
    if (!s || strncmp(s, "job_", 4) != 0) return -1;
    char *end;
    long long v = strtoll(s + 4, &end, 10);
    return (s[4] && !*end && v > 0) ? v : -1;
}

static db_conn_t *conn_or_503(http_req_t *req)
{
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) {
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "No database connection is available.");
    }
    return c;
}

DB_SQL(q_schedules, "SELECT name, cron, queue, next_run_at, last_run_at, enabled FROM job_schedules ORDER BY name");

static void get_stats(http_req_t *req)
{
    if (require_admin(req)) return;
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    json_t *stats = jobq_stats(c);
    json_t *sched = json_array();
    int rc;
    db_stmt_t *st = stats ? db_query(c, &q_schedules, &rc, "") : NULL;
    while (st && rc == DB_ROW) {
        char a[32], b[32];
        json_array_append_new(
            sched, json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}", "name", db_col_text(st, 0), "cron", db_col_text(st, 1),
                             "queue", db_col_text(st, 2), "next_run_at", time_fmt_rfc3339(a, db_col_int(st, 3)),
                             "last_run_at",
                             db_col_is_null(st, 4) ? json_null() : json_string(time_fmt_rfc3339(b, db_col_int(st, 4))),
                             "enabled", (int)db_col_int(st, 5)));
        rc = db_step(st);
    }
    if (st) db_reset(st);
    db_release(c);
    if (!stats) {
        json_decref(sched);
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The job statistics could not be read.");
        return;
    }
    json_object_set_new(stats, "schedules", sched);
    http_respond_json(req, 200, stats);
}

static void get_queue_jobs(http_req_t *req)
{
    if (require_admin(req)) return;
    const char *queue = http_param(req, "queue");
    const char *state = http_query(req, "state");
    const char *lim = http_query(req, "limit");
    const char *cursor = http_query(req, "cursor");
    json_t *errors = json_array();
    if (state && job_state_parse(state) < 0)
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "state", "message",
                                                "must be one of queued, running, completed, dead, discarded"));
    long long limit = 50;
    if (lim && (str_to_i64(str_from(lim), &limit) < 0 || limit < 1 || limit > 200))
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "limit", "message", "must be an integer from 1 to 200"));
    long long before = 0;
    if (cursor) {
        unsigned char raw[32];
        size_t rl = 0;
        if (sodium_base642bin(raw, sizeof raw - 1, cursor, strlen(cursor), NULL, &rl, NULL,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
            rl < 3 || memcmp(raw, "j:", 2) != 0 || (raw[rl] = 0, str_to_i64(str_from((char *)raw + 2), &before) < 0) ||
            before <= 0)
            json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "cursor", "message", "is not a cursor from this API"));
    }
    if (json_array_size(errors)) {
        http_respond_problem_errors(req, 400, "invalid-parameters", "Invalid Parameters",
                                    "Some query parameters are invalid.", errors);
        return;
    }
    json_decref(errors);
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    json_t *list = jobq_list(c, queue, state, before, (int)limit + 1);
    db_release(c);
    if (!list) {
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The jobs could not be read.");
        return;
    }
    json_t *next = json_null();
    if (json_array_size(list) > (size_t)limit) {
        json_array_remove(list, json_array_size(list) - 1);
        const char *last = json_string_value(json_object_get(json_array_get(list, json_array_size(list) - 1), "id"));
        char raw[40], enc[64];
        int n = snprintf(raw, sizeof raw, "j:%s", last + 4);
        sodium_bin2base64(enc, sizeof enc, (unsigned char *)raw, (size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        next = json_string(enc);
    }
    http_respond_json(req, 200, json_pack("{s:o, s:o}", "data", list, "next_cursor", next));
}

static void get_job(http_req_t *req)
{
    if (require_admin(req)) return;
    int64_t id = job_id_param(req);
    db_conn_t *c = id > 0 ? conn_or_503(req) : NULL;
    if (id > 0 && !c) return;
    json_t *j = c ? jobq_get(c, id) : NULL;
    if (c) db_release(c);
    if (!j) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No job has this id.");
        return;
    }
    http_respond_json(req, 200, j);
}

typedef struct action_ctx {
    int64_t id;
    int retry;
    int rc;    /* jobq_retry / jobq_discard */
    json_t *j; /* the job as the change left it */
} action_ctx_t;

/* the change and the read of the answer in one transaction: a worker that
 * claims the revived job right after the change cannot show up in the
 * answer (on PostgreSQL its claim skips the row until this commits; on
 * SQLite it waits for the write lock) */
static int action_tx(db_conn_t *c, void *vctx)
{
    action_ctx_t *a = vctx;
    json_decref(a->j); /* a retried transaction starts over */
    a->j = NULL;
    a->rc = a->retry ? jobq_retry(c, a->id) : jobq_discard(c, a->id);
    if (a->rc < 0) return a->rc;
    if (a->rc == 0 && !(a->j = jobq_get(c, a->id))) return DB_ERR;
    return 0;
}

static void post_action(http_req_t *req, int retry)
{
    if (require_admin(req)) return;
    int64_t id = job_id_param(req);
    db_conn_t *c = id > 0 ? conn_or_503(req) : NULL;
    if (id > 0 && !c) return;
    json_t *j = c ? jobq_get(c, id) : NULL;
    if (!j) {
        if (c) db_release(c);
        http_respond_problem(req, 404, "not-found", "Not Found", "No job has this id.");
        return;
    }
    json_decref(j);
    db_release(c);
    app_t *app = http_app(req);
    action_ctx_t a = { .id = id, .retry = retry };
    int rc = db_tx(app->db, action_tx, &a);
    j = a.j;
    if (rc < 0) {
        json_decref(j);
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The job could not be changed.");
        return;
    }
    if (a.rc != 0) {
        http_respond_problem(req, 409, "invalid-job-state", "Conflict",
                             retry ? "Only dead or discarded jobs can be retried."
                                   : "Only queued or dead jobs can be discarded.");
        json_decref(j);
        return;
    }
    if (!j) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No job has this id.");
        return;
    }
    if (retry && app->jobs) jobs_notify(app->jobs);
    http_respond_json(req, 200, j);
}

static void post_retry(http_req_t *req) { post_action(req, 1); }
static void post_discard(http_req_t *req) { post_action(req, 0); }

void ops_jobs_routes(router_t *r)
{
    router_add(r, HTTP_GET, "/v1/admin/jobs", get_stats, AUTH_ADMIN);
    router_add(r, HTTP_GET, "/v1/admin/queues/{queue}/jobs", get_queue_jobs, AUTH_ADMIN);
    router_add(r, HTTP_GET, "/v1/admin/jobs/{id}", get_job, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/admin/jobs/{id}/retry", post_retry, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/admin/jobs/{id}/discard", post_discard, AUTH_ADMIN);
}
