/*
 * live.h — live updates: the Server-Sent Events hub and in-app
 * notifications (with the order emails that go with them).
 *
 * DESIGN
 * The event log is the only source.  One tailer thread per process reads
 * it by id (a short poll: events from every instance arrive the same way)
 * and fans each new event out to the open streams subscribed to its owner
 * (/v1/me/stream) or its subject (/v1/orders/{id}/stream).  A stream is a
 * parked libmicrohttpd connection with a small bounded byte buffer, not a
 * thread: the tailer appends formatted SSE bytes and wakes the connection
 * (http_stream_wake); the producer callback drains the buffer and parks it
 * again when empty.  A client that lets its buffer overflow gets a final
 * "reconnect" event and is disconnected; it resumes with Last-Event-ID and
 * the gap is replayed from the event log, so nothing is lost.
 *
 * Notifications are a shared event consumer (jobs_consume_events): a table
 * defined once (notify.c) maps customer-relevant event types to a
 * notification row and, where a customer should get mail, to a templated
 * email enqueued in the same transaction.
 */
#ifndef MERCATO_LIVE_LIVE_H
#define MERCATO_LIVE_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "db/db.h"
#include "http/router.h"
#include "jobs/events.h"
#include "jobs/runtime.h"

typedef struct live_opts {
    int heartbeat_s;    /* comment line to every stream this often */
    int retry_ms;       /* the "retry:" hint sent at stream start */
    size_t buffer_max;  /* bytes queued per stream before it is dropped */
    int poll_ms;        /* tailer poll interval */
    int max_streams;    /* open streams per process (503 beyond) */
} live_opts_t;

/* Starts the hub and its tailer thread (positioned at the newest event).
 * 0 ok, -1 when the thread cannot start.  db borrowed until live_stop. */
int live_start(db_t *db, const live_opts_t *opts);
/* Stops the tailer; call after the HTTP server has ended every stream. */
void live_stop(void);

/* Mounts the stream and notification routes. */
void live_routes(router_t *r);
/* Registers the notification consumer on the job runtime. */
void live_jobs(jobs_t *rt, app_t *app);

/* `mercato events append|tail ...` (operator tool; see docs/live.md). */
int live_cli(app_t *app, int nrest, char **rest);

/* ---- hub internals shared with the handlers (hub.c) ---- */
typedef struct live_sub live_sub_t;
#define LIVE_BY_OWNER 1
#define LIVE_BY_SUBJECT 2

/* Registers a stream subscription for key (owner or subject id) and
 * replays, from db, the matching events with id > after_id up to the
 * hub's position; events committed meanwhile are queued behind the replay.
 * Returns NULL when max_streams are open.  Freed by live_sub_free. */
live_sub_t *live_sub_open(db_conn_t *c, int kind, const char *key, int64_t after_id);
/* Starts the HTTP stream for a subscription (takes ownership of sub). */
void live_sub_attach(http_req_t *req, live_sub_t *sub);

/* Parses a Last-Event-ID value (client bytes): a decimal event id,
 * 0..INT64_MAX, nothing else.  0 ok with *out set; -1 otherwise. */
int live_parse_event_id(const char *s, size_t len, int64_t *out);
/* Parses a notification list cursor ("n" + event id).  0 ok; -1 otherwise. */
int live_parse_cursor(const char *s, size_t len, int64_t *out);

/* Formats one event as an SSE message into b (id, event, data lines). */
struct buf;
void live_sse_format(struct buf *b, const event_t *ev);

#endif
