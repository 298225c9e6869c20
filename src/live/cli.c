/*
 * cli.c — `mercato events`: the operator's view of the event log.
 *
 *   mercato events last
 *   mercato events append --type T --subject S [--owner usr_..] [--actor A]
 *                         [--data '{json}'] [--count N]
 *
 * append writes events exactly as a module would (event_append_owned, in
 * one transaction), so an operator can re-announce a change to streams and
 * consumers, and tests and benchmarks can drive the live layer without a
 * private hook in the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live/live.h"

typedef struct append_args {
    const char *type, *subject, *owner, *actor;
    json_t *data;
    long count;
    int64_t first, last;
} append_args_t;

static int append_tx(db_conn_t *c, void *ctx)
{
    append_args_t *a = ctx;
    for (long i = 0; i < a->count; i++) {
        int64_t id = event_append_owned(c, a->type, a->subject, a->actor, a->owner, a->data);
        if (id < 0) return (int)id;
        if (!i) a->first = id;
        a->last = id;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: mercato events last\n"
                    "       mercato events append --type T --subject S [--owner usr_..] [--actor A] "
                    "[--data '{json}'] [--count N]\n");
    return 2;
}

int live_cli(app_t *app, int nrest, char **rest)
{
    const char *sub = nrest > 1 ? rest[1] : "";
    if (!strcmp(sub, "last")) {
        if (nrest != 2) return usage();
        db_conn_t *c = db_acquire(app->db);
        int64_t id = c ? event_last_id(c) : -1;
        if (c) db_release(c);
        if (id < 0) return 1;
        printf("%lld\n", (long long)id);
        return 0;
    }
    if (strcmp(sub, "append") != 0) return usage();
    append_args_t a = { .actor = "operator", .count = 1 };
    const char *data = "{}";
    for (int i = 2; i < nrest; i++) {
        const char *k = rest[i], *v = i + 1 < nrest ? rest[i + 1] : NULL;
        if (!v) return usage();
        if (!strcmp(k, "--type")) a.type = v;
        else if (!strcmp(k, "--subject")) a.subject = v;
        else if (!strcmp(k, "--owner")) a.owner = v;
        else if (!strcmp(k, "--actor")) a.actor = v;
        else if (!strcmp(k, "--data")) data = v;
        else if (!strcmp(k, "--count")) {
            char *end;
            a.count = strtol(v, &end, 10);
            if (*end || a.count < 1 || a.count > 100000) {
                fprintf(stderr, "mercato: --count must be from 1 to 100000\n");
                return 2;
            }
        } else return usage();
        i++;
    }
    if (!a.type || !*a.type || !a.subject || !*a.subject) return usage();
    json_error_t jerr;
    a.data = json_loads(data, 0, &jerr);
    if (!json_is_object(a.data)) {
        fprintf(stderr, "mercato: --data must be a JSON object\n");
        json_decref(a.data);
        return 2;
    }
    int rc = db_tx(app->db, append_tx, &a);
    json_decref(a.data);
    if (rc != 0) {
        fprintf(stderr, "mercato: appending failed (%d)\n", rc);
        return 1;
    }
    if (a.count == 1) printf("%lld\n", (long long)a.first);
    else printf("%lld-%lld\n", (long long)a.first, (long long)a.last);
    return 0;
}
