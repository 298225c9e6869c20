/*
 * test_db.c — the storage interface on the configured backend: statements,
 * types, transactions and retry, error mapping, migrations, concurrency,
 * and the event log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"
#include "db/db_int.h" /* the group-commit queue, to wait for it in a test */
#include "db/migrate.h"
#include "db/sqlite_vfs.h"

#include <sqlite3.h>
#include <string.h>
#include "jobs/events.h"
#include "testdb.h"

static db_t *open_fresh(void)
{
    db_t *db = NULL;
    char err[256];
    const char *url = testdb_new();
    assert_int_equal(db_open(&db, url, NULL, err, sizeof err), 0);
    int applied;
    assert_int_equal(db_migrate(db, &applied, err, sizeof err), 0);
    assert_true(applied >= 1);
    return db;
}

/* the SQLite-only tests: skipped on PostgreSQL */
static db_t *open_fresh_sqlite(void)
{
    db_t *db = open_fresh();
    if (db_kind(db) != DB_SQLITE) {
        db_close(db);
        skip();
    }
    return db;
}

DB_SQL(q_mk, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n BIGINT)");
DB_SQL(q_ins, "INSERT INTO t (id, name, n) VALUES ($1, $2, $3)");
DB_SQL(q_sel, "SELECT id, name, n FROM t WHERE id = $1");
DB_SQL(q_sel_all, "SELECT id FROM t ORDER BY id");
DB_SQL(q_twice, "SELECT CAST($1 AS BIGINT) + CAST($1 AS BIGINT)");
DB_SQL(q_count, "SELECT COUNT(*) FROM t");
DB_SQL(q_inc, "UPDATE t SET n = n + 1 WHERE id = $1");

static void test_statements_and_types(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    db_conn_t *c = db_acquire(db);
    assert_non_null(c);
    assert_int_equal(db_exec_script(c, q_mk.sqlite), 0);
    assert_int_equal(db_exec(c, &q_ins, "isL", 1, "wörld ✓", (int64_t)9007199254740993LL), 1);
    assert_int_equal(db_exec(c, &q_ins, "iNL", 2, (int64_t)-5), 1);
    int rc;
    db_stmt_t *st = db_query(c, &q_sel, &rc, "i", 1);
    assert_non_null(st);
    assert_int_equal(rc, DB_ROW);
    assert_int_equal(db_col_int(st, 0), 1);
    assert_string_equal(db_col_text(st, 1), "wörld ✓");
    assert_int_equal(db_col_len(st, 1), strlen("wörld ✓"));
    assert_true(db_col_int(st, 2) == 9007199254740993LL);
    assert_int_equal(db_step(st), DB_DONE);
    db_reset(st);
    st = db_query(c, &q_sel, &rc, "i", 2);
    assert_int_equal(rc, DB_ROW);
    assert_true(db_col_is_null(st, 1));
    assert_null(db_col_text(st, 1));
    assert_int_equal(db_col_int(st, 2), -5);
    db_reset(st);
    st = db_query(c, &q_sel, &rc, "i", 3);
    assert_non_null(st);
    assert_int_equal(rc, DB_DONE);
    db_reset(st);
    /* the same placeholder twice */
    st = db_query(c, &q_twice, &rc, "i", 21);
    assert_int_equal(rc, DB_ROW);
    assert_int_equal(db_col_int(st, 0), 42);
    db_reset(st);
    /* unique violation maps to DB_ECONSTRAINT */
    assert_int_equal(db_exec(c, &q_ins, "isL", 3, "wörld ✓", (int64_t)0), DB_ECONSTRAINT);
    /* a statement in use is not handed out twice */
    st = db_query(c, &q_sel_all, &rc, "");
    assert_int_equal(rc, DB_ROW);
    db_stmt_t *st2 = db_query(c, &q_sel_all, &rc, "");
    assert_non_null(st2);
    assert_ptr_not_equal(st, st2);
    assert_int_equal(db_col_int(st2, 0), 1);
    db_reset(st2);
    assert_int_equal(db_col_int(st, 0), 1);
    assert_int_equal(db_step(st), DB_ROW);
    assert_int_equal(db_col_int(st, 0), 2);
    db_reset(st);
    /* nested acquire returns the same connection */
    db_conn_t *c2 = db_acquire(db);
    assert_ptr_equal(c, c2);
    db_release(c2);
    db_release(c);
    assert_int_equal(db_ping(db), 0);
    db_close(db);
}

