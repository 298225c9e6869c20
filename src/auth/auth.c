/*
 * auth.c — the identity module's state, the access hook and shared helpers
 * (see auth.h for the design).
 *
 * Per-request cost of the hook for a signed-in caller: one Authorization
 * header lookup, token_verify() (memcmp of the header, one HMAC-SHA256 from
 * a precomputed state, a small jansson parse), a deny-list lookup (lock-free
 * while nothing is revoked), one bucket take, two short header strings.
 * No database access.
 */
#include "auth/auth.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/auth_int.h"
#include "auth/denylist.h"
#include "auth/password.h"
#include "auth/token.h"
#include "http/server.h"
#include "util/log.h"
#include "util/timeutil.h"

auth_state_t g_auth;

/* ---- set-up ---- */

static int parse_tiers(const char *spec)
{
    g_auth.ntiers = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!eq || eq == p || (size_t)(eq - p) >= sizeof g_auth.tiers[0].name || g_auth.ntiers >= AUTH_MAX_TIERS)
            return -1;
        char num[24];
        size_t nl = n - (size_t)(eq - p) - 1;
        if (nl == 0 || nl >= sizeof num) return -1;
        memcpy(num, eq + 1, nl);
        num[nl] = '\0';
        char *e;
        long long v = strtoll(num, &e, 10);
        if (*e || v < 1) return -1;
        auth_tier_t *t = &g_auth.tiers[g_auth.ntiers++];
        memcpy(t->name, p, (size_t)(eq - p));
        t->name[eq - p] = '\0';
        t->per_min = v;
        p += n;
        if (*p == ',') p++;
    }
    return g_auth.ntiers ? 0 : -1;
}

static int parse_proxies(const char *spec)
{
    g_auth.nproxies = 0;
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t n = strcspn(p, ", ");
        char ip[48];
        unsigned char bin[16];
        if (n >= sizeof ip || g_auth.nproxies >= AUTH_MAX_PROXIES) return -1;
        memcpy(ip, p, n);
        ip[n] = '\0';
        if (inet_pton(AF_INET, ip, bin) != 1 && inet_pton(AF_INET6, ip, bin) != 1) return -1;
        snprintf(g_auth.proxies[g_auth.nproxies++], sizeof g_auth.proxies[0], "%s", ip);
        p += n;
    }
    return 0;
}

int auth_prepare(app_t *app)
{
    const config_t *cfg = app->cfg;
    memset(&g_auth, 0, sizeof g_auth);
    g_auth.app = app;
    g_auth.cfg = cfg;
    g_auth.db = app->db;
    char path[1024], err[512];
    if (cfg->jwt_key_file[0]) snprintf(path, sizeof path, "%s", cfg->jwt_key_file);
    else snprintf(path, sizeof path, "%s/jwt.keys", cfg->data_dir);
    if (keyring_load(&g_auth.keys, cfg->jwt_secret, cfg->jwt_kid, path, err, sizeof err) < 0) {
        log_error("auth", "signing keys: %s", err);
        return -1;
    }
    keyring_derive(&g_auth.keys, "mercato/auth/code-pepper/v1", g_auth.code_pepper);
    if (cfg->admin_token[0]) {
        if (strlen(cfg->admin_token) < 24) {
            log_error("auth", "--admin-token must be at least 24 characters");
            return -1;
        }
        crypto_hash_sha256(g_auth.admin_token_hash, (const unsigned char *)cfg->admin_token, strlen(cfg->admin_token));
        g_auth.admin_token_set = 1;
    }
    if (parse_tiers(cfg->rate_tiers) < 0) {
        log_error("auth", "--rate-tiers: expected name=requests_per_minute[,...]");
        return -1;
    }
    if (parse_proxies(cfg->trusted_proxies) < 0) {
        log_error("auth", "--trusted-proxies: expected comma-separated IP addresses");
        return -1;
    }
    long threads = cfg->http_threads > 0 ? cfg->http_threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (password_setup((unsigned long long)cfg->pwhash_ops, (size_t)cfg->pwhash_mem_kib * 1024,
                       (int)(threads > 1 ? threads - 1 : 1)) < 0) {
        log_error("auth", "argon2id parameters out of range");
        return -1;
    }
    g_auth.rule_anon = (rl_rule_t){ cfg->rate_anon, 60000 };
    g_auth.rule_user = (rl_rule_t){ cfg->rate_user, 60000 };
    g_auth.rule_login_pair = (rl_rule_t){ cfg->rate_login_pair, 15 * 60000 };
    g_auth.rule_login_account = (rl_rule_t){ cfg->rate_login_account, 60 * 60000 };
    g_auth.rule_auth_ip = (rl_rule_t){ cfg->rate_auth_ip, 15 * 60000 };
    g_auth.rule_code_account = (rl_rule_t){ cfg->rate_code_account, 15 * 60000 };
    g_auth.rule_mail_account = (rl_rule_t){ cfg->rate_mail_account, 60 * 60000 };
    return 0;
}

