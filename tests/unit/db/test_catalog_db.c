/*
 * test_catalog_db.c — the catalog's write side on the configured backend
 * (SQLite or PostgreSQL): the seller -> admin -> published workflow,
 * ownership, validation, events, the search index and vocabulary following
 * every change in the same transaction, reviews and rating aggregates,
 * the category tree, cache invalidation from events, and search answers
 * (relevance, facets that add up, pagination without duplicates or gaps,
 * hostile input).  These run below HTTP because accounts come from the
 * identity module; the API tests cover the same flows over HTTP once it is
 * merged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "catalog/cache.h"
#include "catalog/catalog.h"
#include "catalog/category.h"
#include "catalog/review.h"
#include "catalog/seed.h"
#include "db/db.h"
#include "db/migrate.h"
#include "jobs/events.h"
#include "search/search.h"
#include "search/terms.h"
#include "testdb.h"

static const catalog_actor_t SELLER = { "usr_01jfxhsy00aaaaaaaaaaaaaaaa", true, false };
static const catalog_actor_t SELLER2 = { "usr_01jfxhsy00bbbbbbbbbbbbbbbb", true, false };
static const catalog_actor_t CUSTOMER = { "usr_01jfxhsy00cccccccccccccccc", false, false };
static const catalog_actor_t CUSTOMER2 = { "usr_01jfxhsy00dddddddddddddddd", false, false };
static const catalog_actor_t ADMIN = { "usr_01jfxhsy00eeeeeeeeeeeeeeee", false, true };

static db_t *open_fresh(void)
{
    db_t *db = NULL;
    char err[256];
    assert_int_equal(db_open(&db, testdb_new(), NULL, err, sizeof err), 0);
    int applied;
    assert_int_equal(db_migrate(db, &applied, err, sizeof err), 0);
    catalog_cache_init(8 << 20);
    search_cache_init(0);
    return db;
}

static void close_db(db_t *db)
{
    catalog_cache_shutdown();
    db_close(db);
}

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) fail_msg("bad test JSON: %s", e.text);
    return j;
}

static char *mk_category(db_t *db, const char *json, char *out)
{
    cat_result_t r;
    json_t *b = J(json);
    int rc = category_create(db, &ADMIN, b, &r);
    json_decref(b);
    if (rc != CAT_OK) fail_msg("category_create: %d %s", rc, r.errors ? json_dumps(r.errors, 0) : "");
    strcpy(out, r.id);
    cat_result_clear(&r);
    return out;
}

static int create(db_t *db, const catalog_actor_t *who, const char *json, char *id_out, cat_result_t *r)
{
    json_t *b = J(json);
    int rc = product_create(db, who, b, r);
    json_decref(b);
    if (rc == CAT_OK && id_out) strcpy(id_out, r->id);
    return rc;
}

static int update(db_t *db, const catalog_actor_t *who, const char *id, const char *json, cat_result_t *r)
{
    json_t *b = J(json);
    int rc = product_update(db, who, id, b, NULL, r);
    json_decref(b);
    return rc;
}

/* the product's JSON as the API renders it (caller decrefs) */
static json_t *product_json(db_t *db, const char *id)
{
    db_conn_t *c = db_acquire(db);
    product_doc_t d;
    int rc = product_render(c, id, &d);
    db_release(c);
    if (rc != CAT_OK) return NULL;
    json_t *j = json_loads(d.json, 0, NULL);
    free(d.json);
    return j;
}

/* runs a search and returns the parsed answer (caller decrefs) */
static json_t *search(db_t *db, const char *q, const char *cursor, int limit, product_sort_t sort, const product_filter_t *f)
{
    db_conn_t *c = db_acquire(db);
    arena_t *a = arena_new();
    search_params_t p = { .q = q, .sort = sort, .limit = limit };
    if (f) p.filter = *f;
    p.filter.status = PRODUCT_PUBLISHED;
    catalog_cursor_t cur;
    if (cursor) {
        assert_int_equal(catalog_cursor_decode(cursor, &cur), 0);
        p.after = &cur;
    }
    buf_t b = BUF_INIT(0);
    int rc = search_run(c, a, &p, &b);
    db_release(c);
    arena_free(a);
    assert_int_equal(rc, CAT_OK);
    json_t *j = json_loadb(b.ptr, b.len, 0, NULL);
    buf_free(&b);
    assert_non_null(j);
    return j;
}

static int64_t total(json_t *ans) { return json_integer_value(json_object_get(ans, "total")); }

typedef struct evlog {
    char types[64][40];
    char subjects[64][48];
    int n;
} evlog_t;

