/*
 * routes.c — the admin API of outgoing webhooks.
 *
 *   POST   /v1/admin/webhook-endpoints                     create (the secret is shown once)
 *   GET    /v1/admin/webhook-endpoints                     list, ?limit=&cursor=
 *   GET    /v1/admin/webhook-endpoints/{id}                one endpoint
 *   PATCH  /v1/admin/webhook-endpoints/{id}                url, description, event_types, enabled
 *   DELETE /v1/admin/webhook-endpoints/{id}                with its deliveries
 *   POST   /v1/admin/webhook-endpoints/{id}/rotate-secret  new secret (shown once)
 *   POST   /v1/admin/webhook-endpoints/{id}/test           a webhook.test delivery
 *   GET    /v1/admin/webhook-endpoints/{id}/deliveries     deliveries with every attempt
 *   POST   /v1/admin/webhook-endpoints/{id}/deliveries/{delivery_id}/retry
 *
 * Admin only (the access hook enforces AUTH_ADMIN: an admin user or the
 * operator's --admin-token); handlers check the principal again so the
 * routes stay closed in a build without the identity module.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "auth/access.h"
#include "jobs/events.h"
#include "util/id.h"
#include "util/timeutil.h"
#include "webhooks/webhooks.h"

static int require_admin(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    if (p && p->role == ROLE_ADMIN) return 0;
    if (p) {
        http_respond_problem(req, 403, "forbidden", "Forbidden", "This operation needs an admin.");
    } else {
        http_set_header(req, "WWW-Authenticate", "Bearer");
        http_respond_problem(req, 401, "unauthorized", "Unauthorized", "A valid admin bearer token is required.");
    }
    return -1;
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

static void respond_unavailable(http_req_t *req)
{
    http_set_header(req, "Retry-After", "1");
    http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The database did not answer; try again.");
}

static void respond_not_found(http_req_t *req, const char *what)
{
    http_respond_problem(req, 404, "not-found", "Not Found", what);
}

static json_t *ts_or_null(db_stmt_t *st, int col)
{
    char b[32];
    return db_col_is_null(st, col) ? json_null() : json_string(time_fmt_rfc3339(b, db_col_int(st, col)));
}

#define ENDPOINT_COLS "id, url, description, event_types, enabled, disabled_reason, created_at, updated_at, failed_deliveries"

static json_t *endpoint_json(db_stmt_t *st)
{
    json_t *types = json_loads(db_col_text(st, 3), 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:o, s:o, s:I}", "id", db_col_text(st, 0), "url", db_col_text(st, 1),
                     "description", db_col_text(st, 2), "event_types", types ? types : json_array(), "enabled",
                     (int)db_col_int(st, 4), "disabled_reason",
                     db_col_is_null(st, 5) ? json_null() : json_string(db_col_text(st, 5)), "created_at",
                     ts_or_null(st, 6), "updated_at", ts_or_null(st, 7), "consecutive_failed_deliveries",
                     (json_int_t)db_col_int(st, 8));
}

DB_SQL(q_ep_get, "SELECT " ENDPOINT_COLS " FROM webhook_endpoints WHERE id = $1");
DB_SQL(q_ep_list, "SELECT " ENDPOINT_COLS " FROM webhook_endpoints WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2");
DB_SQL(q_ep_insert,
       "INSERT INTO webhook_endpoints (id, url, description, event_types, secret, enabled, failed_deliveries,"
       " start_after_event, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, 0, $6, $7, $7)");
DB_SQL(q_ep_update,
       "UPDATE webhook_endpoints SET url = $2, description = $3, event_types = $4, enabled = CAST($5 AS INTEGER),"
       " disabled_reason = CASE WHEN CAST($5 AS INTEGER) = 1 THEN NULL ELSE disabled_reason END,"
       " failed_deliveries = CASE WHEN CAST($5 AS INTEGER) = 1 THEN 0 ELSE failed_deliveries END, updated_at = $6"
       " WHERE id = $1");
DB_SQL(q_ep_fields, "SELECT url, description, event_types, enabled FROM webhook_endpoints WHERE id = $1");
DB_SQL(q_ep_delete, "DELETE FROM webhook_endpoints WHERE id = $1");
DB_SQL(q_ep_rotate,
       "UPDATE webhook_endpoints SET prev_secret = CASE WHEN CAST($3 AS BIGINT) > 0 THEN secret ELSE NULL END,"
       " prev_secret_until = CASE WHEN CAST($3 AS BIGINT) > 0 THEN CAST($4 AS BIGINT) + CAST($3 AS BIGINT) ELSE NULL END,"
       " secret = $2, updated_at = CAST($4 AS BIGINT) WHERE id = $1");

/* Reads one endpoint as JSON with the caller's connection; NULL when absent
 * (*rc says whether it was a database error). */
