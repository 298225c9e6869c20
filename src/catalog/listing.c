/*
 * listing.c — keyset pagination over products with generated SQL (see
 * listing.h).
 */
#include "catalog/listing.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/id.h"
#include "util/mem.h"
#include "util/str.h"

static const struct {
    const char *name;
    int desc;
} sorts[] = {
#define X(e, name, desc) { name, desc },
    PRODUCT_SORT_LIST(X)
#undef X
};

int product_sort_parse(const char *s)
{
    for (int i = 0; i < PRODUCT_SORT_COUNT; i++)
        if (s && strcmp(s, sorts[i].name) == 0) return i;
    return -1;
}

const char *product_sort_name(product_sort_t s) { return (int)s >= 0 && s < PRODUCT_SORT_COUNT ? sorts[s].name : "?"; }
bool product_sort_desc(product_sort_t s) { return (int)s >= 0 && s < PRODUCT_SORT_COUNT && sorts[s].desc; }

int64_t catalog_score_bits(double score)
{
    int64_t b;
    memcpy(&b, &score, sizeof b);
    return b;
}

double catalog_score_from_bits(int64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

int catalog_filter_parse(product_filter_t *f, const char **category, catalog_query_fn get, void *ctx, arena_t *a,
                         const catalog_actor_t *actor, const char **field, const char **message)
{
    memset(f, 0, sizeof *f);
    f->status = PRODUCT_PUBLISHED;
    *category = NULL;
    *field = *message = NULL;
    const char *v;
#define BAD(fl, msg) do { *field = (fl); *message = (msg); return -1; } while (0)
    if ((v = get(ctx, "category")) && *v) *category = v;
    if ((v = get(ctx, "tag")) && *v) {
        char *t = arena_alloc(a, CAT_TAG_MAX + 1);
        if (catalog_tag_normalize(t, CAT_TAG_MAX + 1, v) < 0) BAD("tag", "tags are 1 to 32 letters, digits and '-'");
        f->tag = t;
    }
    if ((v = get(ctx, "seller")) && *v) {
        if (!strcmp(v, "me") && actor->id) v = actor->id;
        if (strlen(v) >= 48 || (!id_valid(v, strlen(v), "usr") && !(actor->admin && !strcmp(v, "operator"))))
            BAD("seller", "must be a user id (usr_...) or \"me\"");
        f->seller_id = v;
    }
    static const char *const names[2] = { "price_min", "price_max" };
    for (int i = 0; i < 2; i++) {
        if (!(v = get(ctx, names[i])) || !*v) continue;
        long long n;
        if (str_to_i64(str_from(v), &n) < 0 || n < 0 || n > CAT_PRICE_MAX)
            BAD(names[i], "must be an integer amount of minor units (e.g. 1999 for 19.99)");
        if (i == 0) f->has_price_min = true, f->price_min = n;
        else f->has_price_max = true, f->price_max = n;
    }
    if ((v = get(ctx, "currency")) && *v) {
        if (!catalog_currency_valid(v)) BAD("currency", "must be an ISO 4217 code such as EUR");
        f->currency = v;
    }
    if ((v = get(ctx, "rating_min")) && *v) {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || !(d >= 0 && d <= 5)) BAD("rating_min", "must be a number from 0 to 5");
        f->rating_min = (int)(d * 100 + 0.5);
    }
    if ((v = get(ctx, "status")) && *v) {
        product_status_t s = product_status_parse(v);
        if (!s) BAD("status", "one of draft, pending_review, published, rejected, archived");
        if (s != PRODUCT_PUBLISHED && !actor->admin &&
            !(actor->id && f->seller_id && strcmp(f->seller_id, actor->id) == 0))
            return actor->id ? -3 : -2;
        f->status = s;
    }
#undef BAD
    return 0;
}

