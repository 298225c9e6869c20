/*
 * fuzz_auth.c — libFuzzer harness for the identity code that reads client
 * bytes: bearer tokens (token_verify), emails, names and passwords.  The
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
