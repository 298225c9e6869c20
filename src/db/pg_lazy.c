/*
 * pg_lazy.c — the libpq functions mercato calls, loading libpq on the first
 * one (see util/lazylib.h): a SQLite deployment never maps libpq and what it
 * pulls in.
 */
#include <libpq-fe.h>

#include "util/lazylib.h"

LAZYLIB(g_pq, "libpq.so.5");

/* clang-format off */
LAZY_FN(g_pq, PGconn *, PQconnectdb, (const char *conninfo), (conninfo))
LAZY_FN(g_pq, void, PQfinish, (PGconn *conn), (conn))
LAZY_FN(g_pq, void, PQreset, (PGconn *conn), (conn))
LAZY_FN(g_pq, ConnStatusType, PQstatus, (const PGconn *conn), (conn))
LAZY_FN(g_pq, char *, PQerrorMessage, (const PGconn *conn), (conn))
LAZY_FN(g_pq, int, PQsocket, (const PGconn *conn), (conn))
LAZY_FN(g_pq, int, PQconsumeInput, (PGconn *conn), (conn))
LAZY_FN(g_pq, PGnotify *, PQnotifies, (PGconn *conn), (conn))
LAZY_FN(g_pq, PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *conn, PQnoticeProcessor proc, void *arg), (conn, proc, arg))
LAZY_FN(g_pq, char *, PQescapeIdentifier, (PGconn *conn, const char *str, size_t len), (conn, str, len))
LAZY_FN(g_pq, void, PQfreemem, (void *ptr), (ptr))
LAZY_FN(g_pq, PGresult *, PQexec, (PGconn *conn, const char *query), (conn, query))
LAZY_FN(g_pq, PGresult *, PQprepare, (PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes),
        (conn, stmtName, query, nParams, paramTypes))
LAZY_FN(g_pq, PGresult *, PQexecPrepared,
        (PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues, const int *paramLengths,
         const int *paramFormats, int resultFormat),
        (conn, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat))
LAZY_FN(g_pq, void, PQclear, (PGresult *res), (res))
LAZY_FN(g_pq, ExecStatusType, PQresultStatus, (const PGresult *res), (res))
LAZY_FN(g_pq, char *, PQresultErrorMessage, (const PGresult *res), (res))
LAZY_FN(g_pq, char *, PQresultErrorField, (const PGresult *res, int fieldcode), (res, fieldcode))
LAZY_FN(g_pq, char *, PQcmdTuples, (PGresult *res), (res))
LAZY_FN(g_pq, int, PQntuples, (const PGresult *res), (res))
LAZY_FN(g_pq, int, PQnfields, (const PGresult *res), (res))
LAZY_FN(g_pq, char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
LAZY_FN(g_pq, int, PQgetlength, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
LAZY_FN(g_pq, int, PQgetisnull, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
/* clang-format on */
