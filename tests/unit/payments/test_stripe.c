/*
 * test_stripe.c — the Stripe provider's pure parts and its REST client.
 *
 * Signatures: fixed vectors made by the official `stripe` npm package, and
 * fresh headers from stripe.webhooks.generateTestHeaderString() (run through
 * tests/api/lib/stripe_sign.mjs) for random payloads and secrets; tolerance,
 * several v1 values, v0 ignored, malformed headers.  Events: Stripe's
 * documented payment_intent.succeeded / payment_failed / charge.refunded
 * bodies.  REST client: against tests/api/lib/stripe_server.mjs, a local
 * server answering with Stripe's documented PaymentIntent / Refund / error
 * payloads and enforcing the key, form encoding and Idempotency-Key.
 * The node-backed tests are skipped when node or the npm packages are
 * missing (run `npm ci` in tests/api).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "payments/stripe.h"

#define T0 INT64_C(1700000000)

static int have_node_stripe(void)
{
    return access("tests/api/node_modules/stripe/package.json", R_OK) == 0 &&
           system("node --version > /dev/null 2>&1") == 0;
}

/* ---- signatures ---- */

static void test_sig_vector_from_stripe_library(void **state)
{
    (void)state;
    /* made with stripe@23 generateTestHeaderString({payload:'{"a":1}', secret:'whsec_test', timestamp:1700000000}) */
    const char *h = "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
    const char *body = "{\"a\":1}";
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), "whsec_test", T0, 300), STRIPE_SIG_OK);
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), "whsec_test", T0 + 300, 300), STRIPE_SIG_OK);
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), "whsec_test", T0 - 300, 300), STRIPE_SIG_OK);
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), "whsec_test", T0 + 301, 300), STRIPE_SIG_ESTALE);
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), "whsec_test", T0 - 301, 300), STRIPE_SIG_ESTALE);
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), "whsec_test", T0 + 301, 0), STRIPE_SIG_ESTALE); /* default 300 */
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), "whsec_tesT", T0, 300), STRIPE_SIG_EMISMATCH);
    assert_int_equal(stripe_sig_verify(h, "{\"a\":2}", 7, "whsec_test", T0, 300), STRIPE_SIG_EMISMATCH);
    assert_int_equal(stripe_sig_verify(h, body, strlen(body) - 1, "whsec_test", T0, 300), STRIPE_SIG_EMISMATCH);
    /* the timestamp is signed: moving it breaks the signature */
    const char *moved = "t=1700000001,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
    assert_int_equal(stripe_sig_verify(moved, body, strlen(body), "whsec_test", T0, 300), STRIPE_SIG_EMISMATCH);
}

