/*
 * hub.c — the SSE hub: subscriptions, the event-log tailer and fan-out.
 *
 * DESIGN
 * Subscriptions live in one hash table keyed by (kind, key) so an event
 * costs two bucket walks (its owner, its subject), not a scan of every
 * stream.  hub.mu guards the table and hub.last, the id of the newest event
 * fanned out; a subscription's own mutex guards its byte queue.
 *
 * Ordering without gaps.  A new subscription is linked under hub.mu and
 * notes H = hub.last: every event <= H has been fanned out before it
 * existed, every event > H will be fanned out to it.  It then replays the
 * events (after_id, H] from the database; meanwhile the tailer parks newer
 * events in a separate "hold" queue, appended after the replay.  Event ids
 * commit in order (events.h), so "after H" is complete.  With no stream
 * open the tailer moves H to the newest id without reading the events
 * (nobody to fan them out to), under hub.mu and only while still no stream
 * is linked, so a stream linked later replays them instead.
 *
 * Memory.  A queue is a plain malloc'd byte range released as soon as the
 * producer drains it, so 10,000 idle streams hold no buffers; the cap
 * (--sse-buffer-kb) bounds what a slow client can pin.  On overflow no more
 * events are queued; a final "reconnect" event (without an id, so the
 * client's Last-Event-ID stays the last event it really got) follows what is
 * queued, then the body ends.
 *
 * Wakes are issued under hub.mu; the stream's free callback unlinks under
 * hub.mu before the server frees the handle, so a wake never touches a
 * freed stream (the contract of http_respond_stream).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "live/live.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"
#include "util/timeutil.h"

#define NBUCKETS 4096
#define KEY_MAX 64
#define REPLAY_PAGE 200

struct live_sub {
    live_sub_t *next, *prev; /* bucket chain, under hub.mu */
    uint32_t bucket;
    int kind;
    char key[KEY_MAX];
    int linked;
    pthread_mutex_t mu;
    http_stream_t *stream; /* NULL until attached */
    char *q;               /* queued bytes [qoff, qlen) */
    size_t qlen, qoff;
    char *hold; /* live events that arrived during the replay */
    size_t hold_len;
    int64_t hold_last; /* newest event id in hold */
    int replaying;
    int closing; /* the final event is queued: end when drained */
    int64_t last_id; /* newest event id queued in q */
    int64_t after;   /* the client has everything up to here */
    int qevents;     /* events in q and hold not yet drained */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    live_sub_t *buckets[NBUCKETS];
    int64_t last;
    int nsubs;
    db_t *db;
    live_opts_t o;
    pthread_t thread;
    int started;
    int stopping;
    uint64_t delivered, dropped, opened;
} hub = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static uint32_t key_hash(int kind, const char *key)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 16777619u;
    return h % NBUCKETS;
}

/* ---------- formatting ---------- */

static void put_line_safe(buf_t *b, const char *s)
{
    /* field values must not break the line structure */
    for (; s && *s; s++) buf_putc(b, (*s == '\n' || *s == '\r') ? ' ' : *s);
}

void live_sse_format(buf_t *b, const event_t *ev)
{
    char ts[32];
    buf_printf(b, "id: %lld\nevent: ", (long long)ev->id);
    put_line_safe(b, ev->type);
    buf_printf(b, "\ndata: {\"id\":%lld,\"type\":\"", (long long)ev->id);
    buf_json_escape(b, ev->type, strlen(ev->type));
    buf_puts(b, "\",\"subject\":\"");
    buf_json_escape(b, ev->subject, strlen(ev->subject));
    buf_puts(b, "\",\"created_at\":\"");
    buf_puts(b, time_fmt_rfc3339(ts, ev->created_at));
    buf_puts(b, "\",\"data\":");
    const char *p = ev->payload && ev->payload[0] ? ev->payload : "{}";
    if (strpbrk(p, "\r\n")) {
        /* stored compact by event_append; re-serialise anything else */
        json_t *j = json_loads(p, 0, NULL);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        buf_puts(b, s ? s : "{}");
        free(s);
        json_decref(j);
    } else {
        buf_puts(b, p);
    }
    buf_puts(b, "}\n\n");
}

