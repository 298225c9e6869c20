/*
 * routes.c — HTTP handlers for products, categories and reviews (see
 * routes.h).
 *
 * Access: the route flags state the role a route needs (enforced by the
 * identity module's pre-hook); handlers still build the actor themselves
 * and the domain functions decide ownership, so a route is safe even when
 * no hook is installed (anonymous callers simply cannot write).
 *
 * Ownership answers: a seller acting on another seller's product gets 404
 * (we do not reveal that it exists); a signed-in user whose role cannot do
 * the action at all gets 403; an anonymous caller gets 401.
 */
#include "catalog/routes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "auth/access.h"
#include "catalog/cache.h"
#include "catalog/category.h"
#include "catalog/listing.h"
#include "catalog/review.h"
#include "search/search.h"
#include "util/buf.h"
#include "util/id.h"
#include "util/log.h"
#include "util/timeutil.h"

/* ---------- shared helpers ---------- */

catalog_actor_t catalog_actor_of(http_req_t *req)
{
    catalog_actor_t a = { 0 };
    const principal_t *p = http_principal(req);
    if (!p || !p->sub[0]) return a;
    a.id = p->sub;
    a.admin = p->kind == PRINCIPAL_OPERATOR || (p->kind == PRINCIPAL_USER && p->role == ROLE_ADMIN);
    a.seller = p->kind == PRINCIPAL_USER && p->role == ROLE_SELLER;
    return a;
}

void catalog_respond_error(http_req_t *req, const catalog_actor_t *actor, cat_result_t *res)
{
    json_t *errors = res->errors;
    res->errors = NULL;
    switch (res->code) {
    case CAT_ENOTFOUND:
        json_decref(errors);
        http_respond_problem(req, 404, "not-found", "Not Found", res->detail ? res->detail : "No such resource.");
        return;
    case CAT_EFORBIDDEN:
        json_decref(errors);
        if (!actor || !actor->id) {
            http_set_header(req, "WWW-Authenticate", "Bearer");
            http_respond_problem(req, 401, "unauthorized", "Unauthorized", "Sign in to do this.");
        } else {
            http_respond_problem(req, 403, "forbidden", "Forbidden", res->detail ? res->detail : "Not allowed.");
        }
        return;
    case CAT_ECONFLICT:
        if (res->id[0]) {
            json_t *ext = json_pack("{s:s}", "existing_id", res->id);
            if (errors) json_object_set_new(ext, "errors", errors);
            http_respond_problem_ext(req, 409, "conflict", "Conflict", res->detail ? res->detail : "Conflict.", ext);
        } else {
            http_respond_problem_errors(req, 409, "conflict", "Conflict",
                                        res->detail ? res->detail : "The request conflicts with the current state.",
                                        errors);
        }
        return;
    case CAT_EINVALID:
        http_respond_problem_errors(req, 422, "validation-failed", "Unprocessable Content",
                                    res->detail ? res->detail : "Some fields are invalid.", errors);
        return;
    default:
        json_decref(errors);
        http_respond_problem(req, 500, "internal", "Internal Server Error", "The database failed; the error is logged.");
        return;
    }
}

void catalog_invalid_param(http_req_t *req, const char *field, const char *message)
{
    json_t *errs = json_pack("[{s:s, s:s}]", "field", field, "message", message);
    http_respond_problem_errors(req, 422, "validation-failed", "Unprocessable Content",
                                "A query parameter is invalid.", errs);
}

db_conn_t *catalog_conn(http_req_t *req)
{
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) {
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "database-busy", "Service Unavailable", "No database connection is free; retry.");
    }
    return c;
}