static json_t *endpoint_load(db_conn_t *c, const char *id, int *rc)
{
    db_stmt_t *st = db_query(c, &q_ep_get, rc, "s", id);
    if (!st) return NULL;
    json_t *j = *rc == DB_ROW ? endpoint_json(st) : NULL;
    db_reset(st);
    return j;
}

static const char *endpoint_id_param(http_req_t *req)
{
    const char *id = http_param(req, "id");
    return id && id_valid(id, strlen(id), "whe") ? id : NULL;
}

static void respond_validation(http_req_t *req, json_t *errors)
{
    http_respond_problem_errors(req, 422, "validation-failed", "Validation Failed", "Some fields are invalid.", errors);
}

/* the endpoint fields of a create (creating: url required) or an update;
 * -1 when the request has been answered (bad JSON, 422) */
static int read_input(http_req_t *req, int creating, webhook_input_t *in)
{
    app_t *app = http_app(req);
    json_t *body;
    if (http_json_body(req, &body) < 0) return -1;
    json_t *errors = json_array();
    if (webhook_input_parse(body, creating, app->cfg->webhook_allow_private, in, errors) > 0) {
        respond_validation(req, errors);
        return -1;
    }
    json_decref(errors);
    return 0;
}

/* ---- create ---- */

static void create_endpoint(http_req_t *req)
{
    if (require_admin(req)) return;
    webhook_input_t in;
    if (read_input(req, 1, &in) < 0) return;
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    char id[ID_MAX], secret[WEBHOOK_SECRET_MAX];
    id_new(id, "whe");
    webhook_secret_new(secret);
    char *types = json_dumps(in.types, JSON_COMPACT);
    int64_t now = time_now_ms();
    int rc = db_begin(c);
    int64_t last = rc == 0 ? event_last_id(c) : -1;
    int64_t ch = last >= 0 ? db_exec(c, &q_ep_insert, "sssssLL", id, in.url, in.has_description ? in.description : "",
                                     types, secret, last, now)
                           : -1;
    if (ch == 1) rc = db_commit(c);
    else if (rc == 0) db_rollback(c);
    free(types);
    json_t *j = (ch == 1 && rc == 0) ? endpoint_load(c, id, &rc) : NULL;
    db_release(c);
    if (!j) {
        sodium_memzero(secret, sizeof secret);
        respond_unavailable(req);
        return;
    }
    json_object_set_new(j, "secret", json_string(secret));
    sodium_memzero(secret, sizeof secret);
    char loc[128];
    snprintf(loc, sizeof loc, "/v1/admin/webhook-endpoints/%s", id);
    http_set_header(req, "Location", loc);
    http_respond_json(req, 201, j);
}

/* ---- list / get ---- */

/* ?limit= of a list, from 1 to max (deflt when absent); a problem goes to
 * errors */
static long long read_limit(http_req_t *req, long long deflt, long long max, json_t *errors)
{
    const char *lim = http_query(req, "limit");
    long long limit = deflt;
    if (lim && (str_to_i64(str_from(lim), &limit) < 0 || limit < 1 || limit > max)) {
        char msg[64];
        snprintf(msg, sizeof msg, "must be an integer from 1 to %lld", max);
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "limit", "message", msg));
    }
    return limit;
}

/* ?cursor= of a list: the last id of the previous page (base64url), checked
 * against the list's id prefix, into after ("" when absent); a problem goes
 * to errors */
static void read_cursor(http_req_t *req, const char *prefix, char after[ID_MAX], json_t *errors)
{
    const char *cursor = http_query(req, "cursor");
    after[0] = '\0';
    if (!cursor) return;
    unsigned char raw[ID_MAX];
    size_t rl = 0;
    if (sodium_base642bin(raw, sizeof raw - 1, cursor, strlen(cursor), NULL, &rl, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        !id_valid((char *)raw, rl, prefix))
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "cursor", "message", "is not a cursor from this API"));
    else
        memcpy(after, raw, rl), after[rl] = 0;
}

