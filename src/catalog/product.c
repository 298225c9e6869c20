/*
 * product.c — products and variants: the workflow state machine, input
 * validation, writes (create, update, transitions) and rendering of the
 * public JSON (see catalog.h).
 *
 * Every write is one db_tx(): read the row, check who may do it and from
 * which status, change the rows, move the autocomplete vocabulary, append
 * the event, commit; then invalidate the local cache.  The transaction
 * function starts by clearing its result because db_tx() may run it again
 * after a busy/serialization error.
 */
#include "catalog/catalog.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/cache.h"
#include "jobs/events.h"
#include "search/terms.h"
#include "util/buf.h"
#include "util/id.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---------- the state machine ---------- */

static const char *const status_names[] = {
    [PRODUCT_STATUS_NONE] = "unknown",
#define X(e, s) [PRODUCT_##e] = s,
    PRODUCT_STATUS_LIST(X)
#undef X
};

typedef struct action_def {
    const char *name;
    unsigned from;
    product_status_t to;
    int who;
    const char *event;
} action_def_t;

static const action_def_t actions[] = {
    [PRODUCT_ACTION_NONE] = { "none", 0, PRODUCT_STATUS_NONE, 0, NULL },
#define X(e, name, from, to, who, ev) [PRODUCT_ACTION_##e] = { name, from, to, who, ev },
    PRODUCT_TRANSITION_LIST(X)
#undef X
};

product_status_t product_status_parse(const char *s)
{
    if (!s) return PRODUCT_STATUS_NONE;
#define X(e, name) if (strcmp(s, name) == 0) return PRODUCT_##e;
    PRODUCT_STATUS_LIST(X)
#undef X
    return PRODUCT_STATUS_NONE;
}

const char *product_status_name(product_status_t s)
{
    if ((int)s <= 0 || s >= PRODUCT_STATUS_COUNT) return "unknown";
    return status_names[s];
}

product_action_t product_action_parse(const char *s)
{
    if (!s) return PRODUCT_ACTION_NONE;
    for (int a = 1; a < PRODUCT_ACTION_COUNT; a++)
        if (strcmp(actions[a].name, s) == 0) return (product_action_t)a;
    return PRODUCT_ACTION_NONE;
}

const char *product_action_name(product_action_t a)
{
    return (a > 0 && a < PRODUCT_ACTION_COUNT) ? actions[a].name : "none";
}

product_status_t product_action_target(product_action_t a)
{
    return (a > 0 && a < PRODUCT_ACTION_COUNT) ? actions[a].to : PRODUCT_STATUS_NONE;
}

bool product_action_allowed_from(product_action_t a, product_status_t from)
{
    if (a <= 0 || a >= PRODUCT_ACTION_COUNT || from <= 0 || from >= PRODUCT_STATUS_COUNT) return false;
    return (actions[a].from & (1u << from)) != 0;
}

int product_action_who(product_action_t a) { return (a > 0 && a < PRODUCT_ACTION_COUNT) ? actions[a].who : 0; }
const char *product_action_event(product_action_t a)
{
    return (a > 0 && a < PRODUCT_ACTION_COUNT) ? actions[a].event : NULL;
}

bool product_visible_to(const catalog_actor_t *actor, product_status_t status, const char *seller_id)
{
    if (status == PRODUCT_PUBLISHED) return true;
    if (!actor || !actor->id) return false;
    if (actor->admin) return true;
    return seller_id && strcmp(actor->id, seller_id) == 0;
}

/* ---------- results ---------- */

void cat_result_clear(cat_result_t *r)
{
    if (r->errors) json_decref(r->errors);
    memset(r, 0, sizeof *r);
}

void cat_result_field(cat_result_t *r, const char *field, const char *message)
{
    if (!r->errors) r->errors = json_array();
    json_array_append_new(r->errors, json_pack("{s:s, s:s}", "field", field, "message", message));
    r->code = CAT_EINVALID;
}

/* ---------- small validators ---------- */

bool catalog_handle_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > CAT_HANDLE_MAX || s[0] == '-' || s[n - 1] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
        if (c == '-' && s[i + 1] == '-') return false;
    }
    return true;
}

/* Latin-1 / Latin Extended-A letters (as UTF-8 pairs) folded for handles. */
static char fold_latin(unsigned char a, unsigned char b)
{
    static const char l1[65] = "aaaaaaaceeeeiiiidnoooooxouuuuyps"
                               "aaaaaaaceeeeiiiidnoooooxouuuuypy";
    unsigned cp = ((unsigned)(a & 0x1F) << 6) | (b & 0x3F);
    if (cp >= 0xC0 && cp <= 0xFF) return l1[cp - 0xC0] == 'x' ? 0 : l1[cp - 0xC0];
    if (cp >= 0x100 && cp <= 0x17F) {
        static const char ext[129] = "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllll"
                                     "nnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
        return ext[cp - 0x100];
    }
    return 0;
}

char *catalog_handle_from_title(char *out, size_t outlen, const char *title)
{
    size_t n = 0, max = outlen - 1 < CAT_HANDLE_MAX ? outlen - 1 : CAT_HANDLE_MAX;
    int dash = 0;
    for (const unsigned char *p = (const unsigned char *)title; *p && n < max; p++) {
        char c = 0;
        if (*p < 0x80) {
            if (isalnum(*p)) c = (char)tolower(*p);
        } else if ((*p & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
            c = fold_latin(p[0], p[1]);
            p++;
        }
        if (c) {
            if (dash && n > 0 && n + 1 < max) out[n++] = '-';
            dash = 0;
            out[n++] = c;
        } else {
            dash = 1;
        }
    }
    while (n > 0 && out[n - 1] == '-') n--;
    out[n] = '\0';
    if (n == 0) snprintf(out, outlen, "product");
    return out;
}

int catalog_tag_normalize(char *out, size_t outlen, const char *tag)
{
    size_t n = 0;
    int dash = 0;
    for (const unsigned char *p = (const unsigned char *)tag; *p; p++) {
        char c = 0;
        if (*p < 0x80) {
            if (isalnum(*p)) c = (char)tolower(*p);
        } else if ((*p & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
            c = fold_latin(p[0], p[1]);
            p++;
        } else {
            return -1; /* other scripts are not tag material */
        }
        if (!c) {
            dash = 1;
            continue;
        }
        if (dash && n > 0) {
            if (n + 1 >= outlen || n + 1 > CAT_TAG_MAX) return -1;
            out[n++] = '-';
        }
        dash = 0;
        if (n + 1 >= outlen || n + 1 > CAT_TAG_MAX) return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return n ? 0 : -1;
}

bool catalog_currency_valid(const char *s)
{
    return s && strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' &&
           s[2] <= 'Z';
}

static bool sku_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CAT_SKU_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.')) return false;
    }
    return true;
}

/* counts UTF-8 characters; false when a control character is present
 * (newlines and tabs allowed only when multiline) */
static bool text_ok(const char *s, size_t maxchars, bool multiline, size_t *chars)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80) n++;
        if (*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))) return false;
        if (*p == 0x7F) return false;
    }
    if (chars) *chars = n;
    return n <= maxchars;
}

