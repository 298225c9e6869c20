/*
 * sqlite_vfs.c — the "mercato" SQLite VFS: the default unix VFS with the
 * WAL's writes of one commit coalesced into one pwrite.
 *
 * SQLite appends a commit to the WAL as two writes per page (the 24-byte
 * frame header, then the page), so a group commit of 25 pages was 50
 * pwrite calls, and each touched the file's page-cache pages two or three
 * times (ext4's write_begin/write_end per 4 KiB page per call): ~11% of the
 * server's CPU under bench/checkout.sh, all of it while holding the write
 * lock.
 *
 * Here a WAL file handle collects contiguous writes in a buffer and writes
 * them out:
 *   - right after the page of a commit frame (the frame header says so:
 *     bytes 4..7, the database size after the commit, are non-zero), inside
 *     that xWrite, so a failure is SQLite's to handle as before and the
 *     commit's frames are in the file before SQLite publishes them in the
 *     wal-index;
 *   - before anything that reads or sizes the file or goes on without the
 *     buffer (xRead, xTruncate, xSync, xFileSize, xFileControl, xClose), on a
 *     write that does not continue the buffer, and when the buffer is full;
 *   - as a safety net, when the database handle of the same connection
 *     touches the wal-index (xShmBarrier, xShmLock): a commit is published
 *     there.  A failed write at that point, which never happens after the
 *     commit frame's own write succeeded, aborts: publishing frames that are
 *     not in the file would corrupt the database, a crash only loses the
 *     commit that never returned.
 * So the file holds exactly what it would without the buffer whenever
 * another connection or process can look (a commit's frames become visible
 * only through the wal-index), and a commit that returned is in the kernel
 * (kill -9 loses nothing; synchronous=NORMAL never fsyncs a commit anyway).
 *
 * Everything else forwards to the default VFS.
 */
#include "db/sqlite_vfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* SQLite's unix VFS writes at most 0x1ffff bytes per call (seekAndWrite
 * masks the length; a longer write ends in SQLITE_FULL) */
#define WAL_BUF (120 * 1024)
#define FRAME_HDR 24

typedef struct wfile {
    sqlite3_file base;  /* our methods */
    sqlite3_file *real; /* the default VFS's file, allocated right after */
    struct wfile *wal;  /* a database file: its connection's WAL handle */
    struct wfile *db;   /* a WAL file: its connection's database handle */
    int is_wal;
    int commit_page;    /* the next write is the page of a commit frame */
    unsigned char *buf; /* WAL: pending bytes at file offset off */
    int len;
    sqlite3_int64 off;
} wfile_t;

static sqlite3_vfs g_vfs;
static sqlite3_vfs *g_root;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_ok;
static uint64_t g_calls, g_bytes; /* WAL writes that reached the file */

#define ROOT(f) (((wfile_t *)(f))->real)

static int flush(wfile_t *p)
{
    if (!p || !p->len) return SQLITE_OK; /* not a WAL file, or nothing pending */
    int rc = p->real->pMethods->xWrite(p->real, p->buf, p->len, p->off);
    __atomic_fetch_add(&g_calls, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&g_bytes, (uint64_t)p->len, __ATOMIC_RELAXED);
    p->len = 0;
    return rc;
}

/* the wal-index is about to change: the WAL file must hold what the
 * buffer has (see the header) */
static void flush_before_publish(wfile_t *db)
{
    if (db && db->wal && flush(db->wal) != SQLITE_OK) abort();
}

