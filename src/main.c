/*
 * main.c — the mercato binary: subcommands, start-up and shutdown.
 *
 *   mercato serve     HTTP API (+ job workers unless --workers 0)
 *   mercato migrate   apply pending migrations and exit
 *   mercato seed      load demo data
 *   mercato user      create accounts (the first admin)
 *   mercato auth      access-token signing-key rotation
 *   mercato version   print the version
 *   mercato help      usage and every option
 *   mercato routes    "METHOD PATTERN" per route (not in help: for tests and
 *                     tooling, e.g. checking that the OpenAPI document is complete)
 *
 * Signals: SIGTERM/SIGINT are blocked in every thread and taken by the main
 * thread with sigwait(), which then drains the server (stop accepting,
 * finish in-flight requests within --shutdown-timeout) and exits 0.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "app/app.h"
#include "app/config.h"
#include "auth/auth.h"
#include "catalog/cache.h"
#include "catalog/routes.h"
#include "catalog/seed.h"
#include "orders/orders.h"
#include "db/migrate.h"
#include "jobs/jobq.h"
#include "jobs/runtime.h"
#include "live/live.h"
#include "mail/mail.h"
#include "ops/ops.h"
#include "search/search.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/sched.h"
#include "util/timeutil.h"

#ifndef MERCATO_COMMIT
#define MERCATO_COMMIT "unknown"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "mercato %s — a commerce backend in one binary\n\n"
            "Usage: mercato <command> [options]\n\n"
            "Commands:\n"
            "  serve              run the HTTP API (and job workers)\n"
            "  migrate            apply pending database migrations\n"
            "  seed --demo [--products N]   load the deterministic demo catalog\n"
            "  user create        create an account: [--admin|--seller] --email E --password P|- [--name N]\n"
            "  auth rotate-key    put a fresh access-token signing key first in the key file\n"
            "  worker             run job workers only (no API); scale them separately\n"
            "  jobs stats|list|get|retry|discard|enqueue   inspect and operate the job queue\n"
            "  events last|append  read the newest event id; append an event (--type --subject [--owner] [--data])\n"
            "  version            print the version\n"
            "  help               this text\n\n",
            MERCATO_VERSION);
    config_print_help(out);
}

static int reject_extra(int nrest, char **rest, int from)
{
    for (int i = from; i < nrest; i++) {
        fprintf(stderr, "mercato: unknown option or argument '%s' (see mercato help)\n", rest[i]);
        return -1;
    }
    return 0;
}

/* Creates the directory holding a sqlite:PATH database, and the data dir. */
static void ensure_dirs(const config_t *cfg)
{
    mkdir(cfg->data_dir, 0750);
    if (strncmp(cfg->database_url, "sqlite:", 7) == 0) {
        const char *p = cfg->database_url + 7;
        const char *slash = strrchr(p, '/');
        if (slash && slash != p) {
            char dir[1024];
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - p), p);
            mkdir(dir, 0750);
        }
    }
}

static int open_db(const config_t *cfg, db_t **out, int migrate)
{
    char err[512];
    ensure_dirs(cfg);
    db_opts_t o = { .pool_size = (int)cfg->db_pool, .busy_timeout_ms = 5000 };
    if (db_open(out, cfg->database_url, &o, err, sizeof err) < 0) {
        log_error("db", "%s", err);
        return -1;
    }
    if (migrate) {
        int applied;
        if (db_migrate(*out, &applied, err, sizeof err) < 0) {
            log_error("migrate", "%s", err);
            db_close(*out);
            *out = NULL;
            return -1;
        }
    }
    return 0;
}

static jobs_t *new_runtime(const config_t *cfg, db_t *db, int workers)
{
    jobs_opts_t jo = {
        .workers = workers,
        .batch = (int)cfg->job_batch,
        .lease_ms = cfg->job_lease * 1000,
        .poll_ms = cfg->job_poll_ms,
        .retention_ms = cfg->job_retention * 3600 * 1000,
    };
    return jobs_new(db, &jo);
}

static int wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