static int collect(const event_t *ev, void *ctx)
{
    evlog_t *l = ctx;
    if (l->n < 64) {
        snprintf(l->types[l->n], 40, "%s", ev->type);
        snprintf(l->subjects[l->n], 48, "%s", ev->subject);
        l->n++;
    }
    return 0;
}

static void events_since(db_t *db, int64_t after, evlog_t *out)
{
    memset(out, 0, sizeof *out);
    db_conn_t *c = db_acquire(db);
    assert_true(event_read(c, after, NULL, 64, collect, out) >= 0);
    db_release(c);
}

static int64_t last_event(db_t *db)
{
    db_conn_t *c = db_acquire(db);
    int64_t id = event_last_id(c);
    db_release(c);
    return id;
}

#define VARIANT(sku, amount) "{\"sku\":\"" sku "\",\"price\":{\"amount\":" #amount ",\"currency\":\"EUR\"}}"

static void test_workflow_and_ownership(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    char cat[48], pid[48];
    mk_category(db, "{\"name\":\"Knitwear\"}", cat);
    cat_result_t r;
    int64_t ev0 = last_event(db);

    /* who may create */
    assert_int_equal(create(db, &CUSTOMER, "{\"title\":\"Wool Sweater\"}", NULL, &r), CAT_EFORBIDDEN);
    catalog_actor_t anon = { 0 };
    assert_int_equal(create(db, &anon, "{\"title\":\"Wool Sweater\"}", NULL, &r), CAT_EFORBIDDEN);
    /* validation names the fields */
    assert_int_equal(create(db, &SELLER, "{\"title\":\"\",\"colour\":\"red\",\"variants\":[{\"sku\":\"a b\"}]}", NULL, &r),
                     CAT_EINVALID);
    assert_true(json_array_size(r.errors) >= 3);
    cat_result_clear(&r);
    assert_int_equal(create(db, &SELLER,
                            "{\"title\":\"X\",\"variants\":[" VARIANT("A", 100) ",{\"sku\":\"B\",\"price\":{\"amount\":1,\"currency\":\"USD\"}}]}",
                            NULL, &r),
                     CAT_EINVALID);
    cat_result_clear(&r);

    /* a draft */
    char body[512];
    snprintf(body, sizeof body,
             "{\"title\":\"Merino Wool Sweater\",\"description\":\"Warm.\",\"tags\":[\"Wool\",\"winter\",\"wool\"],"
             "\"attributes\":{\"material\":\"merino\"},\"variants\":[" VARIANT("MWS-M", 8900) "," VARIANT("MWS-L", 9900) "]}");
    assert_int_equal(create(db, &SELLER, body, pid, &r), CAT_OK);
    json_t *p = product_json(db, pid);
    assert_string_equal(json_string_value(json_object_get(p, "status")), "draft");
    assert_string_equal(json_string_value(json_object_get(p, "handle")), "merino-wool-sweater");
    assert_int_equal(json_array_size(json_object_get(p, "tags")), 2); /* normalised and deduplicated */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(p, "price_range"), "min"), "amount")), 8900);
    json_decref(p);

    /* drafts are not searchable */
    json_t *ans = search(db, "merino", NULL, 10, PRODUCT_SORT_RELEVANCE, NULL);
    assert_int_equal(total(ans), 0);
    json_decref(ans);

    /* another seller cannot see or touch it: not found, not forbidden */
    assert_int_equal(update(db, &SELLER2, pid, "{\"title\":\"Mine now\"}", &r), CAT_ENOTFOUND);
    assert_int_equal(product_transition(db, &SELLER2, pid, PRODUCT_ACTION_SUBMIT, NULL, &r), CAT_ENOTFOUND);
    assert_int_equal(product_transition(db, &SELLER2, pid, PRODUCT_ACTION_ARCHIVE, NULL, &r), CAT_ENOTFOUND);
    assert_int_equal(update(db, &CUSTOMER, pid, "{\"title\":\"Mine now\"}", &r), CAT_EFORBIDDEN);

    /* submit needs a category */
    assert_int_equal(product_transition(db, &SELLER, pid, PRODUCT_ACTION_SUBMIT, NULL, &r), CAT_EINVALID);
    cat_result_clear(&r);
    snprintf(body, sizeof body, "{\"category_id\":\"%s\"}", cat);
    assert_int_equal(update(db, &SELLER, pid, body, &r), CAT_OK);
    /* a seller cannot approve, even their own */
    assert_int_equal(product_transition(db, &SELLER, pid, PRODUCT_ACTION_SUBMIT, NULL, &r), CAT_OK);
    assert_int_equal(product_transition(db, &SELLER, pid, PRODUCT_ACTION_APPROVE, NULL, &r), CAT_EFORBIDDEN);
    /* pending: the seller cannot edit, cannot submit twice */
    assert_int_equal(update(db, &SELLER, pid, "{\"title\":\"Changed\"}", &r), CAT_ECONFLICT);
    assert_int_equal(product_transition(db, &SELLER, pid, PRODUCT_ACTION_SUBMIT, NULL, &r), CAT_ECONFLICT);
    /* reject needs a reason, then the seller fixes and resubmits */
    assert_int_equal(product_transition(db, &ADMIN, pid, PRODUCT_ACTION_REJECT, "", &r), CAT_EINVALID);
    cat_result_clear(&r);
    assert_int_equal(product_transition(db, &ADMIN, pid, PRODUCT_ACTION_REJECT, "Photos missing", &r), CAT_OK);
    p = product_json(db, pid);
    assert_string_equal(json_string_value(json_object_get(p, "status")), "rejected");
    assert_string_equal(json_string_value(json_object_get(p, "reject_reason")), "Photos missing");
    json_decref(p);
    assert_int_equal(update(db, &SELLER, pid, "{\"description\":\"Warm and soft.\"}", &r), CAT_OK);
    p = product_json(db, pid);
    assert_string_equal(json_string_value(json_object_get(p, "status")), "draft");
    assert_null(json_object_get(p, "reject_reason"));
    json_decref(p);
    assert_int_equal(product_transition(db, &SELLER, pid, PRODUCT_ACTION_SUBMIT, NULL, &r), CAT_OK);
    assert_int_equal(product_transition(db, &ADMIN, pid, PRODUCT_ACTION_APPROVE, NULL, &r), CAT_OK);
    p = product_json(db, pid);
    assert_string_equal(json_string_value(json_object_get(p, "status")), "published");
    assert_true(json_is_string(json_object_get(p, "published_at")));
    json_decref(p);

    /* published: searchable at once, by folded words and by tag */
    ans = search(db, "MÉRINO", NULL, 10, PRODUCT_SORT_RELEVANCE, NULL);
    assert_int_equal(total(ans), 1);
    json_decref(ans);
    ans = search(db, "winter", NULL, 10, PRODUCT_SORT_RELEVANCE, NULL);
    assert_int_equal(total(ans), 1);
    json_decref(ans);
    /* the owner may edit a published product; the index follows the title */
    assert_int_equal(update(db, &SELLER, pid, "{\"title\":\"Cashmere Sweater\"}", &r), CAT_OK);
    ans = search(db, "merino", NULL, 10, PRODUCT_SORT_RELEVANCE, NULL);
    assert_int_equal(total(ans), 0);
    json_decref(ans);
    ans = search(db, "cashmere", NULL, 10, PRODUCT_SORT_RELEVANCE, NULL);
    assert_int_equal(total(ans), 1);
    json_decref(ans);
    /* ... and the vocabulary too */
    db_conn_t *c = db_acquire(db);
    arena_t *a = arena_new();
    search_term_hit_t hits[20];
    assert_int_equal(search_terms_complete(c, a, "cash", 5, hits), 1);
    assert_string_equal(hits[0].term, "cashmere");
    assert_int_equal(search_terms_complete(c, a, "meri", 5, hits), 0);
    /* a published product must keep a variant */
    db_release(c);
    assert_int_equal(update(db, &SELLER, pid, "{\"variants\":[]}", &r), CAT_EINVALID);
    cat_result_clear(&r);

    /* archive removes it from search and the vocabulary; archived is final */
    assert_int_equal(product_transition(db, &SELLER, pid, PRODUCT_ACTION_ARCHIVE, NULL, &r), CAT_OK);
    ans = search(db, "cashmere", NULL, 10, PRODUCT_SORT_RELEVANCE, NULL);
    assert_int_equal(total(ans), 0);
    json_decref(ans);
    c = db_acquire(db);
    assert_int_equal(search_terms_complete(c, a, "cash", 5, hits), 0);
    db_release(c);
    arena_free(a);
    assert_int_equal(update(db, &ADMIN, pid, "{\"title\":\"Back\"}", &r), CAT_ECONFLICT);
    assert_int_equal(product_transition(db, &ADMIN, pid, PRODUCT_ACTION_APPROVE, NULL, &r), CAT_ECONFLICT);

    /* every change is an event, in order */
    evlog_t l;
    events_since(db, ev0, &l);
    const char *want[] = { "product.created", "product.updated", "product.submitted", "product.rejected",
                           "product.updated", "product.submitted", "product.published", "product.updated",
                           "product.archived" };
    assert_int_equal(l.n, (int)(sizeof want / sizeof *want));
    for (int i = 0; i < l.n; i++) {
        assert_string_equal(l.types[i], want[i]);
        assert_string_equal(l.subjects[i], pid);
    }
    close_db(db);
}