int auth_start(app_t *app)
{
    if (auth_prepare(app) < 0) return -1;
    const config_t *cfg = app->cfg;
    g_auth.rl_req = ratelimit_new(1 << 16);
    g_auth.rl_auth = ratelimit_new(1 << 15);
    if (denylist_start(app->db, cfg->deny_sync_ms) < 0) {
        ratelimit_free(g_auth.rl_req);
        ratelimit_free(g_auth.rl_auth);
        return -1;
    }
    g_auth.started = 1;
    log_info("auth", "identity ready: signing key id %s (%d key(s)), argon2id m=%lld KiB t=%lld", g_auth.keys.keys[0].kid,
             g_auth.keys.n, cfg->pwhash_mem_kib, cfg->pwhash_ops);
    return 0;
}

void auth_stop(void)
{
    if (!g_auth.started) return;
    denylist_stop();
    ratelimit_free(g_auth.rl_req);
    ratelimit_free(g_auth.rl_auth);
    keyring_clear(&g_auth.keys);
    sodium_memzero(g_auth.code_pepper, sizeof g_auth.code_pepper);
    g_auth.started = 0;
}

void auth_routes(router_t *r)
{
    auth_account_routes(r);
    auth_admin_routes(r);
    auth_oauth_routes(r);
}

/* ---- principal helpers ---- */

const principal_t *auth_principal(const http_req_t *req) { return http_principal(req); }

bool auth_owns(const principal_t *p, const char *owner_id)
{
    if (!p) return false;
    if (p->kind == PRINCIPAL_OPERATOR) return true;
    if (p->kind == PRINCIPAL_USER && p->role == ROLE_ADMIN) return true;
    return owner_id && strcmp(p->sub, owner_id) == 0;
}

bool auth_has_scope(const principal_t *p, const char *scope)
{
    if (!p) return false;
    size_t n = strlen(scope);
    for (const char *s = p->scope; *s;) {
        while (*s == ' ') s++;
        size_t k = strcspn(s, " ");
        if (k == n && strncmp(s, scope, n) == 0) return true;
        s += k;
    }
    return false;
}

int64_t auth_tier_rate(const char *tier)
{
    for (int i = 0; i < g_auth.ntiers; i++)
        if (strcmp(g_auth.tiers[i].name, tier) == 0) return g_auth.tiers[i].per_min;
    return -1;
}

static int is_proxy(const char *ip)
{
    for (int i = 0; i < g_auth.nproxies; i++)
        if (strcmp(g_auth.proxies[i], ip) == 0) return 1;
    return 0;
}

