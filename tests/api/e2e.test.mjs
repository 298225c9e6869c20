// e2e.test.mjs — the life of an order end to end over real HTTP, on SQLite
// and PostgreSQL: a signed-in customer's cart → order → a Stripe
// PaymentIntent (against a local server answering like Stripe's API) →
// Stripe's signed payment_intent.succeeded webhook (signed by the official
// `stripe` package) → shipment created → a delivery client reports
// in_transit then delivered → an SSE client on the order's stream sees every
// status in order, disconnects midway, resumes with Last-Event-ID and misses
// nothing → the customer receives the emails on a real local SMTP server →
// a webhook receiver gets signed deliveries that verify with the
// `standardwebhooks` library, and a failing receiver sees retries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, freshDatabase, req, cli, eventually } from './lib/server.mjs';
import { startSmtp } from './lib/smtp.mjs';
import { openStream } from './lib/sse.mjs';
import { startStripeServer } from './lib/stripe_server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import Stripe from 'stripe';
import { Webhook } from 'standardwebhooks';

const STRIPE_WHSEC = 'whsec_' + randomBytes(16).toString('hex');
const stripe = new Stripe('sk_test_unused');

const ADMIN_TOKEN = 'op-' + randomBytes(24).toString('hex');
const op = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ADDRESS = { name: 'Grace Hopper', line1: '1 Harvard Way', city: 'Cambridge', postal_code: '02138', country: 'US' };

let srv, db, smtp, stripeApi, good, failing;

before(async () => {
  smtp = await startSmtp();
  stripeApi = await startStripeServer();
  good = await startReceiver();
  failing = await startReceiver({ respond: () => ({ status: 500, body: 'down' }) });
  db = freshDatabase();
  const s = cli(db.url, ['seed', '--demo', '--products', '20']);
  assert.equal(s.code, 0, s.stderr);
  srv = await startServer({
    db,
    env: {
      MERCATO_ADMIN_TOKEN: ADMIN_TOKEN,
      MERCATO_RATE_ANON: '1000000',
      MERCATO_RATE_USER: '1000000',
      MERCATO_PWHASH_OPS: '1',
      MERCATO_PWHASH_MEM_KIB: '64',
      MERCATO_JOB_POLL_MS: '20',
      MERCATO_FULFILMENT_CARRIER: 'acme',
      MERCATO_SSE_HEARTBEAT: '1',
      SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
      MERCATO_PUBLIC_URL: 'https://shop.example',
      STRIPE_SECRET_KEY: 'sk_test_mercato',
      STRIPE_WEBHOOK_SECRET: STRIPE_WHSEC,
      MERCATO_STRIPE_API_BASE: `http://127.0.0.1:${stripeApi.port}`,
      MERCATO_WEBHOOK_ALLOW_PRIVATE: 'true',
      MERCATO_WEBHOOK_BACKOFF_MS: '100',
      MERCATO_WEBHOOK_MAX_ATTEMPTS: '3',
    },
  });
});

after(async () => {
  const r = await srv.stop();
  db.cleanup();
  await smtp.close();
  await stripeApi.close();
  await good.close();
  await failing.close();
  assert.equal(r.code, 0);
});

const form = (o) => ({ raw: new URLSearchParams(o).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });

