/*
 * metrics.c — Prometheus exposition helpers and process metrics.
 */
#include "util/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/timeutil.h"

#define MAX_RENDERERS 64

static struct {
    metrics_render_fn fn;
    void *ctx;
} g_renderers[MAX_RENDERERS];
static int g_nrenderers;
static const char *g_version = "dev", *g_commit = "unknown";
static int64_t g_start_ms;

/* upper bounds in microseconds */
static const int64_t bounds_us[METRICS_HIST_NBUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000,
};

void metrics_register(metrics_render_fn fn, void *ctx)
{
    if (g_nrenderers < MAX_RENDERERS) {
        g_renderers[g_nrenderers].fn = fn;
        g_renderers[g_nrenderers].ctx = ctx;
        g_nrenderers++;
    }
}

void metrics_set_build(const char *version, const char *commit)
{
    g_version = version;
    g_commit = commit;
    g_start_ms = time_now_ms();
}

void metrics_family(buf_t *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_hist_observe_us(metrics_hist_t *h, int64_t us)
{
    if (us < 0) us = 0;
    int i = 0;
    while (i < METRICS_HIST_NBUCKETS && us > bounds_us[i]) i++;
    if (i < METRICS_HIST_NBUCKETS)
        metrics_inc(&h->buckets[i]);
    else
        metrics_inc(&h->inf);
    metrics_add(&h->sum_us, (uint64_t)us);
    metrics_inc(&h->count);
}

void metrics_hist_render(buf_t *out, const char *name, const char *labels, const metrics_hist_t *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (int i = 0; i < METRICS_HIST_NBUCKETS; i++) {
        cum += metrics_get(&h->buckets[i]);
        buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                   (double)bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    cum += metrics_get(&h->inf);
    buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    if (labels[0]) {
        buf_printf(out, "%s_sum{%s} %.6f\n", name, labels, (double)metrics_get(&h->sum_us) / 1e6);
        buf_printf(out, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
    } else {
        buf_printf(out, "%s_sum %.6f\n", name, (double)metrics_get(&h->sum_us) / 1e6);
        buf_printf(out, "%s_count %llu\n", name, (unsigned long long)cum);
    }
}

long metrics_process_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

int metrics_process_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory stream itself */
}

void metrics_render(buf_t *out)
{
    for (int i = 0; i < g_nrenderers; i++) g_renderers[i].fn(out, g_renderers[i].ctx);
    metrics_family(out, "mercato_process_resident_memory_bytes", "gauge", "Resident set size in bytes.");
    buf_printf(out, "mercato_process_resident_memory_bytes %ld\n", metrics_process_rss_bytes());
    metrics_family(out, "mercato_process_open_fds", "gauge", "Number of open file descriptors.");
    buf_printf(out, "mercato_process_open_fds %d\n", metrics_process_open_fds());
    metrics_family(out, "mercato_process_start_time_seconds", "gauge",
                   "Start time of the process since the Unix epoch in seconds.");
    buf_printf(out, "mercato_process_start_time_seconds %.3f\n", (double)g_start_ms / 1000.0);
    metrics_family(out, "mercato_build_info", "gauge", "Build information; the value is always 1.");
    buf_printf(out, "mercato_build_info{version=\"%s\",commit=\"%s\"} 1\n", g_version, g_commit);
}
