/*
 * account.c — the account endpoints: sign-up, email verification, login,
 * refresh, logout, password reset, /v1/me and the caller's sessions.
 *
 * Every endpoint validates its whole body before touching the database
 * (422 with errors[] and nothing stored), applies its brute-force buckets
 * before doing expensive work (argon2id, mail), and answers the same way
 * whether or not an email is registered where that could leak it (login,
 * code checks, resend, forgot).  Sign-up does answer 409 for a taken email:
 * the usual shop trade-off, limited per IP.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "auth/password.h"
#include "auth/session.h"
#include "auth/validate.h"
#include "http/server.h"
#include "jobs/jobq.h"
#include "util/log.h"
#include "util/timeutil.h"

#define CODE_PURPOSE_VERIFY "verify_email"
#define CODE_PURPOSE_RESET "reset_password"

DB_SQL(q_user_insert, "INSERT INTO users (id, email, password_hash, name, role, seller_status, status, "
                      "email_verified_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $8)");
DB_SQL(q_user_login, "SELECT id, password_hash, role, status, email_verified_at FROM users WHERE email = $1");
DB_SQL(q_user_by_email, "SELECT id, status, email_verified_at FROM users WHERE email = $1");
DB_SQL(q_user_pw, "SELECT password_hash, email FROM users WHERE id = $1");
DB_SQL(q_user_set_pw, "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1");
DB_SQL(q_user_set_pw_verify, "UPDATE users SET password_hash = $2, email_verified_at = COALESCE(email_verified_at, $3), "
                             "updated_at = $3 WHERE id = $1");
DB_SQL(q_user_verify, "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2 WHERE id = $1");
DB_SQL(q_user_set_name, "UPDATE users SET name = $2, updated_at = $3 WHERE id = $1");
DB_SQL(q_code_latest, "SELECT id, code_hash, attempts, expires_at FROM auth_codes "
                      "WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL ORDER BY created_at DESC LIMIT 1");
DB_SQL(q_code_attempt, "UPDATE auth_codes SET attempts = attempts + 1 WHERE id = $1");
DB_SQL(q_code_consume, "UPDATE auth_codes SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL");
DB_SQL(q_sessions_list, "SELECT id, created_at, last_used_at, expires_at, user_agent, ip FROM sessions "
                        "WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY id DESC LIMIT 100");
DB_SQL(q_session_get, "SELECT id, created_at, last_used_at, expires_at, user_agent, ip FROM sessions "
                      "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3");

int64_t auth_enqueue_code(db_conn_t *c, const char *user_id, const char *purpose)
{
    char key[128];
    snprintf(key, sizeof key, "auth.code:%s:%s", purpose, user_id);
    json_t *p = json_pack("{s:s, s:s}", "user_id", user_id, "purpose", purpose);
    jobq_opts_t o = { .priority = 10, .max_attempts = 6, .backoff_ms = 5000, .unique_key = key };
    int64_t id = jobq_enqueue(c, "auth.code", p, &o);
    json_decref(p);
    return id;
}

/* ---- small helpers ---- */

static const char *const k_email[] = { "email", NULL };

/* Reads and normalises "email"; adds an error and returns -1 when bad. */
static int read_email(form_t *f, char out[AUTH_EMAIL_MAX + 1])
{
    const char *e = form_str(f, "email", 1, 1024);
    if (!e) return -1;
    const char *why;
    if (auth_email_normalize(e, out, AUTH_EMAIL_MAX + 1, &why) < 0) {
        form_error(f, "email", why);
        return -1;
    }
    return 0;
}

