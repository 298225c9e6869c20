/*
 * category.c — the category tree (see category.h).
 */
#include "catalog/category.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/cache.h"
#include "jobs/events.h"
#include "util/id.h"
#include "util/timeutil.h"

DB_SQL(q_cat_by_id, "SELECT id, parent_id, name, slug, path, position FROM categories WHERE id = $1");
DB_SQL(q_cat_by_slug, "SELECT id, parent_id, name, slug, path, position FROM categories WHERE slug = $1");
DB_SQL(q_cat_slug_taken, "SELECT 1 FROM categories WHERE slug = $1 AND id <> $2");
DB_SQL(q_cat_insert, "INSERT INTO categories (id, parent_id, name, slug, path, position, created_at, updated_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $7)");
DB_SQL(q_cat_update, "UPDATE categories SET parent_id = $2, name = $3, slug = $4, position = $5, updated_at = $6 "
                     "WHERE id = $1");
/* re-root a subtree: every path starting with $1 gets $2 instead */
DB_SQL(q_cat_move_paths, "UPDATE categories SET path = $2 || substr(path, $3) WHERE path >= $1 AND path < $4");
DB_SQL(q_cat_move_products, "UPDATE products SET category_path = $2 || substr(category_path, $3) "
                            "WHERE category_path >= $1 AND category_path < $4");
DB_SQL(q_cat_subtree_depth, "SELECT MAX(LENGTH(path)) FROM categories WHERE path >= $1 AND path < $2");
DB_SQL(q_cat_children, "SELECT COUNT(*) FROM categories WHERE parent_id = $1");
DB_SQL(q_cat_products, "SELECT COUNT(*) FROM products WHERE category_id = $1");
DB_SQL(q_cat_delete, "DELETE FROM categories WHERE id = $1");
DB_SQL(q_cat_all, "SELECT id, parent_id, name, slug, position FROM categories ORDER BY position, name, id");

typedef struct cat_row {
    char id[48], parent[48], slug[CAT_HANDLE_MAX + 1], path[CAT_CATEGORY_DEPTH_MAX * 32 + 64];
    char name[CAT_NAME_MAX * 4 + 1];
    int has_parent;
    int64_t position;
} cat_row_t;

static int load(db_conn_t *c, const char *id_or_slug, cat_row_t *r)
{
    const db_sql_t *q = id_valid(id_or_slug, strlen(id_or_slug), "cat") ? &q_cat_by_id : &q_cat_by_slug;
    if (q == &q_cat_by_slug && !catalog_handle_valid(id_or_slug)) return CAT_ENOTFOUND;
    int rc;
    db_stmt_t *st = db_query(c, q, &rc, "s", id_or_slug);
    if (!st) return rc == DB_EBUSY ? DB_EBUSY : CAT_EDB;
    if (rc != DB_ROW) {
        db_reset(st);
        return CAT_ENOTFOUND;
    }
    snprintf(r->id, sizeof r->id, "%s", db_col_text(st, 0));
    r->has_parent = !db_col_is_null(st, 1);
    snprintf(r->parent, sizeof r->parent, "%s", r->has_parent ? db_col_text(st, 1) : "");
    snprintf(r->name, sizeof r->name, "%s", db_col_text(st, 2));
    snprintf(r->slug, sizeof r->slug, "%s", db_col_text(st, 3));
    snprintf(r->path, sizeof r->path, "%s", db_col_text(st, 4));
    r->position = db_col_int(st, 5);
    db_reset(st);
    return CAT_OK;
}

int category_resolve_path(db_conn_t *c, const char *id_or_slug, char *out, size_t outlen)
{
    cat_row_t r;
    int rc = load(c, id_or_slug, &r);
    if (rc != CAT_OK) return rc == CAT_ENOTFOUND ? rc : CAT_EDB;
    snprintf(out, outlen, "%s", r.path);
    return CAT_OK;
}

static int depth_of(const char *path)
{
    int d = 0;
    for (const char *p = path; *p; p++)
        if (*p == '/') d++;
    return d - 1;
}

typedef struct cat_ctx {
    const catalog_actor_t *actor;
    const char *id;
    json_t *body;
    cat_result_t *res;
} cat_ctx_t;

