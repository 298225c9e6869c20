/*
 * refund.h — refunds of captured payments (see refund.c).
 */
#ifndef MERCATO_ORDERS_REFUND_H
#define MERCATO_ORDERS_REFUND_H

#include "http/router.h"
#include "jobs/runtime.h"

void refund_routes(router_t *r);
void refund_jobs(jobs_t *rt);

#endif