/* ---------- input ---------- */

enum {
    HAS_TITLE = 1, HAS_DESC = 2, HAS_HANDLE = 4, HAS_CATEGORY = 8,
    HAS_TAGS = 16, HAS_ATTRS = 32, HAS_VARIANTS = 64
};

typedef struct variant_in {
    const char *id;      /* existing var_ id (update) or NULL */
    const char *sku;
    const char *title;
    char *options;       /* JSON text */
    int64_t amount;
    const char *currency;
    int64_t weight;
    bool has_weight;
} variant_in_t;

typedef struct product_in {
    unsigned has;
    const char *title, *description, *handle, *category_id;
    char *tags;    /* normalised, space-separated */
    char *attrs;   /* JSON text */
    variant_in_t *v;
    size_t nv;
} product_in_t;

static char *field_name(arena_t *a, const char *fmt, size_t i, const char *sub)
{
    return arena_sprintf(a, fmt, i, sub);
}

static void parse_variants(arena_t *a, json_t *arr, product_in_t *in, cat_result_t *res)
{
    if (!json_is_array(arr)) {
        cat_result_field(res, "variants", "must be an array");
        return;
    }
    size_t n = json_array_size(arr);
    if (n > CAT_VARIANTS_MAX) {
        cat_result_field(res, "variants", "at most 100 variants");
        return;
    }
    in->v = arena_calloc(a, (n ? n : 1) * sizeof *in->v);
    in->nv = n;
    const char *currency = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        variant_in_t *v = &in->v[i];
        if (!json_is_object(o)) {
            cat_result_field(res, field_name(a, "variants[%zu]%s", i, ""), "must be an object");
            continue;
        }
        const char *k;
        json_t *val;
        json_object_foreach(o, k, val) {
            if (strcmp(k, "id") && strcmp(k, "sku") && strcmp(k, "title") && strcmp(k, "options") &&
                strcmp(k, "price") && strcmp(k, "weight_grams"))
                cat_result_field(res, field_name(a, "variants[%zu].%s", i, k), "unknown field");
        }
        json_t *id = json_object_get(o, "id");
        if (id) {
            if (!json_is_string(id) || !id_valid(json_string_value(id), json_string_length(id), "var"))
                cat_result_field(res, field_name(a, "variants[%zu].%s", i, "id"), "must be a variant id (var_...)");
            else
                v->id = json_string_value(id);
        }
        json_t *sku = json_object_get(o, "sku");
        if (!json_is_string(sku) || !sku_valid(json_string_value(sku)))
            cat_result_field(res, field_name(a, "variants[%zu].%s", i, "sku"),
                             "required: 1-64 characters of letters, digits, '-', '_' or '.'");
        else
            v->sku = json_string_value(sku);
        for (size_t j = 0; j < i && v->sku; j++)
            if (in->v[j].sku && strcmp(in->v[j].sku, v->sku) == 0)
                cat_result_field(res, field_name(a, "variants[%zu].%s", i, "sku"), "duplicate SKU in this product");
        json_t *title = json_object_get(o, "title");
        v->title = "";
        if (title) {
            if (!json_is_string(title) || !text_ok(json_string_value(title), CAT_TITLE_MAX, false, NULL))
                cat_result_field(res, field_name(a, "variants[%zu].%s", i, "title"), "must be a string of at most 200 characters");
            else
                v->title = json_string_value(title);
        }
        json_t *opts = json_object_get(o, "options");
        v->options = "{}";
        if (opts) {
            int bad = !json_is_object(opts) || json_object_size(opts) > CAT_OPTIONS_MAX;
            const char *ok;
            json_t *ov;
            if (!bad) json_object_foreach(opts, ok, ov) {
                    if (!json_is_string(ov) || !text_ok(ok, CAT_ATTR_KEY_MAX, false, NULL) || !ok[0] ||
                        !text_ok(json_string_value(ov), CAT_ATTR_VAL_MAX, false, NULL))
                        bad = 1;
                }
            if (bad) {
                cat_result_field(res, field_name(a, "variants[%zu].%s", i, "options"),
                                 "must be an object of at most 5 string values (names up to 40, values up to 200 characters)");
            } else {
                char *s = json_dumps(opts, JSON_COMPACT);
                v->options = arena_strdup(a, s);
                free(s);
            }
        }
        json_t *price = json_object_get(o, "price");
        json_t *amount = json_object_get(price, "amount");
        json_t *cur = json_object_get(price, "currency");
        if (!json_is_object(price) || json_object_size(price) != 2 || !json_is_integer(amount) ||
            json_integer_value(amount) < 0 || json_integer_value(amount) > CAT_PRICE_MAX || !json_is_string(cur) ||
            !catalog_currency_valid(json_string_value(cur))) {
            cat_result_field(res, field_name(a, "variants[%zu].%s", i, "price"),
                             "required: {\"amount\": integer minor units >= 0, \"currency\": ISO 4217 code}");
        } else {
            v->amount = json_integer_value(amount);
            v->currency = json_string_value(cur);
            if (currency && strcmp(currency, v->currency) != 0)
                cat_result_field(res, field_name(a, "variants[%zu].%s", i, "price.currency"),
                                 "all variants of a product must share one currency");
            currency = v->currency;
        }
        json_t *w = json_object_get(o, "weight_grams");
        if (w && !json_is_null(w)) {
            if (!json_is_integer(w) || json_integer_value(w) < 0 || json_integer_value(w) > 10000000)
                cat_result_field(res, field_name(a, "variants[%zu].%s", i, "weight_grams"),
                                 "must be an integer between 0 and 10000000");
            else {
                v->weight = json_integer_value(w);
                v->has_weight = true;
            }
        }
    }
}

