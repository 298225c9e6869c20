/*
 * fuzz_search_cursor.c — libFuzzer harness for catalog_cursor_decode() and
 * catalog_cursor_encode() (src/catalog/listing.c), the opaque ?cursor= of
 * product lists, search and reviews.
 *
 * Why: a cursor is client bytes (base64url of "v1.<sort>.<key>.<id>") whose
 * fields are bound into keyset SQL; a decoder that accepts junk would page
 * from the wrong place, one that overflows would crash.
 *
 * DESIGN
 * Decode the input as a NUL-terminated string.  A refusal must leave a
 * zeroed cursor.  An accepted cursor must have a known sort, an id that is a
 * valid prod_ or rev_ id, and must survive encode → decode unchanged; its
 * canonical encoding must decode to the same fields too (so a client can
 * never make two cursors that mean different pages from one).  The input is
 * also used as raw cursor fields (sort, key, id text) to check that
 * encode → decode is exact for every well-formed cursor the server makes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/listing.h"
#include "util/id.h"

static void fail(const char *what, const char *s)
{
    fprintf(stderr, "fuzz_search_cursor: %s: %s\n", what, s ? s : "");
    abort();
}

static int same(const catalog_cursor_t *x, const catalog_cursor_t *y)
{
    return x->sort == y->sort && x->key == y->key && strcmp(x->id, y->id) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024) return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    arena_t *a = arena_new();
    catalog_cursor_t c, d, zero;
    memset(&zero, 0, sizeof zero);
    if (catalog_cursor_decode(s, &c) < 0) {
        if (memcmp(&c, &zero, sizeof c) != 0) fail("refused cursor not zeroed", s);
    } else {
        if (c.sort < 0 || c.sort >= PRODUCT_SORT_COUNT) fail("sort out of range", s);
        size_t n = strnlen(c.id, sizeof c.id);
        if (n == sizeof c.id) fail("id not terminated", s);
        if (!id_valid(c.id, n, "prod") && !id_valid(c.id, n, "rev")) fail("id not a prod_ or rev_ id", s);
        char *e = catalog_cursor_encode(a, &c);
        if (catalog_cursor_decode(e, &d) < 0 || !same(&c, &d)) fail("encode/decode round trip", s);
    }
    /* the bytes as fields of a cursor the server would make */
    if (size >= 9) {
        catalog_cursor_t m = { .sort = data[0] % PRODUCT_SORT_COUNT };
        memcpy(&m.key, data + 1, sizeof m.key);
        /* a syntactically valid id: the prefix plus 26 base32 characters from the rest */
        static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";
        int k = snprintf(m.id, sizeof m.id, "%s_", (data[0] & 0x80) ? "rev" : "prod");
        for (size_t i = 0; i < 26; i++) m.id[k + i] = b32[(i + 9 < size ? data[i + 9] : 0) & 31];
        m.id[k + 26] = '\0';
        if (id_valid(m.id, strlen(m.id), (data[0] & 0x80) ? "rev" : "prod")) {
            char *e = catalog_cursor_encode(a, &m);
            if (catalog_cursor_decode(e, &d) < 0 || !same(&m, &d)) fail("made cursor does not round-trip", m.id);
        }
    }
    arena_free(a);
    free(s);
    return 0;
}
