/*
 * sign.c — the pure parts of outgoing webhooks: secrets and Standard
 * Webhooks signatures, the SSRF address rules, URL and body validation,
 * event-type filters.  No I/O here, so unit tests and the fuzz harness call
 * these directly.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "webhooks/webhooks.h"

#define SECRET_PREFIX "whsec_"

void webhook_secret_new(char out[WEBHOOK_SECRET_MAX])
{
    unsigned char key[24];
    randombytes_buf(key, sizeof key);
    memcpy(out, SECRET_PREFIX, sizeof SECRET_PREFIX - 1);
    sodium_bin2base64(out + sizeof SECRET_PREFIX - 1, WEBHOOK_SECRET_MAX - (sizeof SECRET_PREFIX - 1), key, sizeof key,
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof key);
}

int webhook_secret_decode(const char *secret, unsigned char *key, size_t keymax)
{
    if (!secret) return -1;
    if (strncmp(secret, SECRET_PREFIX, sizeof SECRET_PREFIX - 1) == 0) secret += sizeof SECRET_PREFIX - 1;
    size_t n = 0;
    if (sodium_base642bin(key, keymax, secret, strlen(secret), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return n > 0 ? (int)n : -1;
}

int webhook_sign(char out[WEBHOOK_SIG_MAX], const char *secret, const char *msg_id, int64_t ts, const char *body,
                 size_t len)
{
    unsigned char key[128], mac[crypto_auth_hmacsha256_BYTES];
    int kl = webhook_secret_decode(secret, key, sizeof key);
    if (kl < 0) return -1;
    char tsbuf[24];
    int tl = snprintf(tsbuf, sizeof tsbuf, "%lld", (long long)ts);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, (size_t)kl);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg_id, strlen(msg_id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tsbuf, (size_t)tl);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(key, sizeof key);
    sodium_memzero(&st, sizeof st);
    memcpy(out, "v1,", 3);
    sodium_bin2base64(out + 3, WEBHOOK_SIG_MAX - 3, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

/* ---- SSRF: which addresses a webhook may connect to ---- */

static const char *v4_refused(uint32_t a)
{
    uint8_t o1 = a >> 24, o2 = (a >> 16) & 0xff, o3 = (a >> 8) & 0xff;
    if (o1 == 0) return "unspecified";                          /* 0.0.0.0/8 "this network" */
    if (o1 == 127) return "loopback";                           /* 127/8 */
    if (o1 == 10) return "private";                             /* 10/8 */
    if (o1 == 172 && (o2 & 0xf0) == 16) return "private";       /* 172.16/12 */
    if (o1 == 192 && o2 == 168) return "private";               /* 192.168/16 */
    if (o1 == 100 && (o2 & 0xc0) == 64) return "private";       /* 100.64/10 shared (CGNAT) */
    if (o1 == 169 && o2 == 254) return "link-local";            /* 169.254/16 (cloud metadata) */
    if (o1 == 192 && o2 == 0 && o3 == 0) return "reserved";     /* 192.0.0/24 protocol assignments */
    if (o1 == 198 && (o2 & 0xfe) == 18) return "reserved";      /* 198.18/15 benchmarking */
    if ((o1 & 0xf0) == 224) return "multicast";                 /* 224/4 */
    if ((o1 & 0xf0) == 240) return "reserved";                  /* 240/4 and broadcast */
    return NULL;
}

static uint32_t v4_at(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

const char *webhook_addr_refused(const struct sockaddr *sa)
{
    if (!sa) return "not an IP address";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        return v4_refused(ntohl(s4->sin_addr.s_addr));
    }
    if (sa->sa_family != AF_INET6) return "not an IP address";
    const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
    if (memcmp(b, zero, 16) == 0) return "unspecified";          /* :: */
    if (memcmp(b, zero, 15) == 0 && b[15] == 1) return "loopback"; /* ::1 */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) { /* ::ffff:a.b.c.d, 64:ff9b::a.b.c.d */
        const char *why = v4_refused(v4_at(b + 12));
        return why;
    }
    if (memcmp(b, zero, 12) == 0) {                              /* ::a.b.c.d (deprecated compatible) */
        const char *why = v4_refused(v4_at(b + 12));
        return why ? why : "reserved";
    }
    if (b[0] == 0xff) return "multicast";                        /* ff00::/8 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local"; /* fe80::/10 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "private";    /* fec0::/10 site-local */
    if ((b[0] & 0xfe) == 0xfc) return "private";                 /* fc00::/7 unique local */
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return "reserved"; /* 2001:db8::/32 */
    if (b[0] == 0x20 && b[1] == 0x02) {                          /* 6to4 2002::/16 carries an IPv4 */
        const char *why = v4_refused(v4_at(b + 2));
        return why;
    }
    return NULL;
}

/* ---- URL ---- */

static int literal_refused(const char *host, char *err, size_t errlen)
{
    char h[256];
    size_t n = strlen(host);
    if (n >= sizeof h) return 0;
    memcpy(h, host, n + 1);
    struct sockaddr_in s4 = { .sin_family = AF_INET };
    struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
    const char *why = NULL;
    if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
        h[n - 1] = 0;
        char *zone = strchr(h, '%');
        if (zone) *zone = 0;
        if (inet_pton(AF_INET6, h + 1, &s6.sin6_addr) == 1) why = webhook_addr_refused((struct sockaddr *)&s6);
    } else if (inet_pton(AF_INET, h, &s4.sin_addr) == 1) {
        why = webhook_addr_refused((struct sockaddr *)&s4);
    } else if (strcasecmp(h, "localhost") == 0 || (n > 10 && strcasecmp(h + n - 10, ".localhost") == 0) ||
               (n > 11 && strcasecmp(h + n - 11, ".localhost.") == 0) || strcasecmp(h, "localhost.") == 0) {
        why = "loopback";
    }
    if (!why) return 0;
    snprintf(err, errlen, "points to a %s address; only public addresses are allowed", why);
    return -1;
}

