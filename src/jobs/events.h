/*
 * events.h — the event log: an append-only, ordered table of domain events
 * written in the same transaction as the change they describe (the
 * transactional outbox).
 *
 * DESIGN
 * Ids are monotonic and, once visible, never get a smaller id committed
 * behind them: on PostgreSQL an append takes a transaction-level advisory
 * lock, so event-writing transactions commit in id order (held only from the
 * first append to commit; append late in the transaction); on SQLite there
 * is a single writer anyway.  That makes "everything after id N" a complete
 * answer, which is what consumer cursors and SSE Last-Event-ID rely on.
 *
 * Consumers read by cursor (event_consumers table), at least once: a
 * consumer must be idempotent because a crash between handling and saving
 * the cursor replays the tail.
 */
#ifndef MERCATO_JOBS_EVENTS_H
#define MERCATO_JOBS_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "db/db.h"

/* The transaction mark (db_tx_mark) of a transaction that appended an
 * event: the commit hook sees it, so the job runtime hands new events to
 * its consumers without waiting for its next poll. */
#define EVENTS_TXMARK_APPENDED 0x2u
/* PostgreSQL: every transaction that appends events notifies this channel
 * (delivered at commit), so other processes' consumers wake at once. */
#define EVENTS_CHANNEL "mercato_events"

typedef struct event {
    int64_t id;
    const char *type;     /* "order.created", "product.published" ... */
    const char *subject;  /* the id of the object it is about */
    const char *actor;    /* who caused it (user/client id, "system") or NULL */
    const char *owner;    /* the account it concerns (a customer's usr_ id), or NULL;
                             /v1/me/stream shows a user the events they own */
    const char *payload;  /* JSON object text */
    int64_t created_at;   /* epoch ms */
} event_t;

/* Appends an event in the caller's transaction (payload borrowed; NULL is
 * {}).  Returns the event id (> 0) or a negative DB_* error. */
int64_t event_append(db_conn_t *c, const char *type, const char *subject, const char *actor,
                     json_t *payload);
/* The same with the account the event concerns (see event_t.owner). */
int64_t event_append_owned(db_conn_t *c, const char *type, const char *subject, const char *actor,
                           const char *owner, json_t *payload);

/* Calls fn for up to limit events with id > after_id, in id order.  When
 * subject is non-NULL only that subject's events.  fn returns non-zero to
 * stop early.  Returns the number of events visited or a negative error.
 * The event's strings are valid only during the callback. */
typedef int (*event_fn)(const event_t *ev, void *ctx);
int event_read(db_conn_t *c, int64_t after_id, const char *subject, int limit, event_fn fn, void *ctx);
/* Like event_read, for the events owned by one account. */
int event_read_owner(db_conn_t *c, int64_t after_id, const char *owner, int limit, event_fn fn, void *ctx);

/* The newest event id (0 when empty). */
int64_t event_last_id(db_conn_t *c);

/* Per-consumer cursors. */
int event_cursor_get(db_conn_t *c, const char *consumer, int64_t *out);
int event_cursor_set(db_conn_t *c, const char *consumer, int64_t last_id);

#endif
