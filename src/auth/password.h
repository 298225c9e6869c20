/*
 * password.h — argon2id password hashing with bounded concurrency.
 *
 * DESIGN
 * libsodium's crypto_pwhash_str (argon2id, PHC string with its own salt and
 * parameters).  Default parameters are OWASP's argon2id floor: 19 MiB, 2
 * passes, 1 lane — about 17 ms per hash or check on this project's 2-core
 * machine, so a login costs ~20 ms and 64 MiB peaks are avoided.  They are
 * configurable (--pwhash-mem-kib, --pwhash-ops); hashes made with older
 * parameters are re-hashed at the next successful login.
 *
 * Hashing runs on the HTTP event-loop thread (the request needs the answer),
 * so at most `slots` hashes run at once (default: event-loop threads - 1,
 * at least 1), leaving a loop free for everything else; a request that
 * cannot get a slot within 250 ms is answered 503 + Retry-After by the
 * caller.  Login brute force is stopped earlier, by the rate limits.
 *
 * An unknown account is checked against a fixed dummy hash so that "no
 * such email" and "wrong password" take the same time.
 */
#ifndef MERCATO_AUTH_PASSWORD_H
#define MERCATO_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_MAX 128

/* Sets parameters and the concurrency bound; call once at start-up.
 * Returns 0, or -1 when the parameters are outside libsodium's range. */
int password_setup(unsigned long long ops, size_t mem_bytes, int slots);

/* Hashes pw into out (PASSWORD_HASH_MAX bytes).  0 ok; -1 out of memory or
 * no free slot (answer 503); the caller wipes pw. */
int password_hash(char out[PASSWORD_HASH_MAX], const char *pw, size_t len);

/* Checks pw against a stored hash (NULL = dummy, always false) in constant
 * time.  Returns 1 match, 0 no match, -1 no free slot (answer 503).
 * *rehash is set when the stored parameters differ from the current ones. */
int password_verify(const char *stored, const char *pw, size_t len, bool *rehash);

#endif
