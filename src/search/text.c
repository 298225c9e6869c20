/*
 * text.c — tokenizer, folding and safe query construction (see text.h).
 *
 * Folding covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 * capitals; other scripts pass through unchanged (the engines fold them
 * themselves when matching; our folded form only feeds the autocomplete
 * vocabulary, exact-title boosting and cache keys).
 */
#include "search/text.h"

#include <string.h>

#include "util/buf.h"

/* U+0100..U+017F folded to an ASCII letter; '.' keeps the code point. */
static const char latin_ext_a[129] =
    "aaaaaa" "cccccccc" "dddd" "eeeeeeeeee" "gggggggg" "hhhh" "iiiiiiiiii" ".." "jj" "kkk"
    "llllllllll" "nnnnnnnnn" "oooooo" ".." "rrrrrr" "ssssssss" "tttttt" "uuuuuuuuuuuu" "ww" "yyy"
    "zzzzzz" "s";

/* U+00C0..U+00FF: ASCII letter, '.' keep (after lower-casing), ' ' separator. */
static const char latin1[65] =
    "aaaaaa.ceeeeiiii.nooooo ouuuuy.."  /* C0..DF */
    "aaaaaa.ceeeeiiii.nooooo ouuuuy.y"; /* E0..FF */

int search_utf8_next(const unsigned char *s, size_t len, long *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int n;
    long v, min;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        *cp = -1;
        return 1;
    }
    if ((size_t)n > len) {
        *cp = -1;
        return 1;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = -1;
        return 1;
    }
    *cp = v;
    return n;
}

/* Is this code point part of a word? */
static bool word_char(long cp)
{
    if (cp < 0) return false;
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    if (cp < 0xC0) return cp == 0xAA || cp == 0xB5 || cp == 0xBA; /* Latin-1 punctuation and symbols */
    if (cp == 0xD7 || cp == 0xF7) return false;                   /* x and divide signs */
    if (cp >= 0x2000 && cp <= 0x2BFF) return false;                /* punctuation, symbols, arrows */
    if (cp >= 0x2E00 && cp <= 0x2E7F) return false;
    if (cp >= 0x3000 && cp <= 0x303F) return false;                /* CJK punctuation */
    if (cp >= 0xFE00 && cp <= 0xFE0F) return false;                /* variation selectors */
    if (cp >= 0xFE30 && cp <= 0xFE4F) return false;
    if (cp >= 0xFF00 && cp <= 0xFF0F) return false;
    if (cp == 0xFEFF || cp == 0xFFFD) return false;
    if (cp >= 0x1F000 && cp <= 0x1FAFF) return false;              /* emoji and pictographs */
    if (cp >= 0xE0000) return false;                               /* tags, private use */
    if (cp >= 0xE000 && cp <= 0xF8FF) return false;
    if (cp >= 0x0300 && cp <= 0x036F) return true;                 /* combining marks stay inside words */
    return true;
}

/* Folds one word code point; returns the folded code point, or -2 to drop
 * it (combining diacritical marks). */
static long fold_cp(long cp)
{
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xFF) {
        char f = latin1[cp - 0xC0];
        if (f != '.' && f != ' ') return f;
        if (cp >= 0xC0 && cp <= 0xDE) return cp + 0x20; /* Æ -> æ, Ð -> ð, Þ -> þ */
        return cp;
    }
    if (cp >= 0x100 && cp <= 0x17F) {
        char f = latin_ext_a[cp - 0x100];
        if (f != '.') return f;
        return (cp & 1) ? cp : cp + 1; /* Ĳ -> ĳ, Œ -> œ */
    }
    if (cp >= 0x0300 && cp <= 0x036F) return -2;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 0x20; /* Greek capitals */
    if (cp >= 0x410 && cp <= 0x42F) return cp + 0x20;                /* Cyrillic capitals */
    if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
    return cp;
}

static void put_cp(buf_t *b, long cp)
{
    char u[4];
    int n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, u, (size_t)n);
}

void search_tokenize(arena_t *a, const char *s, size_t len, search_tokens_t *out)
{
    memset(out, 0, sizeof *out);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    buf_t w = BUF_INIT(SEARCH_TOKEN_BYTES + 8);
    while (i < len) {
        long cp;
        int k = search_utf8_next(p + i, len - i, &cp);
        i += (size_t)k;
        bool wc = word_char(cp);
        if (wc) {
            long f = fold_cp(cp);
            /* keep whole characters only: stop growing at the byte cap */
            if (f >= 0 && w.len + 4 <= SEARCH_TOKEN_BYTES) put_cp(&w, f);
        }
        if ((!wc || i >= len) && w.len > 0) {
            if (out->n < SEARCH_TOKENS_MAX) {
                out->tok[out->n++] = arena_strndup(a, w.ptr, w.len);
            } else {
                out->truncated = true;
            }
            buf_reset(&w);
        }
    }
    buf_free(&w);
}

char *search_fold(arena_t *a, const char *s, size_t len)
{
    buf_t b = BUF_INIT(0);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    bool pending_space = false;
    while (i < len) {
        long cp;
        int k = search_utf8_next(p + i, len - i, &cp);
        i += (size_t)k;
        if (!word_char(cp)) {
            if (b.len) pending_space = true;
            continue;
        }
        long f = fold_cp(cp);
        if (f < 0) continue;
        if (pending_space) {
            buf_putc(&b, ' ');
            pending_space = false;
        }
        put_cp(&b, f);
    }
    char *r = arena_strndup(a, b.ptr ? b.ptr : "", b.len);
    buf_free(&b);
    return r;
}

char *search_fts5_expr(arena_t *a, const search_tokens_t *t, bool prefix_last)
{
    if (t->n == 0) return NULL;
    buf_t b = BUF_INIT(0);
    for (size_t i = 0; i < t->n; i++) {
        if (i) buf_putc(&b, ' ');
        buf_putc(&b, '"');
        /* tokens hold no ASCII punctuation, but double any quote anyway */
        for (const char *c = t->tok[i]; *c; c++) {
            if (*c == '"') buf_putc(&b, '"');
            buf_putc(&b, *c);
        }
        buf_putc(&b, '"');
        if (prefix_last && i + 1 == t->n) buf_putc(&b, '*');
    }
    char *r = arena_strndup(a, b.ptr, b.len);
    buf_free(&b);
    return r;
}

char *search_tokens_join(arena_t *a, const search_tokens_t *t)
{
    buf_t b = BUF_INIT(0);
    for (size_t i = 0; i < t->n; i++) {
        if (i) buf_putc(&b, ' ');
        buf_puts(&b, t->tok[i]);
    }
    char *r = arena_strndup(a, b.ptr ? b.ptr : "", b.len);
    buf_free(&b);
    return r;
}
