/*
 * fuzz_search_query.c — libFuzzer harness for src/search/text.c, the code
 * that turns the words a shopper typed into a full-text query.
 *
 * Why: every byte of ?q= reaches this code, and its one promise is that no
 * text becomes query syntax: FTS operators, quotes, parentheses, column
 * filters, NUL and invalid UTF-8 are separators, and the engine only ever
 * sees quoted words.
 *
 * DESIGN
 * The input is tokenised; every token must be non-empty, at most
 * SEARCH_TOKEN_BYTES, valid UTF-8, free of ASCII spaces, punctuation and
 * control bytes, and already folded (folding it again changes nothing).
 * Tokenising the canonical join again must give the same tokens (the query
 * a client sees echoed back is the query that ran).  Finally the FTS5
 * expression, plain and with a prefix on the last word, is run as a MATCH
 * against a small in-memory FTS5 table shaped like product_fts (same
 * tokenizer options): SQLite must accept it — an error there would mean the
 * text escaped its quotes.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/text.h"
#include "util/arena.h"

static sqlite3 *db;

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_search_query: %s: %s\n", what, detail ? detail : "");
    abort();
}

static void open_db(void)
{
    if (db) return;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) fail("sqlite3_open", NULL);
    char *err = NULL;
    if (sqlite3_exec(db,
                     "CREATE VIRTUAL TABLE t USING fts5(title, tags, description,"
                     " tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');"
                     "INSERT INTO t VALUES ('Linen Summer Shirt', 'linen summer', 'A shirt \"quoted\" (x) AND y');",
                     NULL, NULL, &err) != SQLITE_OK)
        fail("schema", err);
}

static void check_match(const char *expr)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ?1", -1, &st, NULL) != SQLITE_OK)
        fail("prepare", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, expr, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "expression: %s\n", expr);
        fail("FTS5 refused the expression", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
}

static void check_token(arena_t *a, const char *t)
{
    size_t n = strlen(t);
    if (n == 0) fail("empty token", NULL);
    if (n > SEARCH_TOKEN_BYTES) fail("token too long", t);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) fail("token holds a separator byte", t);
        long cp;
        int l = search_utf8_next((const unsigned char *)t + i, n - i, &cp);
        if (cp < 0) fail("token is not valid UTF-8", t);
        i += (size_t)l;
    }
    if (strcmp(search_fold(a, t, n), t) != 0) fail("token is not folded", t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 * SEARCH_QUERY_MAX) return 0;
    open_db();
    arena_t *a = arena_new();
    search_tokens_t tk;
    search_tokenize(a, (const char *)data, size, &tk);
    if (tk.n > SEARCH_TOKENS_MAX) fail("too many tokens", NULL);
    for (size_t i = 0; i < tk.n; i++) check_token(a, tk.tok[i]);

    char *joined = search_tokens_join(a, &tk);
    search_tokens_t again;
    search_tokenize(a, joined, strlen(joined), &again);
    if (again.n != tk.n) fail("the canonical query tokenises differently", joined);
    for (size_t i = 0; i < tk.n; i++)
        if (strcmp(again.tok[i], tk.tok[i]) != 0) fail("the canonical query tokenises differently", joined);

    char *e = search_fts5_expr(a, &tk, false);
    if ((e == NULL) != (tk.n == 0)) fail("expression presence", joined);
    if (e) {
        check_match(e);
        check_match(search_fts5_expr(a, &tk, true));
    }
    /* folding arbitrary bytes never fails and never grows past a bound */
    char *f = search_fold(a, (const char *)data, size);
    if (strlen(f) > size * 3 + 1) fail("fold grew too much", NULL);
    arena_free(a);
    return 0;
}