int live_parse_event_id(const char *s, size_t len, int64_t *out)
{
    if (!s || len == 0 || len > 19) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        if (v > (INT64_MAX - (s[i] - '0')) / 10) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int live_parse_cursor(const char *s, size_t len, int64_t *out)
{
    if (!s || len < 2 || s[0] != 'n') return -1;
    int64_t v;
    if (live_parse_event_id(s + 1, len - 1, &v) < 0 || v <= 0) return -1;
    *out = v;
    return 0;
}

/* ---------- per-subscription queue (sub->mu held) ---------- */

static void q_append(char **q, size_t *len, const char *data, size_t n)
{
    *q = xrealloc(*q, *len + n);
    memcpy(*q + *len, data, n);
    *len += n;
}

static void queue_final(live_sub_t *s)
{
    char msg[160];
    int n = snprintf(msg, sizeof msg,
                     "event: reconnect\ndata: {\"reason\":\"slow-consumer\",\"last_event_id\":%lld}\n\n",
                     (long long)s->last_id);
    q_append(&s->q, &s->qlen, msg, (size_t)n);
    free(s->hold);
    s->hold = NULL;
    s->hold_len = 0;
    s->closing = 1;
    metrics_inc(&hub.dropped);
}

/* Queues one event's bytes; returns 1 when the stream should be woken. */
static int sub_push(live_sub_t *s, const char *data, size_t n, int64_t id, int live)
{
    if (s->closing || (live && id <= s->after)) return 0;
    size_t pending = (s->qlen - s->qoff) + s->hold_len;
    /* an event bigger than the whole buffer still goes to an empty queue,
     * or a client could never get past it */
    if (s->qevents > 0 && pending + n > hub.o.buffer_max) {
        if (s->replaying && live) {
            /* the replay will end in the final event */
            free(s->hold);
            s->hold = NULL;
            s->hold_len = 0;
            s->closing = 2;
            return 0;
        }
        queue_final(s);
        return 1;
    }
    if (s->replaying && live) {
        q_append(&s->hold, &s->hold_len, data, n);
        if (id > 0) s->hold_last = id;
        s->qevents++;
        return 0;
    }
    q_append(&s->q, &s->qlen, data, n);
    if (id > 0) s->last_id = id;
    s->qevents++;
    return 1;
}

static void sub_wake(live_sub_t *s)
{
    if (s->stream) http_stream_wake(s->stream);
}

/* ---------- streaming callbacks ---------- */

static ssize_t sub_read(void *ctx, char *out, size_t max)
{
    live_sub_t *s = ctx;
    if (http_shutting_down()) return -1;
    pthread_mutex_lock(&s->mu);
    size_t n = s->qlen - s->qoff;
    if (n > max) n = max;
    if (n) {
        memcpy(out, s->q + s->qoff, n);
        s->qoff += n;
    }
    if (s->qoff == s->qlen) {
        free(s->q);
        s->q = NULL;
        s->qlen = s->qoff = 0;
        s->qevents = 0;
    }
    int end = n == 0 && s->closing == 1;
    pthread_mutex_unlock(&s->mu);
    return end ? -1 : (ssize_t)n;
}

static void sub_unlink(live_sub_t *s)
{
    pthread_mutex_lock(&hub.mu);
    if (s->linked) {
        if (s->prev) s->prev->next = s->next;
        else hub.buckets[s->bucket] = s->next;
        if (s->next) s->next->prev = s->prev;
        s->linked = 0;
        hub.nsubs--;
    }
    pthread_mutex_unlock(&hub.mu);
}

static void sub_free(void *ctx)
{
    live_sub_t *s = ctx;
    sub_unlink(s);
    pthread_mutex_destroy(&s->mu);
    free(s->q);
    free(s->hold);
    free(s);
}

/* ---------- opening: link, replay, attach ---------- */

typedef struct replay_ctx {
    live_sub_t *s;
    int64_t upto, last;
    buf_t b;
    int stop;
} replay_ctx_t;

static int replay_one(const event_t *ev, void *arg)
{
    replay_ctx_t *r = arg;
    r->last = ev->id;
    if (ev->id > r->upto) {
        r->stop = 1;
        return 1;
    }
    buf_reset(&r->b);
    live_sse_format(&r->b, ev);
    pthread_mutex_lock(&r->s->mu);
    sub_push(r->s, r->b.ptr, r->b.len, ev->id, 0);
    if (r->s->closing) r->stop = 1;
    pthread_mutex_unlock(&r->s->mu);
    return r->stop;
}

live_sub_t *live_sub_open(db_conn_t *c, int kind, const char *key, int64_t after_id)
{
    live_sub_t *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->kind = kind;
    snprintf(s->key, sizeof s->key, "%s", key);
    s->bucket = key_hash(kind, s->key);
    s->replaying = 1;
    s->after = after_id;
    char head[64];
    int hn = snprintf(head, sizeof head, ": mercato live\nretry: %d\n\n", hub.o.retry_ms);
    q_append(&s->q, &s->qlen, head, (size_t)hn);

    pthread_mutex_lock(&hub.mu);
    if (hub.nsubs >= hub.o.max_streams || !hub.started) {
        pthread_mutex_unlock(&hub.mu);
        sub_free(s);
        return NULL;
    }
    s->next = hub.buckets[s->bucket];
    if (s->next) s->next->prev = s;
    hub.buckets[s->bucket] = s;
    s->linked = 1;
    hub.nsubs++;
    int64_t upto = hub.last;
    pthread_mutex_unlock(&hub.mu);
    metrics_inc(&hub.opened);

    s->last_id = after_id;
    if (after_id < upto) {
        replay_ctx_t r = { .s = s, .upto = upto, .last = after_id, .b = BUF_INIT(0) };
        while (!r.stop) {
            int64_t from = r.last;
            int n = kind == LIVE_BY_OWNER ? event_read_owner(c, from, key, REPLAY_PAGE, replay_one, &r)
                                          : event_read(c, from, key, REPLAY_PAGE, replay_one, &r);
            if (n < REPLAY_PAGE) break; /* done, or a read error: the live part still follows */
        }
        buf_free(&r.b);
    }
    pthread_mutex_lock(&s->mu);
    if (s->closing == 2) {
        queue_final(s);
    } else if (!s->closing && s->hold_len) {
        q_append(&s->q, &s->qlen, s->hold, s->hold_len);
        s->last_id = s->hold_last;
    }
    free(s->hold);
    s->hold = NULL;
    s->hold_len = 0;
    s->replaying = 0;
    pthread_mutex_unlock(&s->mu);
    return s;
}

void live_sub_attach(http_req_t *req, live_sub_t *s)
{
    http_stream_t *st = http_respond_stream(req, 200, "text/event-stream; charset=utf-8", sub_read, sub_free, s);
    /* the producer cannot run before this handler returns (same connection
     * thread), so nothing queued in between can miss its wake */
    pthread_mutex_lock(&hub.mu);
    pthread_mutex_lock(&s->mu);
    s->stream = st;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&hub.mu);
}