static int valid_code(const char *s)
{
    if (strlen(s) != 6) return 0;
    for (int i = 0; i < 6; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static void respond_user(http_req_t *req, int status, db_t *db, const char *uid)
{
    json_t *u = auth_user_read(req, db, uid);
    if (u) http_respond_json(req, status, json_pack("{s:o}", "user", u));
}

/* ---- POST /v1/auth/register ---- */

typedef struct reg_tx {
    const char *id, *email, *hash, *name, *role, *seller_status;
} reg_tx_t;

static int reg_fn(db_conn_t *c, void *ctx)
{
    reg_tx_t *t = ctx;
    int64_t now = time_now_ms();
    int64_t rc = db_exec(c, &q_user_insert, "ssssssNL", t->id, t->email, t->hash, t->name, t->role, t->seller_status,
                         (long long)now);
    if (rc < 0) return (int)rc;
    rc = auth_enqueue_code(c, t->id, CODE_PURPOSE_VERIFY);
    return rc < 0 ? (int)rc : 0;
}

static void post_register(http_req_t *req)
{
    form_t f;
    if (form_begin(req, &f) < 0) return;
    static const char *const allowed[] = { "email", "password", "name", "account_type", NULL };
    form_only(&f, allowed);
    char email[AUTH_EMAIL_MAX + 1], name[AUTH_NAME_MAX_BYTES + 1];
    int email_ok = read_email(&f, email) == 0;
    const char *pw = form_str(&f, "password", 1, AUTH_PASSWORD_MAX_BYTES);
    const char *nm = form_str(&f, "name", 1, AUTH_NAME_MAX_BYTES);
    const char *type = form_str(&f, "account_type", 0, 16);
    const char *why;
    if (nm && auth_name_check(nm, name, sizeof name, &why) < 0) form_error(&f, "name", why);
    if (pw && auth_password_check(pw, strlen(pw), email_ok ? email : NULL, &why) < 0) form_error(&f, "password", why);
    if (type && strcmp(type, "customer") && strcmp(type, "seller"))
        form_error(&f, "account_type", "must be \"customer\" or \"seller\"");
    if (form_failed(req, &f)) return;

    bf_key_t bf[1];
    bf_set(&bf[0], "auth-ip", &g_auth.rule_auth_ip, "auth-ip", auth_client_ip(req));
    if (auth_bf_check(req, bf, 1)) return;
    auth_bf_take(bf, 1);

    char hash[PASSWORD_HASH_MAX], id[ID_MAX];
    if (password_hash(hash, pw, strlen(pw)) < 0) return auth_respond_busy(req);
    id_new(id, "usr");
    int seller = type && !strcmp(type, "seller");
    reg_tx_t t = { id, email, hash, name, "customer", seller ? "pending" : NULL };
    int rc = db_tx(g_auth.db, reg_fn, &t);
    sodium_memzero(hash, sizeof hash);
    if (rc == DB_ECONSTRAINT) {
        json_t *errs = json_pack("[{s:s, s:s}]", "field", "email", "message", "is already registered");
        http_respond_problem_errors(req, 409, "email-taken", "Conflict", "An account with this email exists.", errs);
        return;
    }
    if (rc < 0) return auth_respond_db_error(req, "register", rc);
    log_info("auth", "registered %s%s", id, seller ? " (seller pending approval)" : "");
    if (g_auth.app->jobs) jobs_notify(g_auth.app->jobs);
    respond_user(req, 201, g_auth.db, id);
}

/* ---- one-time codes ---- */

enum { CODE_OK, CODE_WRONG };

typedef struct code_tx {
    const char *email, *purpose, *code;
    const char *new_hash; /* reset: the new password hash */
    int result;
    char user_id[ID_MAX];
    json_t *noted;
} code_tx_t;

static int code_fn(db_conn_t *c, void *ctx)
{
    code_tx_t *t = ctx;
    int64_t now = time_now_ms();
    t->result = CODE_WRONG;
    json_array_clear(t->noted);
    int rc;
    db_stmt_t *st = db_query(c, &q_user_by_email, &rc, "s", t->email);
    if (!st) return rc;
    int active = 0;
    if (rc == DB_ROW) {
        snprintf(t->user_id, sizeof t->user_id, "%s", db_col_text(st, 0));
        active = !strcmp(db_col_text(st, 1), "active");
    }
    db_reset(st);
    char want[65];
    auth_code_hash(t->user_id[0] ? t->user_id : "usr_none", t->purpose, t->code, want);
    if (rc != DB_ROW || !active) return 0;
    st = db_query(c, &q_code_latest, &rc, "ss", t->user_id, t->purpose);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return 0;
    }
    char code_id[ID_MAX];
    snprintf(code_id, sizeof code_id, "%s", db_col_text(st, 0));
    int match = db_col_len(st, 1) == 64 && sodium_memcmp(db_col_text(st, 1), want, 64) == 0;
    int64_t attempts = db_col_int(st, 2), expires = db_col_int(st, 3);
    db_reset(st);
    if (expires <= now || attempts >= g_auth.cfg->code_attempts) return 0;
    if (!match) {
        int64_t n = db_exec(c, &q_code_attempt, "s", code_id);
        return n < 0 ? (int)n : 0;
    }
    int64_t n = db_exec(c, &q_code_consume, "sL", code_id, (long long)now);
    if (n < 0) return (int)n;
    if (n == 0) return 0;
    if (!strcmp(t->purpose, CODE_PURPOSE_VERIFY)) {
        n = db_exec(c, &q_user_verify, "sL", t->user_id, (long long)now);
    } else {
        n = db_exec(c, &q_user_set_pw_verify, "ssL", t->user_id, t->new_hash, (long long)now);
        if (n >= 0) n = auth_revoke_sessions(c, t->user_id, REVOKE_ALL, NULL, "password_reset", t->noted);
    }
    if (n < 0) return (int)n;
    t->result = CODE_OK;
    return 0;
}

static void respond_wrong_code(http_req_t *req)
{
    json_t *errs = json_pack("[{s:s, s:s}]", "field", "code", "message", "is wrong, expired or used up");
    http_respond_problem_errors(req, 400, "invalid-code", "Invalid Code",
                                "The code is not valid. Ask for a new one if it expired.", errs);
}

/* POST /v1/auth/verify-email {email, code} */
static void post_verify_email(http_req_t *req)
{
    form_t f;
    if (form_begin(req, &f) < 0) return;
    static const char *const allowed[] = { "email", "code", NULL };
    form_only(&f, allowed);
    char email[AUTH_EMAIL_MAX + 1];
    read_email(&f, email);
    const char *code = form_str(&f, "code", 1, 64);
    if (code && !valid_code(code)) form_error(&f, "code", "must be 6 digits");
    if (form_failed(req, &f)) return;
    bf_key_t bf[2];
    bf_set(&bf[0], "auth-ip", &g_auth.rule_auth_ip, "auth-ip", auth_client_ip(req));
    bf_set(&bf[1], "code", &g_auth.rule_code_account, "code", email);
    if (auth_bf_check(req, bf, 2)) return;
    code_tx_t t = { .email = email, .purpose = CODE_PURPOSE_VERIFY, .code = code, .noted = json_array() };
    int rc = db_tx(g_auth.db, code_fn, &t);
    json_decref(t.noted);
    if (rc < 0) return auth_respond_db_error(req, "verify email", rc);
    if (t.result != CODE_OK) {
        auth_bf_take(bf, 2);
        return respond_wrong_code(req);
    }
    log_info("auth", "email verified for %s", t.user_id);
    respond_user(req, 200, g_auth.db, t.user_id);
}

/* POST /v1/auth/password/reset {email, code, password} */
static void post_password_reset(http_req_t *req)
{
    form_t f;
    if (form_begin(req, &f) < 0) return;
    static const char *const allowed[] = { "email", "code", "password", NULL };
    form_only(&f, allowed);
    char email[AUTH_EMAIL_MAX + 1];
    int email_ok = read_email(&f, email) == 0;
    const char *code = form_str(&f, "code", 1, 64);
    const char *pw = form_str(&f, "password", 1, AUTH_PASSWORD_MAX_BYTES);
    const char *why;
    if (code && !valid_code(code)) form_error(&f, "code", "must be 6 digits");
    if (pw && auth_password_check(pw, strlen(pw), email_ok ? email : NULL, &why) < 0) form_error(&f, "password", why);
    if (form_failed(req, &f)) return;
    bf_key_t bf[2];
    bf_set(&bf[0], "auth-ip", &g_auth.rule_auth_ip, "auth-ip", auth_client_ip(req));
    bf_set(&bf[1], "code", &g_auth.rule_code_account, "code", email);
    if (auth_bf_check(req, bf, 2)) return;
    char hash[PASSWORD_HASH_MAX];
    if (password_hash(hash, pw, strlen(pw)) < 0) return auth_respond_busy(req);
    code_tx_t t = { .email = email, .purpose = CODE_PURPOSE_RESET, .code = code, .new_hash = hash, .noted = json_array() };
    int rc = db_tx(g_auth.db, code_fn, &t);
    sodium_memzero(hash, sizeof hash);
    if (rc < 0) {
        json_decref(t.noted);
        return auth_respond_db_error(req, "password reset", rc);
    }
    if (t.result != CODE_OK) {
        json_decref(t.noted);
        auth_bf_take(bf, 2);
        return respond_wrong_code(req);
    }
    auth_note_denied(t.noted);
    json_decref(t.noted);
    log_info("auth", "password reset for %s; all sessions revoked", t.user_id);
    http_respond_json(req, 200, json_pack("{s:s}", "status", "password_reset"));
}

/* ---- code mails: resend verification, forgot password ---- */

typedef struct mail_tx {
    const char *email, *purpose;
    int queued;
} mail_tx_t;

static int mail_fn(db_conn_t *c, void *ctx)
{
    mail_tx_t *t = ctx;
    t->queued = 0;
    int rc;
    db_stmt_t *st = db_query(c, &q_user_by_email, &rc, "s", t->email);
    if (!st) return rc;
    if (rc != DB_ROW) {
        db_reset(st);
        return 0;
    }
    char uid[ID_MAX];
    snprintf(uid, sizeof uid, "%s", db_col_text(st, 0));
    int active = !strcmp(db_col_text(st, 1), "active");
    int verified = !db_col_is_null(st, 2);
    db_reset(st);
    if (!active || (!strcmp(t->purpose, CODE_PURPOSE_VERIFY) && verified)) return 0;
    int64_t id = auth_enqueue_code(c, uid, t->purpose);
    if (id < 0) return (int)id;
    t->queued = 1;
    return 0;
}

static void request_code(http_req_t *req, const char *purpose)
{
    form_t f;
    if (form_begin(req, &f) < 0) return;
    form_only(&f, k_email);
    char email[AUTH_EMAIL_MAX + 1];
    read_email(&f, email);
    if (form_failed(req, &f)) return;
    bf_key_t bf[2];
    bf_set(&bf[0], "auth-ip", &g_auth.rule_auth_ip, "auth-ip", auth_client_ip(req));
    bf_set(&bf[1], "mail", &g_auth.rule_mail_account, "mail", email);
    if (auth_bf_check(req, bf, 2)) return;
    auth_bf_take(bf, 2);
    mail_tx_t t = { email, purpose, 0 };
    int rc = db_tx(g_auth.db, mail_fn, &t);
    if (rc < 0) return auth_respond_db_error(req, "code request", rc);
    if (t.queued && g_auth.app->jobs) jobs_notify(g_auth.app->jobs);
    /* the same answer whether or not the address has an account */
    http_respond_json(req, 202, json_pack("{s:s}", "status", "accepted"));
}

static void post_verify_resend(http_req_t *req) { request_code(req, CODE_PURPOSE_VERIFY); }
static void post_password_forgot(http_req_t *req) { request_code(req, CODE_PURPOSE_RESET); }

/* ---- POST /v1/auth/login ---- */

typedef struct login_tx {
    const char *user_id, *role, *agent, *ip;
    const char *rehash; /* new hash to store, or NULL */
    session_pair_t pair;
} login_tx_t;

static int login_fn(db_conn_t *c, void *ctx)
{
    login_tx_t *t = ctx;
    session_pair_clear(&t->pair);
    if (t->rehash) {
        int64_t n = db_exec(c, &q_user_set_pw, "ssL", t->user_id, t->rehash, (long long)time_now_ms());
        if (n < 0) return (int)n;
    }
    return session_create(c, t->user_id, t->role, t->agent, t->ip, &t->pair);
}

static void post_login(http_req_t *req)
{
    form_t f;
    if (form_begin(req, &f) < 0) return;
    static const char *const allowed[] = { "email", "password", NULL };
    form_only(&f, allowed);
    char email[AUTH_EMAIL_MAX + 1];
    read_email(&f, email);
    const char *pw = form_str(&f, "password", 1, AUTH_PASSWORD_MAX_BYTES);
    if (form_failed(req, &f)) return;
    const char *ip = auth_client_ip(req);
    bf_key_t bf[3];
    char pair[AUTH_EMAIL_MAX + 64];
    snprintf(pair, sizeof pair, "%s|%s", email, ip);
    bf_set(&bf[0], "login", &g_auth.rule_login_pair, "login-pair", pair);
    bf_set(&bf[1], "login-account", &g_auth.rule_login_account, "login-account", email);
    bf_set(&bf[2], "auth-ip", &g_auth.rule_auth_ip, "auth-ip", ip);
    if (auth_bf_check(req, bf, 3)) return;

    db_conn_t *c = db_acquire(g_auth.db);
    if (!c) return auth_respond_db_error(req, "login", DB_ENOCONN);
    int rc;
    db_stmt_t *st = db_query(c, &q_user_login, &rc, "s", email);
    if (!st) {
        db_release(c);
        return auth_respond_db_error(req, "login", rc);
    }
    char uid[ID_MAX] = "", stored[PASSWORD_HASH_MAX] = "", role[16] = "", status[16] = "";
    int verified = 0, found = rc == DB_ROW;
    if (found) {
        snprintf(uid, sizeof uid, "%s", db_col_text(st, 0));
        snprintf(stored, sizeof stored, "%s", db_col_text(st, 1));
        snprintf(role, sizeof role, "%s", db_col_text(st, 2));
        snprintf(status, sizeof status, "%s", db_col_text(st, 3));
        verified = !db_col_is_null(st, 4);
    }
    db_reset(st);
    db_release(c);
    bool rehash = false;
    int ok = password_verify(found ? stored : NULL, pw, strlen(pw), &rehash);
    sodium_memzero(stored, sizeof stored);
    if (ok < 0) return auth_respond_busy(req);
    if (!ok) {
        auth_bf_take(bf, 3);
        log_info("auth", "login failed%s%s", found ? " for " : " (unknown email)", found ? uid : "");
        http_set_header(req, "WWW-Authenticate", "Bearer realm=\"mercato\"");
        http_respond_problem(req, 401, "invalid-credentials", "Unauthorized", "The email or password is wrong.");
        return;
    }
    if (strcmp(status, "active") != 0) {
        http_respond_problem(req, 403, "account-disabled", "Forbidden", "This account is disabled.");
        return;
    }
    if (!verified) {
        http_respond_problem(req, 403, "email-not-verified", "Forbidden",
                             "Verify your email address first (POST /v1/auth/verify-email).");
        return;
    }
    char newhash[PASSWORD_HASH_MAX];
    login_tx_t t = { .user_id = uid, .role = role, .agent = http_header(req, "User-Agent"), .ip = ip };
    if (rehash && password_hash(newhash, pw, strlen(pw)) == 0) t.rehash = newhash;
    rc = db_tx(g_auth.db, login_fn, &t);
    sodium_memzero(newhash, sizeof newhash);
    if (rc < 0) {
        session_pair_clear(&t.pair);
        return auth_respond_db_error(req, "login", rc);
    }
    log_info("auth", "login %s (session %s)", uid, t.pair.sid);
    json_t *out = session_pair_json(&t.pair);
    session_pair_clear(&t.pair);
    http_set_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, out);
}