static int tx_insert(db_conn_t *c, void *ctx)
{
    int *v = ctx;
    if (db_exec(c, &q_ins, "isL", *v, NULL, (int64_t)0) < 0) return DB_ERR;
    return *v == 99 ? 7 : 0; /* 7: an application-level abort */
}

static void test_transactions(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec_script(c, q_mk.sqlite), 0);
    assert_int_equal(db_begin(c), 0);
    assert_true(db_in_tx(c));
    assert_int_equal(db_exec(c, &q_ins, "isL", 1, "a", (int64_t)0), 1);
    assert_int_equal(db_rollback(c), 0);
    assert_false(db_in_tx(c));
    int rc;
    db_stmt_t *st = db_query(c, &q_count, &rc, "");
    assert_int_equal(db_col_int(st, 0), 0);
    db_reset(st);
    assert_int_equal(db_begin(c), 0);
    assert_int_equal(db_begin(c), DB_ERR); /* no nesting */
    assert_int_equal(db_exec(c, &q_ins, "isL", 1, "a", (int64_t)0), 1);
    assert_int_equal(db_commit(c), 0);
    db_release(c);
    int v = 5;
    assert_int_equal(db_tx(db, tx_insert, &v), 0);
    v = 99;
    assert_int_equal(db_tx(db, tx_insert, &v), 7);
    c = db_acquire(db);
    st = db_query(c, &q_count, &rc, "");
    assert_int_equal(db_col_int(st, 0), 2); /* ids 1 and 5; 99 rolled back */
    db_reset(st);
    assert_true(db_tx_mark(c, 1) == false || true); /* outside a tx marks are meaningless but harmless */
    db_release(c);
    db_close(db);
}

typedef struct {
    db_t *db;
    int n;
} inc_ctx_t;

static int tx_inc(db_conn_t *c, void *ctx)
{
    (void)ctx;
    int64_t r = db_exec(c, &q_inc, "i", 1);
    return r == 1 ? 0 : (r < 0 ? (int)r : DB_ERR);
}

static void *inc_thread(void *arg)
{
    inc_ctx_t *ic = arg;
    for (int i = 0; i < ic->n; i++)
        if (db_tx(ic->db, tx_inc, NULL) != 0) abort();
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec_script(c, q_mk.sqlite), 0);
    assert_int_equal(db_exec(c, &q_ins, "isL", 1, "counter", (int64_t)0), 1);
    db_release(c);
    pthread_t th[4];
    inc_ctx_t ic = { db, 300 };
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, inc_thread, &ic);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_sel, &rc, "i", 1);
    assert_int_equal(db_col_int(st, 2), 1200);
    db_reset(st);
    db_release(c);
    db_close(db);
}


/* ---- group commit: many threads' transactions, each its own outcome ---- */

DB_SQL(q_mk2, "CREATE TABLE g (name TEXT PRIMARY KEY, owner INTEGER NOT NULL)");
DB_SQL(q_g_ins, "INSERT INTO g (name, owner) VALUES ($1, $2)");
DB_SQL(q_g_count, "SELECT COUNT(*) FROM g");

typedef struct {
    db_t *db;
    int thread, iter;
    int committed, failed, dup;
} gctx_t;

enum { G_THREADS = 8, G_ITERS = 150, G_FAIL = 42 };

static int g_tx(db_conn_t *c, void *arg)
{
    gctx_t *g = arg;
    /* a fn that asks for "its" connection gets the one in the transaction */
    db_conn_t *again = db_acquire(g->db);
    int same = again == c;
    db_release(again);
    if (!same || !db_in_tx(c)) return -100;
    char name[64];
    snprintf(name, sizeof name, "t%d-i%d", g->thread, g->iter);
    if (db_exec(c, &q_g_ins, "si", name, g->thread) != 1) return DB_ERR;
    if (db_exec(c, &q_inc, "i", 1) != 1) return DB_ERR;
    if (g->iter % 5 == 4) {
        /* a duplicate: its whole transaction goes, not the others' */
        int64_t n = db_exec(c, &q_g_ins, "si", name, g->thread);
        return n < 0 ? (int)n : DB_ERR;
    }
    if (g->iter % 3 == 2) return G_FAIL; /* the caller's own reason to roll back */
    return 0;
}

