/*
 * search.c — search execution, facets, suggestions and the answer cache
 * (see search.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* qsort_r */
#endif
#include "search/search.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/cache.h"
#include "search/terms.h"
#include "search/text.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

/* ---------- generated statements: [has words][filter mask] ---------- */

#define NSLOTS (2 * (1 << LISTING_FILTER_BITS))
static db_sql_t search_sql[NSLOTS];
static char search_ready[NSLOTS];
static pthread_mutex_t search_mu = PTHREAD_MUTEX_INITIALIZER;

#define COLS "p.category_id, p.seller_id, p.price_min, p.rating_avg, p.published_at, p.tags, p.title"

static char *build(int dialect_pg, int words, const product_filter_t *f)
{
    buf_t b = BUF_INIT(0);
    int next = words ? 3 : 2;
    if (!words)
        buf_puts(&b, "SELECT p.id, 0, " COLS " FROM products p WHERE p.status = $1");
    else if (!dialect_pg)
        buf_puts(&b, "SELECT p.id, CAST(-bm25(product_fts, 10.0, 4.0, 1.0) * 1000000 AS INTEGER), " COLS
                     " FROM product_fts CROSS JOIN products p ON p.seq = product_fts.rowid"
                     " WHERE product_fts MATCH $2 AND p.status = $1");
    else
        buf_puts(&b, "SELECT p.id, CAST(ts_rank('{0.05, 0.1, 0.4, 1.0}', p.search_vec, plainto_tsquery('mercato_search', $2)) * 1000000 AS BIGINT), " COLS
                     " FROM products p WHERE p.status = $1"
                     " AND p.search_vec @@ plainto_tsquery('mercato_search', $2)");
    listing_where(&b, f, &next);
    return buf_steal(&b, NULL);
}

static const db_sql_t *statement(int words, const product_filter_t *f)
{
    size_t slot = (size_t)words * (1u << LISTING_FILTER_BITS) + listing_filter_mask(f);
    if (__atomic_load_n(&search_ready[slot], __ATOMIC_ACQUIRE)) return &search_sql[slot];
    pthread_mutex_lock(&search_mu);
    if (!search_ready[slot]) {
        search_sql[slot].sqlite = build(0, words, f); /* process lifetime: statement caches point here */
        search_sql[slot].pg = build(1, words, f);
        __atomic_store_n(&search_ready[slot], 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&search_mu);
    return &search_sql[slot];
}

/* ---------- string interning for facet keys ---------- */

typedef struct intern {
    const char **keys;
    int64_t *counts;
    uint32_t *slots; /* index+1, 0 empty */
    size_t n, cap, nslots;
    arena_t *a;
} intern_t;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void intern_init(intern_t *t, arena_t *a)
{
    memset(t, 0, sizeof *t);
    t->a = a;
}

static void intern_free(intern_t *t)
{
    free(t->keys);
    free(t->counts);
    free(t->slots);
}

static void intern_rehash(intern_t *t)
{
    size_t ns = t->nslots ? t->nslots * 2 : 64;
    uint32_t *s = xcalloc(ns, sizeof *s);
    for (size_t i = 0; i < t->n; i++) {
        size_t j = hash_bytes(t->keys[i], strlen(t->keys[i])) & (ns - 1);
        while (s[j]) j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)(i + 1);
    }
    free(t->slots);
    t->slots = s;
    t->nslots = ns;
}

/* index of key s[0..n) (added with count 0 when new) */
static uint32_t intern_idx(intern_t *t, const char *s, size_t n)
{
    if ((t->n + 1) * 2 > t->nslots) intern_rehash(t);
    size_t j = hash_bytes(s, n) & (t->nslots - 1);
    while (t->slots[j]) {
        const char *k = t->keys[t->slots[j] - 1];
        if (strlen(k) == n && memcmp(k, s, n) == 0) return t->slots[j] - 1;
        j = (j + 1) & (t->nslots - 1);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->keys = xrealloc(t->keys, t->cap * sizeof *t->keys);
        t->counts = xrealloc(t->counts, t->cap * sizeof *t->counts);
    }
    t->keys[t->n] = arena_strndup(t->a, s, n);
    t->counts[t->n] = 0;
    t->slots[j] = (uint32_t)(t->n + 1);
    return (uint32_t)t->n++;
}

/* ---------- hits ---------- */

typedef struct hit {
    char id[48];
    double score;
    int64_t key; /* the sort key for non-relevance orders */
} hit_t;