/* ---- POST /v1/auth/refresh ---- */

typedef struct refresh_tx {
    const char *token;
    int result;
    session_pair_t pair;
    json_t *noted;
} refresh_tx_t;

static int refresh_fn(db_conn_t *c, void *ctx)
{
    refresh_tx_t *t = ctx;
    session_pair_clear(&t->pair);
    json_array_clear(t->noted);
    int r = session_refresh(c, t->token, &t->pair, t->noted);
    if (r < 0) return r;
    t->result = r;
    return 0; /* commit in every case: a reuse revocation must stick */
}

static void post_refresh(http_req_t *req)
{
    form_t f;
    if (form_begin(req, &f) < 0) return;
    static const char *const allowed[] = { "refresh_token", NULL };
    form_only(&f, allowed);
    const char *tok = form_str(&f, "refresh_token", 1, 256);
    if (form_failed(req, &f)) return;
    bf_key_t bf[1];
    bf_set(&bf[0], "auth-ip", &g_auth.rule_auth_ip, "auth-ip", auth_client_ip(req));
    if (auth_bf_check(req, bf, 1)) return;
    refresh_tx_t t = { .token = tok, .noted = json_array() };
    int rc = db_tx(g_auth.db, refresh_fn, &t);
    if (rc < 0) {
        json_decref(t.noted);
        session_pair_clear(&t.pair);
        return auth_respond_db_error(req, "refresh", rc);
    }
    auth_note_denied(t.noted);
    json_decref(t.noted);
    if (t.result != SESSION_OK) {
        session_pair_clear(&t.pair);
        auth_bf_take(bf, 1);
        if (t.result == SESSION_REUSED)
            http_respond_problem(req, 401, "refresh-token-reused", "Unauthorized",
                                 "This refresh token was already used; the session has been revoked.");
        else
            http_respond_problem(req, 401, "invalid-refresh-token", "Unauthorized",
                                 "The refresh token is unknown, expired or revoked.");
        return;
    }
    json_t *out = session_pair_json(&t.pair);
    session_pair_clear(&t.pair);
    http_set_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, out);
}

