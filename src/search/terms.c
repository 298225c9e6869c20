/*
 * terms.c — the autocomplete vocabulary (see terms.h).
 */
#include "search/terms.h"

#include <stdlib.h>
#include <string.h>

#include "search/text.h"

DB_SQL(q_term_inc, "INSERT INTO search_terms (term, docs) VALUES ($1, 1) "
                   "ON CONFLICT (term) DO UPDATE SET docs = search_terms.docs + 1");
DB_SQL(q_term_dec, "UPDATE search_terms SET docs = docs - 1 WHERE term = $1");
DB_SQL(q_term_del, "DELETE FROM search_terms WHERE term = $1 AND docs <= 0");
DB_SQL(q_term_prefix, "SELECT term, docs FROM search_terms WHERE term >= $1 AND term < $2 "
                      "ORDER BY docs DESC, term LIMIT $3");
DB_SQL2(q_term_fuzzy,
        /* SQLite: candidates share the first letter; similarity is computed in C */
        "SELECT term, docs FROM search_terms WHERE term >= $1 AND term < $2 LIMIT 5000",
        /* PostgreSQL: the trigram index does the work */
        "SELECT term, docs FROM search_terms WHERE term % $1 "
        "ORDER BY similarity(term, $1) DESC, docs DESC, term LIMIT $2");

#define TERM_MIN_BYTES 2

static int contains(const search_tokens_t *t, const char *w)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->tok[i], w) == 0) return 1;
    return 0;
}

/* distinct tokens of at least TERM_MIN_BYTES */
static void distinct_words(arena_t *a, const char *title, search_tokens_t *out)
{
    search_tokens_t all;
    memset(out, 0, sizeof *out);
    if (!title) return;
    search_tokenize(a, title, strlen(title), &all);
    for (size_t i = 0; i < all.n; i++)
        if (strlen(all.tok[i]) >= TERM_MIN_BYTES && !contains(out, all.tok[i])) out->tok[out->n++] = all.tok[i];
}

int search_terms_update(db_conn_t *c, arena_t *a, const char *old_title, const char *new_title)
{
    search_tokens_t o, n;
    distinct_words(a, old_title, &o);
    distinct_words(a, new_title, &n);
    for (size_t i = 0; i < o.n; i++) {
        if (contains(&n, o.tok[i])) continue;
        int64_t rc = db_exec(c, &q_term_dec, "s", o.tok[i]);
        if (rc < 0) return (int)rc;
        rc = db_exec(c, &q_term_del, "s", o.tok[i]);
        if (rc < 0) return (int)rc;
    }
    for (size_t i = 0; i < n.n; i++) {
        if (contains(&o, n.tok[i])) continue;
        int64_t rc = db_exec(c, &q_term_inc, "s", n.tok[i]);
        if (rc < 0) return (int)rc;
    }
    return 0;
}

/* ---- trigram similarity, as pg_trgm computes it for one word ---- */

typedef struct { char g[12]; } trigram_t; /* up to 3 UTF-8 characters */

static int trigram_cmp(const void *x, const void *y) { return strcmp(((const trigram_t *)x)->g, ((const trigram_t *)y)->g); }

/* word padded as "  word " split into character trigrams, sorted, unique */
static size_t trigrams(const char *w, trigram_t *out, size_t max)
{
    /* character offsets of the padded word */
    const char *chars[SEARCH_TOKEN_BYTES + 4];
    size_t lens[SEARCH_TOKEN_BYTES + 4];
    size_t nc = 0;
    chars[nc] = " ";
    lens[nc++] = 1;
    chars[nc] = " ";
    lens[nc++] = 1;
    size_t len = strlen(w);
    for (size_t i = 0; i < len && nc < SEARCH_TOKEN_BYTES + 3;) {
        long cp;
        int k = search_utf8_next((const unsigned char *)w + i, len - i, &cp);
        chars[nc] = w + i;
        lens[nc++] = (size_t)k;
        i += (size_t)k;
    }
    chars[nc] = " ";
    lens[nc++] = 1;
    size_t n = 0;
    for (size_t i = 0; i + 2 < nc && n < max; i++) {
        size_t l = lens[i] + lens[i + 1] + lens[i + 2];
        if (l >= sizeof out[n].g) continue;
        memcpy(out[n].g, chars[i], lens[i]);
        memcpy(out[n].g + lens[i], chars[i + 1], lens[i + 1]);
        memcpy(out[n].g + lens[i] + lens[i + 1], chars[i + 2], lens[i + 2]);
        out[n].g[l] = '\0';
        n++;
    }
    qsort(out, n, sizeof *out, trigram_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(out[u - 1].g, out[i].g) != 0) out[u++] = out[i];
    return u;
}

