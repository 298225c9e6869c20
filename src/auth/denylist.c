/*
 * denylist.c — the in-memory mirror of denied_tokens (see denylist.h).
 */
#include "auth/denylist.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define SYNC_OVERLAP_MS 30000

typedef struct entry {
    uint64_t h;          /* 0 = empty */
    int64_t created_ms;
    int64_t expires_ms;
} entry_t;

static struct {
    pthread_rwlock_t lock;
    entry_t *tab;
    size_t cap;          /* power of two */
    size_t n;
    long count;          /* atomically read by the fast path */
    unsigned char hkey[crypto_shorthash_KEYBYTES];
    db_t *db;
    int64_t sync_ms;
    pthread_t thread;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
} g = { .lock = PTHREAD_RWLOCK_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

DB_SQL(sql_insert,
       "INSERT INTO denied_tokens (key, created_at, expires_at) VALUES ($1, $2, $3) "
       "ON CONFLICT (key) DO UPDATE SET created_at = excluded.created_at, "
       "expires_at = CASE WHEN excluded.expires_at > denied_tokens.expires_at THEN excluded.expires_at "
       "ELSE denied_tokens.expires_at END");
DB_SQL(sql_recent, "SELECT key, created_at, expires_at FROM denied_tokens WHERE created_at >= $1 AND expires_at > $2");
DB_SQL(sql_purge, "DELETE FROM denied_tokens WHERE key IN (SELECT key FROM denied_tokens WHERE expires_at <= $1 LIMIT $2)");

static uint64_t hash_key(const char *key)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)key, strlen(key), g.hkey);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h ? h : 1;
}

/* Caller holds the write lock. */
static void put_locked(uint64_t h, int64_t created_ms, int64_t expires_ms);

static void rebuild_locked(size_t cap, int64_t now_ms)
{
    entry_t *old = g.tab;
    size_t oldcap = g.cap;
    g.tab = xcalloc(cap, sizeof(entry_t));
    g.cap = cap;
    g.n = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].h && old[i].expires_ms > now_ms) put_locked(old[i].h, old[i].created_ms, old[i].expires_ms);
    free(old);
    __atomic_store_n(&g.count, (long)g.n, __ATOMIC_RELEASE);
}

static void put_locked(uint64_t h, int64_t created_ms, int64_t expires_ms)
{
    if ((g.n + 1) * 2 > g.cap) rebuild_locked(g.cap ? g.cap * 2 : 1024, time_now_ms());
    size_t i = (size_t)h & (g.cap - 1);
    while (g.tab[i].h && g.tab[i].h != h) i = (i + 1) & (g.cap - 1);
    if (!g.tab[i].h) {
        g.n++;
        g.tab[i].h = h;
        g.tab[i].created_ms = created_ms;
        g.tab[i].expires_ms = expires_ms;
    } else {
        if (created_ms > g.tab[i].created_ms) g.tab[i].created_ms = created_ms;
        if (expires_ms > g.tab[i].expires_ms) g.tab[i].expires_ms = expires_ms;
    }
    __atomic_store_n(&g.count, (long)g.n, __ATOMIC_RELEASE);
}

static const entry_t *find_locked(uint64_t h)
{
    if (!g.cap) return NULL;
    size_t i = (size_t)h & (g.cap - 1);
    while (g.tab[i].h) {
        if (g.tab[i].h == h) return &g.tab[i];
        i = (i + 1) & (g.cap - 1);
    }
    return NULL;
}

void denylist_note(const char *key, int64_t created_ms, int64_t expires_ms)
{
    uint64_t h = hash_key(key);
    pthread_rwlock_wrlock(&g.lock);
    put_locked(h, created_ms, expires_ms);
    pthread_rwlock_unlock(&g.lock);
}