/* ---- POST /v1/auth/logout {all?} ---- */

typedef struct logout_tx {
    const principal_t *p;
    int all;
    json_t *noted;
} logout_tx_t;

static int logout_fn(db_conn_t *c, void *ctx)
{
    logout_tx_t *t = ctx;
    json_array_clear(t->noted);
    int rc = auth_deny(c, t->p->jti, t->p->exp * 1000, t->noted);
    if (rc < 0) return rc;
    rc = auth_revoke_sessions(c, t->p->sub, t->all ? REVOKE_ALL : REVOKE_ONE, t->p->sid, "logout", t->noted);
    return rc < 0 ? rc : 0;
}

static void post_logout(http_req_t *req)
{
    const principal_t *p = auth_principal(req);
    int all = 0;
    if (http_body(req).len > 0) {
        form_t f;
        if (form_begin(req, &f) < 0) return;
        static const char *const allowed[] = { "all", NULL };
        form_only(&f, allowed);
        json_t *a = json_object_get(f.body, "all");
        if (a && !json_is_boolean(a)) form_error(&f, "all", "must be a boolean");
        if (form_failed(req, &f)) return;
        all = json_is_true(a);
    }
    logout_tx_t t = { p, all, json_array() };
    int rc = db_tx(g_auth.db, logout_fn, &t);
    if (rc < 0) {
        json_decref(t.noted);
        return auth_respond_db_error(req, "logout", rc);
    }
    auth_note_denied(t.noted);
    json_decref(t.noted);
    log_info("auth", "logout %s (%s)", p->sub, all ? "all sessions" : p->sid);
    http_respond_empty(req, 204);
}

