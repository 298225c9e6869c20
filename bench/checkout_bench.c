/*
 * checkout_bench.c — drives the whole purchase per virtual user against a
 * running server: create cart -> add item -> place order (Idempotency-Key)
 * -> pay with the test provider, in a loop, for a fixed time.
 *
 *   checkout_bench URL USERS SECONDS
 *
 * Each virtual user is a thread with one keep-alive HTTP/1.1 connection
 * (a minimal blocking client: the server always answers with
 * Content-Length).  Items are drawn at random from the published EUR
 * variants listed by GET /v1/products.  Prints completed (paid) orders per
 * second, p50/p99 of single requests and of whole purchases, and failures
 * by step.  Figures only; it never passes or fails anything.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_VARIANTS 4096
#define MAX_SAMPLES 2000000

static char g_host[64] = "127.0.0.1";
static int g_port;
static char (*g_variants)[48];
static int g_nvariants;
static int64_t g_deadline_us;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct conn {
    int fd;
    char buf[1 << 16];
    size_t have;
} conn_t;

static int conn_open(conn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    c->have = 0;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g_port) };
    inet_pton(AF_INET, g_host, &a.sin_addr);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return connect(c->fd, (struct sockaddr *)&a, sizeof a);
}

/* One request; returns the status (body in *body, NUL-terminated, valid
 * until the next call) or -1 on a transport error (the connection is
 * reopened). */
static int http(conn_t *c, const char *method, const char *path, const char *headers, const char *body,
                char **out_body)
{
    char req[4096];
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: bench\r\n%s%sContent-Length: %zu\r\n\r\n%s", method, path,
                     headers ? headers : "", body ? "Content-Type: application/json\r\n" : "", bl, body ? body : "");
    for (int off = 0; off < n;) {
        ssize_t w = write(c->fd, req + off, (size_t)(n - off));
        if (w <= 0) goto broken;
        off += (int)w;
    }
    c->have = 0;
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - 1 - c->have);
        if (r <= 0) goto broken;
        c->have += (size_t)r;
        c->buf[c->have] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (!end) continue;
        char *cl = strcasestr(c->buf, "\r\ncontent-length:");
        size_t len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        size_t need = (size_t)(end + 4 - c->buf) + len;
        if (need >= sizeof c->buf) goto broken;
        while (c->have < need) {
            r = read(c->fd, c->buf + c->have, need - c->have);
            if (r <= 0) goto broken;
            c->have += (size_t)r;
        }
        c->buf[need] = '\0';
        *out_body = end + 4;
        return atoi(c->buf + 9);
    }
broken:
    close(c->fd);
    conn_open(c);
    return -1;
}

typedef struct vu {
    pthread_t th;
    unsigned seed;
    int64_t *lat, *flow; /* µs */
    size_t nlat, nflow, cap;
    long done, fail[4], busy;
} vu_t;

static const char *json_str(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

static void *vu_main(void *arg)
{
    vu_t *v = arg;
    conn_t *c = malloc(sizeof *c);
    if (conn_open(c) < 0) {
        perror("connect");
        exit(1);
    }
    char hdr[512], path[256], body[512], cart_id[64], token[128], order_id[64], otok[128];
    long seq = 0;
    while (now_us() < g_deadline_us) {
        int64_t f0 = now_us(), t0;
        char *resp;
        int st;
        json_t *j;
        /* 1. cart */
        t0 = now_us();
        st = http(c, "POST", "/v1/carts", NULL, NULL, &resp);
        if (v->nlat < v->cap) v->lat[v->nlat++] = now_us() - t0;
        if (st != 201 || !(j = json_loads(resp, 0, NULL))) {
            v->fail[0]++;
            continue;
        }
        snprintf(cart_id, sizeof cart_id, "%s", json_str(j, "id"));
        snprintf(token, sizeof token, "%s", json_str(j, "token"));
        json_decref(j);
        /* 2. item */
        snprintf(hdr, sizeof hdr, "X-Cart-Token: %s\r\n", token);
        snprintf(path, sizeof path, "/v1/carts/%s/items", cart_id);
        snprintf(body, sizeof body, "{\"variant_id\":\"%s\",\"quantity\":1}", g_variants[rand_r(&v->seed) % g_nvariants]);
        t0 = now_us();
        st = http(c, "POST", path, hdr, body, &resp);
        if (v->nlat < v->cap) v->lat[v->nlat++] = now_us() - t0;
        if (st != 200) {
            v->fail[1]++;
            continue;
        }
        /* 3. order */
        snprintf(hdr, sizeof hdr, "X-Cart-Token: %s\r\nIdempotency-Key: bench-%p-%ld\r\n", token, (void *)v, seq++);
        snprintf(body, sizeof body,
                 "{\"cart_id\":\"%s\",\"email\":\"bench@shop.example\",\"shipping_address\":{\"name\":\"Bench User\","
                 "\"line1\":\"1 Load St\",\"city\":\"Berlin\",\"postal_code\":\"10115\",\"country\":\"DE\"}}",
                 cart_id);
        t0 = now_us();
        st = http(c, "POST", "/v1/orders", hdr, body, &resp);
        if (v->nlat < v->cap) v->lat[v->nlat++] = now_us() - t0;
        if (st != 201 || !(j = json_loads(resp, 0, NULL))) {
            v->fail[2]++;
            if (st == 503) v->busy++;
            continue;
        }
        snprintf(order_id, sizeof order_id, "%s", json_str(j, "id"));
        snprintf(otok, sizeof otok, "%s", json_str(j, "order_token"));
        json_decref(j);
        /* 4. pay */
        snprintf(hdr, sizeof hdr, "X-Order-Token: %s\r\n", otok);
        snprintf(path, sizeof path, "/v1/orders/%s/payments", order_id);
        t0 = now_us();
        st = http(c, "POST", path, hdr, "{\"method\":\"tok_visa\"}", &resp);
        if (v->nlat < v->cap) v->lat[v->nlat++] = now_us() - t0;
        if (st != 201 || !strstr(resp, "\"status\":\"succeeded\"")) {
            v->fail[3]++;
            continue;
        }
        v->done++;
        if (v->nflow < v->cap) v->flow[v->nflow++] = now_us() - f0;
    }
    close(c->fd);
    free(c);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int64_t *a, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1));
    return (double)a[i] / 1000.0;
}

