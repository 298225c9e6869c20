/*
 * config.c — option parsing from the CONFIG_OPTIONS table (see config.h).
 *
 * Every option is described once, in config.h; this file walks that table
 * for defaults, the environment, flags, the help text and the start-up log
 * line.  Secrets never leave this file unmasked: tokens print as "***",
 * URLs print with only their password masked.
 */
#include "app/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

enum { T_STR, T_INT, T_BOOL };

typedef struct opt {
    const char *flag, *env, *def, *help;
    int type;
    long long min, max;
    int secret;
    size_t offset;
} opt_t;

#define T_OF_STR T_STR
#define T_OF_INT T_INT
#define T_OF_BOOL T_BOOL

static const opt_t opts[] = {
#define X(field, flag, env, type, def, min, max, secret, help) \
    { flag, env, def, help, T_OF_##type, min, max, secret, offsetof(config_t, field) },
    CONFIG_OPTIONS(X)
#undef X
};
#define NOPTS (sizeof opts / sizeof opts[0])

static int set_value(config_t *cfg, const opt_t *o, const char *val, const char *source)
{
    char *base = (char *)cfg + o->offset;
    switch (o->type) {
    case T_STR: {
        char **p = (char **)base;
        free(*p);
        *p = xstrdup(val);
        if (strcmp(o->flag, "log-level") == 0) {
            log_level_t l;
            if (log_level_parse(val, &l) < 0) {
                fprintf(stderr, "mercato: %s: invalid log level '%s' (debug, info, warn, error)\n", source, val);
                return -1;
            }
        }
        return 0;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end) {
            fprintf(stderr, "mercato: %s: '%s' is not an integer\n", source, val);
            return -1;
        }
        if (v < o->min || v > o->max) {
            fprintf(stderr, "mercato: %s: %lld is out of range [%lld, %lld]\n", source, v, o->min, o->max);
            return -1;
        }
        *(long long *)base = v;
        return 0;
    }
    case T_BOOL:
        if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "on") || !strcmp(val, "yes")) {
            *(int *)base = 1;
        } else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "off") || !strcmp(val, "no")) {
            *(int *)base = 0;
        } else {
            fprintf(stderr, "mercato: %s: '%s' is not a boolean (true/false)\n", source, val);
            return -1;
        }
        return 0;
    }
    return -1;
}

int config_load(config_t *cfg, int argc, char **argv, char ***rest, int *nrest)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTS; i++)
        if (set_value(cfg, &opts[i], opts[i].def, "default") < 0) return -1;
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = getenv(opts[i].env);
        if (v) {
            char src[96];
            snprintf(src, sizeof src, "environment %s", opts[i].env);
            if (set_value(cfg, &opts[i], v, src) < 0) return -1;
        }
    }
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            pos[npos++] = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const opt_t *o = NULL;
        for (size_t k = 0; k < NOPTS; k++)
            if (strlen(opts[k].flag) == nl && strncmp(opts[k].flag, name, nl) == 0) o = &opts[k];
        if (!o) {
            /* leave subcommand-specific flags to the subcommand */
            pos[npos++] = a;
            continue;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (o->type == T_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0 ||
                                        (strcmp(argv[i + 1], "true") && strcmp(argv[i + 1], "false")))) {
            val = "true";
        } else {
            if (i + 1 >= argc) {
                fprintf(stderr, "mercato: --%s needs a value\n", o->flag);
                free(pos);
                return -1;
            }
            val = argv[++i];
        }
        char src[96];
        snprintf(src, sizeof src, "--%s", o->flag);
        if (set_value(cfg, o, val, src) < 0) {
            free(pos);
            return -1;
        }
    }
    *rest = pos;
    *nrest = npos;
    log_level_t l;
    if (log_level_parse(cfg->log_level, &l) == 0) log_set_level(l);
    return 0;
}

void config_free(config_t *cfg)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type == T_STR) {
            char **p = (char **)((char *)cfg + opts[i].offset);
            free(*p);
            *p = NULL;
        }
}

void config_mask_url(const char *url, char *out, size_t outlen)
{
    buf_t b = BUF_INIT(0);
    const char *scheme = strstr(url, "://");
    const char *rest = url;
    if (scheme) {
        const char *auth = scheme + 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = memrchr(auth, '@', alen);
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            buf_append(&b, url, (size_t)(colon - url));
            buf_puts(&b, ":***");
            rest = at;
        }
    }
    /* password=VALUE in the query (libpq accepts it there) */
    const char *q = strchr(rest, '?');
    if (q) {
        buf_append(&b, rest, (size_t)(q - rest));
        rest = q;
        while (*rest) {
            size_t seg = strcspn(rest + 1, "&") + 1; /* "?name=value" or "&name=value" */
            if (seg > 10 && strncasecmp(rest + 1, "password=", 9) == 0) {
                buf_append(&b, rest, 10);
                buf_puts(&b, "***");
            } else {
                buf_append(&b, rest, seg);
            }
            rest += seg;
        }
    }
    buf_puts(&b, rest);
    snprintf(out, outlen, "%s", b.ptr ? b.ptr : "");
    buf_free(&b);
}

void config_log(const config_t *cfg)
{
    buf_t b = BUF_INIT(8192);
    buf_puts(&b, "\"msg\":\"configuration\"");
    for (size_t i = 0; i < NOPTS; i++) {
        const char *base = (const char *)cfg + opts[i].offset;
        buf_puts(&b, ",\"");
        for (const char *c = opts[i].flag; *c; c++) buf_putc(&b, *c == '-' ? '_' : *c);
        buf_puts(&b, "\":");
        switch (opts[i].type) {
        case T_STR: {
            const char *v = *(char *const *)base;
            char masked[512];
            if (opts[i].secret == CFG_SECRET_URL) {
                config_mask_url(v, masked, sizeof masked);
                v = masked;
            } else if (opts[i].secret && v[0]) {
                v = "***";
            }
            buf_putc(&b, '"');
            buf_json_escape(&b, v, strlen(v));
            buf_putc(&b, '"');
            break;
        }
        case T_INT: buf_printf(&b, "%lld", *(const long long *)base); break;
        case T_BOOL: buf_puts(&b, *(const int *)base ? "true" : "false"); break;
        }
    }
    if (b.ptr) log_raw_fields(LOG_INFO, b.ptr, b.len);
    buf_free(&b);
}

void config_print_help(FILE *out)
{
    fprintf(out, "Options (flag / environment variable, default):\n");
    for (size_t i = 0; i < NOPTS; i++)
        fprintf(out, "  --%-18s %-26s %s [%s]\n", opts[i].flag, opts[i].env, opts[i].help,
                opts[i].secret == CFG_SECRET && opts[i].def[0] ? "***" : (opts[i].def[0] ? opts[i].def : "\"\""));
}
