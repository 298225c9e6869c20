/*
 * ratelimit.c — token buckets and the keyed bucket table (see ratelimit.h).
 */
#include "auth/ratelimit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "util/mem.h"

#define NSHARDS 64
#define PROBE 16

static int64_t ceil_div(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

void rl_bucket_init(rl_bucket_t *b, const rl_rule_t *r, int64_t now_ms)
{
    b->milli = r->limit * RL_SCALE;
    b->t_ms = now_ms;
}

void rl_bucket_take(rl_bucket_t *b, const rl_rule_t *r, int64_t now_ms, int64_t cost, rl_result_t *out)
{
    int64_t cap = r->limit * RL_SCALE;
    int64_t elapsed = now_ms - b->t_ms;
    if (elapsed < 0) elapsed = 0;
    if (elapsed > r->window_ms) elapsed = r->window_ms; /* a full window refills everything */
    /* refill = elapsed * limit / window tokens; elapsed <= window keeps this in range */
    int64_t add = elapsed * r->limit * RL_SCALE / r->window_ms;
    if (add > 0 || now_ms > b->t_ms) {
        b->milli += add;
        if (b->milli > cap) b->milli = cap;
        /* advance time only by what was converted into tokens, so slow
         * trickles (less than one milli-token per ms) are not lost */
        if (b->milli == cap || elapsed == r->window_ms)
            b->t_ms = now_ms;
        else if (add > 0)
            b->t_ms += add * r->window_ms / (r->limit * RL_SCALE);
    }
    int64_t need = (cost > 0 ? cost : 1) * RL_SCALE;
    out->limit = r->limit;
    out->allowed = b->milli >= need;
    if (out->allowed && cost > 0) b->milli -= cost * RL_SCALE;
    out->remaining = b->milli / RL_SCALE;
    /* ms until full / until `need` is there: missing * window / (limit * SCALE) */
    int64_t per = r->limit * RL_SCALE;
    out->reset_s = ceil_div(ceil_div((cap - b->milli) * r->window_ms, per), 1000);
    out->retry_after_s = 0;
    if (!out->allowed) {
        out->retry_after_s = ceil_div(ceil_div((need - b->milli) * r->window_ms, per), 1000);
        if (out->retry_after_s < 1) out->retry_after_s = 1;
    }
}

typedef struct slot {
    uint64_t key;     /* 0 = empty (a real hash of 0 is mapped to 1) */
    rl_bucket_t b;
} slot_t;

typedef struct shard {
    pthread_mutex_t mu;
    slot_t *slots;
} shard_t;

struct ratelimit {
    shard_t shards[NSHARDS];
    slot_t *all; /* one allocation for every shard: a large calloc is fresh
                    zero pages from mmap, resident only once a key lands */
    size_t mask; /* per-shard slots - 1 */
    unsigned char hkey[crypto_shorthash_KEYBYTES];
};

ratelimit_t *ratelimit_new(size_t capacity)
{
    ratelimit_t *rl = xcalloc(1, sizeof *rl);
    size_t per = 16;
    while (per * NSHARDS < capacity) per <<= 1;
    rl->mask = per - 1;
    randombytes_buf(rl->hkey, sizeof rl->hkey);
    rl->all = xcalloc(per * NSHARDS, sizeof(slot_t));
    for (int i = 0; i < NSHARDS; i++) {
        pthread_mutex_init(&rl->shards[i].mu, NULL);
        rl->shards[i].slots = rl->all + (size_t)i * per;
    }
    return rl;
}

void ratelimit_free(ratelimit_t *rl)
{
    if (!rl) return;
    for (int i = 0; i < NSHARDS; i++) pthread_mutex_destroy(&rl->shards[i].mu);
    free(rl->all);
    free(rl);
}

void ratelimit_take(ratelimit_t *rl, const char *key, size_t keylen, const rl_rule_t *r, int64_t now_ms,
                    int64_t cost, rl_result_t *out)
{
    unsigned char h8[crypto_shorthash_BYTES];
    crypto_shorthash(h8, (const unsigned char *)key, keylen, rl->hkey);
    uint64_t h;
    memcpy(&h, h8, sizeof h);
    if (h == 0) h = 1;
    shard_t *sh = &rl->shards[h % NSHARDS];
    size_t start = (size_t)(h >> 8) & rl->mask;
    pthread_mutex_lock(&sh->mu);
    slot_t *hit = NULL, *stalest = NULL;
    for (size_t i = 0; i < PROBE && i <= rl->mask; i++) {
        slot_t *s = &sh->slots[(start + i) & rl->mask];
        if (s->key == h) {
            hit = s;
            break;
        }
        if (s->key == 0) { /* slots are never emptied, so the key is not further on */
            stalest = s;
            break;
        }
        if (!stalest || s->b.t_ms < stalest->b.t_ms) stalest = s;
    }
    if (!hit) {
        hit = stalest;
        hit->key = h;
        rl_bucket_init(&hit->b, r, now_ms);
    }
    rl_bucket_take(&hit->b, r, now_ms, cost, out);
    pthread_mutex_unlock(&sh->mu);
}

void rl_format_headers(const char *name, const rl_rule_t *r, const rl_result_t *res, char *policy,
                       size_t policy_len, char *state, size_t state_len)
{
    snprintf(policy, policy_len, "\"%s\";q=%lld;w=%lld", name, (long long)r->limit,
             (long long)ceil_div(r->window_ms, 1000));
    snprintf(state, state_len, "\"%s\";r=%lld;t=%lld", name, (long long)res->remaining,
             (long long)res->reset_s);
}
