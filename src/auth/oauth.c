/*
 * oauth.c — OAuth2 machine clients: administration, the client-credentials
 * token endpoint (RFC 6749 §4.4) and token revocation (RFC 7009).
 *
 * Client secrets are 32 random bytes shown once at creation; only their
 * SHA-256 is stored (a secret with 256 bits of entropy needs no slow hash)
 * and it is compared in constant time.  Tokens are JWTs like user tokens,
 * with kind "client", the granted scopes and the client's rate-limit tier
 * and requests per minute ("rl"), which the access hook uses as the
 * client's bucket — so a partner moved to a bigger tier gets a bigger
 * bucket with its next token, without a deploy.  No refresh token is
 * issued.  Deleting a client denies its subject until its last token has
 * expired.
 *
 * Errors follow the project's problem+json shape and also carry RFC 6749
 * §5.2's "error" / "error_description" members so OAuth libraries read them.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_int.h"
#include "auth/denylist.h"
#include "auth/token.h"
#include "auth/validate.h"
#include "http/uri.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MAX_SCOPES 32
#define SCOPE_MAX_LEN 64
#define CLIENT_COLS "id, name, scopes, rate_tier, created_by, created_at, updated_at"

DB_SQL(q_client_insert, "INSERT INTO oauth_clients (id, name, secret_hash, scopes, rate_tier, created_by, created_at, "
                        "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)");
DB_SQL(q_client_get, "SELECT " CLIENT_COLS " FROM oauth_clients WHERE id = $1 AND revoked_at IS NULL");
DB_SQL(q_client_auth, "SELECT secret_hash, scopes, rate_tier FROM oauth_clients WHERE id = $1 AND revoked_at IS NULL");
DB_SQL(q_client_page, "SELECT " CLIENT_COLS " FROM oauth_clients WHERE revoked_at IS NULL AND ($1 = '' OR id < $1) "
                      "ORDER BY id DESC LIMIT $2");
DB_SQL(q_client_update, "UPDATE oauth_clients SET name = COALESCE($2, name), scopes = COALESCE($3, scopes), "
                        "rate_tier = COALESCE($4, rate_tier), updated_at = $5 WHERE id = $1 AND revoked_at IS NULL");
DB_SQL(q_client_revoke, "UPDATE oauth_clients SET revoked_at = $2, updated_at = $2 WHERE id = $1 AND revoked_at IS NULL");

static json_t *scopes_array(const char *s)
{
    json_t *a = json_array();
    while (*s) {
        while (*s == ' ') s++;
        size_t k = strcspn(s, " ");
        if (k) json_array_append_new(a, json_stringn(s, k));
        s += k;
    }
    return a;
}

static json_t *client_json(db_stmt_t *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(db_col_text(st, 0)));
    json_t *name = json_string(db_col_text(st, 1));
    json_object_set_new(o, "name", name ? name : json_string(""));
    json_object_set_new(o, "scopes", scopes_array(db_col_text(st, 2)));
    json_object_set_new(o, "rate_limit_tier", json_string(db_col_text(st, 3)));
    json_object_set_new(o, "rate_limit", json_integer(auth_tier_rate(db_col_text(st, 3))));
    json_object_set_new(o, "created_by", db_col_is_null(st, 4) ? json_null() : json_string(db_col_text(st, 4)));
    json_object_set_new(o, "created_at", auth_time_json(st, 5));
    json_object_set_new(o, "updated_at", auth_time_json(st, 6));
    return o;
}

static int valid_scope(const char *s, size_t n)
{
    if (n == 0 || n > SCOPE_MAX_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* "scopes" (array of strings) -> space-separated into out; errors to f. */