static void test_conflicts_and_variants(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    cat_result_t r;
    char a[48], b[48];
    assert_int_equal(create(db, &SELLER, "{\"title\":\"Lamp\",\"handle\":\"lamp\",\"variants\":[" VARIANT("L-1", 100) "]}", a, &r), CAT_OK);
    /* same handle given: conflict; derived handle: made unique */
    assert_int_equal(create(db, &SELLER2, "{\"title\":\"Lamp\",\"handle\":\"lamp\"}", NULL, &r), CAT_ECONFLICT);
    cat_result_clear(&r);
    assert_int_equal(create(db, &SELLER2, "{\"title\":\"Lamp\"}", b, &r), CAT_OK);
    json_t *p = product_json(db, b);
    assert_string_equal(json_string_value(json_object_get(p, "handle")), "lamp-2");
    json_decref(p);
    /* SKUs are unique across products */
    assert_int_equal(update(db, &SELLER2, b, "{\"variants\":[" VARIANT("L-1", 100) "]}", &r), CAT_ECONFLICT);
    cat_result_clear(&r);
    /* variants keep their ids when named, may swap SKUs, and go when left out */
    assert_int_equal(update(db, &SELLER, a, "{\"variants\":[" VARIANT("L-1", 100) "," VARIANT("L-2", 300) "]}", &r), CAT_OK);
    p = product_json(db, a);
    json_t *vs = json_object_get(p, "variants");
    char v1[48], v2[48];
    strcpy(v1, json_string_value(json_object_get(json_array_get(vs, 0), "id")));
    strcpy(v2, json_string_value(json_object_get(json_array_get(vs, 1), "id")));
    json_decref(p);
    char body[512];
    snprintf(body, sizeof body,
             "{\"variants\":[{\"id\":\"%s\",\"sku\":\"L-2\",\"price\":{\"amount\":250,\"currency\":\"EUR\"}},"
             "{\"id\":\"%s\",\"sku\":\"L-1\",\"price\":{\"amount\":120,\"currency\":\"EUR\"}}]}",
             v2, v1);
    assert_int_equal(update(db, &SELLER, a, body, &r), CAT_OK);
    p = product_json(db, a);
    vs = json_object_get(p, "variants");
    assert_int_equal(json_array_size(vs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(vs, 0), "id")), v2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(vs, 0), "sku")), "L-2");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(p, "price_range"), "max"), "amount")), 250);
    json_decref(p);
    snprintf(body, sizeof body, "{\"variants\":[{\"id\":\"var_01jgk4z7x0vwndd6383j8991bd\",\"sku\":\"Z\",\"price\":{\"amount\":1,\"currency\":\"EUR\"}}]}");
    assert_int_equal(update(db, &SELLER, a, body, &r), CAT_EINVALID);
    cat_result_clear(&r);
    /* optimistic concurrency */
    json_t *jb = J("{\"title\":\"Lamp 2\"}");
    int64_t v = 1;
    assert_int_equal(product_update(db, &SELLER, a, jb, &v, &r), CAT_ECONFLICT);
    json_decref(jb);
    close_db(db);
}

