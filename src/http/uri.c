/*
 * uri.c — strict request-target parser (see uri.h).
 */
#include "http/uri.h"

#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int uri_decode(arena_t *a, const char *s, size_t len, int plus_space, char **out)
{
    char *d = arena_alloc(a, len + 1);
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len) return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (char)(h * 16 + l);
            if (c == '\0') return -1;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == '\0') {
            return -1;
        }
        d[j++] = c;
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

static int parse_path(arena_t *a, const char *p, size_t len, const char **out, const char **err)
{
    char *d = arena_alloc(a, len + 1);
    size_t j = 0, seg_start = 1;
    if (len == 0 || p[0] != '/') {
        *err = "The request target must be an absolute path starting with '/'.";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%') {
            if (i + 2 >= len) goto bad_escape;
            int h = hexval(p[i + 1]), l = hexval(p[i + 2]);
            if (h < 0 || l < 0) goto bad_escape;
            c = (unsigned char)(h * 16 + l);
            i += 2;
            if (c == 0) {
                *err = "The path contains an encoded NUL byte.";
                return -1;
            }
            if (c == '/' || c == '\\') {
                *err = "The path contains an encoded slash.";
                return -1;
            }
        }
        if (c < 0x20 || c == 0x7f) {
            *err = "The path contains a control character.";
            return -1;
        }
        if (c == '/') {
            /* check the segment that just ended for dot segments */
            size_t sl = j - seg_start;
            if ((sl == 1 && d[seg_start] == '.') ||
                (sl == 2 && d[seg_start] == '.' && d[seg_start + 1] == '.')) {
                *err = "The path contains a '.' or '..' segment.";
                return -1;
            }
            d[j++] = '/';
            seg_start = j;
            continue;
        }
        d[j++] = (char)c;
    }
    size_t sl = j - seg_start;
    if ((sl == 1 && d[seg_start] == '.') ||
        (sl == 2 && d[seg_start] == '.' && d[seg_start + 1] == '.')) {
        *err = "The path contains a '.' or '..' segment.";
        return -1;
    }
    d[j] = '\0';
    *out = d;
    return 0;
bad_escape:
    *err = "The path contains a malformed percent-escape.";
    return -1;
}

int uri_parse(arena_t *a, const char *raw, size_t len, uri_t *out, const char **err)
{
    memset(out, 0, sizeof *out);
    const char *q = memchr(raw, '?', len);
    size_t plen = q ? (size_t)(q - raw) : len;
    /* a fragment never reaches a server, but refuse it rather than route it */
    if (memchr(raw, '#', len)) {
        *err = "The request target must not contain a fragment.";
        return -1;
    }
    if (parse_path(a, raw, plen, &out->path, err) < 0) return -1;
    if (!q) return 0;
    const char *s = q + 1, *end = raw + len;
    size_t cap = 0;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        if (e > s) {
            if (out->nquery >= URI_MAX_QUERY_PARAMS) {
                *err = "The query string has too many parameters.";
                return -1;
            }
            if (out->nquery == cap) {
                size_t nc = cap ? cap * 2 : 8;
                uri_param_t *np = arena_alloc(a, nc * sizeof *np);
                if (cap) memcpy(np, out->query, cap * sizeof *np);
                out->query = np;
                cap = nc;
            }
            const char *eq = memchr(s, '=', (size_t)(e - s));
            char *name, *value;
            size_t nl = eq ? (size_t)(eq - s) : (size_t)(e - s);
            for (const char *c = s; c < e; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                    *err = "The query string contains a control character.";
                    return -1;
                }
            if (uri_decode(a, s, nl, 1, &name) < 0 ||
                (eq ? uri_decode(a, eq + 1, (size_t)(e - eq - 1), 1, &value)
                    : uri_decode(a, "", 0, 1, &value)) < 0) {
                *err = "The query string contains a malformed percent-escape or an encoded NUL.";
                return -1;
            }
            if (name[0] == '\0') {
                *err = "The query string contains a parameter without a name.";
                return -1;
            }
            out->query[out->nquery].name = name;
            out->query[out->nquery].value = value;
            out->nquery++;
        }
        if (!amp) break;
        s = amp + 1;
    }
    return 0;
}
