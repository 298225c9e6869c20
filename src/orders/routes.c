/*
 * routes.c — HTTP handlers for carts, stock, orders and payments, and the
 * module's jobs (see orders.h).
 *
 * Who is who: a signed-in caller is its principal's subject; an anonymous
 * cart is proven with the X-Cart-Token header (the secret shown once when
 * the cart was made) and a guest order with X-Order-Token.  Objects that are
 * not the caller's answer 404, so ids cannot be probed.
 *
 * Writes run in one db_tx each; POST /v1/orders and POST
 * /v1/orders/{id}/payments store their Idempotency-Key answer with
 * idem_save() inside that transaction, so "order created" and "key
 * answered" commit together or not at all.  POST /v1/orders also claims
 * its key there (idem_claim, HTTP_ROUTE_IDEM_IN_TX): one transaction per
 * checkout, not a claim's and then the order's.
 */
#include "orders/orders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/idempotency.h"
#include "auth/access.h"
#include "http/server.h"
#include "orders/cart.h"
#include "orders/inventory.h"
#include "orders/order.h"
#include "orders/payment.h"
#include "payments/stripe.h"
#include "payments/test_provider.h"
#include "util/log.h"
#include "util/timeutil.h"

#define DEFAULT_REGION "eu"
#define LIST_LIMIT_MAX 100
#define ADJUST_MAX 1000000

/* ---------- helpers ---------- */

typedef struct caller {
    const char *user_id; /* signed-in user, or NULL */
    const char *actor;   /* for events: user id, "operator" or "guest" */
    int admin, seller;
} caller_t;

static caller_t caller_of(http_req_t *req)
{
    caller_t c = { NULL, "guest", 0, 0 };
    const principal_t *p = http_principal(req);
    if (!p || !p->sub[0]) return c;
    c.actor = p->sub;
    if (p->kind == PRINCIPAL_USER) c.user_id = p->sub;
    c.admin = p->kind == PRINCIPAL_OPERATOR || (p->kind == PRINCIPAL_USER && p->role == ROLE_ADMIN);
    c.seller = p->kind == PRINCIPAL_USER && p->role == ROLE_SELLER;
    return c;
}

static db_conn_t *conn(http_req_t *req)
{
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) {
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "database-busy", "Service Unavailable", "No database connection is free; retry.");
    }
    return c;
}

static void db_failed(http_req_t *req, int rc)
{
    if (rc == DB_EBUSY || rc == DB_ENOCONN) {
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "database-busy", "Service Unavailable", "The database is busy; retry.");
        return;
    }
    log_error("orders", "database error %d on %s", rc, http_route(req));
    http_respond_problem(req, 500, "internal", "Internal Server Error", "The database failed; the error is logged.");
}

static void invalid(http_req_t *req, json_t *errors)
{
    http_respond_problem_errors(req, 422, "validation-failed", "Unprocessable Content", "Some fields are invalid.",
                                errors);
}

static void invalid1(http_req_t *req, const char *field, const char *msg)
{
    invalid(req, json_pack("[{s:s, s:s}]", "field", field, "message", msg));
}

static void not_found(http_req_t *req, const char *what)
{
    http_respond_problem(req, 404, "not-found", "Not Found", what);
}

/* A JSON object body, or an empty one when no body was sent. */
static int body_or_empty(http_req_t *req, json_t **out)
{
    if (http_body(req).len == 0) {
        *out = NULL;
        return 0;
    }
    return http_json_body(req, out);
}

static void respond_cart_error(http_req_t *req, int rc, int64_t avail)
{
    switch (rc) {
    case CART_E_NOT_FOUND: not_found(req, "No such cart, or not yours (send X-Cart-Token for an anonymous cart)."); return;
    case CART_E_VARIANT: invalid1(req, "variant_id", "no such variant for sale (unknown, or its product is not published)"); return;
    case CART_E_CURRENCY:
        http_respond_problem(req, 422, "currency-mismatch", "Currency Mismatch",
                             "The variant is priced in another currency than the cart's region uses.");
        return;
    case CART_E_STOCK:
        http_respond_problem_ext(req, 409, "insufficient-stock", "Insufficient Stock",
                                 "Not enough units are available for this quantity.",
                                 json_pack("{s:I}", "available", (json_int_t)(avail < 0 ? 0 : avail)));
        return;
    case CART_E_LINES: invalid1(req, "variant_id", "a cart holds at most 100 different variants"); return;
    case CART_E_CLOSED:
        http_respond_problem(req, 409, "cart-closed", "Cart Closed",
                             "This cart was checked out, merged or expired; start a new cart.");
        return;
    case CART_E_REGION: invalid1(req, "region", "unknown region (eu, uk or us)"); return;
    default: db_failed(req, rc); return;
    }
}

/* ---------- carts ---------- */

