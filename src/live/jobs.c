/*
 * jobs.c — the live module's job-side registration: the notifications
 * consumer (shared across instances, one cursor) that turns events into
 * notifications and order emails.
 */
#include "live/live.h"
#include "live/notify.h"

static int consume(db_conn_t *c, const event_t *ev, void *ctx)
{
    app_t *app = ctx;
    return notify_apply(c, ev, app->cfg->public_url, app->cfg->shop_name) < 0 ? 1 : 0;
}

void live_jobs(jobs_t *rt, app_t *app)
{
    jobs_consume_events(rt, NOTIFY_CONSUMER, consume, app);
}