static void *g_thread(void *arg)
{
    gctx_t *g = arg;
    for (g->iter = 0; g->iter < G_ITERS; g->iter++) {
        int rc = db_tx(g->db, g_tx, g);
        if (rc == 0) g->committed++;
        else if (rc == G_FAIL) g->failed++;
        else if (rc == DB_ECONSTRAINT) g->dup++;
        else abort();
    }
    return NULL;
}

typedef struct {
    db_t *db;
    int wait_for; /* the leader waits until this many callers queue behind it */
    int in;       /* set once the leader runs its fn */
} hold_ctx_t;

static int hold_tx(db_conn_t *c, void *arg)
{
    hold_ctx_t *h = arg;
    if (db_exec(c, &q_inc, "i", 1) != 1) return DB_ERR;
    __atomic_store_n(&h->in, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 5000 && db_group_queued(h->db) < h->wait_for; i++) usleep(1000);
    return 0;
}

static void *plain_thread(void *arg)
{
    if (db_tx(arg, tx_inc, NULL) != 0) abort();
    return NULL;
}

static void *hold_thread(void *arg)
{
    hold_ctx_t *h = arg;
    if (db_tx(h->db, hold_tx, h) != 0) abort();
    return NULL;
}

static void test_group_commit(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec_script(c, q_mk.sqlite), 0);
    assert_int_equal(db_exec_script(c, q_mk2.sqlite), 0);
    assert_int_equal(db_exec(c, &q_ins, "isL", 1, "counter", (int64_t)0), 1);
    db_release(c);

    /* every outcome is the caller's own, whatever group it rode in */
    pthread_t th[G_THREADS];
    gctx_t g[G_THREADS];
    for (int i = 0; i < G_THREADS; i++) {
        g[i] = (gctx_t){ .db = db, .thread = i };
        pthread_create(&th[i], NULL, g_thread, &g[i]);
    }
    int committed = 0;
    for (int i = 0; i < G_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(g[i].dup, G_ITERS / 5);
        assert_int_equal(g[i].committed + g[i].failed + g[i].dup, G_ITERS);
        committed += g[i].committed;
    }
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_g_count, &rc, "");
    assert_int_equal(rc, DB_ROW);
    assert_int_equal(db_col_int(st, 0), committed);
    db_reset(st);
    st = db_query(c, &q_sel, &rc, "i", 1);
    assert_int_equal(db_col_int(st, 2), committed);
    db_reset(st);
    db_release(c);

    /* callers that arrive while a group runs are committed together: the
     * leader's fn waits until three more are queued (SQLite only; on
     * PostgreSQL every transaction is its own) */
    if (db_kind(db) == DB_SQLITE) {
        uint64_t groups0 = db->groups, grouped0 = db->grouped;
        hold_ctx_t h = { db, 3, 0 };
        pthread_t lead, others[3];
        pthread_create(&lead, NULL, hold_thread, &h);
        while (!__atomic_load_n(&h.in, __ATOMIC_ACQUIRE)) usleep(1000); /* the leader is in its fn */
        for (int i = 0; i < 3; i++) pthread_create(&others[i], NULL, plain_thread, db);
        pthread_join(lead, NULL);
        for (int i = 0; i < 3; i++) pthread_join(others[i], NULL);
        assert_int_equal(db->groups - groups0, 2);   /* the leader's, then the three */
        assert_int_equal(db->grouped - grouped0, 4);
        c = db_acquire(db);
        st = db_query(c, &q_sel, &rc, "i", 1);
        assert_int_equal(db_col_int(st, 2), committed + 4);
        db_reset(st);
        db_release(c);
    }
    db_close(db);
}

/* ---- the WAL stays bounded under steady writes and readers (SQLite) ---- */

DB_SQL(q_mk3, "CREATE TABLE w (id INTEGER PRIMARY KEY, blob TEXT NOT NULL)");
DB_SQL(q_w_ins, "INSERT INTO w (blob) VALUES ($1)");
DB_SQL(q_w_count, "SELECT COUNT(*), SUM(LENGTH(blob)) FROM w");
DB_SQL(q_w_one, "SELECT LENGTH(blob) FROM w WHERE id = $1");

