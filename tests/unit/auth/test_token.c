/*
 * test_token.c — access tokens: ours and libjwt-issued ones verify on the pinned
 * path; every kind of bad token is refused with the right reason; key files
 * are generated, loaded and rotated; old keys keep verifying.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jwt.h>
#include <sodium.h>

#include "auth/keys.h"
#include "auth/token.h"

#define SECRET "0123456789abcdef0123456789abcdef-test"
#define NOW 1800000000

static keyring_t kr;

static json_t *user_claims(int64_t exp)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "kind", "user", "sub",
                     "usr_01hzzzzzzzzzzzzzzzzzzzzzzz", "role", "customer", "scope", "account", "jti", "at_1", "sid",
                     "ses_1", "iat", (json_int_t)NOW, "nbf", (json_int_t)NOW, "exp", (json_int_t)exp);
}

static char *b64u(const void *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *o = malloc(cap);
    sodium_bin2base64(o, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return o;
}

/* Builds header.payload.signature by hand; alg_mac 0 = none, 256, 512. */
static char *forge(const char *header_json, const char *payload_json, const char *key, int alg_mac)
{
    char *h = b64u(header_json, strlen(header_json)), *p = b64u(payload_json, strlen(payload_json));
    char signing[4096];
    snprintf(signing, sizeof signing, "%s.%s", h, p);
    char *sig = strdup("");
    if (alg_mac == 256) {
        unsigned char mac[32];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)signing, strlen(signing));
        crypto_auth_hmacsha256_final(&st, mac);
        free(sig);
        sig = b64u(mac, sizeof mac);
    } else if (alg_mac == 512) {
        unsigned char mac[64];
        crypto_auth_hmacsha512_state st;
        crypto_auth_hmacsha512_init(&st, (const unsigned char *)key, strlen(key));
        crypto_auth_hmacsha512_update(&st, (const unsigned char *)signing, strlen(signing));
        crypto_auth_hmacsha512_final(&st, mac);
        free(sig);
        sig = b64u(mac, sizeof mac);
    }
    char *out = malloc(strlen(signing) + strlen(sig) + 2);
    sprintf(out, "%s.%s", signing, sig);
    free(h);
    free(p);
    free(sig);
    return out;
}

static token_err_t verify(const char *tok, token_claims_t *c) { return token_verify(&kr, tok, strlen(tok), NOW + 10, c); }

