// e2e.test.mjs — the life of an order end to end over real HTTP, on SQLite
// and PostgreSQL: a signed-in customer's cart → order → payment → shipment
// created → a delivery client reports in_transit then delivered → an SSE
// client on the order's stream sees every status in order, disconnects
// midway, resumes with Last-Event-ID and misses nothing → the customer
// receives the emails on a real local SMTP server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, freshDatabase, req, cli, eventually } from './lib/server.mjs';
import { startSmtp } from './lib/smtp.mjs';
import { openStream } from './lib/sse.mjs';

const ADMIN_TOKEN = 'op-' + randomBytes(24).toString('hex');
const op = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ADDRESS = { name: 'Grace Hopper', line1: '1 Harvard Way', city: 'Cambridge', postal_code: '02138', country: 'US' };

let srv, db, smtp;

before(async () => {
  smtp = await startSmtp();
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
    },
  });
});

after(async () => {
  const r = await srv.stop();
  db.cleanup();
  await smtp.close();
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

  // pay
  r = await req(srv.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: me, body: { provider: 'test', method: 'tok_visa' } });
  assert.equal(r.status, 201, r.text);

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
  assert.deepEqual(statuses({ events: all }), ['paid', 'fulfilling', 'shipped', 'delivered']);
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
});