typedef struct cart_op {
    http_req_t *req;
    caller_t who;
    const char *cart_id, *token, *variant_id, *region, *email;
    int64_t qty;
    int kind; /* 0 create, 1 add, 2 set, 3 patch cart, 4 merge */
    int existing;
    int64_t avail;
    char new_token[CART_TOKEN_MAX];
    json_t *rendered;
} cart_op_t;

DB_SQL(q_cart_set_email, "UPDATE carts SET email = $2, updated_at = $3 WHERE id = $1");

static int cart_tx(db_conn_t *c, void *vctx)
{
    cart_op_t *op = vctx;
    cart_t cart, merged;
    int rc;
    op->avail = 0;
    json_decref(op->rendered); /* a retried transaction starts over */
    op->rendered = NULL;
    if (op->kind == 0) {
        rc = cart_create(c, op->who.user_id, op->region ? op->region : DEFAULT_REGION, &cart, op->new_token,
                         &op->existing);
        /* two first carts of one user at once (PostgreSQL): the loser retries and finds the winner's */
        if (rc == DB_ECONSTRAINT && op->who.user_id) return DB_EBUSY;
        if (rc != 0) return rc;
    } else {
        rc = cart_find(c, op->cart_id, op->kind == 4 ? NULL : op->who.user_id, op->token, &cart);
        if (rc != 0) return rc;
    }
    switch (op->kind) {
    case 1: rc = cart_set_item(c, &cart, op->variant_id, op->qty, 1, &op->avail); break;
    case 2: rc = cart_set_item(c, &cart, op->variant_id, op->qty, 0, &op->avail); break;
    case 4:
        if (cart.user_id[0]) return CART_E_NOT_FOUND; /* only anonymous carts merge */
        rc = cart_merge(c, op->who.user_id, &cart, &merged);
        if (rc == DB_ECONSTRAINT) return DB_EBUSY;
        if (rc == 0) cart = merged;
        break;
    case 3:
        if (strcmp(cart.status, "active") != 0) return CART_E_CLOSED;
        rc = op->region ? cart_set_region(c, &cart, op->region) : 0;
        break;
    default: rc = 0;
    }
    if (rc != 0) return rc;
    if (op->email && (op->kind == 0 || op->kind == 3) &&
        db_exec(c, &q_cart_set_email, "ssL", cart.id, op->email, time_now_ms()) < 0)
        return DB_ERR;
    op->rendered = cart_render(c, &cart);
    if (!op->rendered) return DB_ERR;
    {
        /* show the email the cart carries */
        static const db_sql_t q = { "SELECT email FROM carts WHERE id = $1", "SELECT email FROM carts WHERE id = $1" };
        db_stmt_t *st = db_query(c, &q, &rc, "s", cart.id);
        if (!st) return rc;
        if (rc == DB_ROW && !db_col_is_null(st, 0))
            json_object_set_new(op->rendered, "email", json_string(db_col_text(st, 0)));
        db_reset(st);
    }
    return 0;
}

static void run_cart_op(http_req_t *req, cart_op_t *op, int ok_status)
{
    app_t *app = http_app(req);
    op->req = req;
    op->who = caller_of(req);
    if (!op->token) op->token = http_header(req, "X-Cart-Token");
    int rc = db_tx(app->db, cart_tx, op);
    if (rc != 0) {
        json_decref(op->rendered);
        respond_cart_error(req, rc, op->avail);
        return;
    }
    if (op->new_token[0]) json_object_set_new(op->rendered, "token", json_string(op->new_token));
    if (op->kind == 0 && !op->existing) {
        char loc[96];
        snprintf(loc, sizeof loc, "/v1/carts/%s", json_string_value(json_object_get(op->rendered, "id")));
        http_set_header(req, "Location", loc);
        ok_status = 201;
    }
    http_respond_json(req, ok_status, op->rendered);
}

static int parse_email_region(http_req_t *req, json_t *body, cart_op_t *op)
{
    json_t *errs = NULL;
    const char *k;
    json_t *v;
    if (!body) return 0;
    json_object_foreach(body, k, v) {
        if (!strcmp(k, "region")) {
            if (!json_is_string(v) || json_string_length(v) > 8) {
                if (!errs) errs = json_array();
                json_array_append_new(errs, json_pack("{s:s, s:s}", "field", "region", "message", "must be eu, uk or us"));
            } else {
                op->region = json_string_value(v);
            }
        } else if (!strcmp(k, "email")) {
            if (!json_is_string(v) || !order_email_valid(json_string_value(v))) {
                if (!errs) errs = json_array();
                json_array_append_new(errs, json_pack("{s:s, s:s}", "field", "email", "message", "must be an email address"));
            } else {
                op->email = json_string_value(v);
            }
        } else {
            if (!errs) errs = json_array();
            json_array_append_new(errs, json_pack("{s:s, s:s}", "field", k, "message", "is not a cart field"));
        }
    }
    if (errs) {
        invalid(req, errs);
        return -1;
    }
    return 0;
}

