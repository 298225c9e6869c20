/*
 * seed.c — the deterministic demo catalog (see seed.h).
 *
 * Everything comes from one splitmix64 sequence seeded with a constant, in
 * a fixed order, so the same N yields byte-identical rows.  Ids are ULIDs
 * built from a fixed clock (2025-01-01 plus one minute per product) and the
 * sequence, instead of id_new()'s real clock and randomness.
 */
#include "catalog/seed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/cache.h"
#include "catalog/catalog.h"
#include "jobs/events.h"
#include "search/text.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define BASE_MS 1735689600000LL /* 2025-01-01T00:00:00Z */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t next64(rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int pick(rng_t *r, int n) { return (int)(next64(r) % (uint64_t)n); }

static void ulid(char *out, size_t outlen, const char *prefix, int64_t ms, rng_t *r)
{
    static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";
    char body[27];
    uint64_t t = (uint64_t)ms;
    for (int i = 9; i >= 0; i--) {
        body[i] = b32[t & 31];
        t >>= 5;
    }
    uint64_t x = next64(r), y = next64(r);
    for (int i = 10; i < 26; i++) {
        uint64_t *src = i < 22 ? &x : &y;
        body[i] = b32[*src & 31];
        *src >>= 5;
    }
    body[26] = '\0';
    snprintf(out, outlen, "%s_%s", prefix, body);
}

/* ---- the shop's vocabulary ---- */

typedef struct leaf {
    const char *name;
    const char *nouns[6];
    int price_lo, price_hi; /* euros */
    int options;            /* 0 none, 1 clothing sizes, 2 shoe sizes, 3 colours */
} leaf_t;

typedef struct root {
    const char *name;
    const char *tags[4];
    leaf_t leaves[5];
} root_t;

static const root_t roots[] = {
    { "Clothing", { "fashion", "everyday", "gift", "bestseller" },
      { { "Tops", { "T-Shirt", "Shirt", "Blouse", "Polo", "Tank Top", NULL }, 15, 60, 1 },
        { "Knitwear", { "Sweater", "Cardigan", "Hoodie", "Turtleneck", NULL }, 35, 140, 1 },
        { "Outerwear", { "Jacket", "Parka", "Raincoat", "Gilet", "Blazer", NULL }, 60, 320, 1 },
        { "Trousers", { "Jeans", "Chinos", "Joggers", "Shorts", NULL }, 30, 120, 1 },
        { NULL, { NULL }, 0, 0, 0 } } },
    { "Footwear", { "shoes", "walking", "gift", "bestseller" },
      { { "Boots", { "Chelsea Boots", "Hiking Boots", "Ankle Boots", "Rain Boots", NULL }, 70, 260, 2 },
        { "Sneakers", { "Sneakers", "Trainers", "Runners", "Slip-Ons", NULL }, 45, 180, 2 },
        { "Sandals", { "Sandals", "Slides", "Espadrilles", NULL }, 20, 90, 2 },
        { NULL, { NULL }, 0, 0, 0 } } },
    { "Home", { "home", "interior", "gift", "eco" },
      { { "Kitchen", { "Teapot", "Chef Knife", "Cutting Board", "Mug", "Skillet", "Salad Bowl" }, 9, 150, 3 },
        { "Bedding", { "Duvet Cover", "Pillowcase", "Throw Blanket", "Quilt", NULL }, 25, 220, 3 },
        { "Lighting", { "Table Lamp", "Floor Lamp", "Pendant Light", "Lantern", NULL }, 30, 300, 3 },
        { "Decor", { "Vase", "Candle Holder", "Mirror", "Rug", "Cushion", NULL }, 12, 260, 3 },
        { NULL, { NULL }, 0, 0, 0 } } },
    { "Sports", { "outdoor", "fitness", "training", "eco" },
      { { "Cycling", { "Bike Helmet", "Cycling Gloves", "Saddle Bag", "Bike Light", NULL }, 15, 180, 3 },
        { "Running", { "Running Vest", "Running Tights", "Water Bottle", "Armband", NULL }, 10, 90, 1 },
        { "Camping", { "Tent", "Sleeping Bag", "Camp Stove", "Headlamp", "Backpack", NULL }, 20, 450, 3 },
        { "Yoga", { "Yoga Mat", "Yoga Block", "Meditation Cushion", NULL }, 15, 110, 3 },
        { NULL, { NULL }, 0, 0, 0 } } },
    { "Electronics", { "tech", "wireless", "gift", "bestseller" },
      { { "Audio", { "Headphones", "Earbuds", "Speaker", "Turntable", NULL }, 25, 400, 3 },
        { "Cameras", { "Instant Camera", "Action Camera", "Camera Strap", "Tripod", NULL }, 20, 700, 0 },
        { "Accessories", { "Charger", "Phone Case", "Cable", "Power Bank", "Laptop Sleeve", NULL }, 8, 90, 3 },
        { NULL, { NULL }, 0, 0, 0 } } },
    { "Beauty", { "care", "natural", "gift", "vegan" },
      { { "Skincare", { "Face Cream", "Serum", "Cleanser", "Lip Balm", NULL }, 6, 80, 0 },
        { "Fragrance", { "Eau de Parfum", "Scented Candle", "Room Spray", NULL }, 15, 150, 0 },
        { NULL, { NULL }, 0, 0, 0 } } },
    { "Stationery", { "office", "school", "gift", "paper" },
      { { "Notebooks", { "Notebook", "Sketchbook", "Planner", "Journal", NULL }, 5, 40, 3 },
        { "Pens", { "Fountain Pen", "Ballpoint Pen", "Pencil Set", "Marker Set", NULL }, 3, 120, 3 },
        { NULL, { NULL }, 0, 0, 0 } } },
    { "Garden", { "garden", "outdoor", "eco", "plants" },
      { { "Tools", { "Pruning Shears", "Trowel", "Watering Can", "Garden Fork", NULL }, 8, 90, 0 },
        { "Planters", { "Planter", "Plant Pot", "Raised Bed", "Hanging Basket", NULL }, 10, 180, 3 },
        { NULL, { NULL }, 0, 0, 0 } } },
};
#define NROOTS ((int)(sizeof roots / sizeof roots[0]))