test('cart → order → payment → shipment → carrier → delivered, watched live and by email', async () => {
  // a customer and a delivery service
  const email = `grace-${randomBytes(4).toString('hex')}@shop.example`;
  const password = 'Str0ng-pass-' + randomBytes(6).toString('hex');
  const made = cli(db.url, ['user', 'create', '--email', email, '--password', password, '--name', 'Grace']);
  assert.equal(made.code, 0, made.stderr);
  let r = await req(srv.url, 'POST', '/v1/auth/login', { body: { email, password } });
  assert.equal(r.status, 200, r.text);
  const me = { authorization: `Bearer ${r.body.access_token}` };
  r = await req(srv.url, 'POST', '/v1/admin/oauth-clients', { headers: op, body: { name: 'Acme Delivery', scopes: ['shipments:write'] } });
  assert.equal(r.status, 201, r.text);
  const cl = r.body;
  r = await req(srv.url, 'POST', '/v1/oauth/token', form({ grant_type: 'client_credentials', client_id: cl.id, client_secret: cl.client_secret }));
  assert.equal(r.status, 200, r.text);
  const carrier = { authorization: `Bearer ${r.body.access_token}` };

  // the shop's systems listening: one receiver that works, one that fails
  r = await req(srv.url, 'POST', '/v1/admin/webhook-endpoints', { headers: op, body: { url: good.url + '/hook', event_types: ['order.*', 'shipment.*'] } });
  assert.equal(r.status, 201, r.text);
  const goodSecret = r.body.secret;
  r = await req(srv.url, 'POST', '/v1/admin/webhook-endpoints', { headers: op, body: { url: failing.url + '/hook', event_types: ['order.created'] } });
  assert.equal(r.status, 201, r.text);

  // cart and checkout
  r = await req(srv.url, 'GET', '/v1/products?limit=10');
  const vids = r.body.items.flatMap((p) => p.variants).filter((v) => v.price.currency === 'EUR').map((v) => v.id);
  assert.ok(vids.length >= 2, 'EUR variants in the demo catalog');
  r = await req(srv.url, 'POST', '/v1/carts', { headers: me });
  assert.equal(r.status, 201, r.text);
  const cart = r.body;
  for (const vid of vids.slice(0, 2)) {
    r = await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: me, body: { variant_id: vid, quantity: 1 } });
    assert.equal(r.status, 200, r.text);
  }
  r = await req(srv.url, 'POST', '/v1/orders', { headers: { ...me, 'idempotency-key': 'e2e-' + randomBytes(6).toString('hex') }, body: { cart_id: cart.id, shipping_address: ADDRESS } });
  assert.equal(r.status, 201, r.text);
  const order = r.body;
  assert.equal(order.status, 'pending_payment');

  // watch the order live
  let s = await openStream(srv.port, `/v1/orders/${order.id}/stream`, me).response;
  assert.equal(s.status, 200);
  await s.waitFor((x) => x.events.some((e) => e.event === 'order.created'), 15000, 'order.created');

  // pay with Stripe: the PaymentIntent is created off the request path and
  // stays processing until Stripe tells us, by signed webhook, that it succeeded
  r = await req(srv.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: { ...me, 'idempotency-key': 'pay-' + order.id }, body: { provider: 'stripe', method: 'pm_card_processing' } });
  assert.equal(r.status, 201, r.text);
  let pi;
  await eventually(async () => (pi = stripeApi.intents().find((x) => x.metadata.order_id === order.id)) !== undefined, 15000, 'PaymentIntent created');
  assert.equal(pi.amount, order.totals.total.amount);
  const settled = stripeApi.settle(pi.id, 'succeeded');
  const evt = JSON.stringify({ id: 'evt_' + randomBytes(8).toString('hex'), object: 'event', api_version: '2024-06-20', created: Math.floor(Date.now() / 1000), livemode: false, type: 'payment_intent.succeeded', data: { object: settled } });
  const hook = () => req(srv.url, 'POST', '/v1/webhooks/stripe', { headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: evt, secret: STRIPE_WHSEC }) }, raw: evt });
  r = await hook();
  assert.equal(r.status, 200, r.text);
  r = await hook();
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.duplicate, true, 'Stripe retrying the same event changes nothing');
  r = await req(srv.url, 'POST', '/v1/webhooks/stripe', { headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: evt, secret: 'whsec_forged' }) }, raw: evt });
  assert.equal(r.status, 400, 'a forged signature is refused');

  // fulfilment makes the shipments
  let ships;
  await eventually(async () => {
    const g = await req(srv.url, 'GET', `/v1/orders/${order.id}/shipments`, { headers: me });
    ships = g.body.items;
    return g.status === 200 && ships.length > 0;
  }, 15000, 'shipments');
  const statuses = (x) => x.events.filter((e) => e.event === 'order.status_changed').map((e) => e.json.data.to);
  await s.waitFor((x) => statuses(x).includes('fulfilling'), 15000, 'fulfilling');

  // the carrier: in transit
  let t = Date.now() - 60000;
  for (const sh of ships) {
    r = await req(srv.url, 'POST', `/v1/shipments/${sh.id}/events`, { headers: carrier, body: { id: `${sh.id}-1`, status: 'in_transit', occurred_at: new Date(t += 1000).toISOString(), tracking_number: `ACME-${sh.id.slice(-8)}` } });
    assert.equal(r.status, 201, r.text);
  }
  await s.waitFor((x) => statuses(x).includes('shipped'), 15000, 'shipped');
  const lastSeen = s.events.at(-1).id;
  const before = s.events.slice();
  s.close();

  // while nobody watches: delivered
  for (const sh of ships) {
    r = await req(srv.url, 'POST', `/v1/shipments/${sh.id}/events`, { headers: carrier, body: { id: `${sh.id}-2`, status: 'delivered', occurred_at: new Date(t += 1000).toISOString() } });
    assert.equal(r.status, 201, r.text);
  }
  await eventually(async () => (await req(srv.url, 'GET', `/v1/orders/${order.id}`, { headers: me })).body.status === 'delivered', 15000, 'delivered');

  // resume: exactly what was missed
  s = await openStream(srv.port, `/v1/orders/${order.id}/stream`, { ...me, 'last-event-id': String(lastSeen) }).response;
  await s.waitFor((x) => statuses(x).includes('delivered'), 15000, 'delivered on the resumed stream');
  s.close();
  const all = [...before, ...s.events];
  const ids = all.map((e) => e.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in commit order');
  assert.equal(new Set(ids).size, ids.length, 'nothing twice');
  assert.ok(s.events[0].id > lastSeen);
  assert.deepEqual(statuses({ events: all }), ['paid', 'fulfilling', 'shipped', 'delivered'], JSON.stringify(all.map((e) => [e.id, e.event, e.json?.data?.from, e.json?.data?.to, e.json?.actor])));
  // and it is the whole timeline: the same events the API lists
  r = await req(srv.url, 'GET', `/v1/orders/${order.id}/events`, { headers: me });
  assert.deepEqual((r.body.events || r.body.items).map((e) => e.id), ids);

  // the emails
  const to = (subjectRe) => smtp.waitFor((m) => m.envelope.to.includes(email) && subjectRe.test(m.subject), 15000);
  const confirmation = await to(/order/i);
  assert.match(confirmation.text, new RegExp(order.id));
  const shipped = await to(/shipped/i);
  assert.match(shipped.text, /ACME-/, 'the shipped mail carries the tracking number');
  await to(/delivered/i);

  // and the in-app notifications
  r = await req(srv.url, 'GET', '/v1/me/notifications', { headers: me });
  assert.equal(r.status, 200, r.text);
  const kinds = r.body.items.map((n) => n.kind);
  for (const k of ['order_confirmed', 'payment_succeeded', 'order_shipped', 'order_delivered']) assert.ok(kinds.includes(k), `${k} in ${kinds}`);

  // the shop's webhook receiver: signed deliveries that verify, in order
  // deliveries are separate jobs: wait for every status change's, not only
  // the last one's (delivered may arrive before shipped)
  const delivered = (to) => good.requests.some((q) => { const b = JSON.parse(q.body); return b.type === 'order.status_changed' && b.data.to === to && JSON.stringify(b.data).includes(order.id); });
  await eventually(() => ['paid', 'fulfilling', 'shipped', 'delivered'].every(delivered), 15000, 'webhooks for every status change');
  const wh = new Webhook(goodSecret);
  // deliveries are separate jobs and may arrive out of order; receivers
  // order them by the event id in webhook-id (evt_<id>)
  const seq = (q) => Number(q.headers['webhook-id'].replace(/^evt_/, ''));
  const got = [...good.requests].sort((a, b) => seq(a) - seq(b)).map((q) => wh.verify(q.body, { 'webhook-id': q.headers['webhook-id'], 'webhook-timestamp': q.headers['webhook-timestamp'], 'webhook-signature': q.headers['webhook-signature'] }));
  const mine = got.filter((g) => g.data.order_id === order.id || g.data.subject === order.id || JSON.stringify(g.data).includes(order.id));
  const tos = mine.filter((g) => g.type === 'order.status_changed').map((g) => g.data.to);
  assert.deepEqual(tos, ['paid', 'fulfilling', 'shipped', 'delivered']);
  assert.ok(mine.some((g) => g.type === 'order.created'));
  assert.ok(mine.some((g) => g.type === 'shipment.status_changed'));
  assert.throws(() => new Webhook('whsec_' + Buffer.from('not the secret').toString('base64')).verify(good.requests[0].body, { 'webhook-id': good.requests[0].headers['webhook-id'], 'webhook-timestamp': good.requests[0].headers['webhook-timestamp'], 'webhook-signature': good.requests[0].headers['webhook-signature'] }));
  // the failing receiver: the same message again and again, then given up
  await eventually(() => failing.requests.length >= 3, 20000, 'retries to the failing receiver');
  const hookIds = new Set(failing.requests.map((q) => q.headers['webhook-id']));
  assert.equal(hookIds.size, 1, 'retries carry the same webhook-id');
  assert.ok(failing.requests[2].at - failing.requests[1].at >= failing.requests[1].at - failing.requests[0].at - 50, 'the wait grows');
});