const char *auth_client_ip(http_req_t *req)
{
    const char *ip = http_client_ip(req);
    if (!g_auth.nproxies || !is_proxy(ip)) return ip;
    const char *xff = http_header(req, "X-Forwarded-For");
    if (!xff) return ip;
    /* walk from the right: the first hop that is not one of our proxies */
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',') start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        char hop[48];
        unsigned char bin[16];
        if (b - a <= 0 || (size_t)(b - a) >= sizeof hop) return ip;
        memcpy(hop, a, (size_t)(b - a));
        hop[b - a] = '\0';
        if (inet_pton(AF_INET, hop, bin) != 1 && inet_pton(AF_INET6, hop, bin) != 1) return ip;
        ip = arena_strdup(http_arena(req), hop);
        if (!is_proxy(ip)) return ip;
        end = start > xff ? start - 1 : xff;
    }
    return ip;
}

/* ---- the hook ---- */

static void set_limit_headers(http_req_t *req, const char *policy, const rl_rule_t *r, const rl_result_t *res)
{
    char pol[96], st[96];
    rl_format_headers(policy, r, res, pol, sizeof pol, st, sizeof st);
    http_set_header(req, "RateLimit-Policy", pol);
    http_set_header(req, "RateLimit", st);
}

void auth_respond_limited(http_req_t *req, const char *policy, const rl_rule_t *r, const rl_result_t *res)
{
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", (long long)res->retry_after_s);
    set_limit_headers(req, policy, r, res);
    http_set_header(req, "Retry-After", ra);
    char detail[128];
    snprintf(detail, sizeof detail, "Too many requests; retry in %lld s.", (long long)res->retry_after_s);
    http_respond_problem(req, 429, "rate-limited", "Too Many Requests", detail);
}

static void respond_401(http_req_t *req, const char *why)
{
    char h[200];
    if (why) snprintf(h, sizeof h, "Bearer realm=\"mercato\", error=\"invalid_token\", error_description=\"%s\"", why);
    else snprintf(h, sizeof h, "Bearer realm=\"mercato\"");
    http_set_header(req, "WWW-Authenticate", h);
    http_respond_problem(req, 401, "unauthorized", "Unauthorized",
                         why ? "The access token is not valid." : "This endpoint needs an access token.");
}

static int satisfies(const principal_t *p, int need)
{
    if ((need & AUTH_USER) && p->kind == PRINCIPAL_USER) return 1;
    if ((need & AUTH_SELLER) &&
        ((p->kind == PRINCIPAL_USER && (p->role == ROLE_SELLER || p->role == ROLE_ADMIN)) || p->kind == PRINCIPAL_OPERATOR))
        return 1;
    if ((need & AUTH_ADMIN) && ((p->kind == PRINCIPAL_USER && p->role == ROLE_ADMIN) || p->kind == PRINCIPAL_OPERATOR))
        return 1;
    if ((need & AUTH_CLIENT) && p->kind == PRINCIPAL_CLIENT) return 1;
    return 0;
}

static role_t role_parse(const char *s)
{
#define X(name, str) if (strcmp(s, str) == 0) return ROLE_##name;
    ROLE_LIST(X)
#undef X
    return ROLE_NONE;
}

/* Authenticates a bearer credential.  Returns the principal (arena), or
 * NULL with *why set. */
static principal_t *authenticate(http_req_t *req, const char *tok, size_t len, const char **why)
{
    if (g_auth.admin_token_set) {
        unsigned char h[32];
        crypto_hash_sha256(h, (const unsigned char *)tok, len);
        if (sodium_memcmp(h, g_auth.admin_token_hash, sizeof h) == 0) {
            principal_t *p = arena_calloc(http_arena(req), sizeof *p);
            p->kind = PRINCIPAL_OPERATOR;
            p->role = ROLE_ADMIN;
            snprintf(p->sub, sizeof p->sub, "operator");
            return p;
        }
    }
    token_claims_t c;
    int64_t now = time_now_ms() / 1000;
    token_err_t e = token_verify(&g_auth.keys, tok, len, now, &c);
    if (e != TOKEN_OK) {
        *why = token_err_message(e);
        return NULL;
    }
    if (denylist_blocks(c.jti, c.sub)) {
        *why = "token revoked";
        return NULL;
    }
    principal_t *p = arena_calloc(http_arena(req), sizeof *p);
    memcpy(p->sub, c.sub, sizeof p->sub);
    memcpy(p->scope, c.scope, sizeof p->scope);
    memcpy(p->jti, c.jti, sizeof p->jti);
    p->exp = c.exp;
    p->iat = c.iat;
    if (c.kind == TOKEN_KIND_USER) {
        p->kind = PRINCIPAL_USER;
        p->role = role_parse(c.role);
        memcpy(p->sid, c.sid, sizeof p->sid);
        if (p->role == ROLE_NONE || strncmp(p->sub, "usr_", 4) != 0) {
            *why = "missing or invalid claims";
            return NULL;
        }
    } else {
        p->kind = PRINCIPAL_CLIENT;
        p->rate_limit = c.rl;
        if (strncmp(p->sub, "cli_", 4) != 0) {
            *why = "missing or invalid claims";
            return NULL;
        }
    }
    return p;
}

