/*
 * admin.c — account administration: list and read users, approve or reject
 * seller sign-ups, change roles, disable accounts (AUTH_ADMIN routes).
 *
 * A role change denies the user's live access tokens (their sessions stay:
 * the next refresh carries the new role); disabling revokes every session.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "auth/validate.h"
#include "util/log.h"
#include "util/timeutil.h"

DB_SQL(q_users_page, "SELECT " AUTH_USER_COLS " FROM users "
                     "WHERE ($1 = '' OR id < $1) AND ($2 = '' OR role = $2) AND ($3 = '' OR seller_status = $3) "
                     "AND ($4 = '' OR email = $4) ORDER BY id DESC LIMIT $5");
DB_SQL(q_user_state, "SELECT role, seller_status, status FROM users WHERE id = $1");
DB_SQL(q_user_update, "UPDATE users SET role = $2, seller_status = $3, status = $4, updated_at = $5 WHERE id = $1");

#define PAGE_MAX 100

static int one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(s, *set)) return 1;
    return 0;
}

static const char *const k_roles[] = { "customer", "seller", "admin", NULL };
static const char *const k_seller[] = { "pending", "approved", "rejected", NULL };
static const char *const k_status[] = { "active", "disabled", NULL };

static void get_users(http_req_t *req)
{
    const char *cursor = http_query(req, "cursor"), *lim = http_query(req, "limit");
    const char *role = http_query(req, "role"), *seller = http_query(req, "seller_status");
    const char *email = http_query(req, "email");
    form_t f = { 0 };
    long long limit = 20;
    if (lim && (str_to_i64(str_from(lim), &limit) < 0 || limit < 1 || limit > PAGE_MAX))
        form_error(&f, "limit", "must be an integer from 1 to 100");
    if (role && !one_of(role, k_roles)) form_error(&f, "role", "must be customer, seller or admin");
    if (seller && !one_of(seller, k_seller)) form_error(&f, "seller_status", "must be pending, approved or rejected");
    char after[ID_MAX] = "";
    if (cursor) {
        unsigned char bin[ID_MAX];
        size_t bl = 0;
        if (sodium_base642bin(bin, sizeof bin - 1, cursor, strlen(cursor), NULL, &bl, NULL,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
            !id_valid((const char *)bin, bl, "usr"))
            form_error(&f, "cursor", "is not a cursor from this list");
        else
            memcpy(after, bin, bl), after[bl] = '\0';
    }
    if (email && strlen(email) > AUTH_EMAIL_MAX) form_error(&f, "email", "is too long");
    if (f.errors) return auth_respond_invalid(req, f.errors);
    db_conn_t *c = db_acquire(g_auth.db);
    if (!c) return auth_respond_db_error(req, "users", DB_ENOCONN);
    int rc;
    db_stmt_t *st = db_query(c, &q_users_page, &rc, "ssssL", after, role ? role : "", seller ? seller : "",
                             email ? email : "", limit + 1);
    if (!st) {
        db_release(c);
        return auth_respond_db_error(req, "users", rc);
    }
    json_t *arr = json_array();
    for (; rc == DB_ROW; rc = db_step(st)) json_array_append_new(arr, auth_user_json(st, 0));
    db_reset(st);
    db_release(c);
    if (rc < 0) {
        json_decref(arr);
        return auth_respond_db_error(req, "users", rc);
    }
    json_t *next = json_null();
    if ((long long)json_array_size(arr) > limit) {
        json_array_remove(arr, (size_t)limit);
        const char *last = json_string_value(json_object_get(json_array_get(arr, (size_t)limit - 1), "id"));
        char enc[ID_MAX * 2];
        sodium_bin2base64(enc, sizeof enc, (const unsigned char *)last, strlen(last),
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        next = json_string(enc);
    }
    http_respond_json(req, 200, json_pack("{s:o, s:o}", "data", arr, "next_cursor", next));
}

static void respond_user(http_req_t *req, const char *id)
{
    json_t *u = auth_user_read(req, g_auth.db, id);
    if (u) http_respond_json(req, 200, u);
}

static void get_user(http_req_t *req) { respond_user(req, http_param(req, "id")); }

typedef struct patch_tx {
    const char *id;
    const char *role, *seller_status, *status; /* requested (NULL = unchanged) */
    int found;
    json_t *noted;
} patch_tx_t;