/* answers with the product's current JSON (status 200 or 201) */
static void respond_product(http_req_t *req, int status, const char *id)
{
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    int rc;
    catalog_blob_t *b = catalog_product_blob(c, id, &rc);
    db_release(c);
    if (!b) {
        cat_result_t r = { .code = rc };
        catalog_respond_error(req, NULL, &r);
        return;
    }
    if (status == 201) {
        char loc[96];
        snprintf(loc, sizeof loc, "/v1/products/%s", b->id);
        http_set_header(req, "Location", loc);
        http_respond_bytes(req, 201, "application/json", b->data, b->len);
    } else {
        http_respond_json_etag(req, b->data, b->len);
    }
    catalog_blob_release(b);
}

/* ---------- products ---------- */

static void get_product(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    int rc;
    catalog_blob_t *b = catalog_product_blob(c, http_param(req, "id"), &rc);
    db_release(c);
    if (!b || !product_visible_to(&actor, b->status, b->seller_id)) {
        if (b) catalog_blob_release(b);
        cat_result_t r = { .code = b || rc == CAT_ENOTFOUND ? CAT_ENOTFOUND : rc, .detail = "No such product." };
        catalog_respond_error(req, &actor, &r);
        return;
    }
    http_set_header(req, "Cache-Control", b->status == PRODUCT_PUBLISHED ? "public, no-cache" : "private, no-cache");
    http_respond_json_etag(req, b->data, b->len);
    catalog_blob_release(b);
}

static const char *query_get(void *ctx, const char *name) { return http_query((http_req_t *)ctx, name); }

/* Reads the filter parameters shared by the list and search
 * (catalog_filter_parse) and resolves the category.  On a bad value it
 * answers (401, 403 or 422) and returns -1. */
int catalog_parse_filter(http_req_t *req, db_conn_t *c, const catalog_actor_t *actor, product_filter_t *f)
{
    const char *category, *field, *message;
    int rc = catalog_filter_parse(f, &category, query_get, req, http_arena(req), actor, &field, &message);
    if (rc == -1) {
        catalog_invalid_param(req, field, message);
        return -1;
    }
    if (rc == -2) {
        http_set_header(req, "WWW-Authenticate", "Bearer");
        http_respond_problem(req, 401, "unauthorized", "Unauthorized", "Sign in to list unpublished products.");
        return -1;
    }
    if (rc == -3) {
        http_respond_problem(req, 403, "forbidden", "Forbidden",
                             "Sellers list their own unpublished products with seller=me; admins any.");
        return -1;
    }
    if (category) {
        rc = category_resolve_path(c, category, f->category_path, sizeof f->category_path);
        if (rc == CAT_ENOTFOUND) {
            catalog_invalid_param(req, "category", "no such category (give its id or slug)");
            return -1;
        }
        if (rc != CAT_OK) {
            cat_result_t r = { .code = CAT_EDB };
            catalog_respond_error(req, actor, &r);
            return -1;
        }
        f->has_category = true;
    }
    return 0;
}

int catalog_parse_limit(http_req_t *req, int *out)
{
    const char *v = http_query(req, "limit");
    *out = CAT_LIST_LIMIT_DEFAULT;
    if (!v || !*v) return 0;
    long long n;
    if (str_to_i64(str_from(v), &n) < 0 || n < 1 || n > CAT_LIST_LIMIT_MAX) {
        catalog_invalid_param(req, "limit", "must be an integer from 1 to 100");
        return -1;
    }
    *out = (int)n;
    return 0;
}

int catalog_parse_cursor(http_req_t *req, int sort, catalog_cursor_t *cur, const catalog_cursor_t **out)
{
    *out = NULL;
    const char *v = http_query(req, "cursor");
    if (!v || !*v) return 0;
    if (catalog_cursor_decode(v, cur) < 0 || (sort >= 0 && cur->sort != sort) || strncmp(cur->id, "prod_", 5)) {
        http_respond_problem(req, 400, "invalid-cursor", "Bad Request",
                             "The cursor is malformed or belongs to another sort order; start again without it.");
        return -1;
    }
    *out = cur;
    return 0;
}

