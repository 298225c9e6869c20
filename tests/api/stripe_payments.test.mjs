// stripe_payments.test.mjs — orders paid through the stripe provider, over
// real HTTP, against tests/api/lib/stripe_server.mjs (a local server that
// answers like Stripe's REST API: bearer key, form bodies, Idempotency-Key
// replay, documented PaymentIntent / Refund / error payloads). Runs on SQLite
// and PostgreSQL.
//  - a card that succeeds at once: the payments.process job creates the
//    PaymentIntent with the payment's id as Idempotency-Key and the order
//    becomes paid without any webhook;
//  - a declined card: payment failed with Stripe's message, order
//    payment_failed, paying again with a good card works;
//  - 3-D Secure: requires_action and the client_secret reach the client;
//  - a PaymentIntent that settles at Stripe while its webhook never arrives:
//    the payments.reconcile job (run at once through `mercato jobs enqueue`)
//    asks Stripe and the order becomes paid;
//  - a refund of a Stripe payment goes to POST /v1/refunds and the order
//    ends refunded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, freshDatabase, req, cli, eventually } from './lib/server.mjs';
import { startStripeServer } from './lib/stripe_server.mjs';

const ADMIN_TOKEN = 'op-' + randomBytes(24).toString('hex');
const op = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postal_code: 'SW1Y 4JH', country: 'GB' };
const pool = [];
let srv, db, stripeApi;

before(async () => {
  stripeApi = await startStripeServer();
  db = freshDatabase();
  const s = cli(db.url, ['seed', '--demo', '--products', '30']);
  assert.equal(s.code, 0, s.stderr);
  srv = await startServer({
    db,
    env: {
      MERCATO_ADMIN_TOKEN: ADMIN_TOKEN,
      MERCATO_RATE_ANON: '1000000',
      MERCATO_JOB_POLL_MS: '20',
      MERCATO_FULFILMENT_AUTO: 'false',
      STRIPE_SECRET_KEY: 'sk_test_mercato',
      STRIPE_WEBHOOK_SECRET: 'whsec_' + randomBytes(16).toString('hex'),
      MERCATO_STRIPE_API_BASE: `http://127.0.0.1:${stripeApi.port}`,
    },
  });
  const r = await req(srv.url, 'GET', '/v1/products?limit=30');
  for (const p of r.body.items) for (const v of p.variants) if (v.price.currency === 'EUR') pool.push(v.id);
});

after(async () => {
  const r = await srv.stop();
  db.cleanup();
  await stripeApi.close();
  assert.equal(r.code, 0);
});

const key = () => 'k-' + randomBytes(8).toString('hex');

async function order() {
  const vid = pool.shift();
  assert.ok(vid, 'a EUR variant left in the demo catalog');
  let r = await req(srv.url, 'POST', '/v1/carts');
  const cart = r.body;
  const h = { 'x-cart-token': cart.token };
  r = await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, body: { variant_id: vid, quantity: 1 } });
  assert.equal(r.status, 200, r.text);
  r = await req(srv.url, 'POST', '/v1/orders', { headers: { ...h, 'idempotency-key': key() }, body: { cart_id: cart.id, email: 'ada@shop.example', shipping_address: ADDRESS } });
  assert.equal(r.status, 201, r.text);
  return { id: r.body.id, oh: { 'x-order-token': r.body.order_token }, total: r.body.totals.total.amount };
}

const pay = (o, method) => req(srv.url, 'POST', `/v1/orders/${o.id}/payments`, { headers: { ...o.oh, 'idempotency-key': key() }, body: { provider: 'stripe', method } });
const get = async (o) => (await req(srv.url, 'GET', `/v1/orders/${o.id}`, { headers: o.oh })).body;

async function until(o, pred, what) {
  let last;
  await eventually(async () => pred((last = await get(o))), 15000, what);
  return last;
}

