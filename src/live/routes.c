/*
 * routes.c — the live HTTP surface:
 *
 *   GET  /v1/me/stream                         the caller's events (SSE)
 *   GET  /v1/orders/{id}/stream                one order's events (SSE)
 *   GET  /v1/me/notifications                  ?unread=true&limit=&cursor=
 *   GET  /v1/me/notifications/unread-count
 *   POST /v1/me/notifications/{id}/read
 *   POST /v1/me/notifications/read-all
 *
 * Order streams check access from the event log itself: the order's
 * events carry its owner, so the stream works whichever module writes them.
 * Another user's order answers 404, as an absent one does, so ids cannot
 * be probed.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/access.h"
#include "http/http.h"
#include "live/live.h"
#include "live/notify.h"

static int is_admin(const principal_t *p)
{
    return p && (p->kind == PRINCIPAL_OPERATOR || (p->kind == PRINCIPAL_USER && p->role == ROLE_ADMIN));
}

static db_conn_t *conn_or_503(http_req_t *req)
{
    app_t *app = http_app(req);
    db_conn_t *c = db_acquire(app->db);
    if (!c) {
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The database is busy; retry shortly.");
    }
    return c;
}

/* Last-Event-ID from the header or ?last_event_id= (EventSource polyfills
 * that cannot set headers).  0 when absent; -1 after answering 400. */
static int64_t last_event_id(http_req_t *req, int *given)
{
    const char *v = http_header(req, "Last-Event-ID");
    if (!v || !*v) v = http_query(req, "last_event_id");
    *given = v && *v;
    if (!*given) return 0;
    int64_t n;
    if (live_parse_event_id(v, strlen(v), &n) < 0) {
        http_respond_problem(req, 400, "invalid-last-event-id", "Invalid Last-Event-ID",
                             "Last-Event-ID must be the numeric id of an event received earlier.");
        return -1;
    }
    return n;
}

static void start_stream(http_req_t *req, db_conn_t *c, int kind, const char *key, int64_t after)
{
    live_sub_t *s = live_sub_open(c, kind, key, after);
    db_release(c);
    if (!s) {
        http_set_header(req, "Retry-After", "5");
        http_respond_problem(req, 503, "too-many-streams", "Too Many Streams",
                             "This instance has as many open streams as it allows; retry shortly.");
        return;
    }
    live_sub_attach(req, s);
}

static void get_me_stream(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    int given;
    int64_t after = last_event_id(req, &given);
    if (after < 0) return;
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    /* without Last-Event-ID the stream starts now */
    if (!given) {
        int64_t last = event_last_id(c);
        after = last > 0 ? last : 0;
    }
    start_stream(req, c, LIVE_BY_OWNER, p->sub, after);
}

typedef struct first_ev {
    int found;
    char owner[64];
} first_ev_t;

static int first_cb(const event_t *ev, void *ctx)
{
    first_ev_t *f = ctx;
    f->found = 1;
    snprintf(f->owner, sizeof f->owner, "%s", ev->owner ? ev->owner : "");
    return 1;
}

static int order_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 5 || n > 63 || strncmp(id, "ord_", 4) != 0) return 0;
    for (size_t i = 4; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
              id[i] == '_' || id[i] == '-'))
            return 0;
    return 1;
}

static void get_order_stream(http_req_t *req)
{
    const principal_t *p = http_principal(req);
    const char *id = http_param(req, "id");
    if (!order_id_ok(id)) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No such order.");
        return;
    }
    int given;
    int64_t after = last_event_id(req, &given);
    if (after < 0) return;
    db_conn_t *c = conn_or_503(req);
    if (!c) return;
    first_ev_t f = { 0 };
    int rc = event_read(c, 0, id, 1, first_cb, &f);
    if (rc < 0) {
        db_release(c);
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "unavailable", "Service Unavailable", "The event log could not be read.");
        return;
    }
    if (!f.found || (!is_admin(p) && strcmp(f.owner, p->sub) != 0)) {
        db_release(c);
        http_respond_problem(req, 404, "not-found", "Not Found", "No such order.");
        return;
    }
    /* without Last-Event-ID an order stream replays the order's history */
    start_stream(req, c, LIVE_BY_SUBJECT, id, given ? after : 0);
}

void live_routes(router_t *r)
{
    router_add(r, HTTP_GET, "/v1/me/stream", get_me_stream, AUTH_USER);
    router_add(r, HTTP_GET, "/v1/orders/{id}/stream", get_order_stream, AUTH_USER | AUTH_ADMIN);
    notify_routes(r);
}