static void create_cart(http_req_t *req)
{
    json_t *body;
    if (body_or_empty(req, &body) < 0) return;
    cart_op_t op = { .kind = 0 };
    if (parse_email_region(req, body, &op) < 0) return;
    run_cart_op(req, &op, 200);
}

static void patch_cart(http_req_t *req)
{
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cart_op_t op = { .kind = 3, .cart_id = http_param(req, "id") };
    if (parse_email_region(req, body, &op) < 0) return;
    run_cart_op(req, &op, 200);
}

static void get_cart(http_req_t *req)
{
    cart_op_t op = { .kind = 5, .cart_id = http_param(req, "id") };
    op.who = caller_of(req);
    op.token = http_header(req, "X-Cart-Token");
    db_conn_t *c = conn(req);
    if (!c) return;
    int rc = cart_tx(c, &op);
    db_release(c);
    if (rc != 0) {
        json_decref(op.rendered);
        respond_cart_error(req, rc, 0);
        return;
    }
    http_respond_json(req, 200, op.rendered);
}

static int parse_variant_id(http_req_t *req, const char *v)
{
    if (!v || !id_valid(v, strlen(v), "var")) {
        invalid1(req, "variant_id", "must be a variant id (var_...)");
        return -1;
    }
    return 0;
}

static void add_item(http_req_t *req)
{
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cart_op_t op = { .kind = 1, .cart_id = http_param(req, "id") };
    op.variant_id = json_string_value(json_object_get(body, "variant_id"));
    if (parse_variant_id(req, op.variant_id) < 0) return;
    json_t *q = json_object_get(body, "quantity");
    if (!q) op.qty = 1;
    else if (order_parse_quantity(q, 1, &op.qty) < 0) {
        invalid1(req, "quantity", "must be an integer from 1 to 999");
        return;
    }
    run_cart_op(req, &op, 200);
}

static void set_item(http_req_t *req)
{
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cart_op_t op = { .kind = 2, .cart_id = http_param(req, "id"), .variant_id = http_param(req, "variant_id") };
    if (parse_variant_id(req, op.variant_id) < 0) return;
    if (order_parse_quantity(json_object_get(body, "quantity"), 0, &op.qty) < 0) {
        invalid1(req, "quantity", "must be an integer from 0 (remove) to 999");
        return;
    }
    run_cart_op(req, &op, 200);
}

static void delete_item(http_req_t *req)
{
    cart_op_t op = { .kind = 2, .cart_id = http_param(req, "id"), .variant_id = http_param(req, "variant_id"), .qty = 0 };
    if (parse_variant_id(req, op.variant_id) < 0) return;
    run_cart_op(req, &op, 200);
}

static void merge_cart(http_req_t *req)
{
    cart_op_t op = { .kind = 4, .cart_id = http_param(req, "id") };
    if (!caller_of(req).user_id) {
        http_respond_problem(req, 403, "forbidden", "Forbidden", "Only a signed-in customer has a cart to merge into.");
        return;
    }
    run_cart_op(req, &op, 200);
}

/* ---------- inventory ---------- */

DB_SQL(q_variant_owner, "SELECT p.seller_id, p.status FROM variants v JOIN products p ON p.id = v.product_id"
                        " WHERE v.id = $1");

/* 1 exists and the caller manages it, 0 exists (public view), -1 absent (or not visible), <-1 error */
static int variant_role(db_conn_t *c, const char *vid, const caller_t *who)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_variant_owner, &rc, "s", vid);
    if (!st) return rc < -1 ? rc : DB_ERR;
    if (rc != DB_ROW) {
        db_reset(st);
        return -1;
    }
    int manage = who->admin || (who->user_id && !strcmp(db_col_text(st, 0), who->user_id));
    int published = !strcmp(db_col_text(st, 1), "published");
    db_reset(st);
    return manage ? 1 : published ? 0 : -1;
}

static json_t *stock_json(const char *vid, int64_t oh, int64_t rs, int full)
{
    json_t *o = json_pack("{s:s, s:I, s:b}", "variant_id", vid, "available", (json_int_t)(oh - rs), "in_stock", oh > rs);
    if (full) {
        json_object_set_new(o, "on_hand", json_integer(oh));
        json_object_set_new(o, "reserved", json_integer(rs));
    }
    return o;
}

static void get_inventory(http_req_t *req)
{
    const char *vid = http_param(req, "variant_id");
    if (parse_variant_id(req, vid) < 0) return;
    caller_t who = caller_of(req);
    db_conn_t *c = conn(req);
    if (!c) return;
    int role = variant_role(c, vid, &who);
    int64_t oh = 0, rs = 0;
    int rc = role >= 0 ? inventory_get(c, vid, &oh, &rs) : 0;
    db_release(c);
    if (role < -1 || rc < 0) return db_failed(req, role < -1 ? role : rc);
    if (role < 0) return not_found(req, "No such variant.");
    http_respond_json(req, 200, stock_json(vid, oh, rs, role == 1));
}

