/*
 * arena.h — a region allocator: many allocations, one free.
 *
 * Every request owns an arena (nginx r->pool, h2o req->pool); everything
 * allocated for the request comes from it and is released in one go when the
 * response ends.  Destructors for things that are not plain memory (jansson
 * values, statements, files) hang off the arena with arena_defer() and run in
 * reverse order at arena_free().
 *
 * Arenas are not thread-safe: one owner at a time.
 */
#ifndef MERCATO_UTIL_ARENA_H
#define MERCATO_UTIL_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include "util/str.h"

typedef struct arena arena_t;

/* A new arena; never NULL (aborts on OOM).  Free with arena_free(). */
arena_t *arena_new(void);

/* Runs the deferred destructors and releases every block. */
void arena_free(arena_t *a);

/* Uninitialised memory, 16-byte aligned, owned by the arena. */
void *arena_alloc(arena_t *a, size_t n);
/* Zeroed memory owned by the arena. */
void *arena_calloc(arena_t *a, size_t n);

/* NUL-terminated copies owned by the arena. */
char *arena_strdup(arena_t *a, const char *s);
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_sprintf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vsprintf(arena_t *a, const char *fmt, va_list ap);
/* Copies a slice into a NUL-terminated string. */
static inline char *arena_str(arena_t *a, str_t s) { return arena_strndup(a, s.ptr, s.len); }

/* Registers fn(p) to run when the arena is freed (LIFO order). */
void arena_defer(arena_t *a, void (*fn)(void *), void *p);

/* Bytes handed out so far (for tests and metrics). */
size_t arena_used(const arena_t *a);

#endif
