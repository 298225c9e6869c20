/*
 * fuzz_search_filter.c — libFuzzer harness for catalog_filter_parse()
 * (src/catalog/listing.c), the reading of ?category=&tag=&seller=
 * &price_min=&price_max=&currency=&rating_min=&status= shared by
 * GET /v1/products and GET /v1/search.
 *
 * Why: these are client bytes that end up bound into generated SQL and
 * decide who may list unpublished products.
 *
 * DESIGN
 * The first input byte picks the actor (anonymous, a customer, a seller
 * whose id is usr_01..., an admin); the rest is split on '&' and '=' into at
 * most 16 name/value pairs (the last value wins, as with a repeated query
 * parameter).  On success the filter must satisfy what the SQL relies on:
 * prices in 0..CAT_PRICE_MAX, rating 0..500, a normalised tag of [a-z0-9-],
 * a three-letter upper-case currency, a seller id that is a usr_ id (or the
 * caller's), and a status other than published only for an admin or for a
 * seller listing their own products.  On failure the field and message must
 * be set (for -1), and -2 must only happen to anonymous callers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/listing.h"
#include "util/id.h"

#define PAIRS 16

typedef struct query {
    char *name[PAIRS], *value[PAIRS];
    int n;
} query_t;

static const char *get(void *ctx, const char *name)
{
    query_t *q = ctx;
    for (int i = q->n - 1; i >= 0; i--)
        if (strcmp(q->name[i], name) == 0) return q->value[i];
    return NULL;
}

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_search_filter: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096) return 0;
    static const char seller_id[] = "usr_01hzzzzzzzzzzzzzzzzzzzzz";
    catalog_actor_t actors[4] = {
        { 0 },
        { .id = "usr_01hcccccccccccccccccccccc" },
        { .id = seller_id, .seller = true },
        { .id = "usr_01haaaaaaaaaaaaaaaaaaaaaa", .admin = true },
    };
    const catalog_actor_t *actor = &actors[data[0] & 3];
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    query_t q = { .n = 0 };
    for (char *p = s; p && q.n < PAIRS;) {
        char *amp = strchr(p, '&');
        if (amp) *amp = '\0';
        char *eq = strchr(p, '=');
        if (eq) *eq = '\0';
        q.name[q.n] = p;
        q.value[q.n] = eq ? eq + 1 : p + strlen(p);
        q.n++;
        p = amp ? amp + 1 : NULL;
    }
    arena_t *a = arena_new();
    product_filter_t f;
    const char *category, *field, *message;
    int rc = catalog_filter_parse(&f, &category, get, &q, a, actor, &field, &message);
    if (rc == -1) {
        if (!field || !message || !*field || !*message) fail("invalid without field and message");
    } else if (rc == -2) {
        if (actor->id) fail("401 for a signed-in caller");
    } else if (rc == -3) {
        if (!actor->id || actor->admin) fail("403 for an admin or anonymous caller");
    } else if (rc == 0) {
        if (f.status == PRODUCT_STATUS_NONE || f.status >= PRODUCT_STATUS_COUNT) fail("status out of range");
        if (f.status != PRODUCT_PUBLISHED && !actor->admin &&
            !(actor->id && f.seller_id && strcmp(f.seller_id, actor->id) == 0))
            fail("unpublished products for a caller who may not list them");
        if (f.has_price_min && (f.price_min < 0 || f.price_min > CAT_PRICE_MAX)) fail("price_min out of range");
        if (f.has_price_max && (f.price_max < 0 || f.price_max > CAT_PRICE_MAX)) fail("price_max out of range");
        if (f.rating_min < 0 || f.rating_min > 500) fail("rating out of range");
        if (f.tag) {
            size_t n = strlen(f.tag);
            if (n == 0 || n > CAT_TAG_MAX) fail("tag length");
            for (size_t i = 0; i < n; i++)
                if (!((f.tag[i] >= 'a' && f.tag[i] <= 'z') || (f.tag[i] >= '0' && f.tag[i] <= '9') || f.tag[i] == '-'))
                    fail("tag not normalised");
        }
        if (f.currency && !(strlen(f.currency) == 3 && f.currency[0] >= 'A' && f.currency[0] <= 'Z' &&
                            f.currency[1] >= 'A' && f.currency[1] <= 'Z' && f.currency[2] >= 'A' && f.currency[2] <= 'Z'))
            fail("currency not ISO 4217-shaped");
        if (f.seller_id && !id_valid(f.seller_id, strlen(f.seller_id), "usr") &&
            !(actor->admin && strcmp(f.seller_id, "operator") == 0))
            fail("seller is not a user id");
        if (category && !*category) fail("empty category passed on");
        if (f.has_category) fail("category resolved without the database");
    } else {
        fail("unexpected return value");
    }
    arena_free(a);
    free(s);
    return 0;
}
