/*
 * fuzz_router.c — libFuzzer harness for router_match over a realistic table.
 *
 * The table mixes literal and parameter segments at the same depth
 * (/v1/products/search vs /v1/products/{id}) so that backtracking is
 * exercised.  Input: the first byte picks the method (including unknown
 * ones), the rest is the path.  Checks, beyond memory safety:
 *   - FOUND: substituting the captured values into the route's pattern gives
 *     back the path exactly, parameter names are the pattern's, the method
 *     matches (HEAD may be served by GET), and the allow mask contains it;
 *   - METHOD_NOT_ALLOWED: the allow mask is non-empty and lacks the method;
 *   - NOT_FOUND: no captured parameters are left behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"

static void h(http_req_t *req) { (void)req; }

static const struct {
    int m;
    const char *p;
} table[] = {
    { HTTP_GET, "/healthz" },
    { HTTP_GET, "/readyz" },
    { HTTP_GET, "/metrics" },
    { HTTP_POST, "/v1/echo" },
    { HTTP_GET, "/v1/products" },
    { HTTP_POST, "/v1/products" },
    { HTTP_GET, "/v1/products/search" },
    { HTTP_GET, "/v1/products/{id}" },
    { HTTP_PATCH, "/v1/products/{id}" },
    { HTTP_DELETE, "/v1/products/{id}" },
    { HTTP_GET, "/v1/products/{id}/reviews" },
    { HTTP_POST, "/v1/products/{id}/reviews" },
    { HTTP_GET, "/v1/products/{id}/variants/{variant_id}" },
    { HTTP_PUT, "/v1/products/{id}/variants/{variant_id}" },
    { HTTP_GET, "/v1/sellers/{id}/orders" },
    { HTTP_GET, "/v1/sellers/me/orders/{order_id}" },
    { HTTP_POST, "/v1/carts/{id}/items" },
    { HTTP_DELETE, "/v1/carts/{id}/items/{item_id}" },
    { HTTP_POST, "/v1/orders/{id}/cancel" },
    { HTTP_GET, "/v1/orders/{id}" },
    { HTTP_POST, "/v1/oauth/token" },
    { HTTP_GET, "/v1/{tenant}/settings" },
    { HTTP_OPTIONS, "/v1/special" },
};

static router_t *g_router;

static router_t *router(void)
{
    if (!g_router) {
        g_router = router_new();
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (router_add(g_router, table[i].m, table[i].p, h, 0) != 0) abort();
    }
    return g_router;
}

static const int methods[8] = { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS, 0 };

/* Rebuilds the path from pattern + captured values; 0 when it equals path. */
static int rebuild_equals(const route_match_t *m, const char *path)
{
    const char *p = m->route->pattern;
    const char *q = path;
    size_t k = 0;
    while (*p) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            if (!e || k >= m->nparams) return -1;
            size_t nl = (size_t)(e - p - 1);
            if (strlen(m->params[k].name) != nl || memcmp(m->params[k].name, p + 1, nl) != 0) return -1;
            str_t v = m->params[k].value;
            if (v.len == 0 || memchr(v.ptr, '/', v.len)) return -1;
            if (v.ptr != q) return -1; /* values borrow from the path */
            q += v.len;
            p = e + 1;
            k++;
        } else {
            if (*q != *p) return -1;
            p++;
            q++;
        }
    }
    return *q == '\0' && k == m->nparams ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int method = methods[data[0] & 7];
    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    route_match_t m;
    int rc = router_match(router(), method, path, &m);
    switch (rc) {
    case ROUTER_FOUND:
        if (!m.route) abort();
        if (m.route->method != method && !(method == HTTP_HEAD && m.route->method == HTTP_GET)) abort();
        if (!(m.allow & method)) abort();
        if (rebuild_equals(&m, path) != 0) abort();
        break;
    case ROUTER_METHOD_NOT_ALLOWED:
        if (m.route || !m.allow) abort();
        if (method && (m.allow & method) && method != HTTP_OPTIONS) abort();
        break;
    case ROUTER_NOT_FOUND:
        if (m.route || m.nparams) abort();
        break;
    default:
        abort();
    }
    free(path);
    return 0;
}
