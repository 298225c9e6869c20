/*
 * pg.c — the PostgreSQL backend of the storage interface (libpq).
 *
 * Statements are prepared once per connection under generated names
 * ("m1", "m2" ...) with parameter types inferred by the server; parameters
 * and results travel in text format.  SQLSTATE classes map to our codes:
 * 40001/40P01 (serialization failure, deadlock) -> DB_EBUSY so the
 * transaction is retried; 23xxx (integrity) -> DB_ECONSTRAINT.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db_int.h"
#include "util/mem.h"

static void notice_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* NOTICEs (e.g. "relation already exists, skipping") are not errors */
}

int dbpg_open_conn(db_t *db, db_conn_t *c)
{
    c->pg = PQconnectdb(db->conninfo);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        db_set_err(c, "cannot connect to PostgreSQL: %s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return DB_ERR;
    }
    PQsetNoticeProcessor(c->pg, notice_quiet, NULL);
    PGresult *r = PQexec(c->pg, "SET TIME ZONE 'UTC'; SET application_name = 'mercato'");
    PQclear(r);
    return DB_OK;
}

void dbpg_close_conn(db_conn_t *c)
{
    if (c->pg) PQfinish(c->pg);
    c->pg = NULL;
}

int dbpg_error(db_conn_t *c, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
    db_set_err(c, "%s", msg && *msg ? msg : PQerrorMessage(c->pg));
    size_t n = strlen(c->errmsg);
    while (n && (c->errmsg[n - 1] == '\n')) c->errmsg[--n] = '\0';
    if (PQstatus(c->pg) != CONNECTION_OK) {
        c->dead = 1;
        return DB_ENOCONN;
    }
    if (!state) return DB_ERR;
    if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03")) return DB_EBUSY;
    if (!strncmp(state, "23", 2)) return DB_ECONSTRAINT;
    return DB_ERR;
}

static int count_params(const char *sql)
{
    int max = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote) quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            int v = (int)strtol(p + 1, NULL, 10);
            if (v > max) max = v;
        }
    }
    return max;
}

int dbpg_prepare(db_stmt_t *st)
{
    db_conn_t *c = st->c;
    snprintf(st->name, sizeof st->name, "m%d", ++c->next_stmt);
    st->nparams = count_params(st->key->pg);
    st->pvals = xcalloc((size_t)st->nparams + 1, sizeof(char *));
    PGresult *r = PQprepare(c->pg, st->name, st->key->pg, 0, NULL);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        int rc = dbpg_error(c, r);
        PQclear(r);
        free(st->pvals);
        st->pvals = NULL;
        return rc;
    }
    PQclear(r);
    st->row = -1;
    return DB_OK;
}

int dbpg_step(db_stmt_t *st)
{
    db_conn_t *c = st->c;
    if (!st->executed) {
        st->executed = 1;
        st->res = PQexecPrepared(c->pg, st->name, st->nparams, (const char *const *)st->pvals, NULL, NULL, 0);
        ExecStatusType s = st->res ? PQresultStatus(st->res) : PGRES_FATAL_ERROR;
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
            int rc = dbpg_error(c, st->res);
            PQclear(st->res);
            st->res = NULL;
            st->nrows = 0;
            return rc;
        }
        const char *ct = PQcmdTuples(st->res);
        st->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
        st->nrows = s == PGRES_TUPLES_OK ? PQntuples(st->res) : 0;
        st->row = -1;
    }
    if (st->row + 1 < st->nrows) {
        st->row++;
        return DB_ROW;
    }
    st->row = st->nrows;
    return DB_DONE;
}

void dbpg_reset(db_stmt_t *st)
{
    if (st->res) PQclear(st->res);
    st->res = NULL;
    st->executed = 0;
    st->row = -1;
    st->nrows = 0;
    for (int i = 0; i < st->nparams; i++) {
        free(st->pvals[i]);
        st->pvals[i] = NULL;
    }
}

void dbpg_finalize(db_stmt_t *st)
{
    dbpg_reset(st);
    if (st->c->pg && PQstatus(st->c->pg) == CONNECTION_OK && st->name[0]) {
        char sql[48];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", st->name);
        PQclear(PQexec(st->c->pg, sql));
    }
    free(st->pvals);
    st->pvals = NULL;
}

int dbpg_exec_script(db_conn_t *c, const char *sql)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        int rc = dbpg_error(c, r);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    return DB_OK;
}

/* ---------- LISTEN ---------- */

struct db_listener {
    db_t *db;
    PGconn *pg;
    char channel[64];
};

static int listener_connect(db_listener_t *l)
{
    if (l->pg) PQfinish(l->pg);
    l->pg = PQconnectdb(l->db->conninfo);
    if (!l->pg || PQstatus(l->pg) != CONNECTION_OK) return -1;
    PQsetNoticeProcessor(l->pg, notice_quiet, NULL);
    char *id = PQescapeIdentifier(l->pg, l->channel, strlen(l->channel));
    if (!id) return -1;
    char sql[128];
    snprintf(sql, sizeof sql, "LISTEN %s", id);
    PQfreemem(id);
    PGresult *r = PQexec(l->pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

db_listener_t *db_listen(db_t *db, const char *channel)
{
    if (db_kind(db) != DB_POSTGRES || strlen(channel) >= sizeof ((db_listener_t *)0)->channel) return NULL;
    db_listener_t *l = xcalloc(1, sizeof *l);
    l->db = db;
    snprintf(l->channel, sizeof l->channel, "%s", channel);
    if (listener_connect(l) < 0) {
        db_listener_free(l);
        return NULL;
    }
    return l;
}

int db_listener_wait(db_listener_t *l, int timeout_ms)
{
    if (!l) return 0;
    if (!l->pg || PQstatus(l->pg) != CONNECTION_OK) {
        if (listener_connect(l) < 0) {
            usleep((useconds_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000);
            return -1;
        }
    }
    int got = 0;
    PGnotify *n;
    while ((n = PQnotifies(l->pg))) { /* already buffered */
        PQfreemem(n);
        got = 1;
    }
    if (got) return 1;
    struct pollfd pfd = { .fd = PQsocket(l->pg), .events = POLLIN };
    int rc = poll(&pfd, 1, timeout_ms);
    if (rc <= 0) return 0;
    if (!PQconsumeInput(l->pg)) return -1;
    while ((n = PQnotifies(l->pg))) {
        PQfreemem(n);
        got = 1;
    }
    return got;
}

void db_listener_free(db_listener_t *l)
{
    if (!l) return;
    if (l->pg) PQfinish(l->pg);
    free(l);
}
