/*
 * http.h — the HTTP interface that handlers see.
 *
 * Handlers never touch libmicrohttpd: they get an opaque http_req_t, read the
 * method, path parameters, query, headers and body through accessors, and
 * answer exactly once with one of the http_respond_* functions.  Everything
 * returned by an accessor is borrowed until the request ends (it lives in the
 * request arena).  A handler that returns without responding gets a 500 and
 * an error log line: that is always a bug.
 *
 * Streaming responses (SSE) use http_respond_stream(): the producer callback
 * is called whenever the socket can take more bytes; returning 0 parks the
 * connection (no thread, no polling) until http_stream_wake() is called from
 * any thread.
 */
#ifndef MERCATO_HTTP_HTTP_H
#define MERCATO_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/arena.h"
#include "util/str.h"

/* Methods as bits so a route set can be described by a mask (Allow header). */
#define HTTP_METHOD_LIST(X) \
    X(GET, 1)               \
    X(HEAD, 2)              \
    X(POST, 4)              \
    X(PUT, 8)               \
    X(PATCH, 16)            \
    X(DELETE, 32)           \
    X(OPTIONS, 64)

typedef enum {
#define X(name, bit) HTTP_##name = bit,
    HTTP_METHOD_LIST(X)
#undef X
} http_method_t;

/* "GET" -> HTTP_GET; 0 when unknown. */
int http_method_parse(const char *s);
const char *http_method_name(int m);

typedef struct http_req http_req_t;
typedef struct http_stream http_stream_t;

typedef void (*http_handler_fn)(http_req_t *req);

/* ---- request accessors (all borrowed until the request ends) ---- */
arena_t *http_arena(http_req_t *req);
int http_method(const http_req_t *req);
const char *http_path(const http_req_t *req);       /* decoded path, no query */
const char *http_route(const http_req_t *req);      /* route template, e.g. /v1/products/{id} */
const char *http_param(const http_req_t *req, const char *name); /* path parameter */
const char *http_query(const http_req_t *req, const char *name); /* first value or NULL */
/* All query pairs in order (for repeated keys such as ?tag=a&tag=b). */
size_t http_query_count(const http_req_t *req);
void http_query_at(const http_req_t *req, size_t i, const char **name, const char **value);
const char *http_header(const http_req_t *req, const char *name); /* case-insensitive */
str_t http_body(const http_req_t *req);
const char *http_request_id(const http_req_t *req);
const char *http_trace_id(const http_req_t *req);
const char *http_traceparent(const http_req_t *req); /* normalised, for propagation */
const char *http_client_ip(const http_req_t *req);
int http_route_flags(const http_req_t *req);
void *http_app(const http_req_t *req); /* the application context given to the server */

/* Per-request slot for the authentication layer (principal). */
void http_set_principal(http_req_t *req, void *principal);
void *http_principal(const http_req_t *req);
/* A few more per-request slots for cross-cutting layers (0: idempotency). */
#define HTTP_SLOTS 4
void http_set_slot(http_req_t *req, int slot, void *p);
void *http_slot(const http_req_t *req, int slot);

/* Parses the body as a JSON object.  On success stores a new reference in
 * *out (released when the request ends) and returns 0.  Otherwise it has
 * already answered (415 wrong content type, 400 invalid JSON with line and
 * column, 400 when not an object) and returns -1. */
int http_json_body(http_req_t *req, json_t **out);

/* ---- responses: call exactly one respond function per request ---- */
/* Adds a response header (copied). */
void http_set_header(http_req_t *req, const char *name, const char *value);
/* Serialises body (reference stolen) as application/json. */
void http_respond_json(http_req_t *req, int status, json_t *body);
/* Sends bytes (copied) with a content type; NULL type for no body header. */
void http_respond_bytes(http_req_t *req, int status, const char *content_type, const void *data,
                        size_t len);
/* Empty body (204, 304 ...). */
void http_respond_empty(http_req_t *req, int status);
/* RFC 9457 problem+json: type is a slug under https://mercato.dev/problems/;
 * detail may be NULL; errors (reference stolen, may be NULL) becomes "errors". */
void http_respond_problem(http_req_t *req, int status, const char *type_slug, const char *title,
                          const char *detail);
void http_respond_problem_errors(http_req_t *req, int status, const char *type_slug,
                                 const char *title, const char *detail, json_t *errors);
/* Like http_respond_problem with extra members merged into the body (stolen). */
void http_respond_problem_ext(http_req_t *req, int status, const char *type_slug,
                              const char *title, const char *detail, json_t *extra);
bool http_responded(const http_req_t *req);
int http_status(const http_req_t *req);
/* The response body and content type as sent (borrowed until the request
 * ends); NULL for streams and empty bodies. */
const char *http_response_body(const http_req_t *req, size_t *len, const char **content_type);

/* Conditional GET: sets ETag (a strong tag computed from body bytes) and
 * answers 304 when If-None-Match matches; otherwise 200 with the JSON bytes. */
void http_respond_json_etag(http_req_t *req, const char *json, size_t len);
/* The same with a validator computed earlier by http_etag_of(), for bodies
 * kept in a cache (hashing a 30 KB answer on every hit cost as much as
 * sending it). */
#define HTTP_ETAG_LEN 24
void http_etag_of(char out[HTTP_ETAG_LEN], const char *body, size_t len);
void http_respond_json_tagged(http_req_t *req, const char *json, size_t len, const char *etag);

/* ---- streaming ---- */
/* Produces up to max bytes into buf.  Returns >0 bytes written, 0 for "nothing
 * now" (the connection parks until http_stream_wake), or -1 to end the body. */
typedef ssize_t (*http_stream_read_fn)(void *ctx, char *buf, size_t max);
/* Called exactly once when the response is done (client gone or ended). */
typedef void (*http_stream_free_fn)(void *ctx);

/* Starts a chunked streaming response.  Returns the stream handle, valid
 * until free_fn has run; the caller's free_fn must unregister the handle from
 * any waker before returning. */
http_stream_t *http_respond_stream(http_req_t *req, int status, const char *content_type,
                                   http_stream_read_fn read_fn, http_stream_free_fn free_fn,
                                   void *ctx);
/* Thread-safe: makes the stream producer run again soon. */
void http_stream_wake(http_stream_t *s);
/* True once the server is shutting down; producers should end their body. */
bool http_shutting_down(void);

#endif