static int x_close(sqlite3_file *f)
{
    wfile_t *p = (wfile_t *)f;
    int rc = flush(p);
    if (p->is_wal && p->db && p->db->wal == p) p->db->wal = NULL;
    if (!p->is_wal && p->wal && p->wal->db == p) p->wal->db = NULL;
    free(p->buf);
    p->buf = NULL;
    int rc2 = p->real->pMethods->xClose(p->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int x_read(sqlite3_file *f, void *out, int amt, sqlite3_int64 ofs)
{
    wfile_t *p = (wfile_t *)f;
    int rc = flush(p);
    if (rc != SQLITE_OK) return rc;
    return p->real->pMethods->xRead(p->real, out, amt, ofs);
}

static int x_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 ofs)
{
    wfile_t *p = (wfile_t *)f;
    /* the buffer comes with the first write: most connections only read */
    if (p->is_wal && !p->buf) p->buf = malloc(WAL_BUF);
    if (!p->is_wal || !p->buf) return p->real->pMethods->xWrite(p->real, data, amt, ofs);
    int commit = p->commit_page;
    p->commit_page = 0;
    if (amt == FRAME_HDR) {
        const unsigned char *h = data;
        p->commit_page = (h[4] | h[5] | h[6] | h[7]) != 0;
    }
    int rc = SQLITE_OK;
    if (p->len && (ofs != p->off + p->len || p->len + amt > WAL_BUF)) rc = flush(p);
    if (rc != SQLITE_OK) return rc;
    if (amt > WAL_BUF) {
        __atomic_fetch_add(&g_calls, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&g_bytes, (uint64_t)amt, __ATOMIC_RELAXED);
        return p->real->pMethods->xWrite(p->real, data, amt, ofs);
    }
    if (!p->len) p->off = ofs;
    memcpy(p->buf + p->len, data, (size_t)amt);
    p->len += amt;
    return commit ? flush(p) : SQLITE_OK;
}

static int x_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    wfile_t *p = (wfile_t *)f;
    int rc = flush(p);
    return rc != SQLITE_OK ? rc : p->real->pMethods->xTruncate(p->real, size);
}

static int x_sync(sqlite3_file *f, int flags)
{
    wfile_t *p = (wfile_t *)f;
    int rc = flush(p);
    return rc != SQLITE_OK ? rc : p->real->pMethods->xSync(p->real, flags);
}

static int x_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    wfile_t *p = (wfile_t *)f;
    int rc = flush(p);
    return rc != SQLITE_OK ? rc : p->real->pMethods->xFileSize(p->real, size);
}

static int x_lock(sqlite3_file *f, int lock) { return ROOT(f)->pMethods->xLock(ROOT(f), lock); }
static int x_unlock(sqlite3_file *f, int lock) { return ROOT(f)->pMethods->xUnlock(ROOT(f), lock); }
static int x_check_reserved(sqlite3_file *f, int *out)
{
    return ROOT(f)->pMethods->xCheckReservedLock(ROOT(f), out);
}

static int x_file_control(sqlite3_file *f, int op, void *arg)
{
    wfile_t *p = (wfile_t *)f;
    int rc = flush(p);
    if (rc != SQLITE_OK) return rc;
    rc = p->real->pMethods->xFileControl(p->real, op, arg);
    if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK && arg) {
        char **name = arg;
        char *mine = sqlite3_mprintf("mercato/%z", *name);
        if (mine) *name = mine;
    }
    return rc;
}

static int x_sector_size(sqlite3_file *f) { return ROOT(f)->pMethods->xSectorSize(ROOT(f)); }
static int x_device(sqlite3_file *f) { return ROOT(f)->pMethods->xDeviceCharacteristics(ROOT(f)); }

static int x_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return ROOT(f)->pMethods->xShmMap(ROOT(f), pg, pgsz, extend, pp);
}

static int x_shm_lock(sqlite3_file *f, int ofs, int n, int flags)
{
    flush_before_publish((wfile_t *)f);
    return ROOT(f)->pMethods->xShmLock(ROOT(f), ofs, n, flags);
}

static void x_shm_barrier(sqlite3_file *f)
{
    flush_before_publish((wfile_t *)f);
    ROOT(f)->pMethods->xShmBarrier(ROOT(f));
}

static int x_shm_unmap(sqlite3_file *f, int del) { return ROOT(f)->pMethods->xShmUnmap(ROOT(f), del); }

