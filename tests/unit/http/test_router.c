/*
 * test_router.c — unit tests for the segment-trie router (router.c).
 *
 * Pins what handlers and the server rely on: literal segments win over
 * parameters, matching backtracks when a literal branch dead-ends, 405
 * carries the exact Allow mask, HEAD is served by GET, malformed patterns
 * and duplicates are refused at start-up, and parameter values are slices
 * of the matched path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "http/router.h"

static void h1(http_req_t *r) { (void)r; }
static void h2(http_req_t *r) { (void)r; }
static void h3(http_req_t *r) { (void)r; }

static const char *param(const route_match_t *m, const char *name, char *out, size_t outlen)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0) {
            snprintf(out, outlen, "%.*s", (int)m->params[i].value.len, m->params[i].value.ptr);
            return out;
        }
    return NULL;
}

static void test_static_beats_param(void **state)
{
    (void)state;
    router_t *r = router_new();
    /* registration order must not matter: param first, then the literal */
    assert_int_equal(router_add(r, HTTP_GET, "/v1/products/{id}", h1, 0), 0);
    assert_int_equal(router_add(r, HTTP_GET, "/v1/products/search", h2, 7), 0);
    route_match_t m;
    char v[64];
    assert_int_equal(router_match(r, HTTP_GET, "/v1/products/search", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h2);
    assert_int_equal(m.route->flags, 7);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/products/prod_9", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h1);
    assert_string_equal(m.route->pattern, "/v1/products/{id}");
    assert_int_equal(m.nparams, 1);
    assert_string_equal(param(&m, "id", v, sizeof v), "prod_9");
    router_free(r);
}

static void test_backtracking(void **state)
{
    (void)state;
    router_t *r = router_new();
    assert_int_equal(router_add(r, HTTP_GET, "/v1/sellers/me/profile", h1, 0), 0);
    assert_int_equal(router_add(r, HTTP_GET, "/v1/sellers/{id}/orders", h2, 0), 0);
    assert_int_equal(router_add(r, HTTP_GET, "/v1/{tenant}/settings", h3, 0), 0);
    route_match_t m;
    char v[64];
    /* "me" matches the literal, which has no "orders": back up to {id} */
    assert_int_equal(router_match(r, HTTP_GET, "/v1/sellers/me/orders", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h2);
    assert_string_equal(param(&m, "id", v, sizeof v), "me");
    assert_int_equal(m.nparams, 1);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/sellers/me/profile", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h1);
    assert_int_equal(m.nparams, 0);
    /* a literal two levels up dead-ends; the parameter at /v1 takes over,
     * and no value captured on the abandoned branch is left behind */
    assert_int_equal(router_match(r, HTTP_GET, "/v1/sellers/settings", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h3);
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0].name, "tenant");
    assert_string_equal(param(&m, "tenant", v, sizeof v), "sellers");
    assert_int_equal(router_match(r, HTTP_GET, "/v1/sellers/x/y", &m), ROUTER_NOT_FOUND);
    assert_int_equal(m.nparams, 0);
    router_free(r);
}

static void test_multiple_params(void **state)
{
    (void)state;
    router_t *r = router_new();
    assert_int_equal(router_add(r, HTTP_PUT, "/v1/products/{id}/variants/{variant_id}", h1, 0), 0);
    route_match_t m;
    char v[64];
    const char *path = "/v1/products/p1/variants/v%20x";
    assert_int_equal(router_match(r, HTTP_PUT, path, &m), ROUTER_FOUND);
    assert_int_equal(m.nparams, 2);
    assert_string_equal(param(&m, "id", v, sizeof v), "p1");
    assert_string_equal(param(&m, "variant_id", v, sizeof v), "v%20x");
    /* values are slices of the path, not copies */
    assert_ptr_equal(m.params[0].value.ptr, path + strlen("/v1/products/"));
    router_free(r);
}

static void test_405_allow_mask(void **state)
{
    (void)state;
    router_t *r = router_new();
    assert_int_equal(router_add(r, HTTP_GET, "/v1/products/{id}", h1, 0), 0);
    assert_int_equal(router_add(r, HTTP_PATCH, "/v1/products/{id}", h2, 0), 0);
    assert_int_equal(router_add(r, HTTP_DELETE, "/v1/products/{id}", h3, 0), 0);
    assert_int_equal(router_add(r, HTTP_POST, "/v1/products", h1, 0), 0);
    route_match_t m;
    assert_int_equal(router_match(r, HTTP_POST, "/v1/products/x", &m), ROUTER_METHOD_NOT_ALLOWED);
    assert_null(m.route);
    assert_int_equal(m.allow, HTTP_GET | HTTP_HEAD | HTTP_PATCH | HTTP_DELETE | HTTP_OPTIONS);
    char allow[96];
    router_allow_string(m.allow, allow, sizeof allow);
    assert_string_equal(allow, "GET, HEAD, PATCH, DELETE, OPTIONS");
    /* no GET on /v1/products: HEAD is not allowed either */
    assert_int_equal(router_match(r, HTTP_HEAD, "/v1/products", &m), ROUTER_METHOD_NOT_ALLOWED);
    assert_int_equal(m.allow, HTTP_POST | HTTP_OPTIONS);
    router_allow_string(m.allow, allow, sizeof allow);
    assert_string_equal(allow, "POST, OPTIONS");
    /* unknown method (0) on an existing path is a 405 too */
    assert_int_equal(router_match(r, 0, "/v1/products", &m), ROUTER_METHOD_NOT_ALLOWED);
    /* a path that exists only as an inner node is a 404, not a 405 */
    assert_int_equal(router_match(r, HTTP_GET, "/v1", &m), ROUTER_NOT_FOUND);
    router_free(r);
}

