/*
 * fuzz_uri.c — libFuzzer harness for the request-target parser (uri.c).
 *
 * uri_parse is the first code that reads client bytes, so beyond "does not
 * crash" the harness checks the promises uri.h makes about a target it
 * accepts: the decoded path starts with '/', holds no NUL, no control byte
 * and no "." or ".." segment; every query name is non-empty; the parameter
 * count respects URI_MAX_QUERY_PARAMS; and parsing is deterministic.  A
 * broken promise aborts, which libFuzzer and the corpus replay report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/uri.h"

static void check_path(const char *p)
{
    if (p[0] != '/') abort();
    const char *seg = p + 1;
    for (const char *c = p + 1;; c++) {
        if (*c == '/' || *c == '\0') {
            size_t n = (size_t)(c - seg);
            if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) abort();
            if (*c == '\0') break;
            seg = c + 1;
            continue;
        }
        if ((unsigned char)*c < 0x20 || *c == 0x7f) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_t *a = arena_new();
    uri_t u, u2;
    const char *err = NULL, *err2 = NULL;
    int rc = uri_parse(a, (const char *)data, size, &u, &err);
    int rc2 = uri_parse(a, (const char *)data, size, &u2, &err2);
    if (rc != rc2) abort();
    if (rc == 0) {
        check_path(u.path);
        if (strcmp(u.path, u2.path) != 0) abort();
        /* the decoded path can only be shorter than the raw bytes */
        if (strlen(u.path) > size) abort();
        if (u.nquery > URI_MAX_QUERY_PARAMS || u.nquery != u2.nquery) abort();
        for (size_t i = 0; i < u.nquery; i++) {
            if (!u.query[i].name[0]) abort();
            if (!u.query[i].value) abort();
            if (strcmp(u.query[i].name, u2.query[i].name) || strcmp(u.query[i].value, u2.query[i].value))
                abort();
        }
        /* fragments are refused, never routed */
        if (memchr(data, '#', size)) abort();
    } else {
        if (!err || !err[0]) abort();
    }
    arena_free(a);
    return 0;
}
