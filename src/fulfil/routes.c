/*
 * routes.c — the fulfilment API.
 *
 *   GET  /v1/shipments/{id}          a shipment with its lines and tracking timeline
 *   POST /v1/shipments/{id}/events   a carrier reports a status (scope shipments:write)
 *   GET  /v1/orders/{id}/shipments   the shipments of an order
 *
 * Who sees a shipment: whoever may see its order (the customer, a guest with
 * the order's X-Order-Token, admins and the operator — order_access() of the
 * orders module), the seller it ships for, and machine clients with
 * shipments:read or shipments:write.  Anyone else gets 404, as for a
 * shipment that does not exist.
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "auth/access.h"
#include "auth/auth.h"
#include "fulfil/fulfil.h"
#include "orders/order.h"
#include "util/log.h"
#include "util/timeutil.h"

DB_SQL(q_ship_order, "SELECT order_id, seller_id, carrier FROM shipments WHERE id = $1");
DB_SQL(q_order_ships, "SELECT id, seller_id, carrier FROM shipments WHERE order_id = $1 ORDER BY id");

static bool is_admin(const principal_t *p)
{
    return p && (p->kind == PRINCIPAL_OPERATOR || (p->kind == PRINCIPAL_USER && p->role == ROLE_ADMIN));
}

/* Carrier scopes: "shipments:write" / "shipments:read" cover every
 * shipment; "shipments:write:<carrier>" / "shipments:read:<carrier>" only
 * the shipments whose carrier is <carrier> (a delivery service's client
 * cannot move another service's parcels). */
static bool has_scope_family(const principal_t *p, const char *base)
{
    size_t n = strlen(base);
    for (const char *s = p->scope; *s;) {
        while (*s == ' ') s++;
        size_t k = strcspn(s, " ");
        if (k >= n && strncmp(s, base, n) == 0 && (k == n || s[n] == ':')) return true;
        s += k;
    }
    return false;
}

static bool scope_for(const principal_t *p, const char *base, const char *carrier)
{
    if (auth_has_scope(p, base)) return true;
    char s[160];
    snprintf(s, sizeof s, "%s:%s", base, carrier ? carrier : "");
    return carrier && carrier[0] && auth_has_scope(p, s);
}

/* a carrier client at all (some shipments): the coarse gate */
static bool is_carrier(const principal_t *p, bool write)
{
    if (!p || p->kind != PRINCIPAL_CLIENT) return false;
    return has_scope_family(p, "shipments:write") || (!write && has_scope_family(p, "shipments:read"));
}

/* a carrier client for this shipment's carrier */
static bool carrier_may(const principal_t *p, bool write, const char *carrier)
{
    if (!p || p->kind != PRINCIPAL_CLIENT) return false;
    return scope_for(p, "shipments:write", carrier) || (!write && scope_for(p, "shipments:read", carrier));
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

static order_viewer_t viewer(http_req_t *req, const principal_t *p)
{
    order_viewer_t v = { p && p->kind == PRINCIPAL_USER ? p->sub : NULL, is_admin(p), http_header(req, "X-Order-Token") };
    return v;
}

/* What the caller may see of the order's shipments: 2 all, 1 only those of
 * the seller `p`, 3 those of the carriers the client `p` serves, 0 nothing
 * (or no such order), <0 error. */
static int order_scope(db_conn_t *c, http_req_t *req, const principal_t *p, const char *order_id)
{
    order_viewer_t v = viewer(req, p);
    int see = order_access(c, order_id, &v);
    if (see < 0) return see;
    if (see == ORDER_SEE_ADMIN || see == ORDER_SEE_OWNER) return 2;
    if (is_carrier(p, false)) {
        order_status_t st;
        char customer[ID_MAX];
        int rc = order_status_of(c, order_id, &st, customer);
        bool all = auth_has_scope(p, "shipments:write") || auth_has_scope(p, "shipments:read");
        return rc < 0 ? rc : rc == 0 ? (all ? 2 : 3) : 0;
    }
    return see == ORDER_SEE_SELLER ? 1 : 0;
}

/* 1 when the caller may see the shipment, 0 when not (or absent), <0 error. */
static int may_see(db_conn_t *c, http_req_t *req, const principal_t *p, const char *shipment_id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_ship_order, &rc, "s", shipment_id);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return 0;
    }
    char order_id[ID_MAX], seller[ID_MAX], carrier[64];
    snprintf(order_id, sizeof order_id, "%s", db_col_text(st, 0));
    snprintf(seller, sizeof seller, "%s", db_col_text(st, 1));
    snprintf(carrier, sizeof carrier, "%s", db_col_is_null(st, 2) ? "" : db_col_text(st, 2));
    db_reset(st);
    int scope = order_scope(c, req, p, order_id);
    if (scope < 0) return scope;
    if (scope == 3) return carrier_may(p, false, carrier);
    return scope == 2 || (scope == 1 && strcmp(seller, p->sub) == 0);
}

static void get_shipment(http_req_t *req)
{
    const char *id = http_param(req, "id");
    if (!valid_id(id, "shp")) return not_found(req);
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) return db_trouble(req, DB_ENOCONN);
    int ok = may_see(c, req, http_principal(req), id);
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
    if (!is_admin(p)) {
        /* a client bound to some carriers reports only on their shipments;
         * others' are "not found", as for anything it may not see */
        db_conn_t *c = db_acquire(app->db);
        if (!c) return db_trouble(req, DB_ENOCONN);
        int qrc;
        db_stmt_t *st = db_query(c, &q_ship_order, &qrc, "s", id);
        bool found = st && qrc == DB_ROW;
        bool ok = found && carrier_may(p, true, db_col_is_null(st, 2) ? "" : db_col_text(st, 2));
        if (st) db_reset(st);
        db_release(c);
        if (!st || qrc < 0) return db_trouble(req, qrc < 0 ? qrc : DB_ERR);
        if (!ok) return not_found(req);
    }
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
    int scope = order_scope(c, req, p, id);
    json_t *list = json_array();
    if (scope > 0) {
        char ids[64][ID_MAX];
        int n = 0, rc;
        db_stmt_t *st = db_query(c, &q_order_ships, &rc, "s", id);
        while (st && rc == DB_ROW && n < 64) {
            /* a seller sees the shipments it sends, a carrier those it carries */
            bool mine = scope == 2 || (scope == 1 && strcmp(db_col_text(st, 1), p->sub) == 0) ||
                        (scope == 3 && carrier_may(p, false, db_col_is_null(st, 2) ? "" : db_col_text(st, 2)));
            if (mine) snprintf(ids[n++], ID_MAX, "%s", db_col_text(st, 0));
            rc = db_step(st);
        }
        if (st) db_reset(st);
        for (int i = 0; i < n; i++) {
            json_t *o = fulfil_render_shipment(c, ids[i], true);
            if (o) json_array_append_new(list, o);
        }
    }
    db_release(c);
    if (scope < 0) {
        json_decref(list);
        return db_trouble(req, scope);
    }
    if (scope == 0) {
        json_decref(list);
        http_respond_problem(req, 404, "not-found", "Not Found", "No such order.");
        return;
    }
    http_respond_json(req, 200, json_pack("{s:o}", "items", list));
}

void fulfil_routes(router_t *r)
{
    router_add(r, HTTP_GET, "/v1/shipments/{id}", get_shipment, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/shipments/{id}/events", post_event, AUTH_ADMIN | AUTH_CLIENT);
    router_add(r, HTTP_GET, "/v1/orders/{id}/shipments", get_order_shipments, AUTH_PUBLIC);
}