static int x_fetch(sqlite3_file *f, sqlite3_int64 ofs, int amt, void **pp)
{
    if (ROOT(f)->pMethods->iVersion < 3) {
        *pp = NULL;
        return SQLITE_OK;
    }
    return ROOT(f)->pMethods->xFetch(ROOT(f), ofs, amt, pp);
}

static int x_unfetch(sqlite3_file *f, sqlite3_int64 ofs, void *p)
{
    if (ROOT(f)->pMethods->iVersion < 3) return SQLITE_OK;
    return ROOT(f)->pMethods->xUnfetch(ROOT(f), ofs, p);
}

static const sqlite3_io_methods g_methods = {
    .iVersion = 3,
    .xClose = x_close,
    .xRead = x_read,
    .xWrite = x_write,
    .xTruncate = x_truncate,
    .xSync = x_sync,
    .xFileSize = x_file_size,
    .xLock = x_lock,
    .xUnlock = x_unlock,
    .xCheckReservedLock = x_check_reserved,
    .xFileControl = x_file_control,
    .xSectorSize = x_sector_size,
    .xDeviceCharacteristics = x_device,
    .xShmMap = x_shm_map,
    .xShmLock = x_shm_lock,
    .xShmBarrier = x_shm_barrier,
    .xShmUnmap = x_shm_unmap,
    .xFetch = x_fetch,
    .xUnfetch = x_unfetch,
};

static int v_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    wfile_t *p = (wfile_t *)f;
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)(p + 1);
    int rc = g_root->xOpen(g_root, name, p->real, flags, out_flags);
    if (!p->real->pMethods) return rc; /* base.pMethods stays NULL: no xClose */
    p->base.pMethods = &g_methods;
    if (rc != SQLITE_OK) return rc;
    if ((flags & SQLITE_OPEN_WAL) && name) {
        sqlite3_file *dbf = sqlite3_database_file_object(name);
        if (dbf && dbf->pMethods == &g_methods) {
            p->is_wal = 1;
            p->db = (wfile_t *)dbf;
            p->db->wal = p;
        }
    }
    return rc;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync)
{
    (void)v;
    return g_root->xDelete(g_root, name, sync);
}
static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return g_root->xAccess(g_root, name, flags, out);
}
static int v_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return g_root->xFullPathname(g_root, name, n, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return g_root->xDlOpen(g_root, name);
}
static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    g_root->xDlError(g_root, n, out);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return g_root->xDlSym(g_root, h, sym);
}
static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    g_root->xDlClose(g_root, h);
}
static int v_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return g_root->xRandomness(g_root, n, out);
}
static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return g_root->xSleep(g_root, us);
}
static int v_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return g_root->xCurrentTime(g_root, out);
}
static int v_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return g_root->xGetLastError(g_root, n, out);
}
static int v_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return g_root->xCurrentTimeInt64(g_root, out);
}

static void vfs_init(void)
{
    g_root = sqlite3_vfs_find(NULL);
    if (!g_root || g_root->iVersion < 2) return;
    g_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(wfile_t) + g_root->szOsFile,
        .mxPathname = g_root->mxPathname,
        .zName = "mercato",
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full_pathname,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_randomness,
        .xSleep = v_sleep,
        .xCurrentTime = v_current_time,
        .xGetLastError = v_last_error,
        .xCurrentTimeInt64 = v_current_time64,
    };
    g_ok = sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK;
}

const char *dbsq_vfs_name(void)
{
    pthread_once(&g_once, vfs_init);
    return g_ok ? g_vfs.zName : NULL;
}

void dbsq_vfs_stats(uint64_t *write_calls, uint64_t *bytes)
{
    *write_calls = __atomic_load_n(&g_calls, __ATOMIC_RELAXED);
    *bytes = __atomic_load_n(&g_bytes, __ATOMIC_RELAXED);
}
