// refunds.test.mjs — admin refunds over real HTTP on SQLite and PostgreSQL:
// partial then full refunds carried out by the provider in a job, the order
// refunded once the whole amount is back, retries with one Idempotency-Key
// refunding once, concurrent requests never refunding more than was paid,
// access rules and bad input.
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
  MERCATO_ACCESS_LOG: 'false',
  MERCATO_JOB_POLL_MS: '20',
  MERCATO_FULFILMENT_AUTO: 'false',
};
const ADDRESS = { name: 'Ada Lovelace', line1: '12 Analytical St', city: 'London', postal_code: 'N1 9GU', country: 'GB' };

let srv, db;
const pool = [];

before(async () => {
  db = freshDatabase();
  const s = cli(db.url, ['seed', '--demo', '--products', '30']);
  assert.equal(s.code, 0, s.stderr);
  srv = await startServer({ db, env: ENV });
  const r = await req(srv.url, 'GET', '/v1/products?limit=30');
  for (const p of r.body.items) for (const v of p.variants) if (v.price.currency === 'EUR') pool.push(v.id);
});

after(async () => {
  const r = await srv.stop();
  db.cleanup();
  assert.equal(r.code, 0);
});

const key = () => 'k-' + randomBytes(8).toString('hex');

async function order(pay = 'tok_visa') {
  const vid = pool.shift();
  let r = await req(srv.url, 'POST', '/v1/carts');
  const cart = r.body;
  const h = { 'x-cart-token': cart.token };
  r = await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, body: { variant_id: vid, quantity: 2 } });
  assert.equal(r.status, 200, r.text);
  r = await req(srv.url, 'POST', '/v1/orders', { headers: { ...h, 'idempotency-key': key() }, body: { cart_id: cart.id, email: 'b@shop.example', shipping_address: ADDRESS } });
  assert.equal(r.status, 201, r.text);
  const o = r.body;
  const oh = { 'x-order-token': o.order_token };
  if (pay) {
    r = await req(srv.url, 'POST', `/v1/orders/${o.id}/payments`, { headers: oh, body: { method: pay } });
    assert.equal(r.status, 201, r.text);
  }
  const g = await req(srv.url, 'GET', `/v1/orders/${o.id}`, { headers: oh });
  return { id: o.id, oh, total: g.body.totals.total.amount, status: g.body.status };
}

const refund = (id, body, k = key(), h = op) => req(srv.url, 'POST', `/v1/orders/${id}/refunds`, { headers: { ...h, 'idempotency-key': k }, body });

async function settled(o, rid) {
  let last;
  await eventually(async () => {
    const r = await req(srv.url, 'GET', `/v1/orders/${o.id}/refunds`, { headers: o.oh });
    last = r.body.items.find((x) => x.id === rid);
    return last && last.status !== 'pending';
  }, 15000, 'refund settled');
  return last;
}

test('a partial refund, then the rest: the order ends refunded', async () => {
  const o = await order();
  assert.equal(o.status, 'paid');
  let r = await refund(o.id, { amount: 100, reason: 'scratched box' });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.status, 'pending');
  assert.equal(r.body.amount.amount, 100);
  const first = await settled(o, r.body.id);
  assert.equal(first.status, 'succeeded');
  assert.ok(first.provider_ref);
  let g = await req(srv.url, 'GET', `/v1/orders/${o.id}`, { headers: o.oh });
  assert.equal(g.body.status, 'paid', 'a partial refund keeps the order');

  // more than is left
  r = await refund(o.id, { amount: o.total, reason: 'too much' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.refundable, o.total - 100);

  // the rest (no amount = everything left)
  r = await refund(o.id, { reason: 'customer changed their mind' });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.amount.amount, o.total - 100);
  assert.equal((await settled(o, r.body.id)).status, 'succeeded');
  await eventually(async () => (await req(srv.url, 'GET', `/v1/orders/${o.id}`, { headers: o.oh })).body.status === 'refunded', 10000, 'order refunded');
  g = await req(srv.url, 'GET', `/v1/orders/${o.id}`, { headers: o.oh });
  assert.equal(g.body.payments[0].refunded, o.total);

  r = await refund(o.id, { reason: 'again' });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.type, 'https://mercato.dev/problems/not-refundable');

  const ev = await req(srv.url, 'GET', `/v1/orders/${o.id}/events`, { headers: o.oh });
  const types = (ev.body.events || ev.body.items).map((e) => e.type);
  assert.equal(types.filter((t) => t === 'refund.requested').length, 2);
  assert.equal(types.filter((t) => t === 'refund.succeeded').length, 2);
  assert.ok(types.includes('order.status_changed'));
});

test('one Idempotency-Key refunds once; concurrent requests never refund more than was paid', async () => {
  const o = await order();
  const k = key();
  const a = await refund(o.id, { amount: 50, reason: 'retry me' }, k);
  const b = await refund(o.id, { amount: 50, reason: 'retry me' }, k);
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  assert.equal(b.text, a.text, 'the replay is byte for byte');
  assert.equal(b.headers.get('idempotent-replayed'), 'true');

  const o2 = await order();
  const rs = await Promise.all(Array.from({ length: 10 }, () => refund(o2.id, { reason: 'race' })));
  const ok = rs.filter((r) => r.status === 202);
  assert.equal(ok.length, 1, rs.map((r) => r.status).join(','));
  for (const r of rs) if (r.status !== 202) assert.ok(r.status === 409, r.text);
  await settled(o2, ok[0].body.id);
  const list = await req(srv.url, 'GET', `/v1/orders/${o2.id}/refunds`, { headers: op });
  assert.equal(list.body.items.length, 1);
});

test('refunds need an admin, a captured payment and a reason', async () => {
  const unpaid = await order(null);
  let r = await refund(unpaid.id, { reason: 'x' });
  assert.equal(r.status, 409, r.text);
  const declined = await order('tok_decline');
  r = await refund(declined.id, { reason: 'x' });
  assert.equal(r.status, 409, r.text);

  const o = await order();
  for (const body of [{}, { reason: '' }, { reason: 'x'.repeat(201) }, { amount: 0, reason: 'x' }, { amount: -5, reason: 'x' }, { amount: 1.5, reason: 'x' }, { amount: '10', reason: 'x' }, { reason: 'x', extra: 1 }]) {
    r = await refund(o.id, body);
    assert.equal(r.status, 422, JSON.stringify(body) + ' ' + r.text);
    assert.match(r.headers.get('content-type'), /problem\+json/);
  }
  r = await refund(o.id, { reason: 'x' }, key(), o.oh);
  assert.equal(r.status, 401, 'a guest cannot refund');
  r = await refund('ord_00000000000000000000000000', { reason: 'x' });
  assert.equal(r.status, 404);
  r = await req(srv.url, 'POST', `/v1/orders/${o.id}/refunds`, { headers: op, body: { reason: 'x' } });
  assert.equal(r.status, 202, 'the key is optional for admins: ' + r.text);
  // the guest sees the refunds of their order; nobody else does
  r = await req(srv.url, 'GET', `/v1/orders/${o.id}/refunds`, { headers: o.oh });
  assert.equal(r.status, 200);
  assert.equal(r.body.items.length, 1);
  r = await req(srv.url, 'GET', `/v1/orders/${o.id}/refunds`);
  assert.equal(r.status, 404);
  r = await req(srv.url, 'GET', `/v1/orders/${o.id}/refunds`, { headers: unpaid.oh });
  assert.equal(r.status, 404);
});
