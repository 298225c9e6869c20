/*
 * hooks.c — the cross-cutting steps around every handler, in order:
 * authentication and access rules, rate limits (identity module), then
 * Idempotency-Key handling; after the handler, idempotent responses are
 * stored.  One place, so the order of these steps is explicit.
 */
#include "app/app.h"
#include "app/idempotency.h"
#include "auth/auth.h"

int app_pre_hook(http_req_t *req, int route_flags)
{
    if (auth_pre_hook(req, route_flags)) return 1;
    return idem_pre(req, route_flags);
}

void app_post_hook(http_req_t *req, int route_flags)
{
    idem_post(req, route_flags);
}