/* Validates a create (creating = true) or update body into `in`. */
static void parse_input(arena_t *a, json_t *body, bool creating, product_in_t *in, cat_result_t *res)
{
    memset(in, 0, sizeof *in);
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (!strcmp(k, "title")) {
            size_t n;
            const char *s = json_string_value(v);
            if (!s || !text_ok(s, CAT_TITLE_MAX, false, &n) || n == 0 || isspace((unsigned char)s[0]))
                cat_result_field(res, "title", "must be 1 to 200 characters, without control characters or leading space");
            else {
                in->title = s;
                in->has |= HAS_TITLE;
            }
        } else if (!strcmp(k, "description")) {
            const char *s = json_string_value(v);
            if (!s || !text_ok(s, CAT_DESC_MAX, true, NULL))
                cat_result_field(res, "description", "must be a string of at most 20000 characters");
            else {
                in->description = s;
                in->has |= HAS_DESC;
            }
        } else if (!strcmp(k, "handle")) {
            const char *s = json_string_value(v);
            if (!s || !catalog_handle_valid(s))
                cat_result_field(res, "handle", "must be 1 to 120 of a-z, 0-9 and single '-' inside");
            else {
                in->handle = s;
                in->has |= HAS_HANDLE;
            }
        } else if (!strcmp(k, "category_id")) {
            if (json_is_null(v)) {
                in->category_id = NULL;
                in->has |= HAS_CATEGORY;
            } else if (!json_is_string(v) || !id_valid(json_string_value(v), json_string_length(v), "cat")) {
                cat_result_field(res, "category_id", "must be a category id (cat_...) or null");
            } else {
                in->category_id = json_string_value(v);
                in->has |= HAS_CATEGORY;
            }
        } else if (!strcmp(k, "tags")) {
            if (!json_is_array(v) || json_array_size(v) > CAT_TAGS_MAX) {
                cat_result_field(res, "tags", "must be an array of at most 20 strings");
                continue;
            }
            buf_t b = BUF_INIT(0);
            size_t i;
            json_t *t;
            char norm[CAT_TAG_MAX + 1];
            json_array_foreach(v, i, t) {
                if (!json_is_string(t) || catalog_tag_normalize(norm, sizeof norm, json_string_value(t)) < 0) {
                    cat_result_field(res, arena_sprintf(a, "tags[%zu]", i),
                                     "tags are 1 to 32 letters or digits (other characters become '-')");
                    continue;
                }
                /* drop duplicates after normalisation */
                int dup = 0;
                if (b.ptr) {
                    size_t nl = strlen(norm);
                    for (const char *p = b.ptr; *p;) {
                        const char *e = strchr(p, ' ');
                        size_t l = e ? (size_t)(e - p) : strlen(p);
                        if (l == nl && memcmp(p, norm, l) == 0) dup = 1;
                        p = e ? e + 1 : p + l;
                    }
                }
                if (dup) continue;
                if (b.len) buf_putc(&b, ' ');
                buf_puts(&b, norm);
            }
            in->tags = arena_strdup(a, b.ptr ? b.ptr : "");
            buf_free(&b);
            in->has |= HAS_TAGS;
        } else if (!strcmp(k, "attributes")) {
            int bad = !json_is_object(v) || json_object_size(v) > CAT_ATTRS_MAX;
            const char *ak;
            json_t *av;
            if (!bad) json_object_foreach(v, ak, av) {
                    if (!ak[0] || !text_ok(ak, CAT_ATTR_KEY_MAX, false, NULL) || !json_is_string(av) ||
                        !text_ok(json_string_value(av), CAT_ATTR_VAL_MAX, false, NULL))
                        bad = 1;
                }
            if (bad) {
                cat_result_field(res, "attributes",
                                 "must be an object of at most 30 string values (names up to 40, values up to 200 characters)");
            } else {
                char *s = json_dumps(v, JSON_COMPACT);
                in->attrs = arena_strdup(a, s);
                free(s);
                in->has |= HAS_ATTRS;
            }
        } else if (!strcmp(k, "variants")) {
            parse_variants(a, v, in, res);
            in->has |= HAS_VARIANTS;
        } else {
            cat_result_field(res, arena_strdup(a, k),
                             "unknown or read-only field (allowed: title, description, handle, category_id, tags, "
                             "attributes, variants)");
        }
    }
    if (creating && !json_object_get(body, "title")) cat_result_field(res, "title", "required");
    /* on update, variant ids are checked against the stored ones in the transaction */
    if (creating)
        for (size_t i = 0; i < in->nv; i++)
            if (in->v[i].id) cat_result_field(res, arena_sprintf(a, "variants[%zu].id", i), "not allowed when creating");
}

/* ---------- SQL ---------- */

DB_SQL(q_handle_taken, "SELECT 1 FROM products WHERE handle = $1 AND id <> $2");
DB_SQL(q_category_path, "SELECT path FROM categories WHERE id = $1");
DB_SQL(q_sku_owner, "SELECT product_id FROM variants WHERE sku = $1");
DB_SQL(q_product_insert,
       "INSERT INTO products (id, seller_id, handle, title, description, status, category_id, category_path, tags, "
       "attributes, currency, price_min, price_max, version, created_at, updated_at) "
       "VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $11, $12, 1, $13, $13) RETURNING seq");
DB_SQL(q_product_load,
       "SELECT seq, seller_id, status, version, title, description, handle, category_id, category_path, tags, "
       "attributes, currency, price_min, price_max FROM products WHERE id = $1");
DB_SQL(q_product_update,
       "UPDATE products SET title = $2, description = $3, handle = $4, category_id = $5, category_path = $6, "
       "tags = $7, attributes = $8, currency = $9, price_min = $10, price_max = $11, status = $12, "
       "reject_reason = CASE WHEN $12 = 'rejected' THEN reject_reason ELSE NULL END, "
       "version = version + 1, updated_at = $13 WHERE id = $1");
DB_SQL(q_product_transition,
       "UPDATE products SET status = $2, reject_reason = $3, "
       "published_at = CASE WHEN $2 = 'published' THEN $4 ELSE published_at END, "
       "version = version + 1, updated_at = $4 WHERE id = $1");
