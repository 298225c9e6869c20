/*
 * server.c — libmicrohttpd adapter, request lifecycle, cross-cutting HTTP
 * behaviour (see server.h).
 *
 * Life of a request inside MHD:
 *   uri_log_cb        request line read: allocate http_req_t + arena, keep
 *                     the raw target (MHD would otherwise unescape it and
 *                     let %00 truncate it).
 *   access_cb (1st)   headers read: parse the target, request id, trace,
 *                     route, header/body caps, CORS preflight.  Protocol
 *                     errors are answered here, before any body is read.
 *   access_cb (n)     body chunks appended to a capped buffer.
 *   access_cb (last)  pre-handler hook, then the handler; queue response.
 *   completed_cb      metrics, access log, arena freed.
 * A per-connection context remembers the current request so that one MHD
 * rejects on its own (e.g. oversized headers) is still freed.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/uri.h"
#include "util/buf.h"
#include "util/id.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"
#include "util/sched.h"
#include "util/timeutil.h"

#define PROBLEM_BASE "https://mercato.dev/problems/"
#define MAX_RESP_HEADERS 24

/* ---------- metrics ---------- */

#define STATUS_LIST(X) \
    X(200) X(201) X(202) X(204) X(206) X(301) X(302) X(304) X(400) X(401) X(403) X(404) \
    X(405) X(406) X(408) X(409) X(410) X(411) X(413) X(414) X(415) X(422) X(428) X(429) \
    X(431) X(500) X(501) X(502) X(503) X(504)
static const int status_codes[] = {
#define X(c) c,
    STATUS_LIST(X)
#undef X
};
#define NSTATUS ((int)(sizeof status_codes / sizeof status_codes[0]))

typedef struct route_stats {
    uint64_t by_status[NSTATUS + 1]; /* last slot: any other code */
    metrics_hist_t duration;
} route_stats_t;

/* ---------- types ---------- */

typedef struct resp_header {
    const char *name, *value;
} resp_header_t;

struct http_stream {
    pthread_mutex_t mu;
    struct MHD_Connection *conn;
    http_server_t *srv;
    http_req_t *req;
    http_stream_read_fn read_fn;
    http_stream_free_fn free_fn;
    void *ctx;
    int suspended;
    int wake_pending;
    int ended;
    struct http_stream *prev, *next; /* server registry, for shutdown */
};

struct http_req {
    arena_t *arena;
    http_server_t *srv;
    struct MHD_Connection *conn;
    int phase; /* 0 new, 1 reading body, 2 answered early, 3 handled, 4 on a handler
                  thread (connection suspended), 5 handled there */
    http_req_t *next_work; /* the handler threads' queue */
    int method;
    const char *method_str;
    const char *raw_target;
    uri_t uri;
    route_match_t match;
    const char **param_values;
    int64_t t_start_ns;
    buf_t body;
    int body_too_big;
    char request_id[136];
    char trace_id[33];
    char traceparent[56];
    const char *client_ip;
    /* response */
    int status;
    struct MHD_Response *resp;
    size_t resp_bytes;
    resp_header_t headers[MAX_RESP_HEADERS];
    int nheaders;
    int responded;
    http_stream_t *stream;
    void *principal;
    void *slots[HTTP_SLOTS];
    const char *resp_body; /* borrowed from the MHD response */
    const char *resp_ctype;
    json_t *json_body;
    const char *origin; /* allowed CORS origin to echo, or NULL */
    int counted;
};

typedef struct conn_ctx {
    http_req_t *cur;
} conn_ctx_t;

struct http_server {
    http_server_opts_t opts;
    char *cors;
    router_t *router;
    void *app;
    http_pre_hook_fn pre_hook;
    http_post_hook_fn post_hook;
    struct MHD_Daemon *daemon;
    int listen_fd;         /* ours: see acceptor_main */
    pthread_t acceptor;
    int accepting;         /* the acceptor thread runs */
    atomic_int accept_stop;
    int port;
    route_stats_t *stats; /* router_count + 1 (unmatched) */
    size_t nstats;
    atomic_long inflight;
    /* handler threads (opts.handler_threads): a queue of requests */
    pthread_mutex_t work_mu;
    pthread_cond_t work_cv;
    http_req_t *work_head, *work_tail;
    pthread_t *workers;
    int nworkers, idle_workers, work_stop;
    atomic_int offloaded; /* requests suspended for a handler thread, not yet resumed */
    pthread_mutex_t streams_mu;
    http_stream_t *streams;
};

static atomic_int g_shutting_down;

bool http_shutting_down(void) { return atomic_load(&g_shutting_down) != 0; }

/* ---------- methods ---------- */

int http_method_parse(const char *s)
{
#define X(name, bit) if (strcmp(s, #name) == 0) return bit;
    HTTP_METHOD_LIST(X)
#undef X
    return 0;
}

const char *http_method_name(int m)
{
    switch (m) {
#define X(name, bit) case bit: return #name;
    HTTP_METHOD_LIST(X)
#undef X
    }
    return "OTHER";
}

/* ---------- accessors ---------- */