/* ---- /v1/me ---- */

static void get_me(http_req_t *req)
{
    const principal_t *p = auth_principal(req);
    if (p->kind == PRINCIPAL_CLIENT) {
        json_t *scopes = json_array();
        for (const char *s = p->scope; *s;) {
            while (*s == ' ') s++;
            size_t k = strcspn(s, " ");
            if (k) json_array_append_new(scopes, json_stringn(s, k));
            s += k;
        }
        http_respond_json(req, 200, json_pack("{s:{s:s, s:s, s:o, s:I}}", "client", "id", p->sub, "kind", "client",
                                              "scopes", scopes, "rate_limit", (json_int_t)p->rate_limit));
        return;
    }
    respond_user(req, 200, g_auth.db, p->sub);
}

typedef struct me_tx {
    const char *uid, *name, *hash, *sid;
    json_t *noted;
} me_tx_t;

static int me_fn(db_conn_t *c, void *ctx)
{
    me_tx_t *t = ctx;
    int64_t now = time_now_ms();
    json_array_clear(t->noted);
    if (t->name) {
        int64_t n = db_exec(c, &q_user_set_name, "ssL", t->uid, t->name, (long long)now);
        if (n < 0) return (int)n;
    }
    if (t->hash) {
        int64_t n = db_exec(c, &q_user_set_pw, "ssL", t->uid, t->hash, (long long)now);
        if (n < 0) return (int)n;
        int r = auth_revoke_sessions(c, t->uid, REVOKE_OTHERS, t->sid, "password_changed", t->noted);
        if (r < 0) return r;
    }
    return 0;
}

