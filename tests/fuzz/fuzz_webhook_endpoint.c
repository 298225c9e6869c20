/*
 * fuzz_webhook_endpoint.c — libFuzzer harness for the webhook endpoint body
 * and URL validation (src/webhooks/sign.c).
 *
 * Why: the admin API feeds client bytes into webhook_input_parse() and
 * webhook_url_check() (which drives curl's URL parser and inet_pton), and a
 * URL that passes is later handed to curl by a worker.
 *
 * DESIGN
 * The input is tried twice: as a JSON body (create and update rules, with
 * and without private addresses allowed) and, NUL-terminated, as a bare
 * URL.  Invariants: the error count equals the errors appended; a valid
 * create has a url and event types; every accepted URL passes the check
 * again, is at most WEBHOOK_URL_MAX bytes, starts with http(s):// and, when
 * private addresses are refused, is also accepted with them allowed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webhooks/webhooks.h"

static void check(int ok, const char *what)
{
    if (ok) return;
    fprintf(stderr, "fuzz_webhook_endpoint: %s\n", what);
    abort();
}

static void check_url(const char *url)
{
    char err[160];
    memset(err, 'x', sizeof err);
    int strict = webhook_url_check(url, 0, err, sizeof err);
    if (strict < 0) check(memchr(err, 0, sizeof err) && err[0], "refusal without a message");
    int lax = webhook_url_check(url, 1, err, sizeof err);
    if (strict == 0) check(lax == 0, "accepted strictly but refused with private addresses allowed");
    if (lax == 0) {
        check(strlen(url) <= WEBHOOK_URL_MAX, "accepted an over-long URL");
        check(strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0, "accepted another scheme");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (json_is_object(body)) {
        for (int creating = 0; creating <= 1; creating++)
            for (int allow = 0; allow <= 1; allow++) {
                json_t *errors = json_array();
                webhook_input_t in;
                int n = webhook_input_parse(body, creating, allow, &in, errors);
                check(n >= 0 && (size_t)n == json_array_size(errors), "error count differs from the errors");
                if (n == 0 && creating) check(in.has_url && in.has_types && in.url && in.types, "valid create without url or types");
                if (n == 0 && in.has_url) check_url(in.url);
                json_decref(errors);
            }
    }
    json_decref(body);
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    check_url(s);
    free(s);
    return 0;
}
