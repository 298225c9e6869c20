/*
 * fuzz_stripe_signature.c — libFuzzer harness for the Stripe-Signature
 * verifier and the event parser (src/payments/stripe.c).
 *
 * Why: POST /v1/webhooks/stripe hands both the header and the body, bytes
 * from anyone on the internet, to these functions before anything else.
 *
 * DESIGN
 * The input is split at the first newline: a header line, then a body.
 * The header is verified against the body as given (it must not crash and
 * must answer one of the documented codes); then a correct header for the
 * same body and a time inside the window is built here and must verify,
 * and the fuzzed header appended with that correct v1 must verify too
 * unless the fuzzed part made the header malformed or too long (a second
 * t= or a bad t).  The body is also parsed as an event: a relevant event
 * has a reference and a known status.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payments/stripe.h"

#define SECRET "whsec_fuzz"
#define NOW INT64_C(1700000000)

static void check(int ok, const char *what)
{
    if (ok) return;
    fprintf(stderr, "fuzz_stripe_signature: %s\n", what);
    abort();
}

static void sign(char out[65], int64_t t, const char *body, size_t len)
{
    char tb[24];
    int tl = snprintf(tb, sizeof tb, "%lld", (long long)t);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)SECRET, strlen(SECRET));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tb, (size_t)tl);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, 65, mac, sizeof mac);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384) return 0;
    if (sodium_init() < 0) abort();
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hl = nl ? (size_t)(nl - data) : size;
    char *header = malloc(hl + 1);
    if (!header) return 0;
    memcpy(header, data, hl);
    header[hl] = 0;
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t blen = nl ? size - hl - 1 : 0;

    int rc = stripe_sig_verify(header, body, blen, SECRET, NOW, 300);
    check(rc == STRIPE_SIG_OK || rc == STRIPE_SIG_EMALFORMED || rc == STRIPE_SIG_ENOSIG || rc == STRIPE_SIG_ESTALE ||
              rc == STRIPE_SIG_EMISMATCH,
          "unknown result");
    check(stripe_sig_reason(rc) != NULL, "no reason");

    char v1[65], good[128];
    sign(v1, NOW - 7, body, blen);
    snprintf(good, sizeof good, "t=%lld,v1=%s", (long long)(NOW - 7), v1);
    check(stripe_sig_verify(good, body, blen, SECRET, NOW, 300) == STRIPE_SIG_OK, "a correct header did not verify");
    check(stripe_sig_verify(good, body, blen, SECRET, NOW + 400, 300) == STRIPE_SIG_ESTALE, "a stale header verified");

    /* the fuzzed header with a correct v1 in front: only a malformed rest may spoil it */
    size_t cl = strlen(good) + 1 + hl + 1;
    char *combo = malloc(cl);
    if (combo) {
        snprintf(combo, cl, "%s,%s", good, header);
        int r2 = stripe_sig_verify(combo, body, blen, SECRET, NOW, 300);
        check(r2 == STRIPE_SIG_OK || r2 == STRIPE_SIG_EMALFORMED, "a header with a correct v1 did not verify");
        free(combo);
    }

    stripe_event_t ev;
    if (stripe_event_parse(body, blen, &ev) == 0) {
        check(ev.id[0] && ev.type[0], "event without id or type");
        if (ev.relevant)
            check(ev.ref[0] && (ev.status == PAY_SUCCEEDED || ev.status == PAY_FAILED || ev.status == PAY_REFUNDED),
                  "relevant event without reference or status");
    }
    /* API answers arrive NUL-terminated (a buf_t) */
    char *answer = malloc(blen + 1);
    if (answer) {
        memcpy(answer, body, blen);
        answer[blen] = 0;
        pay_result_t r;
        stripe_answer_result(200, answer, 0, &r);
        stripe_answer_result(402, answer, 0, &r);
        stripe_answer_result(200, answer, 1, &r);
        free(answer);
    }
    free(header);
    return 0;
}
