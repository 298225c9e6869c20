/*
 * cache.c — sharded CLOCK cache of rendered product JSON (see cache.h).
 *
 * Each shard has its own mutex, a chained hash index and a ring (array) of
 * nodes that the CLOCK hand sweeps: a node whose blob was read since the
 * last sweep gets a second chance, otherwise it is evicted.  The budget is
 * split evenly across shards.  Blobs are immutable; the cache holds one
 * reference and every reader its own, so eviction never frees bytes that a
 * response is still sending.
 */
#include "catalog/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/buf.h"
#include "util/id.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

#define NSHARDS 16
#define NODE_OVERHEAD 96 /* node + hash slot + allocator slack, counted against the budget */

typedef struct node {
    catalog_blob_t *blob;
    struct node *hnext;
    size_t ring_idx;
    uint64_t hash;
} node_t;

typedef struct shard {
    pthread_mutex_t mu;
    node_t **buckets;
    size_t nbuckets; /* power of two */
    node_t **ring;
    size_t nring, capring;
    size_t hand;
    size_t bytes;
} shard_t;

static shard_t shards[NSHARDS];
static size_t shard_budget;
static size_t g_max_bytes;
static int g_inited;
static uint64_t g_epoch = 1;
static uint64_t st_hits, st_misses, st_evictions, st_invalidations;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static void blob_unref(catalog_blob_t *b)
{
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) free(b);
}

void catalog_blob_release(catalog_blob_t *b) { blob_unref(b); }

static void shard_clear(shard_t *s)
{
    for (size_t i = 0; i < s->nring; i++) {
        blob_unref(s->ring[i]->blob);
        free(s->ring[i]);
    }
    s->nring = 0;
    s->hand = 0;
    s->bytes = 0;
    if (s->buckets) memset(s->buckets, 0, s->nbuckets * sizeof *s->buckets);
}

void catalog_cache_init(size_t max_bytes)
{
    if (!g_inited) {
        for (int i = 0; i < NSHARDS; i++) pthread_mutex_init(&shards[i].mu, NULL);
        g_inited = 1;
    }
    for (int i = 0; i < NSHARDS; i++) {
        shard_t *s = &shards[i];
        pthread_mutex_lock(&s->mu);
        shard_clear(s);
        if (!s->buckets) {
            s->nbuckets = 1024;
            s->buckets = xcalloc(s->nbuckets, sizeof *s->buckets);
        }
        pthread_mutex_unlock(&s->mu);
    }
    g_max_bytes = max_bytes;
    shard_budget = max_bytes / NSHARDS;
    __atomic_fetch_add(&g_epoch, 1, __ATOMIC_SEQ_CST);
}

void catalog_cache_shutdown(void)
{
    if (!g_inited) return;
    for (int i = 0; i < NSHARDS; i++) {
        shard_t *s = &shards[i];
        pthread_mutex_lock(&s->mu);
        shard_clear(s);
        free(s->buckets);
        s->buckets = NULL;
        free(s->ring);
        s->ring = NULL;
        s->capring = 0;
        pthread_mutex_unlock(&s->mu);
    }
    g_max_bytes = shard_budget = 0;
}

static shard_t *shard_of(uint64_t h) { return &shards[h & (NSHARDS - 1)]; }
static size_t bucket_of(const shard_t *s, uint64_t h) { return (size_t)(h >> 4) & (s->nbuckets - 1); }

static node_t *find(shard_t *s, uint64_t h, const char *id, node_t ***link_out)
{
    node_t **link = &s->buckets[bucket_of(s, h)];
    for (node_t *n = *link; n; link = &n->hnext, n = n->hnext)
        if (n->hash == h && strcmp(n->blob->id, id) == 0) {
            if (link_out) *link_out = link;
            return n;
        }
    return NULL;
}

static size_t cost(const catalog_blob_t *b) { return b->len + sizeof *b + NODE_OVERHEAD; }

/* unlinks n from the hash chain and the ring and drops the cache's reference */
static void remove_node(shard_t *s, node_t *n, node_t **link)
{
    if (!link) {
        link = &s->buckets[bucket_of(s, n->hash)];
        while (*link != n) link = &(*link)->hnext;
    }
    *link = n->hnext;
    size_t i = n->ring_idx;
    s->ring[i] = s->ring[--s->nring];
    s->ring[i]->ring_idx = i;
    if (s->hand >= s->nring) s->hand = 0;
    s->bytes -= cost(n->blob);
    blob_unref(n->blob);
    free(n);
}

