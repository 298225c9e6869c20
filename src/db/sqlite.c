/*
 * sqlite.c — the SQLite backend of the storage interface.
 *
 * One connection per thread (SQLITE_OPEN_NOMUTEX), WAL journal,
 * synchronous=NORMAL (a committed transaction survives a process crash such
 * as kill -9; only an OS crash or power loss can drop the last commits),
 * foreign keys on, a busy timeout for other processes sharing the file.
 * Inside one process writers take db->write_mu before BEGIN IMMEDIATE, so
 * threads queue on a mutex instead of sleeping in SQLite's busy handler.
 *
 * Checkpoints (copying the WAL back into the database file) do not run in
 * the committing thread, as SQLite's automatic checkpoint would, holding
 * the write lock for every writer behind it: a background thread with its
 * own connection copies the WAL while writers go on (PASSIVE), then takes
 * the write lock only to copy the few frames appended meanwhile and to wait
 * (RESTART, at most CKPT_READER_WAIT_MS) for readers still on older
 * snapshots, so that the next writer starts the WAL again from its
 * beginning.  Without that wait, a steady stream of readers keeps some old
 * snapshot open at every moment and the WAL never restarts: it grows.
 * Writers faster than the disk (a bulk import) would grow it as well, so a
 * commit that finds the WAL past CKPT_HOLD_FRAMES waits for the copy in
 * progress to end (back-pressure, as SQLite's own checkpoint gives).
 * Placeholders "$N" are rewritten to "?N" when statements are prepared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_int.h"
#include "db/sqlite_vfs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* WAL frames (pages) after which the checkpointer runs; how long its last
 * step, holding the write lock, waits for readers of older snapshots */
#define CKPT_FRAMES 4000
#define CKPT_READER_WAIT_MS 20
/* WAL frames past which a committing writer waits for the checkpointer */
#define CKPT_HOLD_FRAMES (4 * CKPT_FRAMES)

struct sq_ckpt {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv, passed;
    int started, stop, wanted;
    int locking;     /* in, or waiting for, its step under the write lock */
    uint64_t passes; /* copies done without the write lock */
    db_conn_t conn;
};

static void *ckpt_main(void *arg);

/* after every commit on any connection: wake the checkpointer when the WAL
 * has grown past the mark (replaces SQLite's automatic checkpoint) */