DB_SQL(q_variant_insert,
       "INSERT INTO variants (id, product_id, sku, title, options, price_amount, currency, weight_grams, position, "
       "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)");
DB_SQL(q_variant_update,
       "UPDATE variants SET sku = $3, title = $4, options = $5, price_amount = $6, currency = $7, weight_grams = $8, "
       "position = $9, updated_at = $10 WHERE id = $1 AND product_id = $2");
DB_SQL(q_variant_ids, "SELECT id FROM variants WHERE product_id = $1");
DB_SQL(q_variant_delete, "DELETE FROM variants WHERE id = $1");
DB_SQL(q_variant_count, "SELECT COUNT(*) FROM variants WHERE product_id = $1");
DB_SQL(q_tags_clear, "DELETE FROM product_tags WHERE product_seq = $1");
DB_SQL(q_tag_insert, "INSERT INTO product_tags (tag, product_seq) VALUES ($1, $2)");
DB_SQL(q_render_product,
       "SELECT p.id, p.seller_id, p.handle, p.title, p.description, p.status, p.category_id, c.name, c.slug, "
       "p.tags, p.attributes, p.currency, p.price_min, p.price_max, p.rating_count, p.rating_avg, "
       "p.reject_reason, p.version, p.published_at, p.created_at, p.updated_at "
       "FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.id = $1");
DB_SQL(q_render_variants,
       "SELECT id, sku, title, options, price_amount, currency, weight_grams FROM variants "
       "WHERE product_id = $1 ORDER BY position, id");

/* the stored row, for updates and transitions */
typedef struct product_row {
    int64_t seq, version, price_min, price_max;
    bool has_price;
    product_status_t status;
    char *seller_id, *title, *description, *handle, *category_id, *category_path, *tags, *attrs, *currency;
} product_row_t;

static char *dup_col(arena_t *a, db_stmt_t *st, int col)
{
    const char *s = db_col_text(st, col);
    return s ? arena_strdup(a, s) : NULL;
}

/* CAT_OK, CAT_ENOTFOUND or CAT_EDB */
static int load_row(db_conn_t *c, arena_t *a, const char *id, product_row_t *r)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_product_load, &rc, "s", id);
    if (!st) return rc == DB_EBUSY ? DB_EBUSY : CAT_EDB;
    if (rc != DB_ROW) {
        db_reset(st);
        return CAT_ENOTFOUND;
    }
    r->seq = db_col_int(st, 0);
    r->seller_id = dup_col(a, st, 1);
    r->status = product_status_parse(db_col_text(st, 2));
    r->version = db_col_int(st, 3);
    r->title = dup_col(a, st, 4);
    r->description = dup_col(a, st, 5);
    r->handle = dup_col(a, st, 6);
    r->category_id = dup_col(a, st, 7);
    r->category_path = dup_col(a, st, 8);
    r->tags = dup_col(a, st, 9);
    r->attrs = dup_col(a, st, 10);
    r->currency = dup_col(a, st, 11);
    r->has_price = !db_col_is_null(st, 12);
    r->price_min = db_col_int(st, 12);
    r->price_max = db_col_int(st, 13);
    db_reset(st);
    return CAT_OK;
}

/* maps a DB_* code from inside a transaction: busy must reach db_tx() */
static int dberr(int rc) { return rc == DB_EBUSY ? DB_EBUSY : rc == DB_ECONSTRAINT ? CAT_ECONFLICT : CAT_EDB; }

static int resolve_category(db_conn_t *c, arena_t *a, const char *cat_id, char **path, cat_result_t *res)
{
    *path = NULL;
    if (!cat_id) return CAT_OK;
    int rc;
    db_stmt_t *st = db_query(c, &q_category_path, &rc, "s", cat_id);
    if (!st) return dberr(rc);
    if (rc == DB_ROW) *path = dup_col(a, st, 0);
    db_reset(st);
    if (!*path) {
        cat_result_field(res, "category_id", "no such category");
        return CAT_EINVALID;
    }
    return CAT_OK;
}

/* 1 when taken by another product, 0 free, negative on error */
static int handle_taken(db_conn_t *c, const char *handle, const char *self_id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_handle_taken, &rc, "ss", handle, self_id ? self_id : "");
    if (!st) return dberr(rc);
    db_reset(st);
    return rc == DB_ROW;
}

/* checks every SKU of the input against other products' variants */
static int check_skus(db_conn_t *c, arena_t *a, const product_in_t *in, const char *self_id, cat_result_t *res)
{
    for (size_t i = 0; i < in->nv; i++) {
        int rc;
        db_stmt_t *st = db_query(c, &q_sku_owner, &rc, "s", in->v[i].sku);
        if (!st) return dberr(rc);
        int taken = rc == DB_ROW && (!self_id || strcmp(db_col_text(st, 0), self_id) != 0);
        db_reset(st);
        if (taken) {
            cat_result_field(res, arena_sprintf(a, "variants[%zu].sku", i), "this SKU is used by another product");
            res->code = CAT_ECONFLICT;
        }
    }
    return res->errors ? res->code : CAT_OK;
}

static void price_span(const product_in_t *in, int64_t *min, int64_t *max, const char **cur)
{
    *min = *max = 0;
    *cur = NULL;
    for (size_t i = 0; i < in->nv; i++) {
        if (i == 0 || in->v[i].amount < *min) *min = in->v[i].amount;
        if (i == 0 || in->v[i].amount > *max) *max = in->v[i].amount;
        *cur = in->v[i].currency;
    }
}

static int insert_variant(db_conn_t *c, const variant_in_t *v, const char *id, const char *product_id, int pos,
                          int64_t now)
{
    db_stmt_t *st = db_prepare(c, &q_variant_insert);
    if (!st) return CAT_EDB;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, product_id);
    db_bind_text(st, 3, v->sku);
    db_bind_text(st, 4, v->title);
    db_bind_text(st, 5, v->options);
    db_bind_int(st, 6, v->amount);
    db_bind_text(st, 7, v->currency);
    if (v->has_weight) db_bind_int(st, 8, v->weight);
    else db_bind_null(st, 8);
    db_bind_int(st, 9, pos);
    db_bind_int(st, 10, now);
    int rc = db_step(st);
    db_reset(st);
    return rc < 0 ? dberr(rc) : CAT_OK;
}

