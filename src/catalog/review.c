/*
 * review.c — reviews, replies, moderation and rating aggregates (see
 * review.h).
 */
#include "catalog/review.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/cache.h"
#include "jobs/events.h"
#include "util/id.h"
#include "util/timeutil.h"

static review_verify_fn g_verify;
static void *g_verify_ctx;

void review_set_verifier(review_verify_fn fn, void *ctx)
{
    g_verify = fn;
    g_verify_ctx = ctx;
}

static const char *const sort_names[] = {
#define X(e, n) n,
    REVIEW_SORT_LIST(X)
#undef X
};

int review_sort_parse(const char *s)
{
    for (int i = 0; i < REVIEW_SORT_COUNT; i++)
        if (s && strcmp(s, sort_names[i]) == 0) return i;
    return -1;
}

#define REV_COLS "id, product_id, author_id, rating, title, body, status, hidden_reason, verified, reply_body, reply_at, created_at, updated_at"

DB_SQL(q_rev_product, "SELECT seller_id, status FROM products WHERE id = $1");
DB_SQL(q_rev_existing, "SELECT id FROM reviews WHERE product_id = $1 AND author_id = $2");
DB_SQL(q_rev_insert, "INSERT INTO reviews (id, product_id, author_id, rating, title, body, verified, created_at, updated_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)");
DB_SQL(q_rev_load, "SELECT " REV_COLS " FROM reviews WHERE id = $1");
DB_SQL(q_rev_update, "UPDATE reviews SET rating = $2, title = $3, body = $4, updated_at = $5 WHERE id = $1");
DB_SQL(q_rev_reply, "UPDATE reviews SET reply_body = $2, reply_by = $3, reply_at = $4, updated_at = $4 WHERE id = $1");
DB_SQL(q_rev_moderate, "UPDATE reviews SET status = $2, hidden_reason = $3, updated_at = $4 WHERE id = $1");
DB_SQL(q_rev_agg, "SELECT COUNT(*), COALESCE(SUM(rating), 0) FROM reviews WHERE product_id = $1 AND status = 'visible'");
DB_SQL(q_rev_set_agg, "UPDATE products SET rating_count = $2, rating_sum = $3, rating_avg = $4 WHERE id = $1");
DB_SQL(q_rev_hist, "SELECT rating, COUNT(*) FROM reviews WHERE product_id = $1 AND status = 'visible' GROUP BY rating");

#define LIST_SQL(name, key, dir, cmp)                                                                            \
    DB_SQL(name##_first, "SELECT " REV_COLS ", " key " FROM reviews WHERE product_id = $1 AND status = $2 "     \
                         "ORDER BY " key " " dir ", id " dir " LIMIT $3");                                       \
    DB_SQL(name##_after, "SELECT " REV_COLS ", " key " FROM reviews WHERE product_id = $1 AND status = $2 "     \
                         "AND (" key ", id) " cmp " ($3, $4) ORDER BY " key " " dir ", id " dir " LIMIT $5");
LIST_SQL(q_rev_newest, "created_at", "DESC", "<")
LIST_SQL(q_rev_rdesc, "rating", "DESC", "<")
LIST_SQL(q_rev_rasc, "rating", "ASC", ">")

static const db_sql_t *list_q[REVIEW_SORT_COUNT][2] = {
    { &q_rev_newest_first, &q_rev_newest_after },
    { &q_rev_rdesc_first, &q_rev_rdesc_after },
    { &q_rev_rasc_first, &q_rev_rasc_after },
};

static int dberr(int rc) { return rc == DB_EBUSY ? DB_EBUSY : rc == DB_ECONSTRAINT ? CAT_ECONFLICT : CAT_EDB; }

/* counts characters; false on control characters (newlines allowed in bodies) */
static bool text_ok(const char *s, size_t max, bool multiline)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80) n++;
        if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\r' || *p == '\t'))) || *p == 0x7F) return false;
    }
    return n <= max;
}

typedef struct rev_in {
    int has_rating, has_title, has_body;
    int64_t rating;
    const char *title, *body;
} rev_in_t;

