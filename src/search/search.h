/*
 * search.h — full-text product search with filters, facets and cursors.
 *
 * DESIGN
 * One query fetches every published product that matches the words and the
 * filters, with its relevance score and the few columns facets and sorting
 * need (SQLite: FTS5 MATCH with bm25 weights title 10, tags 4, description
 * 1; PostgreSQL: the weighted tsvector with ts_rank and plainto_tsquery).
 * The rest happens in C over that compact set: facet counts (category,
 * tag, seller, price bucket, rating bucket — all over the same matching set,
 * so each single-valued facet adds up to the total), an exact-title boost
 * (a product whose title is exactly the words typed ranks first), the sort,
 * and the page after the cursor.  Items are the cached product JSON.
 *
 * Answers are kept in a small response cache keyed by the canonical request
 * and the catalog generation (catalog_generation()), so any catalog change,
 * here or on another instance, makes old answers unreachable.
 */
#ifndef MERCATO_SEARCH_SEARCH_H
#define MERCATO_SEARCH_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog/listing.h"
#include "db/db.h"
#include "http/http.h"
#include "util/arena.h"
#include "util/buf.h"

typedef struct search_params {
    const char *q;                 /* raw user text (may be NULL) */
    product_filter_t filter;
    product_sort_t sort;
    const catalog_cursor_t *after; /* NULL for the first page */
    int limit;
} search_params_t;

/* Price facet bucket edges in minor units (the last bucket is open). */
#define SEARCH_PRICE_EDGES { 0, 1000, 2500, 5000, 10000, 25000, 50000 }

/* Runs a search and appends the JSON answer to out: {"q", "total",
 * "items", "next_cursor", "facets"}.  Returns CAT_OK, CAT_EINVALID (a
 * cursor made for another sort; nothing written) or CAT_EDB. */
int search_run(db_conn_t *c, arena_t *a, const search_params_t *p, buf_t *out);

/* Autocomplete: {"q", "suggestions":[{"text","term","count","fuzzy"}]}
 * for what the user has typed so far (completes the last word).  Appends to
 * out; CAT_OK or CAT_EDB. */
int search_suggest(db_conn_t *c, arena_t *a, const char *q, int limit, buf_t *out);

/* The response cache: budget in bytes (0 disables).  Start-up only. */
void search_cache_init(size_t max_bytes);
void search_cache_shutdown(void);
/* Looks up key; on a hit appends the body to out, copies its ETag (computed
 * once, when stored) into etag and returns true. */
bool search_cache_get(const char *key, buf_t *out, char etag[HTTP_ETAG_LEN]);
/* Stores body under key for the generation read before computing it, and
 * writes its ETag into etag (also when the cache is off or refuses it). */
void search_cache_put(const char *key, uint64_t generation, const char *body, size_t len, char etag[HTTP_ETAG_LEN]);
void search_register_metrics(void);

#endif
