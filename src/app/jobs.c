/*
 * jobs.c — the one place where every module's job handlers, recurring
 * schedules and event consumers are registered (the job-side twin of
 * routes.c).  The runtime itself adds the built-in system.purge job.
 */
#include "app/app.h"

void app_jobs(jobs_t *rt, app_t *app)
{
    (void)rt;
    (void)app;
}
