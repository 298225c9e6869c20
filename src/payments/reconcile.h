/*
 * reconcile.h — the recurring payments.reconcile job (see reconcile.c).
 */
#ifndef MERCATO_PAYMENTS_RECONCILE_H
#define MERCATO_PAYMENTS_RECONCILE_H

#include "jobs/runtime.h"

void reconcile_jobs(jobs_t *rt);

#endif
