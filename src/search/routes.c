/*
 * routes.c — HTTP handlers for /v1/search and /v1/search/suggest.
 *
 * Both accept any text: it is tokenised (search/text.h) and never reaches
 * the database as query syntax.  Only the length is limited (422 beyond
 * SEARCH_QUERY_MAX bytes).  Public answers go through the search answer
 * cache keyed by the canonical request (tokens, filters, sort, cursor,
 * limit) and the catalog generation.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog/cache.h"
#include "catalog/listing.h"
#include "catalog/routes.h"
#include "search/search.h"
#include "search/text.h"
#include "util/buf.h"

static int check_q(http_req_t *req, const char **out)
{
    const char *q = http_query(req, "q");
    *out = q ? q : "";
    if (strlen(*out) > SEARCH_QUERY_MAX) {
        catalog_invalid_param(req, "q", "at most 1024 bytes");
        return -1;
    }
    return 0;
}

static void respond_cached(http_req_t *req, buf_t *b, const char *etag, bool public)
{
    /* unpublished products (admins, a seller's own) are nobody else's business */
    http_set_header(req, "Cache-Control", public ? "public, no-cache" : "private, no-cache");
    http_respond_json_tagged(req, b->ptr, b->len, etag);
}

static void get_search(http_req_t *req)
{
    catalog_actor_t actor = catalog_actor_of(req);
    const char *q;
    if (check_q(req, &q) < 0) return;
    int sort = PRODUCT_SORT_RELEVANCE, limit;
    const char *sv = http_query(req, "sort");
    if (sv && *sv && (sort = product_sort_parse(sv)) < 0) {
        catalog_invalid_param(req, "sort", "one of relevance, newest, price_asc, price_desc, rating");
        return;
    }
    db_conn_t *c = catalog_conn(req);
    if (!c) return;
    search_params_t p = { .q = q, .sort = (product_sort_t)sort };
    catalog_cursor_t cur;
    if (catalog_parse_filter(req, c, &actor, &p.filter) < 0 || catalog_parse_limit(req, &limit) < 0 ||
        catalog_parse_cursor(req, -1, &cur, &p.after) < 0) {
        db_release(c);
        return;
    }
    p.limit = limit;
    arena_t *a = http_arena(req);
    search_tokens_t tk;
    search_tokenize(a, q, strlen(q), &tk);
    const product_filter_t *f = &p.filter;
    char *key = NULL;
    if (f->status == PRODUCT_PUBLISHED) {
        const char *cursor = http_query(req, "cursor");
        key = arena_sprintf(a, "s|%s|%s|%s|%s|%d%lld|%d%lld|%s|%d|%d|%d|%s", search_tokens_join(a, &tk),
                            f->has_category ? f->category_path : "", f->seller_id ? f->seller_id : "",
                            f->tag ? f->tag : "", f->has_price_min, (long long)f->price_min, f->has_price_max,
                            (long long)f->price_max, f->currency ? f->currency : "", f->rating_min, sort, limit,
                            cursor ? cursor : "");
    }
    buf_t b = BUF_INIT(0);
    char etag[HTTP_ETAG_LEN];
    if (key && search_cache_get(key, &b, etag)) {
        db_release(c);
        respond_cached(req, &b, etag, true);
        buf_free(&b);
        return;
    }
    uint64_t gen = catalog_generation();
    int rc = search_run(c, a, &p, &b);
    db_release(c);
    if (rc == CAT_EINVALID) {
        buf_free(&b);
        http_respond_problem(req, 400, "invalid-cursor", "Bad Request",
                             "The cursor is malformed or belongs to another sort order; start again without it.");
        return;
    }
    if (rc != CAT_OK) {
        buf_free(&b);
        cat_result_t r = { .code = rc };
        catalog_respond_error(req, &actor, &r);
        return;
    }
    if (key) search_cache_put(key, gen, b.ptr, b.len, etag);
    else http_etag_of(etag, b.ptr, b.len);
    respond_cached(req, &b, etag, key != NULL);
    buf_free(&b);
}

static void get_suggest(http_req_t *req)
{
    const char *q;
    if (check_q(req, &q) < 0) return;
    int limit = 8;
    const char *lv = http_query(req, "limit");
    if (lv && *lv) {
        long long n;
        if (str_to_i64(str_from(lv), &n) < 0 || n < 1 || n > 20) {
            catalog_invalid_param(req, "limit", "must be an integer from 1 to 20");
            return;
        }
        limit = (int)n;
    }
    arena_t *a = http_arena(req);
    search_tokens_t tk;
    search_tokenize(a, q, strlen(q), &tk);
    char *key = arena_sprintf(a, "g|%s|%d", search_tokens_join(a, &tk), limit);
    buf_t b = BUF_INIT(0);
    char etag[HTTP_ETAG_LEN];
    if (search_cache_get(key, &b, etag)) {
        respond_cached(req, &b, etag, true);
        buf_free(&b);
        return;
    }
    db_conn_t *c = catalog_conn(req);
    if (!c) {
        buf_free(&b);
        return;
    }
    uint64_t gen = catalog_generation();
    int rc = search_suggest(c, a, q, limit, &b);
    db_release(c);
    if (rc != CAT_OK) {
        buf_free(&b);
        cat_result_t r = { .code = rc };
        catalog_respond_error(req, NULL, &r);
        return;
    }
    search_cache_put(key, gen, b.ptr, b.len, etag);
    respond_cached(req, &b, etag, true);
    buf_free(&b);
}

void search_routes(router_t *r)
{
    router_add(r, HTTP_GET, "/v1/search", get_search, 0);
    router_add(r, HTTP_GET, "/v1/search/suggest", get_suggest, 0);
}
