/*
 * shipment_state.h — shipment statuses, the carrier events that move them,
 * and how a set of shipments rolls up into the order's status; defined once.
 *
 * A carrier reports events (label_created, in_transit, out_for_delivery,
 * delivered, failed, returned).  An event moves the shipment only along an
 * allowed transition and only when it is not older than the event that set
 * the current status; any other event (late, duplicate status, out of
 * order) is recorded in the timeline but changes nothing.
 *
 *   pending -> label_created -> in_transit -> out_for_delivery -> delivered
 *   failed: a delivery attempt failed; the parcel may move again or go back
 *   returned: back at the seller (final)
 */
#ifndef MERCATO_FULFIL_SHIPMENT_STATE_H
#define MERCATO_FULFIL_SHIPMENT_STATE_H

#include <stdbool.h>

#include "orders/order_state.h"

/* X(name, json name, has left the seller) */
#define SHIP_STATUS_LIST(X)                          \
    X(PENDING, "pending", 0)                         \
    X(LABEL_CREATED, "label_created", 0)             \
    X(IN_TRANSIT, "in_transit", 1)                   \
    X(OUT_FOR_DELIVERY, "out_for_delivery", 1)       \
    X(DELIVERED, "delivered", 1)                     \
    X(FAILED, "failed", 1)                           \
    X(RETURNED, "returned", 1)

typedef enum {
#define X(name, str, left) SHIP_##name,
    SHIP_STATUS_LIST(X)
#undef X
    SHIP_NSTATUS
} ship_status_t;

/* X(from, to): the moves a carrier event may make. */
#define SHIP_TRANSITIONS(X)               \
    X(PENDING, LABEL_CREATED)             \
    X(PENDING, IN_TRANSIT)                \
    X(PENDING, OUT_FOR_DELIVERY)          \
    X(PENDING, DELIVERED)                 \
    X(PENDING, FAILED)                    \
    X(LABEL_CREATED, IN_TRANSIT)          \
    X(LABEL_CREATED, OUT_FOR_DELIVERY)    \
    X(LABEL_CREATED, DELIVERED)           \
    X(LABEL_CREATED, FAILED)              \
    X(LABEL_CREATED, RETURNED)            \
    X(IN_TRANSIT, OUT_FOR_DELIVERY)       \
    X(IN_TRANSIT, DELIVERED)              \
    X(IN_TRANSIT, FAILED)                 \
    X(IN_TRANSIT, RETURNED)               \
    X(OUT_FOR_DELIVERY, DELIVERED)        \
    X(OUT_FOR_DELIVERY, FAILED)           \
    X(OUT_FOR_DELIVERY, RETURNED)         \
    X(FAILED, IN_TRANSIT)                 \
    X(FAILED, OUT_FOR_DELIVERY)           \
    X(FAILED, DELIVERED)                  \
    X(FAILED, RETURNED)                   \
    X(DELIVERED, RETURNED)

const char *ship_status_name(ship_status_t s);
int ship_status_parse(const char *s); /* -1 when unknown; "pending" is not a carrier event */
bool ship_transition_allowed(ship_status_t from, ship_status_t to);
bool ship_status_left(ship_status_t s); /* the parcel has left the seller */

/* The order status a set of shipment statuses implies:
 *   every shipment delivered                       -> delivered
 *   all delivered or returned, at least one returned -> returned
 *   any failed                                     -> delivery_failed
 *   every shipment has left the seller             -> shipped
 *   otherwise                                      -> fulfilling */
order_status_t ship_rollup(const ship_status_t *st, int n);

/* The shortest path of system transitions from `from` to `to` through the
 * fulfilment statuses (fulfilling, shipped, delivered, delivery_failed,
 * returned).  Writes up to max steps (excluding from) into path and returns
 * their count; 0 when from == to; -1 when no such path (e.g. a cancelled
 * order). */
int ship_order_path(order_status_t from, order_status_t to, order_status_t *path, int max);

#endif