/* The peer address as text, computed on first use (most requests never ask:
 * it is an MHD info call and an inet_ntop) and cached in the
 * request arena. */
static const char *client_ip_of(http_req_t *req)
{
    if (req->client_ip) return req->client_ip;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char buf[INET6_ADDRSTRLEN] = "unknown";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, sizeof buf);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, sizeof buf);
    }
    req->client_ip = arena_strdup(req->arena, buf);
    return req->client_ip;
}


arena_t *http_arena(http_req_t *req) { return req->arena; }
int http_method(const http_req_t *req) { return req->method; }
const char *http_path(const http_req_t *req) { return req->uri.path ? req->uri.path : "/"; }
const char *http_route(const http_req_t *req)
{
    return req->match.route ? req->match.route->pattern : "unmatched";
}
int http_route_flags(const http_req_t *req) { return req->match.route ? req->match.route->flags : 0; }
void *http_app(const http_req_t *req) { return req->srv->app; }
const char *http_request_id(const http_req_t *req) { return req->request_id; }
const char *http_trace_id(const http_req_t *req) { return req->trace_id; }
const char *http_traceparent(const http_req_t *req) { return req->traceparent; }
const char *http_client_ip(const http_req_t *req) { return client_ip_of((http_req_t *)req); }
void http_set_principal(http_req_t *req, void *p) { req->principal = p; }
void *http_principal(const http_req_t *req) { return req->principal; }
void http_set_slot(http_req_t *req, int slot, void *p)
{
    if (slot >= 0 && slot < HTTP_SLOTS) req->slots[slot] = p;
}
void *http_slot(const http_req_t *req, int slot) { return slot >= 0 && slot < HTTP_SLOTS ? req->slots[slot] : NULL; }

const char *http_response_body(const http_req_t *req, size_t *len, const char **content_type)
{
    if (len) *len = req->resp_body ? req->resp_bytes : 0;
    if (content_type) *content_type = req->resp_ctype;
    return req->resp_body;
}
str_t http_body(const http_req_t *req) { return (str_t){ req->body.ptr ? req->body.ptr : "", req->body.len }; }
bool http_responded(const http_req_t *req) { return req->responded; }
int http_status(const http_req_t *req) { return req->status; }

const char *http_param(const http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->match.nparams; i++)
        if (strcmp(req->match.params[i].name, name) == 0) return req->param_values[i];
    return NULL;
}

const char *http_query(const http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->uri.nquery; i++)
        if (strcmp(req->uri.query[i].name, name) == 0) return req->uri.query[i].value;
    return NULL;
}

size_t http_query_count(const http_req_t *req) { return req->uri.nquery; }

void http_query_at(const http_req_t *req, size_t i, const char **name, const char **value)
{
    *name = req->uri.query[i].name;
    *value = req->uri.query[i].value;
}

const char *http_header(const http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* ---------- responses ---------- */

void http_set_header(http_req_t *req, const char *name, const char *value)
{
    for (int i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) {
            req->headers[i].value = arena_strdup(req->arena, value);
            return;
        }
    if (req->nheaders >= MAX_RESP_HEADERS) {
        log_error("http", "too many response headers; dropped %s", name);
        return;
    }
    req->headers[req->nheaders].name = arena_strdup(req->arena, name);
    req->headers[req->nheaders].value = arena_strdup(req->arena, value);
    req->nheaders++;
}

static void set_response(http_req_t *req, int status, struct MHD_Response *r, size_t bytes)
{
    if (req->responded) {
        log_error("http", "handler for %s responded twice", http_route(req));
        MHD_destroy_response(r);
        return;
    }
    req->responded = 1;
    req->status = status;
    req->resp = r;
    req->resp_bytes = bytes;
}

static void respond_owned(http_req_t *req, int status, const char *ctype, char *data, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, data, free);
    if (!r) abort();
    if (ctype) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    int first = !req->responded;
    set_response(req, status, r, len);
    if (first) {
        req->resp_body = data;
        req->resp_ctype = ctype ? arena_strdup(req->arena, ctype) : NULL;
    }
}

void http_respond_bytes(http_req_t *req, int status, const char *ctype, const void *data, size_t len)
{
    char *copy = xmalloc(len ? len : 1);
    if (len) memcpy(copy, data, len);
    respond_owned(req, status, ctype, copy, len);
}

void http_respond_empty(http_req_t *req, int status)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) abort();
    set_response(req, status, r, 0);
}

void http_respond_json(http_req_t *req, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s) abort();
    respond_owned(req, status, "application/json", s, strlen(s));
}

void http_respond_problem_ext(http_req_t *req, int status, const char *slug, const char *title,
                              const char *detail, json_t *extra)
{
    json_t *p = json_object();
    json_object_set_new(p, "type", json_string(arena_sprintf(req->arena, PROBLEM_BASE "%s", slug)));
    json_object_set_new(p, "title", json_string(title));
    json_object_set_new(p, "status", json_integer(status));
    if (detail) {
        json_t *d = json_string(detail);
        /* detail text may embed client bytes that are not UTF-8 */
        if (!d) d = json_string("The request could not be processed.");
        json_object_set_new(p, "detail", d);
    }
    if (req->uri.path) {
        json_t *inst = json_string(req->uri.path);
        if (inst) json_object_set_new(p, "instance", inst);
    }
    json_object_set_new(p, "request_id", json_string(req->request_id));
    if (extra) {
        json_object_update(p, extra);
        json_decref(extra);
    }
    char *s = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    if (!s) abort();
    respond_owned(req, status, "application/problem+json", s, strlen(s));
    if (status >= 500)
        log_error("http", "%d %s on %s %s", status, title, req->method_str ? req->method_str : "-",
                  http_route(req));
}

