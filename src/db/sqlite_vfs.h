/*
 * sqlite_vfs.h — the "mercato" SQLite VFS (the default unix VFS; a commit's
 * WAL writes coalesced into one write call).  See sqlite_vfs.c.
 */
#ifndef MERCATO_DB_SQLITE_VFS_H
#define MERCATO_DB_SQLITE_VFS_H

#include <stdint.h>

/* registers the VFS on the first call; its name for sqlite3_open_v2, or NULL
 * (the default VFS) when it could not be registered */
const char *dbsq_vfs_name(void);

/* write calls that reached WAL files, and their bytes, since start */
void dbsq_vfs_stats(uint64_t *write_calls, uint64_t *bytes);

#endif