static void list_products(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    arena_t *a = http_arena(req);
    product_filter_t f;
    int limit;
    int sort = PRODUCT_SORT_NEWEST;
    const char *sv = http_query(req, "sort");
    if (sv && *sv && ((sort = product_sort_parse(sv)) < 0 || sort == PRODUCT_SORT_RELEVANCE)) {
        db_release(c);
        catalog_invalid_param(req, "sort", "one of newest, price_asc, price_desc, rating (relevance needs /v1/search)");
        return;
    }
    catalog_cursor_t cur;
    const catalog_cursor_t *after;
    if (catalog_parse_filter(req, c, &actor, &f) < 0 || catalog_parse_limit(req, &limit) < 0) {
        db_release(c);
        return;
    }
    if (f.status != PRODUCT_PUBLISHED) sort = PRODUCT_SORT_NEWEST;
    if (catalog_parse_cursor(req, sort, &cur, &after) < 0) {
        db_release(c);
        return;
    }
    /* Public pages go through the search answer cache (keyed by the
     * canonical request and the catalog generation, so any change anywhere
     * retires them): a page over a large category sorted by price has to
     * sort the whole category, and shoppers ask the same pages again. */
    char *key = NULL;
    buf_t b = BUF_INIT(0);
    char etag[HTTP_ETAG_LEN];
    if (f.status == PRODUCT_PUBLISHED) {
        const char *cv = http_query(req, "cursor");
        key = arena_sprintf(a, "l|%s|%s|%s|%d%lld|%d%lld|%s|%d|%d|%d|%s", f.has_category ? f.category_path : "",
                            f.seller_id ? f.seller_id : "", f.tag ? f.tag : "", f.has_price_min,
                            (long long)f.price_min, f.has_price_max, (long long)f.price_max,
                            f.currency ? f.currency : "", f.rating_min, sort, limit, cv ? cv : "");
        if (search_cache_get(key, &b, etag)) {
            db_release(c);
            http_set_header(req, "Cache-Control", "public, no-cache");
            http_respond_json_tagged(req, b.ptr, b.len, etag);
            buf_free(&b);
            return;
        }
    }
    uint64_t gen = catalog_generation();
    product_page_t page;
    int rc = product_list_ids(c, a, &f, (product_sort_t)sort, after, limit, &page);
    if (rc != CAT_OK) {
        db_release(c);
        cat_result_t r = { .code = rc };
        catalog_respond_error(req, &actor, &r);
        return;
    }
    buf_puts(&b, "{\"items\":[");
    int first = 1;
    for (size_t i = 0; i < page.n; i++) {
        catalog_blob_t *blob = catalog_product_blob(c, page.ids[i], &rc);
        if (!blob) continue;
        if (!first) buf_putc(&b, ',');
        first = 0;
        buf_append(&b, blob->data, blob->len);
        catalog_blob_release(blob);
    }
    db_release(c);
    buf_puts(&b, "],\"next_cursor\":");
    if (page.next_cursor) buf_printf(&b, "\"%s\"", page.next_cursor);
    else buf_puts(&b, "null");
    buf_putc(&b, '}');
    if (key) search_cache_put(key, gen, b.ptr, b.len, etag);
    else http_etag_of(etag, b.ptr, b.len);
    http_set_header(req, "Cache-Control", f.status == PRODUCT_PUBLISHED ? "public, no-cache" : "private, no-cache");
    http_respond_json_tagged(req, b.ptr, b.len, etag);
    buf_free(&b);
}