/* ---------- the tailer ---------- */

typedef struct fan_ctx {
    buf_t b;
    int n;
} fan_ctx_t;

static int fan_bucket(const event_t *ev, int kind, const char *key, fan_ctx_t *f)
{
    int n = 0;
    if (!key || !key[0]) return 0;
    for (live_sub_t *s = hub.buckets[key_hash(kind, key)]; s; s = s->next) {
        if (s->kind != kind || strcmp(s->key, key) != 0) continue;
        if (!f->b.len) live_sse_format(&f->b, ev);
        pthread_mutex_lock(&s->mu);
        int wake = sub_push(s, f->b.ptr, f->b.len, ev->id, 1);
        if (wake) sub_wake(s);
        pthread_mutex_unlock(&s->mu);
        n += wake;
    }
    return n;
}

static int fan_one(const event_t *ev, void *arg)
{
    fan_ctx_t *f = arg;
    buf_reset(&f->b);
    pthread_mutex_lock(&hub.mu);
    int n = fan_bucket(ev, LIVE_BY_OWNER, ev->owner, f) + fan_bucket(ev, LIVE_BY_SUBJECT, ev->subject, f);
    hub.last = ev->id;
    pthread_mutex_unlock(&hub.mu);
    metrics_add(&hub.delivered, (uint64_t)n);
    f->n++;
    return 0;
}

static void heartbeat_all(void)
{
    char line[48];
    int n = snprintf(line, sizeof line, ": heartbeat %lld\n\n", (long long)(time_now_ms() / 1000));
    pthread_mutex_lock(&hub.mu);
    for (int i = 0; i < NBUCKETS; i++)
        for (live_sub_t *s = hub.buckets[i]; s; s = s->next) {
            pthread_mutex_lock(&s->mu);
            if (!s->closing && !s->replaying && s->stream) {
                q_append(&s->q, &s->qlen, line, (size_t)n);
                sub_wake(s);
            }
            pthread_mutex_unlock(&s->mu);
        }
    pthread_mutex_unlock(&hub.mu);
}