static int write_tags(db_conn_t *c, int64_t seq, const char *tags)
{
    if (db_exec(c, &q_tags_clear, "L", seq) < 0) return CAT_EDB;
    for (const char *p = tags; p && *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char t[CAT_TAG_MAX + 1];
        snprintf(t, sizeof t, "%.*s", (int)l, p);
        int64_t rc = db_exec(c, &q_tag_insert, "sL", t, seq);
        if (rc < 0) return dberr((int)rc);
        p = e ? e + 1 : p + l;
    }
    return CAT_OK;
}

static json_t *tags_json(const char *tags)
{
    json_t *arr = json_array();
    for (const char *p = tags; p && *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        json_array_append_new(arr, json_stringn(p, l));
        p = e ? e + 1 : p + l;
    }
    return arr;
}

static int append_event(db_conn_t *c, const char *type, const char *subject, const catalog_actor_t *actor,
                        json_t *payload, cat_result_t *res)
{
    int64_t ev = event_append(c, type, subject, actor && actor->id ? actor->id : "system", payload);
    json_decref(payload);
    if (ev < 0) return dberr((int)ev);
    res->event_id = ev;
    return CAT_OK;
}

/* ---------- create ---------- */

typedef struct create_ctx {
    const catalog_actor_t *actor;
    json_t *body;
    cat_result_t *res;
    arena_t *a;
} create_ctx_t;

static int create_tx(db_conn_t *c, void *vctx)
{
    create_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    product_in_t in;
    parse_input(x->a, x->body, true, &in, res);
    if (res->code) return res->code;
    int rc;
    char *path;
    if ((rc = resolve_category(c, x->a, in.category_id, &path, res)) != CAT_OK) return rc;
    if ((rc = check_skus(c, x->a, &in, NULL, res)) != CAT_OK) return rc;

    char id[ID_MAX];
    id_new(id, "prod");
    char handle[CAT_HANDLE_MAX + 16];
    if (in.handle) {
        snprintf(handle, sizeof handle, "%s", in.handle);
        int t = handle_taken(c, handle, NULL);
        if (t < 0) return t;
        if (t) {
            cat_result_field(res, "handle", "this handle is taken");
            res->code = CAT_ECONFLICT;
            return CAT_ECONFLICT;
        }
    } else {
        char base[CAT_HANDLE_MAX + 1];
        catalog_handle_from_title(base, sizeof base - 8, in.title);
        snprintf(handle, sizeof handle, "%s", base);
        for (int k = 2;; k++) {
            int t = handle_taken(c, handle, NULL);
            if (t < 0) return t;
            if (!t) break;
            if (k < 6) snprintf(handle, sizeof handle, "%s-%d", base, k);
            else snprintf(handle, sizeof handle, "%s-%.6s", base, id + strlen(id) - 6);
            if (k > 6) {
                res->code = CAT_ECONFLICT;
                res->detail = "Could not derive a free handle from the title; give one.";
                return CAT_ECONFLICT;
            }
        }
    }
    int64_t now = time_now_ms(), pmin, pmax;
    const char *cur;
    price_span(&in, &pmin, &pmax, &cur);
    db_stmt_t *st = db_prepare(c, &q_product_insert);
    if (!st) return CAT_EDB;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, x->actor->id);
    db_bind_text(st, 3, handle);
    db_bind_text(st, 4, in.title);
    db_bind_text(st, 5, in.description ? in.description : "");
    db_bind_text(st, 6, in.category_id);
    db_bind_text(st, 7, path);
    db_bind_text(st, 8, in.tags ? in.tags : "");
    db_bind_text(st, 9, in.attrs ? in.attrs : "{}");
    db_bind_text(st, 10, cur);
    if (in.nv) {
        db_bind_int(st, 11, pmin);
        db_bind_int(st, 12, pmax);
    } else {
        db_bind_null(st, 11);
        db_bind_null(st, 12);
    }
    db_bind_int(st, 13, now);
    rc = db_step(st);
    int64_t seq = rc == DB_ROW ? db_col_int(st, 0) : 0;
    db_reset(st);
    if (rc != DB_ROW) return rc < 0 ? dberr(rc) : CAT_EDB;
    for (size_t i = 0; i < in.nv; i++) {
        char vid[ID_MAX];
        id_new(vid, "var");
        if ((rc = insert_variant(c, &in.v[i], vid, id, (int)i, now)) != CAT_OK) return rc;
    }
    if (in.tags && (rc = write_tags(c, seq, in.tags)) != CAT_OK) return rc;
    snprintf(res->id, sizeof res->id, "%s", id);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:i}", "product_id", id, "seller_id", x->actor->id, "status", "draft",
                          "handle", handle, "version", 1);
    return append_event(c, "product.created", id, x->actor, p, res);
}

int product_create(db_t *db, const catalog_actor_t *actor, json_t *body, cat_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!actor || !actor->id || !(actor->seller || actor->admin)) {
        res->code = CAT_EFORBIDDEN;
        res->detail = "Only sellers and admins can create products.";
        return res->code;
    }
    arena_t *a = arena_new();
    create_ctx_t x = { actor, body, res, a };
    int rc = db_tx(db, create_tx, &x);
    arena_free(a);
    if (rc == 0) {
        catalog_cache_invalidate(res->id); /* nothing cached yet; moves the generation for search caches */
        return CAT_OK;
    }
    if (res->code == 0) res->code = rc == DB_ECONSTRAINT ? CAT_ECONFLICT : CAT_EDB;
    return res->code;
}

/* ---------- update ---------- */

typedef struct update_ctx {
    const catalog_actor_t *actor;
    const char *id;
    json_t *body;
    const int64_t *if_version;
    cat_result_t *res;
    arena_t *a;
} update_ctx_t;

/* access: CAT_OK when the actor may act on the row as owner or admin */
static int owner_or_admin(const catalog_actor_t *actor, const product_row_t *r, cat_result_t *res)
{
    if (actor->admin) return CAT_OK;
    if (actor->seller && strcmp(actor->id, r->seller_id) == 0) return CAT_OK;
    res->code = actor->seller ? CAT_ENOTFOUND : CAT_EFORBIDDEN;
    res->detail = actor->seller ? "No such product." : "Only the product's seller or an admin can do this.";
    return res->code;
}

