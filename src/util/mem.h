/*
 * mem.h — allocation wrappers that abort on out-of-memory.
 *
 * The server treats running out of memory as fatal (like h2o_mem_alloc):
 * every allocation of server-owned memory goes through these so that callers
 * never have to handle NULL.  Input that is too large is never allowed to get
 * here: sizes that come from clients are checked against limits first.
 */
#ifndef MERCATO_UTIL_MEM_H
#define MERCATO_UTIL_MEM_H

#include <stddef.h>

/* Each returns memory the caller frees with free(); aborts on OOM. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
