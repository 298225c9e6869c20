/*
 * token.c — issuing and pinned verification of access tokens (see
 * token.h).
 */
#include "auth/token.h"

#include <stdlib.h>
#include <string.h>

#define NBF_LEEWAY_S 5

const char *token_err_message(token_err_t e)
{
    switch (e) {
#define X(name, msg) case TOKEN_##name: return msg;
        TOKEN_ERR_LIST(X)
#undef X
    }
    return "invalid token";
}

char *token_issue(const keyring_t *kr, json_t *claims)
{
    const auth_key_t *k = &kr->keys[0];
    json_t *c = json_copy(claims);
    json_object_set_new(c, "iss", json_string(TOKEN_ISSUER));
    char *js = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(c);
    if (!js) return NULL;
    size_t jl = strlen(js);
    size_t plen = sodium_base64_ENCODED_LEN(jl, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
    size_t slen = sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
    char *out = malloc(k->header_len + 1 + plen + 1 + slen + 1);
    if (out) {
        /* header "." payload, then "." and the MAC of both */
        memcpy(out, k->header_b64, k->header_len);
        out[k->header_len] = '.';
        sodium_bin2base64(out + k->header_len + 1, plen + 1, (const unsigned char *)js, jl,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        size_t signed_len = k->header_len + 1 + plen;
        unsigned char mac[32];
        key_hmac(k, out, signed_len, mac);
        out[signed_len] = '.';
        sodium_bin2base64(out + signed_len + 1, slen + 1, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    free(js);
    return out;
}

/* base64url without padding, table-driven: sodium_base642bin is constant
 * time, which a token's public header and claims do not need, and it was a
 * quarter of a verification (perf on bench/auth_bench). Strict: only the
 * URL-safe alphabet, no padding, a length that is not 1 mod 4, and zero
 * unused bits, so every token has exactly one encoding. */
static const unsigned char B64URL[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8, ['I'] = 9,
    ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27,
    ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45,
    ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63,
    ['_'] = 64
}; /* value + 1; 0 = not in the alphabet */

static int b64url_decode(unsigned char *out, size_t cap, const char *s, size_t n, size_t *outlen)
{
    if (n % 4 == 1) return -1;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap) return -1;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        unsigned a = B64URL[p[i]], b = B64URL[p[i + 1]], c = B64URL[p[i + 2]], d = B64URL[p[i + 3]];
        if (!a || !b || !c || !d) return -1;
        uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    size_t rest = n - i;
    if (rest >= 2) {
        unsigned a = B64URL[p[i]], b = B64URL[p[i + 1]], c = rest == 3 ? B64URL[p[i + 2]] : 1;
        if (!a || !b || !c) return -1;
        uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6;
        out[o++] = (unsigned char)(v >> 16);
        if (rest == 3) out[o++] = (unsigned char)(v >> 8);
        if (rest == 2 ? (v & 0xFFFF) : (v & 0xFF)) return -1; /* unused bits must be zero */
    }
    *outlen = o;
    return 0;
}

/* The claims of a token whose MAC has been checked: bytes token_issue()
 * wrote (jansson, compact), a flat object of strings and integers. A small
 * strict scanner reads them in place; jansson's general parser (a hashtable
 * and an allocation per member) was three quarters of a verification. It
 * rejects what our issuer never writes: nesting, floats, true/false/null,
 * \u escapes, raw control characters, more than CLAIMS_MAX members, and a
 * member named twice. */
#define CLAIMS_MAX 24

typedef struct claim {
    const char *key;
    size_t klen;
    const char *str; /* NUL-terminated in the payload buffer; NULL for numbers */
    size_t slen;
    int64_t num;
} claim_t;

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* a string at *pp (after the opening quote), unescaped in place; returns
 * its start or NULL */
static char *scan_string(char **pp, char *end, size_t *len)
{
    char *p = *pp, *w = p, *start = p;
    while (p < end && *p != '"') {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20) return NULL;
        if (ch == '\\') {
            if (++p >= end) return NULL;
            switch (*p) {
            case '"': *w++ = '"'; break;
            case '\\': *w++ = '\\'; break;
            case '/': *w++ = '/'; break;
            case 'b': *w++ = '\b'; break;
            case 'f': *w++ = '\f'; break;
            case 'n': *w++ = '\n'; break;
            case 'r': *w++ = '\r'; break;
            case 't': *w++ = '\t'; break;
            default: return NULL; /* \u and anything else */
            }
            p++;
            continue;
        }
        *w++ = *p++;
    }
    if (p >= end) return NULL;
    *len = (size_t)(w - start);
    *w = '\0'; /* w <= p, and p is the closing quote */
    *pp = p + 1;
    return start;
}

static int scan_claims(char *buf, size_t n, claim_t *out, int *count)
{
    char *p = buf, *end = buf + n;
    int k = 0;
    p = (char *)skip_ws(p, end);
    if (p >= end || *p++ != '{') return -1;
    p = (char *)skip_ws(p, end);
    if (p < end && *p == '}') {
        p = (char *)skip_ws(p + 1, end);
        *count = 0;
        return p == end ? 0 : -1;
    }
    for (;;) {
        if (k == CLAIMS_MAX) return -1;
        claim_t *c = &out[k];
        p = (char *)skip_ws(p, end);
        if (p >= end || *p++ != '"') return -1;
        if (!(c->key = scan_string(&p, end, &c->klen))) return -1;
        for (int i = 0; i < k; i++)
            if (out[i].klen == c->klen && memcmp(out[i].key, c->key, c->klen) == 0) return -1;
        p = (char *)skip_ws(p, end);
        if (p >= end || *p++ != ':') return -1;
        p = (char *)skip_ws(p, end);
        if (p >= end) return -1;
        if (*p == '"') {
            p++;
            if (!(c->str = scan_string(&p, end, &c->slen))) return -1;
            c->num = 0;
        } else {
            int neg = 0, digits = 0;
            int64_t v = 0;
            if (*p == '-') {
                neg = 1;
                p++;
            }
            if (p < end && *p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9') return -1; /* leading zero */
            while (p < end && *p >= '0' && *p <= '9') {
                if (++digits > 18) return -1;
                v = v * 10 + (*p++ - '0');
            }
            if (!digits) return -1;
            c->str = NULL;
            c->slen = 0;
            c->num = neg ? -v : v;
        }
        k++;
        p = (char *)skip_ws(p, end);
        if (p >= end) return -1;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p++ != '}') return -1;
        break;
    }
    p = (char *)skip_ws(p, end);
    if (p != end) return -1;
    *count = k;
    return 0;
}

static const claim_t *find_claim(const claim_t *cl, int n, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < n; i++)
        if (cl[i].klen == len && memcmp(cl[i].key, name, len) == 0) return &cl[i];
    return NULL;
}

static int copy_str(const claim_t *cl, int n, const char *name, char *dst, size_t cap, int required)
{
    const claim_t *c = find_claim(cl, n, name);
    if (!c) return required ? -1 : 0;
    if (!c->str || c->slen >= cap || memchr(c->str, '\0', c->slen)) return -1;
    memcpy(dst, c->str, c->slen + 1);
    return 0;
}

static int get_int(const claim_t *cl, int n, const char *name, int64_t *dst, int required)
{
    const claim_t *c = find_claim(cl, n, name);
    if (!c) return required ? -1 : 0;
    if (c->str) return -1;
    *dst = c->num;
    return 0;
}

token_err_t token_verify(const keyring_t *kr, const char *tok, size_t len, int64_t now_s, token_claims_t *out)
{
    if (len == 0 || len > TOKEN_MAX_LEN) return TOKEN_MALFORMED;
    const char *d1 = memchr(tok, '.', len);
    if (!d1) return TOKEN_MALFORMED;
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok))) return TOKEN_MALFORMED;
    size_t hlen = (size_t)(d1 - tok);
    const auth_key_t *key = NULL;
    for (int i = 0; i < kr->n; i++)
        if (kr->keys[i].header_len == hlen && memcmp(kr->keys[i].header_b64, tok, hlen) == 0) {
            key = &kr->keys[i];
            break;
        }
    if (!key) return TOKEN_HEADER;

    unsigned char sig[64], mac[crypto_auth_hmacsha256_BYTES];
    size_t siglen = 0;
    const char *s = d2 + 1;
    size_t sl = len - (size_t)(s - tok);
    if (sl != 43 || b64url_decode(sig, sizeof sig, s, sl, &siglen) != 0 || siglen != sizeof mac)
        return TOKEN_SIGNATURE;
    key_hmac(key, tok, (size_t)(d2 - tok), mac);
    if (sodium_memcmp(sig, mac, sizeof mac) != 0) return TOKEN_SIGNATURE;

    unsigned char payload[TOKEN_MAX_LEN];
    size_t plen = 0;
    if (b64url_decode(payload, sizeof payload, d1 + 1, (size_t)(d2 - d1 - 1), &plen) != 0) return TOKEN_MALFORMED;
    claim_t cl[CLAIMS_MAX];
    int n = 0;
    memset(out, 0, sizeof *out);
    if (scan_claims((char *)payload, plen, cl, &n) != 0) return TOKEN_CLAIMS;
    token_err_t rc = TOKEN_CLAIMS;
    char iss[16] = "", kind[8] = "";
    if (copy_str(cl, n, "iss", iss, sizeof iss, 1) || strcmp(iss, TOKEN_ISSUER) != 0) goto done;
    if (copy_str(cl, n, "kind", kind, sizeof kind, 1)) goto done;
    if (!strcmp(kind, "user")) out->kind = TOKEN_KIND_USER;
    else if (!strcmp(kind, "client")) out->kind = TOKEN_KIND_CLIENT;
    else goto done;
    if (copy_str(cl, n, "sub", out->sub, sizeof out->sub, 1) || copy_str(cl, n, "jti", out->jti, sizeof out->jti, 1) ||
        copy_str(cl, n, "scope", out->scope, sizeof out->scope, 0) || get_int(cl, n, "exp", &out->exp, 1) ||
        get_int(cl, n, "iat", &out->iat, 0) || get_int(cl, n, "nbf", &out->nbf, 0))
        goto done;
    if (out->kind == TOKEN_KIND_USER) {
        if (copy_str(cl, n, "role", out->role, sizeof out->role, 1) ||
            copy_str(cl, n, "sid", out->sid, sizeof out->sid, 1))
            goto done;
    } else {
        if (copy_str(cl, n, "tier", out->tier, sizeof out->tier, 0) || get_int(cl, n, "rl", &out->rl, 0) ||
            out->rl < 0)
            goto done;
    }
    if (out->exp <= now_s) {
        rc = TOKEN_EXPIRED;
        goto done;
    }
    if (out->nbf > now_s + NBF_LEEWAY_S) {
        rc = TOKEN_NOT_YET;
        goto done;
    }
    rc = TOKEN_OK;
done:
    return rc;
}