static int cmd_worker(config_t *cfg, int nrest, char **rest)
{
    if (reject_extra(nrest, rest, 1) < 0) return 2;
    config_log(cfg);
    app_t app = { .cfg = cfg, .version = MERCATO_VERSION };
    if (open_db(cfg, &app.db, 1) < 0) return 1;
    db_register_metrics(app.db);
    app.jobs = new_runtime(cfg, app.db, cfg->workers > 0 ? (int)cfg->workers : 1);
    app_jobs(app.jobs, &app);
    jobs_register_metrics(app.jobs);
    if (cfg->worker_port) {
        /* an operations-only listener so workers can be probed and scraped */
        app.router = router_new();
        ops_probe_routes(app.router);
        http_server_opts_t ho = { .host = cfg->host, .port = (int)cfg->worker_port, .threads = 1,
                                  .body_max = 4096, .header_max = 8192, .conn_limit = 64,
                                  .idle_timeout_s = 30, .cors_origins = "", .access_log = 0 };
        app.http = http_server_new(&ho, app.router, &app);
        if (http_server_start(app.http) < 0) return 1;
    }
    if (jobs_start(app.jobs) < 0) return 1;
    log_info("worker", "worker running%s%d", app.http ? "; operations on port " : "",
             app.http ? http_server_port(app.http) : 0);
    db_thread_done(app.db); /* this thread only waits from here on */
    int sig = wait_for_signal();
    log_info("worker", "received %s; draining (deadline %llds)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
             cfg->shutdown_timeout);
    jobs_stop(app.jobs, (int)cfg->shutdown_timeout * 1000);
    if (app.http) {
        http_server_shutdown(app.http, 1000);
        http_server_free(app.http);
        router_free(app.router);
    }
    jobs_free(app.jobs);
    db_close(app.db);
    log_info("worker", "stopped");
    return 0;
}

static int64_t parse_job_id(const char *s)
{
    if (strncmp(s, "job_", 4) == 0) s += 4;
    char *end;
    long long v = strtoll(s, &end, 10);
    return (*s && !*end && v > 0) ? v : -1;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
}

static const char *flag_value(int nrest, char **rest, const char *name, int *used)
{
    for (int i = 2; i < nrest; i++) {
        size_t n = strlen(name);
        if (strncmp(rest[i], name, n) == 0 && rest[i][n] == '=') {
            used[i] = 1;
            return rest[i] + n + 1;
        }
        if (strcmp(rest[i], name) == 0 && i + 1 < nrest) {
            used[i] = used[i + 1] = 1;
            return rest[i + 1];
        }
    }
    return NULL;
}

