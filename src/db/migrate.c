/*
 * migrate.c — applies embedded migrations (see migrate.h).
 */
#include "db/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/embed.h"
#include "util/log.h"
#include "util/timeutil.h"

#define PG_MIGRATE_LOCK 727100001

DB_SQL(q_create, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
DB_SQL(q_max, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
DB_SQL(q_record, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)");

static const char *prefix_of(db_t *db)
{
    return db_kind(db) == DB_SQLITE ? "migrations/sqlite/" : "migrations/postgres/";
}

/* version from "NNNN_name.sql"; -1 when the name does not fit */
static int version_of(const char *base)
{
    char *end;
    long v = strtol(base, &end, 10);
    if (end == base || *end != '_' || v <= 0) return -1;
    return (int)v;
}

static int binary_version(db_t *db)
{
    const char *pre = prefix_of(db);
    int max = 0;
    for (size_t i = 0; i < embed_nfiles; i++)
        if (strncmp(embed_files[i].path, pre, strlen(pre)) == 0) {
            int v = version_of(embed_files[i].path + strlen(pre));
            if (v > max) max = v;
        }
    return max;
}

static int current_version(db_conn_t *c, int *out)
{
    if (db_exec(c, &q_create, "") < 0) return -1;
    int rc;
    db_stmt_t *st = db_query(c, &q_max, &rc, "");
    if (!st) return -1;
    *out = (int)db_col_int(st, 0);
    db_reset(st);
    return 0;
}

int db_schema_version(db_t *db, int *dbv, int *binv)
{
    db_conn_t *c = db_acquire(db);
    if (!c) return -1;
    int rc = current_version(c, dbv);
    db_release(c);
    *binv = binary_version(db);
    return rc;
}

int db_migrate(db_t *db, int *applied, char *err, size_t errlen)
{
    *applied = 0;
    db_conn_t *c = db_acquire(db);
    if (!c) {
        snprintf(err, errlen, "no database connection");
        return -1;
    }
    int ret = -1;
    if (db_kind(db) == DB_POSTGRES) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%d)", PG_MIGRATE_LOCK);
        if (db_exec_script(c, sql) < 0) {
            snprintf(err, errlen, "cannot take the migration lock: %s", db_errmsg(c));
            db_release(c);
            return -1;
        }
    }
    int cur = 0, binv = binary_version(db);
    if (current_version(c, &cur) < 0) {
        snprintf(err, errlen, "cannot read schema_migrations: %s", db_errmsg(c));
        goto out;
    }
    if (cur > binv) {
        snprintf(err, errlen,
                 "the database schema is at version %d but this binary only knows up to %d; "
                 "refusing to run (upgrade mercato)", cur, binv);
        goto out;
    }
    const char *pre = prefix_of(db);
    size_t pl = strlen(pre);
    for (size_t i = 0; i < embed_nfiles; i++) {
        const embed_file_t *f = &embed_files[i];
        if (strncmp(f->path, pre, pl) != 0) continue;
        const char *base = f->path + pl;
        int v = version_of(base);
        if (v < 0) {
            snprintf(err, errlen, "bad migration file name %s", f->path);
            goto out;
        }
        if (v <= cur) continue;
        if (db_begin(c) < 0) {
            snprintf(err, errlen, "cannot begin: %s", db_errmsg(c));
            goto out;
        }
        if (db_exec_script(c, f->data) < 0) {
            snprintf(err, errlen, "migration %s failed: %s", base, db_errmsg(c));
            db_rollback(c);
            goto out;
        }
        if (db_exec(c, &q_record, "isL", v, base, time_now_ms()) < 0 || db_commit(c) < 0) {
            snprintf(err, errlen, "cannot record migration %s: %s", base, db_errmsg(c));
            db_rollback(c);
            goto out;
        }
        log_info("migrate", "applied %s", base);
        (*applied)++;
    }
    ret = 0;
out:
    if (db_kind(db) == DB_POSTGRES) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%d)", PG_MIGRATE_LOCK);
        db_exec_script(c, sql);
    }
    db_release(c);
    return ret;
}
