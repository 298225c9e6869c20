/*
 * password.c — argon2id hashing behind a semaphore (see password.h).
 */
#include "auth/password.h"

#include <errno.h>
#include <semaphore.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

static struct {
    unsigned long long ops;
    size_t mem;
    sem_t slots;
    int ready;
    char dummy[crypto_pwhash_STRBYTES];
} g;

int password_setup(unsigned long long ops, size_t mem, int slots)
{
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_MAX || mem < crypto_pwhash_MEMLIMIT_MIN ||
        mem > crypto_pwhash_MEMLIMIT_MAX)
        return -1;
    g.ops = ops;
    g.mem = mem;
    if (g.ready) sem_destroy(&g.slots);
    sem_init(&g.slots, 0, (unsigned)(slots < 1 ? 1 : slots));
    g.ready = 1;
    /* a real hash of a random password: verifying against it costs the same */
    char pw[32];
    randombytes_buf(pw, sizeof pw);
    int rc = crypto_pwhash_str(g.dummy, pw, sizeof pw, g.ops, g.mem);
    sodium_memzero(pw, sizeof pw);
    return rc == 0 ? 0 : -1;
}

static int acquire(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 250 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait(&g.slots, &ts) != 0)
        if (errno != EINTR) return -1;
    return 0;
}

int password_hash(char out[PASSWORD_HASH_MAX], const char *pw, size_t len)
{
    if (acquire() < 0) return -1;
    int rc = crypto_pwhash_str(out, pw, len, g.ops, g.mem);
    sem_post(&g.slots);
    return rc == 0 ? 0 : -1;
}

int password_verify(const char *stored, const char *pw, size_t len, bool *rehash)
{
    *rehash = false;
    if (acquire() < 0) return -1;
    const char *h = stored ? stored : g.dummy;
    int ok = crypto_pwhash_str_verify(h, pw, len) == 0;
    sem_post(&g.slots);
    if (!stored) return 0;
    if (ok) *rehash = crypto_pwhash_str_needs_rehash(stored, g.ops, g.mem) != 0;
    return ok ? 1 : 0;
}