int webhook_url_check(const char *url, int allow_private, char *err, size_t errlen)
{
    size_t n = url ? strlen(url) : 0;
    if (n == 0) return snprintf(err, errlen, "must not be empty"), -1;
    if (n > WEBHOOK_URL_MAX) return snprintf(err, errlen, "must be at most %d bytes", WEBHOOK_URL_MAX), -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return snprintf(err, errlen, "must not contain spaces, control or non-ASCII characters"), -1;
    /* curl's parser is lenient ("http:/host" becomes "http://host"); ask
     * for the plain form so that what is stored is what is meant */
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return snprintf(err, errlen, "must start with http:// or https://"), -1;
    CURLU *u = curl_url();
    if (!u) return snprintf(err, errlen, "cannot be checked now"), -1;
    int rc = -1;
    char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL, *frag = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        snprintf(err, errlen, "is not an absolute URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0)) {
        snprintf(err, errlen, "must use the http or https scheme");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        snprintf(err, errlen, "must name a host");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK || curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
        snprintf(err, errlen, "must not contain a user name or password");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
        snprintf(err, errlen, "must not contain a fragment");
        goto out;
    }
    if (!allow_private && literal_refused(host, err, errlen) < 0) goto out;
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(pass);
    curl_free(frag);
    curl_url_cleanup(u);
    return rc;
}

/* ---- event-type filters ---- */

int webhook_type_matches(const char *pattern, const char *type)
{
    size_t pl = strlen(pattern);
    if (pl == 1 && pattern[0] == '*') return 1;
    if (pl >= 2 && pattern[pl - 1] == '*' && pattern[pl - 2] == '.') return strncmp(type, pattern, pl - 1) == 0;
    return strcmp(pattern, type) == 0;
}

int webhook_types_match(const char *types_json, const char *type)
{
    json_t *a = json_loads(types_json, 0, NULL);
    int hit = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        const char *p = json_string_value(v);
        if (p && webhook_type_matches(p, type)) {
            hit = 1;
            break;
        }
    }
    json_decref(a);
    return hit;
}

/* A pattern: "*", or dot-separated segments of [a-z0-9_], the last of which
 * may be "*". */
static const char *pattern_problem(const char *p, size_t n)
{
    if (n == 0) return "must not be empty";
    if (n > WEBHOOK_TYPE_MAX) return "is too long (at most 100 bytes)";
    if (n == 1 && p[0] == '*') return NULL;
    size_t seg = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '.') {
            if (seg == 0) return "has an empty segment";
            seg = 0;
            continue;
        }
        if (ch == '*') {
            if (i != n - 1 || seg != 0 || i == 0) return "may use * only as the whole last segment (\"order.*\") or alone";
            seg = 1;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return "may contain only a-z, 0-9, _ and . (and a final *)";
        seg++;
    }
    if (seg == 0) return "has an empty segment";
    return NULL;
}

static void field_error(json_t *errors, const char *field, const char *msg)
{
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "message", msg));
}

int webhook_input_parse(json_t *body, int creating, int allow_private, webhook_input_t *out, json_t *errors)
{
    memset(out, 0, sizeof *out);
    size_t before = json_array_size(errors);
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "url") == 0) {
            char err[160];
            if (!json_is_string(v)) field_error(errors, "url", "must be a string");
            else if (webhook_url_check(json_string_value(v), allow_private, err, sizeof err) < 0)
                field_error(errors, "url", err);
            else out->url = json_string_value(v), out->has_url = 1;
        } else if (strcmp(k, "description") == 0) {
            if (!json_is_string(v)) field_error(errors, "description", "must be a string");
            else if (json_string_length(v) > WEBHOOK_DESC_MAX) field_error(errors, "description", "is too long (at most 500 bytes)");
            else if (strlen(json_string_value(v)) != json_string_length(v)) field_error(errors, "description", "must not contain NUL");
            else out->description = json_string_value(v), out->has_description = 1;
        } else if (strcmp(k, "event_types") == 0) {
            if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > WEBHOOK_TYPES_MAX) {
                field_error(errors, "event_types", "must be an array of 1 to 64 event types or patterns");
                continue;
            }
            size_t i;
            json_t *t;
            int bad = 0;
            json_array_foreach(v, i, t) {
                char field[40];
                snprintf(field, sizeof field, "event_types[%zu]", i);
                const char *why = json_is_string(t) ? pattern_problem(json_string_value(t), json_string_length(t))
                                                    : "must be a string";
                if (!why && strlen(json_string_value(t)) != json_string_length(t)) why = "must not contain NUL";
                if (why) field_error(errors, field, why), bad = 1;
            }
            if (!bad) out->types = v, out->has_types = 1;
        } else if (strcmp(k, "enabled") == 0 && !creating) {
            if (!json_is_boolean(v)) field_error(errors, "enabled", "must be true or false");
            else out->enabled = json_is_true(v), out->has_enabled = 1;
        } else {
            field_error(errors, k, creating ? "unknown field (allowed: url, description, event_types)"
                                            : "unknown field (allowed: url, description, event_types, enabled)");
        }
    }
    if (creating) {
        if (!json_object_get(body, "url")) field_error(errors, "url", "is required");
        if (!json_object_get(body, "event_types")) field_error(errors, "event_types", "is required");
    }
    return (int)(json_array_size(errors) - before);
}
