/*
 * routes.h — the catalog's HTTP surface and its start-up.
 *
 * Handlers (routes.c) are thin: they turn the request into a
 * catalog_actor_t and typed arguments, call the domain functions in
 * catalog.h / category.h / review.h, and map CAT_* results to problem+json.
 * catalog_start() sizes the caches, registers metrics and starts the
 * event-log follower that keeps this instance's caches in step with writes
 * made on other instances.
 */
#ifndef MERCATO_CATALOG_ROUTES_H
#define MERCATO_CATALOG_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "db/db.h"
#include "http/http.h"
#include "http/router.h"

/* Mounts /v1/products, /v1/categories and /v1/reviews routes. */
void catalog_routes(router_t *r);
/* Mounts /v1/search and /v1/search/suggest. */
void search_routes(router_t *r);

/* Sizes the product cache and the search answer cache (bytes; 0 disables)
 * and registers their metrics.  Call once before serving. */
void catalog_start(size_t product_cache_bytes, size_t search_cache_bytes);

/* Starts a thread that follows the event log from its current end every
 * interval_ms and feeds each event to catalog_cache_on_event(), so changes
 * committed by other instances invalidate this instance's caches.  The
 * thread only reads.  0 ok, -1 when it could not start. */
int catalog_follow_start(db_t *db, int interval_ms);
/* Stops and joins the follower (no-op when not started). */
void catalog_follow_stop(void);

/* The actor for a request: from the access layer's principal, or an
 * anonymous actor (id NULL).  Borrowed until the request ends. */
catalog_actor_t catalog_actor_of(http_req_t *req);

/* Answers a failed cat_result_t as problem+json (404, 403/401, 409, 422,
 * 500).  Releases res->errors. */
void catalog_respond_error(http_req_t *req, const catalog_actor_t *actor, cat_result_t *res);

/* ---- request parsing shared with the search handlers ----
 * Each answers the request itself (422, 400, 401/403 or 503) and returns -1
 * (NULL) when the input is unusable. */

/* Filters from ?category, tag, seller (id or "me"), price_min, price_max,
 * currency, rating_min, status (unpublished: own products or admins). */
struct product_filter;
int catalog_parse_filter(http_req_t *req, db_conn_t *c, const catalog_actor_t *actor, struct product_filter *f);
/* ?limit: 1..100, default 20. */
int catalog_parse_limit(http_req_t *req, int *out);
/* ?cursor for the given sort (-1: any); *out NULL when absent. */
struct catalog_cursor;
int catalog_parse_cursor(http_req_t *req, int sort, struct catalog_cursor *cur, const struct catalog_cursor **out);
/* 422 problem naming one query parameter. */
void catalog_invalid_param(http_req_t *req, const char *field, const char *message);
/* A database connection for the request, or NULL after answering 503.
 * Release with db_release(). */
db_conn_t *catalog_conn(http_req_t *req);

#endif
