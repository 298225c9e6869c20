/*
 * orders.h — the orders module as the application sees it: routes for
 * carts, stock, orders and payments, its jobs, and the demo stock.
 *
 * Files: cart.[ch] (carts), inventory.[ch] (stock), pricing.[ch] (regions
 * and totals), order_state.[ch] (the state machine table), order.[ch]
 * (checkout, transitions, reads), payment.[ch] (payments and provider
 * outcomes), routes.c (HTTP and jobs), seed.c (demo stock).  See
 * docs/orders.md.
 */
#ifndef MERCATO_ORDERS_ORDERS_H
#define MERCATO_ORDERS_ORDERS_H

#include "app/app.h"

/* Mounts every orders route (and registers the built-in test provider). */
void orders_routes(router_t *r);
/* Registers orders.expire, carts.purge (hourly) and payments.process. */
void orders_jobs(jobs_t *rt, app_t *app);
/* Gives every variant without a stock row ORDERS_DEMO_STOCK units on hand
 * (one statement, one stock.seeded event).  Returns the number of rows
 * added, or <0 on a database error. */
#define ORDERS_DEMO_STOCK 100
long orders_seed_demo(db_t *db);

#endif
