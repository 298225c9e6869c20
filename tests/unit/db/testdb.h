/*
 * testdb.h — fresh databases for the database-layer tests.
 *
 * MERCATO_TEST_DB selects the backend (sqlite by default, or postgres with
 * MERCATO_TEST_PG=postgres://user@host:port naming a running server, as
 * tests/run.sh provides).  Each call makes a new empty database.
 */
#ifndef MERCATO_TESTS_TESTDB_H
#define MERCATO_TESTS_TESTDB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "db/db.h"

/* The detail column of an EXPLAIN QUERY PLAN statement already stepped
 * once (rc its result), rows joined with "; " into out; resets it. */
static inline void testdb_plan_text(db_stmt_t *st, int rc, char *out, size_t len)
{
    out[0] = '\0';
    while (rc == DB_ROW) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s; ", db_col_text(st, 3));
        rc = db_step(st);
    }
    db_reset(st);
}

static inline int testdb_is_pg(void)
{
    const char *k = getenv("MERCATO_TEST_DB");
    return k && strcmp(k, "postgres") == 0;
}

/* Returns a DATABASE_URL for a new empty database (static buffer). */
static inline const char *testdb_new(void)
{
    static char url[512];
    unsigned char r[6];
    randombytes_buf(r, sizeof r);
    char name[32];
    snprintf(name, sizeof name, "t_%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
    if (testdb_is_pg()) {
        const char *base = getenv("MERCATO_TEST_PG");
        char user[64] = "mercato", host[128] = "127.0.0.1";
        int port = 5432;
        if (!base || sscanf(base, "postgres://%63[^@]@%127[^:]:%d", user, host, &port) != 3) {
            fprintf(stderr, "MERCATO_TEST_PG must look like postgres://user@host:port\n");
            abort();
        }
        char cmd[512];
        snprintf(cmd, sizeof cmd, "createdb -h %s -p %d -U %s %s", host, port, user, name);
        if (system(cmd) != 0) abort();
        snprintf(url, sizeof url, "%s/%s", base, name);
    } else {
        char dir[] = "/tmp/mercato-dbtest.XXXXXX";
        if (!mkdtemp(dir)) abort();
        snprintf(url, sizeof url, "sqlite:%s/%s.db", dir, name);
    }
    return url;
}

#endif
