/*
 * auth_int.h — state and helpers shared by the identity module's files
 * (not for other modules: they use auth.h).
 */
#ifndef MERCATO_AUTH_AUTH_INT_H
#define MERCATO_AUTH_AUTH_INT_H

#include <jansson.h>
#include <stdint.h>

#include "app/app.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/ratelimit.h"
#include "http/http.h"
#include "util/id.h"

#define AUTH_MAX_TIERS 16
#define AUTH_MAX_PROXIES 16

typedef struct auth_tier {
    char name[32];
    int64_t per_min;
} auth_tier_t;

typedef struct auth_state {
    app_t *app;
    const config_t *cfg;
    db_t *db;
    keyring_t keys;
    unsigned char code_pepper[32];     /* keys code hashes (derived from the signing key) */
    unsigned char admin_token_hash[32];
    int admin_token_set;
    ratelimit_t *rl_req;               /* per-request buckets (hook) */
    ratelimit_t *rl_auth;              /* brute-force buckets (handlers) */
    rl_rule_t rule_anon, rule_user;
    rl_rule_t rule_login_pair, rule_login_account, rule_auth_ip, rule_code_account, rule_mail_account;
    auth_tier_t tiers[AUTH_MAX_TIERS];
    int ntiers;
    char proxies[AUTH_MAX_PROXIES][48];
    int nproxies;
    int started;
} auth_state_t;

extern auth_state_t g_auth;

/* Loads keys and settings into g_auth without starting threads or tables
 * (job-only processes need keys for code hashes).  0 ok, -1 logged. */
int auth_prepare(app_t *app);

/* ---- responses ---- */
/* 422 validation problem with errors[] (stolen). */
void auth_respond_invalid(http_req_t *req, json_t *errors);
/* 429 with Retry-After and RateLimit headers for the named policy. */
void auth_respond_limited(http_req_t *req, const char *policy, const rl_rule_t *r, const rl_result_t *res);
/* 503 when no password-hashing slot was free. */
void auth_respond_busy(http_req_t *req);
/* 500 after a database error (logged with context). */
void auth_respond_db_error(http_req_t *req, const char *what, int rc);

/* ---- request bodies ---- */
typedef struct form {
    json_t *body;   /* borrowed */
    json_t *errors; /* owned until handed to auth_respond_invalid */
} form_t;

/* Adds {field, message} to f->errors. */
void form_error(form_t *f, const char *field, const char *message);
/* A string member: NULL when absent (error when required) or not a string
 * (error); strings over max_bytes are an error too. */
const char *form_str(form_t *f, const char *name, int required, size_t max_bytes);
/* Flags members not in allowed (NULL-terminated) as errors. */
void form_only(form_t *f, const char *const *allowed);
/* Parses the JSON body into f (responds itself on failure: -1). */
int form_begin(http_req_t *req, form_t *f);
/* When f has errors: responds 422, frees them and returns 1. */
int form_failed(http_req_t *req, form_t *f);

/* ---- brute-force limits ---- */
typedef struct bf_key {
    const char *policy;     /* header name of the policy, e.g. "login" */
    const rl_rule_t *rule;
    char key[320];
} bf_key_t;
/* Answers 429 and returns 1 when any bucket is empty (nothing is taken). */
int auth_bf_check(http_req_t *req, bf_key_t *keys, int n);
/* Takes one token from every bucket (a failure, or a costly action). */
void auth_bf_take(bf_key_t *keys, int n);
/* Fills k (key = prefix + ':' + value). */
void bf_set(bf_key_t *k, const char *policy, const rl_rule_t *rule, const char *prefix, const char *value);

/* ---- tokens ---- */
/* SHA-256 of s as 64 lowercase hex chars + NUL. */
void auth_sha256_hex(const char *s, size_t n, char out[65]);
/* Keyed hash of a one-time code for user/purpose (hex, 65 bytes). */
void auth_code_hash(const char *user_id, const char *purpose, const char *code, char out[65]);
/* Issues a user access token; jti_out gets its id, *exp_s its expiry.
 * Returns malloc'd JWT or NULL. */
char *auth_issue_user_token(const char *user_id, const char *role, const char *sid, char jti_out[ID_MAX],
                            int64_t *exp_s);
/* Rate tier lookup: requests per minute, or -1 when the tier is unknown. */
int64_t auth_tier_rate(const char *tier);

/* ---- shared SQL helpers ---- */
/* The public JSON of a user row read by the standard column list
 * AUTH_USER_COLS (id, email, name, role, email_verified_at, seller_status,
 * status, created_at, updated_at) starting at column `col`. */
#define AUTH_USER_COLS "id, email, name, role, email_verified_at, seller_status, status, created_at, updated_at"
#include "db/db.h"
json_t *auth_user_json(db_stmt_t *st, int col);
/* The user `uid` rendered by auth_user_json, or NULL after answering the
 * request (404 when there is no such user, 503/500 on a database error). */
json_t *auth_user_read(http_req_t *req, db_t *db, const char *uid);
/* RFC 3339 string for epoch ms (json null for SQL NULL at that column). */
json_t *auth_time_json(db_stmt_t *st, int col);

/* What auth_revoke_sessions() acts on. */
typedef enum {
    REVOKE_ALL,      /* every live session of the user */
    REVOKE_ONE,      /* only session sid */
    REVOKE_OTHERS,   /* every live session but sid */
    REVOKE_DENY_ONLY /* keep sessions, deny their live access tokens (role change) */
} revoke_mode_t;

/* Revokes sessions of user_id and denies the live access tokens issued with
 * them, inside the caller's transaction.  The denied keys are appended to
 * `noted` (array) for auth_note_denied() after commit.  Returns the number
 * of sessions revoked (>= 0) or a DB_* error. */
int auth_revoke_sessions(db_conn_t *c, const char *user_id, revoke_mode_t mode, const char *sid,
                         const char *reason, json_t *noted);
/* Denies one key (jti or subject) until expires_ms, in the caller's
 * transaction; appended to noted.  0 or a DB_* error. */
int auth_deny(db_conn_t *c, const char *key, int64_t expires_ms, json_t *noted);
/* Applies the keys collected by auth_revoke_sessions to this instance. */
void auth_note_denied(json_t *noted);

/* Enqueues an "auth.code" job for user/purpose (deduplicated while queued). */
int64_t auth_enqueue_code(db_conn_t *c, const char *user_id, const char *purpose);

/* Route tables of the handler files. */
void auth_account_routes(router_t *r);
void auth_admin_routes(router_t *r);
void auth_oauth_routes(router_t *r);

#endif