int auth_pre_hook(http_req_t *req, int route_flags)
{
    int need = route_flags & (AUTH_USER | AUTH_SELLER | AUTH_ADMIN | AUTH_CLIENT);
    const char *authz = http_header(req, "Authorization");
    principal_t *p = NULL;
    const char *why = NULL;
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        const char *t = authz + 7;
        while (*t == ' ') t++;
        size_t tl = strlen(t);
        while (tl && t[tl - 1] == ' ') tl--;
        p = authenticate(req, t, tl, &why);
    }
    if (p) http_set_principal(req, p);

    /* probes (/healthz, /readyz, /metrics) are never throttled */
    if (!(route_flags & HTTP_ROUTE_NO_LOG)) {
        rl_rule_t rule;
        const char *policy;
        char key[96];
        if (!p) {
            rule = g_auth.rule_anon;
            policy = "anon";
            snprintf(key, sizeof key, "ip:%s", auth_client_ip(req));
        } else if (p->kind == PRINCIPAL_CLIENT) {
            rule = (rl_rule_t){ p->rate_limit > 0 ? p->rate_limit : g_auth.rule_user.limit, 60000 };
            policy = "client";
            snprintf(key, sizeof key, "%s", p->sub);
        } else {
            rule = g_auth.rule_user;
            policy = "user";
            snprintf(key, sizeof key, "%s", p->sub);
        }
        rl_result_t res;
        ratelimit_take(g_auth.rl_req, key, strlen(key), &rule, time_now_ms(), 1, &res);
        if (!res.allowed) {
            auth_respond_limited(req, policy, &rule, &res);
            return 1;
        }
        set_limit_headers(req, policy, &rule, &res);
    }
    if (!need) return 0;
    if (!p) {
        respond_401(req, why);
        return 1;
    }
    if (!satisfies(p, need)) {
        http_set_header(req, "WWW-Authenticate", "Bearer realm=\"mercato\", error=\"insufficient_scope\"");
        http_respond_problem(req, 403, "forbidden", "Forbidden", "Your account may not use this endpoint.");
        return 1;
    }
    return 0;
}

/* ---- response helpers ---- */

void auth_respond_invalid(http_req_t *req, json_t *errors)
{
    http_respond_problem_errors(req, 422, "validation-failed", "Validation Failed",
                                "Some fields are missing or invalid.", errors);
}

void auth_respond_busy(http_req_t *req)
{
    http_set_header(req, "Retry-After", "1");
    http_respond_problem(req, 503, "busy", "Service Unavailable", "The server is busy; retry in a second.");
}

void auth_respond_db_error(http_req_t *req, const char *what, int rc)
{
    log_error("auth", "%s: database error %d", what, rc);
    if (rc == DB_EBUSY || rc == DB_ENOCONN) {
        http_set_header(req, "Retry-After", "1");
        http_respond_problem(req, 503, "busy", "Service Unavailable", "The database is busy; retry in a second.");
        return;
    }
    http_respond_problem(req, 500, "internal", "Internal Server Error", "The request could not be completed.");
}

/* ---- forms ---- */