static int wal_hook(void *arg, sqlite3 *sq, const char *name, int frames)
{
    (void)name;
    db_t *db = arg;
    if (frames < CKPT_FRAMES) return SQLITE_OK;
    struct sq_ckpt *k = __atomic_load_n(&db->ckpt, __ATOMIC_ACQUIRE);
    if (!k) {
        pthread_mutex_lock(&db->mu);
        if (!db->ckpt) {
            k = xcalloc(1, sizeof *k);
            pthread_mutex_init(&k->mu, NULL);
            pthread_cond_init(&k->cv, NULL);
            pthread_cond_init(&k->passed, NULL);
            k->conn.db = db;
            k->conn.kind = DB_SQLITE;
            if (dbsq_open_conn(db, &k->conn) == DB_OK) {
                sqlite3_busy_timeout(k->conn.sq, CKPT_READER_WAIT_MS);
                k->started = pthread_create(&k->thread, NULL, ckpt_main, k) == 0;
            }
            if (!k->started)
                log_error("db", "no background checkpointer (%s); writers checkpoint themselves",
                          k->conn.errmsg[0] ? k->conn.errmsg : "no thread");
            __atomic_store_n(&db->ckpt, k, __ATOMIC_RELEASE);
        }
        k = db->ckpt;
        pthread_mutex_unlock(&db->mu);
    }
    if (!k->started) {
        /* what SQLite's automatic checkpoint would have done */
        sqlite3_wal_checkpoint_v2(sq, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    pthread_mutex_lock(&k->mu);
    if (!k->wanted) {
        k->wanted = 1;
        pthread_cond_signal(&k->cv);
    }
    /* Back-pressure.  This thread holds the write lock (every in-process
     * commit does), so it must not wait for the step that needs it: only
     * for the copy that runs without it, and at most 2 s. */
    if (frames >= CKPT_HOLD_FRAMES && !k->locking && !k->stop) {
        uint64_t seen = k->passes;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        while (k->passes == seen && !k->locking && !k->stop)
            if (pthread_cond_timedwait(&k->passed, &k->mu, &until) != 0) break;
    }
    pthread_mutex_unlock(&k->mu);
    return SQLITE_OK;
}

/* The passive passes copy pages into the database file but sync it only
 * when they backfilled the whole WAL, which under steady writes they never
 * do: the sync of everything they wrote (~16 MB per round) fell to the
 * step under the write lock, 3-8 ms of every round's ~4-8 ms there on this
 * machine's disk.  Synced here first, without the lock, the step's own
 * sync has only its few pages left.  Durability is as before: the step
 * still syncs the WAL and the database file before the WAL restarts. */
static void sync_db_file(sqlite3 *sq)
{
    sqlite3_file *fp = NULL;
    if (sqlite3_file_control(sq, "main", SQLITE_FCNTL_FILE_POINTER, &fp) == SQLITE_OK && fp && fp->pMethods)
        fp->pMethods->xSync(fp, SQLITE_SYNC_NORMAL);
}

static void *ckpt_main(void *arg)
{
    struct sq_ckpt *k = arg;
    db_t *db = k->conn.db;
    sqlite3 *sq = k->conn.sq;
    int prev_log = 0, prev_done = 0;
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->wanted && !k->stop) pthread_cond_wait(&k->cv, &k->mu);
        if (k->stop) break;
        k->wanted = 0;
        pthread_mutex_unlock(&k->mu);

        uint64_t t0 = (uint64_t)time_mono_ns();
        int log = 0, done = 0;
        /* the bulk, while writers go on; then again, for the frames they
         * appended meanwhile (~10 times fewer), so the step under the write
         * lock below has only the last few to copy */
        int rc = sqlite3_wal_checkpoint_v2(sq, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc == SQLITE_OK) rc = sqlite3_wal_checkpoint_v2(sq, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc == SQLITE_OK) sync_db_file(sq);
        pthread_mutex_lock(&k->mu);
        k->passes++;
        k->locking = rc == SQLITE_OK;
        pthread_cond_broadcast(&k->passed);
        pthread_mutex_unlock(&k->mu);
        if (rc == SQLITE_OK) {
            /* the frames appended meanwhile, with writers held off, and the
             * readers of older snapshots waited for (briefly: a long report
             * query makes this round give up, not the writers wait), so the
             * whole WAL is in the file and the next writer restarts it */
            db_write_lock(&k->conn);
            uint64_t t1 = (uint64_t)time_mono_ns();
            rc = sqlite3_wal_checkpoint_v2(sq, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
            __atomic_fetch_add(&db->ckpt_lock_ns, (uint64_t)time_mono_ns() - t1, __ATOMIC_RELAXED);
            db_write_unlock(&k->conn);
            if (rc == SQLITE_OK) __atomic_fetch_add(&db->ckpt_restarts, 1, __ATOMIC_RELAXED);
            pthread_mutex_lock(&k->mu);
            k->locking = 0;
            /* the commits that asked for a round while this one ran were
             * about the WAL it just emptied: another round now would find
             * a few frames and pay the step's fixed cost (two fsyncs under
             * the write lock, ~2 ms here) for them; half of all rounds were
             * such */
            if (rc == SQLITE_OK) k->wanted = 0;
            pthread_mutex_unlock(&k->mu);
        }
        /* done counts from the start of the WAL: a restart starts it again */
        if (log < prev_log) prev_done = 0;
        if (done > prev_done) {
            __atomic_fetch_add(&db->ckpt_frames, (uint64_t)(done - prev_done), __ATOMIC_RELAXED);
            prev_done = done;
        }
        prev_log = log;
        if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY) { /* busy: readers kept the WAL from restarting */
            __atomic_fetch_add(&db->ckpts, 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&db->ckpt_ns, (uint64_t)time_mono_ns() - t0, __ATOMIC_RELAXED);
        } else {
            log_warn("db", "checkpoint failed: %s", sqlite3_errmsg(sq));
        }
        /* at most one round per 5 ms: a WAL that cannot restart yet keeps
         * asking after every commit */
        struct timespec pause = { 0, 5000000 };
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

void dbsq_ckpt_stop(db_t *db)
{
    struct sq_ckpt *k = db->ckpt;
    if (!k) return;
    if (k->started) {
        pthread_mutex_lock(&k->mu);
        k->stop = 1;
        pthread_cond_signal(&k->cv);
        pthread_cond_broadcast(&k->passed);
        pthread_mutex_unlock(&k->mu);
        pthread_join(k->thread, NULL);
    }
    dbsq_close_conn(&k->conn);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    pthread_cond_destroy(&k->passed);
    free(k);
    db->ckpt = NULL;
}

int dbsq_open_conn(db_t *db, db_conn_t *c)
{
    int rc = sqlite3_open_v2(db->path, &c->sq,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, dbsq_vfs_name());
    if (rc != SQLITE_OK) {
        db_set_err(c, "cannot open %s: %s", db->path, c->sq ? sqlite3_errmsg(c->sq) : sqlite3_errstr(rc));
        return DB_ERR;
    }
    sqlite3_extended_result_codes(c->sq, 1);
    sqlite3_busy_timeout(c->sq, db->busy_ms);
    const char *pragmas = "PRAGMA journal_mode=WAL;"
                          "PRAGMA synchronous=NORMAL;"
                          /* a WAL that grew (readers kept it from restarting)
                           * is cut back after the next restart */
                          "PRAGMA journal_size_limit=67108864;"
                          "PRAGMA foreign_keys=ON;"
                          "PRAGMA temp_store=MEMORY;"
                          "PRAGMA cache_size=-8000;"
                          /* no mmap: mapped database pages count in the
                           * process's RSS (a 350 MB catalog showed 280 MB
                           * resident against 29 MB of its own memory); reads
                           * go through SQLite's page cache and the kernel's */
                          "PRAGMA mmap_size=0;";
    char *err = NULL;
    if (sqlite3_exec(c->sq, pragmas, NULL, NULL, &err) != SQLITE_OK) {
        db_set_err(c, "cannot configure %s: %s", db->path, err ? err : "?");
        sqlite3_free(err);
        return DB_ERR;
    }
    sqlite3_wal_hook(c->sq, wal_hook, db);
    return DB_OK;
}

void dbsq_close_conn(db_conn_t *c)
{
    if (c->sq) sqlite3_close_v2(c->sq);
    c->sq = NULL;
}

static int map_rc(db_conn_t *c, int rc)
{
    int prim = rc & 0xff;
    db_set_err(c, "%s", sqlite3_errmsg(c->sq));
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) return DB_EBUSY;
    if (prim == SQLITE_CONSTRAINT) return DB_ECONSTRAINT;
    return DB_ERR;
}

/* "$12" -> "?12" outside string literals and quoted identifiers */
static char *rewrite(const char *sql)
{
    size_t n = strlen(sql);
    char *out = xmalloc(n + 1);
    char quote = 0;
    for (size_t i = 0; i <= n; i++) {
        char ch = sql[i];
        if (quote) {
            if (ch == quote) quote = 0;
        } else if (ch == '\'' || ch == '"') {
            quote = ch;
        } else if (ch == '$' && i + 1 < n && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            ch = '?';
        }
        out[i] = ch;
    }
    return out;
}

int dbsq_prepare(db_stmt_t *st)
{
    db_conn_t *c = st->c;
    char *sql = rewrite(st->key->sqlite);
    int rc = sqlite3_prepare_v3(c->sq, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->sq, NULL);
    free(sql);
    if (rc != SQLITE_OK) return map_rc(c, rc);
    return DB_OK;
}

static void writer_unlock(db_stmt_t *st)
{
    if (st->write_locked) {
        st->write_locked = 0;
        db_write_unlock(st->c);
    }
}

int dbsq_step(db_stmt_t *st)
{
    db_conn_t *c = st->c;
    if (st->sq_state == 2) return DB_DONE;
    if (st->sq_state == 0 && !c->in_tx && !c->holds_write_lock && !sqlite3_stmt_readonly(st->sq)) {
        /* an autocommit write: queue behind in-process writers */
        db_write_lock(c);
        st->write_locked = 1;
    }
    st->sq_state = 1;
    int rc = sqlite3_step(st->sq);
    if (rc == SQLITE_ROW) return DB_ROW;
    st->sq_state = 2;
    if (rc == SQLITE_DONE) {
        st->changes = sqlite3_changes64(c->sq);
        writer_unlock(st);
        return DB_DONE;
    }
    int err = map_rc(c, rc);
    writer_unlock(st);
    return err;
}

void dbsq_reset(db_stmt_t *st)
{
    sqlite3_reset(st->sq);
    sqlite3_clear_bindings(st->sq);
    st->sq_state = 0;
    writer_unlock(st);
}

void dbsq_finalize(db_stmt_t *st)
{
    writer_unlock(st);
    sqlite3_finalize(st->sq);
    st->sq = NULL;
}

int dbsq_exec_script(db_conn_t *c, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(c->sq, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        int mapped = map_rc(c, rc);
        if (err) db_set_err(c, "%s", err);
        sqlite3_free(err);
        return mapped;
    }
    return DB_OK;
}
