/*
 * session.c — sessions (refresh-token families) and revocation: creating a
 * session with its first token pair, rotating on refresh with reuse
 * detection, revoking one, the others or all, and the shared user JSON.
 *
 * Rotation (OAuth 2.0 Security BCP §4.14): a refresh token is single-use.
 * Using it marks it used (a conditional UPDATE, so two concurrent uses
 * cannot both win) and issues a new pair in the same session.  Presenting a
 * token that is already used means it was copied: the whole session is
 * revoked and every access token issued in it is denied.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "auth/denylist.h"
#include "auth/session.h"
#include "util/log.h"
#include "util/timeutil.h"

DB_SQL(q_session_insert, "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, last_used_at, expires_at) "
                         "VALUES ($1, $2, $3, $4, $5, $5, $6)");
DB_SQL(q_rt_insert, "INSERT INTO refresh_tokens (token_hash, session_id, access_jti, access_exp, created_at, expires_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6)");
DB_SQL(q_rt_lookup, "SELECT r.session_id, r.used_at, r.expires_at, s.user_id, s.revoked_at, s.expires_at, u.role, u.status "
                    "FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id "
                    "WHERE r.token_hash = $1");
DB_SQL(q_rt_use, "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL");
DB_SQL(q_session_touch, "UPDATE sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1");

/* live access tokens of the sessions concerned, per mode */
DB_SQL(q_live_all, "SELECT r.access_jti, r.access_exp FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id "
                   "WHERE s.user_id = $1 AND s.revoked_at IS NULL AND r.access_exp > $2");
DB_SQL(q_live_one, "SELECT r.access_jti, r.access_exp FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id "
                   "WHERE s.user_id = $1 AND s.revoked_at IS NULL AND r.access_exp > $2 AND s.id = $3");
DB_SQL(q_live_others, "SELECT r.access_jti, r.access_exp FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id "
                      "WHERE s.user_id = $1 AND s.revoked_at IS NULL AND r.access_exp > $2 AND s.id <> $3");
DB_SQL(q_revoke_all, "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL");
DB_SQL(q_revoke_one, "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 "
                     "WHERE user_id = $1 AND revoked_at IS NULL AND id = $4");
DB_SQL(q_revoke_others, "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 "
                        "WHERE user_id = $1 AND revoked_at IS NULL AND id <> $4");

void auth_note_denied(json_t *noted)
{
    size_t i;
    json_t *e;
    json_array_foreach(noted, i, e) {
        denylist_note(json_string_value(json_array_get(e, 0)), json_integer_value(json_array_get(e, 1)),
                      json_integer_value(json_array_get(e, 2)));
    }
}

int auth_deny(db_conn_t *c, const char *key, int64_t expires_ms, json_t *noted)
{
    int64_t now = time_now_ms();
    int rc = denylist_insert(c, key, now, expires_ms);
    if (rc < 0) return rc;
    if (noted) json_array_append_new(noted, json_pack("[s, I, I]", key, (json_int_t)now, (json_int_t)expires_ms));
    return 0;
}

int auth_revoke_sessions(db_conn_t *c, const char *user_id, revoke_mode_t mode, const char *sid, const char *reason,
                         json_t *noted)
{
    int64_t now = time_now_ms();
    const db_sql_t *live = mode == REVOKE_ONE ? &q_live_one : mode == REVOKE_OTHERS ? &q_live_others : &q_live_all;
    int rc;
    db_stmt_t *st = (mode == REVOKE_ONE || mode == REVOKE_OTHERS)
                        ? db_query(c, live, &rc, "sLs", user_id, (long long)now, sid)
                        : db_query(c, live, &rc, "sL", user_id, (long long)now);
    if (!st) return rc;
    /* collect first: a statement must be reset before others run on SQLite */
    json_t *deny = json_array();
    for (; rc == DB_ROW; rc = db_step(st))
        json_array_append_new(deny, json_pack("[s, I]", db_col_text(st, 0), (json_int_t)db_col_int(st, 1)));
    db_reset(st);
    if (rc < 0) {
        json_decref(deny);
        return rc;
    }
    size_t i;
    json_t *e;
    json_array_foreach(deny, i, e) {
        rc = auth_deny(c, json_string_value(json_array_get(e, 0)), json_integer_value(json_array_get(e, 1)), noted);
        if (rc < 0) break;
    }
    json_decref(deny);
    if (rc < 0) return rc;
    if (mode == REVOKE_DENY_ONLY) return 0;
    int64_t n;
    if (mode == REVOKE_ALL) n = db_exec(c, &q_revoke_all, "sLs", user_id, (long long)now, reason);
    else n = db_exec(c, mode == REVOKE_ONE ? &q_revoke_one : &q_revoke_others, "sLss", user_id, (long long)now,
                     reason, sid);
    return n < 0 ? (int)n : (int)n;
}