/* PATCH /v1/me {name?, password?, current_password?} */
static void patch_me(http_req_t *req)
{
    const principal_t *p = auth_principal(req);
    form_t f;
    if (form_begin(req, &f) < 0) return;
    static const char *const allowed[] = { "name", "password", "current_password", NULL };
    form_only(&f, allowed);
    if (json_object_get(f.body, "email")) form_error(&f, "email", "cannot be changed yet");
    const char *nm = form_str(&f, "name", 0, AUTH_NAME_MAX_BYTES);
    const char *pw = form_str(&f, "password", 0, AUTH_PASSWORD_MAX_BYTES);
    const char *cur = form_str(&f, "current_password", pw != NULL, AUTH_PASSWORD_MAX_BYTES);
    char name[AUTH_NAME_MAX_BYTES + 1];
    const char *why;
    if (nm && auth_name_check(nm, name, sizeof name, &why) < 0) form_error(&f, "name", why);
    if (f.errors) {
        form_failed(req, &f);
        return;
    }
    char hash[PASSWORD_HASH_MAX] = "";
    if (pw) {
        db_conn_t *c = db_acquire(g_auth.db);
        if (!c) return auth_respond_db_error(req, "me", DB_ENOCONN);
        int rc;
        db_stmt_t *st = db_query(c, &q_user_pw, &rc, "s", p->sub);
        if (!st) {
            db_release(c);
            return auth_respond_db_error(req, "me", rc);
        }
        char stored[PASSWORD_HASH_MAX] = "", email[AUTH_EMAIL_MAX + 1] = "";
        if (rc == DB_ROW) {
            snprintf(stored, sizeof stored, "%s", db_col_text(st, 0));
            snprintf(email, sizeof email, "%s", db_col_text(st, 1));
        }
        db_reset(st);
        db_release(c);
        if (auth_password_check(pw, strlen(pw), email, &why) < 0) {
            form_error(&f, "password", why);
            form_failed(req, &f);
            return;
        }
        bf_key_t bf[1];
        char pair[AUTH_EMAIL_MAX + 64];
        snprintf(pair, sizeof pair, "%s|%s", email, auth_client_ip(req));
        bf_set(&bf[0], "login", &g_auth.rule_login_pair, "login-pair", pair);
        if (auth_bf_check(req, bf, 1)) return;
        bool rh;
        int ok = password_verify(stored[0] ? stored : NULL, cur, strlen(cur), &rh);
        sodium_memzero(stored, sizeof stored);
        if (ok < 0) return auth_respond_busy(req);
        if (!ok) {
            auth_bf_take(bf, 1);
            form_error(&f, "current_password", "is wrong");
            form_failed(req, &f);
            return;
        }
        if (password_hash(hash, pw, strlen(pw)) < 0) return auth_respond_busy(req);
    }
    me_tx_t t = { p->sub, nm ? name : NULL, hash[0] ? hash : NULL, p->sid, json_array() };
    int rc = db_tx(g_auth.db, me_fn, &t);
    sodium_memzero(hash, sizeof hash);
    if (rc < 0) {
        json_decref(t.noted);
        return auth_respond_db_error(req, "me", rc);
    }
    auth_note_denied(t.noted);
    json_decref(t.noted);
    respond_user(req, 200, g_auth.db, p->sub);
}