static void test_allow_string_truncates_cleanly(void **state)
{
    (void)state;
    char small[12];
    router_allow_string(HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT, small, sizeof small);
    assert_string_equal(small, "GET, HEAD");
    char empty[8];
    router_allow_string(0, empty, sizeof empty);
    assert_string_equal(empty, "");
}

static void test_head_falls_back_to_get(void **state)
{
    (void)state;
    router_t *r = router_new();
    assert_int_equal(router_add(r, HTTP_GET, "/healthz", h1, 0), 0);
    assert_int_equal(router_add(r, HTTP_GET, "/docs", h1, 0), 0);
    assert_int_equal(router_add(r, HTTP_HEAD, "/docs", h2, 0), 0);
    route_match_t m;
    assert_int_equal(router_match(r, HTTP_HEAD, "/healthz", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h1);
    assert_int_equal(m.route->method, HTTP_GET);
    /* an explicit HEAD route wins over the fallback */
    assert_int_equal(router_match(r, HTTP_HEAD, "/docs", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h2);
    router_free(r);
}

static void test_bad_patterns(void **state)
{
    (void)state;
    router_t *r = router_new();
    assert_int_equal(router_add(r, HTTP_GET, "", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET, NULL, h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET, "v1/x", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET, "/v1/x/", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET, "/v1//x", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET, "/v1/{}", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET, "/v1/{id", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET, "/v1/x{id}", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET, "/v1/id}", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET | HTTP_POST, "/v1/x", h1, 0), -1);
    assert_int_equal(router_add(r, 0, "/v1/x", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_GET, "/a/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}", h1, 0), 0);
    assert_int_equal(router_add(r, HTTP_GET, "/b/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}/{p9}", h1, 0), -1);
    /* the same position cannot carry two parameter names */
    assert_int_equal(router_add(r, HTTP_GET, "/v1/products/{id}", h1, 0), 0);
    assert_int_equal(router_add(r, HTTP_PATCH, "/v1/products/{product_id}", h1, 0), -1);
    assert_int_equal(router_add(r, HTTP_PATCH, "/v1/products/{i}", h1, 0), -1);
    assert_int_equal(router_count(r), 2);
    router_free(r);
}

static void test_duplicates_and_index(void **state)
{
    (void)state;
    router_t *r = router_new();
    assert_int_equal(router_add(r, HTTP_GET, "/", h1, 0), 0);
    assert_int_equal(router_add(r, HTTP_GET, "/x", h1, 0), 0);
    assert_int_equal(router_add(r, HTTP_GET, "/x", h2, 0), -1);
    assert_int_equal(router_add(r, HTTP_POST, "/x", h2, 0), 0);
    assert_int_equal(router_count(r), 3);
    for (size_t i = 0; i < router_count(r); i++) assert_int_equal(router_at(r, i)->index, i);
    assert_null(router_at(r, 3));
    assert_string_equal(router_at(r, 2)->pattern, "/x");
    assert_int_equal(router_at(r, 2)->method, HTTP_POST);
    route_match_t m;
    assert_int_equal(router_match(r, HTTP_GET, "/", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route, router_at(r, 0));
    router_free(r);
}

static void test_paths_that_never_match(void **state)
{
    (void)state;
    router_t *r = router_new();
    assert_int_equal(router_add(r, HTTP_GET, "/v1/products/{id}", h1, 0), 0);
    route_match_t m;
    assert_int_equal(router_match(r, HTTP_GET, "/v1/products/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/products//", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "/v1//products/x", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/products/x/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "v1/products/x", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, NULL, &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "/V1/products/x", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/productsx/x", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/product/x", &m), ROUTER_NOT_FOUND);
    assert_int_equal(m.nparams, 0);
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_beats_param),
        cmocka_unit_test(test_backtracking),
        cmocka_unit_test(test_multiple_params),
        cmocka_unit_test(test_405_allow_mask),
        cmocka_unit_test(test_allow_string_truncates_cleanly),
        cmocka_unit_test(test_head_falls_back_to_get),
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_duplicates_and_index),
        cmocka_unit_test(test_paths_that_never_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
