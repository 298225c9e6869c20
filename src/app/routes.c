/*
 * routes.c — the one place where every module's routes are mounted.
 */
#include "app/app.h"
#include "auth/auth.h"
#include "catalog/routes.h"
#include "ops/ops.h"
#include "webhooks/webhooks.h"

void app_routes(router_t *r)
{
    ops_routes(r);
    auth_routes(r);
    catalog_routes(r);
    search_routes(r);
    webhook_routes(r);
}