/* Makes an opaque refresh token and its hash. */
static void new_refresh(char tok[64], char hash[65])
{
    char sec[48];
    id_secret(sec, 32);
    snprintf(tok, 64, "rt_%s", sec);
    sodium_memzero(sec, sizeof sec);
    auth_sha256_hex(tok, strlen(tok), hash);
}

static void clean_agent(const char *in, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; in && in[i] && j + 1 < cap; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[j] = '\0';
}

int session_create(db_conn_t *c, const char *user_id, const char *role, const char *user_agent, const char *ip,
                   session_pair_t *out)
{
    int64_t now = time_now_ms();
    memset(out, 0, sizeof *out);
    id_new(out->sid, "ses");
    char ua[257];
    clean_agent(user_agent, ua, sizeof ua);
    int64_t exp_ms = now + g_auth.cfg->refresh_ttl * 1000;
    int64_t rc = db_exec(c, &q_session_insert, "ssssLL", out->sid, user_id, ua[0] ? ua : NULL, ip, (long long)now,
                         (long long)exp_ms);
    if (rc < 0) return (int)rc;
    out->access = auth_issue_user_token(user_id, role, out->sid, out->jti, &out->access_exp);
    if (!out->access) return DB_ERR;
    char hash[65];
    new_refresh(out->refresh, hash);
    out->refresh_exp_ms = exp_ms;
    rc = db_exec(c, &q_rt_insert, "sssLLL", hash, out->sid, out->jti, (long long)(out->access_exp * 1000),
                 (long long)now, (long long)exp_ms);
    return rc < 0 ? (int)rc : 0;
}

int session_refresh(db_conn_t *c, const char *refresh_token, session_pair_t *out, json_t *noted)
{
    int64_t now = time_now_ms();
    memset(out, 0, sizeof *out);
    char hash[65];
    auth_sha256_hex(refresh_token, strlen(refresh_token), hash);
    int rc;
    db_stmt_t *st = db_query(c, &q_rt_lookup, &rc, "s", hash);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return SESSION_INVALID;
    }
    char sid[ID_MAX], uid[ID_MAX], role[16], status[16];
    snprintf(sid, sizeof sid, "%s", db_col_text(st, 0));
    int used = !db_col_is_null(st, 1);
    int64_t rt_exp = db_col_int(st, 2);
    snprintf(uid, sizeof uid, "%s", db_col_text(st, 3));
    int revoked = !db_col_is_null(st, 4);
    int64_t s_exp = db_col_int(st, 5);
    snprintf(role, sizeof role, "%s", db_col_text(st, 6));
    snprintf(status, sizeof status, "%s", db_col_text(st, 7));
    db_reset(st);
    if (revoked) return SESSION_INVALID;
    if (used) {
        int r = auth_revoke_sessions(c, uid, REVOKE_ONE, sid, "refresh_token_reuse", noted);
        if (r < 0) return r;
        log_warn("auth", "refresh token reuse: session %s of %s revoked", sid, uid);
        return SESSION_REUSED;
    }
    if (rt_exp <= now || s_exp <= now || strcmp(status, "active") != 0) return SESSION_INVALID;
    int64_t n = db_exec(c, &q_rt_use, "sL", hash, (long long)now);
    if (n < 0) return (int)n;
    if (n == 0) { /* a concurrent use won the race: that is reuse too */
        int r = auth_revoke_sessions(c, uid, REVOKE_ONE, sid, "refresh_token_reuse", noted);
        return r < 0 ? r : SESSION_REUSED;
    }
    snprintf(out->sid, sizeof out->sid, "%s", sid);
    snprintf(out->user_id, sizeof out->user_id, "%s", uid);
    out->access = auth_issue_user_token(uid, role, sid, out->jti, &out->access_exp);
    if (!out->access) return DB_ERR;
    char nhash[65];
    new_refresh(out->refresh, nhash);
    int64_t exp_ms = now + g_auth.cfg->refresh_ttl * 1000;
    out->refresh_exp_ms = exp_ms;
    n = db_exec(c, &q_rt_insert, "sssLLL", nhash, sid, out->jti, (long long)(out->access_exp * 1000), (long long)now,
                (long long)exp_ms);
    if (n < 0) return (int)n;
    n = db_exec(c, &q_session_touch, "sLL", sid, (long long)now, (long long)exp_ms);
    return n < 0 ? (int)n : SESSION_OK;
}

