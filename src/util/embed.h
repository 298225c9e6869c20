/*
 * embed.h — files compiled into the binary (migrations, OpenAPI, pages).
 *
 * The table is generated at build time by tools/embed.c and sorted by path.
 * Contents are NUL-terminated for convenience; len excludes the NUL.
 */
#ifndef MERCATO_UTIL_EMBED_H
#define MERCATO_UTIL_EMBED_H

#include <stddef.h>

typedef struct embed_file {
    const char *path;
    const char *data;
    size_t len;
} embed_file_t;

extern const embed_file_t embed_files[];
extern const size_t embed_nfiles;

/* The file with exactly this path, or NULL. */
const embed_file_t *embed_find(const char *path);

#endif