static void test_reviews(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    char cat[48], pid[48], draft[48], body[512];
    mk_category(db, "{\"name\":\"Lighting\"}", cat);
    cat_result_t r;
    snprintf(body, sizeof body, "{\"title\":\"Brass Lamp\",\"category_id\":\"%s\",\"variants\":[" VARIANT("BL", 5000) "]}", cat);
    assert_int_equal(create(db, &SELLER, body, pid, &r), CAT_OK);
    assert_int_equal(create(db, &SELLER, "{\"title\":\"Draft Lamp\"}", draft, &r), CAT_OK);
    product_transition(db, &SELLER, pid, PRODUCT_ACTION_SUBMIT, NULL, &r);
    product_transition(db, &ADMIN, pid, PRODUCT_ACTION_APPROVE, NULL, &r);

    json_t *b4 = J("{\"rating\":4,\"title\":\"Nice\",\"body\":\"Bright.\"}");
    json_t *b2 = J("{\"rating\":2}");
    json_t *bad = J("{\"rating\":6,\"stars\":1}");
    char rid[48];
    assert_int_equal(review_create(db, &CUSTOMER, draft, b4, &r), CAT_ENOTFOUND); /* not published */
    assert_int_equal(review_create(db, &SELLER, pid, b4, &r), CAT_EFORBIDDEN);    /* own product */
    assert_int_equal(review_create(db, &CUSTOMER, pid, bad, &r), CAT_EINVALID);
    assert_int_equal(json_array_size(r.errors), 2);
    cat_result_clear(&r);
    assert_int_equal(review_create(db, &CUSTOMER, pid, b4, &r), CAT_OK);
    strcpy(rid, r.id);
    assert_int_equal(review_create(db, &CUSTOMER, pid, b2, &r), CAT_ECONFLICT); /* one per customer */
    assert_string_equal(r.id, rid);
    assert_int_equal(review_create(db, &CUSTOMER2, pid, b2, &r), CAT_OK);
    char rid2[48];
    strcpy(rid2, r.id);
    json_t *p = product_json(db, pid);
    json_t *rating = json_object_get(p, "rating");
    assert_int_equal(json_integer_value(json_object_get(rating, "count")), 2);
    assert_true(json_real_value(json_object_get(rating, "average")) == 3.0);
    json_decref(p);
    /* rating filter in search follows the aggregate */
    product_filter_t f = { .rating_min = 350 };
    json_t *ans = search(db, "lamp", NULL, 10, PRODUCT_SORT_RELEVANCE, &f);
    assert_int_equal(total(ans), 0);
    json_decref(ans);
    /* the author edits; others cannot */
    json_t *b5 = J("{\"rating\":5}");
    assert_int_equal(review_update(db, &CUSTOMER2, rid, b5, &r), CAT_ENOTFOUND);
    assert_int_equal(review_update(db, &CUSTOMER, rid, b5, &r), CAT_OK);
    /* moderation: hide drops it from the aggregate */
    assert_int_equal(review_moderate(db, &SELLER, rid2, true, "spam", &r), CAT_EFORBIDDEN);
    assert_int_equal(review_moderate(db, &ADMIN, rid2, true, NULL, &r), CAT_EINVALID);
    cat_result_clear(&r);
    assert_int_equal(review_moderate(db, &ADMIN, rid2, true, "Off-topic", &r), CAT_OK);
    p = product_json(db, pid);
    rating = json_object_get(p, "rating");
    assert_int_equal(json_integer_value(json_object_get(rating, "count")), 1);
    assert_true(json_real_value(json_object_get(rating, "average")) == 5.0);
    json_decref(p);
    ans = search(db, "lamp", NULL, 10, PRODUCT_SORT_RELEVANCE, &f);
    assert_int_equal(total(ans), 1);
    json_decref(ans);
    /* replies: only the product's seller */
    json_t *reply = J("{\"body\":\"Thank you!\"}");
    assert_int_equal(review_reply(db, &SELLER2, rid, reply, &r), CAT_EFORBIDDEN);
    assert_int_equal(review_reply(db, &CUSTOMER, rid, reply, &r), CAT_EFORBIDDEN);
    assert_int_equal(review_reply(db, &SELLER, rid, reply, &r), CAT_OK);
    /* the public list shows visible reviews with the reply */
    db_conn_t *c = db_acquire(db);
    arena_t *a = arena_new();
    int rc;
    json_t *list = review_list_json(c, a, pid, REVIEW_SORT_NEWEST, false, NULL, 10, &rc);
    assert_non_null(list);
    json_t *items = json_object_get(list, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(items, 0), "reply"), "body")), "Thank you!");
    assert_false(json_is_true(json_object_get(json_array_get(items, 0), "verified")));
    json_decref(list);
    list = review_list_json(c, a, pid, REVIEW_SORT_NEWEST, true, NULL, 10, &rc);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
    json_decref(list);
    assert_null(review_list_json(c, a, pid, REVIEW_SORT_NEWEST, false, "garbage", 10, &rc));
    assert_int_equal(rc, CAT_EINVALID);
    db_release(c);
    arena_free(a);
    /* events name the product for cache invalidation */
    evlog_t l;
    events_since(db, 0, &l);
    int reviews = 0;
    for (int i = 0; i < l.n; i++)
        if (!strncmp(l.types[i], "review.", 7)) reviews++;
    assert_int_equal(reviews, 5); /* created x2, updated, hidden, replied */
    json_decref(b4);
    json_decref(b2);
    json_decref(b5);
    json_decref(bad);
    json_decref(reply);
    close_db(db);
}