void session_pair_clear(session_pair_t *p)
{
    if (p->access) {
        sodium_memzero(p->access, strlen(p->access));
        free(p->access);
    }
    sodium_memzero(p, sizeof *p);
}

json_t *session_pair_json(const session_pair_t *p)
{
    int64_t now_s = time_now_ms() / 1000;
    return json_pack("{s:s, s:s, s:I, s:s, s:I, s:s}", "access_token", p->access, "token_type", "Bearer", "expires_in",
                     (json_int_t)(p->access_exp - now_s), "refresh_token", p->refresh, "refresh_expires_in",
                     (json_int_t)((p->refresh_exp_ms / 1000) - now_s), "session_id", p->sid);
}

json_t *auth_time_json(db_stmt_t *st, int col)
{
    if (db_col_is_null(st, col)) return json_null();
    char buf[32];
    return json_string(time_fmt_rfc3339(buf, db_col_int(st, col)));
}

json_t *auth_user_json(db_stmt_t *st, int col)
{
    json_t *u = json_object();
    json_object_set_new(u, "id", json_string(db_col_text(st, col)));
    json_object_set_new(u, "email", json_string(db_col_text(st, col + 1)));
    json_t *name = json_string(db_col_text(st, col + 2));
    json_object_set_new(u, "name", name ? name : json_string(""));
    json_object_set_new(u, "role", json_string(db_col_text(st, col + 3)));
    json_object_set_new(u, "email_verified", json_boolean(!db_col_is_null(st, col + 4)));
    json_object_set_new(u, "seller_status",
                        db_col_is_null(st, col + 5) ? json_null() : json_string(db_col_text(st, col + 5)));
    json_object_set_new(u, "status", json_string(db_col_text(st, col + 6)));
    json_object_set_new(u, "created_at", auth_time_json(st, col + 7));
    json_object_set_new(u, "updated_at", auth_time_json(st, col + 8));
    return u;
}

DB_SQL(q_user_get, "SELECT " AUTH_USER_COLS " FROM users WHERE id = $1");

json_t *auth_user_read(http_req_t *req, db_t *db, const char *uid)
{
    db_conn_t *c = db_acquire(db);
    if (!c) {
        auth_respond_db_error(req, "user read", DB_ENOCONN);
        return NULL;
    }
    int rc;
    db_stmt_t *st = db_query(c, &q_user_get, &rc, "s", uid);
    if (!st) {
        db_release(c);
        auth_respond_db_error(req, "user read", rc);
        return NULL;
    }
    json_t *u = rc == DB_ROW ? auth_user_json(st, 0) : NULL;
    db_reset(st);
    db_release(c);
    if (!u) http_respond_problem(req, 404, "not-found", "Not Found", "No such user.");
    return u;
}