/* 36,000 rows of 3 KB, a page each: ~150 MB of WAL if it never restarted */
enum { W_THREADS = 4, W_ROWS = 9000 };

static char w_blob[3001];
static int w_stop;

static int w_tx(db_conn_t *c, void *arg)
{
    (void)arg;
    return db_exec(c, &q_w_ins, "s", w_blob) == 1 ? 0 : DB_ERR;
}

static void *w_writer(void *arg)
{
    for (int i = 0; i < W_ROWS; i++)
        if (db_tx(arg, w_tx, NULL) != 0) abort();
    return NULL;
}

static void *w_reader(void *arg)
{
    db_t *db = arg;
    db_conn_t *c = db_acquire(db);
    while (!__atomic_load_n(&w_stop, __ATOMIC_ACQUIRE)) {
        /* short read transactions, one after the other as requests do: each
         * holds a snapshot, which is what keeps a WAL from starting again */
        if (db_begin_read(c) != 0) abort();
        int rc;
        db_stmt_t *st = db_query(c, &q_w_one, &rc, "i", 1 + rand() % 100);
        if (!st || rc < 0) abort();
        db_reset(st);
        db_commit(c);
    }
    db_release(c);
    return NULL;
}

static void test_wal_bounded(void **state)
{
    (void)state;
    db_t *db = open_fresh_sqlite();
    memset(w_blob, 'x', sizeof w_blob - 1);
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec_script(c, q_mk3.sqlite), 0);
    db_release(c);
    w_stop = 0;
    pthread_t wr[W_THREADS], rd[2];
    for (int i = 0; i < 2; i++) pthread_create(&rd[i], NULL, w_reader, db);
    for (int i = 0; i < W_THREADS; i++) pthread_create(&wr[i], NULL, w_writer, db);
    for (int i = 0; i < W_THREADS; i++) pthread_join(wr[i], NULL);
    __atomic_store_n(&w_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) pthread_join(rd[i], NULL);

    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", db->path);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0);
    /* the checkpointer ran, and the WAL started again instead of holding
     * every page written.  Past the hold mark (16,000 pages, 64 MB) a
     * commit waits for the checkpointer's copy; below it the WAL's
     * high-water mark depends on how the threads were scheduled (up to
     * 56 MB seen with four busy loops beside the test; a 32 MB bound
     * failed once in a quiet `make test`), so the bound is the hold mark
     * and half again, well under the 150 MB of a WAL never restarted. */
    assert_true(db->ckpts > 0);
    assert_true(db->ckpt_restarts > 0);
    if (getenv("MERCATO_TEST_VERBOSE") || sb.st_size >= 96 * 1024 * 1024)
        fprintf(stderr, "WAL %lld bytes after %llu checkpoints (%llu pages, %llu restarts)\n", (long long)sb.st_size,
                (unsigned long long)db->ckpts, (unsigned long long)db->ckpt_frames,
                (unsigned long long)db->ckpt_restarts);
    assert_true(sb.st_size < 96 * 1024 * 1024);
    c = db_acquire(db);
    int rc;
    db_stmt_t *st = db_query(c, &q_w_count, &rc, "");
    assert_int_equal(db_col_int(st, 0), W_THREADS * W_ROWS);
    db_reset(st);
    db_release(c);
    db_close(db);
}

DB_SQL(q_mk_vfs, "CREATE TABLE v (id INTEGER PRIMARY KEY, blob TEXT)");
DB_SQL(q_ins_vfs, "INSERT INTO v (id, blob) VALUES ($1, $2)");
DB_SQL(q_del_vfs, "DELETE FROM v");

typedef struct {
    int rows;
    const char *blob;
} vfs_ctx_t;

static int vfs_fill(db_conn_t *c, void *arg)
{
    vfs_ctx_t *v = arg;
    for (int i = 0; i < v->rows; i++)
        if (db_exec(c, &q_ins_vfs, "is", 1000 + i, v->blob) != 1) return DB_ERR;
    return 0;
}

/* The mercato VFS writes a commit's WAL frames in one call, and they are in
 * the file (a connection that does not share the buffer, through SQLite's
 * default VFS, reads them) as soon as the commit returns; a commit larger
 * than the buffer goes out in pieces and is whole too. */
