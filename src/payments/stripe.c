/*
 * stripe.c — the Stripe provider: PaymentIntents and Refunds over Stripe's
 * REST API, the Stripe-Signature check, and event parsing.  See stripe.h.
 *
 * The HTTP calls are synchronous (libcurl easy handle per call, connect and
 * total timeouts, no redirects, http/https only) because providers run in
 * jobs.  Every call that creates something carries an Idempotency-Key, so
 * a job that retries after a timeout never charges or refunds twice.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payments/stripe.h"
#include "util/buf.h"
#include "util/curl_once.h"

/* ---- signatures ---- */

#define SIG_HEADER_MAX 4096

int stripe_sig_verify(const char *header, const char *body, size_t len, const char *secret, int64_t now,
                      int64_t tolerance_s)
{
    if (!header || !secret || !secret[0]) return STRIPE_SIG_EMALFORMED;
    size_t hl = strlen(header);
    if (hl == 0 || hl > SIG_HEADER_MAX) return STRIPE_SIG_EMALFORMED;
    if (tolerance_s <= 0) tolerance_s = STRIPE_TOLERANCE_S;
    int64_t t = -1;
    unsigned char v1[STRIPE_SIG_MAX_V1][crypto_auth_hmacsha256_BYTES];
    int nv1 = 0;
    const char *p = header, *end = header + hl;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end;
        const char *a = p, *b = ie;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        const char *eq = memchr(a, '=', (size_t)(b - a));
        if (eq) {
            size_t kl = (size_t)(eq - a), vl = (size_t)(b - eq - 1);
            const char *v = eq + 1;
            if (kl == 1 && a[0] == 't') {
                if (t >= 0 || vl == 0 || vl > 12) return STRIPE_SIG_EMALFORMED;
                int64_t x = 0;
                for (size_t i = 0; i < vl; i++) {
                    if (v[i] < '0' || v[i] > '9') return STRIPE_SIG_EMALFORMED;
                    x = x * 10 + (v[i] - '0');
                }
                t = x;
            } else if (kl == 2 && a[0] == 'v' && a[1] == '1') {
                /* a v1 value that is not 64 hex digits cannot match: skip it */
                size_t bl = 0;
                if (nv1 < STRIPE_SIG_MAX_V1 && vl == 2 * crypto_auth_hmacsha256_BYTES &&
                    sodium_hex2bin(v1[nv1], sizeof v1[nv1], v, vl, NULL, &bl, NULL) == 0 &&
                    bl == crypto_auth_hmacsha256_BYTES)
                    nv1++;
                else if (nv1 >= STRIPE_SIG_MAX_V1)
                    break;
            }
            /* v0 and other schemes are ignored */
        }
        p = ie + 1;
    }
    if (t < 0) return STRIPE_SIG_EMALFORMED;
    if (nv1 == 0) return STRIPE_SIG_ENOSIG;
    int64_t age = now - t;
    if (age > tolerance_s || age < -tolerance_s) return STRIPE_SIG_ESTALE;
    char tbuf[24];
    int tl = snprintf(tbuf, sizeof tbuf, "%lld", (long long)t);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tbuf, (size_t)tl);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    int ok = 0;
    for (int i = 0; i < nv1; i++) ok |= sodium_memcmp(mac, v1[i], sizeof mac) == 0; /* look at all: no early exit */
    sodium_memzero(&st, sizeof st);
    return ok ? STRIPE_SIG_OK : STRIPE_SIG_EMISMATCH;
}

const char *stripe_sig_reason(int rc)
{
    switch (rc) {
    case STRIPE_SIG_OK: return "valid";
    case STRIPE_SIG_EMALFORMED: return "the Stripe-Signature header is missing or malformed";
    case STRIPE_SIG_ENOSIG: return "the Stripe-Signature header has no v1 signature";
    case STRIPE_SIG_ESTALE: return "the Stripe-Signature timestamp is outside the tolerance";
    default: return "no v1 signature matches the payload";
    }
}

/* ---- mapping Stripe objects ---- */

static void copy_str(char *dst, size_t n, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, n, "%s", s ? s : "");
}

