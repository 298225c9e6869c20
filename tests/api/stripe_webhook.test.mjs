// stripe_webhook.test.mjs — POST /v1/webhooks/stripe over real HTTP with
// Stripe-Signature headers made by the official `stripe` package
// (webhooks.generateTestHeaderString): bad, stale and missing signatures are
// 400 and change nothing; an event id is applied once (a replay answers
// duplicate: true); an event about a PaymentIntent no payment carries is a
// 409 so Stripe sends it again.
// Paid-order flows (succeeded / failed / refunded moving an order) belong to
// the orders suite, which can create payments.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { startServer, req } from './lib/server.mjs';

const SECRET = 'whsec_' + 'test_mercato_stripe_secret';
const stripe = new Stripe('sk_test_unused');
let srv;

before(async () => {
  srv = await startServer({ args: ['--stripe-webhook-secret', SECRET] });
  const doc = (await req(srv.url, 'GET', '/openapi.json')).body;
  assert.ok(doc?.paths?.['/v1/webhooks/stripe'], 'POST /v1/webhooks/stripe is documented and mounted');
});
after(async () => { await srv.stop(); });

const event = (id, type, object) => JSON.stringify({ id, object: 'event', api_version: '2024-06-20', created: Math.floor(Date.now() / 1000), livemode: false, type, data: { object } });
const post = (payload, header) => req(srv.url, 'POST', '/v1/webhooks/stripe', { headers: { 'content-type': 'application/json', ...(header ? { 'stripe-signature': header } : {}) }, raw: payload });
const sign = (payload, opts = {}) => stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET, ...opts });

test('signatures: missing, wrong, tampered and stale are 400', async (t) => {
  const body = event('evt_sig_1', 'customer.created', { id: 'cus_1', object: 'customer' });
  let r = await post(body);
  assert.equal(r.status, 400);
  assert.equal(r.body.type, 'https://mercato.dev/problems/invalid-signature');
  r = await post(body, stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_other' }));
  assert.equal(r.status, 400);
  r = await post(body.replace('cus_1', 'cus_2'), sign(body));
  assert.equal(r.status, 400);
  r = await post(body, sign(body, { timestamp: Math.floor(Date.now() / 1000) - 301 }));
  assert.equal(r.status, 400);
  assert.match(r.body.detail, /tolerance/);
  r = await post(body, sign(body).replace(/v1=/, 'v0='));
  assert.equal(r.status, 400);
});

test('a valid event is acknowledged once; a replay is a duplicate', async (t) => {
  const body = event('evt_dup_1', 'customer.created', { id: 'cus_1', object: 'customer' });
  let r = await post(body, sign(body));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { received: true, id: 'evt_dup_1', duplicate: false });
  r = await post(body, sign(body));
  assert.equal(r.status, 200);
  assert.equal(r.body.duplicate, true);
});

test('an event about an unknown PaymentIntent is 409 and not recorded', async (t) => {
  const body = event('evt_unknown_1', 'payment_intent.succeeded', { id: 'pi_nobody', object: 'payment_intent', amount: 100, amount_received: 100, status: 'succeeded' });
  let r = await post(body, sign(body));
  assert.equal(r.status, 409);
  assert.equal(r.body.type, 'https://mercato.dev/problems/unknown-payment');
  r = await post(body, sign(body));
  assert.equal(r.status, 409, 'not recorded as handled');
  r = await post('{"not":"an event"}', sign('{"not":"an event"}'));
  assert.equal(r.status, 400);
  assert.equal(r.body.type, 'https://mercato.dev/problems/invalid-event');
});