double search_trigram_similarity(const char *a, const char *b)
{
    trigram_t ta[SEARCH_TOKEN_BYTES + 4], tb[SEARCH_TOKEN_BYTES + 4];
    size_t na = trigrams(a, ta, SEARCH_TOKEN_BYTES + 4), nb = trigrams(b, tb, SEARCH_TOKEN_BYTES + 4);
    if (na == 0 || nb == 0) return 0;
    size_t i = 0, j = 0, common = 0;
    while (i < na && j < nb) {
        int c = strcmp(ta[i].g, tb[j].g);
        if (c == 0) {
            common++;
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    return (double)common / (double)(na + nb - common);
}

#define FUZZY_THRESHOLD 0.3 /* pg_trgm.similarity_threshold's default */

static int hit_cmp(const void *x, const void *y)
{
    const search_term_hit_t *a = x, *b = y;
    /* fuzzy hits are sorted by similarity, kept in docs as a scaled key */
    if (a->docs != b->docs) return a->docs > b->docs ? -1 : 1;
    return strcmp(a->term, b->term);
}

static int seen(const search_term_hit_t *h, int n, const char *t)
{
    for (int i = 0; i < n; i++)
        if (strcmp(h[i].term, t) == 0) return 1;
    return 0;
}

int search_terms_complete(db_conn_t *c, arena_t *a, const char *prefix, int max, search_term_hit_t *out)
{
    if (max > 20) max = 20;
    if (max <= 0 || !prefix[0]) return 0;
    char *upper = arena_sprintf(a, "%s\xf4\x8f\xbf\xbf", prefix);
    int rc, n = 0;
    db_stmt_t *st = db_query(c, &q_term_prefix, &rc, "ssi", prefix, upper, max);
    if (!st) return rc;
    while (rc == DB_ROW) {
        out[n].term = arena_strdup(a, db_col_text(st, 0));
        out[n].docs = db_col_int(st, 1);
        out[n].fuzzy = 0;
        n++;
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) return rc;
    if (n >= max || strlen(prefix) < 3) return n;

    if (db_conn_kind(c) == DB_POSTGRES) {
        st = db_query(c, &q_term_fuzzy, &rc, "si", prefix, max);
        if (!st) return rc;
        while (rc == DB_ROW && n < max) {
            const char *t = db_col_text(st, 0);
            if (!seen(out, n, t)) {
                out[n].term = arena_strdup(a, t);
                out[n].docs = db_col_int(st, 1);
                out[n].fuzzy = 1;
                n++;
            }
            rc = db_step(st);
        }
        db_reset(st);
        return rc < 0 ? rc : n;
    }
    /* SQLite: words sharing the first character, ranked in C */
    long cp;
    int k = search_utf8_next((const unsigned char *)prefix, strlen(prefix), &cp);
    char *lo = arena_strndup(a, prefix, (size_t)k);
    char *hi = arena_sprintf(a, "%s\xf4\x8f\xbf\xbf", lo);
    st = db_query(c, &q_term_fuzzy, &rc, "ss", lo, hi);
    if (!st) return rc;
    search_term_hit_t cand[20];
    int nc = 0;
    while (rc == DB_ROW) {
        const char *t = db_col_text(st, 0);
        double sim = search_trigram_similarity(t, prefix);
        if (sim >= FUZZY_THRESHOLD && !seen(out, n, t)) {
            int64_t key = (int64_t)(sim * 1e6) * 1000000 + (db_col_int(st, 1) % 1000000);
            if (nc < 20) {
                cand[nc].term = arena_strdup(a, t);
                cand[nc].docs = key;
                cand[nc].fuzzy = 1;
                nc++;
            } else {
                int worst = 0;
                for (int i = 1; i < nc; i++)
                    if (hit_cmp(&cand[i], &cand[worst]) > 0) worst = i;
                search_term_hit_t h = { arena_strdup(a, t), key, 1 };
                if (hit_cmp(&h, &cand[worst]) < 0) cand[worst] = h;
            }
        }
        rc = db_step(st);
    }
    db_reset(st);
    if (rc < 0) return rc;
    qsort(cand, (size_t)nc, sizeof *cand, hit_cmp);
    for (int i = 0; i < nc && n < max; i++) {
        out[n] = cand[i];
        out[n].docs = cand[i].docs % 1000000;
        n++;
    }
    return n;
}