int stripe_payment_intent_result(json_t *pi, pay_result_t *out)
{
    memset(out, 0, sizeof *out);
    const char *obj = json_string_value(json_object_get(pi, "object"));
    const char *status = json_string_value(json_object_get(pi, "status"));
    if (!obj || strcmp(obj, "payment_intent") != 0 || !status || !json_is_string(json_object_get(pi, "id"))) return -1;
    copy_str(out->ref, sizeof out->ref, json_object_get(pi, "id"));
    json_t *err = json_object_get(pi, "last_payment_error");
    if (strcmp(status, "succeeded") == 0) {
        out->status = PAY_SUCCEEDED;
        json_t *charge = json_object_get(pi, "latest_charge");
        if (json_is_object(charge) && json_is_true(json_object_get(charge, "refunded"))) out->status = PAY_REFUNDED;
    } else if (strcmp(status, "requires_action") == 0) {
        out->status = PAY_REQUIRES_ACTION;
        copy_str(out->client_secret, sizeof out->client_secret, json_object_get(pi, "client_secret"));
    } else if (strcmp(status, "processing") == 0 || strcmp(status, "requires_confirmation") == 0 ||
               strcmp(status, "requires_capture") == 0) {
        out->status = PAY_PROCESSING;
    } else if (strcmp(status, "canceled") == 0) {
        out->status = PAY_FAILED;
        const char *why = json_string_value(json_object_get(pi, "cancellation_reason"));
        snprintf(out->error, sizeof out->error, "canceled%s%s", why ? ": " : "", why ? why : "");
    } else if (strcmp(status, "requires_payment_method") == 0) {
        /* before any attempt this is "not paid yet"; after a failed one,
         * last_payment_error says why */
        if (json_is_object(err)) {
            out->status = PAY_FAILED;
            copy_str(out->error, sizeof out->error, json_object_get(err, "message"));
            if (!out->error[0]) copy_str(out->error, sizeof out->error, json_object_get(err, "code"));
        } else {
            out->status = PAY_PROCESSING;
        }
    } else {
        return -1;
    }
    return 0;
}

int stripe_refund_result(json_t *refund, pay_result_t *out)
{
    memset(out, 0, sizeof *out);
    const char *obj = json_string_value(json_object_get(refund, "object"));
    const char *status = json_string_value(json_object_get(refund, "status"));
    if (!obj || strcmp(obj, "refund") != 0 || !status || !json_is_string(json_object_get(refund, "id"))) return -1;
    copy_str(out->ref, sizeof out->ref, json_object_get(refund, "id"));
    if (strcmp(status, "succeeded") == 0) out->status = PAY_REFUNDED;
    else if (strcmp(status, "pending") == 0 || strcmp(status, "requires_action") == 0) out->status = PAY_PROCESSING;
    else if (strcmp(status, "failed") == 0 || strcmp(status, "canceled") == 0) {
        out->status = PAY_FAILED;
        copy_str(out->error, sizeof out->error, json_object_get(refund, "failure_reason"));
        if (!out->error[0]) snprintf(out->error, sizeof out->error, "refund %s", status);
    } else {
        return -1;
    }
    return 0;
}

