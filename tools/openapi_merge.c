/*
 * openapi_merge.c — build tool: merges the OpenAPI fragments in
 * docs/openapi/NN-module.json into the one document the server embeds and serves.
 *
 *   openapi_merge OUT.json FRAGMENT.json...
 *
 * Why: several engineers add endpoints at once; one big JSON file would
 * conflict on every merge.  Each module owns a fragment
 * ({"paths":{...},"components":{...}}); 00-base.json holds the shared parts
 * (openapi, info, servers, tags, common components).
 *
 * Rules, applied in the order the fragments are given (the Makefile passes
 * them sorted by file name):
 *   - maps are merged key by key: paths, webhooks, x-problem-types, and
 *     every map under components (schemas, parameters, responses, ...);
 *     a key that two fragments define is an error naming both files;
 *   - tags (an array) is concatenated; a tag name defined twice is an error;
 *   - any other top-level member may appear in one fragment only.
 * OUT is rewritten only when its content changes, so an unchanged document
 * keeps its timestamp and does not trigger a re-embed.  Exit 0 ok, 1 on
 * any error (message on stderr).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const map_members[] = { "paths", "webhooks", "x-problem-types" };

/* Which fragment first defined each key, for error messages: origin[path] = file. */
static json_t *g_origin;

static int merge_map(json_t *dst, json_t *src, const char *where, const char *file)
{
    const char *key;
    json_t *val;
    if (!json_is_object(src)) {
        fprintf(stderr, "openapi_merge: %s: %s must be an object\n", file, where);
        return -1;
    }
    json_object_foreach(src, key, val) {
        char path[1024];
        snprintf(path, sizeof path, "%s[\"%s\"]", where, key);
        if (json_object_get(dst, key)) {
            const char *first = json_string_value(json_object_get(g_origin, path));
            fprintf(stderr, "openapi_merge: %s: duplicate %s (already defined in %s)\n", file, path,
                    first ? first : "?");
            return -1;
        }
        json_object_set(dst, key, val);
        json_object_set_new(g_origin, path, json_string(file));
    }
    return 0;
}

static json_t *ensure_object(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);
    if (!o) {
        o = json_object();
        json_object_set_new(parent, key, o);
    }
    return o;
}

static int merge_fragment(json_t *doc, json_t *frag, const char *file)
{
    const char *key;
    json_t *val;
    if (!json_is_object(frag)) {
        fprintf(stderr, "openapi_merge: %s: a fragment must be a JSON object\n", file);
        return -1;
    }
    json_object_foreach(frag, key, val) {
        int is_map = 0;
        for (size_t i = 0; i < sizeof map_members / sizeof map_members[0]; i++)
            if (strcmp(key, map_members[i]) == 0) is_map = 1;
        if (is_map) {
            if (merge_map(ensure_object(doc, key), val, key, file) < 0) return -1;
        } else if (strcmp(key, "components") == 0) {
            const char *kind;
            json_t *m;
            if (!json_is_object(val)) {
                fprintf(stderr, "openapi_merge: %s: components must be an object\n", file);
                return -1;
            }
            json_t *comps = ensure_object(doc, "components");
            json_object_foreach(val, kind, m) {
                char where[256];
                snprintf(where, sizeof where, "components/%s", kind);
                if (merge_map(ensure_object(comps, kind), m, where, file) < 0) return -1;
            }
        } else if (strcmp(key, "tags") == 0) {
            size_t i;
            json_t *t;
            if (!json_is_array(val)) {
                fprintf(stderr, "openapi_merge: %s: tags must be an array\n", file);
                return -1;
            }
            json_t *tags = json_object_get(doc, "tags");
            if (!tags) {
                tags = json_array();
                json_object_set_new(doc, "tags", tags);
            }
            json_array_foreach(val, i, t) {
                const char *name = json_string_value(json_object_get(t, "name"));
                if (!name) {
                    fprintf(stderr, "openapi_merge: %s: tags[%zu] has no name\n", file, i);
                    return -1;
                }
                char path[512];
                snprintf(path, sizeof path, "tags/%s", name);
                if (json_object_get(g_origin, path)) {
                    fprintf(stderr, "openapi_merge: %s: duplicate tag '%s' (already defined in %s)\n", file,
                            name, json_string_value(json_object_get(g_origin, path)));
                    return -1;
                }
                json_object_set_new(g_origin, path, json_string(file));
                json_array_append(tags, t);
            }
        } else {
            if (json_object_get(doc, key)) {
                fprintf(stderr, "openapi_merge: %s: duplicate top-level member '%s' (already defined in %s)\n",
                        file, key, json_string_value(json_object_get(g_origin, key)));
                return -1;
            }
            json_object_set(doc, key, val);
            json_object_set_new(g_origin, key, json_string(file));
        }
    }
    return 0;
}

/* Returns 1 when path already holds exactly these bytes. */
static int same_content(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int same = 1;
    size_t i = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (i >= n || (unsigned char)s[i] != (unsigned char)c) {
            same = 0;
            break;
        }
        i++;
    }
    fclose(f);
    return same && i == n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: openapi_merge OUT.json FRAGMENT.json...\n");
        return 2;
    }
    const char *outpath = argv[1];
    json_t *doc = json_object();
    g_origin = json_object();
    int rc = 1;
    for (int i = 2; i < argc; i++) {
        json_error_t err;
        json_t *frag = json_load_file(argv[i], JSON_REJECT_DUPLICATES, &err);
        if (!frag) {
            fprintf(stderr, "openapi_merge: %s:%d:%d: %s\n", argv[i], err.line, err.column, err.text);
            goto done;
        }
        int r = merge_fragment(doc, frag, argv[i]);
        json_decref(frag);
        if (r < 0) goto done;
    }
    if (!json_is_string(json_object_get(doc, "openapi"))) {
        fprintf(stderr, "openapi_merge: no fragment sets \"openapi\" (00-base.json should)\n");
        goto done;
    }
    char *body = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!body) goto done;
    size_t n = strlen(body);
    char *s = malloc(n + 2);
    if (!s) {
        free(body);
        goto done;
    }
    memcpy(s, body, n);
    s[n++] = '\n';
    s[n] = '\0';
    free(body);
    if (!same_content(outpath, s, n)) {
        FILE *f = fopen(outpath, "wb");
        if (!f || fwrite(s, 1, n, f) != n || fclose(f) != 0) {
            perror(outpath);
            free(s);
            goto done;
        }
    }
    free(s);
    rc = 0;
done:
    json_decref(doc);
    json_decref(g_origin);
    return rc;
}