/* validates name/slug/parent_id/position; fills the has* flags */
typedef struct cat_in {
    const char *name, *slug, *parent;
    int has_name, has_slug, has_parent, has_position;
    int64_t position;
} cat_in_t;

static void parse(json_t *body, int creating, cat_in_t *in, cat_result_t *res)
{
    memset(in, 0, sizeof *in);
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (!strcmp(k, "name")) {
            const char *s = json_string_value(v);
            size_t chars = 0;
            int ok = s != NULL && s[0] && s[0] != ' ';
            for (const unsigned char *p = (const unsigned char *)(s ? s : ""); ok && *p; p++) {
                if (*p < 0x20 || *p == 0x7F) ok = 0;
                if ((*p & 0xC0) != 0x80) chars++;
            }
            if (!ok || chars > CAT_NAME_MAX) cat_result_field(res, "name", "must be 1 to 100 characters");
            else in->name = s, in->has_name = 1;
        } else if (!strcmp(k, "slug")) {
            const char *s = json_string_value(v);
            if (!s || !catalog_handle_valid(s)) cat_result_field(res, "slug", "must be 1 to 120 of a-z, 0-9 and '-'");
            else in->slug = s, in->has_slug = 1;
        } else if (!strcmp(k, "parent_id")) {
            if (json_is_null(v)) in->parent = NULL, in->has_parent = 1;
            else if (!json_is_string(v) || !id_valid(json_string_value(v), json_string_length(v), "cat"))
                cat_result_field(res, "parent_id", "must be a category id (cat_...) or null");
            else in->parent = json_string_value(v), in->has_parent = 1;
        } else if (!strcmp(k, "position")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
                cat_result_field(res, "position", "must be an integer between 0 and 1000000");
            else in->position = json_integer_value(v), in->has_position = 1;
        } else {
            cat_result_field(res, k, "unknown field (allowed: name, slug, parent_id, position)");
        }
    }
    if (creating && !json_object_get(body, "name")) cat_result_field(res, "name", "required");
}

static int dberr(int rc) { return rc == DB_EBUSY ? DB_EBUSY : rc == DB_ECONSTRAINT ? CAT_ECONFLICT : CAT_EDB; }

static int slug_taken(db_conn_t *c, const char *slug, const char *self)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_cat_slug_taken, &rc, "ss", slug, self ? self : "");
    if (!st) return dberr(rc);
    db_reset(st);
    return rc == DB_ROW;
}

static int emit(db_conn_t *c, const char *type, const char *id, const catalog_actor_t *actor, json_t *payload,
                cat_result_t *res)
{
    int64_t ev = event_append(c, type, id, actor->id, payload);
    json_decref(payload);
    if (ev < 0) return dberr((int)ev);
    res->event_id = ev;
    snprintf(res->id, sizeof res->id, "%s", id);
    return CAT_OK;
}

static int create_tx(db_conn_t *c, void *vctx)
{
    cat_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    cat_in_t in;
    parse(x->body, 1, &in, res);
    if (res->code) return res->code;
    char slug[CAT_HANDLE_MAX + 1];
    if (in.slug) snprintf(slug, sizeof slug, "%s", in.slug);
    else catalog_handle_from_title(slug, sizeof slug, in.name);
    int t = slug_taken(c, slug, NULL);
    if (t < 0) return t;
    if (t) {
        cat_result_field(res, "slug", "this slug is taken");
        return res->code = CAT_ECONFLICT;
    }
    char id[ID_MAX];
    id_new(id, "cat");
    char path[sizeof ((cat_row_t *)0)->path + ID_MAX + 2];
    if (in.parent) {
        cat_row_t p;
        int rc = load(c, in.parent, &p);
        if (rc == CAT_ENOTFOUND) {
            cat_result_field(res, "parent_id", "no such category");
            return res->code;
        }
        if (rc != CAT_OK) return rc;
        if (depth_of(p.path) + 1 >= CAT_CATEGORY_DEPTH_MAX) {
            cat_result_field(res, "parent_id", "the tree is at most 8 levels deep");
            return res->code;
        }
        snprintf(path, sizeof path, "%s%s/", p.path, id);
    } else {
        snprintf(path, sizeof path, "/%s/", id);
    }
    int64_t now = time_now_ms();
    int64_t rc = db_exec(c, &q_cat_insert, "sssssLL", id, in.parent, in.name, slug, path, in.position, now);
    if (rc < 0) return dberr((int)rc);
    return emit(c, "category.created", id, x->actor,
                json_pack("{s:s, s:s, s:s, s:s?}", "category_id", id, "name", in.name, "slug", slug, "parent_id",
                          in.parent),
                res);
}