static void grow_buckets(shard_t *s)
{
    size_t nb = s->nbuckets * 2;
    node_t **b = xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < s->nring; i++) {
        node_t *n = s->ring[i];
        size_t k = (size_t)(n->hash >> 4) & (nb - 1);
        n->hnext = b[k];
        b[k] = n;
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

static void evict_for(shard_t *s, size_t need)
{
    while (s->nring > 0 && s->bytes + need > shard_budget) {
        if (s->hand >= s->nring) s->hand = 0;
        node_t *n = s->ring[s->hand];
        if (__atomic_exchange_n(&n->blob->ref_bit, 0, __ATOMIC_RELAXED)) {
            s->hand++;
            continue;
        }
        remove_node(s, n, NULL);
        metrics_inc(&st_evictions);
    }
}

catalog_blob_t *catalog_cache_get(const char *id)
{
    if (!g_inited || shard_budget == 0) return NULL;
    uint64_t h = hash_str(id);
    shard_t *s = shard_of(h);
    pthread_mutex_lock(&s->mu);
    node_t *n = find(s, h, id, NULL);
    catalog_blob_t *b = NULL;
    if (n) {
        b = n->blob;
        __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&b->ref_bit, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->mu);
    metrics_inc(b ? &st_hits : &st_misses);
    return b;
}

uint64_t catalog_cache_epoch(void) { return __atomic_load_n(&g_epoch, __ATOMIC_SEQ_CST); }
uint64_t catalog_generation(void) { return __atomic_load_n(&g_epoch, __ATOMIC_SEQ_CST); }

catalog_blob_t *catalog_cache_put(const product_doc_t *doc, uint64_t epoch)
{
    catalog_blob_t *b = xmalloc(sizeof *b + doc->len + 1);
    b->refs = 1;
    b->ref_bit = 0;
    b->status = doc->status;
    snprintf(b->id, sizeof b->id, "%s", doc->id);
    snprintf(b->seller_id, sizeof b->seller_id, "%s", doc->seller_id);
    b->len = doc->len;
    memcpy(b->data, doc->json, doc->len);
    b->data[doc->len] = '\0';
    if (!g_inited || shard_budget == 0 || cost(b) > shard_budget) return b;
    uint64_t h = hash_str(b->id);
    shard_t *s = shard_of(h);
    pthread_mutex_lock(&s->mu);
    if (__atomic_load_n(&g_epoch, __ATOMIC_SEQ_CST) != epoch) {
        pthread_mutex_unlock(&s->mu);
        return b; /* an invalidation raced with this fill: do not cache */
    }
    node_t **link;
    node_t *old = find(s, h, b->id, &link);
    if (old) remove_node(s, old, link);
    evict_for(s, cost(b));
    if (s->nring >= s->nbuckets) grow_buckets(s);
    if (s->nring == s->capring) {
        s->capring = s->capring ? s->capring * 2 : 256;
        s->ring = xrealloc(s->ring, s->capring * sizeof *s->ring);
    }
    node_t *n = xmalloc(sizeof *n);
    n->blob = b;
    n->hash = h;
    size_t k = bucket_of(s, h);
    n->hnext = s->buckets[k];
    s->buckets[k] = n;
    n->ring_idx = s->nring;
    s->ring[s->nring++] = n;
    s->bytes += cost(b);
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED); /* the cache's reference */
    pthread_mutex_unlock(&s->mu);
    return b;
}

void catalog_cache_invalidate(const char *product_id)
{
    __atomic_fetch_add(&g_epoch, 1, __ATOMIC_SEQ_CST);
    metrics_inc(&st_invalidations);
    if (!g_inited) return;
    uint64_t h = hash_str(product_id);
    shard_t *s = shard_of(h);
    pthread_mutex_lock(&s->mu);
    node_t **link;
    node_t *n = find(s, h, product_id, &link);
    if (n) remove_node(s, n, link);
    pthread_mutex_unlock(&s->mu);
}

void catalog_cache_clear(void)
{
    __atomic_fetch_add(&g_epoch, 1, __ATOMIC_SEQ_CST);
    metrics_inc(&st_invalidations);
    if (!g_inited) return;
    for (int i = 0; i < NSHARDS; i++) {
        pthread_mutex_lock(&shards[i].mu);
        shard_clear(&shards[i]);
        pthread_mutex_unlock(&shards[i].mu);
    }
}

