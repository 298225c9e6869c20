/*
 * seed.h — the deterministic demo catalog.
 *
 * DESIGN
 * `mercato seed --demo --products N` and `mercato serve --demo` build the
 * same shop for the same N: a category tree, sellers, products with
 * variants, prices, tags, attributes and reviews, all drawn from a fixed
 * pseudo-random sequence (ids included), so two machines seeded alike
 * answer alike and benchmarks are repeatable.  About 94% of the products
 * are published, the rest wait in draft and pending_review so moderation has
 * something to show.  Everything is written in one transaction with
 * prepared statements reused for every row; the FTS index follows through
 * its triggers / generated column, the autocomplete vocabulary is counted in
 * memory and written once, and one catalog.seeded event records the load
 * (per-product events would only repeat the rows).
 */
#ifndef MERCATO_CATALOG_SEED_H
#define MERCATO_CATALOG_SEED_H

#include "db/db.h"

#define CATALOG_SEED_MAX 5000000

typedef struct catalog_seed_stats {
    long categories, sellers, products, published, variants, reviews;
} catalog_seed_stats_t;

/* Loads the demo catalog with nproducts products (1..CATALOG_SEED_MAX) into
 * an empty catalog.  Returns 0; 1 when the catalog already has products or
 * categories (nothing written); -1 on a database error (logged, rolled
 * back). */
int catalog_seed_demo(db_t *db, long nproducts, catalog_seed_stats_t *out);

#endif