bool denylist_blocks(const char *jti, const char *sub)
{
    if (__atomic_load_n(&g.count, __ATOMIC_ACQUIRE) == 0) return false;
    uint64_t hj = hash_key(jti), hs = hash_key(sub);
    int64_t now = time_now_ms();
    bool blocked = false;
    pthread_rwlock_rdlock(&g.lock);
    const entry_t *e = find_locked(hj);
    if (e && e->expires_ms > now) blocked = true;
    if (!blocked && (e = find_locked(hs)) && e->expires_ms > now) blocked = true;
    pthread_rwlock_unlock(&g.lock);
    return blocked;
}

long denylist_size(void) { return __atomic_load_n(&g.count, __ATOMIC_ACQUIRE); }

int denylist_insert(db_conn_t *c, const char *key, int64_t created_ms, int64_t expires_ms)
{
    int64_t rc = db_exec(c, &sql_insert, "sLL", key, (long long)created_ms, (long long)expires_ms);
    return rc < 0 ? (int)rc : 0;
}

int64_t denylist_purge(db_conn_t *c, int64_t now_ms)
{
    return db_exec_batches(c, &sql_purge, DB_PURGE_BATCH, "L", now_ms);
}

/* Reads rows created since `since` into the table; -1 on a database error. */
static int sync_once(int64_t since, int64_t now)
{
    db_conn_t *c = db_acquire(g.db);
    if (!c) return -1;
    int rc;
    db_stmt_t *st = db_query(c, &sql_recent, &rc, "LL", (long long)since, (long long)now);
    if (!st) {
        log_warn("auth", "deny-list sync failed: %s", db_errmsg(c));
        db_release(c);
        return -1;
    }
    int n = 0;
    pthread_rwlock_wrlock(&g.lock);
    for (; rc == DB_ROW; rc = db_step(st), n++)
        put_locked(hash_key(db_col_text(st, 0)), db_col_int(st, 1), db_col_int(st, 2));
    /* drop expired entries now and then (when a quarter are dead is too
     * fiddly to track; a rebuild at the same size is cheap) */
    if (g.n > 0 && (n == 0 || g.n > 4096)) {
        size_t live = 0;
        for (size_t i = 0; i < g.cap; i++)
            if (g.tab[i].h && g.tab[i].expires_ms > now) live++;
        if (live < g.n) {
            size_t cap = 1024;
            while (cap < live * 2 + 2) cap <<= 1;
            rebuild_locked(cap, now);
        }
    }
    pthread_rwlock_unlock(&g.lock);
    db_reset(st);
    db_release(c);
    return rc < 0 ? -1 : 0;
}

static void *sync_main(void *arg)
{
    (void)arg;
    int64_t last = time_now_ms();
    pthread_mutex_lock(&g.mu);
    while (!g.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (g.sync_ms % 1000) * 1000000;
        ts.tv_sec += g.sync_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&g.cv, &g.mu, &ts);
        if (g.stop) break;
        pthread_mutex_unlock(&g.mu);
        int64_t now = time_now_ms();
        if (sync_once(last - SYNC_OVERLAP_MS, now) == 0) last = now;
        pthread_mutex_lock(&g.mu);
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

int denylist_start(db_t *db, int64_t sync_ms)
{
    randombytes_buf(g.hkey, sizeof g.hkey);
    g.db = db;
    g.sync_ms = sync_ms < 50 ? 50 : sync_ms;
    g.stop = 0;
    if (sync_once(0, time_now_ms()) < 0) {
        log_error("auth", "cannot load the token deny-list");
        return -1;
    }
    if (pthread_create(&g.thread, NULL, sync_main, NULL) != 0) return -1;
    g.running = 1;
    return 0;
}

void denylist_stop(void)
{
    if (g.running) {
        pthread_mutex_lock(&g.mu);
        g.stop = 1;
        pthread_cond_signal(&g.cv);
        pthread_mutex_unlock(&g.mu);
        pthread_join(g.thread, NULL);
        g.running = 0;
    }
    pthread_rwlock_wrlock(&g.lock);
    free(g.tab);
    g.tab = NULL;
    g.cap = g.n = 0;
    __atomic_store_n(&g.count, 0, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&g.lock);
}