static void parse(json_t *b, bool creating, rev_in_t *in, cat_result_t *res)
{
    memset(in, 0, sizeof *in);
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v) {
        if (!strcmp(k, "rating")) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 5)
                cat_result_field(res, "rating", "must be an integer from 1 to 5");
            else in->rating = json_integer_value(v), in->has_rating = 1;
        } else if (!strcmp(k, "title")) {
            if (!json_is_string(v) || !text_ok(json_string_value(v), REVIEW_TITLE_MAX, false))
                cat_result_field(res, "title", "must be a string of at most 200 characters");
            else in->title = json_string_value(v), in->has_title = 1;
        } else if (!strcmp(k, "body")) {
            if (!json_is_string(v) || !text_ok(json_string_value(v), REVIEW_BODY_MAX, true))
                cat_result_field(res, "body", "must be a string of at most 5000 characters");
            else in->body = json_string_value(v), in->has_body = 1;
        } else {
            cat_result_field(res, k, "unknown field (allowed: rating, title, body)");
        }
    }
    if (creating && !json_object_get(b, "rating")) cat_result_field(res, "rating", "required");
}

/* recomputes the product's rating aggregate from visible reviews */
static int refresh_aggregate(db_conn_t *c, const char *product_id)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_rev_agg, &rc, "s", product_id);
    if (!st) return dberr(rc);
    int64_t n = db_col_int(st, 0), sum = db_col_int(st, 1);
    db_reset(st);
    int64_t avg = n ? (sum * 100 + n / 2) / n : 0;
    int64_t e = db_exec(c, &q_rev_set_agg, "sLLL", product_id, n, sum, avg);
    return e < 0 ? dberr((int)e) : CAT_OK;
}

typedef struct rev_row {
    char id[48], product_id[48], author_id[48], seller_id[48];
    int64_t rating;
    int hidden;
} rev_row_t;

static int load(db_conn_t *c, const char *id, rev_row_t *r)
{
    int rc;
    db_stmt_t *st = db_query(c, &q_rev_load, &rc, "s", id);
    if (!st) return dberr(rc);
    if (rc != DB_ROW) {
        db_reset(st);
        return CAT_ENOTFOUND;
    }
    snprintf(r->id, sizeof r->id, "%s", db_col_text(st, 0));
    snprintf(r->product_id, sizeof r->product_id, "%s", db_col_text(st, 1));
    snprintf(r->author_id, sizeof r->author_id, "%s", db_col_text(st, 2));
    r->rating = db_col_int(st, 3);
    r->hidden = strcmp(db_col_text(st, 6), "hidden") == 0;
    db_reset(st);
    st = db_query(c, &q_rev_product, &rc, "s", r->product_id);
    if (!st) return dberr(rc);
    snprintf(r->seller_id, sizeof r->seller_id, "%s", rc == DB_ROW ? db_col_text(st, 0) : "");
    db_reset(st);
    return CAT_OK;
}

static int emit(db_conn_t *c, const char *type, const char *rid, const char *pid, const catalog_actor_t *actor,
                json_t *extra, cat_result_t *res)
{
    json_t *p = json_pack("{s:s, s:s}", "review_id", rid, "product_id", pid);
    if (extra) {
        json_object_update(p, extra);
        json_decref(extra);
    }
    int64_t ev = event_append(c, type, rid, actor->id, p);
    json_decref(p);
    if (ev < 0) return dberr((int)ev);
    res->event_id = ev;
    snprintf(res->id, sizeof res->id, "%s", rid);
    return CAT_OK;
}

typedef struct rev_ctx {
    const catalog_actor_t *actor;
    const char *id; /* product id (create) or review id */
    json_t *body;
    bool hide;
    const char *reason;
    cat_result_t *res;
    char product_id[48];
} rev_ctx_t;

