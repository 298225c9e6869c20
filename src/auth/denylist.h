/*
 * denylist.h — revoked access tokens, checked on every request without a
 * database round trip, and consistent across instances within a bound.
 *
 * DESIGN
 * Access tokens are stateless; revocation adds a row to denied_tokens:
 *   key = a token id (jti)   -> that one token is dead until it expires;
 *   key = a subject (cli_)   -> every token of a deleted machine client.
 * User tokens are always revoked one by one: every access token is issued
 * together with a refresh token whose row records its jti, so revoking a
 * session (logout, reuse detection, password reset, disabled account, role
 * change) denies exactly the live access tokens of that session.
 * Rows expire when the longest token they could match would have.
 *
 * Every instance keeps the live rows in an in-memory hash table (SipHash of
 * the key, open addressing, rebuilt on purge) behind a read-write lock, so a
 * check is one or two lookups.  The instance that revokes inserts the row in
 * its transaction and adds it to its own table right after commit; a
 * background thread on every instance re-reads rows created in the last
 * (sync interval + 30 s) every sync interval.  A logout on instance A is
 * therefore enforced by A at once and by B within one sync interval
 * (default 1 s) — provided the revoking transaction commits within 30 s of
 * its created_at and instance clocks agree within that margin.
 */
#ifndef MERCATO_AUTH_DENYLIST_H
#define MERCATO_AUTH_DENYLIST_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

/* Loads live rows and starts the sync thread (sync_ms >= 50).  0 ok, -1
 * when the first load fails (logged). */
int denylist_start(db_t *db, int64_t sync_ms);
/* Stops the thread and frees the table. */
void denylist_stop(void);

/* True when a token with this jti or subject has been revoked.  Lock-free
 * fast path while the list is empty. */
bool denylist_blocks(const char *jti, const char *sub);

/* Inserts a row with the caller's connection (in its transaction).  0 ok or
 * a negative DB_* error.  Call denylist_note() after the commit. */
int denylist_insert(db_conn_t *c, const char *key, int64_t created_ms, int64_t expires_ms);
/* Adds an entry to this instance's table at once (after commit). */
void denylist_note(const char *key, int64_t created_ms, int64_t expires_ms);

/* Deletes expired rows (cleanup job).  Returns rows deleted or an error. */
int64_t denylist_purge(db_conn_t *c, int64_t now_ms);

/* Entries in this instance's table (tests, metrics). */
long denylist_size(void);

#endif
