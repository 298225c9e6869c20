/*
 * order.h — checkout, the order record, its transitions and who may see it.
 *
 * DESIGN
 * Checkout runs in ONE write transaction (the caller's): the cart row is
 * claimed first (active -> converted, so two checkouts of one cart
 * serialise on that row), the lines are re-priced from the catalog, then
 * every line's stock is reserved with a conditional UPDATE in variant-id
 * order (the same lock order for every checkout, so PostgreSQL cannot
 * deadlock).  When any line is short the caller rolls back: no order, no
 * reservation, the cart stays active.  Otherwise the order, its lines (price,
 * title and seller snapshots), its reservations, an order.created event and
 * a delayed orders.expire job are written in that same transaction.
 *
 * Transitions go through order_transition() only: it checks the X-macro
 * table in order_state.h for the caller's role, applies the stock side
 * effects (paid commits the held reservation; cancel or refund before
 * shipping releases held stock or puts committed stock back on hand) and
 * appends an order.status_changed event {from, to, by, reason} owned by the
 * customer, so /v1/me streams can follow their orders.
 *
 * Request-body validation (order_parse_*) is pure, so the fuzz harness can
 * drive it without a database.
 */
#ifndef MERCATO_ORDERS_ORDER_H
#define MERCATO_ORDERS_ORDER_H

#include <jansson.h>
#include <stdint.h>

#include "db/db.h"
#include "orders/cart.h"
#include "orders/order_state.h"
#include "util/id.h"

/* results (positive: the caller answers 4xx) */
#define ORDER_OK 0
#define ORDER_E_NOT_FOUND 1   /* no such order / cart, or not the caller's */
#define ORDER_E_INVALID 2     /* errors[] describe the fields */
#define ORDER_E_STOCK 3       /* short[] lists {variant_id, requested, available} */
#define ORDER_E_CLOSED 4      /* the cart is converted, merged or expired */
#define ORDER_E_TRANSITION 5  /* not allowed from the current status for this caller */
#define ORDER_E_EMPTY 6       /* the cart has no lines */

#define ORDER_TOKEN_MAX 64
#define ORDER_NUMBER_MAX 24
#define ORDER_EMAIL_MAX 254

/* A validated checkout body.  Strings borrow from the parsed JSON. */
typedef struct checkout_input {
    const char *cart_id;
    const char *email;    /* NULL: take the cart's email */
    json_t *address;      /* normalised copy (caller decrefs) */
} checkout_input_t;

/* Validates {cart_id, email?, shipping_address{name, line1, line2?, city,
 * region?, postal_code, country, phone?}}.  0 ok; -1 with *errors (new
 * array of {field, message}, caller decrefs) on bad input. */
int order_parse_checkout(json_t *body, checkout_input_t *out, json_t **errors);
/* Validates an email address for receipts (length, one '@', a dot in the
 * domain, no spaces or control characters).  1 valid, 0 not. */
int order_email_valid(const char *s);

typedef struct line_req {
    const char *variant_id; /* borrowed from the JSON */
    int64_t quantity;
} line_req_t;

/* Validates [{variant_id, quantity}] (1..max entries, quantity
 * 1..CART_MAX_QTY, no duplicate variants).  Returns the count, or -1 with
 * *errors set. */
int order_parse_lines(json_t *lines, line_req_t *out, int max, json_t **errors);
/* Validates a quantity member: 0 ok (*out set), -1 not an integer in
 * [min, CART_MAX_QTY]. */
int order_parse_quantity(json_t *v, int64_t min, int64_t *out);

typedef struct checkout_res {
    char order_id[ID_MAX];
    char order_token[ORDER_TOKEN_MAX]; /* guests only: the secret to read the order (shown once) */
    json_t *errors;                    /* ORDER_E_INVALID: [{field, message}] (caller decrefs) */
    json_t *short_lines;               /* ORDER_E_STOCK: [{variant_id, requested, available}] */
} checkout_res_t;

/* Places the order for the cart (see DESIGN).  user_id NULL for a guest,
 * who proves the cart with its token.  ttl_ms: reservation lifetime.
 * Returns ORDER_OK, a positive ORDER_E_* (roll back!), or <0 DB error. */
int order_checkout(db_conn_t *c, const checkout_input_t *in, const char *user_id, const char *cart_token,
                   int64_t ttl_ms, checkout_res_t *out);

/* Moves an order to `to` when the table allows it for `who` (BY_* bits),
 * with stock side effects and an event.  expect_from, when >= 0, must be the
 * current status (guards jobs against races).  from_out (may be NULL) gets
 * the status before.  ORDER_OK, ORDER_E_NOT_FOUND, ORDER_E_TRANSITION or <0. */
int order_transition(db_conn_t *c, const char *order_id, order_status_t to, int who, const char *actor,
                     const char *reason, int expect_from, order_status_t *from_out);

/* Who is looking at an order. */
typedef struct order_viewer {
    const char *user_id;     /* NULL when anonymous */
    int admin;
    const char *order_token; /* X-Order-Token of a guest order */
} order_viewer_t;

#define ORDER_SEE_NONE 0
#define ORDER_SEE_OWNER 1  /* the customer (or the guest token holder) */
#define ORDER_SEE_SELLER 2 /* a seller with lines in it: only their lines */
#define ORDER_SEE_ADMIN 3

/* What the viewer may see of the order: ORDER_SEE_*, or <0 on error. */
int order_access(db_conn_t *c, const char *order_id, const order_viewer_t *v);
/* The order as JSON; only_seller restricts lines to one seller (and hides
 * the customer's address and email).  NULL when absent or on error. */
json_t *order_render(db_conn_t *c, const char *order_id, const char *only_seller);
/* Loads status and customer: 0 ok, ORDER_E_NOT_FOUND, <0 error. */
int order_status_of(db_conn_t *c, const char *order_id, order_status_t *status, char customer_id[ID_MAX]);

/* The statement that moves an order's reservations from one state to
 * another ($1 order, $2 from, $3 to, $4 now), and the expiry sweep's
 * ($1 now: up to 200 orders with held reservations past their time):
 * their query plans are tested. */
extern const db_sql_t order_sql_resv_set_state;
extern const db_sql_t order_sql_due_orders;

/* Lists, newest first, keyset on the order id (after = the last id of the
 * previous page, NULL for the first).  by: "customer" (key = user id),
 * "seller" (key = seller id; lines filtered), "all" (key = status filter or
 * NULL).  Returns {items:[...], next_cursor} or NULL on error. */
json_t *order_list(db_conn_t *c, const char *by, const char *key, const char *after, int limit);

/* The timeline: events about the order, oldest first.  NULL on error. */
json_t *order_events(db_conn_t *c, const char *order_id, int64_t after, int limit);

/* orders.expire job body: cancels the order when it still waits for
 * payment after its reservation expired.  0 done/nothing to do, <0 error. */
int order_expire(db_conn_t *c, const char *order_id);

/* Human-friendly order number: "M" + yymmdd + "-" + 8 Crockford base32. */
void order_number_new(char out[ORDER_NUMBER_MAX], int64_t now_ms);

#endif
