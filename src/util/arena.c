/*
 * arena.c — region allocator (see arena.h).
 *
 * Design: a chain of blocks; the first block (4 KiB) is allocated with the
 * arena header itself so a small request costs one malloc.  Requests larger
 * than a quarter block get a dedicated block so that a big body does not
 * waste the current block's tail.  Freed arenas keep nothing; the allocator
 * (glibc's per-thread caches) makes the next arena cheap.
 */
#include "util/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define ARENA_FIRST 4096
#define ARENA_BLOCK 16384
#define ALIGN 16

typedef struct block {
    struct block *next;
    size_t size, used;
    /* the data follows, aligned */
} block_t;

typedef struct defer {
    struct defer *next;
    void (*fn)(void *);
    void *p;
} defer_t;

struct arena {
    block_t *head;
    block_t *big; /* dedicated blocks for large allocations */
    defer_t *defers;
    size_t total;
};

static size_t hdr_size(void)
{
    return (sizeof(block_t) + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

arena_t *arena_new(void)
{
    size_t ah = (sizeof(arena_t) + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    char *mem = xmalloc(ah + hdr_size() + ARENA_FIRST);
    arena_t *a = (arena_t *)mem;
    block_t *b = (block_t *)(mem + ah);
    b->next = NULL;
    b->size = ARENA_FIRST;
    b->used = 0;
    a->head = b;
    a->big = NULL;
    a->defers = NULL;
    a->total = 0;
    return a;
}

void arena_free(arena_t *a)
{
    if (!a) return;
    for (defer_t *d = a->defers; d; d = d->next) d->fn(d->p);
    block_t *b = a->head;
    while (b) {
        block_t *next = b->next;
        if (next) free(b); /* the last block lives inside the arena allocation */
        b = next;
    }
    for (b = a->big; b;) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *arena_alloc(arena_t *a, size_t n)
{
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n == 0) n = ALIGN;
    block_t *b = a->head;
    if (b->size - b->used < n) {
        if (n > ARENA_BLOCK / 4) {
            /* dedicated block; the current block keeps serving small ones */
            block_t *big = xmalloc(hdr_size() + n);
            big->size = big->used = n;
            big->next = a->big;
            a->big = big;
            a->total += n;
            return (char *)big + hdr_size();
        }
        block_t *nb = xmalloc(hdr_size() + ARENA_BLOCK);
        nb->size = ARENA_BLOCK;
        nb->used = 0;
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = (char *)b + hdr_size() + b->used;
    b->used += n;
    a->total += n;
    return p;
}

void *arena_calloc(arena_t *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_vsprintf(arena_t *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_sprintf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void arena_defer(arena_t *a, void (*fn)(void *), void *p)
{
    defer_t *d = arena_alloc(a, sizeof(*d));
    d->fn = fn;
    d->p = p;
    d->next = a->defers;
    a->defers = d;
}

size_t arena_used(const arena_t *a)
{
    return a->total;
}
