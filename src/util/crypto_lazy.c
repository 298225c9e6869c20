/*
 * crypto_lazy.c — the OpenSSL functions mercato calls itself (SHA-256 for
 * the token MAC, auth/keys.c), loading libcrypto on the first one (see
 * util/lazylib.h): its relocation alone is 1.4 MB resident, which a server
 * that has not yet checked a token need not carry.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "util/lazylib.h"

LAZYLIB(g_crypto, "libcrypto.so.3");

/* clang-format off */
LAZY_FN(g_crypto, int, SHA256_Init, (SHA256_CTX *c), (c))
LAZY_FN(g_crypto, int, SHA256_Update, (SHA256_CTX *c, const void *data, size_t len), (c, data, len))
LAZY_FN(g_crypto, int, SHA256_Final, (unsigned char *md, SHA256_CTX *c), (md, c))
LAZY_FN(g_crypto, unsigned char *, SHA256, (const unsigned char *d, size_t n, unsigned char *md), (d, n, md))
/* clang-format on */
