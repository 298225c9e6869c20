// fulfilment.test.mjs — the order's life after payment over real HTTP on
// SQLite and PostgreSQL: a paid order gets one shipment per seller, a
// carrier (an OAuth2 machine client with shipments:write) reports events
// that move the shipments and the order, retries and late events change
// nothing, access rules hold, bad reports get 4xx; and the built-in demo
// carrier walks an order to delivered on its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, freshDatabase, req, cli, eventually } from './lib/server.mjs';

const ADMIN_TOKEN = 'op-' + randomBytes(24).toString('hex');
const op = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ENV = {
  MERCATO_ADMIN_TOKEN: ADMIN_TOKEN,
  MERCATO_RATE_ANON: '1000000',
  MERCATO_RATE_USER: '1000000',
  MERCATO_PWHASH_OPS: '1',
  MERCATO_PWHASH_MEM_KIB: '64',
  MERCATO_ACCESS_LOG: 'false',
  MERCATO_JOB_POLL_MS: '20',
};
const ADDRESS = { name: 'Ada Lovelace', line1: '12 Analytical St', city: 'London', postal_code: 'N1 9GU', country: 'GB' };

let srv, db, carrier, readOnly;
const bySeller = new Map(); // seller id -> [EUR variant ids]

before(async () => {
  db = freshDatabase();
  const s = cli(db.url, ['seed', '--demo', '--products', '40']);
  assert.equal(s.code, 0, s.stderr);
  srv = await startServer({ db, env: { ...ENV, MERCATO_FULFILMENT_CARRIER: 'acme' } });
  await loadPool(srv, bySeller);
  assert.ok(bySeller.size >= 2, 'the demo catalog has several sellers');
  carrier = await client(['shipments:write']);
  readOnly = await client(['shipments:read']);
});

after(async () => {
  const r = await srv.stop();
  db.cleanup();
  assert.equal(r.code, 0);
});

async function loadPool(base, pool) {
  const r = await req(base.url, 'GET', '/v1/products?limit=40');
  assert.equal(r.status, 200, r.text);
  for (const p of r.body.items)
    for (const v of p.variants)
      if (v.price.currency === 'EUR') {
        if (!pool.has(p.seller_id)) pool.set(p.seller_id, []);
        pool.get(p.seller_id).push(v.id);
      }
}

const form = (o) => ({ raw: new URLSearchParams(o).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });

async function client(scopes) {
  let r = await req(srv.url, 'POST', '/v1/admin/oauth-clients', { headers: op, body: { name: 'Carrier ' + scopes.join(' '), scopes } });
  assert.equal(r.status, 201, r.text);
  const c = r.body;
  r = await req(srv.url, 'POST', '/v1/oauth/token', form({ grant_type: 'client_credentials', client_id: c.id, client_secret: c.client_secret }));
  assert.equal(r.status, 200, r.text);
  return { id: c.id, h: { authorization: `Bearer ${r.body.access_token}` } };
}

async function makeUser(role) {
  const email = `u-${randomBytes(5).toString('hex')}@shop.example`;
  const password = 'Str0ng-pass-' + randomBytes(6).toString('hex');
  const args = ['user', 'create', '--email', email, '--password', password];
  if (role) args.splice(2, 0, `--${role}`);
  const c = cli(db.url, args);
  assert.equal(c.code, 0, c.stderr);
  const r = await req(srv.url, 'POST', '/v1/auth/login', { body: { email, password } });
  assert.equal(r.status, 200, r.text);
  return { id: JSON.parse(c.stdout).id, h: { authorization: `Bearer ${r.body.access_token}` } };
}