static int read_scopes(form_t *f, char *out, size_t cap, int required)
{
    json_t *a = json_object_get(f->body, "scopes");
    out[0] = '\0';
    if (!a) {
        if (required) form_error(f, "scopes", "is required");
        return -1;
    }
    if (!json_is_array(a) || json_array_size(a) > MAX_SCOPES) {
        form_error(f, "scopes", "must be an array of at most 32 scope names");
        return -1;
    }
    size_t i, pos = 0;
    json_t *v;
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        size_t n = s ? json_string_length(v) : 0;
        if (!s || !valid_scope(s, n) || strlen(s) != n) {
            form_error(f, "scopes", "scope names use a-z, 0-9, ':', '.', '_' and '-' (at most 64)");
            return -1;
        }
        if (pos + n + 2 > cap) {
            form_error(f, "scopes", "too many scopes");
            return -1;
        }
        if (pos) out[pos++] = ' ';
        memcpy(out + pos, s, n);
        pos += n;
        out[pos] = '\0';
    }
    return 0;
}

static const char *read_tier(form_t *f, int required)
{
    const char *t = form_str(f, "rate_limit_tier", required, 31);
    if (t && auth_tier_rate(t) < 0) {
        form_error(f, "rate_limit_tier", "is not a configured tier (see --rate-tiers)");
        return NULL;
    }
    return t;
}

/* ---- administration ---- */

typedef struct create_tx {
    const char *id, *name, *hash, *scopes, *tier, *by;
} create_tx_t;

static int create_fn(db_conn_t *c, void *ctx)
{
    create_tx_t *t = ctx;
    int64_t n = db_exec(c, &q_client_insert, "ssssssL", t->id, t->name, t->hash, t->scopes, t->tier, t->by,
                        (long long)time_now_ms());
    return n < 0 ? (int)n : 0;
}

static void respond_client(http_req_t *req, int status, const char *id, const char *secret)
{
    db_conn_t *c = db_acquire(g_auth.db);
    if (!c) return auth_respond_db_error(req, "client", DB_ENOCONN);
    int rc;
    db_stmt_t *st = db_query(c, &q_client_get, &rc, "s", id);
    if (!st) {
        db_release(c);
        return auth_respond_db_error(req, "client", rc);
    }
    if (rc != DB_ROW) {
        db_reset(st);
        db_release(c);
        http_respond_problem(req, 404, "not-found", "Not Found", "No such client.");
        return;
    }
    json_t *o = client_json(st);
    db_reset(st);
    db_release(c);
    if (secret) {
        json_object_set_new(o, "client_secret", json_string(secret));
        http_set_header(req, "Cache-Control", "no-store");
    }
    http_respond_json(req, status, o);
}

static void post_client(http_req_t *req)
{
    const principal_t *p = auth_principal(req);
    form_t f;
    if (form_begin(req, &f) < 0) return;
    static const char *const allowed[] = { "name", "scopes", "rate_limit_tier", NULL };
    form_only(&f, allowed);
    char name[AUTH_NAME_MAX_BYTES + 1], scopes[MAX_SCOPES * (SCOPE_MAX_LEN + 1) + 1];
    const char *nm = form_str(&f, "name", 1, AUTH_NAME_MAX_BYTES), *why;
    if (nm && auth_name_check(nm, name, sizeof name, &why) < 0) form_error(&f, "name", why);
    read_scopes(&f, scopes, sizeof scopes, 1);
    const char *tier = read_tier(&f, 0);
    if (form_failed(req, &f)) return;
    char id[ID_MAX], secret[64], sec[48], hash[65];
    id_new(id, "cli");
    id_secret(sec, 32);
    snprintf(secret, sizeof secret, "mcs_%s", sec);
    auth_sha256_hex(secret, strlen(secret), hash);
    create_tx_t t = { id, name, hash, scopes, tier ? tier : "standard", p->sub };
    if (!tier && auth_tier_rate("standard") < 0) t.tier = g_auth.tiers[0].name;
    int rc = db_tx(g_auth.db, create_fn, &t);
    if (rc < 0) {
        sodium_memzero(secret, sizeof secret);
        return auth_respond_db_error(req, "client create", rc);
    }
    log_info("auth", "oauth client %s created by %s", id, p->sub);
    respond_client(req, 201, id, secret);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(sec, sizeof sec);
}

