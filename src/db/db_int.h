/*
 * db_int.h — internals shared by db.c and the two backends.  Not for use
 * outside src/db/.
 */
#ifndef MERCATO_DB_DB_INT_H
#define MERCATO_DB_DB_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "db/db.h"

struct db_stmt {
    db_conn_t *c;
    const db_sql_t *key;
    int busy;
    int temp;
    int64_t changes;
    /* sqlite */
    sqlite3_stmt *sq;
    int write_locked; /* autocommit write holding the process writer lock */
    int sq_state;     /* 0 fresh, 1 rows pending, 2 done */
    /* postgres */
    char name[20];
    int nparams;
    char **pvals;     /* owned copies, NULL for SQL NULL */
    PGresult *res;
    int row, nrows, executed;
};

typedef struct cache_slot {
    const db_sql_t *key;
    db_stmt_t *st;
} cache_slot_t;

struct db_conn {
    db_t *db;
    db_kind_t kind;
    sqlite3 *sq;
    PGconn *pg;
    int depth;
    int in_tx;
    int holds_write_lock;
    unsigned tx_flags; /* per-transaction flags, cleared at commit/rollback */
    cache_slot_t *slots;
    size_t cap, n;
    int next_stmt;
    char errmsg[512];
    db_conn_t *next_idle;
    int dead;
};

struct db {
    db_kind_t kind;
    char *path;     /* sqlite file */
    char *conninfo; /* postgres URL */
    int pool_size;
    int busy_ms;
    pthread_key_t tls;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    db_conn_t **all;
    size_t nall, capall;
    db_conn_t *idle;
    int nopen;
    int in_use;
    /* the in-process write lock: a ticket lock, so writers get it in the
     * order they asked (a plain mutex lets a busy group leader take it
     * again and again while the checkpointer or an autocommit writer waits) */
    pthread_mutex_t write_mu;
    pthread_cond_t write_cv;
    uint64_t write_next, write_serving;
    uint64_t write_since; /* monotonic ns when the write lock was taken */
    /* group commit of db_tx calls (SQLite) */
    int group_max;
    pthread_mutex_t group_mu;
    struct group_batch *batch_head, *batch_tail; /* groups waiting to be led, oldest first */
    int group_leading;
    int group_careful; /* groups left to run the careful way after an optimistic pass failed (leader only) */
    db_conn_t *writer; /* the group leaders' connection (its page cache stays warm) */
    struct sq_ckpt *ckpt; /* SQLite: the background checkpointer (sqlite.c) */
    /* statistics */
    uint64_t commits, rollbacks, retries, pool_waits, errors;
    uint64_t group_reruns; /* optimistic group passes rolled back and run again with savepoints */
    uint64_t write_locks, write_wait_ns, write_held_ns; /* SQLite writer lock */
    uint64_t groups, grouped;                           /* group commits, db_tx calls in them */
    uint64_t lead_ns, lead_cpu_ns; /* group leaders' time leading: wall, and the thread's CPU */
    uint64_t ckpts, ckpt_frames, ckpt_ns, ckpt_restarts; /* background checkpoints */
    uint64_t ckpt_lock_ns; /* of ckpt_ns, holding the write lock */
};

/* callers waiting for the next group commit (for tests) */
int db_group_queued(db_t *db);

/* SQLite's in-process writer lock, with its wait and hold time counted */
void db_write_lock(db_conn_t *c);
void db_write_unlock(db_conn_t *c);

/* backends */
int dbsq_open_conn(db_t *db, db_conn_t *c);
void dbsq_close_conn(db_conn_t *c);
int dbsq_prepare(db_stmt_t *st);
int dbsq_step(db_stmt_t *st);
void dbsq_reset(db_stmt_t *st);
void dbsq_finalize(db_stmt_t *st);
int dbsq_exec_script(db_conn_t *c, const char *sql);
void dbsq_ckpt_stop(db_t *db); /* joins the checkpointer, if it was started */

int dbpg_open_conn(db_t *db, db_conn_t *c);
void dbpg_close_conn(db_conn_t *c);
int dbpg_prepare(db_stmt_t *st);
int dbpg_step(db_stmt_t *st);
void dbpg_reset(db_stmt_t *st);
void dbpg_finalize(db_stmt_t *st);
int dbpg_exec_script(db_conn_t *c, const char *sql);
/* maps a failed PGresult to a DB_* code and records the message */
int dbpg_error(db_conn_t *c, PGresult *res);

void db_set_err(db_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
