/*
 * shipment_state.c — lookups over the lists in shipment_state.h.
 */
#include "fulfil/shipment_state.h"

#include <string.h>

static const char *const names[] = {
#define X(name, str, left) str,
    SHIP_STATUS_LIST(X)
#undef X
};

static const bool left[] = {
#define X(name, str, l) l,
    SHIP_STATUS_LIST(X)
#undef X
};

const char *ship_status_name(ship_status_t s)
{
    return s >= 0 && s < SHIP_NSTATUS ? names[s] : "unknown";
}

int ship_status_parse(const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < SHIP_NSTATUS; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

bool ship_transition_allowed(ship_status_t from, ship_status_t to)
{
#define X(f, t) if (from == SHIP_##f && to == SHIP_##t) return true;
    SHIP_TRANSITIONS(X)
#undef X
    return false;
}

bool ship_status_left(ship_status_t s)
{
    return s >= 0 && s < SHIP_NSTATUS && left[s];
}

order_status_t ship_rollup(const ship_status_t *st, int n)
{
    if (n <= 0) return ORDER_FULFILLING;
    int delivered = 0, returned = 0, failed = 0, gone = 0;
    for (int i = 0; i < n; i++) {
        delivered += st[i] == SHIP_DELIVERED;
        returned += st[i] == SHIP_RETURNED;
        failed += st[i] == SHIP_FAILED;
        gone += ship_status_left(st[i]);
    }
    if (delivered == n) return ORDER_DELIVERED;
    if (delivered + returned == n && returned > 0) return ORDER_RETURNED;
    if (failed > 0) return ORDER_DELIVERY_FAILED;
    if (gone == n) return ORDER_SHIPPED;
    return ORDER_FULFILLING;
}

static bool in_scope(order_status_t s)
{
    return s == ORDER_FULFILLING || s == ORDER_SHIPPED || s == ORDER_DELIVERED || s == ORDER_DELIVERY_FAILED ||
           s == ORDER_RETURNED;
}

int ship_order_path(order_status_t from, order_status_t to, order_status_t *path, int max)
{
    if (from == to) return 0;
    if (!in_scope(from) || !in_scope(to)) return -1;
    /* breadth-first search over the order transitions the system may make */
    int prev[ORDER_NSTATUS], queue[ORDER_NSTATUS], head = 0, tail = 0;
    for (int i = 0; i < ORDER_NSTATUS; i++) prev[i] = -2;
    prev[from] = -1;
    queue[tail++] = from;
    while (head < tail && prev[to] == -2) {
        int cur = queue[head++];
        for (int nxt = 0; nxt < ORDER_NSTATUS; nxt++) {
            if (prev[nxt] != -2 || !in_scope((order_status_t)nxt)) continue;
            if (!order_transition_allowed((order_status_t)cur, (order_status_t)nxt, BY_SYSTEM)) continue;
            prev[nxt] = cur;
            queue[tail++] = nxt;
        }
    }
    if (prev[to] == -2) return -1;
    int n = 0;
    for (int s = to; s != (int)from; s = prev[s]) n++;
    if (n > max) return -1;
    int i = n;
    for (int s = to; s != (int)from; s = prev[s]) path[--i] = (order_status_t)s;
    return n;
}