static void get_clients(http_req_t *req)
{
    const char *cursor = http_query(req, "cursor"), *lim = http_query(req, "limit");
    form_t f = { 0 };
    long long limit = 20;
    if (lim && (str_to_i64(str_from(lim), &limit) < 0 || limit < 1 || limit > 100))
        form_error(&f, "limit", "must be an integer from 1 to 100");
    if (cursor && !id_valid(cursor, strlen(cursor), "cli")) form_error(&f, "cursor", "is not a cursor from this list");
    if (f.errors) return auth_respond_invalid(req, f.errors);
    db_conn_t *c = db_acquire(g_auth.db);
    if (!c) return auth_respond_db_error(req, "clients", DB_ENOCONN);
    int rc;
    db_stmt_t *st = db_query(c, &q_client_page, &rc, "sL", cursor ? cursor : "", limit + 1);
    if (!st) {
        db_release(c);
        return auth_respond_db_error(req, "clients", rc);
    }
    json_t *arr = json_array();
    for (; rc == DB_ROW; rc = db_step(st)) json_array_append_new(arr, client_json(st));
    db_reset(st);
    db_release(c);
    json_t *next = json_null();
    if ((long long)json_array_size(arr) > limit) {
        json_array_remove(arr, (size_t)limit);
        next = json_incref(json_object_get(json_array_get(arr, (size_t)limit - 1), "id"));
    }
    http_respond_json(req, 200, json_pack("{s:o, s:o}", "data", arr, "next_cursor", next));
}

static void get_client(http_req_t *req) { respond_client(req, 200, http_param(req, "id"), NULL); }

typedef struct upd_tx {
    const char *id, *name, *scopes, *tier;
    int64_t changed;
    int revoke;
} upd_tx_t;

static int upd_fn(db_conn_t *c, void *ctx)
{
    upd_tx_t *t = ctx;
    int64_t now = time_now_ms();
    if (t->revoke) {
        t->changed = db_exec(c, &q_client_revoke, "sL", t->id, (long long)now);
        if (t->changed <= 0) return t->changed < 0 ? (int)t->changed : 0;
        /* its tokens die with it */
        return auth_deny(c, t->id, now + (g_auth.cfg->client_token_ttl + 60) * 1000, NULL);
    }
    t->changed = db_exec(c, &q_client_update, "ssssL", t->id, t->name, t->scopes, t->tier, (long long)now);
    return t->changed < 0 ? (int)t->changed : 0;
}

static void patch_client(http_req_t *req)
{
    form_t f;
    if (form_begin(req, &f) < 0) return;
    static const char *const allowed[] = { "name", "scopes", "rate_limit_tier", NULL };
    form_only(&f, allowed);
    char name[AUTH_NAME_MAX_BYTES + 1], scopes[MAX_SCOPES * (SCOPE_MAX_LEN + 1) + 1];
    const char *nm = form_str(&f, "name", 0, AUTH_NAME_MAX_BYTES), *why;
    if (nm && auth_name_check(nm, name, sizeof name, &why) < 0) form_error(&f, "name", why);
    int has_scopes = json_object_get(f.body, "scopes") != NULL;
    if (has_scopes) read_scopes(&f, scopes, sizeof scopes, 0);
    const char *tier = read_tier(&f, 0);
    if (form_failed(req, &f)) return;
    upd_tx_t t = { http_param(req, "id"), nm ? name : NULL, has_scopes ? scopes : NULL, tier, 0, 0 };
    int rc = db_tx(g_auth.db, upd_fn, &t);
    if (rc < 0) return auth_respond_db_error(req, "client update", rc);
    if (t.changed == 0) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No such client.");
        return;
    }
    respond_client(req, 200, t.id, NULL);
}

static void delete_client(http_req_t *req)
{
    upd_tx_t t = { .id = http_param(req, "id"), .revoke = 1 };
    int rc = db_tx(g_auth.db, upd_fn, &t);
    if (rc < 0) return auth_respond_db_error(req, "client delete", rc);
    if (t.changed == 0) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No such client.");
        return;
    }
    int64_t now = time_now_ms();
    denylist_note(t.id, now, now + (g_auth.cfg->client_token_ttl + 60) * 1000);
    log_info("auth", "oauth client %s deleted", t.id);
    http_respond_empty(req, 204);
}