int catalog_cache_on_event(db_t *db, const event_t *ev, void *ctx)
{
    (void)db;
    (void)ctx;
    if (!ev || !ev->type) return 0;
    if (strncmp(ev->type, "product.", 8) == 0 && ev->subject) {
        catalog_cache_invalidate(ev->subject);
    } else if (strncmp(ev->type, "review.", 7) == 0) {
        json_t *p = ev->payload ? json_loads(ev->payload, 0, NULL) : NULL;
        const char *pid = p ? json_string_value(json_object_get(p, "product_id")) : NULL;
        if (pid) catalog_cache_invalidate(pid);
        else catalog_cache_clear();
        json_decref(p);
    } else if (strncmp(ev->type, "category.", 9) == 0 || strncmp(ev->type, "catalog.", 8) == 0) {
        catalog_cache_clear();
    }
    return 0;
}

DB_SQL(q_id_by_handle, "SELECT id FROM products WHERE handle = $1");

catalog_blob_t *catalog_product_blob(db_conn_t *c, const char *key, int *rc)
{
    char idbuf[48];
    const char *id = key;
    if (!id_valid(key, strlen(key), "prod")) {
        if (!catalog_handle_valid(key)) {
            *rc = CAT_ENOTFOUND;
            return NULL;
        }
        int qrc;
        db_stmt_t *st = db_query(c, &q_id_by_handle, &qrc, "s", key);
        if (!st) {
            *rc = CAT_EDB;
            return NULL;
        }
        if (qrc != DB_ROW) {
            db_reset(st);
            *rc = CAT_ENOTFOUND;
            return NULL;
        }
        snprintf(idbuf, sizeof idbuf, "%s", db_col_text(st, 0));
        db_reset(st);
        id = idbuf;
    }
    catalog_blob_t *b = catalog_cache_get(id);
    if (b) {
        *rc = CAT_OK;
        return b;
    }
    uint64_t epoch = catalog_cache_epoch();
    product_doc_t doc;
    int r = product_render(c, id, &doc);
    if (r != CAT_OK) {
        *rc = r;
        return NULL;
    }
    b = catalog_cache_put(&doc, epoch);
    free(doc.json);
    *rc = CAT_OK;
    return b;
}

void catalog_cache_stats(catalog_cache_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->hits = metrics_get(&st_hits);
    out->misses = metrics_get(&st_misses);
    out->evictions = metrics_get(&st_evictions);
    out->invalidations = metrics_get(&st_invalidations);
    out->max_bytes = g_max_bytes;
    if (!g_inited) return;
    for (int i = 0; i < NSHARDS; i++) {
        pthread_mutex_lock(&shards[i].mu);
        out->entries += shards[i].nring;
        out->bytes += shards[i].bytes;
        pthread_mutex_unlock(&shards[i].mu);
    }
}

static void render_metrics(buf_t *out, void *ctx)
{
    (void)ctx;
    catalog_cache_stats_t s;
    catalog_cache_stats(&s);
    metrics_family(out, "mercato_catalog_cache_requests_total", "counter", "Product cache lookups by result.");
    buf_printf(out, "mercato_catalog_cache_requests_total{result=\"hit\"} %llu\n", (unsigned long long)s.hits);
    buf_printf(out, "mercato_catalog_cache_requests_total{result=\"miss\"} %llu\n", (unsigned long long)s.misses);
    metrics_family(out, "mercato_catalog_cache_evictions_total", "counter", "Products evicted by CLOCK.");
    buf_printf(out, "mercato_catalog_cache_evictions_total %llu\n", (unsigned long long)s.evictions);
    metrics_family(out, "mercato_catalog_cache_invalidations_total", "counter", "Cache invalidations (writes and events).");
    buf_printf(out, "mercato_catalog_cache_invalidations_total %llu\n", (unsigned long long)s.invalidations);
    metrics_family(out, "mercato_catalog_cache_entries", "gauge", "Products in the cache.");
    buf_printf(out, "mercato_catalog_cache_entries %llu\n", (unsigned long long)s.entries);
    metrics_family(out, "mercato_catalog_cache_bytes", "gauge", "Bytes charged to the cache budget.");
    buf_printf(out, "mercato_catalog_cache_bytes %llu\n", (unsigned long long)s.bytes);
    metrics_family(out, "mercato_catalog_cache_max_bytes", "gauge", "The cache budget.");
    buf_printf(out, "mercato_catalog_cache_max_bytes %llu\n", (unsigned long long)s.max_bytes);
}

void catalog_cache_register_metrics(void) { metrics_register(render_metrics, NULL); }
