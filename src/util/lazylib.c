/* lazylib.c — see lazylib.h */
#include "util/lazylib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* pthread_once passes no argument: the library being loaded is handed over
 * in a thread-local (each once runs on the calling thread). */
static __thread lazylib_t *t_loading;

static void load(void)
{
    lazylib_t *lib = t_loading;
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "mercato: cannot load %s: %s\n", lib->soname, dlerror());
        abort();
    }
    __atomic_store_n(&lib->handle, h, __ATOMIC_RELEASE);
}

void *lazylib_sym(lazylib_t *lib, const char *name)
{
    t_loading = lib;
    pthread_once(&lib->once, load);
    void *f = dlsym(__atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE), name);
    if (!f) {
        fprintf(stderr, "mercato: %s has no %s\n", lib->soname, name);
        abort();
    }
    return f;
}
