/*
 * sse_bench.c — many concurrent SSE clients against one mercato instance.
 *
 *   sse_bench PORT DATABASE_URL TOKEN SERVER_PID [clients] [orders] [rate/s] [seconds]
 *
 * Appends one order.created per order (the streams' access check reads it),
 * opens `clients` streams on /v1/orders/{id}/stream spread over `orders`
 * orders with one epoll loop (non-blocking sockets, no thread per client),
 * then appends order.status_changed events at a steady rate, each carrying
 * the wall-clock microsecond just before its commit.  Every client parses
 * the events it receives and records commit→arrival delays.  Prints the
 * server's RSS (idle with all streams open, and at the end), delivered and
 * expected counts, and p50/p99/max delay.
 *
 * The appender writes through the same event_append_owned call the modules
 * use, from this separate process, so the server sees the events exactly
 * as it sees another instance's: through its tailer reading the shared log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "db/db.h"
#include "jobs/events.h"

typedef struct client {
    int fd;
    int state; /* 0 connecting, 1 sent, 2 streaming, 3 dead */
    char buf[4096];
    size_t len;
} client_t;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    fclose(f);
    return kb;
}

static int64_t *g_delays;
static atomic_long g_ndelays;
static long g_cap;
static atomic_long g_parse_errors;

static void record(int64_t d)
{
    long i = atomic_fetch_add(&g_ndelays, 1);
    if (i < g_cap) g_delays[i] = d;
}

/* scans complete events ("\n\n"-terminated) for "t":<us> */
static void consume(client_t *c)
{
    char *start = c->buf, *end = c->buf + c->len;
    for (;;) {
        char *blk = memmem(start, (size_t)(end - start), "\n\n", 2);
        if (!blk) break;
        char *t = memmem(start, (size_t)(blk - start), "\"t\":", 4);
        if (t) {
            char *e;
            long long v = strtoll(t + 4, &e, 10);
            if (e > t + 4 && *e == '}') record(now_us() - v);
            else atomic_fetch_add(&g_parse_errors, 1);
        }
        start = blk + 2;
    }
    size_t left = (size_t)(end - start);
    if (left == sizeof c->buf) left = 0; /* an event larger than the buffer: drop it */
    memmove(c->buf, start, left);
    c->len = left;
}

typedef struct appender {
    db_t *db;
    int orders, rate, seconds;
    long appended;
} appender_t;

static void order_id(char *out, size_t n, int i) { snprintf(out, n, "ord_bench%06d", i); }

static void *append_main(void *arg)
{
    appender_t *a = arg;
    db_conn_t *c = db_acquire(a->db);
    int64_t start = now_us(), interval = 1000000 / a->rate;
    long total = (long)a->rate * a->seconds;
    for (long k = 0; k < total; k++) {
        int64_t due = start + k * interval, wait = due - now_us();
        if (wait > 0) usleep((useconds_t)wait);
        char oid[32];
        order_id(oid, sizeof oid, (int)(k % a->orders));
        if (db_begin(c) < 0) continue;
        json_t *p = json_pack("{s:s, s:I}", "to", "shipped", "t", (json_int_t)now_us());
        int64_t id = event_append_owned(c, "order.status_changed", oid, "bench", "usr_bench", p);
        json_decref(p);
        if (id < 0 || db_commit(c) < 0) {
            db_rollback(c);
            continue;
        }
        a->appended++;
    }
    db_release(c);
    return NULL;
}