void http_respond_problem_errors(http_req_t *req, int status, const char *slug, const char *title,
                                 const char *detail, json_t *errors)
{
    json_t *extra = NULL;
    if (errors) {
        extra = json_object();
        json_object_set_new(extra, "errors", errors);
    }
    http_respond_problem_ext(req, status, slug, title, detail, extra);
}

void http_respond_problem(http_req_t *req, int status, const char *slug, const char *title,
                          const char *detail)
{
    http_respond_problem_ext(req, status, slug, title, detail, NULL);
}

static uint64_t fnv1a64(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* RFC 9110 §13.1.2: weak comparison for If-None-Match. */
static int etag_matches(const char *inm, const char *etag)
{
    size_t el = strlen(etag);
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (*p == '*') return 1;
        if (p[0] == 'W' && p[1] == '/') p += 2;
        const char *e = p;
        if (*e == '"') {
            e = strchr(e + 1, '"');
            if (!e) return 0;
            e++;
        } else {
            while (*e && *e != ',') e++;
        }
        if ((size_t)(e - p) == el && memcmp(p, etag, el) == 0) return 1;
        if (!*e) break;
        p = e;
    }
    return 0;
}

void http_etag_of(char out[HTTP_ETAG_LEN], const char *body, size_t len)
{
    snprintf(out, HTTP_ETAG_LEN, "\"%016llx\"", (unsigned long long)fnv1a64(body, len));
}

void http_respond_json_etag(http_req_t *req, const char *json, size_t len)
{
    char etag[HTTP_ETAG_LEN];
    http_etag_of(etag, json, len);
    http_respond_json_tagged(req, json, len, etag);
}

void http_respond_json_tagged(http_req_t *req, const char *json, size_t len, const char *etag)
{
    http_set_header(req, "ETag", etag);
    const char *inm = http_header(req, "If-None-Match");
    if (inm && etag_matches(inm, etag)) {
        http_respond_empty(req, 304);
        return;
    }
    http_respond_bytes(req, 200, "application/json", json, len);
}

int http_json_body(http_req_t *req, json_t **out)
{
    *out = NULL;
    const char *ct = http_header(req, "Content-Type");
    int ok_type = 0;
    if (ct) {
        /* application/json, optionally with parameters, or any +json type */
        size_t n = strcspn(ct, ";");
        while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
        str_t t = { ct, n };
        ok_type = str_eq_nocase(t, STR_LIT("application/json")) ||
                  (n > 5 && str_eq_nocase((str_t){ ct + n - 5, 5 }, STR_LIT("+json")));
    }
    if (!ok_type) {
        http_respond_problem(req, 415, "unsupported-media-type", "Unsupported Media Type",
                             "The request body must be JSON, sent with Content-Type: application/json.");
        return -1;
    }
    json_error_t err;
    str_t b = http_body(req);
    json_t *j = json_loadb(b.ptr, b.len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        char detail[320];
        snprintf(detail, sizeof detail, "Invalid JSON at line %d, column %d (byte %d): %s", err.line,
                 err.column, err.position, err.text);
        json_t *ext = json_object();
        json_object_set_new(ext, "line", json_integer(err.line));
        json_object_set_new(ext, "column", json_integer(err.column));
        json_object_set_new(ext, "position", json_integer(err.position));
        http_respond_problem_ext(req, 400, "invalid-json", "Invalid JSON", detail, ext);
        return -1;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_respond_problem(req, 400, "invalid-json", "Invalid JSON",
                             "The request body must be a JSON object.");
        return -1;
    }
    req->json_body = j;
    *out = j;
    return 0;
}

/* ---------- streaming ---------- */

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_stream_t *s = cls;
    if (s->ended) return MHD_CONTENT_READER_END_OF_STREAM;
    ssize_t n = s->read_fn(s->ctx, buf, max);
    if (n < 0) {
        s->ended = 1;
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n > 0) {
        __atomic_fetch_add(&s->req->resp_bytes, (size_t)n, __ATOMIC_RELAXED);
        return n;
    }
    /* nothing to send: park the connection unless a wake raced us */
    pthread_mutex_lock(&s->mu);
    if (s->wake_pending) {
        s->wake_pending = 0;
    } else {
        s->suspended = 1;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void stream_free(void *cls)
{
    http_stream_t *s = cls;
    http_server_t *srv = s->srv;
    pthread_mutex_lock(&srv->streams_mu);
    if (s->prev) s->prev->next = s->next;
    else srv->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&srv->streams_mu);
    if (s->free_fn) s->free_fn(s->ctx);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

http_stream_t *http_respond_stream(http_req_t *req, int status, const char *ctype,
                                   http_stream_read_fn read_fn, http_stream_free_fn free_fn, void *ctx)
{
    http_stream_t *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->conn = req->conn;
    s->srv = req->srv;
    s->req = req;
    s->read_fn = read_fn;
    s->free_fn = free_fn;
    s->ctx = ctx;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, stream_reader, s,
                                                               stream_free);
    if (!r) abort();
    if (ctype) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    pthread_mutex_lock(&req->srv->streams_mu);
    s->next = req->srv->streams;
    if (s->next) s->next->prev = s;
    req->srv->streams = s;
    pthread_mutex_unlock(&req->srv->streams_mu);
    req->stream = s;
    set_response(req, status, r, 0);
    return s;
}