static int verify_all(db_conn_t *c, const char *product_id, const char *user_id, void *ctx)
{
    (void)c;
    (void)product_id;
    return strcmp(user_id, (const char *)ctx) == 0;
}

static void test_verified_hook(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    char cat[48], pid[48], body[256];
    cat_result_t r;
    mk_category(db, "{\"name\":\"Pens\"}", cat);
    snprintf(body, sizeof body, "{\"title\":\"Pen\",\"category_id\":\"%s\",\"variants\":[" VARIANT("P", 100) "]}", cat);
    create(db, &SELLER, body, pid, &r);
    product_transition(db, &SELLER, pid, PRODUCT_ACTION_SUBMIT, NULL, &r);
    product_transition(db, &ADMIN, pid, PRODUCT_ACTION_APPROVE, NULL, &r);
    review_set_verifier(verify_all, (void *)CUSTOMER.id);
    json_t *b = J("{\"rating\":5}");
    assert_int_equal(review_create(db, &CUSTOMER, pid, b, &r), CAT_OK);
    char rid[48];
    strcpy(rid, r.id);
    assert_int_equal(review_create(db, &CUSTOMER2, pid, b, &r), CAT_OK);
    review_set_verifier(NULL, NULL);
    db_conn_t *c = db_acquire(db);
    int rc;
    json_t *j = review_get_json(c, rid, false, &rc);
    assert_true(json_is_true(json_object_get(j, "verified")));
    json_decref(j);
    j = review_get_json(c, r.id, false, &rc);
    assert_false(json_is_true(json_object_get(j, "verified")));
    json_decref(j);
    db_release(c);
    json_decref(b);
    close_db(db);
}