static int create_tx(db_conn_t *c, void *vctx)
{
    rev_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    int rc;
    db_stmt_t *st = db_query(c, &q_rev_product, &rc, "s", x->id);
    if (!st) return dberr(rc);
    int ok = rc == DB_ROW && strcmp(db_col_text(st, 1), "published") == 0;
    int own = ok && strcmp(db_col_text(st, 0), x->actor->id) == 0;
    db_reset(st);
    if (!ok) return res->code = CAT_ENOTFOUND;
    if (own) {
        res->detail = "Sellers cannot review their own products.";
        return res->code = CAT_EFORBIDDEN;
    }
    rev_in_t in;
    parse(x->body, true, &in, res);
    if (res->code) return res->code;
    st = db_query(c, &q_rev_existing, &rc, "ss", x->id, x->actor->id);
    if (!st) return dberr(rc);
    if (rc == DB_ROW) {
        snprintf(res->id, sizeof res->id, "%s", db_col_text(st, 0));
        db_reset(st);
        res->detail = "You have already reviewed this product; edit your review instead.";
        return res->code = CAT_ECONFLICT;
    }
    db_reset(st);
    int verified = 0;
    if (g_verify) {
        verified = g_verify(c, x->id, x->actor->id, g_verify_ctx);
        if (verified < 0) return dberr(verified);
    }
    char id[ID_MAX];
    id_new(id, "rev");
    int64_t e = db_exec(c, &q_rev_insert, "sssLssiL", id, x->id, x->actor->id, in.rating, in.title ? in.title : "",
                        in.body ? in.body : "", verified ? 1 : 0, time_now_ms());
    if (e < 0) return dberr((int)e);
    if ((rc = refresh_aggregate(c, x->id)) != CAT_OK) return rc;
    snprintf(x->product_id, sizeof x->product_id, "%s", x->id);
    return emit(c, "review.created", id, x->id, x->actor,
                json_pack("{s:s, s:I, s:b}", "author_id", x->actor->id, "rating", (json_int_t)in.rating, "verified",
                          verified),
                res);
}

static int update_tx(db_conn_t *c, void *vctx)
{
    rev_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    rev_row_t r;
    int rc = load(c, x->id, &r);
    if (rc != CAT_OK) return res->code = rc;
    if (strcmp(r.author_id, x->actor->id) != 0) return res->code = CAT_ENOTFOUND;
    rev_in_t in;
    parse(x->body, false, &in, res);
    if (res->code) return res->code;
    /* fetch current title/body to keep unchanged fields */
    db_stmt_t *st = db_query(c, &q_rev_load, &rc, "s", x->id);
    if (!st) return dberr(rc);
    char *title = strdup(db_col_text(st, 4)), *body = strdup(db_col_text(st, 5));
    db_reset(st);
    int64_t e = db_exec(c, &q_rev_update, "sLssL", x->id, in.has_rating ? in.rating : r.rating,
                        in.has_title ? in.title : title, in.has_body ? in.body : body, time_now_ms());
    free(title);
    free(body);
    if (e < 0) return dberr((int)e);
    if ((rc = refresh_aggregate(c, r.product_id)) != CAT_OK) return rc;
    snprintf(x->product_id, sizeof x->product_id, "%s", r.product_id);
    return emit(c, "review.updated", r.id, r.product_id, x->actor,
                json_pack("{s:I}", "rating", (json_int_t)(in.has_rating ? in.rating : r.rating)), res);
}

static int reply_tx(db_conn_t *c, void *vctx)
{
    rev_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    rev_row_t r;
    int rc = load(c, x->id, &r);
    if (rc != CAT_OK) return res->code = rc;
    if (!x->actor->admin && strcmp(r.seller_id, x->actor->id) != 0) {
        res->detail = "Only the product's seller can reply.";
        return res->code = x->actor->seller ? CAT_EFORBIDDEN : CAT_EFORBIDDEN;
    }
    const char *k;
    json_t *v;
    json_object_foreach(x->body, k, v) if (strcmp(k, "body")) cat_result_field(res, k, "unknown field (allowed: body)");
    json_t *b = json_object_get(x->body, "body");
    if (!json_is_string(b) || !text_ok(json_string_value(b), REVIEW_BODY_MAX, true))
        cat_result_field(res, "body", "required: a string of at most 5000 characters (empty removes the reply)");
    if (res->code) return res->code;
    const char *text = json_string_value(b);
    int64_t now = time_now_ms();
    int64_t e = text[0] ? db_exec(c, &q_rev_reply, "sssL", x->id, text, x->actor->id, now)
                        : db_exec(c, &q_rev_reply, "sNNL", x->id, now);
    if (e < 0) return dberr((int)e);
    snprintf(x->product_id, sizeof x->product_id, "%s", r.product_id);
    return emit(c, text[0] ? "review.replied" : "review.reply_removed", r.id, r.product_id, x->actor, NULL, res);
}

