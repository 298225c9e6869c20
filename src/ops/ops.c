/*
 * ops.c — operations endpoints (see ops.h).
 *
 * /healthz answers as long as the process can serve (liveness), /readyz
 * checks the database (readiness; 503 problem when it is unreachable), and
 * /metrics renders every registered Prometheus family.
 */
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "http/server.h"
#include "util/buf.h"
#include "util/embed.h"
#include "util/metrics.h"

static void get_healthz(http_req_t *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    http_respond_bytes(req, 200, "application/json", body, sizeof body - 1);
}

static void get_readyz(http_req_t *req)
{
    app_t *app = http_app(req);
    if (!app->db || db_ping(app->db) != 0) {
        http_set_header(req, "Retry-After", "5");
        http_respond_problem(req, 503, "not-ready", "Service Unavailable",
                             "The database is not reachable.");
        return;
    }
    json_t *j = json_pack("{s:s, s:{s:s, s:s}}", "status", "ready", "checks", "database", "ok", "backend",
                          db_kind_name(app->db));
    http_respond_json(req, 200, j);
}

static void get_metrics(http_req_t *req)
{
    buf_t b = BUF_INIT(0);
    metrics_render(&b);
    size_t len;
    char *s = buf_steal(&b, &len);
    http_respond_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", s, len);
    free(s);
}

static void get_openapi(http_req_t *req)
{
    const embed_file_t *f = embed_find("docs/openapi.json");
    if (!f) {
        http_respond_problem(req, 404, "not-found", "Not Found", "The API document is not built in.");
        return;
    }
    http_set_header(req, "Cache-Control", "public, max-age=300");
    http_respond_json_etag(req, f->data, f->len);
}

static void get_docs(http_req_t *req)
{
    const embed_file_t *f = embed_find("docs/api.html");
    if (!f) {
        http_respond_problem(req, 404, "not-found", "Not Found", "The docs page is not built in.");
        return;
    }
    http_respond_bytes(req, 200, "text/html; charset=utf-8", f->data, f->len);
}

/* POST /v1/echo: parses the JSON body and returns it inside an envelope.
 * A diagnostic for clients and the JSON round-trip benchmark. */
static void post_echo(http_req_t *req)
{
    json_t *body;
    if (http_json_body(req, &body) < 0) return;
    json_t *out = json_object();
    json_object_set(out, "echo", body);
    json_object_set_new(out, "request_id", json_string(http_request_id(req)));
    http_respond_json(req, 200, out);
}

void ops_probe_routes(router_t *r)
{
    router_add(r, HTTP_GET, "/healthz", get_healthz, HTTP_ROUTE_NO_LOG);
    router_add(r, HTTP_GET, "/readyz", get_readyz, HTTP_ROUTE_NO_LOG);
    router_add(r, HTTP_GET, "/metrics", get_metrics, HTTP_ROUTE_NO_LOG);
}

void ops_routes(router_t *r)
{
    ops_probe_routes(r);
    ops_jobs_routes(r);
    router_add(r, HTTP_GET, "/openapi.json", get_openapi, 0);
    router_add(r, HTTP_GET, "/docs", get_docs, 0);
    /* no database: the hand-off to a handler thread would be most of its cost */
    router_add(r, HTTP_POST, "/v1/echo", post_echo, HTTP_ROUTE_INLINE);
}
