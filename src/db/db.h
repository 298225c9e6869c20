/*
 * db.h — the storage interface: one API over SQLite and PostgreSQL.
 *
 * DESIGN
 * A db_t is chosen by URL ("sqlite:PATH" or "postgres://...").  Callers
 * borrow a connection (db_acquire), prepare statements from static db_sql_t
 * descriptors, bind parameters, step through rows and reset.  SQL is written
 * once with PostgreSQL-style placeholders ($1, $2 ...); the SQLite backend
 * rewrites them to ?1, ?2.  Where the dialects differ, a descriptor carries
 * both texts side by side (DB_SQL2) so a reviewer sees them together.
 *
 * Connections: SQLite uses one connection per thread (opened lazily, WAL,
 * busy timeout, foreign keys on) and serialises writers inside the process
 * with a mutex so threads never spin on SQLITE_BUSY.  PostgreSQL uses a
 * bounded pool; a thread that acquires twice gets the same connection.
 * Statements are prepared once per connection and cached by descriptor.
 *
 * Types: only integers (64-bit) and text cross this interface.  Booleans are
 * integers 0/1, times are integer epoch milliseconds, JSON is text.
 *
 * Errors: functions return DB_OK (0), DB_ROW (1, from db_step) or a negative
 * code; DB_EBUSY means "retry the transaction" (SQLite busy/locked,
 * PostgreSQL serialization failure or deadlock); DB_ECONSTRAINT a unique,
 * foreign-key or check violation.  db_errmsg() has the driver's text.
 */
#ifndef MERCATO_DB_DB_H
#define MERCATO_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { DB_SQLITE = 1, DB_POSTGRES = 2 } db_kind_t;

#define DB_OK 0
#define DB_DONE 0
#define DB_ROW 1
#define DB_ERR (-1)
#define DB_EBUSY (-2)
#define DB_ECONSTRAINT (-3)
#define DB_ENOCONN (-4)

typedef struct db db_t;
typedef struct db_conn db_conn_t;
typedef struct db_stmt db_stmt_t;

/* A statement descriptor; must have static storage (its address keys the
 * per-connection statement cache). */
typedef struct db_sql {
    const char *sqlite;
    const char *pg;
} db_sql_t;

#define DB_SQL(name, text) static const db_sql_t name = { text, text }
#define DB_SQL2(name, sqlite_text, pg_text) static const db_sql_t name = { sqlite_text, pg_text }

typedef struct db_opts {
    int pool_size;        /* PostgreSQL: max connections (default 16) */
    int busy_timeout_ms;  /* SQLite busy timeout / PG pool wait (default 5000) */
    int group_max;        /* SQLite: most db_tx calls committed together (default 64; 1 = each alone) */
} db_opts_t;

/* Opens a database by URL.  0 ok; -1 with a message in err (errlen bytes). */
int db_open(db_t **out, const char *url, const db_opts_t *opts, char *err, size_t errlen);
/* Closes every connection; all threads must have released theirs. */
void db_close(db_t *db);
db_kind_t db_kind(const db_t *db);
const char *db_kind_name(const db_t *db);

/* Borrows a connection for this thread (nested calls return the same one).
 * NULL when the pool is exhausted past the wait or the server is down. */
db_conn_t *db_acquire(db_t *db);
void db_release(db_conn_t *c);
db_t *db_of(db_conn_t *c);
db_kind_t db_conn_kind(const db_conn_t *c);
/* SQLite keeps a connection bound to each thread that used one (its schema,
 * statements and cache, ~170 KB) until the thread exits.  A thread that is
 * done with the database for a long while (the main thread after start-up,
 * waiting for a signal) closes it here; a later db_acquire opens a new one.
 * Nothing to do on PostgreSQL, whose connections go back to the pool. */
void db_thread_done(db_t *db);
/* Liveness check for /readyz: runs SELECT 1.  0 ok. */
int db_ping(db_t *db);

/* Transactions.  db_begin starts a write transaction (SQLite: BEGIN
 * IMMEDIATE under the process writer lock); db_begin_read a read one. */
int db_begin(db_conn_t *c);
int db_begin_read(db_conn_t *c);
int db_commit(db_conn_t *c);
int db_rollback(db_conn_t *c);
bool db_in_tx(const db_conn_t *c);
/* Per-transaction marks for work that must happen once per transaction
 * (e.g. taking an advisory lock): returns true the first time bit is marked
 * in the current transaction, false afterwards.  Marks clear at commit and
 * rollback. */
bool db_tx_mark(db_conn_t *c, unsigned bit);

/* PostgreSQL LISTEN on its own connection (NULL for SQLite, or when the
 * connection fails). db_listener_wait() returns 1 when a notification
 * arrived within timeout_ms, 0 on timeout, -1 when the connection broke (it
 * reconnects on the next call). */