static void test_wal_coalesced(void **state)
{
    (void)state;
    db_t *db = open_fresh_sqlite();
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec_script(c, q_mk_vfs.sqlite), 0);
    db_release(c);
    static char blob[3001];
    memset(blob, 'b', sizeof blob - 1);
    uint64_t calls0, bytes0, calls1, bytes1;
    dbsq_vfs_stats(&calls0, &bytes0);
    vfs_ctx_t v = { .rows = 12, .blob = blob }; /* 12 pages and their parents */
    assert_int_equal(db_tx(db, vfs_fill, &v), 0);
    dbsq_vfs_stats(&calls1, &bytes1);
    assert_int_equal(calls1 - calls0, 1);
    uint64_t frames = (bytes1 - bytes0) / (4096 + 24);
    assert_true(frames >= 12);
    assert_int_equal((bytes1 - bytes0) % (4096 + 24), 0);

    c = db_acquire(db);
    assert_int_equal(db_exec(c, &q_del_vfs, ""), 12);
    db_release(c);
    v.rows = 60; /* ~250 KB of frames: more than one buffer */
    blob[0] = 'c';
    dbsq_vfs_stats(&calls0, &bytes0);
    assert_int_equal(db_tx(db, vfs_fill, &v), 0);
    dbsq_vfs_stats(&calls1, &bytes1);
    assert_true(calls1 - calls0 >= 2);

    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open_v2(db->path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw, "SELECT count(*), sum(length(blob)), min(substr(blob, 1, 1)) FROM v", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 60);
    assert_int_equal(sqlite3_column_int64(st, 1), 60 * 3000);
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "c");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA integrity_check", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    db_close(db);
}

DB_SQL(q_future, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)");

static void test_migrations_refuse_newer_database(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    int dbv = 0, binv = 0, applied = 0;
    char err[256];
    assert_int_equal(db_schema_version(db, &dbv, &binv), 0);
    assert_int_equal(dbv, binv);
    assert_int_equal(db_migrate(db, &applied, err, sizeof err), 0);
    assert_int_equal(applied, 0); /* idempotent */
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec(c, &q_future, ""), 1);
    db_release(c);
    assert_int_equal(db_migrate(db, &applied, err, sizeof err), -1);
    assert_non_null(strstr(err, "refusing"));
    db_close(db);
}

static int collect(const event_t *ev, void *ctx)
{
    int64_t *ids = ctx;
    ids[++ids[0]] = ev->id;
    return 0;
}

static void test_event_log(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    db_conn_t *c = db_acquire(db);
    json_t *p = json_pack("{s:i}", "n", 1);
    assert_int_equal(db_begin(c), 0);
    int64_t rolled = event_append(c, "test.rolled_back", "x_1", "system", p);
    assert_true(rolled > 0);
    db_rollback(c);
    assert_int_equal(db_begin(c), 0);
    int64_t a = event_append(c, "test.a", "x_1", "usr_1", p);
    int64_t b = event_append(c, "test.b", "x_2", NULL, NULL);
    assert_int_equal(db_commit(c), 0);
    int64_t d = event_append(c, "test.c", "x_1", NULL, p); /* autocommit */
    json_decref(p);
    assert_true(a > 0 && b > a && d > b);
    int64_t ids[16] = { 0 };
    assert_int_equal(event_read(c, 0, NULL, 10, collect, ids), 3);
    assert_int_equal(ids[0], 3);
    assert_true(ids[1] == a && ids[2] == b && ids[3] == d);
    memset(ids, 0, sizeof ids);
    assert_int_equal(event_read(c, 0, "x_1", 10, collect, ids), 2);
    assert_true(ids[1] == a && ids[2] == d);
    memset(ids, 0, sizeof ids);
    assert_int_equal(event_read(c, a, NULL, 1, collect, ids), 1);
    assert_true(ids[1] == b);
    assert_true(event_last_id(c) == d);
    int64_t cur = -1;
    assert_int_equal(event_cursor_get(c, "tester", &cur), 0);
    assert_int_equal(cur, 0);
    assert_int_equal(event_cursor_set(c, "tester", b), 0);
    assert_int_equal(event_cursor_get(c, "tester", &cur), 0);
    assert_true(cur == b);
    db_release(c);
    db_close(db);
}