static void test_roundtrip(void **state)
{
    (void)state;
    json_t *cl = user_claims(NOW + 900);
    char *tok = token_issue(&kr, cl);
    json_decref(cl);
    assert_non_null(tok);
    token_claims_t c;
    assert_int_equal(verify(tok, &c), TOKEN_OK);
    assert_int_equal(c.kind, TOKEN_KIND_USER);
    assert_string_equal(c.sub, "usr_01hzzzzzzzzzzzzzzzzzzzzzzz");
    assert_string_equal(c.role, "customer");
    assert_string_equal(c.sid, "ses_1");
    assert_int_equal(c.exp, NOW + 900);
    /* libjwt agrees that it is a valid HS256 token */
    jwt_t *j = NULL;
    assert_int_equal(jwt_decode(&j, tok, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
    assert_int_equal(jwt_get_alg(j), JWT_ALG_HS256);
    assert_string_equal(jwt_get_header(j, "kid"), "t1");
    assert_string_equal(jwt_get_grant(j, "iss"), "mercato");
    jwt_free(j);
    /* a hand-built token with the exact header libjwt emits also verifies */
    char *same = forge("{\"alg\":\"HS256\",\"kid\":\"t1\",\"typ\":\"JWT\"}",
                       "{\"iss\":\"mercato\",\"kind\":\"user\",\"sub\":\"usr_x\",\"role\":\"admin\",\"jti\":\"j\",\"sid\":\"s\",\"exp\":1800000900}",
                       SECRET, 256);
    assert_int_equal(verify(same, &c), TOKEN_OK);
    free(same);
    free(tok);
}

/* Tokens that libjwt signs (as releases before ours issued them) carry the
 * header our keys build and verify unchanged; ours and libjwt's header
 * segments are the same bytes. */
static void test_libjwt_issued(void **state)
{
    (void)state;
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
    assert_int_equal(jwt_add_header(j, "kid", "t1"), 0);
    assert_int_equal(jwt_add_grants_json(j, "{\"iss\":\"mercato\",\"kind\":\"user\",\"sub\":\"usr_x\","
                                            "\"role\":\"customer\",\"jti\":\"j\",\"sid\":\"s\",\"exp\":1800000900}"),
                     0);
    char *theirs = jwt_encode_str(j);
    jwt_free(j);
    assert_non_null(theirs);
    token_claims_t c;
    assert_int_equal(verify(theirs, &c), TOKEN_OK);
    assert_string_equal(c.sub, "usr_x");
    json_t *cl = user_claims(NOW + 900);
    char *ours = token_issue(&kr, cl);
    json_decref(cl);
    size_t hl = (size_t)(strchr(theirs, '.') - theirs);
    assert_int_equal(strchr(ours, '.') - ours, (long)hl);
    assert_memory_equal(ours, theirs, hl);
    free(ours);
    free(theirs);
}

static void test_time_claims(void **state)
{
    (void)state;
    token_claims_t c;
    json_t *cl = user_claims(NOW + 10); /* exp == now: expired */
    char *tok = token_issue(&kr, cl);
    assert_int_equal(verify(tok, &c), TOKEN_EXPIRED);
    free(tok);
    json_object_set_new(cl, "exp", json_integer(NOW + 900));
    json_object_set_new(cl, "nbf", json_integer(NOW + 100));
    tok = token_issue(&kr, cl);
    assert_int_equal(verify(tok, &c), TOKEN_NOT_YET);
    free(tok);
    json_object_set_new(cl, "nbf", json_integer(NOW + 14)); /* within 5 s of skew */
    tok = token_issue(&kr, cl);
    assert_int_equal(verify(tok, &c), TOKEN_OK);
    free(tok);
    json_object_del(cl, "exp");
    tok = token_issue(&kr, cl);
    assert_int_equal(verify(tok, &c), TOKEN_CLAIMS);
    free(tok);
    json_object_set_new(cl, "exp", json_string("1900000000")); /* wrong type */
    tok = token_issue(&kr, cl);
    assert_int_equal(verify(tok, &c), TOKEN_CLAIMS);
    free(tok);
    json_decref(cl);
}

static void test_rejections(void **state)
{
    (void)state;
    token_claims_t c;
    const char *payload = "{\"iss\":\"mercato\",\"kind\":\"user\",\"sub\":\"usr_x\",\"role\":\"admin\",\"jti\":\"j\",\"sid\":\"s\",\"exp\":1900000000}";
    struct {
        const char *header;
        const char *key;
        int mac;
        token_err_t want;
    } cases[] = {
        { "{\"alg\":\"none\",\"typ\":\"JWT\"}", SECRET, 0, TOKEN_HEADER },
        { "{\"alg\":\"none\",\"kid\":\"t1\",\"typ\":\"JWT\"}", SECRET, 0, TOKEN_HEADER },
        { "{\"alg\":\"HS512\",\"kid\":\"t1\",\"typ\":\"JWT\"}", SECRET, 512, TOKEN_HEADER },
        { "{\"alg\":\"HS256\",\"kid\":\"other\",\"typ\":\"JWT\"}", SECRET, 256, TOKEN_HEADER },
        { "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", SECRET, 256, TOKEN_HEADER },
        { "{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"t1\"}", SECRET, 256, TOKEN_HEADER }, /* reordered */
        { "{\"alg\":\"HS256\",\"kid\":\"t1\",\"typ\":\"JWT\"}", "wrong-key-wrong-key-wrong-key-wrong", 256, TOKEN_SIGNATURE },
        { "{\"alg\":\"HS256\",\"kid\":\"t1\",\"typ\":\"JWT\"}", SECRET, 0, TOKEN_SIGNATURE }, /* empty signature */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = forge(cases[i].header, payload, cases[i].key, cases[i].mac);
        token_err_t e = verify(t, &c);
        if (e != cases[i].want) fail_msg("case %zu: got %d want %d", i, e, cases[i].want);
        free(t);
    }
    /* payload tampering, signature tampering (canonical and not) */
    json_t *cl = user_claims(NOW + 900);
    char *tok = token_issue(&kr, cl);
    json_decref(cl);
    char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    char *evil = b64u(payload, strlen(payload));
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s.%s%s", (int)(d1 - tok), tok, evil, d2);
    assert_int_equal(verify(buf, &c), TOKEN_SIGNATURE);
    snprintf(buf, sizeof buf, "%s", tok);
    char *last = buf + strlen(buf) - 1;
    *last = *last == 'A' ? 'E' : 'A'; /* changes the MAC (or its padding bits) */
    assert_int_equal(verify(buf, &c), TOKEN_SIGNATURE);
    /* the same MAC bytes under another spelling: 43 characters carry 258
     * bits, the last 2 unused; they must be zero (one encoding per token) */
    static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    snprintf(buf, sizeof buf, "%s", tok);
    last = buf + strlen(buf) - 1;
    *last = ALPHA[(strchr(ALPHA, *last) - ALPHA) ^ 1];
    assert_int_equal(verify(buf, &c), TOKEN_SIGNATURE);
    snprintf(buf, sizeof buf, "%s=", tok); /* padding */
    assert_int_equal(verify(buf, &c), TOKEN_SIGNATURE);
    snprintf(buf, sizeof buf, "%s", tok);
    buf[strlen(buf) - 5] = '+'; /* the other alphabet */
    assert_int_equal(verify(buf, &c), TOKEN_SIGNATURE);
    snprintf(buf, sizeof buf, "%s.", tok);
    assert_int_equal(verify(buf, &c), TOKEN_MALFORMED);
    assert_int_equal(verify("", &c), TOKEN_MALFORMED);
    assert_int_equal(verify("abc", &c), TOKEN_MALFORMED);
    assert_int_equal(verify("a.b", &c), TOKEN_MALFORMED);
    char big[TOKEN_MAX_LEN + 10];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(verify(big, &c), TOKEN_MALFORMED);
    /* a signed payload that is not our claims */
    char *t2 = forge("{\"alg\":\"HS256\",\"kid\":\"t1\",\"typ\":\"JWT\"}", "[1,2]", SECRET, 256);
    assert_int_equal(verify(t2, &c), TOKEN_CLAIMS);
    free(t2);
    t2 = forge("{\"alg\":\"HS256\",\"kid\":\"t1\",\"typ\":\"JWT\"}",
               "{\"iss\":\"someone\",\"kind\":\"user\",\"sub\":\"usr_x\",\"role\":\"admin\",\"jti\":\"j\",\"sid\":\"s\",\"exp\":1900000000}",
               SECRET, 256);
    assert_int_equal(verify(t2, &c), TOKEN_CLAIMS);
    free(t2);
    t2 = forge("{\"alg\":\"HS256\",\"kid\":\"t1\",\"typ\":\"JWT\"}",
               "{\"iss\":\"mercato\",\"kind\":\"user\",\"sub\":\"usr_x\",\"sub\":\"usr_y\",\"role\":\"admin\",\"jti\":\"j\",\"sid\":\"s\",\"exp\":1900000000}",
               SECRET, 256);
    assert_int_equal(verify(t2, &c), TOKEN_CLAIMS); /* duplicate members */
    free(t2);
    free(evil);
    free(tok);
}

static void test_client_claims(void **state)
{
    (void)state;
    json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "kind", "client", "sub", "cli_x", "scope",
                           "shipments:write", "jti", "ct_1", "tier", "big", "rl", (json_int_t)100000, "exp",
                           (json_int_t)(NOW + 900));
    char *tok = token_issue(&kr, cl);
    token_claims_t c;
    assert_int_equal(verify(tok, &c), TOKEN_OK);
    assert_int_equal(c.kind, TOKEN_KIND_CLIENT);
    assert_int_equal(c.rl, 100000);
    assert_string_equal(c.tier, "big");
    free(tok);
    json_object_set_new(cl, "rl", json_integer(-1));
    tok = token_issue(&kr, cl);
    assert_int_equal(verify(tok, &c), TOKEN_CLAIMS);
    free(tok);
    json_decref(cl);
}

static void test_key_file_and_rotation(void **state)
{
    (void)state;
    char dir[] = "/tmp/mercato-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[256], kid[KEY_KID_MAX];
    snprintf(path, sizeof path, "%s/jwt.keys", dir);
    keyring_t a, b;
    assert_int_equal(keyring_load(&a, "", NULL, path, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(a.n, 1);
    json_t *cl = user_claims(NOW + 900);
    char *old = token_issue(&a, cl);
    /* a second load reads the same key */
    assert_int_equal(keyring_load(&b, "", NULL, path, err, sizeof err), 0);
    token_claims_t c;
    assert_int_equal(token_verify(&b, old, strlen(old), NOW, &c), TOKEN_OK);
    keyring_clear(&b);
    /* rotation: the new key signs, the old one still verifies */
    assert_int_equal(keyring_rotate_file(path, kid, err, sizeof err), 0);
    assert_int_equal(keyring_load(&b, "", NULL, path, err, sizeof err), 0);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.keys[0].kid, kid);
    assert_string_equal(b.keys[1].kid, a.keys[0].kid);
    assert_int_equal(token_verify(&b, old, strlen(old), NOW, &c), TOKEN_OK);
    char *fresh = token_issue(&b, cl);
    assert_int_equal(token_verify(&b, fresh, strlen(fresh), NOW, &c), TOKEN_OK);
    assert_int_equal(token_verify(&a, fresh, strlen(fresh), NOW, &c), TOKEN_HEADER); /* unknown kid there */
    /* short secrets and bad files are refused */
    keyring_t k;
    assert_int_equal(keyring_load(&k, "too-short", "x", path, err, sizeof err), -1);
    FILE *f = fopen(path, "w");
    fputs("k1 not*base64\n", f);
    fclose(f);
    assert_int_equal(keyring_load(&k, "", NULL, path, err, sizeof err), -1);
    unlink(path);
    rmdir(dir);
    json_decref(cl);
    free(old);
    free(fresh);
    keyring_clear(&a);
    keyring_clear(&b);
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    return keyring_load(&kr, SECRET, "t1", NULL, err, sizeof err);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_libjwt_issued),
        cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_rejections),    cmocka_unit_test(test_client_claims),
        cmocka_unit_test(test_key_file_and_rotation),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