static int cmd_jobs(config_t *cfg, int nrest, char **rest)
{
    const char *sub = nrest > 1 ? rest[1] : "stats";
    int used[64] = { 0 };
    if (nrest > 64) {
        fprintf(stderr, "mercato: too many arguments\n");
        return 2;
    }
    const char *queue = flag_value(nrest, rest, "--queue", used);
    const char *state = flag_value(nrest, rest, "--state", used);
    const char *limit_s = flag_value(nrest, rest, "--limit", used);
    const char *max_s = flag_value(nrest, rest, "--max-attempts", used);
    const char *positional[4] = { 0 };
    int npos = 0;
    for (int i = 2; i < nrest; i++) {
        if (used[i]) continue;
        if (rest[i][0] == '-' || npos >= 4) {
            fprintf(stderr, "mercato: unexpected argument '%s' (see mercato help)\n", rest[i]);
            return 2;
        }
        positional[npos++] = rest[i];
    }
    if (state && job_state_parse(state) < 0) {
        fprintf(stderr, "mercato: --state must be queued, running, completed, dead or discarded\n");
        return 2;
    }
    db_t *db;
    if (open_db(cfg, &db, 1) < 0) return 1;
    db_conn_t *c = db_acquire(db);
    int rc = 0;
    if (!strcmp(sub, "stats")) {
        json_t *j = jobq_stats(c);
        if (j) print_json(j);
        else rc = 1;
        json_decref(j);
    } else if (!strcmp(sub, "list")) {
        int limit = limit_s ? atoi(limit_s) : 50;
        if (limit <= 0 || limit > 1000) limit = 50;
        json_t *j = jobq_list(c, queue, state, 0, limit);
        if (j) print_json(j);
        else rc = 1;
        json_decref(j);
    } else if (!strcmp(sub, "get") || !strcmp(sub, "retry") || !strcmp(sub, "discard")) {
        int64_t id = npos == 1 ? parse_job_id(positional[0]) : -1;
        if (id < 0) {
            fprintf(stderr, "mercato: jobs %s needs one job id (job_N)\n", sub);
            rc = 2;
        } else if (!strcmp(sub, "get")) {
            json_t *j = jobq_get(c, id);
            if (j) print_json(j);
            else {
                fprintf(stderr, "mercato: no job job_%lld\n", (long long)id);
                rc = 1;
            }
            json_decref(j);
        } else {
            int r = !strcmp(sub, "retry") ? jobq_retry(c, id) : jobq_discard(c, id);
            if (r == 0) printf("job_%lld %s\n", (long long)id, !strcmp(sub, "retry") ? "queued again" : "discarded");
            else {
                fprintf(stderr, "mercato: job_%lld cannot be %s (absent, or not in a state that allows it)\n",
                        (long long)id, !strcmp(sub, "retry") ? "retried" : "discarded");
                rc = 1;
            }
        }
    } else if (!strcmp(sub, "enqueue")) {
        json_error_t jerr;
        json_t *payload = npos >= 2 ? json_loads(positional[1], 0, &jerr) : json_object();
        if (npos < 1 || !json_is_object(payload)) {
            fprintf(stderr, "mercato: jobs enqueue QUEUE ['{json object}'] [--max-attempts N]\n");
            rc = 2;
        } else {
            jobq_opts_t o = { .max_attempts = max_s ? atoi(max_s) : 0 };
            int64_t id = jobq_enqueue(c, positional[0], payload, &o);
            if (id > 0) printf("job_%lld\n", (long long)id);
            else rc = 1;
        }
        json_decref(payload);
    } else {
        fprintf(stderr, "mercato: unknown jobs command '%s' (stats, list, get, retry, discard, enqueue)\n", sub);
        rc = 2;
    }
    db_release(c);
    db_close(db);
    return rc;
}

/* mercato events last|append: see src/live/cli.c */
static int cmd_events(config_t *cfg, int nrest, char **rest)
{
    app_t app = { .cfg = cfg, .version = MERCATO_VERSION };
    if (open_db(cfg, &app.db, 1) < 0) return 1;
    int rc = live_cli(&app, nrest, rest);
    db_close(app.db);
    return rc;
}