/* Collects published EUR variants from the product list. */
static void load_variants(void)
{
    conn_t *c = malloc(sizeof *c);
    if (conn_open(c) < 0) {
        perror("connect");
        exit(1);
    }
    g_variants = calloc(MAX_VARIANTS, sizeof *g_variants);
    char path[512], cursor[256] = "";
    for (int page = 0; page < 40 && g_nvariants < MAX_VARIANTS; page++) {
        snprintf(path, sizeof path, "/v1/products?limit=50%s%s", cursor[0] ? "&cursor=" : "", cursor);
        char *resp;
        if (http(c, "GET", path, NULL, NULL, &resp) != 200) break;
        json_t *j = json_loads(resp, 0, NULL);
        size_t i, k;
        json_t *p, *v;
        json_array_foreach(json_object_get(j, "items"), i, p) {
            json_array_foreach(json_object_get(p, "variants"), k, v) {
                const char *cur = json_str(json_object_get(v, "price"), "currency");
                if (cur && !strcmp(cur, "EUR") && g_nvariants < MAX_VARIANTS)
                    snprintf(g_variants[g_nvariants++], 48, "%s", json_str(v, "id"));
            }
        }
        const char *next = json_str(j, "next_cursor");
        /* cursors are URL-safe base64 */
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(j);
        if (!cursor[0]) break;
    }
    close(c->fd);
    free(c);
    if (!g_nvariants) {
        fprintf(stderr, "no published EUR variants: seed the demo catalog first\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 || sscanf(argv[1], "http://%63[^:]:%d", g_host, &g_port) != 2) {
        fprintf(stderr, "usage: checkout_bench http://HOST:PORT USERS SECONDS\n");
        return 2;
    }
    int users = atoi(argv[2]);
    int secs = atoi(argv[3]);
    if (users < 1 || users > 1024 || secs < 1) return 2;
    load_variants();
    vu_t *vs = calloc((size_t)users, sizeof *vs);
    size_t cap = MAX_SAMPLES / (size_t)users;
    int64_t t0 = now_us();
    g_deadline_us = t0 + (int64_t)secs * 1000000;
    for (int i = 0; i < users; i++) {
        vs[i].seed = 12345u + (unsigned)i;
        vs[i].cap = cap;
        vs[i].lat = malloc(cap * sizeof(int64_t));
        vs[i].flow = malloc(cap * sizeof(int64_t));
        pthread_create(&vs[i].th, NULL, vu_main, &vs[i]);
    }
    long done = 0, fail[4] = { 0 }, busy = 0;
    size_t nl = 0, nf = 0;
    for (int i = 0; i < users; i++) {
        pthread_join(vs[i].th, NULL);
        done += vs[i].done;
        busy += vs[i].busy;
        for (int k = 0; k < 4; k++) fail[k] += vs[i].fail[k];
        nl += vs[i].nlat;
        nf += vs[i].nflow;
    }
    double el = (double)(now_us() - t0) / 1e6;
    int64_t *lat = malloc((nl + 1) * sizeof *lat), *flow = malloc((nf + 1) * sizeof *flow);
    size_t a = 0, b = 0;
    for (int i = 0; i < users; i++) {
        memcpy(lat + a, vs[i].lat, vs[i].nlat * sizeof *lat);
        a += vs[i].nlat;
        memcpy(flow + b, vs[i].flow, vs[i].nflow * sizeof *flow);
        b += vs[i].nflow;
        free(vs[i].lat);
        free(vs[i].flow);
    }
    qsort(lat, nl, sizeof *lat, cmp64);
    qsort(flow, nf, sizeof *flow, cmp64);
    printf("variants in play        %d\n", g_nvariants);
    printf("virtual users           %d\n", users);
    printf("duration                %.1f s\n", el);
    printf("completed (paid) orders %ld\n", done);
    printf("orders/s                %.0f\n", (double)done / el);
    printf("requests/s              %.0f\n", (double)nl / el);
    printf("request  p50 / p99      %.2f / %.2f ms\n", pct(lat, nl, 0.50), pct(lat, nl, 0.99));
    printf("purchase p50 / p99      %.2f / %.2f ms  (4 requests)\n", pct(flow, nf, 0.50), pct(flow, nf, 0.99));
    printf("failures                cart %ld, item %ld, order %ld (503: %ld), pay %ld\n", fail[0], fail[1], fail[2],
           busy, fail[3]);
    free(lat);
    free(flow);
    free(vs);
    free(g_variants);
    return 0;
}