typedef struct adj_op {
    const char *vid, *reason;
    caller_t who;
    int64_t delta;
    int role;
    json_t *out;
} adj_op_t;

static int adjust_tx(db_conn_t *c, void *vctx)
{
    adj_op_t *a = vctx;
    json_decref(a->out);
    a->out = NULL;
    a->role = variant_role(c, a->vid, &a->who);
    if (a->role < -1) return a->role;
    if (a->role != 1) return 1;
    int64_t after;
    int rc = inventory_adjust(c, a->vid, a->delta, a->reason, a->who.actor, &after);
    if (rc != 0) return rc < 0 ? rc : 2;
    int64_t oh, rs;
    if (inventory_get(c, a->vid, &oh, &rs) < 0) return DB_ERR;
    a->out = stock_json(a->vid, oh, rs, 1);
    json_object_set_new(a->out, "delta", json_integer(a->delta));
    json_object_set_new(a->out, "reason", json_string(a->reason));
    return 0;
}

static void adjust_inventory(http_req_t *req)
{
    adj_op_t a = { .vid = http_param(req, "variant_id"), .who = caller_of(req) };
    if (parse_variant_id(req, a.vid) < 0) return;
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    json_t *d = json_object_get(body, "delta"), *r = json_object_get(body, "reason");
    json_t *errs = NULL;
    if (!json_is_integer(d) || json_integer_value(d) == 0 || json_integer_value(d) > ADJUST_MAX ||
        json_integer_value(d) < -ADJUST_MAX) {
        errs = json_array();
        json_array_append_new(errs, json_pack("{s:s, s:s}", "field", "delta", "message",
                                              "must be a non-zero integer between -1000000 and 1000000"));
    }
    if (!json_is_string(r) || json_string_length(r) == 0 || json_string_length(r) > 200) {
        if (!errs) errs = json_array();
        json_array_append_new(errs, json_pack("{s:s, s:s}", "field", "reason", "message", "must be 1 to 200 characters"));
    }
    if (errs) return invalid(req, errs);
    a.delta = json_integer_value(d);
    a.reason = json_string_value(r);
    app_t *app = http_app(req);
    int rc = db_tx(app->db, adjust_tx, &a);
    if (rc == 1) return not_found(req, "No such variant among the ones you manage.");
    if (rc == 2)
        return http_respond_problem(req, 409, "stock-below-reserved", "Stock Below Reserved",
                                    "On-hand stock cannot go below zero or below the units reserved by open orders.");
    if (rc != 0) return db_failed(req, rc);
    http_respond_json(req, 201, a.out);
}

static void availability(http_req_t *req)
{
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    line_req_t lines[CART_MAX_LINES];
    json_t *errs;
    int n = order_parse_lines(json_object_get(body, "lines"), lines, CART_MAX_LINES, &errs);
    if (n < 0) return invalid(req, errs);
    db_conn_t *c = conn(req);
    if (!c) return;
    caller_t who = caller_of(req);
    json_t *out = json_array();
    int all = 1;
    for (int i = 0; i < n; i++) {
        int role = variant_role(c, lines[i].variant_id, &who);
        int64_t avail = role >= 0 ? inventory_available(c, lines[i].variant_id) : 0;
        if (role < -1 || avail < 0) {
            db_release(c);
            json_decref(out);
            return db_failed(req, role < -1 ? role : (int)avail);
        }
        int ok = role >= 0 && avail >= lines[i].quantity;
        if (!ok) all = 0;
        json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:b, s:b}", "variant_id", lines[i].variant_id,
                                             "requested", (json_int_t)lines[i].quantity, "available",
                                             (json_int_t)(avail < 0 ? 0 : avail), "known", role >= 0, "ok", ok));
    }
    db_release(c);
    http_respond_json(req, 200, json_pack("{s:o, s:b}", "lines", out, "all_available", all));
}

/* ---------- checkout ---------- */

typedef struct checkout_op {
    http_req_t *req;
    checkout_input_t in;
    caller_t who;
    const char *cart_token;
    int64_t ttl_ms;
    checkout_res_t res;
    char *body; /* the 201 answer, saved with the key */
} checkout_op_t;

static int checkout_tx(db_conn_t *c, void *vctx)
{
    checkout_op_t *op = vctx;
    json_decref(op->res.errors);
    json_decref(op->res.short_lines);
    op->res.errors = op->res.short_lines = NULL; /* a run may stop before order_checkout clears them */
    free(op->body);
    op->body = NULL;
    int rc = idem_claim(c, op->req); /* the key first: a duplicate changes nothing */
    if (rc != 0) return rc;
    rc = order_checkout(c, &op->in, op->who.user_id, op->cart_token, op->ttl_ms, &op->res);
    if (rc != 0) return rc;
    json_t *o = order_render(c, op->res.order_id, NULL);
    if (!o) return DB_ERR;
    if (op->res.order_token[0]) json_object_set_new(o, "order_token", json_string(op->res.order_token));
    op->body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!op->body) return DB_ERR;
    return idem_save(c, op->req, 201, "application/json", op->body);
}

