/*
 * routes.c — the fulfilment API.
 *
 *   GET  /v1/shipments/{id}          a shipment with its lines and tracking timeline
 *   POST /v1/shipments/{id}/events   a carrier reports a status (scope shipments:write)
 *   GET  /v1/orders/{id}/shipments   the shipments of an order
 *
 * Who sees a shipment: the order's customer, the seller it ships for,
 * admins and the operator, and machine clients with shipments:read or
 * shipments:write.  Anyone else gets 404, as for a shipment that does not
 * exist.
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "auth/access.h"
#include "auth/auth.h"
#include "fulfil/fulfil.h"
#include "util/log.h"
#include "util/timeutil.h"

DB_SQL(q_access, "SELECT o.customer_id, s.seller_id FROM shipments s JOIN orders o ON o.id = s.order_id WHERE s.id = $1");
DB_SQL(q_order_access, "SELECT customer_id FROM orders WHERE id = $1");
DB_SQL(q_order_ships, "SELECT id, seller_id FROM shipments WHERE order_id = $1 ORDER BY id");

static bool is_admin(const principal_t *p)
{
    return p && (p->kind == PRINCIPAL_OPERATOR || (p->kind == PRINCIPAL_USER && p->role == ROLE_ADMIN));
}

static bool is_carrier(const principal_t *p, bool write)
{
    if (!p || p->kind != PRINCIPAL_CLIENT) return false;
    return auth_has_scope(p, "shipments:write") || (!write && auth_has_scope(p, "shipments:read"));
}

static void not_found(http_req_t *req)
{
    http_respond_problem(req, 404, "not-found", "Not Found", "No such shipment.");
}

static void db_trouble(http_req_t *req, int rc)
{
    log_error("fulfil", "database error %d", rc);
    http_set_header(req, "Retry-After", "1");
    http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The database is busy; retry in a second.");
}

static bool valid_id(const char *s, const char *prefix)
{
    return s && id_valid(s, strlen(s), prefix);
}

/* 1 when the caller may see the shipment, 0 when not (or absent), <0 error. */
static int may_see(db_conn_t *c, const principal_t *p, const char *shipment_id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_access, &rc, "s", shipment_id);
    if (!st) return rc;
    int ok = 0;
    if (rc == DB_ROW) {
        if (is_admin(p) || is_carrier(p, false))
            ok = 1;
        else if (p && p->kind == PRINCIPAL_USER)
            ok = (!db_col_is_null(st, 0) && strcmp(db_col_text(st, 0), p->sub) == 0) ||
                 strcmp(db_col_text(st, 1), p->sub) == 0;
    }
    db_reset(st);
    return ok;
}

static void get_shipment(http_req_t *req)
{
    const char *id = http_param(req, "id");
    if (!valid_id(id, "shp")) return not_found(req);
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) return db_trouble(req, DB_ENOCONN);
    int ok = may_see(c, http_principal(req), id);
    json_t *o = ok == 1 ? fulfil_render_shipment(c, id, true) : NULL;
    db_release(c);
    if (ok < 0) return db_trouble(req, ok);
    if (!o) return not_found(req);
    http_respond_json(req, 200, o);
}

typedef struct post_ctx {
    const char *shipment_id;
    const char *source;
    const char *actor;
    carrier_event_t ev;
    fulfil_result_t res;
} post_ctx_t;

static int post_tx(db_conn_t *c, void *ctx)
{
    post_ctx_t *pc = ctx;
    return fulfil_apply_event(c, pc->shipment_id, pc->source, pc->actor, &pc->ev, &pc->res);
}

static void post_event(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    if (!is_admin(p) && !is_carrier(p, true)) {
        http_set_header(req, "WWW-Authenticate", "Bearer realm=\"mercato\", error=\"insufficient_scope\", scope=\"shipments:write\"");
        http_respond_problem(req, 403, "forbidden", "Forbidden", "Reporting shipment events needs the scope shipments:write.");
        return;
    }
    const char *id = http_param(req, "id");
    if (!valid_id(id, "shp")) return not_found(req);
    json_t *body;
    if (http_json_body(req, &body) != 0) return;
    json_t *errors = json_array();
    post_ctx_t pc = { .shipment_id = id, .source = p->sub, .actor = p->sub };
    if (fulfil_parse_event(body, time_now_ms(), &pc.ev, errors) != 0) {
        http_respond_problem_errors(req, 422, "validation-failed", "Validation Failed",
                                    "The carrier event is not valid.", errors);
        return;
    }
    json_decref(errors);
    app_t *app = http_app(req);
    int rc = db_tx(app->db, post_tx, &pc);
    if (rc < 0) return db_trouble(req, rc);
    if (!pc.res.found) return not_found(req);
    if (pc.res.applied && app->jobs) jobs_notify(app->jobs);
    db_conn_t *c = db_acquire(app->db);
    json_t *ship = c ? fulfil_render_shipment(c, id, false) : NULL;
    if (c) db_release(c);
    if (!ship) return db_trouble(req, DB_ENOCONN);
    json_t *out = json_pack("{s:s, s:b, s:b, s:o}", "event_id", pc.res.event_id, "applied", pc.res.applied,
                            "duplicate", pc.res.replay, "shipment", ship);
    http_respond_json(req, pc.res.replay ? 200 : 201, out);
}

static void get_order_shipments(http_req_t *req)
{
    const char *id = http_param(req, "id");
    const principal_t *p = http_principal(req);
    if (!valid_id(id, "ord")) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No such order.");
        return;
    }
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) return db_trouble(req, DB_ENOCONN);
    int rc;
    db_stmt_t *st = db_query(c, &q_order_access, &rc, "s", id);
    if (!st) {
        db_release(c);
        return db_trouble(req, rc);
    }
    bool exists = rc == DB_ROW;
    bool customer = exists && p && p->kind == PRINCIPAL_USER && !db_col_is_null(st, 0) &&
                    strcmp(db_col_text(st, 0), p->sub) == 0;
    db_reset(st);
    bool all = customer || is_admin(p) || is_carrier(p, false);
    json_t *list = json_array();
    if (exists) {
        char ids[64][ID_MAX];
        int n = 0;
        st = db_query(c, &q_order_ships, &rc, "s", id);
        while (st && rc == DB_ROW && n < 64) {
            /* a seller sees the shipments it sends */
            if (all || (p && p->kind == PRINCIPAL_USER && strcmp(db_col_text(st, 1), p->sub) == 0))
                snprintf(ids[n++], ID_MAX, "%s", db_col_text(st, 0));
            rc = db_step(st);
        }
        if (st) db_reset(st);
        for (int i = 0; i < n; i++) {
            json_t *o = fulfil_render_shipment(c, ids[i], true);
            if (o) json_array_append_new(list, o);
        }
    }
    db_release(c);
    if (!exists || (!all && json_array_size(list) == 0)) {
        json_decref(list);
        http_respond_problem(req, 404, "not-found", "Not Found", "No such order.");
        return;
    }
    http_respond_json(req, 200, json_pack("{s:o}", "items", list));
}

void fulfil_routes(router_t *r)
{
    router_add(r, HTTP_GET, "/v1/shipments/{id}", get_shipment, AUTH_USER | AUTH_ADMIN | AUTH_CLIENT);
    router_add(r, HTTP_POST, "/v1/shipments/{id}/events", post_event, AUTH_ADMIN | AUTH_CLIENT);
    router_add(r, HTTP_GET, "/v1/orders/{id}/shipments", get_order_shipments, AUTH_USER | AUTH_ADMIN | AUTH_CLIENT);
}
