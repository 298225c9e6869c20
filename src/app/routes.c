/*
 * routes.c — the one place where every module's routes are mounted.
 */
#include "app/app.h"
#include "auth/auth.h"
#include "catalog/routes.h"
#include "fulfil/fulfil.h"
#include "live/live.h"
#include "ops/ops.h"
#include "orders/orders.h"
#include "orders/refund.h"
#include "payments/stripe.h"
#include "webhooks/webhooks.h"

void app_routes(router_t *r)
{
    ops_routes(r);
    auth_routes(r);
    catalog_routes(r);
    search_routes(r);
    fulfil_routes(r);
    orders_routes(r);
    refund_routes(r);
    stripe_webhook_routes(r);
    live_routes(r);
    webhook_routes(r);
}