/* qsort_r comparator; ctx points at the product_sort_t */
static int hit_cmp(const void *x, const void *y, void *ctx)
{
    const hit_t *a = x, *b = y;
    product_sort_t sort = *(const product_sort_t *)ctx;
    int c;
    if (sort == PRODUCT_SORT_RELEVANCE) {
        c = a->score > b->score ? -1 : a->score < b->score ? 1 : 0;
        if (!c) c = -strcmp(a->id, b->id);
        return c;
    }
    c = a->key < b->key ? -1 : a->key > b->key ? 1 : 0;
    if (!c) c = strcmp(a->id, b->id);
    return product_sort_desc(sort) ? -c : c;
}

/* > 0 when h comes after the cursor in this order */
static int after_cursor(const hit_t *h, product_sort_t sort, const catalog_cursor_t *cur)
{
    hit_t c = { .key = cur->key, .score = catalog_score_from_bits(cur->key) };
    snprintf(c.id, sizeof c.id, "%s", cur->id);
    return hit_cmp(h, &c, &sort) > 0;
}

typedef struct facet_entry {
    const char *key;
    int64_t count;
} facet_entry_t;

static int facet_cmp(const void *x, const void *y)
{
    const facet_entry_t *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return strcmp(a->key, b->key);
}

#define FACET_TOP 50

static void put_json_str(buf_t *o, const char *s)
{
    buf_putc(o, '"');
    buf_json_escape(o, s, strlen(s));
    buf_putc(o, '"');
}

/* {"buckets":[{"value":..,"count":..}...], "other": n} sorted by count */
static void facet_json(buf_t *o, intern_t *t, int64_t total_for_other, json_t *names)
{
    facet_entry_t *e = xmalloc((t->n ? t->n : 1) * sizeof *e);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->counts[i] > 0) e[n++] = (facet_entry_t){ t->keys[i], t->counts[i] };
    qsort(e, n, sizeof *e, facet_cmp);
    buf_puts(o, "{\"buckets\":[");
    int64_t shown = 0;
    for (size_t i = 0; i < n && i < FACET_TOP; i++) {
        if (i) buf_putc(o, ',');
        buf_puts(o, "{\"value\":");
        put_json_str(o, e[i].key);
        json_t *nm = names ? json_object_get(names, e[i].key) : NULL;
        if (nm) {
            buf_puts(o, ",\"name\":");
            put_json_str(o, json_string_value(json_array_get(nm, 0)));
            buf_puts(o, ",\"slug\":");
            put_json_str(o, json_string_value(json_array_get(nm, 1)));
        }
        buf_printf(o, ",\"count\":%lld}", (long long)e[i].count);
        shown += e[i].count;
    }
    buf_printf(o, "],\"other\":%lld}", (long long)(total_for_other >= 0 ? total_for_other - shown : 0));
    free(e);
}

DB_SQL(q_category_names, "SELECT id, name, slug FROM categories");

static json_t *category_names(db_conn_t *c)
{
    int rc;
    json_t *m = json_object();
    db_stmt_t *st = db_query(c, &q_category_names, &rc, "");
    if (!st) return m;
    while (rc == DB_ROW) {
        json_object_set_new(m, db_col_text(st, 0), json_pack("[s,s]", db_col_text(st, 1), db_col_text(st, 2)));
        rc = db_step(st);
    }
    db_reset(st);
    return m;
}