test('a card that succeeds at once: PaymentIntent made by the job, order paid without a webhook', async () => {
  const o = await order();
  const r = await pay(o, 'pm_card_visa');
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.provider, 'stripe');
  assert.equal(r.body.status, 'processing', 'the provider is called off the request path');
  const g = await until(o, (x) => x.status === 'paid', 'order paid');
  const p = g.payments.find((x) => x.id === r.body.id);
  assert.equal(p.status, 'succeeded');
  const pis = stripeApi.intents().filter((x) => x.metadata.order_id === o.id);
  assert.equal(pis.length, 1, 'exactly one PaymentIntent');
  assert.equal(pis[0].amount, o.total);
  assert.equal(pis[0].metadata.payment_id, r.body.id);
});

test('a declined card fails with Stripe\'s message; paying again with a good card works', async () => {
  const o = await order();
  let r = await pay(o, 'pm_card_chargeDeclined');
  assert.equal(r.status, 201, r.text);
  let g = await until(o, (x) => x.status === 'payment_failed', 'order payment_failed');
  const failed = g.payments.find((x) => x.id === r.body.id);
  assert.equal(failed.status, 'failed');
  assert.match(failed.error, /declined/i);
  r = await pay(o, 'pm_card_visa');
  assert.equal(r.status, 201, r.text);
  g = await until(o, (x) => x.status === 'paid', 'order paid on the second try');
});

test('3-D Secure: requires_action with the client_secret for the browser', async () => {
  const o = await order();
  const r = await pay(o, 'pm_card_authenticationRequired');
  assert.equal(r.status, 201, r.text);
  const g = await until(o, (x) => x.payments.some((p) => p.status === 'requires_action'), 'requires_action');
  const p = g.payments.find((x) => x.id === r.body.id);
  assert.match(p.client_secret, /^pi_.+_secret_/);
  assert.equal(g.status, 'pending_payment');
});

test('settled at Stripe, webhook lost: payments.reconcile asks Stripe and the order is paid', async () => {
  const o = await order();
  const r = await pay(o, 'pm_card_processing');
  assert.equal(r.status, 201, r.text);
  let pi;
  await eventually(async () => (pi = stripeApi.intents().find((x) => x.metadata.order_id === o.id)) !== undefined, 15000, 'PaymentIntent created');
  await until(o, (x) => x.payments.some((p) => p.id === r.body.id && p.status === 'processing'), 'processing recorded');
  stripeApi.settle(pi.id, 'succeeded'); // and no webhook is sent
  // the scheduled run only looks at payments stuck for 5 minutes; ask now
  const e = cli(db.url, ['jobs', 'enqueue', 'payments.reconcile', '{"min_age_s":0}']);
  assert.equal(e.code, 0, e.stderr);
  const g = await until(o, (x) => x.status === 'paid', 'order paid by reconciliation');
  assert.equal(g.payments.find((x) => x.id === r.body.id).status, 'succeeded');
});

test('refunding a Stripe payment creates a Stripe Refund; the order ends refunded', async () => {
  const o = await order();
  let r = await pay(o, 'pm_card_visa');
  assert.equal(r.status, 201, r.text);
  await until(o, (x) => x.status === 'paid', 'order paid');
  r = await req(srv.url, 'POST', `/v1/orders/${o.id}/refunds`, { headers: { ...op, 'idempotency-key': key() }, body: { reason: 'customer changed their mind' } });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.status, 'pending', 'Stripe is asked by the payments.refund job');
  const rid = r.body.id;
  let last;
  await eventually(async () => {
    const l = await req(srv.url, 'GET', `/v1/orders/${o.id}/refunds`, { headers: o.oh });
    last = l.body.items.find((x) => x.id === rid);
    return last && last.status !== 'pending';
  }, 15000, 'refund settled');
  assert.equal(last.status, 'succeeded', JSON.stringify(last));
  assert.equal(last.amount.amount, o.total);
  const g = await until(o, (x) => x.status === 'refunded', 'order refunded');
  assert.equal(g.payments[0].status, 'refunded');
});
