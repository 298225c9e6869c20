/*
 * uri.h — parsing of the raw request target (path and query string).
 *
 * This is the first code that reads client bytes, so it is strict and
 * fuzzed: the path must be origin-form ("/..."), percent-escapes must be
 * well-formed, and anything that could make two different byte strings name
 * the same resource or smuggle a terminator is refused: NUL (%00), control
 * characters, encoded slashes (%2F) and dot segments ("." / "..").  The
 * query string is split on '&', '+' means space, and every name and value
 * is percent-decoded (NUL refused there too).
 */
#ifndef MERCATO_HTTP_URI_H
#define MERCATO_HTTP_URI_H

#include <stddef.h>

#include "util/arena.h"

#define URI_MAX_QUERY_PARAMS 64

typedef struct uri_param {
    const char *name;  /* decoded, NUL-terminated, arena-owned */
    const char *value; /* decoded, NUL-terminated ("" for "?flag") */
} uri_param_t;

typedef struct uri {
    const char *path;  /* decoded, NUL-terminated, arena-owned */
    size_t nquery;
    uri_param_t *query; /* arena-owned array */
} uri_t;

/* Parses raw[0..len).  0 on success; -1 with *err set to a static English
 * sentence suitable for a 400 problem detail. */
int uri_parse(arena_t *a, const char *raw, size_t len, uri_t *out, const char **err);

/* Percent-decodes s[0..len) into a new arena string; plus_space turns '+'
 * into ' '.  -1 for a bad escape or a decoded NUL. */
int uri_decode(arena_t *a, const char *s, size_t len, int plus_space, char **out);

#endif