static int sync_variants(db_conn_t *c, arena_t *a, const char *pid, const product_in_t *in, int64_t now,
                         cat_result_t *res)
{
    /* the stored ids */
    int rc;
    char **have = NULL;
    size_t nhave = 0, cap = 0;
    db_stmt_t *st = db_query(c, &q_variant_ids, &rc, "s", pid);
    if (!st) return dberr(rc);
    while (rc == DB_ROW) {
        if (nhave == cap) {
            cap = cap ? cap * 2 : 16;
            char **nh = arena_alloc(a, cap * sizeof *nh);
            if (nhave) memcpy(nh, have, nhave * sizeof *nh);
            have = nh;
        }
        have[nhave++] = dup_col(a, st, 0);
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) return dberr(rc);
    for (size_t i = 0; i < in->nv; i++) {
        if (!in->v[i].id) continue;
        int found = 0;
        for (size_t j = 0; j < nhave; j++)
            if (have[j] && strcmp(have[j], in->v[i].id) == 0) found = 1;
        if (!found) cat_result_field(res, arena_sprintf(a, "variants[%zu].id", i), "not a variant of this product");
    }
    if (res->errors) return CAT_EINVALID;
    /* delete the ones not kept first, so their SKUs can be reused */
    for (size_t j = 0; j < nhave; j++) {
        int keep = 0;
        for (size_t i = 0; i < in->nv; i++)
            if (in->v[i].id && strcmp(in->v[i].id, have[j]) == 0) keep = 1;
        if (!keep && db_exec(c, &q_variant_delete, "s", have[j]) < 0) return CAT_EDB;
    }
    /* kept variants may swap SKUs: park them on unique temporary values first */
    for (size_t i = 0; i < in->nv; i++) {
        if (!in->v[i].id) continue;
        db_stmt_t *u = db_prepare(c, &q_variant_update);
        if (!u) return CAT_EDB;
        char tmp[ID_MAX + 8];
        snprintf(tmp, sizeof tmp, "~%s", in->v[i].id);
        db_bind_text(u, 1, in->v[i].id);
        db_bind_text(u, 2, pid);
        db_bind_text(u, 3, tmp);
        db_bind_text(u, 4, in->v[i].title);
        db_bind_text(u, 5, in->v[i].options);
        db_bind_int(u, 6, in->v[i].amount);
        db_bind_text(u, 7, in->v[i].currency);
        if (in->v[i].has_weight) db_bind_int(u, 8, in->v[i].weight);
        else db_bind_null(u, 8);
        db_bind_int(u, 9, (int64_t)i);
        db_bind_int(u, 10, now);
        rc = db_step(u);
        db_reset(u);
        if (rc < 0) return dberr(rc);
    }
    for (size_t i = 0; i < in->nv; i++) {
        if (in->v[i].id) {
            db_stmt_t *u = db_prepare(c, &q_variant_update);
            if (!u) return CAT_EDB;
            db_bind_text(u, 1, in->v[i].id);
            db_bind_text(u, 2, pid);
            db_bind_text(u, 3, in->v[i].sku);
            db_bind_text(u, 4, in->v[i].title);
            db_bind_text(u, 5, in->v[i].options);
            db_bind_int(u, 6, in->v[i].amount);
            db_bind_text(u, 7, in->v[i].currency);
            if (in->v[i].has_weight) db_bind_int(u, 8, in->v[i].weight);
            else db_bind_null(u, 8);
            db_bind_int(u, 9, (int64_t)i);
            db_bind_int(u, 10, now);
            rc = db_step(u);
            db_reset(u);
            if (rc < 0) return dberr(rc);
        } else {
            char vid[ID_MAX];
            id_new(vid, "var");
            if ((rc = insert_variant(c, &in->v[i], vid, pid, (int)i, now)) != CAT_OK) return rc;
        }
    }
    return CAT_OK;
}

