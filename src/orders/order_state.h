/*
 * order_state.h — the order state machine, defined once.
 *
 * ORDER_STATUS_LIST gives every status with its JSON name; ORDER_TRANSITIONS
 * every allowed move with who may make it.  Code, API documentation and
 * tests all read these lists, so they cannot drift apart.
 *
 *   pending_payment -> paid -> fulfilling -> shipped -> delivered
 *   side exits: payment_failed, cancelled, refunded, delivery_failed, returned
 */
#ifndef MERCATO_ORDERS_ORDER_STATE_H
#define MERCATO_ORDERS_ORDER_STATE_H

#include <stdbool.h>

#define ORDER_STATUS_LIST(X)                \
    X(PENDING_PAYMENT, "pending_payment")   \
    X(PAID, "paid")                         \
    X(FULFILLING, "fulfilling")             \
    X(SHIPPED, "shipped")                   \
    X(DELIVERED, "delivered")               \
    X(CANCELLED, "cancelled")               \
    X(REFUNDED, "refunded")                 \
    X(PAYMENT_FAILED, "payment_failed")     \
    X(DELIVERY_FAILED, "delivery_failed")   \
    X(RETURNED, "returned")

typedef enum {
#define X(name, str) ORDER_##name,
    ORDER_STATUS_LIST(X)
#undef X
    ORDER_NSTATUS
} order_status_t;

/* Who may trigger a transition (bit mask). */
#define BY_CUSTOMER 0x1 /* the order's customer (cancel) */
#define BY_SYSTEM   0x2 /* payments, fulfilment, carrier events, expiry jobs */
#define BY_ADMIN    0x4 /* an admin through the API */

/* X(from, to, who) */
#define ORDER_TRANSITIONS(X)                                          \
    X(PENDING_PAYMENT, PAID, BY_SYSTEM)                               \
    X(PENDING_PAYMENT, PAYMENT_FAILED, BY_SYSTEM)                     \
    X(PENDING_PAYMENT, CANCELLED, BY_CUSTOMER | BY_SYSTEM | BY_ADMIN) \
    X(PAYMENT_FAILED, PAID, BY_SYSTEM)                                \
    X(PAYMENT_FAILED, CANCELLED, BY_CUSTOMER | BY_SYSTEM | BY_ADMIN)  \
    X(PAID, FULFILLING, BY_SYSTEM | BY_ADMIN)                         \
    X(PAID, CANCELLED, BY_CUSTOMER | BY_ADMIN)                        \
    X(PAID, REFUNDED, BY_SYSTEM | BY_ADMIN)                           \
    X(FULFILLING, SHIPPED, BY_SYSTEM | BY_ADMIN)                      \
    X(FULFILLING, CANCELLED, BY_CUSTOMER | BY_ADMIN)                  \
    X(FULFILLING, REFUNDED, BY_SYSTEM | BY_ADMIN)                     \
    X(SHIPPED, DELIVERED, BY_SYSTEM | BY_ADMIN)                       \
    X(SHIPPED, DELIVERY_FAILED, BY_SYSTEM | BY_ADMIN)                 \
    X(SHIPPED, RETURNED, BY_SYSTEM | BY_ADMIN)                        \
    X(DELIVERY_FAILED, SHIPPED, BY_SYSTEM | BY_ADMIN)                 \
    X(DELIVERY_FAILED, RETURNED, BY_SYSTEM | BY_ADMIN)                \
    X(DELIVERY_FAILED, REFUNDED, BY_SYSTEM | BY_ADMIN)                \
    X(DELIVERED, RETURNED, BY_SYSTEM | BY_ADMIN)                      \
    X(DELIVERED, REFUNDED, BY_SYSTEM | BY_ADMIN)                      \
    X(RETURNED, REFUNDED, BY_SYSTEM | BY_ADMIN)

const char *order_status_name(order_status_t s);
/* -1 when unknown */
int order_status_parse(const char *s);
/* True when `from -> to` is allowed for any of the `who` bits. */
bool order_transition_allowed(order_status_t from, order_status_t to, int who);
/* True when the order still holds reserved (not yet committed) stock. */
bool order_status_holds_reservation(order_status_t s);
/* True when stock has left on-hand (payment captured) and is not back. */
bool order_status_stock_committed(order_status_t s);

#endif
