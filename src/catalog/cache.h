/*
 * cache.h — the in-process cache of rendered product JSON.
 *
 * DESIGN
 * Product reads dominate a shop's traffic, so the JSON of a product is
 * rendered once and kept: a sharded hash table of immutable, reference-
 * counted blobs with CLOCK eviction under a byte budget (--catalog-cache-mb).
 * A reader takes a reference under its shard's lock and sends the bytes
 * without holding it.  Blobs carry the product's status and seller so
 * visibility is checked without touching the database.
 *
 * Invalidation.  Writers on this instance invalidate right after commit;
 * every instance also follows the event log (catalog_cache_on_event) so a
 * change made elsewhere drops the entry here too.  A fill that raced with an
 * invalidation is discarded: fillers note catalog_cache_epoch() before
 * reading the database and catalog_cache_put() refuses the blob if any
 * invalidation happened since.  catalog_generation() changes on every
 * invalidation; derived caches (search answers) key on it.
 */
#ifndef MERCATO_CATALOG_CACHE_H
#define MERCATO_CATALOG_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "db/db.h"
#include "jobs/events.h"

typedef struct catalog_blob {
    int refs;               /* atomic */
    uint8_t ref_bit;        /* CLOCK "recently used" */
    product_status_t status;
    char id[48];
    char seller_id[48];
    size_t len;
    char data[];            /* JSON, NUL-terminated */
} catalog_blob_t;

/* Sets the byte budget (0 disables caching).  Call once at start-up before
 * serving; safe to call again in tests (clears the cache). */
void catalog_cache_init(size_t max_bytes);
/* Frees every entry (shutdown, tests). */
void catalog_cache_shutdown(void);

/* A referenced blob for a product id, or NULL.  Release with
 * catalog_blob_release(). */
catalog_blob_t *catalog_cache_get(const char *id);
void catalog_blob_release(catalog_blob_t *b);

/* Creates a blob from a rendered document (json copied) with one
 * reference for the caller, and inserts it unless an invalidation happened
 * after `epoch` or the cache is disabled (the blob is returned either way). */
catalog_blob_t *catalog_cache_put(const product_doc_t *doc, uint64_t epoch);

/* The invalidation counter to read before a database fill. */
uint64_t catalog_cache_epoch(void);
/* Drops one product; bumps the generation. */
void catalog_cache_invalidate(const char *product_id);
/* Drops everything (category renames, bulk loads); bumps the generation. */
void catalog_cache_clear(void);
/* Changes whenever any catalog data changed (search answer caches key on it). */
uint64_t catalog_generation(void);

/* Event-log consumer (the jobs runtime's event_consumer_fn signature):
 * invalidates what an event names.  product.* events by subject; review.*
 * by payload.product_id; category.* and catalog.* clear everything.
 * Always returns 0 (it cannot fail). */
int catalog_cache_on_event(db_t *db, const event_t *ev, void *ctx);

/* Returns a referenced blob for the product (id or handle): from the cache,
 * or rendered from the database and cached.  NULL with *rc = CAT_ENOTFOUND
 * or CAT_EDB. */
catalog_blob_t *catalog_product_blob(db_conn_t *c, const char *id_or_handle, int *rc);

/* Statistics for /metrics and the benchmark. */
typedef struct catalog_cache_stats {
    uint64_t hits, misses, evictions, invalidations, entries, bytes, max_bytes;
} catalog_cache_stats_t;
void catalog_cache_stats(catalog_cache_stats_t *out);
void catalog_cache_register_metrics(void);

#endif
