/*
 * order_state.c — lookups over the lists in order_state.h.
 */
#include "orders/order_state.h"

#include <string.h>

static const char *const names[] = {
#define X(name, str) str,
    ORDER_STATUS_LIST(X)
#undef X
};

const char *order_status_name(order_status_t s)
{
    return s >= 0 && s < ORDER_NSTATUS ? names[s] : "unknown";
}

int order_status_parse(const char *s)
{
    for (int i = 0; i < ORDER_NSTATUS; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

bool order_transition_allowed(order_status_t from, order_status_t to, int who)
{
#define X(f, t, w) if (from == ORDER_##f && to == ORDER_##t) return ((w) & who) != 0;
    ORDER_TRANSITIONS(X)
#undef X
    return false;
}

bool order_status_holds_reservation(order_status_t s)
{
    return s == ORDER_PENDING_PAYMENT || s == ORDER_PAYMENT_FAILED;
}

bool order_status_stock_committed(order_status_t s)
{
    return s == ORDER_PAID || s == ORDER_FULFILLING || s == ORDER_SHIPPED || s == ORDER_DELIVERED ||
           s == ORDER_DELIVERY_FAILED;
}