static int update_tx(db_conn_t *c, void *vctx)
{
    cat_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    cat_row_t r;
    int rc = load(c, x->id, &r);
    if (rc != CAT_OK) return res->code = rc;
    cat_in_t in;
    parse(x->body, 0, &in, res);
    if (res->code) return res->code;
    const char *name = in.has_name ? in.name : r.name;
    const char *slug = in.has_slug ? in.slug : r.slug;
    int64_t position = in.has_position ? in.position : r.position;
    const char *parent = in.has_parent ? in.parent : (r.has_parent ? r.parent : NULL);
    if (in.has_slug) {
        int t = slug_taken(c, slug, r.id);
        if (t < 0) return t;
        if (t) {
            cat_result_field(res, "slug", "this slug is taken");
            return res->code = CAT_ECONFLICT;
        }
    }
    int moved = in.has_parent && !((parent == NULL && !r.has_parent) || (parent && r.has_parent && !strcmp(parent, r.parent)));
    if (moved) {
        char newpath[sizeof r.path + ID_MAX + 2];
        if (parent) {
            cat_row_t p;
            rc = load(c, parent, &p);
            if (rc == CAT_ENOTFOUND) {
                cat_result_field(res, "parent_id", "no such category");
                return res->code;
            }
            if (rc != CAT_OK) return rc;
            if (strncmp(p.path, r.path, strlen(r.path)) == 0) {
                cat_result_field(res, "parent_id", "a category cannot move under itself or its descendants");
                return res->code;
            }
            snprintf(newpath, sizeof newpath, "%s%s/", p.path, r.id);
        } else {
            snprintf(newpath, sizeof newpath, "/%s/", r.id);
        }
        char upper[sizeof r.path + 2];
        snprintf(upper, sizeof upper, "%.*s0", (int)strlen(r.path) - 1, r.path);
        int qrc;
        db_stmt_t *st = db_query(c, &q_cat_subtree_depth, &qrc, "ss", r.path, upper);
        if (!st) return dberr(qrc);
        int64_t deepest = db_col_int(st, 0);
        db_reset(st);
        /* ids are 30 characters, so every level adds 31 bytes to a path */
        int64_t levels = ((int64_t)strlen(newpath) - 1) / 31 + (deepest - 1) / 31 - ((int64_t)strlen(r.path) - 1) / 31;
        if (levels > CAT_CATEGORY_DEPTH_MAX) {
            cat_result_field(res, "parent_id", "the tree is at most 8 levels deep");
            return res->code;
        }
        int64_t from = (int64_t)strlen(r.path) + 1;
        if (db_exec(c, &q_cat_move_paths, "ssLs", r.path, newpath, from, upper) < 0) return CAT_EDB;
        if (db_exec(c, &q_cat_move_products, "ssLs", r.path, newpath, from, upper) < 0) return CAT_EDB;
    }
    int64_t now = time_now_ms();
    int64_t n = db_exec(c, &q_cat_update, "ssssLL", r.id, parent, name, slug, position, now);
    if (n < 0) return dberr((int)n);
    return emit(c, "category.updated", r.id, x->actor,
                json_pack("{s:s, s:s, s:s, s:s?, s:b}", "category_id", r.id, "name", name, "slug", slug, "parent_id",
                          parent, "moved", moved),
                res);
}

static int delete_tx(db_conn_t *c, void *vctx)
{
    cat_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    cat_row_t r;
    int rc = load(c, x->id, &r);
    if (rc != CAT_OK) return res->code = rc;
    int qrc;
    db_stmt_t *st = db_query(c, &q_cat_children, &qrc, "s", r.id);
    if (!st) return dberr(qrc);
    int64_t kids = db_col_int(st, 0);
    db_reset(st);
    st = db_query(c, &q_cat_products, &qrc, "s", r.id);
    if (!st) return dberr(qrc);
    int64_t prods = db_col_int(st, 0);
    db_reset(st);
    if (kids || prods) {
        res->detail = kids ? "The category has subcategories; move or delete them first."
                           : "Products use this category; move them first.";
        return res->code = CAT_ECONFLICT;
    }
    if (db_exec(c, &q_cat_delete, "s", r.id) < 0) return CAT_EDB;
    return emit(c, "category.deleted", r.id, x->actor, json_pack("{s:s}", "category_id", r.id), res);
}