static void create_order(http_req_t *req)
{
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    checkout_op_t op = { .req = req, .who = caller_of(req), .cart_token = http_header(req, "X-Cart-Token") };
    json_t *errs;
    if (order_parse_checkout(body, &op.in, &errs) < 0) return invalid(req, errs);
    app_t *app = http_app(req);
    op.ttl_ms = app->cfg->reservation_ttl * 1000;
    int rc = db_tx(app->db, checkout_tx, &op);
    idem_tx_done(req, rc);
    json_decref(op.in.address);
    switch (rc) {
    case ORDER_OK: {
        char loc[96];
        snprintf(loc, sizeof loc, "/v1/orders/%s", op.res.order_id);
        http_set_header(req, "Location", loc);
        http_respond_bytes(req, 201, "application/json", op.body, strlen(op.body));
        break;
    }
    case IDEM_TAKEN: idem_answer_taken(req); break;
    case ORDER_E_NOT_FOUND:
        not_found(req, "No such cart, or not yours (send X-Cart-Token for an anonymous cart).");
        break;
    case ORDER_E_CLOSED:
        http_respond_problem(req, 409, "cart-closed", "Cart Closed",
                             "This cart was already checked out, merged or expired.");
        break;
    case ORDER_E_EMPTY:
        http_respond_problem(req, 422, "cart-empty", "Cart Empty", "The cart has no items to order.");
        break;
    case ORDER_E_INVALID:
        invalid(req, op.res.errors);
        op.res.errors = NULL;
        break;
    case ORDER_E_STOCK:
        http_respond_problem_ext(req, 409, "insufficient-stock", "Insufficient Stock",
                                 "Some lines are not available in the quantity asked; nothing was reserved.",
                                 json_pack("{s:o}", "lines", op.res.short_lines));
        op.res.short_lines = NULL;
        break;
    default: db_failed(req, rc);
    }
    json_decref(op.res.errors);
    json_decref(op.res.short_lines);
    free(op.body);
}

/* ---------- reading orders ---------- */

static order_viewer_t viewer_of(http_req_t *req, const caller_t *who)
{
    order_viewer_t v = { who->user_id, who->admin, http_header(req, "X-Order-Token") };
    return v;
}

static void get_order(http_req_t *req)
{
    caller_t who = caller_of(req);
    order_viewer_t v = viewer_of(req, &who);
    const char *id = http_param(req, "id");
    db_conn_t *c = conn(req);
    if (!c) return;
    int see = order_access(c, id, &v);
    json_t *o = see > 0 ? order_render(c, id, see == ORDER_SEE_SELLER ? who.user_id : NULL) : NULL;
    db_release(c);
    if (see < 0) return db_failed(req, see);
    if (see == 0) return not_found(req, "No such order, or not yours.");
    if (!o) return db_failed(req, DB_ERR);
    http_respond_json(req, 200, o);
}

