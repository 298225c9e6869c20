/*
 * terms.h — the autocomplete vocabulary: title words of published products.
 *
 * DESIGN
 * search_terms holds every folded title word (2+ bytes) of the published
 * products with the number of products using it.  The catalog calls
 * search_terms_update() inside the transaction that publishes, unpublishes
 * or retitles a product, so the vocabulary is as current as the index.
 * Suggestions complete the last word the user is typing from this table
 * (a range scan on the primary key, most used first), so their cost does
 * not grow with the catalog.  When few words share the prefix, a fuzzy pass
 * adds near spellings: pg_trgm's similarity on PostgreSQL, the same trigram
 * similarity computed in C over words sharing the first letter on SQLite.
 */
#ifndef MERCATO_SEARCH_TERMS_H
#define MERCATO_SEARCH_TERMS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "util/arena.h"

/* Moves the vocabulary from old_title (the title that was published, or
 * NULL) to new_title (the title now published, or NULL).  Runs in the
 * caller's transaction.  0 or a negative DB_* error. */
int search_terms_update(db_conn_t *c, arena_t *a, const char *old_title, const char *new_title);

typedef struct search_term_hit {
    const char *term; /* arena-owned */
    int64_t docs;
    int fuzzy;        /* 1 when found by similarity rather than prefix */
} search_term_hit_t;

/* Up to max (<= 20) words starting with prefix (already folded), most used
 * first, then similar words when fewer were found and the prefix has at
 * least 3 bytes.  Returns the count (>= 0) or a negative DB_* error. */
int search_terms_complete(db_conn_t *c, arena_t *a, const char *prefix, int max, search_term_hit_t *out);

/* pg_trgm's similarity of two folded words (0..1), for tests and SQLite. */
double search_trigram_similarity(const char *a, const char *b);

#endif