static const char *const adjectives[] = {
    "Classic", "Everyday", "Vintage", "Modern", "Rustic", "Minimal", "Cosy", "Lightweight", "Heavy-Duty", "Slim",
    "Oversized", "Handmade", "Organic", "Recycled", "Premium", "Compact", "Foldable", "Waterproof", "Breathable",
    "Nordic", "Alpine", "Coastal", "Urban", "Studio", "Heritage", "Signature", "Essential", "Deluxe", "Soft", "Bold",
};
static const char *const materials[] = {
    "Wool", "Merino", "Cotton", "Linen", "Denim", "Leather", "Suede", "Canvas", "Bamboo", "Oak", "Walnut",
    "Ceramic", "Stoneware", "Glass", "Copper", "Brass", "Steel", "Cashmere", "Silk", "Velvet", "Cork", "Hemp",
    "Crème", "Café", "Señorita", "Jacquard",
};
static const char *const colours[] = { "Black", "White", "Navy", "Olive", "Sand", "Rust", "Grey", "Forest", "Ivory", "Plum" };
static const char *const brands[] = {
    "Fjällkind", "Northwind", "Atelier Brun", "Kestrel & Co", "Maison Lune", "Tidewater", "Oakhaven", "Blue Heron",
    "Søndergaard", "Pinecrest", "Lumen", "Copperfield", "Wildroot", "Ardent", "Halcyon", "Emberly",
};
static const char *const uses[] = {
    "for daily wear", "for long weekends away", "for small apartments", "for cold mornings",
    "for the trail", "for gifting", "for the studio", "that lasts for years", "for city commutes",
    "for slow Sundays",
};
static const char *const review_titles[6][3] = {
    { "", "", "" },
    { "Disappointed", "Fell apart", "Not as described" },
    { "Could be better", "Just okay", "Meh" },
    { "Decent", "Does the job", "Fair for the price" },
    { "Really good", "Happy with it", "Nice quality" },
    { "Love it", "Perfect", "Exceeded expectations" },
};
static const char *const review_bodies[6][2] = {
    { "", "" },
    { "The stitching came loose within a week.", "Colour and size were different from the photos." },
    { "Works, but the finish is rough in places.", "Took a long time to arrive and feels cheap." },
    { "Solid enough for everyday use.", "Nothing special, nothing wrong." },
    { "Good materials and it arrived quickly.", "Fits well and looks great." },
    { "Beautifully made, I bought a second one.", "Exactly what I hoped for, would recommend." },
};
static const char *const clothing_sizes[] = { "XS", "S", "M", "L", "XL" };