static int parse_limit(http_req_t *req, int *out)
{
    const char *v = http_query(req, "limit");
    *out = 20;
    if (!v) return 0;
    long long n;
    if (str_to_i64(str_from(v), &n) < 0 || n < 1 || n > LIST_LIMIT_MAX) {
        invalid1(req, "limit", "must be an integer from 1 to 100");
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int parse_cursor(http_req_t *req, const char **out)
{
    const char *v = http_query(req, "cursor");
    *out = NULL;
    if (!v || !*v) return 0;
    if (!id_valid(v, strlen(v), "ord")) {
        invalid1(req, "cursor", "is not a cursor from a previous page");
        return -1;
    }
    *out = v;
    return 0;
}

static void list_orders_by(http_req_t *req, const char *by, const char *key)
{
    int limit;
    const char *cursor;
    if (parse_limit(req, &limit) < 0 || parse_cursor(req, &cursor) < 0) return;
    db_conn_t *c = conn(req);
    if (!c) return;
    json_t *res = order_list(c, by, key, cursor, limit);
    db_release(c);
    if (!res) return db_failed(req, DB_ERR);
    http_respond_json(req, 200, res);
}

static void list_my_orders(http_req_t *req)
{
    caller_t who = caller_of(req);
    if (!who.user_id)
        return http_respond_problem(req, 403, "forbidden", "Forbidden", "Only a signed-in customer has orders.");
    list_orders_by(req, "customer", who.user_id);
}

static void list_seller_orders(http_req_t *req)
{
    caller_t who = caller_of(req);
    if (!who.user_id)
        return http_respond_problem(req, 403, "forbidden", "Forbidden", "Only a seller account has seller orders.");
    list_orders_by(req, "seller", who.user_id);
}

static void list_all_orders(http_req_t *req)
{
    const char *st = http_query(req, "status");
    if (st && *st && order_status_parse(st) < 0) return invalid1(req, "status", "is not an order status");
    list_orders_by(req, "all", st && *st ? st : NULL);
}

static void order_timeline(http_req_t *req)
{
    caller_t who = caller_of(req);
    order_viewer_t v = viewer_of(req, &who);
    const char *id = http_param(req, "id");
    long long after = 0;
    const char *a = http_query(req, "after");
    if (a && (str_to_i64(str_from(a), &after) < 0 || after < 0)) return invalid1(req, "after", "must be an event id");
    int limit;
    if (parse_limit(req, &limit) < 0) return;
    if (!http_query(req, "limit")) limit = LIST_LIMIT_MAX;
    db_conn_t *c = conn(req);
    if (!c) return;
    int see = order_access(c, id, &v);
    json_t *evs = see == ORDER_SEE_OWNER || see == ORDER_SEE_ADMIN ? order_events(c, id, after, limit) : NULL;
    db_release(c);
    if (see < 0) return db_failed(req, see);
    if (see != ORDER_SEE_OWNER && see != ORDER_SEE_ADMIN) return not_found(req, "No such order, or not yours.");
    if (!evs) return db_failed(req, DB_ERR);
    http_respond_json(req, 200, json_pack("{s:s, s:o}", "order_id", id, "events", evs));
}

/* ---------- transitions ---------- */

typedef struct trans_op {
    http_req_t *req;
    order_viewer_t v;
    caller_t who;
    const char *id, *reason;
    order_status_t to;
    int need_owner; /* customer route: owner or admin */
    order_status_t from;
    json_t *out;
} trans_op_t;

static int trans_tx(db_conn_t *c, void *vctx)
{
    trans_op_t *t = vctx;
    json_decref(t->out);
    t->out = NULL;
    int see = order_access(c, t->id, &t->v);
    if (see < 0) return see;
    if (see != ORDER_SEE_OWNER && see != ORDER_SEE_ADMIN) return ORDER_E_NOT_FOUND;
    int by = see == ORDER_SEE_ADMIN ? BY_ADMIN : BY_CUSTOMER;
    int rc = order_transition(c, t->id, t->to, by, t->who.actor, t->reason, -1, &t->from);
    if (rc != 0) return rc;
    t->out = order_render(c, t->id, NULL);
    return t->out ? 0 : DB_ERR;
}

static void run_transition(http_req_t *req, trans_op_t *t)
{
    app_t *app = http_app(req);
    t->req = req;
    t->who = caller_of(req);
    t->v = viewer_of(req, &t->who);
    t->id = http_param(req, "id");
    int rc = db_tx(app->db, trans_tx, t);
    if (rc == ORDER_OK) return http_respond_json(req, 200, t->out);
    if (rc == ORDER_E_NOT_FOUND) return not_found(req, "No such order, or not yours.");
    if (rc == ORDER_E_TRANSITION) {
        char d[160];
        snprintf(d, sizeof d, "An order that is %s cannot become %s (for you).", order_status_name(t->from),
                 order_status_name(t->to));
        return http_respond_problem_ext(req, 409, "invalid-transition", "Transition Not Allowed", d,
                                        json_pack("{s:s, s:s}", "current_status", order_status_name(t->from), "requested_status",
                                                  order_status_name(t->to)));
    }
    db_failed(req, rc);
}

static int parse_reason(http_req_t *req, json_t *body, const char **out)
{
    json_t *r = body ? json_object_get(body, "reason") : NULL;
    *out = NULL;
    if (!r || json_is_null(r)) return 0;
    if (!json_is_string(r) || json_string_length(r) > 500) {
        invalid1(req, "reason", "must be a string of at most 500 characters");
        return -1;
    }
    *out = json_string_value(r);
    return 0;
}

static void cancel_order(http_req_t *req)
{
    json_t *body;
    if (body_or_empty(req, &body) < 0) return;
    trans_op_t t = { .to = ORDER_CANCELLED };
    if (parse_reason(req, body, &t.reason) < 0) return;
    if (!t.reason) t.reason = "cancelled_by_request";
    run_transition(req, &t);
}

static void admin_transition(http_req_t *req)
{
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    trans_op_t t = { 0 };
    const char *to = json_string_value(json_object_get(body, "to"));
    int s = to ? order_status_parse(to) : -1;
    if (s < 0) return invalid1(req, "to", "must be an order status");
    t.to = (order_status_t)s;
    if (parse_reason(req, body, &t.reason) < 0) return;
    if (!t.reason) t.reason = "admin";
    run_transition(req, &t);
}

/* ---------- payments ---------- */

typedef struct pay_op {
    http_req_t *req;
    order_viewer_t v;
    caller_t who;
    const char *id, *provider, *method;
    char pay_id[ID_MAX];
    char *body;
} pay_op_t;

static int pay_tx(db_conn_t *c, void *vctx)
{
    pay_op_t *p = vctx;
    free(p->body);
    p->body = NULL;
    int see = order_access(c, p->id, &p->v);
    if (see < 0) return see;
    if (see != ORDER_SEE_OWNER && see != ORDER_SEE_ADMIN) return 100 + PAYMENT_E_NOT_FOUND;
    int rc = payment_create(c, p->id, p->provider, p->method, p->who.actor, p->pay_id);
    if (rc != 0) return rc < 0 ? rc : 100 + rc;
    json_t *o = payment_render(c, p->pay_id);
    if (!o) return DB_ERR;
    order_status_t os;
    if (order_status_of(c, p->id, &os, NULL) == 0)
        json_object_set_new(o, "order_status", json_string(order_status_name(os)));
    p->body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!p->body) return DB_ERR;
    return idem_save(c, p->req, 201, "application/json", p->body);
}

static int method_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > 100) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((m[i] >= 'a' && m[i] <= 'z') || (m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= '0' && m[i] <= '9') ||
              m[i] == '_'))
            return 0;
    return 1;
}