static int cmd_serve(config_t *cfg, int nrest, char **rest)
{
    if (reject_extra(nrest, rest, 1) < 0) return 2;
    config_log(cfg);
    app_t app = { .cfg = cfg, .version = MERCATO_VERSION };
    if (open_db(cfg, &app.db, 1) < 0) return 1;
    db_register_metrics(app.db);
    if (mail_configure(cfg->smtp_url, cfg->mail_from) < 0) {
        log_error("mail", "--mail-from needs an address, e.g. \"Shop <no-reply@shop.example>\"");
        db_close(app.db);
        return 1;
    }
    if (auth_start(&app) < 0) {
        db_close(app.db);
        return 1;
    }
    catalog_start((size_t)cfg->catalog_cache_mb << 20, (size_t)cfg->search_cache_mb << 20);
    if (cfg->demo) {
        catalog_seed_stats_t st;
        int src = catalog_seed_demo(app.db, 300, &st);
        if (src < 0) {
            db_close(app.db);
            return 1;
        }
        if (src == 0)
            log_info("serve", "loaded the demo catalog: %ld products, %ld categories, %ld reviews", st.products,
                     st.categories, st.reviews);
        if (orders_seed_demo(app.db) < 0) log_warn("serve", "the demo stock was not loaded");
    }
    if (catalog_follow_start(app.db, 200) < 0) log_warn("serve", "the catalog event follower did not start");
    live_opts_t lo = { .heartbeat_s = (int)cfg->sse_heartbeat, .retry_ms = (int)cfg->sse_retry_ms,
                       .buffer_max = (size_t)cfg->sse_buffer_kb << 10, .poll_ms = (int)cfg->sse_poll_ms,
                       .max_streams = (int)cfg->sse_max_streams };
    if (live_start(app.db, &lo) < 0) log_warn("serve", "the SSE tailer did not start");
    app.router = router_new();
    app_routes(app.router);
    http_server_opts_t ho = {
        .host = cfg->host,
        .port = (int)cfg->port,
        .threads = (int)cfg->http_threads,
        .handler_threads = (int)cfg->handler_threads,
        .body_max = (size_t)cfg->body_max,
        .header_max = (size_t)cfg->header_max,
        .conn_limit = (unsigned)cfg->conn_limit,
        .idle_timeout_s = (unsigned)cfg->idle_timeout,
        .conn_memory = (size_t)cfg->conn_memory_kb << 10,
        .cors_origins = cfg->cors_origins,
        .access_log = cfg->access_log,
    };
    app.jobs = new_runtime(cfg, app.db, (int)cfg->workers);
    app_jobs(app.jobs, &app);
    jobs_register_metrics(app.jobs);
    app.http = http_server_new(&ho, app.router, &app);
    http_server_set_pre_hook(app.http, app_pre_hook);
    http_server_set_post_hook(app.http, app_post_hook);
    if (jobs_start(app.jobs) < 0 || http_server_start(app.http) < 0) {
        jobs_stop(app.jobs, 0);
        jobs_free(app.jobs);
        http_server_free(app.http);
        router_free(app.router);
        auth_stop();
        catalog_follow_stop();
        live_stop();
        db_close(app.db);
        return 1;
    }
    log_info("serve", "listening on http://%s:%d (database %s, %d routes)", cfg->host,
             http_server_port(app.http), db_kind_name(app.db), (int)router_count(app.router));
    db_thread_done(app.db); /* this thread only waits from here on */
    malloc_trim(0);         /* and hands back what migrating and loading freed */

    int sig = wait_for_signal();
    log_info("serve", "received %s; draining (deadline %llds)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
             cfg->shutdown_timeout);
    int64_t t0 = time_now_ms();
    int left = http_server_shutdown(app.http, (int)cfg->shutdown_timeout * 1000);
    if (left) log_warn("serve", "%d requests were still in flight at the deadline", left);
    int64_t remaining = cfg->shutdown_timeout * 1000 - (time_now_ms() - t0);
    jobs_stop(app.jobs, remaining > 0 ? (int)remaining : 0);
    http_server_free(app.http);
    router_free(app.router);
    jobs_free(app.jobs);
    auth_stop();
    catalog_follow_stop();
    live_stop();
    catalog_cache_shutdown();
    search_cache_shutdown();
    db_close(app.db);
    log_info("serve", "stopped");
    return 0;
}

static int cmd_migrate(config_t *cfg, int nrest, char **rest)
{
    int status_only = nrest > 1 && strcmp(rest[1], "status") == 0;
    if (reject_extra(nrest, rest, status_only ? 2 : 1) < 0) return 2;
    db_t *db;
    if (open_db(cfg, &db, 0) < 0) return 1;
    int dbv = 0, binv = 0;
    if (status_only) {
        if (db_schema_version(db, &dbv, &binv) < 0) {
            db_close(db);
            return 1;
        }
        printf("database version %d, binary version %d%s\n", dbv, binv,
               dbv < binv ? " (migrations pending)" : dbv > binv ? " (database is newer!)" : " (up to date)");
        db_close(db);
        return dbv > binv ? 1 : 0;
    }
    char err[512];
    int applied;
    if (db_migrate(db, &applied, err, sizeof err) < 0) {
        log_error("migrate", "%s", err);
        db_close(db);
        return 1;
    }
    db_schema_version(db, &dbv, &binv);
    printf("applied %d migration(s); database version %d\n", applied, dbv);
    db_close(db);
    return 0;
}