static int update_tx(db_conn_t *c, void *vctx)
{
    update_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    product_row_t r;
    int rc = load_row(c, x->a, x->id, &r);
    if (rc != CAT_OK) {
        res->code = rc;
        return rc;
    }
    if ((rc = owner_or_admin(x->actor, &r, res)) != CAT_OK) return rc;
    bool owner_edit = !x->actor->admin;
    if (r.status == PRODUCT_ARCHIVED || (owner_edit && r.status == PRODUCT_PENDING_REVIEW)) {
        res->code = CAT_ECONFLICT;
        res->detail = r.status == PRODUCT_ARCHIVED ? "An archived product cannot be edited."
                                                   : "A product waiting for review cannot be edited by its seller.";
        return res->code;
    }
    if (x->if_version && *x->if_version != r.version) {
        res->code = CAT_ECONFLICT;
        res->detail = "The product was changed by someone else (version mismatch); reload it and try again.";
        return res->code;
    }
    product_in_t in;
    parse_input(x->a, x->body, false, &in, res);
    if (res->code) return res->code;

    json_t *fields = json_array();
    const char *title = r.title, *desc = r.description, *handle = r.handle, *cat = r.category_id,
               *path = r.category_path, *tags = r.tags, *attrs = r.attrs, *cur = r.currency;
    if (in.has & HAS_TITLE) title = in.title, json_array_append_new(fields, json_string("title"));
    if (in.has & HAS_DESC) desc = in.description, json_array_append_new(fields, json_string("description"));
    if (in.has & HAS_HANDLE) {
        int t = handle_taken(c, in.handle, x->id);
        if (t < 0) {
            json_decref(fields);
            return t;
        }
        if (t) {
            json_decref(fields);
            cat_result_field(res, "handle", "this handle is taken");
            res->code = CAT_ECONFLICT;
            return res->code;
        }
        handle = in.handle;
        json_array_append_new(fields, json_string("handle"));
    }
    if (in.has & HAS_CATEGORY) {
        char *np;
        if ((rc = resolve_category(c, x->a, in.category_id, &np, res)) != CAT_OK) {
            json_decref(fields);
            return rc;
        }
        cat = in.category_id;
        path = np;
        json_array_append_new(fields, json_string("category_id"));
    }
    if (in.has & HAS_TAGS) tags = in.tags, json_array_append_new(fields, json_string("tags"));
    if (in.has & HAS_ATTRS) attrs = in.attrs, json_array_append_new(fields, json_string("attributes"));
    int64_t pmin = r.price_min, pmax = r.price_max;
    bool has_price = r.has_price;
    int64_t now = time_now_ms();
    if (in.has & HAS_VARIANTS) {
        json_array_append_new(fields, json_string("variants"));
        if ((rc = check_skus(c, x->a, &in, x->id, res)) != CAT_OK ||
            (rc = sync_variants(c, x->a, x->id, &in, now, res)) != CAT_OK) {
            json_decref(fields);
            if (!res->code) res->code = rc;
            return rc;
        }
        price_span(&in, &pmin, &pmax, &cur);
        has_price = in.nv > 0;
    }
    if (r.status == PRODUCT_PUBLISHED && (!cat || !has_price)) {
        json_decref(fields);
        cat_result_field(res, !cat ? "category_id" : "variants",
                         "a published product needs a category and at least one variant");
        return res->code;
    }
    product_status_t ns = r.status == PRODUCT_REJECTED ? PRODUCT_DRAFT : r.status;
    db_stmt_t *st = db_prepare(c, &q_product_update);
    if (!st) {
        json_decref(fields);
        return CAT_EDB;
    }
    db_bind_text(st, 1, x->id);
    db_bind_text(st, 2, title);
    db_bind_text(st, 3, desc);
    db_bind_text(st, 4, handle);
    db_bind_text(st, 5, cat);
    db_bind_text(st, 6, path);
    db_bind_text(st, 7, tags);
    db_bind_text(st, 8, attrs);
    db_bind_text(st, 9, has_price ? cur : NULL);
    if (has_price) {
        db_bind_int(st, 10, pmin);
        db_bind_int(st, 11, pmax);
    } else {
        db_bind_null(st, 10);
        db_bind_null(st, 11);
    }
    db_bind_text(st, 12, product_status_name(ns));
    db_bind_int(st, 13, now);
    rc = db_step(st);
    db_reset(st);
    if (rc < 0) {
        json_decref(fields);
        return dberr(rc);
    }
    if ((in.has & HAS_TAGS) && (rc = write_tags(c, r.seq, tags)) != CAT_OK) {
        json_decref(fields);
        return rc;
    }
    if (r.status == PRODUCT_PUBLISHED && (in.has & HAS_TITLE) && strcmp(r.title, title) != 0 &&
        (rc = search_terms_update(c, x->a, r.title, title)) < 0) {
        json_decref(fields);
        return dberr(rc);
    }
    snprintf(res->id, sizeof res->id, "%s", x->id);
    json_t *p = json_pack("{s:s, s:s, s:s, s:I, s:o}", "product_id", x->id, "seller_id", r.seller_id, "status",
                          product_status_name(ns), "version", (json_int_t)(r.version + 1), "fields", fields);
    return append_event(c, "product.updated", x->id, x->actor, p, res);
}

int product_update(db_t *db, const catalog_actor_t *actor, const char *product_id, json_t *body,
                   const int64_t *if_version, cat_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!actor || !actor->id || !(actor->seller || actor->admin)) {
        res->code = CAT_EFORBIDDEN;
        res->detail = "Only sellers and admins can edit products.";
        return res->code;
    }
    if (!id_valid(product_id, strlen(product_id), "prod")) {
        res->code = CAT_ENOTFOUND;
        return res->code;
    }
    arena_t *a = arena_new();
    update_ctx_t x = { actor, product_id, body, if_version, res, a };
    int rc = db_tx(db, update_tx, &x);
    arena_free(a);
    if (rc == 0) {
        catalog_cache_invalidate(product_id);
        return CAT_OK;
    }
    if (res->code == 0) res->code = rc == DB_ECONSTRAINT ? CAT_ECONFLICT : CAT_EDB;
    return res->code;
}

/* ---------- transitions ---------- */

typedef struct transition_ctx {
    const catalog_actor_t *actor;
    const char *id;
    product_action_t action;
    const char *reason;
    cat_result_t *res;
    arena_t *a;
} transition_ctx_t;

static int transition_tx(db_conn_t *c, void *vctx)
{
    transition_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    product_row_t r;
    int rc = load_row(c, x->a, x->id, &r);
    if (rc != CAT_OK) {
        res->code = rc;
        return rc;
    }
    const catalog_actor_t *ac = x->actor;
    bool owner = ac->seller && strcmp(ac->id, r.seller_id) == 0;
    int who = product_action_who(x->action);
    if (!ac->admin && !owner) {
        /* a seller never learns about other sellers' unpublished products */
        res->code = ac->seller ? CAT_ENOTFOUND : CAT_EFORBIDDEN;
        res->detail = ac->seller ? "No such product." : "Only the product's seller or an admin can do this.";
        return res->code;
    }
    if (!ac->admin && !(who & CAT_BY_OWNER)) {
        res->code = CAT_EFORBIDDEN;
        res->detail = "Only an admin can do this.";
        return res->code;
    }
    if (!product_action_allowed_from(x->action, r.status)) {
        res->code = CAT_ECONFLICT;
        /* not in x->a: the arena is gone by the time the handler answers */
        snprintf(res->text, sizeof res->text, "Cannot %s a product whose status is %s.",
                 product_action_name(x->action), product_status_name(r.status));
        res->detail = res->text;
        return res->code;
    }
    if (x->action == PRODUCT_ACTION_SUBMIT) {
        if (!r.category_id) cat_result_field(res, "category_id", "a category is required before submitting");
        int vrc;
        db_stmt_t *st = db_query(c, &q_variant_count, &vrc, "s", x->id);
        if (!st) return dberr(vrc);
        int64_t nv = db_col_int(st, 0);
        db_reset(st);
        if (nv == 0) cat_result_field(res, "variants", "at least one variant is required before submitting");
        if (res->errors) return res->code;
    }
    const char *reason = NULL;
    if (x->action == PRODUCT_ACTION_REJECT) {
        size_t n;
        if (!x->reason || !text_ok(x->reason, 1000, true, &n) || n == 0) {
            cat_result_field(res, "reason", "required: 1 to 1000 characters");
            return res->code;
        }
        reason = x->reason;
    }
    product_status_t to = product_action_target(x->action);
    int64_t now = time_now_ms();
    if (db_exec(c, &q_product_transition, "sssL", x->id, product_status_name(to), reason, now) < 0) return CAT_EDB;
    /* the FTS index follows through triggers / the generated column; the
     * autocomplete vocabulary is ours to move */
    if (r.status == PRODUCT_PUBLISHED && to != PRODUCT_PUBLISHED)
        rc = search_terms_update(c, x->a, r.title, NULL);
    else if (r.status != PRODUCT_PUBLISHED && to == PRODUCT_PUBLISHED)
        rc = search_terms_update(c, x->a, NULL, r.title);
    else
        rc = 0;
    if (rc < 0) return dberr(rc);
    snprintf(res->id, sizeof res->id, "%s", x->id);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I}", "product_id", x->id, "seller_id", r.seller_id, "from",
                          product_status_name(r.status), "status", product_status_name(to), "version",
                          (json_int_t)(r.version + 1));
    if (reason) json_object_set_new(p, "reason", json_string(reason));
    return append_event(c, product_action_event(x->action), x->id, ac, p, res);
}