void http_stream_wake(http_stream_t *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->suspended) {
        s->suspended = 0;
        MHD_resume_connection(s->conn);
    } else {
        s->wake_pending = 1;
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---------- request lifecycle ---------- */

static const char *const cors_expose =
    "X-Request-Id, ETag, Location, Retry-After, RateLimit, RateLimit-Policy, Idempotent-Replayed";
static const char *const cors_allow_headers =
    "Authorization, Content-Type, Idempotency-Key, If-None-Match, Last-Event-ID, X-Request-Id, "
    "X-Cart-Token, traceparent";

/* Returns the origin to echo when it is allowed, else NULL. */
static const char *cors_check(http_server_t *s, const char *origin)
{
    if (!origin || !s->cors || !s->cors[0]) return NULL;
    if (strcmp(s->cors, "*") == 0) return "*";
    size_t ol = strlen(origin);
    const char *p = s->cors;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && *p == ' ') p++, n--;
        while (n && p[n - 1] == ' ') n--;
        if (n == ol && memcmp(p, origin, n) == 0) return origin;
        if (!e) break;
        p = e + 1;
    }
    return NULL;
}

static void finish_headers(http_req_t *req)
{
    struct MHD_Response *r = req->resp;
    MHD_add_response_header(r, "X-Request-Id", req->request_id);
    for (int i = 0; i < req->nheaders; i++) MHD_add_response_header(r, req->headers[i].name, req->headers[i].value);
    if (req->origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", req->origin);
        if (strcmp(req->origin, "*") != 0) MHD_add_response_header(r, "Vary", "Origin");
        MHD_add_response_header(r, "Access-Control-Expose-Headers", cors_expose);
    }
    if (http_shutting_down()) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
}

static enum MHD_Result queue(http_req_t *req)
{
    if (!req->responded) {
        log_error("http", "handler for %s returned without a response", http_route(req));
        http_respond_problem(req, 500, "internal", "Internal Server Error",
                             "The server failed to produce a response.");
    }
    finish_headers(req);
    enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)req->status, req->resp);
    MHD_destroy_response(req->resp);
    req->resp = NULL;
    return rc;
}

static int valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c == ':'))
            return 0;
        if (n >= 128) return 0;
    }
    return n > 0;
}

static int ishex_lower(const char *s, size_t n, int *allzero)
{
    *allzero = 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
        if (c != '0') *allzero = 0;
    }
    return 1;
}

static void random_hex(char *out, size_t nbytes)
{
    static const char hx[] = "0123456789abcdef";
    unsigned char raw[16];
    id_random(raw, nbytes);
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hx[raw[i] >> 4];
        out[2 * i + 1] = hx[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

/* W3C trace context: keep the caller's trace id, start our own span. */
static void setup_trace(http_req_t *req)
{
    const char *tp = http_header(req, "traceparent");
    char span[17], flags[3] = "01";
    int z1, z2;
    if (tp && strlen(tp) >= 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-' &&
        ishex_lower(tp, 2, &z1) && !(tp[0] == 'f' && tp[1] == 'f') && ishex_lower(tp + 3, 32, &z1) &&
        !z1 && ishex_lower(tp + 36, 16, &z2) && !z2 && ishex_lower(tp + 53, 2, &z2) &&
        (tp[55] == '\0' || (tp[0] != '0' || tp[1] != '0' ? tp[55] == '-' : 0))) {
        memcpy(req->trace_id, tp + 3, 32);
        req->trace_id[32] = '\0';
        flags[0] = tp[53];
        flags[1] = tp[54];
    } else {
        random_hex(req->trace_id, 16);
    }
    random_hex(span, 8);
    snprintf(req->traceparent, sizeof req->traceparent, "00-%s-%s-%s", req->trace_id, span, flags);
}

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_server_t *s = cls;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_ctx_t *cc = ci ? ci->socket_context : NULL;
    arena_t *a = arena_new();
    http_req_t *req = arena_calloc(a, sizeof *req);
    req->arena = a;
    req->srv = s;
    req->conn = conn;
    req->t_start_ns = time_mono_ns();
    req->raw_target = arena_strdup(a, uri ? uri : "");
    req->body = BUF_INIT(s->opts.body_max);
    req->status = 0;
    if (cc) {
        if (cc->cur) { /* previous request was rejected by MHD itself and never completed */
            http_req_t *old = cc->cur;
            buf_free(&old->body);
            arena_free(old->arena);
        }
        cc->cur = req;
    }
    return req;
}

static void conn_notify_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)conn;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = xcalloc(1, sizeof(conn_ctx_t));
    } else {
        conn_ctx_t *cc = *socket_context;
        if (cc) {
            if (cc->cur) {
                buf_free(&cc->cur->body);
                arena_free(cc->cur->arena);
            }
            free(cc);
        }
        *socket_context = NULL;
    }
}


