/*
 * text.h — turning user text into search tokens, safely.
 *
 * DESIGN
 * User text never reaches a full-text engine as query syntax.  We split it
 * into words ourselves (letters and digits of any script; ASCII punctuation,
 * symbols, emoji and invalid UTF-8 separate words), fold them (lower case,
 * diacritics of Latin letters removed, roughly what FTS5's unicode61
 * remove_diacritics 2 and PostgreSQL's unaccent do) and then build the
 * engine's query from the tokens: for FTS5 every token becomes a quoted
 * string ("tok"), so AND/OR/NOT/NEAR, *, ^, column filters and parentheses
 * are just words; for PostgreSQL the tokens joined by spaces go through
 * plainto_tsquery(), which has no operators at all.
 *
 * Pure functions over bytes: no database, no globals; fuzzed by
 * tests/fuzz/fuzz_search_query.c.
 */
#ifndef MERCATO_SEARCH_TEXT_H
#define MERCATO_SEARCH_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"

#define SEARCH_TOKENS_MAX 32    /* further words are ignored */
#define SEARCH_TOKEN_BYTES 64   /* longer words are cut at a character boundary */
#define SEARCH_QUERY_MAX 1024   /* longer queries are refused by the handlers (422) */

typedef struct search_tokens {
    size_t n;
    const char *tok[SEARCH_TOKENS_MAX]; /* folded, NUL-terminated, arena-owned */
    bool truncated;                     /* more than SEARCH_TOKENS_MAX words were given */
} search_tokens_t;

/* Splits and folds s[0..len) into out (tokens live in arena a).  Never
 * fails: text without words yields n == 0. */
void search_tokenize(arena_t *a, const char *s, size_t len, search_tokens_t *out);

/* Folds one word or phrase: lower case, Latin diacritics removed, runs of
 * separators become one space, trimmed.  Returns an arena string. */
char *search_fold(arena_t *a, const char *s, size_t len);

/* An FTS5 MATCH expression that ANDs the tokens as quoted strings; with
 * prefix_last the last token becomes a prefix query ("tok"*).  NULL when
 * there are no tokens.  Arena-owned. */
char *search_fts5_expr(arena_t *a, const search_tokens_t *t, bool prefix_last);

/* The tokens joined by single spaces ("" when none).  Arena-owned.  This is
 * the text given to PostgreSQL's plainto_tsquery() and the canonical form
 * used in cache keys and echoed back to clients. */
char *search_tokens_join(arena_t *a, const search_tokens_t *t);

/* Decodes one UTF-8 code point at s[0..len).  Returns its length (1..4) and
 * stores it in *cp, or returns 1 with *cp = -1 for an invalid byte. */
int search_utf8_next(const unsigned char *s, size_t len, long *cp);

#endif
