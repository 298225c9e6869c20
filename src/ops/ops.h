/*
 * ops.h — operations endpoints: health, readiness, metrics, API document,
 * docs page and the JSON echo used by benchmarks.
 */
#ifndef MERCATO_OPS_OPS_H
#define MERCATO_OPS_OPS_H

#include "http/router.h"

void ops_routes(router_t *r);
/* Only /healthz, /readyz and /metrics (the listener of `mercato worker`). */
void ops_probe_routes(router_t *r);
/* The job queue's admin API (jobs_api.c). */
void ops_jobs_routes(router_t *r);

#endif