/* First call: everything that can be decided from the request head. */
static int request_head(http_req_t *req, const char *method)
{
    http_server_t *s = req->srv;
    req->method_str = arena_strdup(req->arena, method);
    req->method = http_method_parse(method);
    const char *rid = http_header(req, "X-Request-Id");
    if (rid && valid_request_id(rid))
        snprintf(req->request_id, sizeof req->request_id, "%s", rid);
    else
        id_new(req->request_id, "req");
    setup_trace(req);
    log_set_context(req->request_id, req->trace_id);
    req->origin = cors_check(s, http_header(req, "Origin"));

    const char *err = NULL;
    if (uri_parse(req->arena, req->raw_target, strlen(req->raw_target), &req->uri, &err) < 0) {
        req->uri.path = NULL;
        http_respond_problem(req, 400, "malformed-request-target", "Malformed Request Target", err);
        return 1;
    }
    size_t hdr_total = 0;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, sum_header, &hdr_total);
    if (hdr_total > s->opts.header_max) {
        http_respond_problem(req, 431, "headers-too-large", "Request Header Fields Too Large",
                             "The request headers exceed the server's limit.");
        return 1;
    }
    if (req->method == 0) {
        http_set_header(req, "Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
        http_respond_problem(req, 501, "method-not-implemented", "Not Implemented",
                             "The request method is not supported by this server.");
        return 1;
    }
    int rc = router_match(s->router, req->method, req->uri.path, &req->match);
    if (req->method == HTTP_OPTIONS && rc != ROUTER_NOT_FOUND) {
        char allow[96];
        router_allow_string(req->match.allow, allow, sizeof allow);
        req->match.route = NULL;
        if (req->origin && http_header(req, "Access-Control-Request-Method")) {
            http_set_header(req, "Access-Control-Allow-Methods", allow);
            http_set_header(req, "Access-Control-Allow-Headers", cors_allow_headers);
            http_set_header(req, "Access-Control-Max-Age", "600");
        }
        http_set_header(req, "Allow", allow);
        http_respond_empty(req, 204);
        return 1;
    }
    if (rc == ROUTER_NOT_FOUND) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No resource matches this path.");
        return 1;
    }
    if (rc == ROUTER_METHOD_NOT_ALLOWED) {
        char allow[96], detail[160];
        router_allow_string(req->match.allow, allow, sizeof allow);
        http_set_header(req, "Allow", allow);
        snprintf(detail, sizeof detail, "The method %s is not allowed here; allowed: %s.", method, allow);
        http_respond_problem(req, 405, "method-not-allowed", "Method Not Allowed", detail);
        return 1;
    }
    req->param_values = arena_alloc(req->arena, (req->match.nparams + 1) * sizeof(char *));
    for (size_t i = 0; i < req->match.nparams; i++)
        req->param_values[i] = arena_str(req->arena, req->match.params[i].value);
    const char *cl = http_header(req, "Content-Length");
    if (cl) {
        long long n;
        if (str_to_i64(str_from(cl), &n) < 0 || n < 0) {
            http_respond_problem(req, 400, "bad-content-length", "Bad Request", "Invalid Content-Length.");
            return 1;
        }
        if ((unsigned long long)n > s->opts.body_max) {
            char detail[128];
            snprintf(detail, sizeof detail, "The request body exceeds the limit of %zu bytes.", s->opts.body_max);
            http_respond_problem(req, 413, "payload-too-large", "Content Too Large", detail);
            return 1;
        }
    }
    return 0;
}

/* The hooks and the handler: the request has a response afterwards. */
static void run_handler(http_req_t *req)
{
    if (req->srv->pre_hook && req->srv->pre_hook(req, req->match.route->flags)) return;
    req->match.route->handler(req);
    if (req->srv->post_hook && req->responded) req->srv->post_hook(req, req->match.route->flags);
}

static void *handler_main(void *arg)
{
    http_server_t *s = arg;
    sched_batch_join();
    pthread_mutex_lock(&s->work_mu);
    for (;;) {
        while (!s->work_head && !s->work_stop) {
            s->idle_workers++;
            pthread_cond_wait(&s->work_cv, &s->work_mu);
            s->idle_workers--;
        }
        if (!s->work_head) break; /* stopping, nothing left */
        http_req_t *req = s->work_head;
        s->work_head = req->next_work;
        if (!s->work_head) s->work_tail = NULL;
        pthread_mutex_unlock(&s->work_mu);
        log_set_context(req->request_id, req->trace_id);
        log_set_traceparent(req->traceparent);
        run_handler(req);
        log_set_context(NULL, NULL);
        log_set_traceparent(NULL);
        /* the event loop queues the response when it calls us again */
        req->phase = 5;
        MHD_resume_connection(req->conn);
        atomic_fetch_sub(&s->offloaded, 1);
        pthread_mutex_lock(&s->work_mu);
    }
    pthread_mutex_unlock(&s->work_mu);
    return NULL;
}