static void test_categories(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    char root[48], mid[48], leaf[48], other[48], pid[48], body[512];
    cat_result_t r;
    mk_category(db, "{\"name\":\"Home\"}", root);
    snprintf(body, sizeof body, "{\"name\":\"Kitchen\",\"parent_id\":\"%s\"}", root);
    mk_category(db, body, mid);
    snprintf(body, sizeof body, "{\"name\":\"Knives\",\"parent_id\":\"%s\"}", mid);
    mk_category(db, body, leaf);
    mk_category(db, "{\"name\":\"Garden\"}", other);
    json_t *b = J("{\"name\":\"Home\"}");
    assert_int_equal(category_create(db, &SELLER, b, &r), CAT_EFORBIDDEN);
    assert_int_equal(category_create(db, &ADMIN, b, &r), CAT_ECONFLICT); /* slug "home" taken */
    cat_result_clear(&r);
    json_decref(b);
    snprintf(body, sizeof body, "{\"title\":\"Chef Knife\",\"category_id\":\"%s\",\"variants\":[" VARIANT("K", 4000) "]}", leaf);
    create(db, &SELLER, body, pid, &r);
    product_transition(db, &SELLER, pid, PRODUCT_ACTION_SUBMIT, NULL, &r);
    product_transition(db, &ADMIN, pid, PRODUCT_ACTION_APPROVE, NULL, &r);
    /* filtering by an ancestor includes descendants */
    db_conn_t *c = db_acquire(db);
    product_filter_t f = { .has_category = true };
    assert_int_equal(category_resolve_path(c, "home", f.category_path, sizeof f.category_path), CAT_OK);
    db_release(c);
    json_t *ans = search(db, "", NULL, 10, PRODUCT_SORT_NEWEST, &f);
    assert_int_equal(total(ans), 1);
    json_decref(ans);
    /* cycles are refused */
    snprintf(body, sizeof body, "{\"parent_id\":\"%s\"}", leaf);
    b = J(body);
    assert_int_equal(category_update(db, &ADMIN, root, b, &r), CAT_EINVALID);
    cat_result_clear(&r);
    json_decref(b);
    /* moving Kitchen under Garden moves its products' paths too */
    snprintf(body, sizeof body, "{\"parent_id\":\"%s\",\"name\":\"Outdoor Kitchen\"}", other);
    b = J(body);
    assert_int_equal(category_update(db, &ADMIN, mid, b, &r), CAT_OK);
    json_decref(b);
    c = db_acquire(db);
    assert_int_equal(category_resolve_path(c, "home", f.category_path, sizeof f.category_path), CAT_OK);
    db_release(c);
    ans = search(db, "", NULL, 10, PRODUCT_SORT_NEWEST, &f);
    assert_int_equal(total(ans), 0);
    json_decref(ans);
    c = db_acquire(db);
    assert_int_equal(category_resolve_path(c, "garden", f.category_path, sizeof f.category_path), CAT_OK);
    int rc;
    json_t *cj = category_get_json(c, leaf, &rc);
    assert_int_equal(json_array_size(json_object_get(cj, "ancestors")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(cj, "ancestors"), 1), "name")),
                        "Outdoor Kitchen");
    json_decref(cj);
    json_t *tree = category_tree_json(c);
    assert_int_equal(json_array_size(json_object_get(tree, "items")), 2);
    json_decref(tree);
    db_release(c);
    ans = search(db, "", NULL, 10, PRODUCT_SORT_NEWEST, &f);
    assert_int_equal(total(ans), 1);
    json_decref(ans);
    /* the product's JSON shows the new name (the cache was cleared) */
    json_t *p = product_json(db, pid);
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "category"), "name")), "Knives");
    json_decref(p);
    /* non-empty categories cannot be deleted */
    assert_int_equal(category_delete(db, &ADMIN, leaf, &r), CAT_ECONFLICT);
    assert_int_equal(category_delete(db, &ADMIN, mid, &r), CAT_ECONFLICT);
    assert_int_equal(category_delete(db, &ADMIN, root, &r), CAT_OK);
    assert_int_equal(category_delete(db, &ADMIN, root, &r), CAT_ENOTFOUND);
    close_db(db);
}

