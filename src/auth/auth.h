/*
 * auth.h — the identity module: accounts, sessions, tokens, machine
 * clients, the access hook and rate limits.
 *
 * DESIGN
 * The module keeps one process-wide state (keys, rate-limit tables, the
 * deny-list mirror), set up by auth_start() before the server listens and
 * torn down by auth_stop().  Every routed request passes auth_pre_hook():
 * it authenticates the caller (Bearer JWT, or the operator's admin token),
 * applies the per-IP / per-user / per-client token bucket with RateLimit
 * headers, and enforces the route's AUTH_* bits (401 / 403).  Handlers then
 * read the caller with auth_principal() and check object ownership with
 * auth_owns() — answering 404, not 403, for someone else's object so ids
 * cannot be probed.
 *
 * Email codes are mailed by an "auth.code" job that creates the code itself
 * (so no code is ever stored in clear, not even in the jobs table); expired
 * codes, sessions, refresh tokens and deny-list rows are purged by the
 * "auth.cleanup" schedule.  Both are registered by auth_jobs().
 */
#ifndef MERCATO_AUTH_AUTH_H
#define MERCATO_AUTH_AUTH_H

#include <stdbool.h>

#include "app/app.h"
#include "auth/access.h"
#include "http/http.h"
#include "jobs/runtime.h"

/* Loads or creates the signing keys, sets up password hashing, rate-limit
 * tables and the deny-list (with its sync thread).  app is borrowed for the
 * process lifetime.  0 ok; -1 after logging why. */
int auth_start(app_t *app);
void auth_stop(void);

/* The http_pre_hook_fn to install with http_server_set_pre_hook(). */
int auth_pre_hook(http_req_t *req, int route_flags);

/* Mounts the identity routes. */
void auth_routes(router_t *r);

/* Registers the "auth.code" queue and the "auth.cleanup" schedule (every
 * 10 minutes).  Call from app_jobs(). */
void auth_jobs(jobs_t *rt, app_t *app);

/* The caller, or NULL when anonymous (borrowed until the request ends). */
const principal_t *auth_principal(const http_req_t *req);

/* True when p may act on an object owned by owner_id: p is that owner, an
 * admin user, or the operator.  Answer 404 when false. */
bool auth_owns(const principal_t *p, const char *owner_id);

/* True when a machine client's token carries `scope` (space-separated list). */
bool auth_has_scope(const principal_t *p, const char *scope);

/* The client address used for rate limits: the socket peer, or with
 * --trusted-proxies the nearest untrusted X-Forwarded-For hop.  Borrowed. */
const char *auth_client_ip(http_req_t *req);

/* CLI: `mercato user create ...` and `mercato auth rotate-key`.  Returns a
 * process exit code. */
int auth_cli_user(config_t *cfg, int nrest, char **rest);
int auth_cli_auth(config_t *cfg, int nrest, char **rest);

#endif