static void test_sig_header_shapes(void **state)
{
    (void)state;
    const char *body = "{\"a\":1}";
    const char *good = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
    const char *bad = "0000000000000000000000000000000000000000000000000000000000000000";
    char h[1024];
    /* several v1 values (secret rolling): any one may match, in any place */
    snprintf(h, sizeof h, "t=1700000000,v1=%s,v1=%s", bad, good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_OK);
    snprintf(h, sizeof h, "v1=%s,t=1700000000,v0=%s,v1=%s", good, bad, bad);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_OK);
    /* v0 (and other schemes) never count */
    snprintf(h, sizeof h, "t=1700000000,v0=%s", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_ENOSIG);
    snprintf(h, sizeof h, "t=1700000000,v2=%s,v1=%s", good, bad);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMISMATCH);
    /* spaces around items are tolerated; upper-case hex too */
    snprintf(h, sizeof h, " t=1700000000 , v1=%s ", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_OK);
    char upper[65];
    for (int i = 0; i < 64; i++) upper[i] = (good[i] >= 'a' && good[i] <= 'f') ? (char)(good[i] - 32) : good[i];
    upper[64] = 0;
    snprintf(h, sizeof h, "t=1700000000,v1=%s", upper);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_OK);
    /* truncated or non-hex v1 values cannot match */
    snprintf(h, sizeof h, "t=1700000000,v1=%.63s", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_ENOSIG);
    snprintf(h, sizeof h, "t=1700000000,v1=%.63sz", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_ENOSIG);
    /* malformed */
    assert_int_equal(stripe_sig_verify(NULL, body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMALFORMED);
    assert_int_equal(stripe_sig_verify("", body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMALFORMED);
    snprintf(h, sizeof h, "v1=%s", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMALFORMED);
    snprintf(h, sizeof h, "t=17000x0000,v1=%s", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMALFORMED);
    snprintf(h, sizeof h, "t=-1700000000,v1=%s", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMALFORMED);
    snprintf(h, sizeof h, "t=1700000000,t=1700000000,v1=%s", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMALFORMED);
    snprintf(h, sizeof h, "t=,v1=%s", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMALFORMED);
    snprintf(h, sizeof h, "t=99999999999999999999,v1=%s", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMALFORMED);
    assert_int_equal(stripe_sig_verify("t=1700000000", body, 7, "whsec_test", T0, 300), STRIPE_SIG_ENOSIG);
    assert_int_equal(stripe_sig_verify("t=1700000000,v1=", body, 7, "whsec_test", T0, 300), STRIPE_SIG_ENOSIG);
    assert_int_equal(stripe_sig_verify(",,,=,t=1700000000", body, 7, "whsec_test", T0, 300), STRIPE_SIG_ENOSIG);
    /* no secret configured: nothing verifies */
    snprintf(h, sizeof h, "t=1700000000,v1=%s", good);
    assert_int_equal(stripe_sig_verify(h, body, 7, "", T0, 300), STRIPE_SIG_EMALFORMED);
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(stripe_sig_verify(big, body, 7, "whsec_test", T0, 300), STRIPE_SIG_EMALFORMED);
    assert_string_equal(stripe_sig_reason(STRIPE_SIG_ESTALE), "the Stripe-Signature timestamp is outside the tolerance");
}

/* Fresh headers from the official library for random secrets and bodies. */
static void test_sig_official_library_live(void **state)
{
    (void)state;
    if (!have_node_stripe()) {
        skip();
        return;
    }
    for (int round = 0; round < 3; round++) {
        unsigned char r[24];
        randombytes_buf(r, sizeof r);
        char secret[64], b64[48];
        sodium_bin2base64(b64, sizeof b64, r, sizeof r, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        snprintf(secret, sizeof secret, "whsec_%s", b64);
        char body[512];
        int n = snprintf(body, sizeof body,
                         "{\"id\":\"evt_%u\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\","
                         "\"data\":{\"object\":{\"id\":\"pi_%u\",\"object\":\"payment_intent\",\"amount_received\":%u,"
                         "\"status\":\"succeeded\",\"description\":\"caf\xc3\xa9 \\u00e9 \\\"quoted\\\"\"}}}",
                         randombytes_random(), randombytes_random(), randombytes_uniform(100000));
        char path[] = "/tmp/mercato-stripe-body.XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, body, (size_t)n), n);
        close(fd);
        int64_t now = (int64_t)time(NULL);
        char cmd[512];
        snprintf(cmd, sizeof cmd, "node tests/api/lib/stripe_sign.mjs '%s' %lld < %s", secret, (long long)now, path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char header[512] = "";
        assert_non_null(fgets(header, sizeof header, p));
        assert_int_equal(pclose(p), 0);
        unlink(path);
        header[strcspn(header, "\r\n")] = 0;
        assert_int_equal(strncmp(header, "t=", 2), 0);
        assert_int_equal(stripe_sig_verify(header, body, (size_t)n, secret, now, 300), STRIPE_SIG_OK);
        assert_int_equal(stripe_sig_verify(header, body, (size_t)n, secret, now + 301, 300), STRIPE_SIG_ESTALE);
        body[n - 2] = ' ';
        assert_int_equal(stripe_sig_verify(header, body, (size_t)n, secret, now, 300), STRIPE_SIG_EMISMATCH);
        secret[7] ^= 1;
        body[n - 2] = '}';
        assert_int_equal(stripe_sig_verify(header, body, (size_t)n, secret, now, 300), STRIPE_SIG_EMISMATCH);
    }
}

/* ---- events ---- */

static void test_event_parse(void **state)
{
    (void)state;
    stripe_event_t ev;
    /* shapes from https://docs.stripe.com/api/events/object */
    const char *ok = "{\"id\":\"evt_1NG8Du2eZvKYlo2CUI79vXWy\",\"object\":\"event\",\"api_version\":\"2024-06-20\","
                     "\"created\":1686089970,\"livemode\":false,\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
                     "{\"id\":\"pi_3MtwBwLkdIwHu7ix28a3tqPa\",\"object\":\"payment_intent\",\"amount\":2000,"
                     "\"amount_received\":2000,\"currency\":\"usd\",\"status\":\"succeeded\",\"metadata\":{\"payment_id\":\"pay_1\"}}}}";
    assert_int_equal(stripe_event_parse(ok, strlen(ok), &ev), 0);
    assert_string_equal(ev.id, "evt_1NG8Du2eZvKYlo2CUI79vXWy");
    assert_string_equal(ev.type, "payment_intent.succeeded");
    assert_true(ev.relevant);
    assert_int_equal(ev.status, PAY_SUCCEEDED);
    assert_string_equal(ev.ref, "pi_3MtwBwLkdIwHu7ix28a3tqPa");
    assert_int_equal(ev.amount, 2000);
    assert_false(ev.livemode);

    const char *failed = "{\"id\":\"evt_2\",\"object\":\"event\",\"livemode\":true,\"type\":\"payment_intent.payment_failed\","
                         "\"data\":{\"object\":{\"id\":\"pi_2\",\"object\":\"payment_intent\",\"status\":\"requires_payment_method\","
                         "\"last_payment_error\":{\"type\":\"card_error\",\"code\":\"card_declined\",\"message\":\"Your card was declined.\"}}}}";
    assert_int_equal(stripe_event_parse(failed, strlen(failed), &ev), 0);
    assert_true(ev.relevant);
    assert_true(ev.livemode);
    assert_int_equal(ev.status, PAY_FAILED);
    assert_string_equal(ev.ref, "pi_2");
    assert_string_equal(ev.reason, "Your card was declined.");

    const char *refunded = "{\"id\":\"evt_3\",\"object\":\"event\",\"type\":\"charge.refunded\",\"data\":{\"object\":"
                           "{\"id\":\"ch_3\",\"object\":\"charge\",\"amount\":2000,\"amount_refunded\":2000,\"refunded\":true,"
                           "\"payment_intent\":\"pi_3\"}}}";
    assert_int_equal(stripe_event_parse(refunded, strlen(refunded), &ev), 0);
    assert_true(ev.relevant);
    assert_int_equal(ev.status, PAY_REFUNDED);
    assert_string_equal(ev.ref, "pi_3");
    assert_int_equal(ev.amount, 0); /* all of it */
    const char *partial = "{\"id\":\"evt_4\",\"type\":\"charge.refunded\",\"data\":{\"object\":{\"id\":\"ch_4\",\"object\":\"charge\","
                          "\"amount\":2000,\"amount_refunded\":500,\"refunded\":false,\"payment_intent\":\"pi_4\"}}}";
    assert_int_equal(stripe_event_parse(partial, strlen(partial), &ev), 0);
    assert_int_equal(ev.amount, 500);

    const char *other = "{\"id\":\"evt_5\",\"object\":\"event\",\"type\":\"customer.created\",\"data\":{\"object\":{\"id\":\"cus_1\"}}}";
    assert_int_equal(stripe_event_parse(other, strlen(other), &ev), 0);
    assert_false(ev.relevant);
    const char *noref = "{\"id\":\"evt_6\",\"type\":\"charge.refunded\",\"data\":{\"object\":{\"id\":\"ch_6\",\"payment_intent\":null}}}";
    assert_int_equal(stripe_event_parse(noref, strlen(noref), &ev), 0);
    assert_false(ev.relevant);

    const char *bad[] = { "", "[]", "{}", "{\"id\":\"evt_1\",\"type\":\"x\"}", "{\"id\":\"evt_1\",\"type\":\"x\",\"data\":{}}",
                          "{\"id\":1,\"type\":\"x\",\"data\":{\"object\":{}}}",
                          "{\"id\":\"evt_1\",\"object\":\"charge\",\"type\":\"x\",\"data\":{\"object\":{}}}",
                          "{\"id\":\"evt_1\",\"id\":\"evt_2\",\"type\":\"x\",\"data\":{\"object\":{}}}", "{\"id\":" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(stripe_event_parse(bad[i], strlen(bad[i]), &ev), -1);
}

static void test_answer_mapping(void **state)
{
    (void)state;
    pay_result_t r;
    assert_int_equal(stripe_answer_result(200, "{\"id\":\"pi_1\",\"object\":\"payment_intent\",\"status\":\"requires_action\","
                                               "\"client_secret\":\"pi_1_secret_x\"}", 0, &r), 0);
    assert_int_equal(r.status, PAY_REQUIRES_ACTION);
    assert_string_equal(r.client_secret, "pi_1_secret_x");
    assert_int_equal(stripe_answer_result(200, "{\"id\":\"pi_1\",\"object\":\"payment_intent\",\"status\":\"canceled\","
                                               "\"cancellation_reason\":\"abandoned\"}", 0, &r), 0);
    assert_int_equal(r.status, PAY_FAILED);
    assert_string_equal(r.error, "canceled: abandoned");
    assert_int_equal(stripe_answer_result(200, "{\"id\":\"pi_1\",\"object\":\"payment_intent\",\"status\":\"requires_payment_method\"}", 0, &r), 0);
    assert_int_equal(r.status, PAY_PROCESSING);
    assert_int_equal(stripe_answer_result(200, "{\"id\":\"re_1\",\"object\":\"refund\",\"status\":\"pending\"}", 1, &r), 0);
    assert_int_equal(r.status, PAY_PROCESSING);
    assert_int_equal(stripe_answer_result(200, "{\"id\":\"re_1\",\"object\":\"refund\",\"status\":\"failed\",\"failure_reason\":\"expired_or_canceled_card\"}", 1, &r), 0);
    assert_int_equal(r.status, PAY_FAILED);
    assert_string_equal(r.error, "expired_or_canceled_card");
    /* a refund body where a PaymentIntent was expected is not an answer */
    assert_int_equal(stripe_answer_result(200, "{\"id\":\"re_1\",\"object\":\"refund\",\"status\":\"succeeded\"}", 0, &r), -1);
    assert_true(r.retryable);
    assert_int_equal(stripe_answer_result(200, "not json", 0, &r), -1);
    assert_int_equal(stripe_answer_result(500, "{\"error\":{\"type\":\"api_error\",\"message\":\"boom\"}}", 0, &r), -1);
    assert_true(r.retryable);
    assert_string_equal(r.error, "Stripe answered 500: boom");
    assert_int_equal(stripe_answer_result(429, "{}", 0, &r), -1);
    assert_true(r.retryable);
    assert_int_equal(stripe_answer_result(409, "{}", 0, &r), -1);
    assert_true(r.retryable);
    assert_int_equal(stripe_answer_result(0, "Stripe is unreachable: refused", 0, &r), -1);
    assert_true(r.retryable);
    assert_int_equal(stripe_answer_result(400, "{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Missing amount\"}}", 0, &r), -1);
    assert_false(r.retryable);
    assert_int_equal(stripe_answer_result(401, NULL, 0, &r), -1);
    assert_false(r.retryable);
}

/* ---- the REST client against a local Stripe-like server ---- */

static pid_t g_server;
static int g_port;

static int server_up(void **state)
{
    (void)state;
    if (!have_node_stripe()) return 0;
    int fds[2];
    if (pipe(fds) != 0) return -1;
    g_server = fork();
    if (g_server == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execlp("node", "node", "tests/api/lib/stripe_server.mjs", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[64] = "";
    if (!f || !fgets(line, sizeof line, f) || sscanf(line, "listening %d", &g_port) != 1) return -1;
    fclose(f);
    return 0;
}

static int server_down(void **state)
{
    (void)state;
    if (g_server > 0) {
        kill(g_server, SIGTERM);
        waitpid(g_server, NULL, 0);
    }
    return 0;
}

/* The requests the server saw, as JSON (caller frees). */
static json_t *seen(void)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/__requests", g_port);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "curl -s %s", url);
    FILE *p = popen(cmd, "r");
    json_t *j = json_loadf(p, 0, NULL);
    pclose(p);
    return j;
}

static void configure(const char *key)
{
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", g_port);
    stripe_configure(key, base, 10);
}

static void test_client_charge_retrieve_refund(void **state)
{
    (void)state;
    if (!g_port) {
        skip();
        return;
    }
    configure("sk_test_mercato");
    const pay_provider_t *p = stripe_provider();
    assert_string_equal(p->name, "stripe");
    pay_request_t rq = { "pay_01HXTEST0000000000000000", "ord_01HXTEST", 1999, "EUR", "pm_card_visa", "buyer@example.com" };
    pay_result_t r;
    assert_int_equal(p->charge(p->ctx, &rq, &r), 0);
    assert_int_equal(r.status, PAY_SUCCEEDED);
    assert_int_equal(strncmp(r.ref, "pi_", 3), 0);
    char pi[128];
    snprintf(pi, sizeof pi, "%s", r.ref);
    /* the request: form-encoded, bearer key, Idempotency-Key = our payment id */
    json_t *log = seen();
    json_t *first = json_array_get(log, 0);
    assert_string_equal(json_string_value(json_object_get(first, "path")), "/v1/payment_intents");
    json_t *h = json_object_get(first, "headers");
    assert_string_equal(json_string_value(json_object_get(h, "idempotency-key")), "pay_01HXTEST0000000000000000");
    assert_string_equal(json_string_value(json_object_get(h, "content-type")), "application/x-www-form-urlencoded");
    const char *form = json_string_value(json_object_get(first, "body"));
    assert_non_null(strstr(form, "amount=1999"));
    assert_non_null(strstr(form, "currency=eur"));
    assert_non_null(strstr(form, "confirm=true"));
    assert_non_null(strstr(form, "payment_method=pm_card_visa"));
    assert_non_null(strstr(form, "metadata%5Bpayment_id%5D=pay_01HXTEST0000000000000000"));
    assert_non_null(strstr(form, "receipt_email=buyer%40example.com"));
    json_decref(log);
    /* the same payment again: Stripe replays the same PaymentIntent */
    assert_int_equal(p->charge(p->ctx, &rq, &r), 0);
    assert_string_equal(r.ref, pi);
    /* reconciliation */
    assert_int_equal(p->retrieve(p->ctx, pi, &r), 0);
    assert_int_equal(r.status, PAY_SUCCEEDED);
    assert_string_equal(r.ref, pi);
    /* partial refund, then the rest */
    assert_int_equal(p->refund(p->ctx, pi, 500, "ref_1", &r), 0);
    assert_int_equal(r.status, PAY_REFUNDED);
    assert_int_equal(strncmp(r.ref, "re_", 3), 0);
    char re[128];
    snprintf(re, sizeof re, "%s", r.ref);
    assert_int_equal(p->refund(p->ctx, pi, 500, "ref_1", &r), 0); /* a retried call: same refund */
    assert_string_equal(r.ref, re);
    assert_int_equal(p->retrieve(p->ctx, pi, &r), 0);
    assert_int_equal(r.status, PAY_SUCCEEDED); /* partly refunded */
    assert_int_equal(p->refund(p->ctx, pi, 0, "ref_2", &r), 0);
    assert_int_equal(r.status, PAY_REFUNDED);
    assert_int_equal(p->retrieve(p->ctx, pi, &r), 0);
    assert_int_equal(r.status, PAY_REFUNDED);
    /* more than is left: Stripe's 400, not retryable */
    assert_int_equal(p->refund(p->ctx, pi, 1, "ref_3", &r), -1);
    assert_false(r.retryable);
    assert_non_null(strstr(r.error, "greater than unrefunded"));
    /* ids that are not Stripe ids never reach a URL */
    assert_int_equal(p->retrieve(p->ctx, "pi_1/../../v1/refunds", &r), -1);
    assert_false(r.retryable);
    assert_int_equal(p->retrieve(p->ctx, "pi_doesnotexist", &r), -1);
    assert_false(r.retryable);
}

static void test_client_outcomes(void **state)
{
    (void)state;
    if (!g_port) {
        skip();
        return;
    }
    configure("sk_test_mercato");
    const pay_provider_t *p = stripe_provider();
    pay_result_t r;
    pay_request_t declined = { "pay_declined", "ord_1", 500, "USD", "pm_card_chargeDeclined", NULL };
    assert_int_equal(p->charge(p->ctx, &declined, &r), 0);
    assert_int_equal(r.status, PAY_FAILED);
    assert_int_equal(strncmp(r.ref, "pi_", 3), 0);
    assert_string_equal(r.error, "Your card was declined.");
    assert_int_equal(p->retrieve(p->ctx, r.ref, &r), 0);
    assert_int_equal(r.status, PAY_FAILED);
    pay_request_t sca = { "pay_sca", "ord_2", 500, "EUR", "pm_card_authenticationRequired", NULL };
    assert_int_equal(p->charge(p->ctx, &sca, &r), 0);
    assert_int_equal(r.status, PAY_REQUIRES_ACTION);
    assert_non_null(strstr(r.client_secret, "_secret_"));
    pay_request_t slow = { "pay_slow", "ord_3", 500, "EUR", "pm_card_processing", NULL };
    assert_int_equal(p->charge(p->ctx, &slow, &r), 0);
    assert_int_equal(r.status, PAY_PROCESSING);
    pay_request_t broken = { "pay_5xx", "ord_4", 500, "EUR", "pm_server_error", NULL };
    assert_int_equal(p->charge(p->ctx, &broken, &r), -1);
    assert_true(r.retryable);
    /* a wrong key: not retryable */
    configure("sk_test_wrong");
    pay_request_t ok = { "pay_wrongkey", "ord_5", 500, "EUR", "pm_card_visa", NULL };
    assert_int_equal(p->charge(p->ctx, &ok, &r), -1);
    assert_false(r.retryable);
    assert_non_null(strstr(r.error, "401"));
    /* no key at all */
    configure("");
    assert_int_equal(p->charge(p->ctx, &ok, &r), -1);
    assert_false(r.retryable);
    /* nobody listening: retryable */
    stripe_configure("sk_test_mercato", "http://127.0.0.1:1", 2);
    assert_int_equal(p->charge(p->ctx, &ok, &r), -1);
    assert_true(r.retryable);
    assert_non_null(strstr(r.error, "unreachable"));
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig_vector_from_stripe_library),
        cmocka_unit_test(test_sig_header_shapes),
        cmocka_unit_test(test_sig_official_library_live),
        cmocka_unit_test(test_event_parse),
        cmocka_unit_test(test_answer_mapping),
        cmocka_unit_test(test_client_charge_retrieve_refund),
        cmocka_unit_test(test_client_outcomes),
    };
    int rc = cmocka_run_group_tests(tests, server_up, server_down);
    curl_global_cleanup();
    return rc;
}