/* ---- purges in batches: each batch its own statement and write lock ---- */

DB_SQL(q_pb_mk, "CREATE TABLE pb (id INTEGER PRIMARY KEY, exp INTEGER NOT NULL)");
DB_SQL(q_pb_ins, "INSERT INTO pb (id, exp) VALUES ($1, $1)");
DB_SQL(q_pb_purge, "DELETE FROM pb WHERE id IN (SELECT id FROM pb WHERE exp < $1 LIMIT $2)");
DB_SQL(q_pb_count, "SELECT COUNT(*) FROM pb");

static int pb_fill(db_conn_t *c, void *arg)
{
    (void)arg;
    for (int i = 1; i <= 2500; i++)
        if (db_exec(c, &q_pb_ins, "i", i) != 1) return DB_ERR;
    return 0;
}

static int64_t pb_count(db_conn_t *c)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_pb_count, &rc, "");
    assert_non_null(st);
    int64_t n = db_col_int(st, 0);
    db_reset(st);
    return n;
}

static void test_exec_batches(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec_script(c, q_pb_mk.sqlite), 0);
    assert_int_equal(db_tx(db, pb_fill, NULL), 0);
    uint64_t locks0 = db->write_locks;
    /* 2,000 rows match: two full batches, then one that finds none */
    assert_int_equal(db_exec_batches(c, &q_pb_purge, 1000, "L", (int64_t)2001), 2000);
    if (db_kind(db) == DB_SQLITE) assert_int_equal(db->write_locks - locks0, 3);
    assert_int_equal(pb_count(c), 500);
    assert_int_equal(db_exec_batches(c, &q_pb_purge, 1000, "L", (int64_t)1000000), 500);
    assert_int_equal(pb_count(c), 0);
    /* not inside a transaction: it would be one long statement again */
    assert_int_equal(db_begin(c), 0);
    assert_true(db_exec_batches(c, &q_pb_purge, 1000, "L", (int64_t)1) < 0);
    db_rollback(c);
    db_release(c);
    db_close(db);
}

/* ---- db_insert_id: the new row's key on both backends, 0 for a conflict ---- */

DB_SQL2(q_ii_mk, "CREATE TABLE ii (id INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT NOT NULL UNIQUE)",
        "CREATE TABLE ii (id BIGSERIAL PRIMARY KEY, k TEXT NOT NULL UNIQUE)");
DB_SQL2(q_ii_ins, "INSERT INTO ii (k) VALUES ($1) ON CONFLICT DO NOTHING",
        "INSERT INTO ii (k) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id");
DB_SQL(q_ii_other, "INSERT INTO pb2 (v) VALUES ($1)");

static void test_insert_id(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    db_conn_t *c = db_acquire(db);
    assert_int_equal(db_exec_script(c, db_kind(db) == DB_SQLITE ? q_ii_mk.sqlite : q_ii_mk.pg), 0);
    int64_t a = db_insert_id(c, &q_ii_ins, "s", "a");
    int64_t b = db_insert_id(c, &q_ii_ins, "s", "b");
    assert_true(a > 0 && b > a);
    /* a conflict inserts nothing: 0, not the previous insert's key */
    assert_int_equal(db_insert_id(c, &q_ii_ins, "s", "a"), 0);
    assert_int_equal(db_begin(c), 0);
    int64_t d = db_insert_id(c, &q_ii_ins, "s", "d");
    assert_int_equal(db_commit(c), 0);
    assert_true(d > b);
    /* an error is an error */
    assert_true(db_insert_id(c, &q_ii_other, "s", "x") < 0);
    db_release(c);
    db_close(db);
}

static void test_bad_url(void **state)
{
    (void)state;
    db_t *db = NULL;
    char err[256];
    assert_int_equal(db_open(&db, "mysql://x", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "DATABASE_URL"));
    assert_int_equal(db_open(&db, "sqlite:/nonexistent-dir/x/y.db", NULL, err, sizeof err), -1);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statements_and_types),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_wal_bounded),
        cmocka_unit_test(test_wal_coalesced),
        cmocka_unit_test(test_migrations_refuse_newer_database),
        cmocka_unit_test(test_event_log),
        cmocka_unit_test(test_exec_batches),
        cmocka_unit_test(test_insert_id),
        cmocka_unit_test(test_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