static int moderate_tx(db_conn_t *c, void *vctx)
{
    rev_ctx_t *x = vctx;
    cat_result_t *res = x->res;
    cat_result_clear(res);
    rev_row_t r;
    int rc = load(c, x->id, &r);
    if (rc != CAT_OK) return res->code = rc;
    if (x->hide && (!x->reason || !x->reason[0] || !text_ok(x->reason, 1000, true))) {
        cat_result_field(res, "reason", "required: 1 to 1000 characters");
        return res->code;
    }
    int64_t e = db_exec(c, &q_rev_moderate, "sssL", x->id, x->hide ? "hidden" : "visible", x->hide ? x->reason : NULL,
                        time_now_ms());
    if (e < 0) return dberr((int)e);
    if ((rc = refresh_aggregate(c, r.product_id)) != CAT_OK) return rc;
    snprintf(x->product_id, sizeof x->product_id, "%s", r.product_id);
    return emit(c, x->hide ? "review.hidden" : "review.shown", r.id, r.product_id, x->actor,
                x->hide ? json_pack("{s:s}", "reason", x->reason) : NULL, res);
}

static int run(db_t *db, rev_ctx_t *x, db_tx_fn fn, const char *prefix)
{
    memset(x->res, 0, sizeof *x->res);
    if (!x->actor || !x->actor->id) {
        x->res->detail = "Sign in first.";
        return x->res->code = CAT_EFORBIDDEN;
    }
    if (!id_valid(x->id, strlen(x->id), prefix)) return x->res->code = CAT_ENOTFOUND;
    int rc = db_tx(db, fn, x);
    if (rc == 0) {
        catalog_cache_invalidate(x->product_id); /* the product's rating changed */
        return CAT_OK;
    }
    if (x->res->code == 0) x->res->code = rc == DB_ECONSTRAINT ? CAT_ECONFLICT : CAT_EDB;
    return x->res->code;
}

int review_create(db_t *db, const catalog_actor_t *actor, const char *product_id, json_t *body, cat_result_t *res)
{
    rev_ctx_t x = { .actor = actor, .id = product_id, .body = body, .res = res };
    return run(db, &x, create_tx, "prod");
}

int review_update(db_t *db, const catalog_actor_t *actor, const char *review_id, json_t *body, cat_result_t *res)
{
    rev_ctx_t x = { .actor = actor, .id = review_id, .body = body, .res = res };
    return run(db, &x, update_tx, "rev");
}

int review_reply(db_t *db, const catalog_actor_t *actor, const char *review_id, json_t *body, cat_result_t *res)
{
    if (actor && actor->id && !actor->seller && !actor->admin) {
        memset(res, 0, sizeof *res);
        res->detail = "Only the product's seller can reply.";
        return res->code = CAT_EFORBIDDEN;
    }
    rev_ctx_t x = { .actor = actor, .id = review_id, .body = body, .res = res };
    return run(db, &x, reply_tx, "rev");
}

int review_moderate(db_t *db, const catalog_actor_t *actor, const char *review_id, bool hide, const char *reason,
                    cat_result_t *res)
{
    if (!actor || !actor->admin) {
        memset(res, 0, sizeof *res);
        res->detail = "Only admins can moderate reviews.";
        return res->code = CAT_EFORBIDDEN;
    }
    rev_ctx_t x = { .actor = actor, .id = review_id, .hide = hide, .reason = reason, .res = res };
    return run(db, &x, moderate_tx, "rev");
}

/* ---- reads ---- */

static json_t *time_or_null(db_stmt_t *st, int col)
{
    if (db_col_is_null(st, col)) return json_null();
    char t[32];
    return json_string(time_fmt_rfc3339(t, db_col_int(st, col)));
}

static json_t *row_json(db_stmt_t *st, bool moderation)
{
    json_t *r = json_object();
    json_object_set_new(r, "id", json_string(db_col_text(st, 0)));
    json_object_set_new(r, "product_id", json_string(db_col_text(st, 1)));
    json_object_set_new(r, "author_id", json_string(db_col_text(st, 2)));
    json_object_set_new(r, "rating", json_integer(db_col_int(st, 3)));
    json_object_set_new(r, "title", json_string(db_col_text(st, 4)));
    json_object_set_new(r, "body", json_string(db_col_text(st, 5)));
    json_object_set_new(r, "verified", json_boolean(db_col_int(st, 8)));
    if (moderation) {
        json_object_set_new(r, "status", json_string(db_col_text(st, 6)));
        json_object_set_new(r, "hidden_reason", db_col_is_null(st, 7) ? json_null() : json_string(db_col_text(st, 7)));
    }
    if (db_col_is_null(st, 9))
        json_object_set_new(r, "reply", json_null());
    else
        json_object_set_new(r, "reply", json_pack("{s:s, s:o}", "body", db_col_text(st, 9), "created_at", time_or_null(st, 10)));
    json_object_set_new(r, "created_at", time_or_null(st, 11));
    json_object_set_new(r, "updated_at", time_or_null(st, 12));
    return r;
}