static void create_product(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cat_result_t res;
    if (product_create(((app_t *)http_app(req))->db, &actor, body, &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    respond_product(req, 201, res.id);
}

static void update_product(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cat_result_t res;
    if (product_update(((app_t *)http_app(req))->db, &actor, http_param(req, "id"), body, NULL, &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    respond_product(req, 200, res.id);
}

static void transition(http_req_t *req, product_action_t action)
{
    catalog_actor_t actor = catalog_actor_of(req);
    const char *reason = NULL;
    str_t raw = http_body(req);
    if (action == PRODUCT_ACTION_REJECT || raw.len > 0) {
        json_t *body;
        if (http_json_body(req, &body) < 0) return;
        const char *k;
        json_t *v;
        json_t *errs = NULL;
        json_object_foreach(body, k, v) {
            if (!strcmp(k, "reason") && json_is_string(v)) continue;
            if (!errs) errs = json_array();
            json_array_append_new(errs, json_pack("{s:s, s:s}", "field", k,
                                                  !strcmp(k, "reason") ? "must be a string" : "unknown field (allowed: reason)"));
        }
        if (errs) {
            http_respond_problem_errors(req, 422, "validation-failed", "Unprocessable Content", "Some fields are invalid.",
                                        errs);
            return;
        }
        reason = json_string_value(json_object_get(body, "reason"));
    }
    cat_result_t res;
    if (product_transition(((app_t *)http_app(req))->db, &actor, http_param(req, "id"), action, reason, &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    respond_product(req, 200, res.id);
}

static void submit_product(http_req_t *req) { transition(req, PRODUCT_ACTION_SUBMIT); }
static void approve_product(http_req_t *req) { transition(req, PRODUCT_ACTION_APPROVE); }
static void reject_product(http_req_t *req) { transition(req, PRODUCT_ACTION_REJECT); }
static void archive_product(http_req_t *req) { transition(req, PRODUCT_ACTION_ARCHIVE); }

/* ---------- categories ---------- */

static void list_categories(http_req_t *req)
{
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    json_t *tree = category_tree_json(c);
    db_release(c);
    if (!tree) {
        cat_result_t r = { .code = CAT_EDB };
        catalog_respond_error(req, NULL, &r);
        return;
    }
    char *s = json_dumps(tree, JSON_COMPACT);
    json_decref(tree);
    http_set_header(req, "Cache-Control", "public, no-cache");
    http_respond_json_etag(req, s, strlen(s));
    free(s);
}

static void get_category(http_req_t *req)
{
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    int rc;
    json_t *j = category_get_json(c, http_param(req, "id"), &rc);
    db_release(c);
    if (!j) {
        cat_result_t r = { .code = rc, .detail = "No such category." };
        catalog_respond_error(req, NULL, &r);
        return;
    }
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    http_respond_json_etag(req, s, strlen(s));
    free(s);
}

static void respond_category(http_req_t *req, int status, const char *id)
{
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    int rc;
    json_t *j = category_get_json(c, id, &rc);
    db_release(c);
    if (!j) {
        cat_result_t r = { .code = rc };
        catalog_respond_error(req, NULL, &r);
        return;
    }
    if (status == 201) {
        char loc[96];
        snprintf(loc, sizeof loc, "/v1/categories/%s", id);
        http_set_header(req, "Location", loc);
    }
    http_respond_json(req, status, j);
}

static void create_category(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cat_result_t res;
    if (category_create(((app_t *)http_app(req))->db, &actor, body, &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    respond_category(req, 201, res.id);
}

static void update_category(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cat_result_t res;
    if (category_update(((app_t *)http_app(req))->db, &actor, http_param(req, "id"), body, &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    respond_category(req, 200, res.id);
}

static void delete_category(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    cat_result_t res;
    if (category_delete(((app_t *)http_app(req))->db, &actor, http_param(req, "id"), &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    http_respond_empty(req, 204);
}

/* ---------- reviews ---------- */

static void list_reviews(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    int sort = REVIEW_SORT_NEWEST, limit;
    const char *sv = http_query(req, "sort");
    if (sv && *sv && (sort = review_sort_parse(sv)) < 0) {
        catalog_invalid_param(req, "sort", "one of newest, rating_desc, rating_asc");
        return;
    }
    const char *st = http_query(req, "status");
    bool hidden = false;
    if (st && *st) {
        if (strcmp(st, "hidden") && strcmp(st, "visible")) {
            catalog_invalid_param(req, "status", "visible or hidden");
            return;
        }
        hidden = !strcmp(st, "hidden");
        if (hidden && !actor.admin) {
            cat_result_t r = { .code = CAT_EFORBIDDEN, .detail = "Only admins can list hidden reviews." };
            catalog_respond_error(req, &actor, &r);
            return;
        }
    }
    if (catalog_parse_limit(req, &limit) < 0) return;
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    int rc;
    const char *cur = http_query(req, "cursor");
    json_t *j = review_list_json(c, http_arena(req), http_param(req, "id"), (review_sort_t)sort, hidden,
                                 cur && *cur ? cur : NULL, limit, &rc);
    db_release(c);
    if (!j) {
        if (rc == CAT_EINVALID) {
            http_respond_problem(req, 400, "invalid-cursor", "Bad Request",
                                 "The cursor is malformed or belongs to another sort order; start again without it.");
            return;
        }
        cat_result_t r = { .code = rc, .detail = "No such product." };
        catalog_respond_error(req, &actor, &r);
        return;
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    http_respond_json_etag(req, s, strlen(s));
    free(s);
}

static void respond_review(http_req_t *req, int status, const char *id)
{
    catalog_actor_t actor = catalog_actor_of(req);
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    int rc;
    json_t *j = review_get_json(c, id, actor.admin, &rc);
    db_release(c);
    if (!j) {
        cat_result_t r = { .code = rc, .detail = "No such review." };
        catalog_respond_error(req, &actor, &r);
        return;
    }
    if (status == 201) {
        char loc[96];
        snprintf(loc, sizeof loc, "/v1/reviews/%s", id);
        http_set_header(req, "Location", loc);
    }
    http_respond_json(req, status, j);
}

static void get_review(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    int rc;
    json_t *j = review_get_json(c, http_param(req, "id"), actor.admin, &rc);
    db_release(c);
    if (!j) {
        cat_result_t r = { .code = rc, .detail = "No such review." };
        catalog_respond_error(req, &actor, &r);
        return;
    }
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    http_respond_json_etag(req, s, strlen(s));
    free(s);
}

static void create_review(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cat_result_t res;
    if (review_create(((app_t *)http_app(req))->db, &actor, http_param(req, "id"), body, &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    respond_review(req, 201, res.id);
}

static void update_review(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cat_result_t res;
    if (review_update(((app_t *)http_app(req))->db, &actor, http_param(req, "id"), body, &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    respond_review(req, 200, res.id);
}

static void reply_review(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    cat_result_t res;
    if (review_reply(((app_t *)http_app(req))->db, &actor, http_param(req, "id"), body, &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    respond_review(req, 200, res.id);
}

static void moderate(http_req_t *req, bool hide)
{
    catalog_actor_t actor = catalog_actor_of(req);
    const char *reason = NULL;
    if (hide || http_body(req).len > 0) {
        json_t *body;
        if (http_json_body(req, &body) < 0) return;
        json_t *r = json_object_get(body, "reason");
        if (r && !json_is_string(r)) {
            catalog_invalid_param(req, "reason", "must be a string");
            return;
        }
        reason = json_string_value(r);
    }
    cat_result_t res;
    if (review_moderate(((app_t *)http_app(req))->db, &actor, http_param(req, "id"), hide, reason, &res) != CAT_OK) {
        catalog_respond_error(req, &actor, &res);
        return;
    }
    respond_review(req, 200, res.id);
}

static void hide_review(http_req_t *req) { moderate(req, true); }
static void show_review(http_req_t *req) { moderate(req, false); }

void catalog_routes(router_t *r)
{
    router_add(r, HTTP_GET, "/v1/products", list_products, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/products", create_product, AUTH_SELLER);
    router_add(r, HTTP_GET, "/v1/products/{id}", get_product, AUTH_PUBLIC);
    router_add(r, HTTP_PATCH, "/v1/products/{id}", update_product, AUTH_SELLER);
    router_add(r, HTTP_POST, "/v1/products/{id}/submit", submit_product, AUTH_SELLER);
    router_add(r, HTTP_POST, "/v1/products/{id}/approve", approve_product, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/products/{id}/reject", reject_product, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/products/{id}/archive", archive_product, AUTH_SELLER);
    router_add(r, HTTP_GET, "/v1/products/{id}/reviews", list_reviews, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/products/{id}/reviews", create_review, AUTH_USER);
    router_add(r, HTTP_GET, "/v1/reviews/{id}", get_review, AUTH_PUBLIC);
    router_add(r, HTTP_PATCH, "/v1/reviews/{id}", update_review, AUTH_USER);
    router_add(r, HTTP_PUT, "/v1/reviews/{id}/reply", reply_review, AUTH_SELLER);
    router_add(r, HTTP_POST, "/v1/reviews/{id}/hide", hide_review, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/reviews/{id}/show", show_review, AUTH_ADMIN);
    router_add(r, HTTP_GET, "/v1/categories", list_categories, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/categories", create_category, AUTH_ADMIN);
    router_add(r, HTTP_GET, "/v1/categories/{id}", get_category, AUTH_PUBLIC);
    router_add(r, HTTP_PATCH, "/v1/categories/{id}", update_category, AUTH_ADMIN);
    router_add(r, HTTP_DELETE, "/v1/categories/{id}", delete_category, AUTH_ADMIN);
}

/* ---------- start-up and the event-log follower ---------- */

void catalog_start(size_t product_cache_bytes, size_t search_cache_bytes)
{
    catalog_cache_init(product_cache_bytes);
    search_cache_init(search_cache_bytes);
    catalog_cache_register_metrics();
    search_register_metrics();
}

static struct {
    pthread_t th;
    int running;
    int stop; /* atomic */
    db_t *db;
    int interval_ms;
    int64_t last;
} follower;

static int follow_one(const event_t *ev, void *ctx)
{
    (void)ctx;
    catalog_cache_on_event(follower.db, ev, NULL);
    follower.last = ev->id;
    return 0;
}

static void *follow_main(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&follower.stop, __ATOMIC_ACQUIRE)) {
        db_conn_t *c = db_acquire(follower.db);
        if (c) {
            int n;
            do {
                n = event_read(c, follower.last, NULL, 500, follow_one, NULL);
            } while (n == 500 && !__atomic_load_n(&follower.stop, __ATOMIC_ACQUIRE));
            if (n < 0) log_warn("catalog", "event follower: reading the event log failed (%d); retrying", n);
            db_release(c);
        }
        for (int waited = 0; waited < follower.interval_ms && !__atomic_load_n(&follower.stop, __ATOMIC_ACQUIRE);
             waited += 10)
            usleep(10000);
    }
    return NULL;
}

int catalog_follow_start(db_t *db, int interval_ms)
{
    if (follower.running) return 0;
    follower.db = db;
    follower.interval_ms = interval_ms > 0 ? interval_ms : 200;
    follower.stop = 0;
    db_conn_t *c = db_acquire(db);
    if (!c) return -1;
    /* the cache starts empty, so only events from now on matter */
    follower.last = event_last_id(c);
    db_release(c);
    if (follower.last < 0) follower.last = 0;
    if (pthread_create(&follower.th, NULL, follow_main, NULL) != 0) return -1;
    follower.running = 1;
    return 0;
}

void catalog_follow_stop(void)
{
    if (!follower.running) return;
    __atomic_store_n(&follower.stop, 1, __ATOMIC_RELEASE);
    pthread_join(follower.th, NULL);
    follower.running = 0;
}
