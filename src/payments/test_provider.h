/*
 * test_provider.h — the built-in "test" payment provider (see
 * test_provider.c for its tokens).
 */
#ifndef MERCATO_PAYMENTS_TEST_PROVIDER_H
#define MERCATO_PAYMENTS_TEST_PROVIDER_H

#include "payments/provider.h"

/* Registers the provider under the name "test" (idempotent). */
void pay_test_register(void);

#endif