void form_error(form_t *f, const char *field, const char *message)
{
    if (!f->errors) f->errors = json_array();
    json_array_append_new(f->errors, json_pack("{s:s, s:s}", "field", field, "message", message));
}

const char *form_str(form_t *f, const char *name, int required, size_t max_bytes)
{
    json_t *v = json_object_get(f->body, name);
    if (!v || json_is_null(v)) {
        if (required) form_error(f, name, "is required");
        return NULL;
    }
    if (!json_is_string(v)) {
        form_error(f, name, "must be a string");
        return NULL;
    }
    if (json_string_length(v) > max_bytes) {
        form_error(f, name, "is too long");
        return NULL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        form_error(f, name, "must not contain NUL characters");
        return NULL;
    }
    return json_string_value(v);
}

void form_only(form_t *f, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(f->body, k, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0) ok = 1;
        if (!ok) form_error(f, strlen(k) > 64 ? "(unknown)" : k, "is not a known field");
    }
}

int form_begin(http_req_t *req, form_t *f)
{
    f->errors = NULL;
    return http_json_body(req, &f->body);
}

int form_failed(http_req_t *req, form_t *f)
{
    if (!f->errors) return 0;
    auth_respond_invalid(req, f->errors);
    f->errors = NULL;
    return 1;
}

/* ---- brute-force buckets ---- */

void bf_set(bf_key_t *k, const char *policy, const rl_rule_t *rule, const char *prefix, const char *value)
{
    k->policy = policy;
    k->rule = rule;
    snprintf(k->key, sizeof k->key, "%s:%s", prefix, value);
}

int auth_bf_check(http_req_t *req, bf_key_t *keys, int n)
{
    int64_t now = time_now_ms();
    int worst = -1;
    rl_result_t worst_res = { 0 };
    for (int i = 0; i < n; i++) {
        rl_result_t r;
        ratelimit_take(g_auth.rl_auth, keys[i].key, strlen(keys[i].key), keys[i].rule, now, 0, &r);
        if (!r.allowed && (worst < 0 || r.retry_after_s > worst_res.retry_after_s)) {
            worst = i;
            worst_res = r;
        }
    }
    if (worst < 0) return 0;
    auth_respond_limited(req, keys[worst].policy, keys[worst].rule, &worst_res);
    return 1;
}

void auth_bf_take(bf_key_t *keys, int n)
{
    int64_t now = time_now_ms();
    for (int i = 0; i < n; i++) {
        rl_result_t r;
        ratelimit_take(g_auth.rl_auth, keys[i].key, strlen(keys[i].key), keys[i].rule, now, 1, &r);
    }
}

/* ---- tokens ---- */

void auth_sha256_hex(const char *s, size_t n, char out[65])
{
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)s, n);
    sodium_bin2hex(out, 65, h, sizeof h);
}

void auth_code_hash(const char *user_id, const char *purpose, const char *code, char out[65])
{
    unsigned char h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, g_auth.code_pepper, sizeof g_auth.code_pepper, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)user_id, strlen(user_id) + 1);
    crypto_generichash_update(&st, (const unsigned char *)purpose, strlen(purpose) + 1);
    crypto_generichash_update(&st, (const unsigned char *)code, strlen(code));
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(out, 65, h, sizeof h);
}

char *auth_issue_user_token(const char *user_id, const char *role, const char *sid, char jti_out[ID_MAX],
                            int64_t *exp_s)
{
    int64_t now = time_now_ms() / 1000;
    id_new(jti_out, "at");
    *exp_s = now + g_auth.cfg->access_ttl;
    const char *scope = !strcmp(role, "admin") ? "account seller admin" : !strcmp(role, "seller") ? "account seller" : "account";
    json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "kind", "user", "sub", user_id, "role",
                          role, "scope", scope, "jti", jti_out, "sid", sid, "iat", (json_int_t)now, "nbf",
                          (json_int_t)now, "exp", (json_int_t)*exp_s);
    char *tok = token_issue(&g_auth.keys, c);
    json_decref(c);
    return tok;
}