DB_SQL(q_count, "SELECT (SELECT COUNT(*) FROM products) + (SELECT COUNT(*) FROM categories)");
DB_SQL(q_cat, "INSERT INTO categories (id, parent_id, name, slug, path, position, created_at, updated_at) "
              "VALUES ($1, $2, $3, $4, $5, $6, $7, $7)");
DB_SQL(q_prod,
       "INSERT INTO products (id, seller_id, handle, title, description, status, category_id, category_path, tags, "
       "attributes, currency, price_min, price_max, rating_count, rating_sum, rating_avg, version, published_at, "
       "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'EUR', $11, $12, $13, $14, $15, 1, "
       "$16, $17, $17) RETURNING seq");
DB_SQL(q_var, "INSERT INTO variants (id, product_id, sku, title, options, price_amount, currency, weight_grams, "
              "position, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'EUR', $7, $8, $9, $9)");
DB_SQL(q_tag, "INSERT INTO product_tags (tag, product_seq) VALUES ($1, $2)");
DB_SQL(q_rev, "INSERT INTO reviews (id, product_id, author_id, rating, title, body, verified, created_at, updated_at) "
              "VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)");
DB_SQL(q_term, "INSERT INTO search_terms (term, docs) VALUES ($1, $2) "
               "ON CONFLICT (term) DO UPDATE SET docs = search_terms.docs + $2");

typedef struct leafref {
    char id[48];
    char path[128];
    const root_t *root;
    const leaf_t *leaf;
} leafref_t;

/* a tiny string -> count map for the vocabulary */
typedef struct vocab {
    char **keys;
    long *counts;
    size_t n, cap;
} vocab_t;

static void vocab_add(vocab_t *v, const char *w)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], w) == 0) {
            v->counts[i]++;
            return;
        }
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->keys = xrealloc(v->keys, v->cap * sizeof *v->keys);
        v->counts = xrealloc(v->counts, v->cap * sizeof *v->counts);
    }
    v->keys[v->n] = xstrdup(w);
    v->counts[v->n++] = 1;
}

static void vocab_free(vocab_t *v)
{
    for (size_t i = 0; i < v->n; i++) free(v->keys[i]);
    free(v->keys);
    free(v->counts);
}

static int check(int64_t rc, db_conn_t *c, const char *what)
{
    if (rc >= 0) return 0;
    log_error("seed", "%s failed: %s", what, db_errmsg(c));
    return -1;
}

static int seed_categories(db_conn_t *c, rng_t *r, leafref_t *leaves, int *nleaves, catalog_seed_stats_t *st)
{
    int n = 0;
    for (int i = 0; i < NROOTS; i++) {
        char rid[48], rpath[64], slug[64];
        ulid(rid, sizeof rid, "cat", BASE_MS - 86400000LL, r);
        snprintf(rpath, sizeof rpath, "/%s/", rid);
        catalog_handle_from_title(slug, sizeof slug, roots[i].name);
        if (check(db_exec(c, &q_cat, "sssssiL", rid, NULL, roots[i].name, slug, rpath, i, BASE_MS), c, "category") < 0)
            return -1;
        st->categories++;
        for (int j = 0; roots[i].leaves[j].name; j++) {
            leafref_t *l = &leaves[n++];
            ulid(l->id, sizeof l->id, "cat", BASE_MS - 86400000LL, r);
            snprintf(l->path, sizeof l->path, "%s%s/", rpath, l->id);
            l->root = &roots[i];
            l->leaf = &roots[i].leaves[j];
            char ls[64];
            catalog_handle_from_title(ls, sizeof ls, l->leaf->name);
            if (check(db_exec(c, &q_cat, "sssssiL", l->id, rid, l->leaf->name, ls, l->path, j, BASE_MS), c,
                      "category") < 0)
                return -1;
            st->categories++;
        }
    }
    *nleaves = n;
    return 0;
}