// a paid order with one line from each of `sellers` sellers
async function paidOrder(base, sellers = 2, who, pool = bySeller) {
  const headers = who ? who.h : {};
  let r = await req(base.url, 'POST', '/v1/carts', { headers });
  assert.equal(r.status, 201, r.text);
  const cart = r.body;
  const h = { ...headers, ...(cart.token ? { 'x-cart-token': cart.token } : {}) };
  const picked = [...pool.entries()].filter(([, v]) => v.length).slice(0, sellers);
  for (const [, vids] of picked) {
    const vid = vids.shift();
    assert.ok(vid, 'variant pool exhausted');
    r = await req(base.url, 'POST', `/v1/inventory/${vid}/adjustments`, { headers: op, body: { delta: 5, reason: 'test stock' } });
    assert.equal(r.status, 201, r.text);
    r = await req(base.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, body: { variant_id: vid, quantity: 1 } });
    assert.equal(r.status, 200, r.text);
  }
  r = await req(base.url, 'POST', '/v1/orders', {
    headers: { ...h, 'idempotency-key': 'k-' + randomBytes(8).toString('hex') },
    body: { cart_id: cart.id, email: 'buyer@shop.example', shipping_address: ADDRESS },
  });
  assert.equal(r.status, 201, r.text);
  const order = r.body;
  const oh = { ...headers, ...(order.order_token ? { 'x-order-token': order.order_token } : {}) };
  r = await req(base.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: oh, body: { provider: 'test', method: 'tok_visa' } });
  assert.ok(r.status === 201 || r.status === 200 || r.status === 202, r.text);
  await eventually(async () => (await req(base.url, 'GET', `/v1/orders/${order.id}`, { headers: oh })).body.status !== 'pending_payment', 10000, 'payment applied');
  return { order, oh };
}

async function shipmentsOf(base, order, headers) {
  let list;
  await eventually(async () => {
    const r = await req(base.url, 'GET', `/v1/orders/${order.id}/shipments`, { headers });
    list = r.body && r.body.items;
    return r.status === 200 && list.length > 0;
  }, 10000, 'shipments created');
  return list;
}

const orderStatus = async (base, order, oh) => (await req(base.url, 'GET', `/v1/orders/${order.id}`, { headers: oh })).body.status;

function report(shipment, body, h = carrier.h) {
  return req(srv.url, 'POST', `/v1/shipments/${shipment}/events`, { headers: h, body });
}

const at = (sec) => new Date(Date.now() - 3600000 + sec * 1000).toISOString();