static void test_cache_follows_events(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    cat_result_t r;
    char pid[48];
    create(db, &SELLER, "{\"title\":\"Mug\"}", pid, &r);
    db_conn_t *c = db_acquire(db);
    int rc;
    catalog_blob_t *b = catalog_product_blob(c, pid, &rc);
    assert_non_null(b);
    catalog_blob_release(b);
    b = catalog_cache_get(pid);
    assert_non_null(b);
    catalog_blob_release(b);
    /* an event from another instance drops the entry and moves the generation */
    uint64_t g = catalog_generation();
    event_t ev = { .id = 1, .type = "product.updated", .subject = pid, .payload = "{}" };
    catalog_cache_on_event(db, &ev, NULL);
    assert_null(catalog_cache_get(pid));
    assert_true(catalog_generation() != g);
    /* review events name the product in their payload */
    b = catalog_product_blob(c, pid, &rc);
    catalog_blob_release(b);
    char payload[128];
    snprintf(payload, sizeof payload, "{\"product_id\":\"%s\",\"review_id\":\"rev_x\"}", pid);
    event_t ev2 = { .id = 2, .type = "review.created", .subject = "rev_x", .payload = payload };
    catalog_cache_on_event(db, &ev2, NULL);
    assert_null(catalog_cache_get(pid));
    /* a fill that raced with an invalidation is not cached */
    uint64_t epoch = catalog_cache_epoch();
    product_doc_t d;
    assert_int_equal(product_render(c, pid, &d), CAT_OK);
    catalog_cache_invalidate(pid);
    b = catalog_cache_put(&d, epoch);
    free(d.json);
    catalog_blob_release(b);
    assert_null(catalog_cache_get(pid));
    /* by handle too */
    b = catalog_product_blob(c, "mug", &rc);
    assert_non_null(b);
    assert_string_equal(b->id, pid);
    catalog_blob_release(b);
    assert_null(catalog_product_blob(c, "no-such-mug", &rc));
    assert_int_equal(rc, CAT_ENOTFOUND);
    assert_null(catalog_product_blob(c, "'; DROP TABLE products; --", &rc));
    db_release(c);
    /* a tiny budget evicts instead of growing */
    catalog_cache_init(16 * 1500);
    c = db_acquire(db);
    for (int i = 0; i < 50; i++) {
        char t[64];
        snprintf(t, sizeof t, "{\"title\":\"Cup %d\"}", i);
        char id[48];
        create(db, &SELLER, t, id, &r);
        b = catalog_product_blob(c, id, &rc);
        catalog_blob_release(b);
    }
    db_release(c);
    catalog_cache_stats_t s;
    catalog_cache_stats(&s);
    assert_true(s.bytes <= s.max_bytes);
    assert_true(s.evictions > 0);
    close_db(db);
}

