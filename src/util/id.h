/*
 * id.h — opaque, time-ordered resource ids with a type prefix, and secrets.
 *
 * An id is "<prefix>_" followed by 26 Crockford base32 characters (lowercase):
 * 48 bits of milliseconds since the epoch then 80 random bits, as in ULID.
 * Ids sort by creation time; nothing about them is sequential or guessable.
 */
#ifndef MERCATO_UTIL_ID_H
#define MERCATO_UTIL_ID_H

#include <stdbool.h>
#include <stddef.h>

#define ID_MAX 48 /* enough for any prefix we use plus the 26-char body and NUL */

/* Writes "<prefix>_<26 chars>" into out (ID_MAX bytes); returns out. */
char *id_new(char out[ID_MAX], const char *prefix);

/* True when s looks like an id with this prefix (shape only, not existence). */
bool id_valid(const char *s, size_t len, const char *prefix);

/* Fills out[0..n) with random bytes for identifiers (ids, trace and span
 * ids).  Served from a small per-thread pool refilled from the OS CSPRNG,
 * so the request path makes one getrandom(2) call per few requests instead
 * of three per request.  Not for keys or secrets: use id_secret or
 * randombytes_buf, which never pool. */
void id_random(void *out, size_t n);

/* Fills out with a URL-safe random secret of nbytes of entropy, base64url
 * without padding, NUL-terminated; out must hold 4*nbytes/3+2 bytes. */
void id_secret(char *out, size_t nbytes);

#endif