test('a paid order gets one shipment per seller and follows its carrier events to delivered', async () => {
  const { order, oh } = await paidOrder(srv, 2);
  const ships = await shipmentsOf(srv, order, oh);
  assert.equal(ships.length, 2);
  assert.deepEqual(new Set(ships.map((s) => s.seller_id)).size, 2);
  for (const s of ships) {
    assert.equal(s.status, 'pending');
    assert.equal(s.carrier, 'acme');
    assert.equal(s.lines.length, 1);
  }
  assert.equal(await orderStatus(srv, order, oh), 'fulfilling');
  const [a, b] = ships.map((s) => s.id);

  let r = await report(a, { id: 'a-1', status: 'label_created', occurred_at: at(1), tracking_number: '1Z-A' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.applied, true);
  assert.equal(r.body.shipment.status, 'label_created');
  // the same report again: 200, nothing changes
  r = await report(a, { id: 'a-1', status: 'label_created', occurred_at: at(1), tracking_number: '1Z-A' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.duplicate, true);
  assert.equal(r.body.applied, false);

  r = await report(a, { id: 'a-2', status: 'in_transit', occurred_at: at(2), location: 'Hub' });
  assert.equal(r.body.applied, true);
  assert.equal(await orderStatus(srv, order, oh), 'fulfilling', 'one shipment has not left yet');
  r = await report(b, { id: 'b-1', status: 'out_for_delivery', occurred_at: at(3) });
  assert.equal(r.body.applied, true);
  assert.equal(await orderStatus(srv, order, oh), 'shipped');

  // late: older than the current status, recorded but not applied
  r = await report(b, { id: 'b-0', status: 'in_transit', occurred_at: at(2) });
  assert.equal(r.status, 201);
  assert.equal(r.body.applied, false);
  assert.equal(r.body.shipment.status, 'out_for_delivery');

  r = await report(a, { id: 'a-3', status: 'delivered', occurred_at: at(4) });
  assert.equal(r.body.applied, true);
  r = await report(b, { id: 'b-2', status: 'delivered', occurred_at: at(5) });
  assert.equal(r.body.applied, true);
  assert.equal(await orderStatus(srv, order, oh), 'delivered');
  // nothing moves a delivered parcel backwards
  r = await report(b, { id: 'b-3', status: 'in_transit', occurred_at: at(6) });
  assert.equal(r.body.applied, false);

  // the tracking timeline in the order things happened, with every report
  r = await req(srv.url, 'GET', `/v1/shipments/${b}`, { headers: oh });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.events.map((e) => [e.external_id, e.applied]), [['b-0', false], ['b-1', true], ['b-2', true], ['b-3', false]]);

  // the order's timeline shows every status on the way
  r = await req(srv.url, 'GET', `/v1/orders/${order.id}/events`, { headers: oh });
  assert.equal(r.status, 200, r.text);
  const items = r.body.items || r.body.events || r.body;
  const statuses = items.filter((e) => e.type === 'order.status_changed').map((e) => (e.data || e.payload).to);
  assert.deepEqual(statuses.slice(-4), ['paid', 'fulfilling', 'shipped', 'delivered']);
});

test('who may see and report', async () => {
  const buyer = await makeUser();
  const other = await makeUser();
  const { order, oh } = await paidOrder(srv, 1, buyer);
  const [s] = await shipmentsOf(srv, order, oh);
  let r = await req(srv.url, 'GET', `/v1/shipments/${s.id}`, { headers: buyer.h });
  assert.equal(r.status, 200);
  r = await req(srv.url, 'GET', `/v1/shipments/${s.id}`, { headers: other.h });
  assert.equal(r.status, 404, 'another customer cannot tell it exists');
  r = await req(srv.url, 'GET', `/v1/shipments/${s.id}`);
  assert.equal(r.status, 404);
  r = await req(srv.url, 'GET', `/v1/orders/${order.id}/shipments`, { headers: other.h });
  assert.equal(r.status, 404);
  r = await req(srv.url, 'GET', `/v1/shipments/${s.id}`, { headers: readOnly.h });
  assert.equal(r.status, 200, 'a carrier client with shipments:read reads');
  // reporting needs shipments:write
  r = await report(s.id, { id: 'x-1', status: 'in_transit', occurred_at: at(1) }, readOnly.h);
  assert.equal(r.status, 403, r.text);
  r = await report(s.id, { id: 'x-1', status: 'in_transit', occurred_at: at(1) }, buyer.h);
  assert.equal(r.status, 403, r.text);
  r = await report(s.id, { id: 'x-1', status: 'in_transit', occurred_at: at(1) }, {});
  assert.equal(r.status, 401, r.text);
  r = await req(srv.url, 'GET', `/v1/shipments/${s.id}`, { headers: buyer.h });
  assert.equal(r.body.status, 'pending', 'refused reports changed nothing');
  assert.equal(r.body.events.length, 0);
  // unknown shipments
  r = await report('shp_00000000000000000000000000', { id: 'x', status: 'in_transit', occurred_at: at(1) });
  assert.equal(r.status, 404);
  r = await report('nope', { id: 'x', status: 'in_transit', occurred_at: at(1) });
  assert.equal(r.status, 404);
});

test('a client bound to a carrier sees and reports only that carrier\'s shipments', async () => {
  const acme = await client(['shipments:write:acme']);
  const other = await client(['shipments:write:swiftpost', 'shipments:read:swiftpost']);
  const buyer = await makeUser();
  const { order, oh } = await paidOrder(srv, 1, buyer);
  const [s] = await shipmentsOf(srv, order, oh);
  assert.equal(s.carrier, 'acme');
  // another delivery service: cannot tell the shipment exists, cannot move it
  let r = await report(s.id, { id: 'sp-1', status: 'delivered', occurred_at: at(1) }, other.h);
  assert.equal(r.status, 404, r.text);
  r = await req(srv.url, 'GET', `/v1/shipments/${s.id}`, { headers: other.h });
  assert.equal(r.status, 404);
  r = await req(srv.url, 'GET', `/v1/orders/${order.id}/shipments`, { headers: other.h });
  assert.equal(r.status, 200);
  assert.equal(r.body.items.length, 0, 'none of its parcels in this order');
  r = await req(srv.url, 'GET', `/v1/shipments/${s.id}`, { headers: buyer.h });
  assert.equal(r.body.status, 'pending', 'the refused report changed nothing');
  // the carrier it belongs to
  r = await report(s.id, { id: 'acme-1', status: 'in_transit', occurred_at: at(1) }, acme.h);
  assert.equal(r.status, 201, r.text);
  r = await req(srv.url, 'GET', `/v1/shipments/${s.id}`, { headers: acme.h });
  assert.equal(r.status, 200, 'shipments:write:acme reads acme shipments');
  assert.equal(r.body.status, 'in_transit');
  r = await req(srv.url, 'GET', `/v1/orders/${order.id}/shipments`, { headers: acme.h });
  assert.deepEqual(r.body.items.map((x) => x.id), [s.id]);
});

test('bad carrier reports are 4xx problems and change nothing', async () => {
  const { order, oh } = await paidOrder(srv, 1);
  const [s] = await shipmentsOf(srv, order, oh);
  const bad = [
    {},
    { id: 'e', status: 'shipped', occurred_at: at(1) },
    { id: 'e', status: 'pending', occurred_at: at(1) },
    { id: 'e', status: 'delivered', occurred_at: 'yesterday' },
    { id: 'e', status: 'delivered', occurred_at: new Date(Date.now() + 86400000).toISOString() },
    { id: 'has space', status: 'delivered', occurred_at: at(1) },
    { id: 'x'.repeat(129), status: 'delivered', occurred_at: at(1) },
    { id: 'e', status: 'delivered', occurred_at: at(1), tracking_number: 'a b' },
    { id: 'e', status: 'delivered', occurred_at: at(1), location: 'x'.repeat(201) },
    { id: 'e', status: 'delivered', occurred_at: at(1), surprise: true },
  ];
  for (const body of bad) {
    const r = await report(s.id, body);
    assert.equal(r.status, 422, JSON.stringify(body) + ' -> ' + r.text);
    assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
    assert.ok(Array.isArray(r.body.errors) && r.body.errors.length > 0);
  }
  for (const raw of ['{"id":', '[]', '"x"']) {
    const r = await req(srv.url, 'POST', `/v1/shipments/${s.id}/events`, { headers: { ...carrier.h, 'content-type': 'application/json' }, raw });
    assert.equal(r.status, 400, raw + ' -> ' + r.text);
  }
  let r;
  r = await req(srv.url, 'GET', `/v1/shipments/${s.id}`, { headers: oh });
  assert.equal(r.body.status, 'pending');
  assert.equal(r.body.events.length, 0);
});

test('the demo carrier walks an order to delivered on its own', async () => {
  const db2 = freshDatabase();
  const s = cli(db2.url, ['seed', '--demo', '--products', '20']);
  assert.equal(s.code, 0, s.stderr);
  const srv2 = await startServer({ db: db2, env: { ...ENV, MERCATO_DEMO_CARRIER_STEP: '0' } });
  try {
    const pool2 = new Map();
    await loadPool(srv2, pool2);
    const { order, oh } = await paidOrder(srv2, 1, undefined, pool2);
    await eventually(async () => (await orderStatus(srv2, order, oh)) === 'delivered', 30000, 'demo delivery');
    const [ship] = (await req(srv2.url, 'GET', `/v1/orders/${order.id}/shipments`, { headers: oh })).body.items;
    assert.equal(ship.carrier, 'demo');
    assert.equal(ship.status, 'delivered');
    assert.match(ship.tracking_number, /^DEMO-/);
    assert.deepEqual(ship.events.map((e) => e.status), ['label_created', 'in_transit', 'out_for_delivery', 'delivered']);
  } finally {
    const r = await srv2.stop();
    db2.cleanup();
    assert.equal(r.code, 0);
  }
});
