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

#endif