int search_run(db_conn_t *c, arena_t *a, const search_params_t *p, buf_t *out)
{
    search_tokens_t tk;
    const char *q = p->q ? p->q : "";
    search_tokenize(a, q, strlen(q), &tk);
    char *joined = search_tokens_join(a, &tk);
    int words = tk.n > 0;
    product_sort_t sort = p->sort;
    if (sort == PRODUCT_SORT_RELEVANCE && !words) sort = PRODUCT_SORT_NEWEST;
    if (p->after && p->after->sort != (int)sort) return CAT_EINVALID;
    int limit = p->limit < 1 ? 1 : p->limit > CAT_LIST_LIMIT_MAX ? CAT_LIST_LIMIT_MAX : p->limit;

    db_stmt_t *st = db_prepare(c, statement(words, &p->filter));
    if (!st) return CAT_EDB;
    int next = 1;
    db_bind_text(st, next++, product_status_name(p->filter.status));
    if (words) {
        if (db_conn_kind(c) == DB_SQLITE) db_bind_text(st, next++, search_fts5_expr(a, &tk, false));
        else db_bind_text(st, next++, joined);
    }
    listing_bind(st, &p->filter, &next);

    static const int64_t edges[] = SEARCH_PRICE_EDGES;
    enum { NEDGES = sizeof edges / sizeof edges[0] };
    int64_t price_counts[NEDGES] = { 0 }, rating_counts[6] = { 0 };
    intern_t cats, sellers, tags;
    intern_init(&cats, a);
    intern_init(&sellers, a);
    intern_init(&tags, a);
    hit_t *hits = NULL;
    size_t nh = 0, cap = 0;
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        if (nh == cap) {
            cap = cap ? cap * 2 : 256;
            hits = xrealloc(hits, cap * sizeof *hits);
        }
        hit_t *h = &hits[nh++];
        snprintf(h->id, sizeof h->id, "%s", db_col_text(st, 0));
        /* scores arrive as integer millionths: reading a REAL column as text
         * and parsing it back cost more than the rest of the row */
        h->score = words ? (double)db_col_int(st, 1) / 1e6 : 0;
        const char *cat = db_col_text(st, 2);
        /* intern first: it may move the counts array */
        uint32_t k1;
        if (cat) {
            k1 = intern_idx(&cats, cat, strlen(cat));
            cats.counts[k1]++;
        }
        const char *sel = db_col_text(st, 3);
        k1 = intern_idx(&sellers, sel, strlen(sel));
        sellers.counts[k1]++;
        int64_t price = db_col_int(st, 4);
        int k = NEDGES - 1;
        while (k > 0 && price < edges[k]) k--;
        price_counts[k]++;
        int64_t ravg = db_col_int(st, 5);
        rating_counts[ravg > 0 ? (ravg / 100 > 5 ? 5 : ravg / 100) : 0]++;
        for (const char *t = db_col_text(st, 7); t && *t;) {
            const char *e = strchr(t, ' ');
            size_t l = e ? (size_t)(e - t) : strlen(t);
            if (l) {
                uint32_t k2 = intern_idx(&tags, t, l);
                tags.counts[k2]++;
            }
            t = e ? e + 1 : t + l;
        }
        switch (sort) {
        case PRODUCT_SORT_PRICE_ASC:
        case PRODUCT_SORT_PRICE_DESC: h->key = price; break;
        case PRODUCT_SORT_RATING: h->key = ravg; break;
        case PRODUCT_SORT_NEWEST: h->key = db_col_int(st, 6); break;
        default: h->key = 0;
        }
        if (words) {
            const char *title = db_col_text(st, 8);
            char *ft = search_fold(a, title, strlen(title));
            if (strcmp(ft, joined) == 0) h->score += 1000.0; /* an exact title match ranks first */
        }
    }
    db_reset(st);
    if (rc < 0) {
        free(hits);
        intern_free(&cats);
        intern_free(&sellers);
        intern_free(&tags);
        return CAT_EDB;
    }
    if (nh > 1) qsort_r(hits, nh, sizeof *hits, hit_cmp, &sort);
    size_t start = 0;
    if (p->after)
        while (start < nh && !after_cursor(&hits[start], sort, p->after)) start++;

    buf_puts(out, "{\"q\":");
    put_json_str(out, joined);
    buf_printf(out, ",\"sort\":\"%s\",\"total\":%zu,\"items\":[", product_sort_name(sort), nh);
    size_t end = start + (size_t)limit < nh ? start + (size_t)limit : nh;
    int first = 1;
    for (size_t i = start; i < end; i++) {
        int brc;
        catalog_blob_t *b = catalog_product_blob(c, hits[i].id, &brc);
        if (!b) continue; /* deleted since the query: skip rather than fail */
        if (!first) buf_putc(out, ',');
        first = 0;
        buf_append(out, b->data, b->len);
        catalog_blob_release(b);
    }
    buf_puts(out, "],\"next_cursor\":");
    if (end < nh && end > start) {
        catalog_cursor_t nc = { .sort = sort };
        snprintf(nc.id, sizeof nc.id, "%s", hits[end - 1].id);
        nc.key = sort == PRODUCT_SORT_RELEVANCE ? catalog_score_bits(hits[end - 1].score) : hits[end - 1].key;
        put_json_str(out, catalog_cursor_encode(a, &nc));
    } else {
        buf_puts(out, "null");
    }
    /* facets */
    json_t *names = category_names(c);
    buf_puts(out, ",\"facets\":{\"category\":");
    facet_json(out, &cats, (int64_t)nh - 0, names);
    json_decref(names);
    buf_puts(out, ",\"seller\":");
    facet_json(out, &sellers, (int64_t)nh, NULL);
    buf_puts(out, ",\"tag\":");
    facet_json(out, &tags, -1, NULL);
    buf_puts(out, ",\"price\":[");
    for (int i = 0; i < NEDGES; i++) {
        if (i) buf_putc(out, ',');
        buf_printf(out, "{\"min\":%lld,\"max\":", (long long)edges[i]);
        if (i + 1 < NEDGES) buf_printf(out, "%lld", (long long)edges[i + 1]);
        else buf_puts(out, "null");
        buf_printf(out, ",\"count\":%lld}", (long long)price_counts[i]);
    }
    buf_puts(out, "],\"rating\":[");
    for (int r = 5; r >= 0; r--) {
        if (r < 5) buf_putc(out, ',');
        if (r) buf_printf(out, "{\"stars\":%d,\"count\":%lld}", r, (long long)rating_counts[r]);
        else buf_printf(out, "{\"stars\":null,\"count\":%lld}", (long long)rating_counts[0]);
    }
    buf_puts(out, "]}}");
    free(hits);
    intern_free(&cats);
    intern_free(&sellers);
    intern_free(&tags);
    return CAT_OK;
}

