/*
 * events.c — the event log (see events.h).
 */
#include "jobs/events.h"

#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

/* the advisory lock that orders event-writing commits (arbitrary constant) */
#define TXMARK_EVENTS_LOCK 0x1u
/* the ordering lock, and a notification other processes receive at commit */
DB_SQL(q_lock, "SELECT pg_advisory_xact_lock(727100002), pg_notify('" EVENTS_CHANNEL "', '')");
DB_SQL2(q_append,
        "INSERT INTO events (type, subject, actor, owner, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        "INSERT INTO events (type, subject, actor, owner, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
        " RETURNING id");
DB_SQL(q_read_all, "SELECT id, type, subject, actor, owner, payload, created_at FROM events "
                   "WHERE id > $1 ORDER BY id LIMIT $2");
DB_SQL(q_read_subject, "SELECT id, type, subject, actor, owner, payload, created_at FROM events "
                       "WHERE subject = $1 AND id > $2 ORDER BY id LIMIT $3");
DB_SQL(q_read_owner, "SELECT id, type, subject, actor, owner, payload, created_at FROM events "
                     "WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3");
DB_SQL(q_last, "SELECT COALESCE(MAX(id), 0) FROM events");
DB_SQL(q_cursor_get, "SELECT last_id FROM event_consumers WHERE name = $1");
DB_SQL(q_cursor_set, "INSERT INTO event_consumers (name, last_id, updated_at) VALUES ($1, $2, $3) "
                     "ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id, updated_at = excluded.updated_at");

int64_t event_append(db_conn_t *c, const char *type, const char *subject, const char *actor, json_t *payload)
{
    return event_append_owned(c, type, subject, actor, NULL, payload);
}

int64_t event_append_owned(db_conn_t *c, const char *type, const char *subject, const char *actor,
                           const char *owner, json_t *payload)
{
    int rc;
    if (db_conn_kind(c) == DB_POSTGRES && !db_in_tx(c)) {
        /* the ordering lock only exists inside a transaction: make one */
        if ((rc = db_begin(c)) < 0) return rc;
        int64_t id = event_append_owned(c, type, subject, actor, owner, payload);
        if (id < 0) {
            db_rollback(c);
            return id;
        }
        rc = db_commit(c);
        return rc < 0 ? rc : id;
    }
    if (db_conn_kind(c) == DB_POSTGRES && db_tx_mark(c, TXMARK_EVENTS_LOCK)) {
        db_stmt_t *l = db_query(c, &q_lock, &rc, "");
        if (!l) return rc;
        db_reset(l);
    }
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    int64_t id = db_insert_id(c, &q_append, "sssssL", type, subject, actor, owner, text ? text : "{}", time_now_ms());
    free(text);
    if (id == 0) id = DB_ERR; /* no row, and no conflict clause to explain it */
    if (id > 0) {
        if (db_in_tx(c)) db_tx_mark(c, EVENTS_TXMARK_APPENDED);
        else db_notify_commit(EVENTS_TXMARK_APPENDED); /* autocommit: already durable */
    }
    return id;
}

static int read_rows(db_stmt_t *st, int rc, event_fn fn, void *ctx);

int event_read(db_conn_t *c, int64_t after_id, const char *subject, int limit, event_fn fn, void *ctx)
{
    int rc;
    db_stmt_t *st = subject ? db_query(c, &q_read_subject, &rc, "sLi", subject, after_id, limit)
                            : db_query(c, &q_read_all, &rc, "Li", after_id, limit);
    if (!st) return rc;
    return read_rows(st, rc, fn, ctx);
}

int event_read_owner(db_conn_t *c, int64_t after_id, const char *owner, int limit, event_fn fn, void *ctx)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_read_owner, &rc, "sLi", owner, after_id, limit);
    if (!st) return rc;
    return read_rows(st, rc, fn, ctx);
}

static int read_rows(db_stmt_t *st, int rc, event_fn fn, void *ctx)
{
    int n = 0;
    while (rc == DB_ROW) {
        event_t ev = {
            .id = db_col_int(st, 0),
            .type = db_col_text(st, 1),
            .subject = db_col_text(st, 2),
            .actor = db_col_text(st, 3),
            .owner = db_col_text(st, 4),
            .payload = db_col_text(st, 5),
            .created_at = db_col_int(st, 6),
        };
        n++;
        if (fn(&ev, ctx)) break;
        rc = db_step(st);
    }
    db_reset(st);
    return rc < 0 ? rc : n;
}

int64_t event_last_id(db_conn_t *c)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_last, &rc, "");
    if (!st) return rc;
    int64_t id = db_col_int(st, 0);
    db_reset(st);
    return id;
}

int event_cursor_get(db_conn_t *c, const char *consumer, int64_t *out)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_cursor_get, &rc, "s", consumer);
    if (!st) return rc;
    *out = rc == DB_ROW ? db_col_int(st, 0) : 0;
    db_reset(st);
    return 0;
}

int event_cursor_set(db_conn_t *c, const char *consumer, int64_t last_id)
{
    int64_t rc = db_exec(c, &q_cursor_set, "sLL", consumer, last_id, time_now_ms());
    return rc < 0 ? (int)rc : 0;
}
