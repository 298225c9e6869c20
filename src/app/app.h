/*
 * app.h — the application context shared by handlers and workers.
 *
 * One app_t per process, built by main.c from the configuration: the
 * database, the HTTP server and router, and (from later layers) the job
 * runtime.  Handlers reach it through http_app(req).
 */
#ifndef MERCATO_APP_APP_H
#define MERCATO_APP_APP_H

#include "app/config.h"
#include "db/db.h"
#include "http/router.h"
#include "http/server.h"
#include "jobs/runtime.h"

typedef struct app {
    config_t *cfg;
    db_t *db;
    router_t *router;
    http_server_t *http;
    jobs_t *jobs;       /* NULL in processes without a job runtime */
    const char *version;
} app_t;

/* Registers every route of every module on r. */
void app_routes(router_t *r);
/* Registers every module's job handlers, schedules and event consumers. */
void app_jobs(jobs_t *rt, app_t *app);
/* The steps around every handler (hooks.c). */
int app_pre_hook(http_req_t *req, int route_flags);
void app_post_hook(http_req_t *req, int route_flags);

#define MERCATO_VERSION "0.1.0"

#endif
