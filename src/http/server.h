/*
 * server.h — the HTTP server: libmicrohttpd behind our own interface.
 *
 * One daemon with an internal epoll thread pool (size = cores by default).
 * Connections are accepted by a thread of ours and spread over the event
 * loops.  Requests that write (POST, PUT, PATCH, DELETE) run their hooks and
 * handler on a pool of handler threads while their connection is suspended:
 * such a handler may wait milliseconds for the database's writer (a group
 * commit), and on the event loop it would hold up every other connection
 * of that thread.  Reads run on the event loop.  Each request gets an arena, is parsed (uri.c), routed (router.c), passes
 * the optional pre-handler hook (authentication, rate limits) and reaches its
 * handler once the body is complete.  The server owns cross-cutting
 * behaviour: request ids, traceparent, CORS, body and header caps,
 * problem+json for every protocol error, metrics and the access log.
 */
#ifndef MERCATO_HTTP_SERVER_H
#define MERCATO_HTTP_SERVER_H

#include <stddef.h>

#include "http/http.h"
#include "http/router.h"

/* Route flags understood by the server itself (the low byte is reserved for
 * the pre-handler hook, e.g. required roles). */
#define HTTP_ROUTE_NO_LOG 0x100     /* skip the access log line (health probes) */
#define HTTP_ROUTE_IDEMPOTENT 0x200 /* honours Idempotency-Key (see app/idempotency.h) */
#define HTTP_ROUTE_IDEM_REQUIRED 0x400 /* ... and requires it (400 without) */
#define HTTP_ROUTE_INLINE 0x800     /* a write that never waits (no database): runs on the
                                       event loop, not a handler thread */
#define HTTP_ROUTE_IDEM_IN_TX 0x1000 /* the handler claims the key in its own transaction
                                        (idem_claim, see app/idempotency.h) */

typedef struct http_server_opts {
    const char *host;          /* listen address, e.g. "127.0.0.1" */
    int port;                  /* 0 picks a free port (see http_server_port) */
    int threads;               /* event-loop threads; <= 0 means number of cores */
    int handler_threads;       /* run POST/PUT/PATCH/DELETE handlers on up to this many
                                  threads of their own (started as needed); 0 = on the
                                  event loops */
    size_t body_max;           /* request body cap in bytes (413 beyond) */
    size_t header_max;         /* total request header bytes (431 beyond) */
    unsigned conn_limit;       /* simultaneous connections */
    unsigned idle_timeout_s;   /* idle / header timeout per connection */
    size_t conn_memory;       /* per-connection pool bytes; 0 = header_max + 16 KiB */
    const char *cors_origins;  /* "" none, "*" any, or comma-separated origins */
    int access_log;            /* 1 = one JSON line per request */
} http_server_opts_t;

typedef struct http_server http_server_t;

/* Called before the handler for every routed request.  Return 0 to continue;
 * non-zero when the hook has already responded (401, 403, 429 ...). */
typedef int (*http_pre_hook_fn)(http_req_t *req, int route_flags);

/* Creates the server; router and app are borrowed for its lifetime. */
http_server_t *http_server_new(const http_server_opts_t *opts, router_t *router, void *app);
void http_server_set_pre_hook(http_server_t *s, http_pre_hook_fn fn);
/* Called after the handler has responded, before the response is sent
 * (e.g. to store it for idempotent replay).  Not called when the pre-hook
 * answered. */
typedef void (*http_post_hook_fn)(http_req_t *req, int route_flags);
void http_server_set_post_hook(http_server_t *s, http_post_hook_fn fn);
/* Starts listening; 0 ok, -1 with a log line on failure (port in use ...). */
int http_server_start(http_server_t *s);
int http_server_port(const http_server_t *s);
/* Stops accepting, lets in-flight requests finish for up to deadline_ms,
 * ends streams, then stops the daemon.  Returns the number of requests that
 * were still in flight at the deadline (0 in a clean drain). */
int http_server_shutdown(http_server_t *s, int deadline_ms);
void http_server_free(http_server_t *s);

/* Number of requests being handled right now (including open streams). */
long http_server_inflight(const http_server_t *s);

#endif
