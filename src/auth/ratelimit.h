/*
 * ratelimit.h — token buckets, alone (pure arithmetic) and keyed (a bounded,
 * sharded table of buckets by key such as "ip:1.2.3.4" or "usr_...").
 *
 * DESIGN
 * A rule is "limit requests per window": the bucket holds at most `limit`
 * tokens and refills continuously at limit/window, so a client may burst
 * the whole quota and then proceeds at the sustained rate.  Tokens are kept
 * in thousandths (integers) so results are exact and reproducible in tests.
 * A bucket that is absent is full, which lets the keyed table forget any
 * bucket without changing behaviour once it has refilled.
 *
 * The keyed table has a fixed capacity chosen at creation (memory never
 * grows with the number of clients).  Keys are hashed with SipHash under a
 * per-process random key, so nobody can aim collisions at a victim's bucket;
 * when a probe window is full the stalest bucket there is recycled (an
 * attacker spraying keys can at worst give back tokens to idle keys, never
 * grow memory).  Each shard has its own mutex; one take is a hash, a lock
 * and a few integer operations.
 *
 * Results feed the IETF httpapi ratelimit-headers draft (-10):
 *   RateLimit-Policy: "name";q=<limit>;w=<window s>
 *   RateLimit: "name";r=<remaining>;t=<seconds until full>
 * and Retry-After (seconds until one request is allowed) on a 429.
 */
#ifndef MERCATO_AUTH_RATELIMIT_H
#define MERCATO_AUTH_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RL_SCALE 1000 /* tokens are stored in thousandths */

typedef struct rl_rule {
    int64_t limit;     /* requests per window (>= 1) */
    int64_t window_ms; /* window length (>= 1) */
} rl_rule_t;

typedef struct rl_bucket {
    int64_t milli;     /* tokens * RL_SCALE */
    int64_t t_ms;      /* time of the last update */
} rl_bucket_t;

typedef struct rl_result {
    bool allowed;
    int64_t limit;          /* the rule's quota */
    int64_t remaining;      /* whole tokens left after this call */
    int64_t reset_s;        /* seconds until the bucket is full again */
    int64_t retry_after_s;  /* when denied: seconds until `cost` tokens exist (>= 1) */
} rl_result_t;

/* A full bucket for rule r at time now. */
void rl_bucket_init(rl_bucket_t *b, const rl_rule_t *r, int64_t now_ms);

/* Refills b up to now, then takes `cost` tokens when they are there
 * (cost 0 only looks: allowed means at least one token is left).  A denied
 * call changes nothing but the refill.  Time going backwards is treated as
 * no time passing. */
void rl_bucket_take(rl_bucket_t *b, const rl_rule_t *r, int64_t now_ms, int64_t cost, rl_result_t *out);

typedef struct ratelimit ratelimit_t;

/* A keyed table holding about `capacity` buckets (rounded up; at least 1024).
 * Never NULL (aborts on OOM).  Free with ratelimit_free(). */
ratelimit_t *ratelimit_new(size_t capacity);
void ratelimit_free(ratelimit_t *rl);

/* rl_bucket_take on the bucket for key[0..keylen) (created full when new).
 * Thread-safe. */
void ratelimit_take(ratelimit_t *rl, const char *key, size_t keylen, const rl_rule_t *r, int64_t now_ms,
                    int64_t cost, rl_result_t *out);

/* Formats the two header values for a result under a policy name into the
 * caller's buffers (64 bytes each are plenty). */
void rl_format_headers(const char *name, const rl_rule_t *r, const rl_result_t *res, char *policy,
                       size_t policy_len, char *state, size_t state_len);

#endif