/* ---- token endpoint ---- */

static void oauth_error(http_req_t *req, int status, const char *error, const char *desc)
{
    json_t *ext = json_pack("{s:s, s:s}", "error", error, "error_description", desc);
    http_set_header(req, "Cache-Control", "no-store");
    http_respond_problem_ext(req, status, error[0] == 'i' && !strcmp(error, "invalid_client") ? "invalid-client"
                                                                                               : "oauth-error",
                             status == 401 ? "Unauthorized" : "Bad Request", desc, ext);
}

/* Reads the request parameters: application/x-www-form-urlencoded (the
 * RFC's format) or a JSON object of strings.  Returns an object of strings
 * (new reference) or NULL after answering 400. */
static json_t *read_params(http_req_t *req)
{
    const char *ct = http_header(req, "Content-Type");
    str_t body = http_body(req);
    json_t *out = json_object();
    if (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
        const char *p = body.ptr, *end = body.ptr + body.len;
        while (p < end) {
            const char *amp = memchr(p, '&', (size_t)(end - p));
            const char *pe = amp ? amp : end;
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            char *name, *value;
            if (pe > p) {
                if (uri_decode(http_arena(req), p, (size_t)((eq ? eq : pe) - p), 1, &name) < 0 ||
                    uri_decode(http_arena(req), eq ? eq + 1 : pe, eq ? (size_t)(pe - eq - 1) : 0, 1, &value) < 0) {
                    json_decref(out);
                    oauth_error(req, 400, "invalid_request", "The form body is malformed.");
                    return NULL;
                }
                json_t *v = json_string(value);
                /* RFC 6749 §3.2: parameters must not repeat */
                if (!v || json_object_get(out, name)) {
                    json_decref(v);
                    json_decref(out);
                    oauth_error(req, 400, "invalid_request", "A parameter is repeated or not UTF-8.");
                    return NULL;
                }
                json_object_set_new(out, name, v);
            }
            p = amp ? amp + 1 : end;
        }
        return out;
    }
    json_decref(out);
    json_t *j;
    if (http_json_body(req, &j) < 0) return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (!json_is_string(v)) {
            oauth_error(req, 400, "invalid_request", "Parameters must be strings.");
            return NULL;
        }
    }
    return json_incref(j);
}

typedef struct client_auth {
    char id[ID_MAX];
    char scopes[MAX_SCOPES * (SCOPE_MAX_LEN + 1) + 1];
    char tier[32];
    int basic;
} client_auth_t;

/* Authenticates the client (HTTP Basic or client_id/client_secret in the
 * body).  0 ok; -1 after answering (400/401, or 429 when this IP failed too
 * often). */