char *catalog_cursor_encode(arena_t *a, const catalog_cursor_t *c)
{
    char raw[128];
    int n = snprintf(raw, sizeof raw, "v1.%d.%lld.%s", c->sort, (long long)c->key, c->id);
    size_t cap = sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = arena_alloc(a, cap);
    sodium_bin2base64(out, cap, (const unsigned char *)raw, (size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

int catalog_cursor_decode(const char *s, catalog_cursor_t *out)
{
    memset(out, 0, sizeof *out);
    size_t sl = strlen(s);
    if (sl == 0 || sl > 160) return -1;
    unsigned char raw[128];
    size_t n = 0;
    if (sodium_base642bin(raw, sizeof raw - 1, s, sl, NULL, &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    raw[n] = '\0';
    if (strlen((char *)raw) != n || strncmp((char *)raw, "v1.", 3) != 0) return -1;
    char *p = (char *)raw + 3, *end;
    long sort = strtol(p, &end, 10);
    if (end == p || *end != '.' || sort < 0 || sort >= PRODUCT_SORT_COUNT) return -1;
    p = end + 1;
    long long key = strtoll(p, &end, 10);
    if (end == p || *end != '.') return -1;
    p = end + 1;
    if (!id_valid(p, strlen(p), "prod") && !id_valid(p, strlen(p), "rev")) return -1;
    out->sort = (int)sort;
    out->key = key;
    snprintf(out->id, sizeof out->id, "%s", p);
    return 0;
}

enum { F_CAT = 1, F_SELLER = 2, F_TAG = 4, F_PMIN = 8, F_PMAX = 16, F_CUR = 32, F_RATING = 64 };

unsigned listing_filter_mask(const product_filter_t *f)
{
    unsigned m = 0;
    if (f->has_category) m |= F_CAT;
    if (f->seller_id) m |= F_SELLER;
    if (f->tag) m |= F_TAG;
    if (f->has_price_min) m |= F_PMIN;
    if (f->has_price_max) m |= F_PMAX;
    if (f->currency) m |= F_CUR;
    if (f->rating_min > 0) m |= F_RATING;
    return m;
}

static void where_mask(buf_t *b, unsigned m, int *next)
{
    if (m & F_CAT) {
        buf_printf(b, " AND p.category_path >= $%d AND p.category_path < $%d", *next, *next + 1);
        *next += 2;
    }
    if (m & F_SELLER) buf_printf(b, " AND p.seller_id = $%d", (*next)++);
    if (m & F_TAG) buf_printf(b, " AND p.seq IN (SELECT t.product_seq FROM product_tags t WHERE t.tag = $%d)", (*next)++);
    if (m & F_PMIN) buf_printf(b, " AND p.price_min >= $%d", (*next)++);
    if (m & F_PMAX) buf_printf(b, " AND p.price_min <= $%d", (*next)++);
    if (m & F_CUR) buf_printf(b, " AND p.currency = $%d", (*next)++);
    if (m & F_RATING) buf_printf(b, " AND p.rating_avg >= $%d", (*next)++);
}

void listing_where(buf_t *b, const product_filter_t *f, int *next) { where_mask(b, listing_filter_mask(f), next); }

void listing_bind(db_stmt_t *st, const product_filter_t *f, int *next)
{
    if (f->has_category) {
        /* the range [path, path with its final '/' replaced by '0') */
        size_t n = strlen(f->category_path);
        char upper[sizeof f->category_path];
        snprintf(upper, sizeof upper, "%.*s0", (int)(n ? n - 1 : 0), f->category_path);
        db_bind_text(st, (*next)++, f->category_path);
        db_bind_text(st, (*next)++, upper);
    }
    if (f->seller_id) db_bind_text(st, (*next)++, f->seller_id);
    if (f->tag) db_bind_text(st, (*next)++, f->tag);
    if (f->has_price_min) db_bind_int(st, (*next)++, f->price_min);
    if (f->has_price_max) db_bind_int(st, (*next)++, f->price_max);
    if (f->currency) db_bind_text(st, (*next)++, f->currency);
    if (f->rating_min > 0) db_bind_int(st, (*next)++, f->rating_min);
}

/* ---- generated statements ---- */

#define NSLOTS (PRODUCT_SORT_COUNT * 2 * (1 << LISTING_FILTER_BITS) * 2)
static db_sql_t list_sql[NSLOTS];
static char list_ready[NSLOTS];
static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *key_column(product_sort_t sort, int by_created)
{
    switch (sort) {
    case PRODUCT_SORT_PRICE_ASC:
    case PRODUCT_SORT_PRICE_DESC: return "p.price_min";
    case PRODUCT_SORT_RATING: return "p.rating_avg";
    default: return by_created ? "p.created_at" : "p.published_at";
    }
}

static const db_sql_t *list_statement(product_sort_t sort, int by_created, unsigned mask, int cursor)
{
    size_t slot = (((size_t)sort * 2 + (size_t)by_created) * (1u << LISTING_FILTER_BITS) + mask) * 2 + (size_t)cursor;
    if (__atomic_load_n(&list_ready[slot], __ATOMIC_ACQUIRE)) return &list_sql[slot];
    pthread_mutex_lock(&list_mu);
    if (!list_ready[slot]) {
        const char *key = key_column(sort, by_created);
        const char *dir = product_sort_desc(sort) ? "DESC" : "ASC";
        buf_t b = BUF_INIT(0);
        int next = 2;
        buf_printf(&b, "SELECT p.id, %s FROM products p WHERE p.status = $1", key);
        where_mask(&b, mask, &next);
        if (cursor) {
            buf_printf(&b, " AND (%s, p.id) %s ($%d, $%d)", key, product_sort_desc(sort) ? "<" : ">", next, next + 1);
            next += 2;
        }
        buf_printf(&b, " ORDER BY %s %s, p.id %s LIMIT $%d", key, dir, dir, next);
        char *sql = buf_steal(&b, NULL);
        list_sql[slot].sqlite = sql; /* lives as long as the process: the statement caches point at it */
        list_sql[slot].pg = sql;
        __atomic_store_n(&list_ready[slot], 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&list_mu);
    return &list_sql[slot];
}

int product_list_ids(db_conn_t *c, arena_t *a, const product_filter_t *f, product_sort_t sort,
                     const catalog_cursor_t *after, int limit, product_page_t *out)
{
    memset(out, 0, sizeof *out);
    if (sort == PRODUCT_SORT_RELEVANCE || (int)sort < 0 || sort >= PRODUCT_SORT_COUNT) return CAT_EINVALID;
    int by_created = f->status != PRODUCT_PUBLISHED;
    if (by_created) sort = PRODUCT_SORT_NEWEST;
    if (limit < 1) limit = 1;
    if (limit > CAT_LIST_LIMIT_MAX) limit = CAT_LIST_LIMIT_MAX;
    const db_sql_t *q = list_statement(sort, by_created, listing_filter_mask(f), after != NULL);
    db_stmt_t *st = db_prepare(c, q);
    if (!st) return CAT_EDB;
    int next = 1;
    db_bind_text(st, next++, product_status_name(f->status));
    listing_bind(st, f, &next);
    if (after) {
        db_bind_int(st, next++, after->key);
        db_bind_text(st, next++, after->id);
    }
    db_bind_int(st, next++, limit + 1);
    out->ids = arena_alloc(a, (size_t)(limit + 1) * sizeof(char *));
    int rc;
    int64_t last_key = 0;
    while ((rc = db_step(st)) == DB_ROW) {
        if ((int)out->n == limit) {
            catalog_cursor_t cur = { .sort = sort, .key = last_key };
            snprintf(cur.id, sizeof cur.id, "%s", out->ids[out->n - 1]);
            out->next_cursor = catalog_cursor_encode(a, &cur);
            break;
        }
        out->ids[out->n++] = arena_strdup(a, db_col_text(st, 0));
        last_key = db_col_int(st, 1);
    }
    db_reset(st);
    return rc < 0 ? CAT_EDB : CAT_OK;
}