int search_suggest(db_conn_t *c, arena_t *a, const char *q, int limit, buf_t *out)
{
    search_tokens_t tk;
    search_tokenize(a, q ? q : "", q ? strlen(q) : 0, &tk);
    char *joined = search_tokens_join(a, &tk);
    buf_puts(out, "{\"q\":");
    put_json_str(out, joined);
    buf_puts(out, ",\"suggestions\":[");
    if (tk.n > 0) {
        search_term_hit_t hits[20];
        if (limit < 1) limit = 1;
        if (limit > 20) limit = 20;
        int n = search_terms_complete(c, a, tk.tok[tk.n - 1], limit, hits);
        if (n < 0) return CAT_EDB;
        search_tokens_t head = tk;
        head.n--;
        char *prefix = search_tokens_join(a, &head);
        for (int i = 0; i < n; i++) {
            if (i) buf_putc(out, ',');
            buf_puts(out, "{\"text\":\"");
            if (prefix[0]) {
                buf_json_escape(out, prefix, strlen(prefix));
                buf_putc(out, ' ');
            }
            buf_json_escape(out, hits[i].term, strlen(hits[i].term));
            buf_puts(out, "\",\"term\":");
            put_json_str(out, hits[i].term);
            buf_printf(out, ",\"count\":%lld,\"fuzzy\":%s}", (long long)hits[i].docs, hits[i].fuzzy ? "true" : "false");
        }
    }
    buf_puts(out, "]}");
    return CAT_OK;
}

/* ---------- the answer cache ---------- */

#define SC_SLOTS 4096
#define SC_STRIPES 16
#define SC_WAYS 4 /* see search_cache_get */

typedef struct sc_entry {
    uint64_t hash, gen;
    char *key;
    char *body;
    size_t len;
    uint64_t used; /* recency stamp (sc_tick) */
    char etag[HTTP_ETAG_LEN];
} sc_entry_t;

static sc_entry_t sc[SC_SLOTS];
static pthread_mutex_t sc_mu[SC_STRIPES];
static size_t sc_budget, sc_bytes; /* sc_bytes: atomic */
static int sc_inited;
static uint64_t sc_hits, sc_misses;

void search_cache_init(size_t max_bytes)
{
    if (!sc_inited) {
        for (int i = 0; i < SC_STRIPES; i++) pthread_mutex_init(&sc_mu[i], NULL);
        sc_inited = 1;
    }
    search_cache_shutdown();
    sc_budget = max_bytes;
}

void search_cache_shutdown(void)
{
    if (!sc_inited) return;
    for (int i = 0; i < SC_SLOTS; i++) {
        pthread_mutex_lock(&sc_mu[(i / SC_WAYS) % SC_STRIPES]);
        /* empty slots are only read: writing all of them would make the
         * table's 288 KB resident in a process that never searched */
        if (sc[i].key) {
            free(sc[i].key);
            free(sc[i].body);
            memset(&sc[i], 0, sizeof sc[i]);
        }
        pthread_mutex_unlock(&sc_mu[(i / SC_WAYS) % SC_STRIPES]);
    }
    __atomic_store_n(&sc_bytes, 0, __ATOMIC_RELAXED);
}

