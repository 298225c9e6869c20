/*
 * keys.h — the HMAC keys that sign access tokens, with key ids for rotation.
 *
 * DESIGN
 * Keys come from configuration (MERCATO_JWT_SECRET + MERCATO_JWT_KID, for
 * several instances that must share a key) or from a key file in the data
 * directory, generated on first start (48 random bytes, mode 0600).  The
 * file holds one "kid secret" pair per line (secret base64url); the first
 * line signs new tokens and every line verifies, so a rotation is: put a
 * new line first (`mercato auth rotate-key`), restart, and drop the old line
 * after the longest token lifetime.
 *
 * Each key keeps precomputed HMAC-SHA256 states (the inner and outer pads
 * already absorbed, OpenSSL's SHA-256; computed on the first MAC, so an idle
 * server never loads OpenSSL) and the exact base64url header segment that
 * tokens signed with it carry, so verification never parses a header: a token
 * whose header bytes are not exactly one of ours (other alg, "none", other
 * kid, extra members) is rejected by one memcmp.
 *
 * Derived keys (code pepper) come from the signing key through a keyed hash
 * with a purpose label, so one secret feeds several independent uses.
 */
#ifndef MERCATO_AUTH_KEYS_H
#define MERCATO_AUTH_KEYS_H

#include <sodium.h>
#include <stddef.h>

/* The low-level SHA-256 context is deprecated in OpenSSL 3 but is the one
 * API whose state is a plain struct: copying it is a memcpy, and it runs
 * the SHA-NI / AVX2 code paths.  The EVP equivalent costs an allocation or
 * a context copy of several hundred nanoseconds per request. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#define KEYRING_MAX 8
#define KEY_KID_MAX 32
#define KEY_SECRET_MAX 128

typedef struct auth_key {
    char kid[KEY_KID_MAX];
    unsigned char secret[KEY_SECRET_MAX];
    size_t secret_len;
    char header_b64[128];  /* first segment of tokens signed with this key */
    size_t header_len;
    SHA256_CTX hmac_inner; /* SHA-256 state after key ^ ipad */
    SHA256_CTX hmac_outer; /* SHA-256 state after key ^ opad */
    int hmac_ready;        /* atomic: the two states are filled in (first key_hmac) */
} auth_key_t;

typedef struct keyring {
    auth_key_t keys[KEYRING_MAX]; /* keys[0] signs */
    int n;
} keyring_t;

/* Loads keys: from secret/kid when secret is non-empty (>= 32 bytes),
 * otherwise from path, creating the file with a fresh key when missing.
 * 0 ok; -1 with a message in err (no secret material in it). */
int keyring_load(keyring_t *kr, const char *secret, const char *kid, const char *path, char *err,
                 size_t errlen);

/* Adds a new first line (fresh key) to the key file at path, keeping the
 * others.  Writes the new kid into kid_out (KEY_KID_MAX).  0 ok, -1 + err. */
int keyring_rotate_file(const char *path, char *kid_out, char *err, size_t errlen);

/* Derives 32 bytes for `purpose` from the signing key into out. */
void keyring_derive(const keyring_t *kr, const char *purpose, unsigned char out[32]);

/* HMAC-SHA256 of msg under k from the precomputed states. */
void key_hmac(const auth_key_t *k, const void *msg, size_t len, unsigned char out[32]);

/* Wipes the key material. */
void keyring_clear(keyring_t *kr);

#endif
