/*
 * access.h — what a route requires, stated where the route is mounted.
 *
 * The low byte of a route's flags (see http/server.h) belongs to the access
 * layer: the pre-handler hook installed by the identity module reads these
 * bits, authenticates the caller, enforces the requirement (401/403) and
 * applies rate limits before the handler runs.  Handlers then check object
 * ownership themselves.
 */
#ifndef MERCATO_AUTH_ACCESS_H
#define MERCATO_AUTH_ACCESS_H

#define AUTH_PUBLIC   0x00 /* anyone; a valid token is still attached when sent */
#define AUTH_USER     0x02 /* any signed-in user: customer, seller or admin */
#define AUTH_SELLER   0x04 /* a seller (or an admin) */
#define AUTH_ADMIN    0x08 /* an admin user, or the operator's admin token */
#define AUTH_CLIENT   0x10 /* an OAuth2 machine client (handlers check scopes) */
#define AUTH_JSON     0x40 /* reserved: body is JSON (documentational) */
#define AUTH_MASK     0xff

#include <stdint.h>

#define ROLE_LIST(X)      \
    X(CUSTOMER, "customer") \
    X(SELLER, "seller")     \
    X(ADMIN, "admin")

typedef enum {
    ROLE_NONE = 0,
#define X(name, str) ROLE_##name,
    ROLE_LIST(X)
#undef X
} role_t;

typedef enum {
    PRINCIPAL_USER = 1,   /* a signed-in account (JWT access token) */
    PRINCIPAL_CLIENT,     /* an OAuth2 machine client (client_credentials token) */
    PRINCIPAL_OPERATOR,   /* the static admin token from configuration */
} principal_kind_t;

/* Who is calling.  Set on the request by the access hook (http_principal()
 * returns it, or NULL for an anonymous caller); lives in the request arena. */
typedef struct principal {
    principal_kind_t kind;
    char sub[48];        /* usr_... or cli_... ("operator" for the admin token) */
    role_t role;         /* for users; ROLE_ADMIN for the operator token */
    char scope[512];     /* space-separated scopes (machine clients) */
    char jti[48];        /* token id (for logout / revocation) */
    int64_t exp;         /* token expiry, epoch seconds */
    int64_t rate_limit;  /* requests per minute from the token's claims (clients), 0 = default */
    char sid[48];        /* users: the session (refresh-token family) of this token */
    int64_t iat;         /* token issue time, epoch seconds */
} principal_t;

#endif