/* The cache is 4-way set associative: a key may live in any of the four
 * slots of its set, so two hot answers whose hashes share a slot do not
 * evict each other on every request (with one slot per key, one such pair
 * made every other request run a full search).  A set is guarded by one
 * stripe lock; the least recently used entry of a full set is replaced. */
static uint64_t sc_tick; /* atomic: recency stamps */

static size_t sc_set(uint64_t h) { return (size_t)(h & (SC_SLOTS - 1)) & ~(size_t)(SC_WAYS - 1); }
static pthread_mutex_t *sc_lock(size_t set) { return &sc_mu[(set / SC_WAYS) % SC_STRIPES]; }

bool search_cache_get(const char *key, buf_t *out, char etag[HTTP_ETAG_LEN])
{
    if (!sc_inited || !sc_budget) return false;
    uint64_t h = hash_bytes(key, strlen(key));
    size_t set = sc_set(h);
    bool hit = false;
    uint64_t gen = catalog_generation();
    pthread_mutex_lock(sc_lock(set));
    for (size_t i = set; i < set + SC_WAYS; i++) {
        if (sc[i].key && sc[i].hash == h && sc[i].gen == gen && strcmp(sc[i].key, key) == 0) {
            hit = buf_append(out, sc[i].body, sc[i].len) == 0;
            memcpy(etag, sc[i].etag, HTTP_ETAG_LEN);
            sc[i].used = __atomic_add_fetch(&sc_tick, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    pthread_mutex_unlock(sc_lock(set));
    metrics_inc(hit ? &sc_hits : &sc_misses);
    return hit;
}

void search_cache_put(const char *key, uint64_t gen, const char *body, size_t len, char etag[HTTP_ETAG_LEN])
{
    http_etag_of(etag, body, len);
    if (!sc_inited || !sc_budget) return;
    size_t kl = strlen(key), cost = len + kl + 64;
    if (cost > sc_budget / 8) return; /* one answer may not crowd out the rest */
    if (__atomic_load_n(&sc_bytes, __ATOMIC_RELAXED) + cost > sc_budget) search_cache_shutdown();
    uint64_t h = hash_bytes(key, kl);
    size_t set = sc_set(h);
    char *k = xstrdup(key), *b = xmalloc(len + 1);
    memcpy(b, body, len);
    b[len] = '\0';
    pthread_mutex_lock(sc_lock(set));
    /* the same key, else an empty or stale slot, else the least recently used */
    size_t v = set;
    int score = -1;
    for (size_t i = set; i < set + SC_WAYS; i++) {
        int sco = !sc[i].key ? 2 : sc[i].gen != catalog_generation() ? 1 : 0;
        if (sc[i].key && sc[i].hash == h && strcmp(sc[i].key, key) == 0) {
            v = i;
            break;
        }
        if (sco > score || (sco == score && sc[i].used < sc[v].used)) {
            v = i;
            score = sco;
        }
    }
    if (sc[v].key) __atomic_fetch_sub(&sc_bytes, sc[v].len + strlen(sc[v].key) + 64, __ATOMIC_RELAXED);
    free(sc[v].key);
    free(sc[v].body);
    sc[v] = (sc_entry_t){ h, gen, k, b, len, __atomic_add_fetch(&sc_tick, 1, __ATOMIC_RELAXED), { 0 } };
    memcpy(sc[v].etag, etag, HTTP_ETAG_LEN);
    __atomic_fetch_add(&sc_bytes, cost, __ATOMIC_RELAXED);
    pthread_mutex_unlock(sc_lock(set));
}

static void render_metrics(buf_t *out, void *ctx)
{
    (void)ctx;
    metrics_family(out, "mercato_search_cache_requests_total", "counter", "Search answer cache lookups by result.");
    buf_printf(out, "mercato_search_cache_requests_total{result=\"hit\"} %llu\n", (unsigned long long)metrics_get(&sc_hits));
    buf_printf(out, "mercato_search_cache_requests_total{result=\"miss\"} %llu\n",
               (unsigned long long)metrics_get(&sc_misses));
    metrics_family(out, "mercato_search_cache_bytes", "gauge", "Bytes held by the search answer cache.");
    buf_printf(out, "mercato_search_cache_bytes %zu\n", __atomic_load_n(&sc_bytes, __ATOMIC_RELAXED));
}

void search_register_metrics(void) { metrics_register(render_metrics, NULL); }