static int cmp64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: sse_bench PORT DATABASE_URL TOKEN SERVER_PID [clients] [orders] [rate] [seconds]\n");
        return 2;
    }
    if (sodium_init() < 0) return 1;
    int port = atoi(argv[1]), pid = atoi(argv[4]);
    const char *url = argv[2], *token = argv[3];
    int nclients = argc > 5 ? atoi(argv[5]) : 10000;
    int orders = argc > 6 ? atoi(argv[6]) : 1000;
    int rate = argc > 7 ? atoi(argv[7]) : 200;
    int seconds = argc > 8 ? atoi(argv[8]) : 20;

    db_t *db;
    char err[256];
    db_opts_t o = { .pool_size = 2, .busy_timeout_ms = 5000 };
    if (db_open(&db, url, &o, err, sizeof err) < 0) {
        fprintf(stderr, "db: %s\n", err);
        return 1;
    }
    db_conn_t *c = db_acquire(db);
    db_begin(c);
    for (int i = 0; i < orders; i++) {
        char oid[32];
        order_id(oid, sizeof oid, i);
        event_append_owned(c, "order.created", oid, "bench", "usr_bench", NULL);
    }
    if (db_commit(c) < 0) {
        fprintf(stderr, "cannot seed orders\n");
        return 1;
    }
    db_release(c);

    int ep = epoll_create1(0);
    client_t *cl = calloc((size_t)nclients, sizeof *cl);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct epoll_event evs[1024];
    int streaming = 0, dead = 0, opened = 0;
    int64_t t0 = now_us();
    /* open in waves so the listen backlog is never the limit */
    while (streaming + dead < nclients) {
        while (opened < nclients && opened - streaming - dead < 512) {
            client_t *k = &cl[opened];
            k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (k->fd < 0) {
                perror("socket (raise ulimit -n)");
                return 1;
            }
            connect(k->fd, (struct sockaddr *)&sa, sizeof sa);
            struct epoll_event e = { .events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)opened };
            epoll_ctl(ep, EPOLL_CTL_ADD, k->fd, &e);
            opened++;
        }
        int n = epoll_wait(ep, evs, 1024, 1000);
        for (int i = 0; i < n; i++) {
            client_t *k = &cl[evs[i].data.u32];
            if (k->state == 0 && (evs[i].events & EPOLLOUT)) {
                char rq[512];
                char oid[32];
                order_id(oid, sizeof oid, (int)(evs[i].data.u32 % (uint32_t)orders));
                int len = snprintf(rq, sizeof rq,
                                   "GET /v1/orders/%s/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                                   "Accept: text/event-stream\r\n\r\n", oid, token);
                if (write(k->fd, rq, (size_t)len) != len) {
                    k->state = 3;
                    dead++;
                    continue;
                }
                k->state = 1;
                struct epoll_event e = { .events = EPOLLIN, .data.u32 = evs[i].data.u32 };
                epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &e);
            } else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(k->fd, k->buf + k->len, sizeof k->buf - k->len);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN) continue;
                    if (!dead) fprintf(stderr, "first closed stream: state %d, %s\n", k->state, r < 0 ? strerror(errno) : "EOF");
                    if (k->state != 3) dead++;
                    k->state = 3;
                    epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
                    close(k->fd);
                    continue;
                }
                k->len += (size_t)r;
                if (k->state == 2) consume(k);
                else if (k->state == 1 && memmem(k->buf, k->len, "\r\n\r\n", 4)) {
                    if (strncmp(k->buf, "HTTP/1.1 200", 12) != 0) {
                        if (!dead) fprintf(stderr, "first refused stream: %.*s\n", (int)(k->len > 300 ? 300 : k->len), k->buf);
                        k->state = 3;
                        dead++;
                        continue;
                    }
                    k->state = 2;
                    streaming++;
                    k->len = 0; /* drop the headers and the replayed order.created */
                }
            }
        }
        if (now_us() - t0 > 120 * 1000000LL) break;
    }
    double open_s = (double)(now_us() - t0) / 1e6;
    usleep(1000000);
    long rss_idle = rss_kb(pid);
    if (getenv("SSE_BENCH_SMAPS")) {
        char cmd[160];
        snprintf(cmd, sizeof cmd,
                 "awk '/^[0-9a-f]+-/ {m=$0} /^Rss:/ {if ($2 > 1000) print $2, m}' /proc/%d/smaps | sort -rn | head -8",
                 pid);
        if (system(cmd) != 0) fprintf(stderr, "smaps unavailable\n");
    }
    printf("streams open: %d of %d (%d failed) in %.1f s; server RSS with all open: %.1f MB\n", streaming, nclients,
           dead, open_s, rss_idle / 1024.0);
    fflush(stdout);

    long per_order_max = (nclients + orders - 1) / orders;
    g_cap = (long)rate * seconds * per_order_max + 1024;
    g_delays = malloc((size_t)g_cap * sizeof(int64_t));
    appender_t ap = { db, orders, rate, seconds, 0 };
    pthread_t th;
    pthread_create(&th, NULL, append_main, &ap);
    int64_t stop_at = 0;
    for (;;) {
        int n = epoll_wait(ep, evs, 1024, 100);
        for (int i = 0; i < n; i++) {
            client_t *k = &cl[evs[i].data.u32];
            if (k->state != 2) continue;
            ssize_t r = read(k->fd, k->buf + k->len, sizeof k->buf - k->len);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                k->state = 3;
                dead++;
                streaming--;
                epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
                close(k->fd);
                continue;
            }
            k->len += (size_t)r;
            consume(k);
        }
        if (!stop_at && ap.appended >= (long)rate * seconds) stop_at = now_us() + 2000000; /* drain 2 s */
        if (!stop_at && now_us() - t0 > (int64_t)(open_s + seconds + 30) * 1000000) stop_at = now_us();
        if (stop_at && now_us() >= stop_at) break;
    }
    pthread_join(th, NULL);
    long rss_end = rss_kb(pid);
    long nd = atomic_load(&g_ndelays);
    if (nd > g_cap) nd = g_cap;
    /* expected: each event reaches every client of its order */
    long expected = 0;
    for (long k = 0; k < ap.appended; k++) expected += nclients / orders + ((k % orders) < (nclients % orders));
    qsort(g_delays, (size_t)nd, sizeof(int64_t), cmp64);
    printf("events appended: %ld at %d/s over %d s to %d orders; deliveries %ld of %ld expected; parse errors %ld; "
           "streams still open %d\n",
           ap.appended, rate, seconds, orders, nd, expected, atomic_load(&g_parse_errors), streaming);
    if (nd > 0)
        printf("commit->client delay: p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", g_delays[nd / 2] / 1000.0,
               g_delays[(long)(nd * 0.99)] / 1000.0, g_delays[nd - 1] / 1000.0);
    printf("server RSS at end: %.1f MB\n", rss_end / 1024.0);
    for (int i = 0; i < nclients; i++)
        if (cl[i].state != 3 && cl[i].fd > 0) close(cl[i].fd);
    free(cl);
    free(g_delays);
    db_close(db);
    return 0;
}