static void *tail_main(void *arg)
{
    (void)arg;
    fan_ctx_t f = { .b = BUF_INIT(0) };
    int64_t next_hb = time_mono_us() + (int64_t)hub.o.heartbeat_s * 1000000;
    pthread_mutex_lock(&hub.mu);
    while (!hub.stopping) {
        int64_t from = hub.last;
        pthread_mutex_unlock(&hub.mu);
        int n = 0;
        db_conn_t *c = db_acquire(hub.db);
        if (c) {
            /* Nobody listening: move past the new events without reading
             * them.  A stream opened meanwhile (nsubs no longer 0 under
             * hub.mu) keeps the position, so the next round reads them; one
             * opened after the move replays up to the new position. */
            int skipped = 0;
            pthread_mutex_lock(&hub.mu);
            int idle = hub.nsubs == 0;
            pthread_mutex_unlock(&hub.mu);
            if (idle) {
                int64_t last = event_last_id(c);
                pthread_mutex_lock(&hub.mu);
                if (last >= 0 && hub.nsubs == 0 && hub.last == from) {
                    if (last > hub.last) hub.last = last;
                    skipped = 1;
                }
                pthread_mutex_unlock(&hub.mu);
            }
            if (!skipped) n = event_read(c, from, NULL, 500, fan_one, &f);
            db_release(c);
            if (n < 0) log_warn("live", "reading the event log failed (%d)", n);
        }
        if (time_mono_us() >= next_hb) {
            heartbeat_all();
            next_hb = time_mono_us() + (int64_t)hub.o.heartbeat_s * 1000000;
        }
        pthread_mutex_lock(&hub.mu);
        if (n < 500 && !hub.stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)hub.o.poll_ms * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&hub.cv, &hub.mu, &ts);
        }
    }
    pthread_mutex_unlock(&hub.mu);
    buf_free(&f.b);
    return NULL;
}

/* ---------- metrics, start, stop ---------- */

static void render_metrics(buf_t *out, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&hub.mu);
    int open = hub.nsubs;
    int64_t last = hub.last;
    pthread_mutex_unlock(&hub.mu);
    metrics_family(out, "mercato_sse_open_streams", "gauge", "Server-Sent Event streams open on this instance.");
    buf_printf(out, "mercato_sse_open_streams %d\n", open);
    metrics_family(out, "mercato_sse_streams_opened_total", "counter", "SSE streams opened.");
    buf_printf(out, "mercato_sse_streams_opened_total %llu\n", (unsigned long long)metrics_get(&hub.opened));
    metrics_family(out, "mercato_sse_events_delivered_total", "counter",
                   "Events queued to SSE streams by the tailer (one per stream).");
    buf_printf(out, "mercato_sse_events_delivered_total %llu\n", (unsigned long long)metrics_get(&hub.delivered));
    metrics_family(out, "mercato_sse_dropped_clients_total", "counter",
                   "SSE streams ended because the client fell behind its buffer.");
    buf_printf(out, "mercato_sse_dropped_clients_total %llu\n", (unsigned long long)metrics_get(&hub.dropped));
    metrics_family(out, "mercato_sse_tailer_position", "gauge", "Newest event id fanned out by the tailer.");
    buf_printf(out, "mercato_sse_tailer_position %lld\n", (long long)last);
}

int live_start(db_t *db, const live_opts_t *o)
{
    static int registered;
    hub.db = db;
    hub.o = *o;
    if (hub.o.heartbeat_s <= 0) hub.o.heartbeat_s = 15;
    if (hub.o.retry_ms <= 0) hub.o.retry_ms = 3000;
    if (hub.o.buffer_max < 1024) hub.o.buffer_max = 64 * 1024;
    if (hub.o.poll_ms <= 0) hub.o.poll_ms = 20;
    if (hub.o.max_streams <= 0) hub.o.max_streams = 20000;
    db_conn_t *c = db_acquire(db);
    int64_t last = c ? event_last_id(c) : 0;
    if (c) db_release(c);
    pthread_mutex_lock(&hub.mu);
    hub.last = last > 0 ? last : 0;
    hub.stopping = 0;
    pthread_mutex_unlock(&hub.mu);
    if (pthread_create(&hub.thread, NULL, tail_main, NULL) != 0) return -1;
    hub.started = 1;
    if (!registered++) metrics_register(render_metrics, NULL);
    return 0;
}

void live_stop(void)
{
    if (!hub.started) return;
    pthread_mutex_lock(&hub.mu);
    hub.stopping = 1;
    pthread_cond_broadcast(&hub.cv);
    pthread_mutex_unlock(&hub.mu);
    pthread_join(hub.thread, NULL);
    hub.started = 0;
}