json_t *review_get_json(db_conn_t *c, const char *review_id, bool include_hidden, int *rc)
{
    if (!id_valid(review_id, strlen(review_id), "rev")) {
        *rc = CAT_ENOTFOUND;
        return NULL;
    }
    int qrc;
    db_stmt_t *st = db_query(c, &q_rev_load, &qrc, "s", review_id);
    if (!st) {
        *rc = CAT_EDB;
        return NULL;
    }
    json_t *r = NULL;
    if (qrc == DB_ROW && (include_hidden || strcmp(db_col_text(st, 6), "visible") == 0)) r = row_json(st, include_hidden);
    db_reset(st);
    *rc = r ? CAT_OK : CAT_ENOTFOUND;
    return r;
}

json_t *review_list_json(db_conn_t *c, arena_t *a, const char *product_id, review_sort_t sort, bool hidden,
                         const char *cursor, int limit, int *rc)
{
    if (!id_valid(product_id, strlen(product_id), "prod")) {
        *rc = CAT_ENOTFOUND;
        return NULL;
    }
    int qrc;
    db_stmt_t *st = db_query(c, &q_rev_product, &qrc, "s", product_id);
    if (!st) {
        *rc = CAT_EDB;
        return NULL;
    }
    int ok = qrc == DB_ROW && (hidden || strcmp(db_col_text(st, 1), "published") == 0);
    db_reset(st);
    if (!ok) {
        *rc = CAT_ENOTFOUND;
        return NULL;
    }
    catalog_cursor_t cur;
    if (cursor && (catalog_cursor_decode(cursor, &cur) < 0 || cur.sort != (int)sort || strncmp(cur.id, "rev_", 4))) {
        *rc = CAT_EINVALID;
        return NULL;
    }
    if (limit < 1) limit = 1;
    if (limit > CAT_LIST_LIMIT_MAX) limit = CAT_LIST_LIMIT_MAX;
    const char *status = hidden ? "hidden" : "visible";
    if (cursor)
        st = db_query(c, list_q[sort][1], &qrc, "ssLsi", product_id, status, cur.key, cur.id, limit + 1);
    else
        st = db_query(c, list_q[sort][0], &qrc, "ssi", product_id, status, limit + 1);
    if (!st) {
        *rc = CAT_EDB;
        return NULL;
    }
    json_t *items = json_array();
    char *next = NULL;
    int64_t last_key = 0;
    char last_id[48] = "";
    while (qrc == DB_ROW) {
        if ((int)json_array_size(items) == limit) {
            catalog_cursor_t nc = { .sort = (int)sort, .key = last_key };
            snprintf(nc.id, sizeof nc.id, "%s", last_id);
            next = catalog_cursor_encode(a, &nc);
            break;
        }
        json_array_append_new(items, row_json(st, hidden));
        last_key = db_col_int(st, 13);
        snprintf(last_id, sizeof last_id, "%s", db_col_text(st, 0));
        qrc = db_step(st);
    }
    db_reset(st);
    if (qrc < 0) {
        json_decref(items);
        *rc = CAT_EDB;
        return NULL;
    }
    int64_t hist[6] = { 0 }, n = 0, sum = 0;
    st = db_query(c, &q_rev_hist, &qrc, "s", product_id);
    if (!st) {
        json_decref(items);
        *rc = CAT_EDB;
        return NULL;
    }
    while (qrc == DB_ROW) {
        int64_t r = db_col_int(st, 0);
        if (r >= 1 && r <= 5) {
            hist[r] = db_col_int(st, 1);
            n += hist[r];
            sum += r * hist[r];
        }
        qrc = db_step(st);
    }
    db_reset(st);
    json_t *h = json_object();
    for (int r = 1; r <= 5; r++) {
        char k[2] = { (char)('0' + r), 0 };
        json_object_set_new(h, k, json_integer(hist[r]));
    }
    *rc = CAT_OK;
    return json_pack("{s:o, s:o, s:{s:o, s:I, s:o}}", "items", items, "next_cursor", next ? json_string(next) : json_null(),
                     "rating", "average", n ? json_real((double)((sum * 100 + n / 2) / n) / 100.0) : json_null(), "count",
                     (json_int_t)n, "histogram", h);
}
