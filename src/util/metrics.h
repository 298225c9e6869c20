/*
 * metrics.h — the Prometheus text exposition (format 0.0.4).
 *
 * There is no global registry of metric objects: each subsystem keeps its own
 * counters (plain integers updated with relaxed atomics) and registers a
 * render function that prints them.  GET /metrics calls every render function
 * in registration order.  Names use the mercato_ prefix and base units
 * (seconds, bytes); counters end in _total; labels never carry unbounded
 * values (route templates, never raw paths).
 */
#ifndef MERCATO_UTIL_METRICS_H
#define MERCATO_UTIL_METRICS_H

#include <stdint.h>

#include "util/buf.h"

typedef void (*metrics_render_fn)(buf_t *out, void *ctx);

/* Registers a render function (start-up only, not thread-safe). */
void metrics_register(metrics_render_fn fn, void *ctx);
/* Renders every registered family plus the process families into out. */
void metrics_render(buf_t *out);

/* Writes the # HELP and # TYPE lines. */
void metrics_family(buf_t *out, const char *name, const char *type, const char *help);

/* Fixed-bucket latency histogram; observations in microseconds, rendered in
 * seconds.  All fields are updated with relaxed atomics. */
#define METRICS_HIST_NBUCKETS 16
typedef struct metrics_hist {
    uint64_t buckets[METRICS_HIST_NBUCKETS]; /* non-cumulative counts */
    uint64_t inf;                            /* above the last bound */
    uint64_t sum_us;
    uint64_t count;
} metrics_hist_t;

void metrics_hist_observe_us(metrics_hist_t *h, int64_t us);
/* Writes the _bucket/_sum/_count series; labels is "" or `a="b",c="d"`. */
void metrics_hist_render(buf_t *out, const char *name, const char *labels, const metrics_hist_t *h);

static inline void metrics_inc(uint64_t *c) { __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }
static inline void metrics_add(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }
static inline uint64_t metrics_get(const uint64_t *c) { return __atomic_load_n(c, __ATOMIC_RELAXED); }

/* Process figures, also used by benchmarks and tests. */
long metrics_process_rss_bytes(void);
int metrics_process_open_fds(void);

/* Set once at start-up: version string and start time for build/process families. */
void metrics_set_build(const char *version, const char *commit);

#endif
