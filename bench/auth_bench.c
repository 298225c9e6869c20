/*
 * auth_bench.c — what authenticating one request costs, in µs per call:
 *
 *   token_verify      the pinned HS256 path the access hook uses
 *   libjwt decode     jwt_decode() on the same token, for comparison
 *   hook work         verify + deny-list check + rate-limit bucket take
 *                     (the hook's per-request work minus HTTP headers),
 *                     with an empty deny-list and with 100 000 revoked ids
 *
 * Single thread, warm caches.  Prints figures; never fails.
 *   build/release/bench/auth_bench [iterations]
 */
#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/denylist.h"
#include "auth/keys.h"
#include "auth/ratelimit.h"
#include "auth/token.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

#define SECRET "bench-secret-bench-secret-bench-secret-0123456789"

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (sodium_init() < 0) return 1;
    keyring_t kr;
    char err[256];
    if (keyring_load(&kr, SECRET, "k1", NULL, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int64_t now = (int64_t)time(NULL);
    json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "kind", "user", "sub",
                           "usr_01jbenchbenchbenchbenchbe", "role", "customer", "scope", "account", "jti",
                           "at_01jbenchbenchbenchbenchbe", "sid", "ses_01jbenchbenchbenchbenchbe", "iat",
                           (json_int_t)now, "nbf", (json_int_t)now, "exp", (json_int_t)(now + 900));
    char *tok = token_issue(&kr, cl);
    json_decref(cl);
    size_t len = strlen(tok);
    printf("# auth_bench: %ld iterations, token %zu bytes\n", n, len);

    token_claims_t c;
    volatile int sink = 0;
    double t0 = now_us();
    for (long i = 0; i < n; i++) sink += token_verify(&kr, tok, len, now, &c);
    double t1 = now_us();
    printf("token_verify (pinned HS256)        %7.3f us/op\n", (t1 - t0) / (double)n);

    long nj = n / 4 > 0 ? n / 4 : 1;
    t0 = now_us();
    for (long i = 0; i < nj; i++) {
        jwt_t *j = NULL;
        sink += jwt_decode(&j, tok, (const unsigned char *)SECRET, (int)strlen(SECRET));
        jwt_free(j);
    }
    t1 = now_us();
    printf("libjwt jwt_decode (same token)     %7.3f us/op\n", (t1 - t0) / (double)nj);

    ratelimit_t *rl = ratelimit_new(1 << 16);
    rl_rule_t rule = { 1000000000, 60000 };
    rl_result_t res;
    int64_t ms = now * 1000;
    t0 = now_us();
    for (long i = 0; i < n; i++) {
        sink += token_verify(&kr, tok, len, now, &c);
        sink += denylist_blocks(c.jti, c.sub);
        ratelimit_take(rl, c.sub, strlen(c.sub), &rule, ms, 1, &res);
    }
    t1 = now_us();
    printf("hook work, empty deny-list         %7.3f us/op\n", (t1 - t0) / (double)n);

    char key[64];
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "at_revoked_%d", i);
        denylist_note(key, ms, ms + 900000);
    }
    t0 = now_us();
    for (long i = 0; i < n; i++) {
        sink += token_verify(&kr, tok, len, now, &c);
        sink += denylist_blocks(c.jti, c.sub);
        ratelimit_take(rl, c.sub, strlen(c.sub), &rule, ms, 1, &res);
    }
    t1 = now_us();
    printf("hook work, 100000 revoked ids      %7.3f us/op (deny-list size %ld)\n", (t1 - t0) / (double)n,
           denylist_size());
    if (sink == 42) printf(" \n");
    ratelimit_free(rl);
    denylist_stop();
    free(tok);
    keyring_clear(&kr);
    return 0;
}