int stripe_answer_result(long status, const char *body, int refund, pay_result_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    int rc = -1;
    if (status >= 200 && status < 300) {
        rc = refund ? stripe_refund_result(j, out) : stripe_payment_intent_result(j, out);
        if (rc < 0) {
            memset(out, 0, sizeof *out);
            snprintf(out->error, sizeof out->error, "unexpected answer from Stripe (HTTP %ld)", status);
            out->retryable = 1;
        }
        json_decref(j);
        return rc;
    }
    json_t *err = json_object_get(j, "error");
    const char *type = json_string_value(json_object_get(err, "type"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    if (status == 402 && type && strcmp(type, "card_error") == 0) {
        /* a decline is a definite answer about this payment */
        out->status = PAY_FAILED;
        copy_str(out->ref, sizeof out->ref, json_object_get(json_object_get(err, "payment_intent"), "id"));
        if (!out->ref[0]) copy_str(out->ref, sizeof out->ref, json_object_get(json_object_get(err, "refund"), "id"));
        snprintf(out->error, sizeof out->error, "%s", msg ? msg : "card declined");
        json_decref(j);
        return 0;
    }
    if (status == 0) snprintf(out->error, sizeof out->error, "%s", body && body[0] ? body : "Stripe is unreachable");
    else snprintf(out->error, sizeof out->error, "Stripe answered %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
    out->retryable = status == 0 || status == 409 || status == 429 || status >= 500;
    json_decref(j);
    return -1;
}

int stripe_event_parse(const char *body, size_t len, stripe_event_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *ev = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *what = json_string_value(json_object_get(ev, "object"));
    if (!id || !type || !id[0] || !type[0] || !json_is_object(obj) || (what && strcmp(what, "event") != 0) || strlen(id) >= sizeof out->id ||
        strlen(type) >= sizeof out->type) {
        json_decref(ev);
        return -1;
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->type, sizeof out->type, "%s", type);
    out->livemode = json_is_true(json_object_get(ev, "livemode"));
    if (strcmp(type, "payment_intent.succeeded") == 0 || strcmp(type, "payment_intent.payment_failed") == 0) {
        const char *pi = json_string_value(json_object_get(obj, "id"));
        if (pi && pi[0] && strlen(pi) < sizeof out->ref) {
            snprintf(out->ref, sizeof out->ref, "%s", pi);
            out->relevant = 1;
            if (type[15] == 's') { /* payment_intent.succeeded */
                out->status = PAY_SUCCEEDED;
                json_t *a = json_object_get(obj, "amount_received");
                out->amount = json_is_integer(a) ? json_integer_value(a) : 0;
            } else {
                out->status = PAY_FAILED;
                json_t *err = json_object_get(obj, "last_payment_error");
                copy_str(out->reason, sizeof out->reason, json_object_get(err, "message"));
                if (!out->reason[0]) snprintf(out->reason, sizeof out->reason, "payment failed");
            }
        }
    } else if (strcmp(type, "charge.refunded") == 0) {
        const char *pi = json_string_value(json_object_get(obj, "payment_intent"));
        if (pi && pi[0] && strlen(pi) < sizeof out->ref) {
            snprintf(out->ref, sizeof out->ref, "%s", pi);
            out->relevant = 1;
            out->status = PAY_REFUNDED;
            json_t *a = json_object_get(obj, "amount_refunded");
            /* fully refunded: 0 = the whole payment; partly: the total refunded so far */
            out->amount = json_is_true(json_object_get(obj, "refunded")) ? 0 : json_is_integer(a) ? json_integer_value(a) : 0;
        }
    }
    json_decref(ev);
    return 0;
}

/* ---- the REST client ---- */

static struct {
    pthread_mutex_t mu;
    char key[256];
    char base[512];
    long timeout_s;
} g = { PTHREAD_MUTEX_INITIALIZER, "", "https://api.stripe.com", 30 };

void stripe_configure(const char *secret_key, const char *api_base, int timeout_s)
{
    pthread_mutex_lock(&g.mu);
    snprintf(g.key, sizeof g.key, "%s", secret_key ? secret_key : "");
    snprintf(g.base, sizeof g.base, "%s", api_base && api_base[0] ? api_base : "https://api.stripe.com");
    size_t n = strlen(g.base);
    while (n > 0 && g.base[n - 1] == '/') g.base[--n] = 0;
    g.timeout_s = timeout_s > 0 ? timeout_s : 30;
    pthread_mutex_unlock(&g.mu);
}

#define ANSWER_MAX (1024 * 1024)

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    buf_t *b = ctx;
    return buf_append(b, p, size * n) == 0 ? size * n : 0; /* past the cap: abort the transfer */
}

static int form_add(buf_t *f, CURL *h, const char *k, const char *v)
{
    char *ek = curl_easy_escape(h, k, 0), *ev = curl_easy_escape(h, v, 0);
    int rc = ek && ev ? buf_printf(f, "%s%s=%s", f->len ? "&" : "", ek, ev) : -1;
    curl_free(ek);
    curl_free(ev);
    return rc;
}

/* One call: method POST when form is non-NULL, else GET.  Fills *status
 * (0 on a transport error, with the error text in ans) and ans. */
static void call(const char *path, buf_t *form, const char *idem, long *status, buf_t *ans)
{
    char key[256], url[1024];
    long timeout;
    pthread_mutex_lock(&g.mu);
    snprintf(key, sizeof key, "%s", g.key);
    snprintf(url, sizeof url, "%s%s", g.base, path);
    timeout = g.timeout_s;
    pthread_mutex_unlock(&g.mu);
    *status = 0;
    curl_once();
    CURL *h = curl_easy_init();
    if (!h) {
        buf_puts(ans, "curl_easy_init failed");
        return;
    }
    char auth[300], idh[300], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    if (idem) {
        snprintf(idh, sizeof idh, "Idempotency-Key: %s", idem);
        hdrs = curl_slist_append(hdrs, idh);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout < 10 ? timeout : 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mercato-stripe/0.1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, ans);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (form) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, form->ptr ? form->ptr : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)form->len);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    } else {
        buf_reset(ans);
        buf_printf(ans, "Stripe is unreachable: %s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    sodium_memzero(auth, sizeof auth);
    sodium_memzero(key, sizeof key);
}

static int configured(pay_result_t *out)
{
    pthread_mutex_lock(&g.mu);
    int ok = g.key[0] != 0;
    pthread_mutex_unlock(&g.mu);
    if (!ok) {
        memset(out, 0, sizeof *out);
        snprintf(out->error, sizeof out->error, "Stripe is not configured (--stripe-secret-key)");
    }
    return ok;
}

/* Stripe ids are [A-Za-z0-9_]; anything else never goes into a URL path. */
static int ref_ok(const char *ref)
{
    if (!ref || !ref[0] || strlen(ref) > 100) return 0;
    for (const char *p = ref; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') return 0;
    return 1;
}

static int stripe_charge(void *ctx, const pay_request_t *req, pay_result_t *out)
{
    (void)ctx;
    if (!configured(out)) return -1;
    curl_once();
    CURL *h = curl_easy_init();
    if (!h) {
        memset(out, 0, sizeof *out);
        out->retryable = 1;
        return -1;
    }
    buf_t form = BUF_INIT(16384), ans = BUF_INIT(ANSWER_MAX);
    char amount[32], cur[8];
    snprintf(amount, sizeof amount, "%lld", (long long)req->amount);
    size_t i = 0;
    for (; req->currency && req->currency[i] && i < sizeof cur - 1; i++) cur[i] = (char)tolower((unsigned char)req->currency[i]);
    cur[i] = 0;
    int bad = form_add(&form, h, "amount", amount) | form_add(&form, h, "currency", cur) |
              form_add(&form, h, "confirm", "true") | form_add(&form, h, "payment_method", req->method ? req->method : "") |
              form_add(&form, h, "automatic_payment_methods[enabled]", "true") |
              form_add(&form, h, "automatic_payment_methods[allow_redirects]", "never") |
              form_add(&form, h, "metadata[payment_id]", req->payment_id) |
              form_add(&form, h, "metadata[order_id]", req->order_id ? req->order_id : "");
    if (req->customer_email && req->customer_email[0]) bad |= form_add(&form, h, "receipt_email", req->customer_email);
    curl_easy_cleanup(h);
    long status = 0;
    if (!bad) call("/v1/payment_intents", &form, req->payment_id, &status, &ans);
    int rc = bad ? -1 : stripe_answer_result(status, ans.ptr, 0, out);
    if (bad) memset(out, 0, sizeof *out), snprintf(out->error, sizeof out->error, "payment request too large");
    buf_free(&form);
    buf_free(&ans);
    return rc;
}

static int stripe_retrieve(void *ctx, const char *ref, pay_result_t *out)
{
    (void)ctx;
    if (!configured(out)) return -1;
    if (!ref_ok(ref)) {
        memset(out, 0, sizeof *out);
        snprintf(out->error, sizeof out->error, "not a Stripe PaymentIntent id");
        return -1;
    }
    char path[200];
    snprintf(path, sizeof path, "/v1/payment_intents/%s?expand%%5B%%5D=latest_charge", ref);
    buf_t ans = BUF_INIT(ANSWER_MAX);
    long status = 0;
    call(path, NULL, NULL, &status, &ans);
    int rc = stripe_answer_result(status, ans.ptr, 0, out);
    buf_free(&ans);
    return rc;
}

static int stripe_refund(void *ctx, const char *ref, int64_t amount, const char *idem_key, pay_result_t *out)
{
    (void)ctx;
    if (!configured(out)) return -1;
    if (!ref_ok(ref) || amount < 0) {
        memset(out, 0, sizeof *out);
        snprintf(out->error, sizeof out->error, "not a Stripe PaymentIntent id or a bad amount");
        return -1;
    }
    curl_once();
    CURL *h = curl_easy_init();
    if (!h) {
        memset(out, 0, sizeof *out);
        out->retryable = 1;
        return -1;
    }
    buf_t form = BUF_INIT(4096), ans = BUF_INIT(ANSWER_MAX);
    int bad = form_add(&form, h, "payment_intent", ref);
    if (amount > 0) {
        char a[32];
        snprintf(a, sizeof a, "%lld", (long long)amount);
        bad |= form_add(&form, h, "amount", a);
    }
    curl_easy_cleanup(h);
    long status = 0;
    if (!bad) call("/v1/refunds", &form, idem_key, &status, &ans);
    int rc = bad ? -1 : stripe_answer_result(status, ans.ptr, 1, out);
    buf_free(&form);
    buf_free(&ans);
    return rc;
}

static const pay_provider_t provider = { "stripe", stripe_charge, stripe_retrieve, stripe_refund, NULL };

const pay_provider_t *stripe_provider(void) { return &provider; }