/* list holds up to limit + 1 rows: drop the extra one and answer the cursor
 * of the next page (its last id), or null when this is the last page */
static json_t *next_page(json_t *list, long long limit)
{
    if (json_array_size(list) <= (size_t)limit) return json_null();
    json_array_remove(list, json_array_size(list) - 1);
    const char *last = json_string_value(json_object_get(json_array_get(list, json_array_size(list) - 1), "id"));
    char enc[96];
    sodium_bin2base64(enc, sizeof enc, (const unsigned char *)last, strlen(last), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return json_string(enc);
}

static void list_endpoints(http_req_t *req)
{
    if (require_admin(req)) return;
    char after[ID_MAX];
    json_t *errors = json_array();
    long long limit = read_limit(req, 50, 200, errors);
    read_cursor(req, "whe", after, errors);
    if (json_array_size(errors)) {
        http_respond_problem_errors(req, 400, "invalid-parameters", "Invalid Parameters", "Some query parameters are invalid.",
                                    errors);
        return;
    }
    json_decref(errors);
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int rc;
    json_t *list = json_array();
    db_stmt_t *st = db_query(c, &q_ep_list, &rc, "si", after, (int)limit + 1);
    while (st && rc == DB_ROW) {
        json_array_append_new(list, endpoint_json(st));
        rc = db_step(st);
    }
    if (st) db_reset(st);
    db_release(c);
    if (rc < 0) {
        json_decref(list);
        respond_unavailable(req);
        return;
    }
    json_t *next = next_page(list, limit);
    http_respond_json(req, 200, json_pack("{s:o, s:o}", "data", list, "next_cursor", next));
}

static void get_endpoint(http_req_t *req)
{
    if (require_admin(req)) return;
    const char *id = endpoint_id_param(req);
    if (!id) return respond_not_found(req, "No webhook endpoint has this id.");
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int rc;
    json_t *j = endpoint_load(c, id, &rc);
    db_release(c);
    if (!j) return rc < 0 ? respond_unavailable(req) : respond_not_found(req, "No webhook endpoint has this id.");
    http_respond_json(req, 200, j);
}

/* ---- update / delete ---- */

static void update_endpoint(http_req_t *req)
{
    if (require_admin(req)) return;
    const char *id = endpoint_id_param(req);
    if (!id) return respond_not_found(req, "No webhook endpoint has this id.");
    webhook_input_t in;
    if (read_input(req, 0, &in) < 0) return;
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int rc = db_begin(c);
    db_stmt_t *st = rc == 0 ? db_query(c, &q_ep_fields, &rc, "s", id) : NULL;
    if (!st || rc != DB_ROW) {
        if (st) db_reset(st);
        if (db_in_tx(c)) db_rollback(c);
        db_release(c);
        return rc < 0 ? respond_unavailable(req) : respond_not_found(req, "No webhook endpoint has this id.");
    }
    char *url = strdup(in.has_url ? in.url : db_col_text(st, 0));
    char *desc = strdup(in.has_description ? in.description : db_col_text(st, 1));
    char *types = in.has_types ? json_dumps(in.types, JSON_COMPACT) : strdup(db_col_text(st, 2));
    int enabled = in.has_enabled ? in.enabled : (int)db_col_int(st, 3);
    db_reset(st);
    int64_t ch = db_exec(c, &q_ep_update, "ssssiL", id, url, desc, types, enabled, time_now_ms());
    free(url);
    free(desc);
    free(types);
    rc = ch == 1 ? db_commit(c) : (db_rollback(c), -1);
    json_t *j = rc == 0 ? endpoint_load(c, id, &rc) : NULL;
    db_release(c);
    if (!j) return respond_unavailable(req);
    http_respond_json(req, 200, j);
}

static void delete_endpoint(http_req_t *req)
{
    if (require_admin(req)) return;
    const char *id = endpoint_id_param(req);
    if (!id) return respond_not_found(req, "No webhook endpoint has this id.");
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int64_t ch = db_exec(c, &q_ep_delete, "s", id);
    db_release(c);
    if (ch < 0) return respond_unavailable(req);
    if (ch == 0) return respond_not_found(req, "No webhook endpoint has this id.");
    http_respond_empty(req, 204);
}

static void rotate_secret(http_req_t *req)
{
    if (require_admin(req)) return;
    const char *id = endpoint_id_param(req);
    if (!id) return respond_not_found(req, "No webhook endpoint has this id.");
    long long keep = 0;
    if (http_body(req).len > 0) {
        json_t *body;
        if (http_json_body(req, &body) < 0) return;
        json_t *errors = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(body, k, v) {
            if (strcmp(k, "previous_secret_ttl") == 0 && json_is_integer(v) && json_integer_value(v) >= 0 &&
                json_integer_value(v) <= 604800)
                keep = json_integer_value(v);
            else
                json_array_append_new(errors, json_pack("{s:s, s:s}", "field", k, "message",
                                                        strcmp(k, "previous_secret_ttl") == 0
                                                            ? "must be an integer number of seconds from 0 to 604800"
                                                            : "unknown field (allowed: previous_secret_ttl)"));
        }
        if (json_array_size(errors)) return respond_validation(req, errors);
        json_decref(errors);
    }
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    char secret[WEBHOOK_SECRET_MAX];
    webhook_secret_new(secret);
    int64_t ch = db_exec(c, &q_ep_rotate, "ssLL", id, secret, (int64_t)keep * 1000, time_now_ms());
    int rc = 0;
    json_t *j = ch == 1 ? endpoint_load(c, id, &rc) : NULL;
    db_release(c);
    if (!j) {
        sodium_memzero(secret, sizeof secret);
        return ch == 0 ? respond_not_found(req, "No webhook endpoint has this id.") : respond_unavailable(req);
    }
    json_object_set_new(j, "secret", json_string(secret));
    sodium_memzero(secret, sizeof secret);
    http_respond_json(req, 200, j);
}

/* ---- deliveries ---- */

#define DELIVERY_COLS                                                                                            \
    "id, endpoint_id, msg_id, event_id, event_type, status, attempts, last_status_code, last_error,"              \
    " next_attempt_at, created_at, updated_at"

DB_SQL(q_dl_list,
       "SELECT " DELIVERY_COLS " FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 = '' OR id < $2)"
       " AND ($3 = '' OR status = $3) ORDER BY id DESC LIMIT $4");
DB_SQL(q_dl_get, "SELECT " DELIVERY_COLS " FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2");
DB_SQL(q_att_list,
       "SELECT attempt, started_at, status_code, duration_ms, error, next_retry_at FROM webhook_attempts"
       " WHERE delivery_id = $1 ORDER BY id");
DB_SQL(q_dl_insert_test,
       "INSERT INTO webhook_deliveries (id, endpoint_id, msg_id, event_id, event_type, body, status, attempts,"
       " next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, NULL, 'webhook.test', $4, 'pending', 0, $5, $5, $5)");
DB_SQL(q_dl_requeue,
       "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, updated_at = $3"
       " WHERE id = $1 AND endpoint_id = $2 AND status = 'failed'");
DB_SQL(q_ep_enabled, "SELECT enabled FROM webhook_endpoints WHERE id = $1");

static json_t *delivery_json(db_stmt_t *st)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "id", db_col_text(st, 0),
                     "endpoint_id", db_col_text(st, 1), "webhook_id", db_col_text(st, 2), "event_id",
                     db_col_is_null(st, 3) ? json_null() : json_string(db_col_text(st, 2)), "event_type",
                     db_col_text(st, 4), "status", db_col_text(st, 5), "attempt_count", (json_int_t)db_col_int(st, 6),
                     "last_status_code", db_col_is_null(st, 7) ? json_null() : json_integer(db_col_int(st, 7)),
                     "last_error", db_col_is_null(st, 8) ? json_null() : json_string(db_col_text(st, 8)),
                     "next_attempt_at", ts_or_null(st, 9), "created_at", ts_or_null(st, 10), "updated_at",
                     ts_or_null(st, 11));
}

