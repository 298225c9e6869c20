/*
 * lazylib.h — shared libraries loaded on first use.
 *
 * DESIGN
 * libpq (with Kerberos, LDAP and OpenSSL's TLS behind it) serves only a
 * PostgreSQL deployment, and libcurl (GnuTLS, SSH, RTMP, ...) only mail,
 * Stripe and webhook deliveries: linked normally they are mapped and
 * relocated at start-up and cost about 1.7 MB of resident memory in every
 * process, most of which never calls them.  The binary is not linked
 * against them; instead it defines each function it uses (src/db/pg_lazy.c,
 * src/util/curl_lazy.c) with the library's own prototype, and the first call
 * dlopen()s the library by its soname and looks the real function up.  The
 * headers are the libraries' own, so a prototype that drifts from the
 * library's does not compile.  A library that cannot be loaded is a broken
 * installation: the process says which one and aborts, as the dynamic
 * loader would have at start-up.
 *
 * LAZY_FN defines one forwarding function; its pointer is resolved once and
 * kept (lazylib_fn).
 */
#ifndef MERCATO_UTIL_LAZYLIB_H
#define MERCATO_UTIL_LAZYLIB_H

#include <pthread.h>

typedef struct lazylib {
    const char *soname; /* e.g. "libpq.so.5" */
    pthread_once_t once;
    void *handle;
} lazylib_t;

#define LAZYLIB(var, so) static lazylib_t var = { so, PTHREAD_ONCE_INIT, 0 }

/* The address of `name` in lib, loading lib on the first call; aborts with
 * a message when the library or the symbol is missing. */
void *lazylib_sym(lazylib_t *lib, const char *name);

/* The function `name` of lib, resolved on the first call and kept in *slot
 * (atomically: several threads may make the first call together). */
static inline void *lazylib_fn(lazylib_t *lib, void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!f) {
        f = lazylib_sym(lib, name);
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}

#define LAZY_FN(lib, ret, name, params, args)                                      \
    ret name params                                                                \
    {                                                                              \
        static void *slot;                                                         \
        return ((ret(*) params)lazylib_fn(&lib, &slot, #name)) args;               \
    }

#endif