static int seed_product(db_conn_t *c, arena_t *a, rng_t *r, long i, const leafref_t *leaves, int nleaves,
                        char (*sellers)[48], int nsellers, vocab_t *vocab, catalog_seed_stats_t *st)
{
    const leafref_t *L = &leaves[pick(r, nleaves)];
    const leaf_t *leaf = L->leaf;
    int nn = 0;
    while (nn < 6 && leaf->nouns[nn]) nn++;
    const char *noun = leaf->nouns[pick(r, nn)];
    const char *adj = adjectives[pick(r, (int)(sizeof adjectives / sizeof *adjectives))];
    const char *mat = materials[pick(r, (int)(sizeof materials / sizeof *materials))];
    const char *brand = brands[pick(r, (int)(sizeof brands / sizeof *brands))];
    const char *use = uses[pick(r, (int)(sizeof uses / sizeof *uses))];
    int with_brand = pick(r, 3) == 0;
    char *title = with_brand ? arena_sprintf(a, "%s %s %s by %s", adj, mat, noun, brand)
                             : arena_sprintf(a, "%s %s %s", adj, mat, noun);
    char *desc = arena_sprintf(a,
                               "A %s %s in %s %s. Designed by %s with attention to every detail, it is made to be used "
                               "and loved. %s.",
                               adj, noun, mat, use, brand,
                               pick(r, 2) ? "Ships in recyclable packaging" : "Backed by a two-year guarantee");
    int64_t created = BASE_MS + i * 60000LL;
    char id[48];
    ulid(id, sizeof id, "prod", created, r);
    char base[CAT_HANDLE_MAX + 1];
    catalog_handle_from_title(base, 90, title);
    char *handle = arena_sprintf(a, "%s-%lx", base, i + 1);
    const char *seller = sellers[pick(r, nsellers)];
    /* tags: two from the department, the material, sometimes a colour */
    buf_t tags = BUF_INIT(0);
    int t1 = pick(r, 4), t2 = (t1 + 1 + pick(r, 3)) % 4;
    char norm[CAT_TAG_MAX + 1];
    buf_printf(&tags, "%s %s", L->root->tags[t1], L->root->tags[t2]);
    if (catalog_tag_normalize(norm, sizeof norm, mat) == 0) buf_printf(&tags, " %s", norm);
    const char *colour = colours[pick(r, (int)(sizeof colours / sizeof *colours))];
    if (pick(r, 2) && catalog_tag_normalize(norm, sizeof norm, colour) == 0) buf_printf(&tags, " %s", norm);
    char *tagstr = arena_strdup(a, tags.ptr);
    buf_free(&tags);
    json_t *attrs = json_pack("{s:s, s:s, s:s}", "brand", brand, "material", mat, "colour", colour);
    char *attrs_s = json_dumps(attrs, JSON_COMPACT);
    json_decref(attrs);
    /* status: ~94% published */
    int roll = pick(r, 100);
    const char *status = roll < 94 ? "published" : roll < 97 ? "pending_review" : "draft";
    int published = roll < 94;
    /* variants */
    int nv = leaf->options == 0 ? 1 : 1 + pick(r, 4);
    int64_t base_price = (leaf->price_lo + pick(r, leaf->price_hi - leaf->price_lo + 1)) * 100LL - (pick(r, 2) ? 1 : 5);
    int64_t prices[5], pmin = 0, pmax = 0;
    for (int v = 0; v < nv; v++) {
        prices[v] = base_price + (leaf->options == 3 ? pick(r, 3) * 500 : v * 200);
        if (v == 0 || prices[v] < pmin) pmin = prices[v];
        if (v == 0 || prices[v] > pmax) pmax = prices[v];
    }
    /* reviews (published products only) */
    int nrev = published && pick(r, 10) < 6 ? 1 + pick(r, 8) : 0;
    int ratings[8];
    int64_t rsum = 0;
    for (int k = 0; k < nrev; k++) {
        int x = pick(r, 100);
        ratings[k] = x < 45 ? 5 : x < 75 ? 4 : x < 88 ? 3 : x < 95 ? 2 : 1;
        rsum += ratings[k];
    }
    int64_t ravg = nrev ? (rsum * 100 + nrev / 2) / nrev : 0;
    db_stmt_t *s = db_prepare(c, &q_prod);
    if (!s) {
        free(attrs_s);
        return -1;
    }
    db_bind_text(s, 1, id);
    db_bind_text(s, 2, seller);
    db_bind_text(s, 3, handle);
    db_bind_text(s, 4, title);
    db_bind_text(s, 5, desc);
    db_bind_text(s, 6, status);
    db_bind_text(s, 7, L->id);
    db_bind_text(s, 8, L->path);
    db_bind_text(s, 9, tagstr);
    db_bind_text(s, 10, attrs_s);
    db_bind_int(s, 11, pmin);
    db_bind_int(s, 12, pmax);
    db_bind_int(s, 13, nrev);
    db_bind_int(s, 14, rsum);
    db_bind_int(s, 15, ravg);
    if (published) db_bind_int(s, 16, created + 3600000LL);
    else db_bind_null(s, 16);
    db_bind_int(s, 17, created);
    int rc = db_step(s);
    int64_t seq = rc == DB_ROW ? db_col_int(s, 0) : 0;
    db_reset(s);
    free(attrs_s);
    if (rc != DB_ROW) return check(-1, c, "product");
    st->products++;
    if (published) st->published++;
    for (int v = 0; v < nv; v++) {
        char vid[48], opts[96], vtitle[64];
        ulid(vid, sizeof vid, "var", created, r);
        switch (leaf->options) {
        case 1:
            snprintf(opts, sizeof opts, "{\"size\":\"%s\"}", clothing_sizes[v + 1]);
            snprintf(vtitle, sizeof vtitle, "%s", clothing_sizes[v + 1]);
            break;
        case 2:
            snprintf(opts, sizeof opts, "{\"size\":\"%d\"}", 39 + v * 2);
            snprintf(vtitle, sizeof vtitle, "EU %d", 39 + v * 2);
            break;
        case 3:
            snprintf(opts, sizeof opts, "{\"colour\":\"%s\"}", colours[(v * 3 + (int)i) % 10]);
            snprintf(vtitle, sizeof vtitle, "%s", colours[(v * 3 + (int)i) % 10]);
            break;
        default:
            snprintf(opts, sizeof opts, "{}");
            snprintf(vtitle, sizeof vtitle, "Default");
        }
        char sku[48];
        snprintf(sku, sizeof sku, "MC-%06lX-%d", (unsigned long)(i + 1), v + 1);
        if (check(db_exec(c, &q_var, "sssssLiiL", vid, id, sku, vtitle, opts, prices[v], 150 + pick(r, 2000), v,
                          created),
                  c, "variant") < 0)
            return -1;
        st->variants++;
    }
    for (const char *p = tagstr; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char t[CAT_TAG_MAX + 1];
        snprintf(t, sizeof t, "%.*s", (int)l, p);
        if (check(db_exec(c, &q_tag, "sL", t, seq), c, "tag") < 0) return -1;
        p = e ? e + 1 : p + l;
    }
    int author_base = pick(r, 50000);
    for (int k = 0; k < nrev; k++) {
        char rid[48], author[48];
        ulid(rid, sizeof rid, "rev", created + 86400000LL * (k + 1), r);
        /* customers are a stable pool of 50,000 ids, distinct within a product */
        rng_t cr = { (uint64_t)((author_base + k * 7919) % 50000 + 7) * 0x2545F4914F6CDD1DULL };
        ulid(author, sizeof author, "usr", BASE_MS - 3 * 86400000LL, &cr);
        int x = ratings[k];
        if (check(db_exec(c, &q_rev, "sssissL", rid, id, author, x, review_titles[x][pick(r, 3)],
                          review_bodies[x][pick(r, 2)], created + 86400000LL * (k + 1)),
                  c, "review") < 0)
            return -1;
        st->reviews++;
    }
    if (published) {
        search_tokens_t tk;
        search_tokenize(a, title, strlen(title), &tk);
        for (size_t k = 0; k < tk.n; k++) {
            int seen = 0;
            for (size_t j = 0; j < k; j++)
                if (strcmp(tk.tok[j], tk.tok[k]) == 0) seen = 1;
            if (!seen && strlen(tk.tok[k]) >= 2) vocab_add(vocab, tk.tok[k]);
        }
    }
    return 0;
}

