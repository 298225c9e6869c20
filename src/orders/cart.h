/*
 * cart.h — shopping carts.
 *
 * A cart belongs either to a signed-in user (one active cart per user) or
 * to whoever holds its secret token (anonymous carts; only a hash of the
 * token is stored).  A cart has a region, which fixes its currency and its
 * shipping and tax rates.  Items are variants of published products with a
 * quantity; adding more than is available is refused.  At sign-in an
 * anonymous cart merges into the user's cart (quantities add, capped by
 * stock).  Carts expire after inactivity (a recurring job).
 */
#ifndef MERCATO_ORDERS_CART_H
#define MERCATO_ORDERS_CART_H

#include <jansson.h>
#include <stdint.h>

#include "db/db.h"
#include "util/id.h"

#define CART_TOKEN_MAX 64
#define CART_MAX_LINES 100
#define CART_MAX_QTY 999

typedef struct cart {
    char id[ID_MAX];
    char user_id[ID_MAX];   /* "" for anonymous */
    char region[16];
    char currency[4];
    char status[16];
    int64_t created_at, updated_at;
} cart_t;

/* error codes (positive: the caller answers 4xx) */
#define CART_E_NOT_FOUND 1
#define CART_E_VARIANT 2     /* unknown variant or product not published */
#define CART_E_CURRENCY 3    /* variant priced in another currency */
#define CART_E_STOCK 4       /* not enough available */
#define CART_E_LINES 5       /* too many lines */
#define CART_E_CLOSED 6      /* converted, merged or expired */
#define CART_E_REGION 7      /* unknown region */

/* Creates a cart.  For a user, returns their active cart when one exists
 * (*existing = 1).  For anonymous carts token_out receives the secret
 * (shown once).  0 ok, CART_E_REGION, or <0 db error. */
int cart_create(db_conn_t *c, const char *user_id, const char *region, cart_t *out,
                char token_out[CART_TOKEN_MAX], int *existing);
/* Loads a cart the caller may use: its user, or the holder of its token.
 * 0 ok, CART_E_NOT_FOUND (absent or not the caller's), <0 error. */
int cart_find(db_conn_t *c, const char *cart_id, const char *user_id, const char *token, cart_t *out);
/* Sets (add=0) or adds to (add=1) a line's quantity; quantity 0 with
 * add=0 removes the line.  *avail receives the available units on
 * CART_E_STOCK. */
int cart_set_item(db_conn_t *c, cart_t *cart, const char *variant_id, int64_t qty, int add, int64_t *avail);
/* Changes the region (and with it the currency, which must match the items). */
int cart_set_region(db_conn_t *c, cart_t *cart, const char *region);
/* Merges the anonymous cart `from` into user_id's active cart (created when
 * absent).  Quantities add, capped by availability; lines of unpublished or
 * other-currency variants are dropped.  out receives the user's cart. */
int cart_merge(db_conn_t *c, const char *user_id, cart_t *from, cart_t *out);
/* The cart as JSON with items, availability and totals.  NULL on error. */
json_t *cart_render(db_conn_t *c, const cart_t *cart);
/* Marks carts idle longer than idle_ms as expired; returns how many. */
int64_t cart_expire_idle(db_conn_t *c, int64_t idle_ms);
/* Hash used to store tokens (hex of BLAKE2b-256). */
void cart_token_hash(const char *token, char out[65]);

#endif
