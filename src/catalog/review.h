/*
 * review.h — product reviews: ratings, seller replies, moderation.
 *
 * DESIGN
 * A signed-in customer reviews a published product once (rating 1-5, title,
 * body); editing replaces their review.  The product's seller may reply
 * (one reply, replaceable); an admin may hide a review (with a reason) or
 * show it again.  The product's rating_count / rating_sum / rating_avg
 * (x100) are recomputed from visible reviews in the same transaction, so
 * search filters and sorts on rating always agree with the reviews.  Every
 * change appends a review.* event whose payload names the product.
 *
 * "Verified purchase" is decided by a hook: the orders module registers a
 * function with review_set_verifier() that answers whether the user has a
 * delivered order containing the product.  Until one is registered no review
 * is verified.
 */
#ifndef MERCATO_CATALOG_REVIEW_H
#define MERCATO_CATALOG_REVIEW_H

#include <jansson.h>
#include <stdbool.h>

#include "catalog/catalog.h"
#include "catalog/listing.h"
#include "db/db.h"
#include "util/arena.h"

#define REVIEW_TITLE_MAX 200
#define REVIEW_BODY_MAX 5000

/* Returns 1 when user_id bought and received product_id, 0 when not, or a
 * negative DB_* error.  Runs inside the review's transaction on c. */
typedef int (*review_verify_fn)(db_conn_t *c, const char *product_id, const char *user_id, void *ctx);
/* Installs the verified-purchase hook (start-up only; NULL removes it). */
void review_set_verifier(review_verify_fn fn, void *ctx);

/* Creates the actor's review of a published product from {rating, title?,
 * body?}.  CAT_ENOTFOUND (no such published product), CAT_EFORBIDDEN
 * (anonymous, or the product's own seller), CAT_ECONFLICT (already
 * reviewed: res->id names the existing review), CAT_EINVALID. */
int review_create(db_t *db, const catalog_actor_t *actor, const char *product_id, json_t *body, cat_result_t *res);
/* The author edits {rating?, title?, body?}.  CAT_ENOTFOUND for others. */
int review_update(db_t *db, const catalog_actor_t *actor, const char *review_id, json_t *body, cat_result_t *res);
/* The product's seller (or an admin) replies {body} (empty removes). */
int review_reply(db_t *db, const catalog_actor_t *actor, const char *review_id, json_t *body, cat_result_t *res);
/* Admin moderation: hide (reason required) or show again. */
int review_moderate(db_t *db, const catalog_actor_t *actor, const char *review_id, bool hide, const char *reason,
                    cat_result_t *res);

/* X(ENUM, "name") */
#define REVIEW_SORT_LIST(X) X(NEWEST, "newest") X(RATING_DESC, "rating_desc") X(RATING_ASC, "rating_asc")
typedef enum {
#define X(e, n) REVIEW_SORT_##e,
    REVIEW_SORT_LIST(X)
#undef X
    REVIEW_SORT_COUNT
} review_sort_t;
int review_sort_parse(const char *s); /* -1 when unknown */

/* A page of a product's reviews as {"items":[...], "next_cursor":...,
 * "rating":{average,count,histogram}} (new reference), visible ones, or
 * hidden ones when `hidden` (admins).  cursor may be NULL.  NULL with *rc =
 * CAT_ENOTFOUND (product not visible), CAT_EINVALID (bad cursor) or CAT_EDB. */
json_t *review_list_json(db_conn_t *c, arena_t *a, const char *product_id, review_sort_t sort, bool hidden,
                         const char *cursor, int limit, int *rc);
/* One review as JSON (new reference), NULL with *rc as above. */
json_t *review_get_json(db_conn_t *c, const char *review_id, bool include_hidden, int *rc);

#endif