int catalog_seed_demo(db_t *db, long nproducts, catalog_seed_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (nproducts < 1 || nproducts > CATALOG_SEED_MAX) {
        log_error("seed", "--products must be between 1 and %d", CATALOG_SEED_MAX);
        return -1;
    }
    db_conn_t *c = db_acquire(db);
    if (!c) return -1;
    int rc;
    db_stmt_t *st = db_query(c, &q_count, &rc, "");
    if (!st) {
        db_release(c);
        return -1;
    }
    int64_t existing = db_col_int(st, 0);
    db_reset(st);
    if (existing > 0) {
        db_release(c);
        return 1;
    }
    rng_t r = { 0x6d65726361746fULL }; /* "mercato" */
    leafref_t leaves[64];
    int nleaves = 0;
    int nsellers = (int)(nproducts / 400) + 3;
    if (nsellers > 2000) nsellers = 2000;
    char (*sellers)[48] = xcalloc((size_t)nsellers, 48);
    vocab_t vocab = { 0 };
    int ret = -1;
    if (db_begin(c) < 0) goto out;
    if (seed_categories(c, &r, leaves, &nleaves, out) < 0) goto fail;
    for (int i = 0; i < nsellers; i++) ulid(sellers[i], 48, "usr", BASE_MS - 7 * 86400000LL, &r);
    out->sellers = nsellers;
    for (long i = 0; i < nproducts; i++) {
        arena_t *a = arena_new();
        int prc = seed_product(c, a, &r, i, leaves, nleaves, sellers, nsellers, &vocab, out);
        arena_free(a);
        if (prc < 0) goto fail;
    }
    for (size_t i = 0; i < vocab.n; i++)
        if (check(db_exec(c, &q_term, "sL", vocab.keys[i], (int64_t)vocab.counts[i]), c, "search term") < 0) goto fail;
    json_t *p = json_pack("{s:I, s:I, s:I, s:I}", "products", (json_int_t)out->products, "categories",
                          (json_int_t)out->categories, "variants", (json_int_t)out->variants, "reviews",
                          (json_int_t)out->reviews);
    int64_t ev = event_append(c, "catalog.seeded", "catalog", "system", p);
    json_decref(p);
    if (ev < 0 || db_commit(c) < 0) goto fail;
    ret = 0;
    catalog_cache_clear();
    goto out;
fail:
    log_error("seed", "demo catalog not loaded: %s", db_errmsg(c));
    db_rollback(c);
out:
    /* planner statistics for the rows just loaded: the catalog's tables
     * only, not the whole database — the event log and the job queue hold
     * a handful of rows now and millions later, and on SQLite statistics
     * taken now would steer their reads off the rowid for good
     * (migrations/sqlite/0014_log_stats.sql) */
    if (ret == 0)
        db_exec_script(c, "ANALYZE categories; ANALYZE products; ANALYZE variants; ANALYZE inventory;"
                          " ANALYZE product_tags; ANALYZE reviews; ANALYZE search_terms");
    db_release(c);
    vocab_free(&vocab);
    free(sellers);
    return ret;
}
