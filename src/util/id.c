/*
 * id.c — ULID-style ids and random secrets (see id.h).  Randomness comes
 * from libsodium's randombytes (getrandom-backed).  Identifiers draw from a
 * per-thread pool (id_random) because libsodium's default implementation
 * makes one system call per call, and every request needs a request id, a
 * trace id and a span id; secrets never come from the pool.
 */
#include "util/id.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "util/timeutil.h"

static const char crock[] = "0123456789abcdefghjkmnpqrstvwxyz";

#define POOL_BYTES 512

static __thread struct {
    unsigned char bytes[POOL_BYTES];
    size_t used; /* bytes[0..used) are spent (and zeroed) */
    int filled;
} t_pool;

void id_random(void *out, size_t n)
{
    if (n > POOL_BYTES / 4) {
        randombytes_buf(out, n);
        return;
    }
    if (!t_pool.filled || POOL_BYTES - t_pool.used < n) {
        randombytes_buf(t_pool.bytes, POOL_BYTES);
        t_pool.used = 0;
        t_pool.filled = 1;
    }
    memcpy(out, t_pool.bytes + t_pool.used, n);
    /* spent bytes do not linger in memory */
    sodium_memzero(t_pool.bytes + t_pool.used, n);
    t_pool.used += n;
}

char *id_new(char out[ID_MAX], const char *prefix)
{
    size_t pl = strlen(prefix);
    if (pl > ID_MAX - 28) pl = ID_MAX - 28;
    memcpy(out, prefix, pl);
    out[pl] = '_';
    char *p = out + pl + 1;
    uint64_t ms = (uint64_t)time_now_ms();
    unsigned char rnd[10];
    id_random(rnd, sizeof rnd);
    /* 48-bit time -> 10 chars (50 bits, top 2 zero) */
    for (int i = 9; i >= 0; i--) {
        p[i] = crock[ms & 31];
        ms >>= 5;
    }
    /* 80 random bits -> 16 chars */
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 5; i++) hi = (hi << 8) | rnd[i];
    for (int i = 5; i < 10; i++) lo = (lo << 8) | rnd[i];
    for (int i = 7; i >= 0; i--) {
        p[10 + i] = crock[hi & 31];
        hi >>= 5;
        p[18 + i] = crock[lo & 31];
        lo >>= 5;
    }
    p[26] = '\0';
    return out;
}

bool id_valid(const char *s, size_t len, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (len != pl + 27 || memcmp(s, prefix, pl) != 0 || s[pl] != '_') return false;
    for (size_t i = pl + 1; i < len; i++)
        if (!memchr(crock, s[i], 32)) return false;
    return true;
}

void id_secret(char *out, size_t nbytes)
{
    unsigned char raw[128];
    if (nbytes > sizeof raw) nbytes = sizeof raw;
    randombytes_buf(raw, nbytes);
    sodium_bin2base64(out, sodium_base64_ENCODED_LEN(nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                      raw, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}