/* Suspends the connection and queues the request for a handler thread,
 * starting one when none is idle and fewer than opts.handler_threads run.
 * -1 when no thread could be started: the caller runs it inline. */
static int offload(http_req_t *req)
{
    http_server_t *s = req->srv;
    pthread_mutex_lock(&s->work_mu);
    if (s->work_stop) {
        pthread_mutex_unlock(&s->work_mu);
        return -1;
    }
    if (s->idle_workers == 0 && s->nworkers < s->opts.handler_threads) {
        if (!s->workers) s->workers = xcalloc((size_t)s->opts.handler_threads, sizeof *s->workers);
        if (pthread_create(&s->workers[s->nworkers], NULL, handler_main, s) == 0) s->nworkers++;
    }
    if (s->nworkers == 0) {
        pthread_mutex_unlock(&s->work_mu);
        return -1;
    }
    req->phase = 4;
    atomic_fetch_add(&s->offloaded, 1);
    MHD_suspend_connection(req->conn);
    req->next_work = NULL;
    if (s->work_tail) s->work_tail->next_work = req;
    else s->work_head = req;
    s->work_tail = req;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->work_mu);
    return 0;
}

/* after the daemon stopped: nothing is queued any more */
static void stop_handlers(http_server_t *s)
{
    pthread_mutex_lock(&s->work_mu);
    s->work_stop = 1;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->work_mu);
    for (int i = 0; i < s->nworkers; i++) pthread_join(s->workers[i], NULL);
    s->nworkers = 0;
    free(s->workers);
    s->workers = NULL;
}