/* ---- /v1/me/sessions ---- */

static json_t *session_json(db_stmt_t *st, const char *current)
{
    json_t *s = json_object();
    json_object_set_new(s, "id", json_string(db_col_text(st, 0)));
    json_object_set_new(s, "created_at", auth_time_json(st, 1));
    json_object_set_new(s, "last_used_at", auth_time_json(st, 2));
    json_object_set_new(s, "expires_at", auth_time_json(st, 3));
    json_object_set_new(s, "user_agent", db_col_is_null(st, 4) ? json_null() : json_string(db_col_text(st, 4)));
    json_object_set_new(s, "ip", db_col_is_null(st, 5) ? json_null() : json_string(db_col_text(st, 5)));
    json_object_set_new(s, "current", json_boolean(current && !strcmp(current, db_col_text(st, 0))));
    return s;
}

static void get_sessions(http_req_t *req)
{
    const principal_t *p = auth_principal(req);
    db_conn_t *c = db_acquire(g_auth.db);
    if (!c) return auth_respond_db_error(req, "sessions", DB_ENOCONN);
    int rc;
    db_stmt_t *st = db_query(c, &q_sessions_list, &rc, "sL", p->sub, (long long)time_now_ms());
    if (!st) {
        db_release(c);
        return auth_respond_db_error(req, "sessions", rc);
    }
    json_t *arr = json_array();
    for (; rc == DB_ROW; rc = db_step(st)) json_array_append_new(arr, session_json(st, p->sid));
    db_reset(st);
    db_release(c);
    if (rc < 0) {
        json_decref(arr);
        return auth_respond_db_error(req, "sessions", rc);
    }
    http_respond_json(req, 200, json_pack("{s:o, s:n}", "data", arr, "next_cursor"));
}