static void pay_order(http_req_t *req)
{
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    pay_op_t p = { .req = req, .who = caller_of(req), .id = http_param(req, "id") };
    p.v = viewer_of(req, &p.who);
    json_t *pv = json_object_get(body, "provider");
    p.provider = pv ? json_string_value(pv) : "test";
    p.method = json_string_value(json_object_get(body, "method"));
    if (!p.provider || strlen(p.provider) > 32) return invalid1(req, "provider", "must be a provider name such as test");
    if (!p.method || !method_ok(p.method))
        return invalid1(req, "method", "must be a payment method token such as tok_visa");
    app_t *app = http_app(req);
    int rc = db_tx(app->db, pay_tx, &p);
    idem_tx_done(req, rc);
    switch (rc) {
    case 0: {
        char loc[96];
        snprintf(loc, sizeof loc, "/v1/orders/%s", p.id);
        http_set_header(req, "Location", loc);
        http_respond_bytes(req, 201, "application/json", p.body, strlen(p.body));
        /* the test provider decided inline; others wait for payments.process */
        if (app->jobs && strcmp(p.provider, "test") != 0) jobs_notify(app->jobs);
        break;
    }
    case 100 + PAYMENT_E_NOT_FOUND: not_found(req, "No such order, or not yours."); break;
    case 100 + PAYMENT_E_PROVIDER: invalid1(req, "provider", "no payment provider of that name is configured"); break;
    case 100 + PAYMENT_E_NOT_PAYABLE:
        http_respond_problem(req, 409, "order-not-payable", "Order Not Payable",
                             "The order is not waiting for payment, or a payment for it is still in progress.");
        break;
    default: db_failed(req, rc);
    }
    free(p.body);
}

/* ---------- mounting ---------- */

