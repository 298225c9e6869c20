/*
 * router.h — method + path-template routing.
 *
 * Patterns are literal segments and "{name}" parameters:
 * "/v1/products/{id}/reviews".  Matching prefers literal segments over
 * parameters at each level and backtracks, so "/v1/products/search" and
 * "/v1/products/{id}" can coexist.  The router is built at start-up and is
 * read-only afterwards, so lookups take no locks.
 */
#ifndef MERCATO_HTTP_ROUTER_H
#define MERCATO_HTTP_ROUTER_H

#include <stddef.h>

#include "http/http.h"

#define ROUTER_MAX_PARAMS 8

typedef struct route {
    const char *pattern; /* owned copy; also the metrics label */
    int method;
    http_handler_fn handler;
    int flags;           /* opaque to the router: auth requirements, JSON body ... */
    unsigned index;      /* dense 0..n-1, for per-route metrics */
} route_t;

typedef struct route_match {
    const route_t *route;  /* set when found */
    int allow;             /* methods available on the path (for 405 Allow) */
    size_t nparams;
    struct {
        const char *name;  /* borrowed from the router */
        str_t value;       /* borrowed from the matched path */
    } params[ROUTER_MAX_PARAMS];
} route_match_t;

typedef struct router router_t;

router_t *router_new(void);
void router_free(router_t *r);

/* Adds a route.  0 ok; -1 for a malformed pattern, more than
 * ROUTER_MAX_PARAMS parameters, or a duplicate method+pattern. */
int router_add(router_t *r, int method, const char *pattern, http_handler_fn fn, int flags);

#define ROUTER_FOUND 0
#define ROUTER_NOT_FOUND (-1)
#define ROUTER_METHOD_NOT_ALLOWED (-2)

/* Matches a decoded path ("/v1/products/abc").  HEAD falls back to GET.
 * Returns ROUTER_FOUND, ROUTER_NOT_FOUND, or ROUTER_METHOD_NOT_ALLOWED with
 * out->allow set.  out's slices borrow from path. */
int router_match(const router_t *r, int method, const char *path, route_match_t *out);

size_t router_count(const router_t *r);
const route_t *router_at(const router_t *r, size_t i);

/* Writes an Allow header value for a method mask ("GET, HEAD, POST"). */
void router_allow_string(int mask, char *out, size_t outlen);

#endif
