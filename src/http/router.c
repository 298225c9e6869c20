/*
 * router.c — a segment trie (see router.h).
 *
 * Each node has literal children (small arrays, linear scan: fan-out is low
 * in an API tree) and at most one parameter child.  A node holds the routes
 * that end there, one slot per method bit.
 */
#include "http/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define NMETHODS 7

typedef struct node node_t;
struct node {
    char *seg;           /* literal segment (NULL for the root and param nodes) */
    char *param;         /* parameter name for a param node */
    node_t **kids;
    size_t nkids;
    node_t *param_kid;
    route_t *routes[NMETHODS];
};

struct router {
    node_t root;
    route_t **all;
    size_t nall;
};

static int method_slot(int m)
{
    for (int i = 0; i < NMETHODS; i++)
        if (m == (1 << i)) return i;
    return -1;
}

router_t *router_new(void)
{
    return xcalloc(1, sizeof(router_t));
}

static void node_free(node_t *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
        free(n->kids[i]);
    }
    free(n->kids);
    if (n->param_kid) {
        node_free(n->param_kid);
        free(n->param_kid);
    }
    free(n->seg);
    free(n->param);
}

void router_free(router_t *r)
{
    if (!r) return;
    node_free(&r->root);
    for (size_t i = 0; i < r->nall; i++) {
        free((char *)r->all[i]->pattern);
        free(r->all[i]);
    }
    free(r->all);
    free(r);
}

int router_add(router_t *r, int method, const char *pattern, http_handler_fn fn, int flags)
{
    int slot = method_slot(method);
    if (slot < 0 || !pattern || pattern[0] != '/') return -1;
    node_t *n = &r->root;
    const char *p = pattern + 1;
    int nparams = 0;
    if (*p) {
        for (;;) {
            const char *e = strchr(p, '/');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len == 0) return -1;
            if (p[0] == '{') {
                if (len < 3 || p[len - 1] != '}') return -1;
                if (++nparams > ROUTER_MAX_PARAMS) return -1;
                if (!n->param_kid) {
                    n->param_kid = xcalloc(1, sizeof(node_t));
                    n->param_kid->param = xstrndup(p + 1, len - 2);
                } else if (strncmp(n->param_kid->param, p + 1, len - 2) != 0 ||
                           n->param_kid->param[len - 2] != '\0') {
                    return -1; /* same position, different parameter names */
                }
                n = n->param_kid;
            } else {
                if (memchr(p, '{', len) || memchr(p, '}', len)) return -1;
                node_t *k = NULL;
                for (size_t i = 0; i < n->nkids; i++)
                    if (strlen(n->kids[i]->seg) == len && memcmp(n->kids[i]->seg, p, len) == 0) {
                        k = n->kids[i];
                        break;
                    }
                if (!k) {
                    k = xcalloc(1, sizeof(node_t));
                    k->seg = xstrndup(p, len);
                    n->kids = xrealloc(n->kids, (n->nkids + 1) * sizeof(node_t *));
                    n->kids[n->nkids++] = k;
                }
                n = k;
            }
            if (!e) break;
            p = e + 1;
            if (!*p) return -1; /* trailing slash */
        }
    }
    if (n->routes[slot]) return -1;
    route_t *rt = xcalloc(1, sizeof(route_t));
    rt->pattern = xstrdup(pattern);
    rt->method = method;
    rt->handler = fn;
    rt->flags = flags;
    rt->index = (unsigned)r->nall;
    n->routes[slot] = rt;
    r->all = xrealloc(r->all, (r->nall + 1) * sizeof(route_t *));
    r->all[r->nall++] = rt;
    return 0;
}

static int node_mask(const node_t *n)
{
    int m = 0;
    for (int i = 0; i < NMETHODS; i++)
        if (n->routes[i]) m |= 1 << i;
    if (m & HTTP_GET) m |= HTTP_HEAD;
    return m;
}

/* Depth-first match; returns the terminal node or NULL. */
static const node_t *walk(const node_t *n, const char *p, route_match_t *out)
{
    if (*p == '\0') return node_mask(n) ? n : NULL;
    /* p points just after a '/' */
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    const char *next = e ? e + 1 : p + len;
    if (e && *next == '\0') return NULL; /* trailing slash never matches */
    if (len == 0) return NULL;
    for (size_t i = 0; i < n->nkids; i++) {
        const node_t *k = n->kids[i];
        if (strncmp(k->seg, p, len) == 0 && k->seg[len] == '\0') {
            const node_t *t = walk(k, next, out);
            if (t) return t;
        }
    }
    if (n->param_kid && out->nparams < ROUTER_MAX_PARAMS) {
        size_t save = out->nparams;
        out->params[save].name = n->param_kid->param;
        out->params[save].value = (str_t){ p, len };
        out->nparams = save + 1;
        const node_t *t = walk(n->param_kid, next, out);
        if (t) return t;
        out->nparams = save;
    }
    return NULL;
}

int router_match(const router_t *r, int method, const char *path, route_match_t *out)
{
    memset(out, 0, sizeof *out);
    if (!path || path[0] != '/') return ROUTER_NOT_FOUND;
    const node_t *n = walk(&r->root, path + 1, out);
    if (!n) {
        out->nparams = 0;
        return ROUTER_NOT_FOUND;
    }
    int slot = method_slot(method);
    const route_t *rt = slot >= 0 ? n->routes[slot] : NULL;
    if (!rt && method == HTTP_HEAD) rt = n->routes[0];
    if (!rt) {
        out->allow = node_mask(n) | HTTP_OPTIONS;
        return ROUTER_METHOD_NOT_ALLOWED;
    }
    out->route = rt;
    out->allow = node_mask(n) | HTTP_OPTIONS;
    return ROUTER_FOUND;
}

size_t router_count(const router_t *r) { return r->nall; }
const route_t *router_at(const router_t *r, size_t i) { return i < r->nall ? r->all[i] : NULL; }

void router_allow_string(int mask, char *out, size_t outlen)
{
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < NMETHODS; i++) {
        if (!(mask & (1 << i))) continue;
        int n = snprintf(out + off, outlen - off, "%s%s", off ? ", " : "", http_method_name(1 << i));
        if (n < 0 || (size_t)n >= outlen - off) {
            out[off] = '\0'; /* never leave half a method name behind */
            break;
        }
        off += (size_t)n;
    }
}