static enum MHD_Result access_inner(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                    const char *version, const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    http_req_t *req = *con_cls;
    if (!req) return MHD_NO; /* cannot happen: uri_log_cb always sets it */
    req->conn = conn;
    if (req->phase == 0) {
        if (!req->counted) {
            req->counted = 1;
            atomic_fetch_add(&req->srv->inflight, 1);
        }
        if (request_head(req, method)) {
            /* Answered from the head alone.  Without a body we wait for the
             * final call so the connection stays alive; with one we answer
             * now and MHD closes the connection instead of reading it. */
            const char *cl = http_header(req, "Content-Length");
            int has_body = (cl && strcmp(cl, "0") != 0) || http_header(req, "Transfer-Encoding");
            if (has_body) {
                req->phase = 3;
                return queue(req);
            }
            req->phase = 2;
            return MHD_YES;
        }
        req->phase = 1;
        return MHD_YES;
    }
    if (req->phase == 2) {
        if (*upload_data_size > 0) { /* unexpected body bytes: drop them */
            *upload_data_size = 0;
            return MHD_YES;
        }
        req->phase = 3;
        return queue(req);
    }
    if (req->phase == 1 && *upload_data_size > 0) {
        if (!req->body_too_big && buf_append(&req->body, upload_data, *upload_data_size) < 0) {
            req->body_too_big = 1;
            buf_free(&req->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->phase == 5) { /* back from a handler thread */
        req->phase = 3;
        return queue(req);
    }
    if (req->phase != 1) return MHD_YES;
    req->phase = 3;
    log_set_context(req->request_id, req->trace_id);
    log_set_traceparent(req->traceparent);
    if (req->body_too_big) {
        char detail[128];
        snprintf(detail, sizeof detail, "The request body exceeds the limit of %zu bytes.", req->srv->opts.body_max);
        http_respond_problem(req, 413, "payload-too-large", "Content Too Large", detail);
        return queue(req);
    }
    if (req->srv->opts.handler_threads > 0 && (req->method & (HTTP_GET | HTTP_HEAD | HTTP_OPTIONS)) == 0 &&
        !(req->match.route->flags & HTTP_ROUTE_INLINE) && offload(req) == 0)
        return MHD_YES;
    run_handler(req);
    return queue(req);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    enum MHD_Result rc = access_inner(cls, conn, url, method, version, upload_data, upload_data_size, con_cls);
    /* this thread goes on to other connections: do not leak the context */
    log_set_context(NULL, NULL);
    log_set_traceparent(NULL);
    return rc;
}

static int status_slot(int status)
{
    for (int i = 0; i < NSTATUS; i++)
        if (status_codes[i] == status) return i;
    return NSTATUS;
}

static void access_log(http_req_t *req, int64_t dur_us)
{
    char line[1024];
    buf_t b = BUF_INIT(900);
    buf_printf(&b, "\"msg\":\"request\",\"method\":\"%s\",\"route\":\"", req->method_str ? req->method_str : "-");
    const char *route = http_route(req);
    buf_json_escape(&b, route, strlen(route));
    buf_puts(&b, "\",\"path\":\"");
    const char *path = req->uri.path ? req->uri.path : "-";
    buf_json_escape(&b, path, strnlen(path, 256));
    buf_printf(&b, "\",\"status\":%d,\"duration_ms\":%.3f,\"bytes\":%zu,\"ip\":\"%s\"", req->status,
               (double)dur_us / 1000.0, req->resp_bytes, client_ip_of(req));
    if (b.ptr) {
        size_t n = b.len < sizeof line ? b.len : sizeof line - 1;
        memcpy(line, b.ptr, n);
        log_raw_fields(req->status >= 500 ? LOG_ERROR : LOG_INFO, line, n);
    }
    buf_free(&b);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http_server_t *s = cls;
    http_req_t *req = *con_cls;
    if (!req) return;
    *con_cls = NULL;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_ctx_t *cc = ci ? ci->socket_context : NULL;
    if (cc && cc->cur == req) cc->cur = NULL;
    int64_t dur_us = (time_mono_ns() - req->t_start_ns) / 1000;
    if (req->status) {
        size_t idx = req->match.route ? req->match.route->index : s->nstats - 1;
        route_stats_t *st = &s->stats[idx];
        metrics_inc(&st->by_status[status_slot(req->status)]);
        metrics_hist_observe_us(&st->duration, dur_us);
        int nolog = req->match.route && (req->match.route->flags & HTTP_ROUTE_NO_LOG) && req->status < 400;
        if (s->opts.access_log && !nolog) {
            log_set_context(req->request_id, req->trace_id);
            access_log(req, dur_us);
        }
    }
    log_set_context(NULL, NULL);
    log_set_traceparent(NULL);
    if (req->counted) atomic_fetch_sub(&s->inflight, 1);
    if (req->resp) MHD_destroy_response(req->resp);
    if (req->json_body) json_decref(req->json_body);
    buf_free(&req->body);
    arena_free(req->arena);
}

static void render_http_metrics(buf_t *out, void *ctx)
{
    http_server_t *s = ctx;
    metrics_family(out, "mercato_http_requests_total", "counter", "HTTP requests handled, by method, route template and status.");
    for (size_t i = 0; i < s->nstats; i++) {
        const route_t *rt = router_at(s->router, i);
        const char *m = rt ? http_method_name(rt->method) : "any";
        const char *pattern = rt ? rt->pattern : "unmatched";
        for (int k = 0; k <= NSTATUS; k++) {
            uint64_t v = metrics_get(&s->stats[i].by_status[k]);
            if (!v) continue;
            if (k < NSTATUS)
                buf_printf(out, "mercato_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n", m,
                           pattern, status_codes[k], (unsigned long long)v);
            else
                buf_printf(out, "mercato_http_requests_total{method=\"%s\",route=\"%s\",status=\"other\"} %llu\n", m,
                           pattern, (unsigned long long)v);
        }
    }
    metrics_family(out, "mercato_http_request_duration_seconds", "histogram",
                   "Time from request line to response completion, by method and route template.");
    for (size_t i = 0; i < s->nstats; i++) {
        if (!metrics_get(&s->stats[i].duration.count)) continue;
        const route_t *rt = router_at(s->router, i);
        char labels[256];
        snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"", rt ? http_method_name(rt->method) : "any",
                 rt ? rt->pattern : "unmatched");
        metrics_hist_render(out, "mercato_http_request_duration_seconds", labels, &s->stats[i].duration);
    }
    metrics_family(out, "mercato_http_requests_in_flight", "gauge", "Requests being handled, including open streams.");
    buf_printf(out, "mercato_http_requests_in_flight %ld\n", atomic_load(&s->inflight));
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n')) msg[--n] = '\0';
    log_debug("mhd", "%s", msg);
}

http_server_t *http_server_new(const http_server_opts_t *opts, router_t *router, void *app)
{
    http_server_t *s = xcalloc(1, sizeof *s);
    s->opts = *opts;
    s->cors = xstrdup(opts->cors_origins ? opts->cors_origins : "");
    s->opts.cors_origins = s->cors;
    if (s->opts.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->opts.threads = n > 0 ? (int)n : 1;
    }
    if (!s->opts.body_max) s->opts.body_max = 1 << 20;
    if (!s->opts.header_max) s->opts.header_max = 16 * 1024;
    s->router = router;
    s->app = app;
    s->nstats = router_count(router) + 1;
    s->stats = xcalloc(s->nstats, sizeof(route_stats_t));
    pthread_mutex_init(&s->streams_mu, NULL);
    pthread_mutex_init(&s->work_mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    metrics_register(render_http_metrics, s);
    return s;
}

void http_server_set_pre_hook(http_server_t *s, http_pre_hook_fn fn) { s->pre_hook = fn; }
void http_server_set_post_hook(http_server_t *s, http_post_hook_fn fn) { s->post_hook = fn; }

/* The listening socket is ours, not libmicrohttpd's: an acceptor thread
 * hands each connection to the daemon with MHD_add_connection(), which puts
 * it on event-loop thread (socket number mod threads) — consecutive
 * connections on different threads, and a closed connection's number (and
 * thread) reused by the next.  When every thread accepted for itself, a
 * burst of connections (a proxy's pool opening, a load test starting) could
 * land ten on one thread, and a handler that waits for the database blocks
 * every connection of its thread. */
static void *acceptor_main(void *arg)
{
    http_server_t *s = arg;
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&addr, &len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (atomic_load(&s->accept_stop)) break;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("http", "accept: %s; pausing 50 ms", strerror(errno));
                usleep(50000);
                continue;
            }
            if (errno == EINVAL) break; /* the socket was shut down */
            log_error("http", "accept: %s", strerror(errno));
            usleep(50000);
            continue;
        }
        /* closes fd itself when no thread can take it (connection limit) */
        MHD_add_connection(s->daemon, fd, (struct sockaddr *)&addr, len);
    }
    return NULL;
}

