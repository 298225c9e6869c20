/*
 * keys.c — loading, generating and rotating the token signing keys (see keys.h).
 */
#include "auth/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GEN_BYTES 48

/* The header segment tokens signed with k carry: base64url of
 * {"alg":"HS256","kid":…,"typ":"JWT"} with sorted keys, byte for byte what
 * libjwt writes (tests/unit/auth/test_token.c signs with libjwt and
 * compares), so tokens issued before and after either stay valid. */
static int key_prepare(auth_key_t *k, char *err, size_t errlen)
{
    json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", k->kid, "typ", "JWT");
    char *js = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(h);
    size_t jl = js ? strlen(js) : 0;
    if (!js || sodium_base64_ENCODED_LEN(jl, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > sizeof k->header_b64) {
        free(js);
        return snprintf(err, errlen, "cannot build the token header for key '%s'", k->kid), -1;
    }
    sodium_bin2base64(k->header_b64, sizeof k->header_b64, (const unsigned char *)js, jl,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    k->header_len = strlen(k->header_b64);
    free(js);
    return 0;
}

/* The HMAC states, computed on the first MAC rather than at load: they are
 * the only use of OpenSSL here, and an idle server need not load it
 * (util/lazylib.h).  The states are a cache derived from the secret, so
 * filling them in through a const key is safe; the mutex orders the one
 * fill, the flag makes later calls skip it. */
static pthread_mutex_t g_hmac_mu = PTHREAD_MUTEX_INITIALIZER;

static void hmac_states(const auth_key_t *ck)
{
    if (__atomic_load_n(&ck->hmac_ready, __ATOMIC_ACQUIRE)) return;
    pthread_mutex_lock(&g_hmac_mu);
    auth_key_t *k = (auth_key_t *)ck;
    if (!k->hmac_ready) {
        /* RFC 2104 with a 64-byte block: keys longer than a block are hashed first */
        unsigned char block[64] = { 0 }, pad[64];
        if (k->secret_len > sizeof block) SHA256(k->secret, k->secret_len, block);
        else memcpy(block, k->secret, k->secret_len);
        for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
        SHA256_Init(&k->hmac_inner);
        SHA256_Update(&k->hmac_inner, pad, sizeof pad);
        for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
        SHA256_Init(&k->hmac_outer);
        SHA256_Update(&k->hmac_outer, pad, sizeof pad);
        sodium_memzero(block, sizeof block);
        sodium_memzero(pad, sizeof pad);
        __atomic_store_n(&k->hmac_ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&g_hmac_mu);
}

static int valid_kid(const char *s, size_t n)
{
    if (n == 0 || n >= KEY_KID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static int add_key(keyring_t *kr, const char *kid, size_t kidlen, const unsigned char *secret, size_t len,
                   char *err, size_t errlen)
{
    if (kr->n >= KEYRING_MAX) return snprintf(err, errlen, "more than %d keys", KEYRING_MAX), -1;
    if (!valid_kid(kid, kidlen)) return snprintf(err, errlen, "invalid key id (letters, digits, - and _; < 32)"), -1;
    if (len < 32 || len > KEY_SECRET_MAX) return snprintf(err, errlen, "key '%.*s' must be 32 to 128 bytes", (int)kidlen, kid), -1;
    for (int i = 0; i < kr->n; i++)
        if (strlen(kr->keys[i].kid) == kidlen && !memcmp(kr->keys[i].kid, kid, kidlen))
            return snprintf(err, errlen, "duplicate key id '%.*s'", (int)kidlen, kid), -1;
    auth_key_t *k = &kr->keys[kr->n];
    memset(k, 0, sizeof *k);
    memcpy(k->kid, kid, kidlen);
    memcpy(k->secret, secret, len);
    k->secret_len = len;
    if (key_prepare(k, err, errlen) < 0) return -1;
    kr->n++;
    return 0;
}

static void new_line(char *line, size_t linelen, char *kid_out)
{
    unsigned char raw[GEN_BYTES], kidraw[4];
    char b64[sodium_base64_ENCODED_LEN(GEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof raw);
    randombytes_buf(kidraw, sizeof kidraw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char kid[KEY_KID_MAX];
    snprintf(kid, sizeof kid, "k%02x%02x%02x%02x", kidraw[0], kidraw[1], kidraw[2], kidraw[3]);
    snprintf(line, linelen, "%s %s\n", kid, b64);
    if (kid_out) snprintf(kid_out, KEY_KID_MAX, "%s", kid);
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(b64, sizeof b64);
}

static const char file_header[] =
    "# mercato access-token signing keys: \"kid secret\" per line (secret base64url).\n"
    "# The first key signs; every key verifies.  Keep this file private (mode 0600).\n";

/* Writes content to path atomically (temp file + rename), mode 0600. */
static int write_private(const char *path, const char *content, int exclusive, char *err, size_t errlen)
{
    if (exclusive) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0) {
            if (errno == EEXIST) return 1; /* someone else created it: read theirs */
            return snprintf(err, errlen, "cannot create key file %s: %s", path, strerror(errno)), -1;
        }
        size_t n = strlen(content);
        int ok = write(fd, content, n) == (ssize_t)n && fsync(fd) == 0;
        close(fd);
        if (!ok) return snprintf(err, errlen, "cannot write key file %s", path), -1;
        return 0;
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno)), -1;
    size_t n = strlen(content);
    int ok = write(fd, content, n) == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return snprintf(err, errlen, "cannot replace key file %s", path), -1;
    }
    return 0;
}

static int load_file(keyring_t *kr, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(err, errlen, "cannot read key file %s: %s", path, strerror(errno)), -1;
    char line[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (n == 0 || line[0] == '#') continue;
        char *sp = strchr(line, ' ');
        if (!sp) {
            snprintf(err, errlen, "%s:%d: expected \"kid secret\"", path, lineno);
            rc = -1;
            break;
        }
        unsigned char bin[KEY_SECRET_MAX];
        size_t bl = 0;
        if (sodium_base642bin(bin, sizeof bin, sp + 1, strlen(sp + 1), NULL, &bl, NULL,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
            snprintf(err, errlen, "%s:%d: the secret is not base64url", path, lineno);
            rc = -1;
            break;
        }
        char e2[200];
        if (add_key(kr, line, (size_t)(sp - line), bin, bl, e2, sizeof e2) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, e2);
            rc = -1;
        }
        sodium_memzero(bin, sizeof bin);
        if (rc) break;
    }
    sodium_memzero(line, sizeof line);
    fclose(f);
    if (rc == 0 && kr->n == 0) return snprintf(err, errlen, "%s holds no key", path), -1;
    return rc;
}

int keyring_load(keyring_t *kr, const char *secret, const char *kid, const char *path, char *err, size_t errlen)
{
    memset(kr, 0, sizeof *kr);
    if (secret && secret[0]) {
        const char *k = kid && kid[0] ? kid : "k1";
        return add_key(kr, k, strlen(k), (const unsigned char *)secret, strlen(secret), err, errlen);
    }
    struct stat st;
    if (stat(path, &st) < 0) {
        char content[512];
        new_line(content + sizeof file_header - 1, sizeof content - (sizeof file_header - 1), NULL);
        memcpy(content, file_header, sizeof file_header - 1);
        int w = write_private(path, content, 1, err, errlen);
        sodium_memzero(content, sizeof content);
        if (w < 0) return -1;
    }
    return load_file(kr, path, err, errlen);
}

int keyring_rotate_file(const char *path, char *kid_out, char *err, size_t errlen)
{
    keyring_t probe;
    memset(&probe, 0, sizeof probe);
    int exists = access(path, F_OK) == 0;
    if (exists && load_file(&probe, path, err, errlen) < 0) return -1;
    char *old = NULL;
    size_t oldlen = 0;
    if (exists) {
        FILE *f = fopen(path, "r");
        if (!f) return snprintf(err, errlen, "cannot read %s", path), -1;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        old = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
        if (!old || (n > 0 && fread(old, 1, (size_t)n, f) != (size_t)n)) {
            fclose(f);
            free(old);
            return snprintf(err, errlen, "cannot read %s", path), -1;
        }
        oldlen = (size_t)n;
        fclose(f);
    }
    if (exists && probe.n >= KEYRING_MAX) {
        free(old);
        keyring_clear(&probe);
        return snprintf(err, errlen, "the key file already holds %d keys; remove old ones first", KEYRING_MAX), -1;
    }
    size_t cap = sizeof file_header + 256 + oldlen;
    char *out = calloc(1, cap);
    if (!out) abort();
    memcpy(out, file_header, sizeof file_header - 1);
    size_t pos = sizeof file_header - 1;
    new_line(out + pos, cap - pos, kid_out);
    pos += strlen(out + pos);
    /* keep every non-comment line of the old file, in order */
    for (char *p = old; p && *p;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (p[0] != '#' && p[0] != '\n') {
            memcpy(out + pos, p, n);
            pos += n;
            if (!nl) out[pos++] = '\n';
        }
        p += n;
    }
    out[pos] = '\0';
    int rc = write_private(path, out, 0, err, errlen);
    sodium_memzero(out, cap);
    free(out);
    if (old) {
        sodium_memzero(old, oldlen);
        free(old);
    }
    if (exists) keyring_clear(&probe);
    return rc;
}

void key_hmac(const auth_key_t *k, const void *msg, size_t len, unsigned char out[32])
{
    hmac_states(k);
    SHA256_CTX c = k->hmac_inner;
    unsigned char inner[32];
    SHA256_Update(&c, msg, len);
    SHA256_Final(inner, &c);
    c = k->hmac_outer;
    SHA256_Update(&c, inner, sizeof inner);
    SHA256_Final(out, &c);
    sodium_memzero(&c, sizeof c);
}

void keyring_derive(const keyring_t *kr, const char *purpose, unsigned char out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)purpose, strlen(purpose), kr->keys[0].secret,
                       kr->keys[0].secret_len > crypto_generichash_KEYBYTES_MAX ? crypto_generichash_KEYBYTES_MAX
                                                                                : kr->keys[0].secret_len);
}

void keyring_clear(keyring_t *kr) { sodium_memzero(kr, sizeof *kr); }