static int run(db_t *db, const catalog_actor_t *actor, const char *id, json_t *body, cat_result_t *res, db_tx_fn fn)
{
    memset(res, 0, sizeof *res);
    if (!actor || !actor->id || !actor->admin) {
        res->code = CAT_EFORBIDDEN;
        res->detail = "Only admins can change categories.";
        return res->code;
    }
    if (id && !id_valid(id, strlen(id), "cat")) return res->code = CAT_ENOTFOUND;
    cat_ctx_t x = { actor, id, body, res };
    int rc = db_tx(db, fn, &x);
    if (rc == 0) {
        catalog_cache_clear(); /* product JSON embeds category names and slugs */
        return CAT_OK;
    }
    if (res->code == 0) res->code = rc == DB_ECONSTRAINT ? CAT_ECONFLICT : CAT_EDB;
    return res->code;
}

int category_create(db_t *db, const catalog_actor_t *actor, json_t *body, cat_result_t *res)
{
    return run(db, actor, NULL, body, res, create_tx);
}

int category_update(db_t *db, const catalog_actor_t *actor, const char *id, json_t *body, cat_result_t *res)
{
    return run(db, actor, id, body, res, update_tx);
}

int category_delete(db_t *db, const catalog_actor_t *actor, const char *id, cat_result_t *res)
{
    return run(db, actor, id, NULL, res, delete_tx);
}

json_t *category_tree_json(db_conn_t *c)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_cat_all, &rc, "");
    if (!st) return NULL;
    json_t *byid = json_object(), *order = json_array();
    while (rc == DB_ROW) {
        json_t *n = json_pack("{s:s, s:s, s:s, s:o, s:I, s:[]}", "id", db_col_text(st, 0), "name", db_col_text(st, 2),
                              "slug", db_col_text(st, 3), "parent_id",
                              db_col_is_null(st, 1) ? json_null() : json_string(db_col_text(st, 1)), "position",
                              (json_int_t)db_col_int(st, 4), "children");
        json_object_set(byid, db_col_text(st, 0), n);
        json_array_append_new(order, n);
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) {
        json_decref(byid);
        json_decref(order);
        return NULL;
    }
    json_t *roots = json_array();
    size_t i;
    json_t *n;
    json_array_foreach(order, i, n) {
        const char *pid = json_string_value(json_object_get(n, "parent_id"));
        json_t *parent = pid ? json_object_get(byid, pid) : NULL;
        json_array_append(parent ? json_object_get(parent, "children") : roots, n);
    }
    json_decref(byid);
    json_decref(order);
    return json_pack("{s:o}", "items", roots);
}

json_t *category_get_json(db_conn_t *c, const char *id_or_slug, int *rc)
{
    cat_row_t r;
    int lrc = load(c, id_or_slug, &r);
    if (lrc != CAT_OK) {
        *rc = lrc == CAT_ENOTFOUND ? CAT_ENOTFOUND : CAT_EDB;
        return NULL;
    }
    json_t *crumbs = json_array();
    /* the path names every ancestor: /cat_a/cat_b/self/ */
    const char *p = r.path + 1;
    while (*p) {
        const char *e = strchr(p, '/');
        if (!e) break;
        char aid[48];
        snprintf(aid, sizeof aid, "%.*s", (int)(e - p), p);
        cat_row_t a;
        if (strcmp(aid, r.id) != 0 && load(c, aid, &a) == CAT_OK)
            json_array_append_new(crumbs, json_pack("{s:s, s:s, s:s}", "id", a.id, "name", a.name, "slug", a.slug));
        p = e + 1;
    }
    *rc = CAT_OK;
    return json_pack("{s:s, s:s, s:s, s:o, s:I, s:o}", "id", r.id, "name", r.name, "slug", r.slug, "parent_id",
                     r.has_parent ? json_string(r.parent) : json_null(), "position", (json_int_t)r.position,
                     "ancestors", crumbs);
}