static int authenticate_client(http_req_t *req, json_t *params, client_auth_t *out)
{
    memset(out, 0, sizeof *out);
    bf_key_t bf[1];
    bf_set(&bf[0], "auth-ip", &g_auth.rule_auth_ip, "auth-ip", auth_client_ip(req));
    if (auth_bf_check(req, bf, 1)) return -1;
    const char *authz = http_header(req, "Authorization");
    char *id = NULL, *secret = NULL;
    if (authz && !strncasecmp(authz, "Basic ", 6)) {
        unsigned char dec[512];
        size_t dl = 0;
        const char *b = authz + 6;
        while (*b == ' ') b++;
        if (sodium_base642bin(dec, sizeof dec - 1, b, strlen(b), NULL, &dl, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
            oauth_error(req, 401, "invalid_client", "Malformed Basic credentials.");
            return -1;
        }
        dec[dl] = '\0';
        char *colon = memchr(dec, ':', dl);
        /* RFC 6749 §2.3.1: both parts are form-urlencoded */
        if (!colon || strlen((char *)dec) != dl ||
            uri_decode(http_arena(req), (char *)dec, (size_t)(colon - (char *)dec), 1, &id) < 0 ||
            uri_decode(http_arena(req), colon + 1, dl - (size_t)(colon + 1 - (char *)dec), 1, &secret) < 0) {
            sodium_memzero(dec, sizeof dec);
            oauth_error(req, 401, "invalid_client", "Malformed Basic credentials.");
            return -1;
        }
        sodium_memzero(dec, sizeof dec);
        out->basic = 1;
        if (json_object_get(params, "client_secret")) {
            oauth_error(req, 400, "invalid_request", "Use one client authentication method only.");
            return -1;
        }
    } else {
        id = (char *)json_string_value(json_object_get(params, "client_id"));
        secret = (char *)json_string_value(json_object_get(params, "client_secret"));
    }
    if (!id || !secret) {
        http_set_header(req, "WWW-Authenticate", "Basic realm=\"mercato\"");
        oauth_error(req, 401, "invalid_client", "Client authentication is required.");
        return -1;
    }
    char want[65] = "", got[65];
    auth_sha256_hex(secret, strlen(secret), got);
    int found = 0;
    if (id_valid(id, strlen(id), "cli")) {
        db_conn_t *c = db_acquire(g_auth.db);
        if (!c) {
            auth_respond_db_error(req, "client auth", DB_ENOCONN);
            return -1;
        }
        int rc;
        db_stmt_t *st = db_query(c, &q_client_auth, &rc, "s", id);
        if (!st) {
            db_release(c);
            auth_respond_db_error(req, "client auth", rc);
            return -1;
        }
        if (rc == DB_ROW && db_col_len(st, 0) == 64) {
            found = 1;
            memcpy(want, db_col_text(st, 0), 65);
            snprintf(out->scopes, sizeof out->scopes, "%s", db_col_text(st, 1));
            snprintf(out->tier, sizeof out->tier, "%s", db_col_text(st, 2));
        }
        db_reset(st);
        db_release(c);
    }
    if (!found) memset(want, '0', 64);
    int ok = sodium_memcmp(want, got, 64) == 0 && found;
    if (!ok) {
        auth_bf_take(bf, 1);
        log_info("auth", "oauth client authentication failed");
        if (out->basic) http_set_header(req, "WWW-Authenticate", "Basic realm=\"mercato\"");
        oauth_error(req, 401, "invalid_client", "Client authentication failed.");
        return -1;
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    return 0;
}

static int has_scope(const char *list, const char *s, size_t n)
{
    for (const char *p = list; *p;) {
        while (*p == ' ') p++;
        size_t k = strcspn(p, " ");
        if (k == n && !strncmp(p, s, n)) return 1;
        p += k;
    }
    return 0;
}

/* POST /v1/oauth/token */
static void post_token(http_req_t *req)
{
    json_t *params = read_params(req);
    if (!params) return;
    client_auth_t ca;
    const char *grant = json_string_value(json_object_get(params, "grant_type"));
    if (!grant) {
        json_decref(params);
        return oauth_error(req, 400, "invalid_request", "grant_type is required.");
    }
    if (authenticate_client(req, params, &ca) < 0) {
        json_decref(params);
        return;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        json_decref(params);
        return oauth_error(req, 400, "unsupported_grant_type", "Only client_credentials is supported.");
    }
    /* the requested scope must be a subset of the client's; none = all */
    char granted[sizeof ca.scopes] = "";
    const char *want = json_string_value(json_object_get(params, "scope"));
    if (want && strlen(want) >= sizeof granted) {
        json_decref(params);
        return oauth_error(req, 400, "invalid_scope", "The scope is too long.");
    }
    if (want) {
        size_t pos = 0;
        for (const char *p = want; *p;) {
            while (*p == ' ') p++;
            size_t k = strcspn(p, " ");
            if (k) {
                if (!has_scope(ca.scopes, p, k)) {
                    json_decref(params);
                    return oauth_error(req, 400, "invalid_scope", "A requested scope is not granted to this client.");
                }
                if (pos) granted[pos++] = ' ';
                memcpy(granted + pos, p, k);
                pos += k;
                granted[pos] = '\0';
            }
            p += k;
        }
    } else {
        snprintf(granted, sizeof granted, "%s", ca.scopes);
    }
    json_decref(params);
    int64_t now = time_now_ms() / 1000, exp = now + g_auth.cfg->client_token_ttl;
    int64_t rl = auth_tier_rate(ca.tier);
    char jti[ID_MAX];
    id_new(jti, "ct");
    json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "kind", "client", "sub", ca.id, "scope",
                               granted, "jti", jti, "tier", ca.tier, "rl", (json_int_t)(rl > 0 ? rl : 0), "iat",
                               (json_int_t)now, "nbf", (json_int_t)now, "exp", (json_int_t)exp);
    char *tok = token_issue(&g_auth.keys, claims);
    json_decref(claims);
    if (!tok) return auth_respond_db_error(req, "token issue", DB_ERR);
    json_t *out = json_pack("{s:s, s:s, s:I, s:s}", "access_token", tok, "token_type", "Bearer", "expires_in",
                            (json_int_t)(exp - now), "scope", granted);
    sodium_memzero(tok, strlen(tok));
    free(tok);
    log_info("auth", "client token issued to %s (tier %s)", ca.id, ca.tier);
    http_set_header(req, "Cache-Control", "no-store");
    http_set_header(req, "Pragma", "no-cache");
    http_respond_json(req, 200, out);
}

typedef struct revoke_tx {
    const char *jti;
    int64_t exp_ms;
    json_t *noted;
} revoke_tx_t;

static int revoke_fn(db_conn_t *c, void *ctx)
{
    revoke_tx_t *t = ctx;
    json_array_clear(t->noted);
    return auth_deny(c, t->jti, t->exp_ms, t->noted);
}

/* POST /v1/oauth/revoke (RFC 7009): 200 whatever the token, once the
 * client has authenticated; only the client's own tokens are revoked. */
static void post_revoke(http_req_t *req)
{
    json_t *params = read_params(req);
    if (!params) return;
    client_auth_t ca;
    if (authenticate_client(req, params, &ca) < 0) {
        json_decref(params);
        return;
    }
    const char *tok = json_string_value(json_object_get(params, "token"));
    if (!tok) {
        json_decref(params);
        return oauth_error(req, 400, "invalid_request", "token is required.");
    }
    token_claims_t cl;
    if (token_verify(&g_auth.keys, tok, strlen(tok), time_now_ms() / 1000, &cl) == TOKEN_OK &&
        cl.kind == TOKEN_KIND_CLIENT && !strcmp(cl.sub, ca.id)) {
        revoke_tx_t t = { cl.jti, cl.exp * 1000, json_array() };
        int rc = db_tx(g_auth.db, revoke_fn, &t);
        if (rc < 0) {
            json_decref(t.noted);
            json_decref(params);
            return auth_respond_db_error(req, "revoke", rc);
        }
        auth_note_denied(t.noted);
        json_decref(t.noted);
        log_info("auth", "client %s revoked token %s", ca.id, cl.jti);
    }
    json_decref(params);
    http_set_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, json_object());
}

void auth_oauth_routes(router_t *r)
{
    router_add(r, HTTP_POST, "/v1/admin/oauth-clients", post_client, AUTH_ADMIN);
    router_add(r, HTTP_GET, "/v1/admin/oauth-clients", get_clients, AUTH_ADMIN);
    router_add(r, HTTP_GET, "/v1/admin/oauth-clients/{id}", get_client, AUTH_ADMIN);
    router_add(r, HTTP_PATCH, "/v1/admin/oauth-clients/{id}", patch_client, AUTH_ADMIN);
    router_add(r, HTTP_DELETE, "/v1/admin/oauth-clients/{id}", delete_client, AUTH_ADMIN);
    router_add(r, HTTP_POST, "/v1/oauth/token", post_token, AUTH_PUBLIC);
    router_add(r, HTTP_POST, "/v1/oauth/revoke", post_revoke, AUTH_PUBLIC);
}
