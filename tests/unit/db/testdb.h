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

/* The EXPLAIN QUERY PLAN form of q's SQLite text, as a statement key with
 * static storage of its own: statements are cached per connection by the
 * key's address (db.h), so a key built on the stack is taken for whichever
 * statement was cached at that address before (in a loop, the first
 * query's plan came back for the second). */
static inline const db_sql_t *testdb_explain_of(const db_sql_t *q)
{
    static struct {
        const db_sql_t *of;
        char sql[1024];
        db_sql_t key;
    } keys[16];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (keys[i].of == q) return &keys[i].key;
        if (!keys[i].of) {
            keys[i].of = q;
            snprintf(keys[i].sql, sizeof keys[i].sql, "EXPLAIN QUERY PLAN %s", q->sqlite);
            keys[i].key.sqlite = keys[i].key.pg = keys[i].sql;
            return &keys[i].key;
        }
    }
    abort(); /* more statements than any test explains */
}

/* SQLite's plan for q run with these arguments (db_query's fmt and
 * values), its details joined into out (see testdb_plan_text) */
#define testdb_plan_of(c, q, out, len, ...)                                        \
    do {                                                                           \
        int rc_;                                                                   \
        db_stmt_t *st_ = db_query((c), testdb_explain_of(q), &rc_, __VA_ARGS__);   \
        assert_non_null(st_);                                                      \
        testdb_plan_text(st_, rc_, (out), (len));                                  \
    } while (0)

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