/* Adds "attempts": [...] to every delivery of list. */
static int add_attempts(db_conn_t *c, json_t *list)
{
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        int rc;
        json_t *atts = json_array();
        db_stmt_t *st = db_query(c, &q_att_list, &rc, "s", json_string_value(json_object_get(d, "id")));
        while (st && rc == DB_ROW) {
            json_array_append_new(
                atts, json_pack("{s:I, s:o, s:o, s:I, s:o, s:o}", "attempt", (json_int_t)db_col_int(st, 0), "started_at",
                                ts_or_null(st, 1), "status_code",
                                db_col_is_null(st, 2) ? json_null() : json_integer(db_col_int(st, 2)), "duration_ms",
                                (json_int_t)db_col_int(st, 3), "error",
                                db_col_is_null(st, 4) ? json_null() : json_string(db_col_text(st, 4)), "next_retry_at",
                                ts_or_null(st, 5)));
            rc = db_step(st);
        }
        if (st) db_reset(st);
        json_object_set_new(d, "attempts", atts);
        if (rc < 0) return rc;
    }
    return 0;
}

static json_t *delivery_load(db_conn_t *c, const char *endpoint_id, const char *id, int *rc)
{
    db_stmt_t *st = db_query(c, &q_dl_get, rc, "ss", id, endpoint_id);
    if (!st) return NULL;
    json_t *j = *rc == DB_ROW ? delivery_json(st) : NULL;
    db_reset(st);
    if (!j) return NULL;
    json_t *wrap = json_pack("[O]", j);
    *rc = add_attempts(c, wrap);
    json_decref(wrap);
    return j;
}

