/*
 * token.c — issuing (libjwt) and pinned verification of access tokens
 * (see token.h).
 */
#include "auth/token.h"

#include <jwt.h>
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
    jwt_t *j = NULL;
    char *out = NULL;
    json_t *c = json_copy(claims);
    json_object_set_new(c, "iss", json_string(TOKEN_ISSUER));
    char *js = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    if (!js) return NULL;
    if (jwt_new(&j) == 0 && jwt_set_alg(j, JWT_ALG_HS256, k->secret, (int)k->secret_len) == 0 &&
        jwt_add_header(j, "kid", k->kid) == 0 && jwt_add_grants_json(j, js) == 0)
        out = jwt_encode_str(j);
    free(js);
    jwt_free(j);
    return out;
}

static int b64url_decode(unsigned char *out, size_t cap, const char *s, size_t n, size_t *outlen)
{
    return sodium_base642bin(out, cap, s, n, NULL, outlen, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int copy_str(json_t *o, const char *name, char *dst, size_t cap, int required)
{
    json_t *v = json_object_get(o, name);
    if (!v) return required ? -1 : 0;
    if (!json_is_string(v) || json_string_length(v) >= cap) return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    if (strlen(dst) != json_string_length(v)) return -1; /* embedded NUL */
    return 0;
}

static int get_int(json_t *o, const char *name, int64_t *dst, int required)
{
    json_t *v = json_object_get(o, name);
    if (!v) return required ? -1 : 0;
    if (!json_is_integer(v)) return -1;
    *dst = json_integer_value(v);
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
    json_t *o = json_loadb((const char *)payload, plen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return TOKEN_CLAIMS;
    }
    memset(out, 0, sizeof *out);
    token_err_t rc = TOKEN_CLAIMS;
    char iss[16] = "", kind[8] = "";
    if (copy_str(o, "iss", iss, sizeof iss, 1) || strcmp(iss, TOKEN_ISSUER) != 0) goto done;
    if (copy_str(o, "kind", kind, sizeof kind, 1)) goto done;
    if (!strcmp(kind, "user")) out->kind = TOKEN_KIND_USER;
    else if (!strcmp(kind, "client")) out->kind = TOKEN_KIND_CLIENT;
    else goto done;
    if (copy_str(o, "sub", out->sub, sizeof out->sub, 1) || copy_str(o, "jti", out->jti, sizeof out->jti, 1) ||
        copy_str(o, "scope", out->scope, sizeof out->scope, 0) ||
        get_int(o, "exp", &out->exp, 1) || get_int(o, "iat", &out->iat, 0) || get_int(o, "nbf", &out->nbf, 0))
        goto done;
    if (out->kind == TOKEN_KIND_USER) {
        if (copy_str(o, "role", out->role, sizeof out->role, 1) || copy_str(o, "sid", out->sid, sizeof out->sid, 1))
            goto done;
    } else {
        if (copy_str(o, "tier", out->tier, sizeof out->tier, 0) || get_int(o, "rl", &out->rl, 0) || out->rl < 0)
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
    json_decref(o);
    return rc;
}