void orders_routes(router_t *r)
{
    pay_test_register();
    router_add(r, HTTP_POST, "/v1/carts", create_cart, AUTH_PUBLIC | HTTP_ROUTE_IDEMPOTENT);
    router_add(r, HTTP_GET, "/v1/carts/{id}", get_cart, AUTH_PUBLIC);
    router_add(r, HTTP_PATCH, "/v1/carts/{id}", patch_cart, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/carts/{id}/items", add_item, AUTH_PUBLIC | HTTP_ROUTE_IDEMPOTENT);
    router_add(r, HTTP_PATCH, "/v1/carts/{id}/items/{variant_id}", set_item, AUTH_PUBLIC);
    router_add(r, HTTP_DELETE, "/v1/carts/{id}/items/{variant_id}", delete_item, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/carts/{id}/merge", merge_cart, AUTH_USER | HTTP_ROUTE_IDEMPOTENT);
    router_add(r, HTTP_GET, "/v1/inventory/{variant_id}", get_inventory, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/inventory/{variant_id}/adjustments", adjust_inventory,
               AUTH_SELLER | HTTP_ROUTE_IDEMPOTENT);
    router_add(r, HTTP_POST, "/v1/inventory/availability", availability, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/orders", create_order, AUTH_PUBLIC | HTTP_ROUTE_IDEM_REQUIRED | HTTP_ROUTE_IDEM_IN_TX);
    router_add(r, HTTP_GET, "/v1/orders", list_my_orders, AUTH_USER);
    router_add(r, HTTP_GET, "/v1/orders/{id}", get_order, AUTH_PUBLIC);
    router_add(r, HTTP_GET, "/v1/orders/{id}/events", order_timeline, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/orders/{id}/cancel", cancel_order, AUTH_PUBLIC | HTTP_ROUTE_IDEMPOTENT);
    router_add(r, HTTP_POST, "/v1/orders/{id}/payments", pay_order, AUTH_PUBLIC | HTTP_ROUTE_IDEMPOTENT);
    router_add(r, HTTP_GET, "/v1/seller/orders", list_seller_orders, AUTH_SELLER);
    router_add(r, HTTP_GET, "/v1/admin/orders", list_all_orders, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/admin/orders/{id}/transition", admin_transition, AUTH_ADMIN | HTTP_ROUTE_IDEMPOTENT);
}

/* ---------- jobs ---------- */

typedef struct expire_ctx {
    const char *order_id;
} expire_ctx_t;

static int expire_tx(db_conn_t *c, void *vctx)
{
    expire_ctx_t *e = vctx;
    return order_expire(c, e->order_id);
}

/* Unpaid orders whose reservations ran out: one indexed query
 * (order_sql_due_orders, on reservations_held) every second instead of a
 * job row per order, which cost an insert at checkout and a claim and a
 * completion 15 minutes later.  Several processes may sweep at once:
 * order_expire re-checks the status under the order's lock and does
 * nothing the second time. */
#define q_due_orders order_sql_due_orders

static void expire_sweep(db_t *db, void *ctx)
{
    (void)ctx;
    int64_t now = time_now_ms();
    /* expired: order_expire succeeded (a no-op too); rows: reservations
     * read, found: their orders (an order's lines are read together) */
    int rows, found, expired = 0, round, rounds = 0;
    do {
        char (*ids)[ID_MAX] = NULL;
        rows = found = 0;
        db_conn_t *c = db_acquire(db);
        if (!c) return;
        int rc;
        db_stmt_t *st = db_query(c, &q_due_orders, &rc, "L", now);
        if (st) {
            ids = calloc(200, sizeof *ids);
            while (ids && rc == DB_ROW && rows < 200) {
                const char *id = db_col_text(st, 0);
                rows++;
                if (!found || strcmp(ids[found - 1], id) != 0) snprintf(ids[found++], ID_MAX, "%s", id);
                rc = db_step(st);
            }
            db_reset(st);
        }
        db_release(c);
        if (!st || rc < 0) log_warn("orders", "reading expired reservations failed (%d)", rc);
        round = 0;
        for (int i = 0; i < found; i++) {
            expire_ctx_t e = { ids[i] };
            if (db_tx(db, expire_tx, &e) == 0)
                round++;
            else
                log_warn("orders", "could not expire order %s; the next sweep tries again", ids[i]);
        }
        expired += round;
        free(ids);
        /* a full page again only when this one went, and at most 10,000
         * orders per sweep (no endless loop over rows that do not change) */
    } while (rows == 200 && round == found && ++rounds < 50);
    if (expired) log_info("orders", "reservations ran out: %d unpaid order(s) expired", expired);
}

/* orders.expire jobs queued before the sweep replaced them (a database from
 * an earlier version) still run */
static int expire_handler(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    expire_ctx_t e = { json_string_value(json_object_get(job->payload, "order_id")) };
    if (!e.order_id) {
        jobs_fail(run, "payload without order_id");
        return JOB_DEAD;
    }
    int rc = db_tx(jobs_run_db(run), expire_tx, &e);
    if (rc != 0) {
        jobs_fail(run, "could not expire %s (%d)", e.order_id, rc);
        return JOB_RETRY;
    }
    return JOB_OK;
}

/* the statuses listed (not "<> 'active'") so carts_updated finds them
 * instead of a scan of every cart */
DB_SQL(q_carts_delete, "DELETE FROM carts WHERE id IN (SELECT id FROM carts"
                       " WHERE status IN ('converted', 'merged', 'expired') AND updated_at < $1"
                       " AND id NOT IN (SELECT cart_id FROM orders) LIMIT $2)");

static int purge_handler(job_run_t *run, const job_t *job, void *ctx)
{
    (void)job;
    app_t *app = ctx;
    db_conn_t *c = db_acquire(jobs_run_db(run));
    if (!c) return jobs_retry_after(run, 60000);
    int64_t ttl = app->cfg->cart_ttl * 1000;
    int64_t n = cart_expire_idle(c, ttl);
    int64_t d = n >= 0 ? db_exec_batches(c, &q_carts_delete, DB_PURGE_BATCH, "L", time_now_ms() - 2 * ttl) : n;
    db_release(c);
    if (n < 0 || d < 0) {
        jobs_fail(run, "cart purge failed");
        return JOB_RETRY;
    }
    if (n > 0 || d > 0) log_info("orders", "expired %lld idle carts, deleted %lld old ones", (long long)n, (long long)d);
    return JOB_OK;
}

void orders_jobs(jobs_t *rt, app_t *app)
{
    pay_test_register();
    /* Stripe, when a secret key is configured (every process that creates
     * or processes payments runs this: serve with or without workers, and
     * mercato worker) */
    stripe_configure(app->cfg->stripe_secret_key, app->cfg->stripe_api_base, (int)app->cfg->stripe_timeout);
    if (app->cfg->stripe_secret_key[0]) pay_provider_register(stripe_provider());
    jobs_register(rt, "orders.expire", expire_handler, NULL);
    jobs_sweep(rt, 1000, expire_sweep, NULL);
    jobs_register(rt, "carts.purge", purge_handler, app);
    jobs_schedule(rt, "carts.purge", "17 * * * *", "carts.purge", NULL);
    payment_jobs(rt);
}