static void list_deliveries(http_req_t *req)
{
    if (require_admin(req)) return;
    const char *id = endpoint_id_param(req);
    if (!id) return respond_not_found(req, "No webhook endpoint has this id.");
    const char *status = http_query(req, "status");
    char after[ID_MAX];
    json_t *errors = json_array();
    long long limit = read_limit(req, 20, 100, errors);
    if (status && strcmp(status, "pending") && strcmp(status, "succeeded") && strcmp(status, "failed"))
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "status", "message",
                                                "must be one of pending, succeeded, failed"));
    read_cursor(req, "whd", after, errors);
    if (json_array_size(errors)) {
        http_respond_problem_errors(req, 400, "invalid-parameters", "Invalid Parameters", "Some query parameters are invalid.",
                                    errors);
        return;
    }
    json_decref(errors);
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int rc;
    json_t *ep = endpoint_load(c, id, &rc);
    if (!ep) {
        db_release(c);
        return rc < 0 ? respond_unavailable(req) : respond_not_found(req, "No webhook endpoint has this id.");
    }
    json_decref(ep);
    json_t *list = json_array();
    db_stmt_t *st = db_query(c, &q_dl_list, &rc, "sssi", id, after, status ? status : "", (int)limit + 1);
    while (st && rc == DB_ROW) {
        json_array_append_new(list, delivery_json(st));
        rc = db_step(st);
    }
    if (st) db_reset(st);
    json_t *next = rc >= 0 ? next_page(list, limit) : json_null();
    if (rc >= 0) rc = add_attempts(c, list);
    db_release(c);
    if (rc < 0) {
        json_decref(list);
        json_decref(next);
        return respond_unavailable(req);
    }
    http_respond_json(req, 200, json_pack("{s:o, s:o}", "data", list, "next_cursor", next));
}

/* 0 enabled, 1 disabled, 2 absent, <0 error */
static int endpoint_state(db_conn_t *c, const char *id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_ep_enabled, &rc, "s", id);
    if (!st) return rc < 0 ? rc : -1;
    int r = rc == DB_ROW ? (db_col_int(st, 0) ? 0 : 1) : 2;
    db_reset(st);
    return r;
}

static void after_enqueue(http_req_t *req)
{
    app_t *app = http_app(req);
    if (app->jobs) jobs_notify(app->jobs);
}