/* mercato seed --demo [--products N]: the deterministic demo catalog */
static int cmd_seed(config_t *cfg, int nrest, char **rest)
{
    long n = 300;
    for (int i = 1; i < nrest; i++) {
        const char *a = rest[i], *v = NULL;
        if (!strcmp(a, "--products") && i + 1 < nrest) v = rest[++i];
        else if (!strncmp(a, "--products=", 11)) v = a + 11;
        else {
            fprintf(stderr, "mercato: unknown option or argument '%s' (usage: mercato seed --demo [--products N])\n", a);
            return 2;
        }
        char *end;
        n = strtol(v, &end, 10);
        if (end == v || *end || n < 1 || n > CATALOG_SEED_MAX) {
            fprintf(stderr, "mercato: --products must be an integer from 1 to %d\n", CATALOG_SEED_MAX);
            return 2;
        }
    }
    if (!cfg->demo) {
        fprintf(stderr, "mercato: seed needs --demo (the demo catalog is the only data set)\n");
        return 2;
    }
    db_t *db;
    if (open_db(cfg, &db, 1) < 0) return 1;
    catalog_seed_stats_t st;
    int64_t t0 = time_mono_us();
    int rc = catalog_seed_demo(db, n, &st);
    long stocked = rc == 0 ? orders_seed_demo(db) : 0;
    db_close(db);
    if (rc == 1) {
        fprintf(stderr, "mercato: the catalog is not empty; seed into a fresh database\n");
        return 1;
    }
    if (rc < 0) return 1;
    printf("seeded %ld products (%ld published), %ld variants, %ld reviews, %ld categories, %ld sellers in %.1f s\n",
           st.products, st.published, st.variants, st.reviews, st.categories, st.sellers,
           (double)(time_mono_us() - t0) / 1e6);
    if (stocked > 0) printf("stocked %ld variants with %d units each\n", stocked, ORDERS_DEMO_STOCK);
    return 0;
}

/* Prints every mounted route; needs no configuration or database. */
static int cmd_routes(void)
{
    router_t *r = router_new();
    app_routes(r);
    for (size_t i = 0; i < router_count(r); i++) {
        const route_t *rt = router_at(r, i);
        printf("%s %s\n", http_method_name(rt->method), rt->pattern);
    }
    router_free(r);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    /* block the shutdown signals before any thread starts; main takes them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (sodium_init() < 0) {
        fprintf(stderr, "mercato: libsodium failed to initialise\n");
        return 1;
    }
    metrics_set_build(MERCATO_VERSION, MERCATO_COMMIT);

    const char *cmd = argc > 1 ? argv[1] : "help";
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("mercato %s (%s)\n", MERCATO_VERSION, MERCATO_COMMIT);
        return 0;
    }
    if (!strcmp(cmd, "routes")) return cmd_routes();
    config_t cfg;
    char **rest = NULL;
    int nrest = 0;
    if (config_load(&cfg, argc - 1, argv + 1, &rest, &nrest) < 0) {
        config_free(&cfg);
        return 2;
    }
    sched_batch_enable(cfg.sched_batch);
    sched_writer_rt_enable(cfg.sched_writer_rt);
    int rc;
    if (!strcmp(cmd, "serve")) rc = cmd_serve(&cfg, nrest, rest);
    else if (!strcmp(cmd, "migrate")) rc = cmd_migrate(&cfg, nrest, rest);
    else if (!strcmp(cmd, "seed")) rc = cmd_seed(&cfg, nrest, rest);
    else if (!strcmp(cmd, "user")) {
        ensure_dirs(&cfg);
        rc = auth_cli_user(&cfg, nrest, rest);
    } else if (!strcmp(cmd, "auth")) {
        ensure_dirs(&cfg);
        rc = auth_cli_auth(&cfg, nrest, rest);
    }
    else if (!strcmp(cmd, "worker")) rc = cmd_worker(&cfg, nrest, rest);
    else if (!strcmp(cmd, "jobs")) rc = cmd_jobs(&cfg, nrest, rest);
    else if (!strcmp(cmd, "events")) rc = cmd_events(&cfg, nrest, rest);
    else {
        fprintf(stderr, "mercato: unknown command '%s' (see mercato help)\n", cmd);
        rc = 2;
    }
    free(rest);
    config_free(&cfg);
    return rc;
}