int product_transition(db_t *db, const catalog_actor_t *actor, const char *product_id, product_action_t action,
                       const char *reason, cat_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!actor || !actor->id || !(actor->seller || actor->admin)) {
        res->code = CAT_EFORBIDDEN;
        res->detail = "Only sellers and admins can change a product's status.";
        return res->code;
    }
    if (action <= PRODUCT_ACTION_NONE || action >= PRODUCT_ACTION_COUNT ||
        !id_valid(product_id, strlen(product_id), "prod")) {
        res->code = CAT_ENOTFOUND;
        return res->code;
    }
    arena_t *a = arena_new();
    transition_ctx_t x = { actor, product_id, action, reason, res, a };
    int rc = db_tx(db, transition_tx, &x);
    arena_free(a);
    if (rc == 0) {
        catalog_cache_invalidate(product_id);
        return CAT_OK;
    }
    if (res->code == 0) res->code = rc == DB_ECONSTRAINT ? CAT_ECONFLICT : CAT_EDB;
    return res->code;
}

/* ---------- rendering ---------- */

static json_t *money(int64_t amount, const char *currency)
{
    return json_pack("{s:I, s:s}", "amount", (json_int_t)amount, "currency", currency ? currency : "");
}

static json_t *time_json(db_stmt_t *st, int col)
{
    if (db_col_is_null(st, col)) return json_null();
    char t[32];
    return json_string(time_fmt_rfc3339(t, db_col_int(st, col)));
}

static json_t *json_text_or(const char *s, json_t *fallback)
{
    json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    if (!j) return fallback;
    json_decref(fallback);
    return j;
}

int product_render(db_conn_t *c, const char *id, product_doc_t *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    db_stmt_t *st = db_query(c, &q_render_product, &rc, "s", id);
    if (!st) return CAT_EDB;
    if (rc != DB_ROW) {
        db_reset(st);
        return CAT_ENOTFOUND;
    }
    json_t *p = json_object();
    snprintf(out->id, sizeof out->id, "%s", db_col_text(st, 0));
    snprintf(out->seller_id, sizeof out->seller_id, "%s", db_col_text(st, 1));
    out->status = product_status_parse(db_col_text(st, 5));
    json_object_set_new(p, "id", json_string(out->id));
    json_object_set_new(p, "handle", json_string(db_col_text(st, 2)));
    json_object_set_new(p, "title", json_string(db_col_text(st, 3)));
    json_object_set_new(p, "description", json_string(db_col_text(st, 4)));
    json_object_set_new(p, "status", json_string(product_status_name(out->status)));
    json_object_set_new(p, "seller_id", json_string(out->seller_id));
    if (db_col_is_null(st, 6))
        json_object_set_new(p, "category", json_null());
    else
        json_object_set_new(p, "category", json_pack("{s:s, s:s, s:s}", "id", db_col_text(st, 6), "name",
                                                     db_col_text(st, 7) ? db_col_text(st, 7) : "", "slug",
                                                     db_col_text(st, 8) ? db_col_text(st, 8) : ""));
    json_object_set_new(p, "tags", tags_json(db_col_text(st, 9)));
    json_object_set_new(p, "attributes", json_text_or(db_col_text(st, 10), json_object()));
    const char *cur = db_col_text(st, 11);
    if (db_col_is_null(st, 12))
        json_object_set_new(p, "price_range", json_null());
    else
        json_object_set_new(p, "price_range", json_pack("{s:o, s:o}", "min", money(db_col_int(st, 12), cur), "max",
                                                        money(db_col_int(st, 13), cur)));
    int64_t rcount = db_col_int(st, 14), ravg = db_col_int(st, 15);
    json_object_set_new(p, "rating", json_pack("{s:o, s:I}", "average", rcount ? json_real((double)ravg / 100.0) : json_null(),
                                               "count", (json_int_t)rcount));
    if (out->status == PRODUCT_REJECTED && !db_col_is_null(st, 16))
        json_object_set_new(p, "reject_reason", json_string(db_col_text(st, 16)));
    json_object_set_new(p, "version", json_integer(db_col_int(st, 17)));
    json_object_set_new(p, "published_at", time_json(st, 18));
    json_object_set_new(p, "created_at", time_json(st, 19));
    json_object_set_new(p, "updated_at", time_json(st, 20));
    db_reset(st);

    json_t *vars = json_array();
    st = db_query(c, &q_render_variants, &rc, "s", id);
    if (!st) {
        json_decref(vars);
        json_decref(p);
        return CAT_EDB;
    }
    while (rc == DB_ROW) {
        json_t *v = json_object();
        json_object_set_new(v, "id", json_string(db_col_text(st, 0)));
        json_object_set_new(v, "sku", json_string(db_col_text(st, 1)));
        json_object_set_new(v, "title", json_string(db_col_text(st, 2)));
        json_object_set_new(v, "options", json_text_or(db_col_text(st, 3), json_object()));
        json_object_set_new(v, "price", money(db_col_int(st, 4), db_col_text(st, 5)));
        json_object_set_new(v, "weight_grams", db_col_is_null(st, 6) ? json_null() : json_integer(db_col_int(st, 6)));
        json_array_append_new(vars, v);
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) {
        json_decref(vars);
        json_decref(p);
        return CAT_EDB;
    }
    json_object_set_new(p, "variants", vars);
    out->json = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(p);
    if (!out->json) abort();
    out->len = strlen(out->json);
    return CAT_OK;
}
