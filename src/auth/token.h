/*
 * token.h — JWT access tokens: HS256, issued and verified by a pinned path
 * built for the per-request budget.
 *
 * DESIGN
 * Issuing writes the key's header segment (the bytes libjwt writes for
 * {"alg","kid","typ"}: keys.h), the claims with sorted keys and the
 * HMAC-SHA256; the unit tests check that libjwt verifies our tokens and
 * that libjwt-signed ones verify here.  Linking libjwt only to sign would
 * load OpenSSL's providers at start-up (~2 MB resident).  Verifying does
 * not go through libjwt's jwt_decode(): that accepts whatever "alg" the
 * header names (an HS512 token made with the same secret passes), parses
 * the header with jansson and costs ~4.5 µs.  Here the first segment must
 * be byte-for-byte the header one of our keys produces (keys.h), which pins
 * alg and kid at once; the signature is HMAC-SHA256 from a precomputed
 * state, compared in constant time after a strict base64url decode (libsodium
 * rejects non-canonical trailing bits); only then is the payload parsed.
 * Claims: iss must be "mercato", exp is required and must be in the future,
 * nbf (when present) may be at most 5 s ahead (clock skew between instances).
 */
#ifndef MERCATO_AUTH_TOKEN_H
#define MERCATO_AUTH_TOKEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/keys.h"

#define TOKEN_MAX_LEN 4096
#define TOKEN_ISSUER "mercato"

#define TOKEN_ERR_LIST(X)                         \
    X(OK, "valid")                                \
    X(MALFORMED, "malformed token")               \
    X(HEADER, "unknown key or algorithm")         \
    X(SIGNATURE, "bad signature")                 \
    X(CLAIMS, "missing or invalid claims")        \
    X(EXPIRED, "token expired")                   \
    X(NOT_YET, "token not yet valid")

typedef enum {
#define X(name, msg) TOKEN_##name,
    TOKEN_ERR_LIST(X)
#undef X
} token_err_t;

const char *token_err_message(token_err_t e);

typedef enum { TOKEN_KIND_USER = 1, TOKEN_KIND_CLIENT = 2 } token_kind_t;

/* The claims we use, copied out of the payload. */
typedef struct token_claims {
    token_kind_t kind;     /* from "kind": "user" | "client" */
    char sub[48];
    char role[16];         /* users */
    char scope[512];
    char jti[48];
    char sid[48];          /* users: the session (refresh family) */
    char tier[32];         /* clients */
    int64_t rl;            /* clients: requests per minute (0 = default) */
    int64_t iat, nbf, exp; /* epoch seconds */
} token_claims_t;

/* Signs claims (borrowed; "iss" is added) with kr's signing key.  Returns a
 * malloc'd compact JWT (caller frees) or NULL when libjwt fails. */
char *token_issue(const keyring_t *kr, json_t *claims);

/* Verifies tok[0..len) at time now_s.  TOKEN_OK fills *out; any other
 * value means 401.  Thread-safe (kr is read-only). */
token_err_t token_verify(const keyring_t *kr, const char *tok, size_t len, int64_t now_s, token_claims_t *out);

#endif