static void test_search_answers(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    catalog_seed_stats_t st;
    assert_int_equal(catalog_seed_demo(db, 600, &st), 0);
    assert_int_equal(catalog_seed_demo(db, 600, &st), 1); /* refuses a non-empty catalog */
    /* an exact title ranks first even among many similar titles */
    db_conn_t *c = db_acquire(db);
    DB_SQL(q_title, "SELECT title FROM products WHERE status = 'published' ORDER BY id LIMIT 1 OFFSET 17");
    int rc;
    db_stmt_t *s = db_query(c, &q_title, &rc, "");
    assert_int_equal(rc, DB_ROW);
    char title[256];
    strcpy(title, db_col_text(s, 0));
    db_reset(s);
    db_release(c);
    json_t *ans = search(db, title, NULL, 5, PRODUCT_SORT_RELEVANCE, NULL);
    assert_true(total(ans) >= 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(ans, "items"), 0), "title")), title);
    json_decref(ans);
    /* facets add up to the total; pages cover the set exactly once */
    const char *queries[] = { "wool", "", "lamp", "classic" };
    product_sort_t sorts[] = { PRODUCT_SORT_RELEVANCE, PRODUCT_SORT_PRICE_ASC, PRODUCT_SORT_NEWEST, PRODUCT_SORT_RATING };
    for (int qi = 0; qi < 4; qi++) {
        ans = search(db, queries[qi], NULL, 7, sorts[qi], NULL);
        int64_t n = total(ans);
        assert_true(n > 7);
        json_t *facets = json_object_get(ans, "facets");
        const char *single[] = { "category", "seller" };
        for (int k = 0; k < 2; k++) {
            json_t *fc = json_object_get(facets, single[k]);
            int64_t sum = json_integer_value(json_object_get(fc, "other"));
            size_t i;
            json_t *bk;
            json_array_foreach(json_object_get(fc, "buckets"), i, bk) sum += json_integer_value(json_object_get(bk, "count"));
            assert_int_equal(sum, n);
        }
        const char *arrays[] = { "price", "rating" };
        for (int k = 0; k < 2; k++) {
            int64_t sum = 0;
            size_t i;
            json_t *bk;
            json_array_foreach(json_object_get(facets, arrays[k]), i, bk) sum += json_integer_value(json_object_get(bk, "count"));
            assert_int_equal(sum, n);
        }
        json_t *seen = json_object();
        int64_t count = 0;
        char cursor[256] = "";
        for (int page = 0; page < 1000; page++) {
            json_t *items = json_object_get(ans, "items");
            size_t i;
            json_t *it;
            json_array_foreach(items, i, it) {
                const char *id = json_string_value(json_object_get(it, "id"));
                assert_null(json_object_get(seen, id));
                json_object_set_new(seen, id, json_true());
                count++;
            }
            json_t *nc = json_object_get(ans, "next_cursor");
            if (!json_is_string(nc)) break;
            snprintf(cursor, sizeof cursor, "%s", json_string_value(nc));
            json_decref(ans);
            ans = search(db, queries[qi], cursor, 7, sorts[qi], NULL);
        }
        assert_int_equal(count, n);
        json_decref(seen);
        json_decref(ans);
    }
    /* hostile input is just words */
    const char *hostile[] = { "\"", "(((", "wool OR", "NEAR(wool sweater, 2)", "title:wool", "wool*", "^wool",
                              "'; DROP TABLE products; --", "\xF0\x9F\x91\x9F\xF0\x9F\x91\x9F", "\xFF\xFE", "-",
                              "wool AND NOT sweater", "{title}: x" };
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        ans = search(db, hostile[i], NULL, 5, PRODUCT_SORT_RELEVANCE, NULL);
        json_decref(ans);
    }
    /* "wool OR" searches for the word "or" too: never more hits than "wool" */
    json_t *a1 = search(db, "wool", NULL, 1, PRODUCT_SORT_RELEVANCE, NULL);
    json_t *a2 = search(db, "wool OR lamp", NULL, 1, PRODUCT_SORT_RELEVANCE, NULL);
    assert_true(total(a2) <= total(a1));
    json_decref(a1);
    json_decref(a2);
    close_db(db);
}

/* SQLite: after the demo seed (which analyzes what it loaded), reads of
 * the event log still seek the rowid.  The seed used to ANALYZE the whole
 * database while events held two rows; the planner then scanned an index of
 * the whole log into a temporary b-tree on every consumer and tailer read. */
DB_SQL(q_plan_read, "EXPLAIN QUERY PLAN SELECT id, type, subject, actor, owner, payload, created_at FROM events"
                    " WHERE id > $1 ORDER BY id LIMIT $2");
DB_SQL(q_plan_max, "EXPLAIN QUERY PLAN SELECT COALESCE(MAX(id), 0) FROM events");

static void plan_of(db_conn_t *c, const db_sql_t *q, char *out, size_t len)
{
    int rc;
    db_stmt_t *st = q == &q_plan_read ? db_query(c, q, &rc, "Li", (int64_t)0, 200) : db_query(c, q, &rc, "");
    assert_non_null(st);
    testdb_plan_text(st, rc, out, len);
}

static void test_seed_keeps_log_reads_on_rowid(void **state)
{
    (void)state;
    db_t *db = open_fresh();
    if (db_kind(db) != DB_SQLITE) {
        close_db(db);
        skip(); /* PostgreSQL keeps its statistics current by itself */
    }
    catalog_seed_stats_t st;
    assert_int_equal(catalog_seed_demo(db, 50, &st), 0);
    db_conn_t *c = db_acquire(db);
    char plan[512];
    plan_of(c, &q_plan_read, plan, sizeof plan);
    assert_non_null(strstr(plan, "INTEGER PRIMARY KEY"));
    assert_null(strstr(plan, "TEMP B-TREE"));
    plan_of(c, &q_plan_max, plan, sizeof plan);
    assert_null(strstr(plan, "INDEX"));
    db_release(c);
    close_db(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workflow_and_ownership),
        cmocka_unit_test(test_conflicts_and_variants),
        cmocka_unit_test(test_reviews),
        cmocka_unit_test(test_verified_hook),
        cmocka_unit_test(test_categories),
        cmocka_unit_test(test_cache_follows_events),
        cmocka_unit_test(test_search_answers),
        cmocka_unit_test(test_seed_keeps_log_reads_on_rowid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
