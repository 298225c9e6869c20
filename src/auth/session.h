/*
 * session.h — sessions (refresh-token families) and token pairs; see
 * session.c for the rotation and reuse-detection rules.
 */
#ifndef MERCATO_AUTH_SESSION_H
#define MERCATO_AUTH_SESSION_H

#include <jansson.h>
#include <stdint.h>

#include "db/db.h"
#include "util/id.h"

#define SESSION_OK 0
#define SESSION_INVALID 1 /* unknown, expired or revoked: 401 */
#define SESSION_REUSED 2  /* already used: the session was revoked; 401 */

typedef struct session_pair {
    char sid[ID_MAX];
    char user_id[ID_MAX];
    char jti[ID_MAX];
    char *access;           /* malloc'd JWT */
    int64_t access_exp;     /* epoch s */
    char refresh[64];       /* opaque, shown once */
    int64_t refresh_exp_ms;
} session_pair_t;

/* Creates a session and its first pair (in the caller's transaction).
 * 0 or a DB_* error; free the pair with session_pair_clear. */
int session_create(db_conn_t *c, const char *user_id, const char *role, const char *user_agent, const char *ip,
                   session_pair_t *out);

/* Rotates refresh_token (in the caller's transaction, which must commit
 * for every result, so a reuse revocation sticks).  SESSION_OK fills out;
 * SESSION_INVALID / SESSION_REUSED, or a DB_* error.  Denied keys are
 * appended to noted. */
int session_refresh(db_conn_t *c, const char *refresh_token, session_pair_t *out, json_t *noted);

/* Wipes and frees what the pair owns. */
void session_pair_clear(session_pair_t *p);

/* {access_token, token_type, expires_in, refresh_token, refresh_expires_in, session_id}; new reference. */
json_t *session_pair_json(const session_pair_t *p);

#endif