static void get_session(http_req_t *req)
{
    const principal_t *p = auth_principal(req);
    const char *id = http_param(req, "id");
    db_conn_t *c = db_acquire(g_auth.db);
    if (!c) return auth_respond_db_error(req, "session", DB_ENOCONN);
    int rc;
    /* the owner is part of the lookup: another user's session is simply not found */
    db_stmt_t *st = db_query(c, &q_session_get, &rc, "ssL", id, p->sub, (long long)time_now_ms());
    if (!st) {
        db_release(c);
        return auth_respond_db_error(req, "session", rc);
    }
    if (rc != DB_ROW) {
        db_reset(st);
        db_release(c);
        http_respond_problem(req, 404, "not-found", "Not Found", "No such session.");
        return;
    }
    json_t *s = session_json(st, p->sid);
    db_reset(st);
    db_release(c);
    http_respond_json(req, 200, s);
}

typedef struct del_tx {
    const char *uid, *sid;
    int revoked;
    json_t *noted;
} del_tx_t;

static int del_fn(db_conn_t *c, void *ctx)
{
    del_tx_t *t = ctx;
    json_array_clear(t->noted);
    int n = auth_revoke_sessions(c, t->uid, REVOKE_ONE, t->sid, "revoked_by_user", t->noted);
    if (n < 0) return n;
    t->revoked = n;
    return 0;
}

static void delete_session(http_req_t *req)
{
    const principal_t *p = auth_principal(req);
    del_tx_t t = { p->sub, http_param(req, "id"), 0, json_array() };
    int rc = db_tx(g_auth.db, del_fn, &t);
    if (rc < 0) {
        json_decref(t.noted);
        return auth_respond_db_error(req, "session revoke", rc);
    }
    auth_note_denied(t.noted);
    json_decref(t.noted);
    if (!t.revoked) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No such session.");
        return;
    }
    http_respond_empty(req, 204);
}

void auth_account_routes(router_t *r)
{
    router_add(r, HTTP_POST, "/v1/auth/register", post_register, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/auth/verify-email", post_verify_email, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/auth/verify-email/resend", post_verify_resend, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/auth/login", post_login, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/auth/refresh", post_refresh, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/auth/logout", post_logout, AUTH_USER);
    router_add(r, HTTP_POST, "/v1/auth/password/forgot", post_password_forgot, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/auth/password/reset", post_password_reset, AUTH_PUBLIC);
    router_add(r, HTTP_GET, "/v1/me", get_me, AUTH_USER | AUTH_CLIENT);
    router_add(r, HTTP_PATCH, "/v1/me", patch_me, AUTH_USER);
    router_add(r, HTTP_GET, "/v1/me/sessions", get_sessions, AUTH_USER);
    router_add(r, HTTP_GET, "/v1/me/sessions/{id}", get_session, AUTH_USER);
    router_add(r, HTTP_DELETE, "/v1/me/sessions/{id}", delete_session, AUTH_USER);
}