typedef struct db_listener db_listener_t;
db_listener_t *db_listen(db_t *db, const char *channel);
int db_listener_wait(db_listener_t *l, int timeout_ms);
void db_listener_free(db_listener_t *l);

/* A process-wide function called after every successful commit with the
 * marks its transaction set (db_tx_mark), or by db_notify_commit() for an
 * autocommit statement. It runs on the committing thread: keep it to a flag
 * and a signal. NULL clears it. */
typedef void (*db_commit_hook_fn)(unsigned marks);
void db_set_commit_hook(db_commit_hook_fn fn);
void db_notify_commit(unsigned marks);

/* Runs fn inside a write transaction, retrying up to 10 times on DB_EBUSY
 * (so fn must not keep side effects outside the database between tries).
 * fn returns 0 to commit, anything else to roll back; that value (or a
 * commit error) is returned.
 *
 * On SQLite, calls from several threads are committed in groups: the first
 * caller becomes the leader and runs, on the leaders' connection, every fn
 * queued meanwhile in one transaction (a fn that fails rolls back only its
 * own work: the group then runs again with each fn in a savepoint), then
 * commits once and wakes the others.
 * So fn may run on another thread than its caller's (with the caller's log
 * context): it must use the connection it is given, not thread-local
 * state. db_tx returns only after the commit, as before. */
typedef int (*db_tx_fn)(db_conn_t *c, void *ctx);
int db_tx(db_t *db, db_tx_fn fn, void *ctx);

/* Statements.  The returned statement is borrowed until db_reset(); binds
 * are 1-based, columns 0-based.  Text passed to db_bind_text must stay valid
 * until the first db_step. */
db_stmt_t *db_prepare(db_conn_t *c, const db_sql_t *q);
void db_bind_int(db_stmt_t *st, int idx, int64_t v);
void db_bind_text(db_stmt_t *st, int idx, const char *s); /* NULL binds SQL NULL */
void db_bind_textn(db_stmt_t *st, int idx, const char *s, size_t n);
void db_bind_null(db_stmt_t *st, int idx);
/* DB_ROW, DB_DONE or a negative error. */
int db_step(db_stmt_t *st);
int db_col_count(db_stmt_t *st);
bool db_col_is_null(db_stmt_t *st, int col);
int64_t db_col_int(db_stmt_t *st, int col);
/* NULL for SQL NULL; valid until the next step or reset. */
const char *db_col_text(db_stmt_t *st, int col);
size_t db_col_len(db_stmt_t *st, int col);
/* Rows changed by the statement's last execution. */
int64_t db_changes(db_stmt_t *st);
/* Releases results and bindings; the statement returns to the cache. */
void db_reset(db_stmt_t *st);

/* Convenience: prepare + bind from a format + step once.  fmt has one char
 * per parameter: 'i' int, 'L' int64_t, 's' const char * (NULL = SQL NULL),
 * 'N' SQL NULL (no argument).  db_exec returns rows changed (>= 0) or an
 * error and resets the statement; db_query returns the stepped statement
 * (caller reads the row, steps further and must db_reset), with *rc set to
 * DB_ROW, DB_DONE or an error (then NULL is returned). */
int64_t db_exec(db_conn_t *c, const db_sql_t *q, const char *fmt, ...);
db_stmt_t *db_query(db_conn_t *c, const db_sql_t *q, int *rc, const char *fmt, ...);

/* Purges in batches: runs q (a DELETE or UPDATE of at most `batch` rows,
 * "... WHERE id IN (SELECT id ... LIMIT $n)", $n the parameter after fmt's,
 * bound to batch here) again while a run changed `batch` rows, each run
 * its own statement outside any transaction (on SQLite each takes and
 * releases the write lock, so the writers of requests go between the
 * batches instead of waiting for one long statement).  Returns the rows
 * changed in all or a negative error. */
#define DB_PURGE_BATCH 1000
int64_t db_exec_batches(db_conn_t *c, const db_sql_t *q, int64_t batch, const char *fmt, ...);

/* An INSERT of one row that answers the row's integer key: the PostgreSQL
 * text ends with "RETURNING <key>", the SQLite text has no RETURNING and
 * the key is the connection's last insert rowid (SQLite keeps RETURNING's
 * rows in a temporary table until the statement ends: ~2.5 us more per
 * insert, and the event log and the job queue insert several per order).
 * Returns the key, 0 when no row was inserted (ON CONFLICT DO NOTHING), or
 * a negative error. */
int64_t db_insert_id(db_conn_t *c, const db_sql_t *q, const char *fmt, ...);

/* Runs a multi-statement script without parameters (migrations). */
int db_exec_script(db_conn_t *c, const char *sql);

/* The last error text on this connection (borrowed). */
const char *db_errmsg(db_conn_t *c);

/* Process-wide statistics for /metrics. */
void db_register_metrics(db_t *db);

#endif
