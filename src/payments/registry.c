/*
 * registry.c — the payment provider registry and status names (see
 * provider.h).
 *
 * Providers register at start-up, before any thread looks one up, so the
 * table is written once and read without locks afterwards.  Registering a
 * name twice replaces the earlier entry (tests and tools may re-register).
 */
#include "payments/provider.h"

#include <string.h>

#define PAY_PROVIDERS_MAX 8

static const pay_provider_t *providers[PAY_PROVIDERS_MAX];
static int nproviders;

static const char *const status_names[] = {
#define X(name, str) str,
    PAY_STATUS_LIST(X)
#undef X
};

const char *pay_status_name(pay_status_t s)
{
    return s >= 0 && s < PAY_NSTATUS ? status_names[s] : "unknown";
}

int pay_status_parse(const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < PAY_NSTATUS; i++)
        if (!strcmp(s, status_names[i])) return i;
    return -1;
}

void pay_provider_register(const pay_provider_t *p)
{
    for (int i = 0; i < nproviders; i++)
        if (!strcmp(providers[i]->name, p->name)) {
            providers[i] = p;
            return;
        }
    if (nproviders < PAY_PROVIDERS_MAX) providers[nproviders++] = p;
}

const pay_provider_t *pay_provider_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < nproviders; i++)
        if (!strcmp(providers[i]->name, name)) return providers[i];
    return NULL;
}
