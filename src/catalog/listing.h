/*
 * listing.h — filters, sort orders and keyset (cursor) pagination shared by
 * the product list and search.
 *
 * DESIGN
 * A page is found by keyset pagination: the opaque cursor carries the sort
 * key and the id of the last item sent, and the next page starts strictly
 * after that (key, id) pair, so concurrent inserts never cause duplicates or
 * gaps the way OFFSET does.  The cursor is base64url("v1.<sort>.<key>.<id>")
 * and is refused (CAT_EINVALID) when it does not decode or was made for
 * another sort order.
 *
 * SQL for every combination of filters is generated once, on first use,
 * into a static table of descriptors (their addresses key the prepared
 * statement cache of each connection), so a list query binds parameters
 * only and never formats client input into SQL.
 */
#ifndef MERCATO_CATALOG_LISTING_H
#define MERCATO_CATALOG_LISTING_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "db/db.h"
#include "util/arena.h"

/* X(ENUM, "name", descending) */
#define PRODUCT_SORT_LIST(X)           \
    X(NEWEST, "newest", 1)             \
    X(PRICE_ASC, "price_asc", 0)       \
    X(PRICE_DESC, "price_desc", 1)     \
    X(RATING, "rating", 1)             \
    X(RELEVANCE, "relevance", 1)

typedef enum {
#define X(e, name, desc) PRODUCT_SORT_##e,
    PRODUCT_SORT_LIST(X)
#undef X
    PRODUCT_SORT_COUNT
} product_sort_t;

/* -1 when unknown. */
int product_sort_parse(const char *s);
const char *product_sort_name(product_sort_t s);
bool product_sort_desc(product_sort_t s);

#define CAT_LIST_LIMIT_DEFAULT 20
#define CAT_LIST_LIMIT_MAX 100

typedef struct product_filter {
    product_status_t status;     /* PRODUCT_PUBLISHED for shoppers */
    bool has_category;
    char category_path[320];     /* the category's path: it and its descendants */
    const char *seller_id;
    const char *tag;             /* normalised */
    bool has_price_min, has_price_max;
    int64_t price_min, price_max; /* minor units, on the product's lowest price */
    const char *currency;
    int rating_min;              /* average x 100; 0 = no filter */
} product_filter_t;

typedef struct catalog_cursor {
    int sort;
    int64_t key;   /* the sort key (for relevance: the score's bits) */
    char id[48];
} catalog_cursor_t;

/* Reads the filter parameters shared by the product list and search from a
 * query (get(ctx, name) returns a parameter's value or NULL) into out, for
 * this actor.  Pure: no database.  The category is not resolved here: its
 * raw value (id or slug) is left in *category (NULL when absent) for the
 * caller to turn into out->category_path.  Strings in out point into the
 * query values or into arena a.  Returns 0; -1 for an invalid value (field
 * and message say which and why, for a 422); -2 when listing unpublished
 * products needs a signed-in caller (401); -3 when this caller may not list
 * them (403). */
typedef const char *(*catalog_query_fn)(void *ctx, const char *name);
int catalog_filter_parse(product_filter_t *out, const char **category, catalog_query_fn get, void *ctx, arena_t *a,
                         const catalog_actor_t *actor, const char **field, const char **message);

/* Encodes a cursor (arena string). */
char *catalog_cursor_encode(arena_t *a, const catalog_cursor_t *c);
/* Decodes; 0 ok, -1 malformed. */
int catalog_cursor_decode(const char *s, catalog_cursor_t *out);

/* Relevance scores travel in cursors as their IEEE-754 bits. */
int64_t catalog_score_bits(double score);
double catalog_score_from_bits(int64_t bits);

typedef struct product_page {
    char **ids;        /* arena-owned */
    size_t n;
    char *next_cursor; /* arena string, NULL on the last page */
} product_page_t;

/* One page of product ids matching f in the given order, after `after`
 * (NULL for the first page); limit is clamped to 1..CAT_LIST_LIMIT_MAX.
 * Sorting by relevance is not possible here (CAT_EINVALID); for a status
 * other than published only "newest" (by creation time) is.  Returns CAT_OK
 * or CAT_EDB. */
int product_list_ids(db_conn_t *c, arena_t *a, const product_filter_t *f, product_sort_t sort,
                     const catalog_cursor_t *after, int limit, product_page_t *out);

/* Appends the WHERE conditions for f (after "p.status = $1") to b, numbering
 * parameters from *next; bind_filter() binds them in the same order.  Used
 * by search to share the filter semantics. */
struct buf;
void listing_where(struct buf *b, const product_filter_t *f, int *next);
void listing_bind(db_stmt_t *st, const product_filter_t *f, int *next);
/* Filter bits used to key generated SQL. */
unsigned listing_filter_mask(const product_filter_t *f);
#define LISTING_FILTER_BITS 7

#endif