static void send_test(http_req_t *req)
{
    if (require_admin(req)) return;
    const char *id = endpoint_id_param(req);
    if (!id) return respond_not_found(req, "No webhook endpoint has this id.");
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int rc = db_begin(c);
    int state = rc == 0 ? endpoint_state(c, id) : rc;
    if (state != 0) {
        if (db_in_tx(c)) db_rollback(c);
        db_release(c);
        if (state == 1)
            return http_respond_problem(req, 409, "endpoint-disabled", "Endpoint Disabled",
                                        "The endpoint is disabled; enable it first (PATCH enabled=true).");
        return state == 2 ? respond_not_found(req, "No webhook endpoint has this id.") : respond_unavailable(req);
    }
    char did[ID_MAX], msg[ID_MAX], ts[32];
    id_new(did, "whd");
    id_new(msg, "msg");
    int64_t now = time_now_ms();
    json_t *b = json_pack("{s:s, s:s, s:{s:s, s:s}}", "type", "webhook.test", "timestamp", time_fmt_rfc3339(ts, now), "data",
                          "endpoint_id", id, "message", "This is a test event from mercato.");
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int64_t ch = db_exec(c, &q_dl_insert_test, "ssssL", did, id, msg, body, now);
    free(body);
    int64_t jid = ch == 1 ? webhook_delivery_enqueue(c, did) : -1;
    rc = jid > 0 ? db_commit(c) : (db_rollback(c), -1);
    json_t *j = rc == 0 ? delivery_load(c, id, did, &rc) : NULL;
    db_release(c);
    if (!j) return respond_unavailable(req);
    after_enqueue(req);
    http_respond_json(req, 202, j);
}

static void retry_delivery(http_req_t *req)
{
    if (require_admin(req)) return;
    const char *id = endpoint_id_param(req);
    const char *did = http_param(req, "delivery_id");
    if (!id || !did || !id_valid(did, strlen(did), "whd")) return respond_not_found(req, "No such delivery of this endpoint.");
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    int rc = db_begin(c);
    int state = rc == 0 ? endpoint_state(c, id) : rc;
    json_t *cur = state == 0 ? delivery_load(c, id, did, &rc) : NULL;
    if (state != 0 || !cur) {
        if (db_in_tx(c)) db_rollback(c);
        db_release(c);
        if (state == 1)
            return http_respond_problem(req, 409, "endpoint-disabled", "Endpoint Disabled",
                                        "The endpoint is disabled; enable it first (PATCH enabled=true).");
        if (state < 0 || rc < 0) return respond_unavailable(req);
        return respond_not_found(req, "No such delivery of this endpoint.");
    }
    json_decref(cur);
    int64_t ch = db_exec(c, &q_dl_requeue, "ssL", did, id, time_now_ms());
    if (ch == 0) {
        db_rollback(c);
        db_release(c);
        return http_respond_problem(req, 409, "invalid-delivery-state", "Conflict",
                                    "Only failed deliveries can be retried.");
    }
    int64_t jid = ch == 1 ? webhook_delivery_enqueue(c, did) : -1;
    if (jid == 0) {
        /* the job of the last attempt has not finished yet (unique key) */
        db_rollback(c);
        db_release(c);
        return http_respond_problem(req, 409, "invalid-delivery-state", "Conflict",
                                    "The delivery's last attempt is still finishing; try again in a moment.");
    }
    rc = jid > 0 ? db_commit(c) : (db_rollback(c), -1);
    json_t *j = rc == 0 ? delivery_load(c, id, did, &rc) : NULL;
    db_release(c);
    if (!j) return respond_unavailable(req);
    after_enqueue(req);
    http_respond_json(req, 202, j);
}

void webhook_routes(router_t *r)
{
    router_add(r, HTTP_POST, "/v1/admin/webhook-endpoints", create_endpoint, AUTH_ADMIN | HTTP_ROUTE_IDEMPOTENT);
    router_add(r, HTTP_GET, "/v1/admin/webhook-endpoints", list_endpoints, AUTH_ADMIN);
    router_add(r, HTTP_GET, "/v1/admin/webhook-endpoints/{id}", get_endpoint, AUTH_ADMIN);
    router_add(r, HTTP_PATCH, "/v1/admin/webhook-endpoints/{id}", update_endpoint, AUTH_ADMIN);
    router_add(r, HTTP_DELETE, "/v1/admin/webhook-endpoints/{id}", delete_endpoint, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/admin/webhook-endpoints/{id}/rotate-secret", rotate_secret, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/admin/webhook-endpoints/{id}/test", send_test, AUTH_ADMIN);
    router_add(r, HTTP_GET, "/v1/admin/webhook-endpoints/{id}/deliveries", list_deliveries, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/admin/webhook-endpoints/{id}/deliveries/{delivery_id}/retry", retry_delivery,
               AUTH_ADMIN);
}