static int listen_on(http_server_t *s, const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    /* as libmicrohttpd's "address reuse": restart on a port in TIME_WAIT, and
     * let a new process bind beside the old one during a hand-over */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0 ||
        bind(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct sockaddr_in got;
    socklen_t gl = sizeof got;
    s->port = getsockname(fd, (struct sockaddr *)&got, &gl) == 0 ? ntohs(got.sin_port) : s->opts.port;
    s->listen_fd = fd;
    return 0;
}

int http_server_start(http_server_t *s)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->opts.port);
    if (inet_pton(AF_INET, s->opts.host, &sa.sin_addr) != 1) {
        log_error("http", "invalid listen address %s (an IPv4 address is expected)", s->opts.host);
        return -1;
    }
    if (listen_on(s, &sa) < 0) {
        log_error("http", "cannot listen on %s:%d: %s", s->opts.host, s->opts.port, strerror(errno));
        return -1;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     MHD_USE_TURBO | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    /* ask for a larger per-connection pool than our header cap so that our
     * own 431 problem+json answers most oversized headers, not MHD's page */
    size_t pool = s->opts.header_max + 16 * 1024;
    /* many long-lived streams: libmicrohttpd touches about half of each
     * pool, so a smaller one (--conn-memory-kb) is what bounds their RSS */
    if (s->opts.conn_memory) pool = s->opts.conn_memory;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, s,
        /* 1 thread = one event loop, no pool (MHD warns about a pool of 1) */
        MHD_OPTION_THREAD_POOL_SIZE, s->opts.threads > 1 ? (unsigned)s->opts.threads : 0u, MHD_OPTION_CONNECTION_LIMIT,
        s->opts.conn_limit ? s->opts.conn_limit : 10000u, MHD_OPTION_CONNECTION_TIMEOUT,
        s->opts.idle_timeout_s ? s->opts.idle_timeout_s : 60u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, s, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s,
        MHD_OPTION_NOTIFY_CONNECTION, conn_notify_cb, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s, MHD_OPTION_END);
    if (!s->daemon) {
        log_error("http", "cannot start the HTTP daemon on %s:%d: %s", s->opts.host, s->port, strerror(errno));
        close(s->listen_fd);
        s->listen_fd = -1;
        return -1;
    }
    if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
        log_error("http", "cannot start the acceptor thread");
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        close(s->listen_fd);
        s->listen_fd = -1;
        return -1;
    }
    s->accepting = 1;
    return 0;
}

/* stops taking connections: the acceptor ends, the socket closes */
static void stop_accepting(http_server_t *s)
{
    if (!s->accepting) return;
    atomic_store(&s->accept_stop, 1);
    shutdown(s->listen_fd, SHUT_RDWR); /* accept() returns */
    pthread_join(s->acceptor, NULL);
    close(s->listen_fd);
    s->listen_fd = -1;
    s->accepting = 0;
}

int http_server_port(const http_server_t *s) { return s->port; }
long http_server_inflight(const http_server_t *s) { return atomic_load(&((http_server_t *)s)->inflight); }

int http_server_shutdown(http_server_t *s, int deadline_ms)
{
    if (!s->daemon) return 0;
    atomic_store(&g_shutting_down, 1);
    stop_accepting(s);
    int64_t end = time_mono_us() + (int64_t)deadline_ms * 1000;
    int64_t next_wake = 0;
    long left;
    while ((left = atomic_load(&s->inflight)) > 0 && time_mono_us() < end) {
        if (time_mono_us() >= next_wake) {
            /* let streams see the shutdown flag and end their bodies */
            pthread_mutex_lock(&s->streams_mu);
            for (http_stream_t *st = s->streams; st; st = st->next) http_stream_wake(st);
            pthread_mutex_unlock(&s->streams_mu);
            next_wake = time_mono_us() + 100000;
        }
        usleep(5000);
    }
    /* libmicrohttpd must not be stopped with a connection suspended: a
     * handler still running past the deadline (waiting for the database)
     * is waited for, up to 30 s more */
    for (int i = 0; atomic_load(&s->offloaded) > 0 && i < 6000; i++) usleep(5000);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    stop_handlers(s);
    return (int)(left > 0 ? left : 0);
}

void http_server_free(http_server_t *s)
{
    if (!s) return;
    stop_accepting(s);
    if (s->daemon) MHD_stop_daemon(s->daemon);
    stop_handlers(s);
    pthread_mutex_destroy(&s->work_mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_mutex_destroy(&s->streams_mu);
    free(s->stats);
    free(s->cors);
    free(s);
}
