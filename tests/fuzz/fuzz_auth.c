/*
 * fuzz_auth.c — libFuzzer harness for the identity code that reads client
 * bytes: bearer tokens (token_verify, and the claims scanner behind the MAC
 * check through tokens signed over the input), emails, names and passwords.  The
 * corpus in tests/fuzz/corpus/fuzz_auth replays in the ordinary suite.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/keys.h"
#include "auth/token.h"
#include "auth/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static keyring_t kr;
    static int ready;
    if (!ready) {
        char err[128];
        if (sodium_init() < 0 || keyring_load(&kr, "fuzz-secret-fuzz-secret-fuzz-secret!", "f1", NULL, err, sizeof err) < 0)
            abort();
        ready = 1;
    }
    token_claims_t c;
    token_verify(&kr, (const char *)data, size, 1800000000, &c);

    /* the same bytes as the claims of a correctly signed token, so the
     * claims scanner (reached only after the MAC) is fuzzed too */
    if (size <= 2048) {
        const auth_key_t *k = &kr.keys[0];
        char tok[4096];
        size_t n = k->header_len;
        memcpy(tok, k->header_b64, n);
        tok[n++] = '.';
        sodium_bin2base64(tok + n, sizeof tok - n, data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        n += strlen(tok + n);
        unsigned char mac[32];
        key_hmac(k, tok, n, mac);
        tok[n++] = '.';
        sodium_bin2base64(tok + n, sizeof tok - n, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        n += strlen(tok + n);
        token_verify(&kr, tok, n, 1800000000, &c);
    }

    /* the validators take NUL-terminated, valid UTF-8 (what jansson hands over) */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    json_t *j = json_stringn(s, size);
    if (j && strlen(s) == size) {
        char out[1024];
        const char *why;
        auth_email_normalize(s, out, sizeof out, &why);
        auth_name_check(s, out, sizeof out, &why);
        auth_password_check(s, size, "fuzz@example.com", &why);
    }
    json_decref(j);
    free(s);
    return 0;
}
