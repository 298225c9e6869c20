/*
 * jobs.c — the one place where every module's job handlers, recurring
 * schedules and event consumers are registered (the job-side twin of
 * routes.c).  The runtime itself adds the built-in system.purge job.
 */
#include "app/app.h"
#include "app/idempotency.h"
#include "auth/auth.h"
#include "fulfil/fulfil.h"
#include "live/live.h"
#include "mail/mail.h"
#include "orders/orders.h"
#include "orders/refund.h"
#include "payments/reconcile.h"
#include "webhooks/webhooks.h"

void app_jobs(jobs_t *rt, app_t *app)
{
    idem_jobs(rt);
    auth_jobs(rt, app);
    mail_jobs(rt, app);
    fulfil_jobs(rt, app);
    orders_jobs(rt, app);
    refund_jobs(rt);
    reconcile_jobs(rt);
    live_jobs(rt, app);
    webhook_jobs(rt, app);
}
