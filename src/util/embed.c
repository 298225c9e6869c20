/*
 * embed.c — lookup in the generated table of embedded files.
 */
#include "util/embed.h"

#include <string.h>

const embed_file_t *embed_find(const char *path)
{
    size_t lo = 0, hi = embed_nfiles;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(embed_files[mid].path, path);
        if (c == 0) return &embed_files[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