static int patch_fn(db_conn_t *c, void *ctx)
{
    patch_tx_t *t = ctx;
    json_array_clear(t->noted);
    int rc;
    db_stmt_t *st = db_query(c, &q_user_state, &rc, "s", t->id);
    if (!st) return rc;
    t->found = rc == DB_ROW;
    if (!t->found) {
        db_reset(st);
        return 0;
    }
    char role[16], seller[16] = "", status[16];
    snprintf(role, sizeof role, "%s", db_col_text(st, 0));
    if (!db_col_is_null(st, 1)) snprintf(seller, sizeof seller, "%s", db_col_text(st, 1));
    snprintf(status, sizeof status, "%s", db_col_text(st, 2));
    db_reset(st);
    char nrole[16], nseller[16], nstatus[16];
    snprintf(nrole, sizeof nrole, "%s", role);
    snprintf(nseller, sizeof nseller, "%s", seller);
    snprintf(nstatus, sizeof nstatus, "%s", status);
    if (t->seller_status) {
        snprintf(nseller, sizeof nseller, "%s", t->seller_status);
        /* approval makes a seller; rejection takes the seller role back */
        if (!strcmp(t->seller_status, "approved") && strcmp(role, "admin")) snprintf(nrole, sizeof nrole, "seller");
        if (strcmp(t->seller_status, "approved") && !strcmp(role, "seller")) snprintf(nrole, sizeof nrole, "customer");
    }
    if (t->role) snprintf(nrole, sizeof nrole, "%s", t->role);
    if (t->status) snprintf(nstatus, sizeof nstatus, "%s", t->status);
    int64_t n = db_exec(c, &q_user_update, "ssssL", t->id, nrole, nseller[0] ? nseller : NULL, nstatus,
                        (long long)time_now_ms());
    if (n < 0) return (int)n;
    if (strcmp(nstatus, "active") != 0 && !strcmp(status, "active")) {
        rc = auth_revoke_sessions(c, t->id, REVOKE_ALL, NULL, "account_disabled", t->noted);
        if (rc < 0) return rc;
    } else if (strcmp(nrole, role) != 0) {
        rc = auth_revoke_sessions(c, t->id, REVOKE_DENY_ONLY, NULL, "role_changed", t->noted);
        if (rc < 0) return rc;
    }
    if (strcmp(nrole, role) || strcmp(nstatus, status) || strcmp(nseller, seller))
        log_info("auth", "user %s: role %s->%s, seller %s->%s, status %s->%s", t->id, role, nrole,
                 seller[0] ? seller : "-", nseller[0] ? nseller : "-", status, nstatus);
    return 0;
}

/* PATCH /v1/admin/users/{id} {role?, seller_status?, status?} */
static void patch_user(http_req_t *req)
{
    const principal_t *p = auth_principal(req);
    const char *id = http_param(req, "id");
    form_t f;
    if (form_begin(req, &f) < 0) return;
    static const char *const allowed[] = { "role", "seller_status", "status", NULL };
    form_only(&f, allowed);
    const char *role = form_str(&f, "role", 0, 16), *seller = form_str(&f, "seller_status", 0, 16);
    const char *status = form_str(&f, "status", 0, 16);
    if (role && !one_of(role, k_roles)) form_error(&f, "role", "must be customer, seller or admin");
    if (seller && !one_of(seller, k_seller)) form_error(&f, "seller_status", "must be pending, approved or rejected");
    if (status && !one_of(status, k_status)) form_error(&f, "status", "must be active or disabled");
    if (p->kind == PRINCIPAL_USER && !strcmp(p->sub, id) && (role || status))
        form_error(&f, role ? "role" : "status", "you cannot change your own role or status");
    if (form_failed(req, &f)) return;
    patch_tx_t t = { id, role, seller, status, 0, json_array() };
    int rc = db_tx(g_auth.db, patch_fn, &t);
    if (rc < 0) {
        json_decref(t.noted);
        return auth_respond_db_error(req, "user update", rc);
    }
    auth_note_denied(t.noted);
    json_decref(t.noted);
    if (!t.found) {
        http_respond_problem(req, 404, "not-found", "Not Found", "No such user.");
        return;
    }
    respond_user(req, id);
}

void auth_admin_routes(router_t *r)
{
    router_add(r, HTTP_GET, "/v1/admin/users", get_users, AUTH_ADMIN);
    router_add(r, HTTP_GET, "/v1/admin/users/{id}", get_user, AUTH_ADMIN);
    router_add(r, HTTP_PATCH, "/v1/admin/users/{id}", patch_user, AUTH_ADMIN);
}
