// orders.test.mjs — carts, stock, checkout and orders over real HTTP on
// SQLite and PostgreSQL: no overselling under 200 concurrent buyers,
// exactly-once checkout under 50 concurrent retries of one Idempotency-Key,
// reservation expiry, the whole state machine (read from
// src/orders/order_state.h, so the test follows the table), payments with
// the test provider, access rules and bad input that changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
  // paid orders stay paid: fulfilment (tests/api/fulfilment.test.mjs) would move them on
  MERCATO_FULFILMENT_AUTO: 'false',
};
const ADDRESS = { name: 'Ada Lovelace', line1: '12 Analytical St', city: 'London', postal_code: 'N1 9GU', country: 'GB' };

let srv, db;
const pool = [];     // published EUR variant ids, handed out one test at a time
let draftVariant;    // a variant of an unpublished product

before(async () => {
  db = freshDatabase();
  const s = cli(db.url, ['seed', '--demo', '--products', '60']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /stocked \d+ variants/);
  srv = await startServer({ db, env: ENV });
  let cursor = '';
  while (pool.length < 80) {
    const r = await req(srv.url, 'GET', `/v1/products?limit=50${cursor ? '&cursor=' + cursor : ''}`);
    assert.equal(r.status, 200, r.text);
    for (const p of r.body.items) for (const v of p.variants) if (v.price.currency === 'EUR') pool.push(v.id);
    if (!r.body.next_cursor) break;
    cursor = encodeURIComponent(r.body.next_cursor);
  }
  const d = await req(srv.url, 'GET', '/v1/products?status=draft&limit=5', { headers: op });
  assert.equal(d.status, 200, d.text);
  draftVariant = d.body.items.find((p) => p.variants.length).variants[0].id;
});

after(async () => {
  const r = await srv.stop();
  db.cleanup();
  assert.equal(r.code, 0);
});

// ---- helpers ----
const variant = () => { const v = pool.shift(); assert.ok(v, 'variant pool exhausted'); return v; };
const json = (o) => ({ body: o });

async function stock(vid, base = srv) {
  const r = await req(base.url, 'GET', `/v1/inventory/${vid}`, { headers: op });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function setAvailable(vid, n, base = srv) {
  const s = await stock(vid, base);
  if (s.available === n) return;
  const r = await req(base.url, 'POST', `/v1/inventory/${vid}/adjustments`, { headers: op, body: { delta: n - s.available, reason: 'test set-up' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.available, n);
}

async function guestCart(vid, qty = 1, base = srv, region) {
  let r = await req(base.url, 'POST', '/v1/carts', region ? json({ region }) : {});
  assert.equal(r.status, 201, r.text);
  const cart = { id: r.body.id, token: r.body.token };
  assert.ok(cart.token);
  if (vid) {
    r = await req(base.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: { 'x-cart-token': cart.token }, body: { variant_id: vid, quantity: qty } });
    assert.equal(r.status, 200, r.text);
  }
  return cart;
}

function checkout(cart, key = 'k-' + randomBytes(8).toString('hex'), base = srv, body) {
  return req(base.url, 'POST', '/v1/orders', {
    headers: { 'x-cart-token': cart.token, 'idempotency-key': key },
    body: body || { cart_id: cart.id, email: 'buyer@shop.example', shipping_address: ADDRESS },
  });
}

async function placeOrder(vid, qty = 1, base = srv) {
  const cart = await guestCart(vid, qty, base);
  const r = await checkout(cart, undefined, base);
  assert.equal(r.status, 201, r.text);
  return { order: r.body, token: r.body.order_token, cart };
}

function assertProblem(r, status, type) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(r.body.status, status);
  if (type) assert.equal(r.body.type, `https://mercato.dev/problems/${type}`, r.text);
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
  return { email, token: r.body.access_token, h: { authorization: `Bearer ${r.body.access_token}` }, id: JSON.parse(c.stdout).id };
}

async function orderCount(base = srv) {
  let n = 0, cursor = '';
  for (;;) {
    const r = await req(base.url, 'GET', `/v1/admin/orders?limit=100${cursor ? '&cursor=' + cursor : ''}`, { headers: op });
    assert.equal(r.status, 200, r.text);
    n += r.body.items.length;
    if (!r.body.next_cursor) return n;
    cursor = r.body.next_cursor;
  }
}

// ---- the state machine table, read from the one place it is defined ----
function transitionTable() {
  const h = readFileSync(new URL('../../src/orders/order_state.h', import.meta.url), 'utf8');
  const statuses = [...h.matchAll(/X\((\w+), "(\w+)"\)/g)].map((m) => [m[1], m[2]]);
  const name = Object.fromEntries(statuses);
  const block = h.slice(h.indexOf('#define ORDER_TRANSITIONS'));
  const edges = [...block.matchAll(/X\((\w+), (\w+), ([\w| ]+)\)/g)].map((m) => ({ from: name[m[1]], to: name[m[2]], who: m[3].split('|').map((s) => s.trim()) }));
  assert.ok(statuses.length >= 10 && edges.length >= 15, 'could not read order_state.h');
  return { statuses: statuses.map((s) => s[1]), edges };
}

// ---- concurrency ----

test('200 concurrent buyers for 10 units: exactly 10 orders, 190 clean 409s, stock consistent', async () => {
  const vid = variant();
  await setAvailable(vid, 10);
  const before = await orderCount();
  const carts = [];
  for (let i = 0; i < 200; i += 20) carts.push(...await Promise.all(Array.from({ length: 20 }, () => guestCart(vid, 1))));
  const results = await Promise.all(carts.map((c) => checkout(c)));
  const ok = results.filter((r) => r.status === 201);
  const short = results.filter((r) => r.status === 409);
  assert.equal(ok.length, 10, JSON.stringify(results.filter((r) => r.status !== 201 && r.status !== 409).map((r) => r.text).slice(0, 3)));
  assert.equal(short.length, 190);
  for (const r of short) {
    assertProblem(r, 409, 'insufficient-stock');
    assert.deepEqual(r.body.lines, [{ variant_id: vid, requested: 1, available: 0 }]);
  }
  assert.equal(new Set(ok.map((r) => r.body.id)).size, 10);
  assert.equal(new Set(ok.map((r) => r.body.number)).size, 10);
  for (const r of ok) assert.match(r.body.number, /^M\d{6}-[0-9A-HJKMNP-TV-Z]{8}$/);
  const s = await stock(vid);
  assert.deepEqual({ on_hand: s.on_hand, reserved: s.reserved, available: s.available }, { on_hand: 10, reserved: 10, available: 0 });
  assert.equal(await orderCount(), before + 10);
  // the losers' carts are still active and untouched
  const c = await req(srv.url, 'GET', `/v1/carts/${carts[0].id}`, { headers: { 'x-cart-token': carts[0].token } });
  assert.equal(c.status, 200);
  // paying five and cancelling five leaves on_hand 5, reserved 0
  for (const [i, r] of ok.entries()) {
    const h = { 'x-order-token': r.body.order_token };
    const x = i < 5
      ? await req(srv.url, 'POST', `/v1/orders/${r.body.id}/payments`, { headers: h, body: { method: 'tok_visa' } })
      : await req(srv.url, 'POST', `/v1/orders/${r.body.id}/cancel`, { headers: h });
    assert.ok(x.status === 201 || x.status === 200, x.text);
  }
  const after = await stock(vid);
  assert.deepEqual({ on_hand: after.on_hand, reserved: after.reserved }, { on_hand: 5, reserved: 5 - 5 });
});

test('a checkout refused under a key is stored: the retry replays the refusal even once stock is back', async () => {
  const vid = variant();
  await setAvailable(vid, 3);
  const cart = await guestCart(vid, 3);
  await setAvailable(vid, 2); // sold elsewhere meanwhile
  const key = 'short-' + randomBytes(8).toString('hex');
  const first = await checkout(cart, key);
  assertProblem(first, 409, 'insufficient-stock');
  await setAvailable(vid, 5);
  const again = await checkout(cart, key);
  assert.equal(again.status, 409);
  assert.equal(again.text, first.text, 'the stored refusal, byte for byte');
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  // a new key runs the checkout
  const fresh = await checkout(cart);
  assert.equal(fresh.status, 201, fresh.text);
});

test('50 concurrent requests with one Idempotency-Key: one order, identical replays, 409 while in flight', async () => {
  const vid = variant();
  await setAvailable(vid, 3);
  const cart = await guestCart(vid, 1);
  const before = await orderCount();
  const key = 'same-' + randomBytes(8).toString('hex');
  const rs = await Promise.all(Array.from({ length: 50 }, () => checkout(cart, key)));
  const created = rs.filter((r) => r.status === 201);
  const busy = rs.filter((r) => r.status === 409);
  assert.equal(created.length + busy.length, 50, JSON.stringify(rs.map((r) => r.status)));
  assert.ok(created.length >= 1);
  for (const r of busy) {
    assertProblem(r, 409, 'idempotency-key-in-use');
    assert.ok(r.headers.get('retry-after'));
  }
  for (const r of created) assert.equal(r.text, created[0].text, 'every completed reply is byte-identical');
  assert.equal(await orderCount(), before + 1);
  // a later retry replays the original answer byte for byte
  const again = await checkout(cart, key);
  assert.equal(again.status, 201);
  assert.equal(again.text, created[0].text);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  // the same key with another body is refused
  const other = await checkout(cart, key, srv, { cart_id: cart.id, email: 'other@shop.example', shipping_address: ADDRESS });
  assertProblem(other, 422, 'idempotency-key-reused');
  const s = await stock(vid);
  assert.equal(s.reserved, 1);
  assert.equal(s.available, 2);
  // a new key for the converted cart: 409 cart-closed, no second order
  assertProblem(await checkout(cart), 409, 'cart-closed');
  assert.equal(await orderCount(), before + 1);
});

test('checkout without an Idempotency-Key is a 400 and creates nothing', async () => {
  const vid = variant();
  const cart = await guestCart(vid, 1);
  const s0 = await stock(vid);
  const r = await req(srv.url, 'POST', '/v1/orders', { headers: { 'x-cart-token': cart.token }, body: { cart_id: cart.id, email: 'a@shop.example', shipping_address: ADDRESS } });
  assertProblem(r, 400, 'idempotency-key-required');
  assert.deepEqual(await stock(vid), s0);
});

test('a reservation that expires returns its stock and cancels its order', async () => {
  const xdb = freshDatabase();
  assert.equal(cli(xdb.url, ['seed', '--demo', '--products', '5']).code, 0);
  const x = await startServer({ db: xdb, env: { ...ENV, MERCATO_RESERVATION_TTL: '1', MERCATO_JOB_POLL_MS: '50' } });
  try {
    const p = await req(x.url, 'GET', '/v1/products?limit=1');
    const vid = p.body.items[0].variants.find((v) => v.price.currency === 'EUR').id;
    const s0 = await stock(vid, x);
    const { order, token } = await placeOrder(vid, 2, x);
    assert.equal(order.status, 'pending_payment');
    assert.equal((await stock(vid, x)).reserved, s0.reserved + 2);
    const h = { 'x-order-token': token };
    const done = await eventually(async () => {
      const r = await req(x.url, 'GET', `/v1/orders/${order.id}`, { headers: h });
      return r.body.status === 'cancelled' && r.body;
    }, 15000, 'the order to expire');
    assert.equal(done.status, 'cancelled');
    const s1 = await stock(vid, x);
    assert.equal(s1.reserved, s0.reserved);
    assert.equal(s1.on_hand, s0.on_hand);
    const ev = await req(x.url, 'GET', `/v1/orders/${order.id}/events`, { headers: h });
    const last = ev.body.events.at(-1);
    assert.equal(last.type, 'order.status_changed');
    assert.deepEqual([last.data.from, last.data.to, last.data.by, last.data.reason], ['pending_payment', 'cancelled', 'system', 'reservation_expired']);
    // paying an expired order is refused
    const pay = await req(x.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: h, body: { method: 'tok_visa' } });
    assertProblem(pay, 409, 'order-not-payable');
  } finally {
    await x.stop();
    xdb.cleanup();
  }
});

// ---- payments ----

test('the test provider: tok_visa pays and commits stock, tok_decline fails and keeps the reservation', async () => {
  const vid = variant();
  await setAvailable(vid, 5);
  const s0 = await stock(vid);
  const { order, token } = await placeOrder(vid, 2);
  const h = { 'x-order-token': token };
  let r = await req(srv.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: h, body: { method: 'tok_decline' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.status, 'failed');
  assert.equal(r.body.order_status, 'payment_failed');
  assert.equal(r.body.amount.amount, order.totals.total.amount);
  assert.equal((await stock(vid)).reserved, s0.reserved + 2);
  r = await req(srv.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: h, body: { provider: 'test', method: 'tok_chargeDeclined' } });
  assert.equal(r.body.status, 'failed');
  r = await req(srv.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: h, body: { method: 'tok_visa' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.status, 'succeeded');
  assert.equal(r.body.order_status, 'paid');
  const s1 = await stock(vid);
  assert.deepEqual([s1.on_hand, s1.reserved], [s0.on_hand - 2, s0.reserved]);
  assertProblem(await req(srv.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: h, body: { method: 'tok_visa' } }), 409, 'order-not-payable');
  assertProblem(await req(srv.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: h, body: { provider: 'nope', method: 'tok_visa' } }), 422, 'validation-failed');
  assertProblem(await req(srv.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: h, body: { method: 'tok visa; drop' } }), 422, 'validation-failed');
  const o = await req(srv.url, 'GET', `/v1/orders/${order.id}`, { headers: h });
  assert.deepEqual(o.body.payments.map((p) => p.status).sort(), ['failed', 'failed', 'succeeded']);
  const ev = await req(srv.url, 'GET', `/v1/orders/${order.id}/events`, { headers: h });
  assert.deepEqual(ev.body.events.map((e) => e.type === 'order.status_changed' ? e.data.to : e.type), ['order.created', 'payment_failed', 'paid']);
});

// ---- the state machine ----

test('state machine: every disallowed transition is 409, every allowed one leaves an event', async () => {
  const { statuses, edges } = transitionTable();
  const vid = variant();
  await setAvailable(vid, 500);
  // how to bring a fresh order into each status (BFS over admin moves; paid
  // and payment_failed come from the test provider)
  const paths = { pending_payment: [] };
  paths.paid = [{ pay: 'tok_visa' }];
  paths.payment_failed = [{ pay: 'tok_decline' }];
  for (let changed = true; changed;) {
    changed = false;
    for (const e of edges) {
      if (paths[e.from] && !paths[e.to] && e.who.includes('BY_ADMIN')) { paths[e.to] = [...paths[e.from], { to: e.to }]; changed = true; }
    }
  }
  for (const s of statuses) assert.ok(paths[s], `no way to reach ${s}`);
  async function orderIn(status) {
    const { order, token } = await placeOrder(vid, 1);
    for (const step of paths[status]) {
      const r = step.pay
        ? await req(srv.url, 'POST', `/v1/orders/${order.id}/payments`, { headers: { 'x-order-token': token }, body: { method: step.pay } })
        : await req(srv.url, 'POST', `/v1/admin/orders/${order.id}/transition`, { headers: op, body: { to: step.to, reason: 'setup' } });
      assert.ok(r.status === 200 || r.status === 201, r.text);
    }
    const g = await req(srv.url, 'GET', `/v1/orders/${order.id}`, { headers: op });
    assert.equal(g.body.status, status);
    return { id: order.id, token };
  }
  let allowed = 0, refused = 0;
  for (const from of statuses) {
    const o = await orderIn(from);
    for (const to of statuses) {
      const e = edges.find((x) => x.from === from && x.to === to);
      if (e && e.who.includes('BY_ADMIN')) continue;
      const r = await req(srv.url, 'POST', `/v1/admin/orders/${o.id}/transition`, { headers: op, body: { to, reason: 'try' } });
      assertProblem(r, 409, 'invalid-transition');
      assert.equal(r.body.current_status, from);
      refused++;
    }
    const g = await req(srv.url, 'GET', `/v1/orders/${o.id}`, { headers: op });
    assert.equal(g.body.status, from, 'refused transitions changed nothing');
    for (const e of edges.filter((x) => x.from === from && x.who.includes('BY_ADMIN'))) {
      const f = await orderIn(from);
      const r = await req(srv.url, 'POST', `/v1/admin/orders/${f.id}/transition`, { headers: op, body: { to: e.to, reason: 'because' } });
      assert.equal(r.status, 200, `${from} -> ${e.to}: ${r.text}`);
      assert.equal(r.body.status, e.to);
      const ev = await req(srv.url, 'GET', `/v1/orders/${f.id}/events`, { headers: op });
      const last = ev.body.events.at(-1);
      assert.equal(last.type, 'order.status_changed');
      assert.deepEqual([last.data.from, last.data.to, last.data.by, last.data.reason, last.actor], [from, e.to, 'admin', 'because', 'operator']);
      allowed++;
    }
  }
  assert.ok(allowed >= 10 && refused >= 60, `${allowed} allowed, ${refused} refused`);
  // customers may cancel exactly where the table says BY_CUSTOMER
  for (const from of ['pending_payment', 'paid', 'shipped']) {
    const o = await orderIn(from);
    const may = edges.some((x) => x.from === from && x.to === 'cancelled' && x.who.includes('BY_CUSTOMER'));
    const r = await req(srv.url, 'POST', `/v1/orders/${o.id}/cancel`, { headers: { 'x-order-token': o.token }, body: { reason: 'changed my mind' } });
    if (may) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.status, 'cancelled');
    } else {
      assertProblem(r, 409, 'invalid-transition');
    }
  }
  // cancelling returns stock: held stock is released, paid stock goes back on hand
  const s0 = await stock(vid);
  const a = await orderIn('pending_payment');
  const b = await orderIn('paid');
  const s1 = await stock(vid);
  assert.deepEqual([s1.on_hand, s1.reserved], [s0.on_hand - 1, s0.reserved + 1]);
  await req(srv.url, 'POST', `/v1/orders/${a.id}/cancel`, { headers: { 'x-order-token': a.token } });
  await req(srv.url, 'POST', `/v1/orders/${b.id}/cancel`, { headers: { 'x-order-token': b.token } });
  const s2 = await stock(vid);
  assert.deepEqual([s2.on_hand, s2.reserved], [s0.on_hand, s0.reserved]);
});

// ---- access ----

test('carts and orders belong to their owner: others get 404', async () => {
  const alice = await makeUser();
  const bob = await makeUser();
  const vid = variant();
  let r = await req(srv.url, 'POST', '/v1/carts', { headers: alice.h });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.token, undefined, 'a signed-in cart needs no token');
  const cartId = r.body.id;
  r = await req(srv.url, 'POST', '/v1/carts', { headers: alice.h });
  assert.equal(r.status, 200, 'one active cart per user');
  assert.equal(r.body.id, cartId);
  r = await req(srv.url, 'POST', `/v1/carts/${cartId}/items`, { headers: alice.h, body: { variant_id: vid, quantity: 2 } });
  assert.equal(r.status, 200, r.text);
  const s0 = await stock(vid);
  for (const h of [bob.h, {}, { 'x-cart-token': 'guess' }]) {
    assertProblem(await req(srv.url, 'GET', `/v1/carts/${cartId}`, { headers: h }), 404, 'not-found');
    assertProblem(await req(srv.url, 'POST', `/v1/carts/${cartId}/items`, { headers: h, body: { variant_id: vid, quantity: 1 } }), 404, 'not-found');
    assertProblem(await req(srv.url, 'POST', '/v1/orders', { headers: { ...h, 'idempotency-key': 'x-' + randomBytes(6).toString('hex') }, body: { cart_id: cartId, email: 'b@shop.example', shipping_address: ADDRESS } }), 404, 'not-found');
  }
  assert.deepEqual(await stock(vid), s0);
  r = await req(srv.url, 'POST', '/v1/orders', { headers: { ...alice.h, 'idempotency-key': 'a1' }, body: { cart_id: cartId, email: alice.email, shipping_address: ADDRESS } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.customer_id, alice.id);
  assert.equal(r.body.order_token, undefined);
  const orderId = r.body.id;
  assert.equal((await req(srv.url, 'GET', `/v1/orders/${orderId}`, { headers: alice.h })).status, 200);
  assertProblem(await req(srv.url, 'GET', `/v1/orders/${orderId}`, { headers: bob.h }), 404, 'not-found');
  assertProblem(await req(srv.url, 'GET', `/v1/orders/${orderId}`), 404, 'not-found');
  assertProblem(await req(srv.url, 'POST', `/v1/orders/${orderId}/cancel`, { headers: bob.h }), 404, 'not-found');
  assertProblem(await req(srv.url, 'POST', `/v1/orders/${orderId}/payments`, { headers: bob.h, body: { method: 'tok_visa' } }), 404, 'not-found');
  assertProblem(await req(srv.url, 'GET', `/v1/orders/${orderId}/events`, { headers: bob.h }), 404, 'not-found');
  // lists: mine, paginated
  const mine = await req(srv.url, 'GET', '/v1/orders?limit=1', { headers: alice.h });
  assert.deepEqual(mine.body.items.map((o) => o.id), [orderId]);
  assert.equal((await req(srv.url, 'GET', '/v1/orders', { headers: bob.h })).body.items.length, 0);
  assertProblem(await req(srv.url, 'GET', '/v1/orders'), 401);
  assertProblem(await req(srv.url, 'GET', '/v1/admin/orders', { headers: alice.h }), 403);
  assertProblem(await req(srv.url, 'GET', '/v1/orders?limit=0', { headers: alice.h }), 422, 'validation-failed');
  assertProblem(await req(srv.url, 'GET', '/v1/orders?cursor=zzz', { headers: alice.h }), 422, 'validation-failed');
});

test('sign-in merge: an anonymous cart merges into the user\'s cart, quantities add capped by stock', async () => {
  const carol = await makeUser();
  const v1 = variant(), v2 = variant();
  await setAvailable(v1, 4);
  let r = await req(srv.url, 'POST', '/v1/carts', { headers: carol.h });
  const mine = r.body.id;
  await req(srv.url, 'POST', `/v1/carts/${mine}/items`, { headers: carol.h, body: { variant_id: v1, quantity: 3 } });
  const anon = await guestCart(v1, 3);
  r = await req(srv.url, 'POST', `/v1/carts/${anon.id}/items`, { headers: { 'x-cart-token': anon.token }, body: { variant_id: v2, quantity: 1 } });
  assert.equal(r.status, 200);
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${anon.id}/merge`, { headers: { 'x-cart-token': anon.token } }), 401);
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${anon.id}/merge`, { headers: { ...carol.h, 'x-cart-token': 'wrong' } }), 404, 'not-found');
  r = await req(srv.url, 'POST', `/v1/carts/${anon.id}/merge`, { headers: { ...carol.h, 'x-cart-token': anon.token } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.id, mine);
  const q = Object.fromEntries(r.body.items.map((i) => [i.variant_id, i.quantity]));
  assert.deepEqual(q, { [v1]: 4, [v2]: 1 });
  const old = await req(srv.url, 'GET', `/v1/carts/${anon.id}`, { headers: { 'x-cart-token': anon.token } });
  assert.equal(old.body.status, 'merged');
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${anon.id}/items`, { headers: { 'x-cart-token': anon.token }, body: { variant_id: v2, quantity: 1 } }), 409, 'cart-closed');
});

test('sellers adjust their own stock and see only their own order lines', async () => {
  const alice = await makeUser('seller');
  const bob = await makeUser('seller');
  // alice publishes a product; the operator approves it
  const cats = await req(srv.url, 'GET', '/v1/categories');
  const catId = (cats.body.items || cats.body)[0].id;
  let r = await req(srv.url, 'POST', '/v1/products', { headers: alice.h, body: { title: 'Alice Mug', description: 'A mug.', category_id: catId, variants: [{ sku: 'AL-MUG-' + randomBytes(3).toString('hex'), title: 'Blue', price: { amount: 1200, currency: 'EUR' } }] } });
  assert.equal(r.status, 201, r.text);
  const pid = r.body.id, vid = r.body.variants[0].id;
  assert.equal((await req(srv.url, 'POST', `/v1/products/${pid}/submit`, { headers: alice.h })).status, 200);
  assert.equal((await req(srv.url, 'POST', `/v1/products/${pid}/approve`, { headers: op })).status, 200);
  assertProblem(await req(srv.url, 'POST', `/v1/inventory/${vid}/adjustments`, { headers: bob.h, body: { delta: 5, reason: 'not mine' } }), 404, 'not-found');
  assertProblem(await req(srv.url, 'POST', `/v1/inventory/${vid}/adjustments`, { body: { delta: 5, reason: 'anon' } }), 401);
  r = await req(srv.url, 'POST', `/v1/inventory/${vid}/adjustments`, { headers: alice.h, body: { delta: 5, reason: 'first delivery' } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([r.body.on_hand, r.body.reserved, r.body.available], [5, 0, 5]);
  assertProblem(await req(srv.url, 'POST', `/v1/inventory/${vid}/adjustments`, { headers: alice.h, body: { delta: -6, reason: 'too many' } }), 409, 'stock-below-reserved');
  for (const bad of [{ delta: 0, reason: 'x' }, { delta: 1.5, reason: 'x' }, { delta: 1 }, { delta: 1e9, reason: 'x' }, { delta: 1, reason: '' }]) {
    assertProblem(await req(srv.url, 'POST', `/v1/inventory/${vid}/adjustments`, { headers: alice.h, body: bad }), 422, 'validation-failed');
  }
  // the public sees availability only
  const pub = await req(srv.url, 'GET', `/v1/inventory/${vid}`);
  assert.deepEqual(pub.body, { variant_id: vid, available: 5, in_stock: true });
  // an order with alice's mug and another seller's variant
  const other = variant();
  const cart = await guestCart(vid, 2);
  await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: { 'x-cart-token': cart.token }, body: { variant_id: other, quantity: 1 } });
  r = await checkout(cart);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.lines.length, 2);
  const line = r.body.lines.find((l) => l.variant_id === vid);
  assert.equal(line.seller_id, alice.id);
  assert.deepEqual(line.unit_price, { amount: 1200, currency: 'EUR' });
  assert.equal(line.title, 'Alice Mug / Blue');
  const s = await req(srv.url, 'GET', '/v1/seller/orders', { headers: alice.h });
  assert.equal(s.status, 200, s.text);
  assert.equal(s.body.items.length, 1);
  assert.deepEqual(s.body.items[0].lines.map((l) => l.variant_id), [vid]);
  assert.equal(s.body.items[0].email, undefined, 'sellers do not see the customer\'s email');
  assert.deepEqual(s.body.items[0].seller_total, { amount: 2400, currency: 'EUR' });
  const g = await req(srv.url, 'GET', `/v1/orders/${r.body.id}`, { headers: alice.h });
  assert.equal(g.status, 200);
  assert.equal(g.body.lines.length, 1);
  assertProblem(await req(srv.url, 'GET', `/v1/orders/${r.body.id}`, { headers: bob.h }), 404, 'not-found');
  assert.equal((await req(srv.url, 'GET', '/v1/seller/orders', { headers: bob.h })).body.items.length, 0);
  // availability for a list of lines
  const av = await req(srv.url, 'POST', '/v1/inventory/availability', { body: { lines: [{ variant_id: vid, quantity: 3 }, { variant_id: vid.slice(0, -1) + (vid.endsWith('0') ? '1' : '0'), quantity: 1 }, { variant_id: other, quantity: 1 }] } });
  assert.equal(av.status, 200, av.text);
  assert.deepEqual(av.body.lines.map((l) => [l.available, l.ok]), [[3, true], [0, false], [av.body.lines[2].available, true]]);
  assert.equal(av.body.all_available, false);
});

// ---- bad input changes nothing ----

test('bad input: 4xx problem+json and nothing changed', async () => {
  const vid = variant();
  await setAvailable(vid, 5);
  const cart = await guestCart(vid, 1);
  const h = { 'x-cart-token': cart.token };
  const s0 = await stock(vid);
  const n0 = await orderCount();
  // cart items
  for (const quantity of [-1, 0, 1000, 1e9, 1e30, 2.5, '3', null]) {
    assertProblem(await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, body: { variant_id: vid, quantity } }), 422, 'validation-failed');
  }
  for (const quantity of [-1, 1000, 1.5]) {
    assertProblem(await req(srv.url, 'PATCH', `/v1/carts/${cart.id}/items/${vid}`, { headers: h, body: { quantity } }), 422, 'validation-failed');
  }
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, body: { variant_id: vid, quantity: 6 } }), 409, 'insufficient-stock');
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, body: { variant_id: 'var_01jgfjjz00xpnrfwm3b1tas000', quantity: 1 } }), 422, 'validation-failed');
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, body: { variant_id: draftVariant, quantity: 1 } }), 422, 'validation-failed');
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, body: { variant_id: "var_'; DROP TABLE orders;--", quantity: 1 } }), 422, 'validation-failed');
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, raw: '{"variant_id":', }), 415);
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: { ...h, 'content-type': 'application/json' }, raw: '{"variant_id":' }), 400);
  // currency: a US cart cannot take a EUR variant, and a cart with EUR items cannot move to the US
  const us = await guestCart(null, 0, srv, 'us');
  assertProblem(await req(srv.url, 'POST', `/v1/carts/${us.id}/items`, { headers: { 'x-cart-token': us.token }, body: { variant_id: vid, quantity: 1 } }), 422, 'currency-mismatch');
  assertProblem(await req(srv.url, 'PATCH', `/v1/carts/${cart.id}`, { headers: h, body: { region: 'us' } }), 422, 'currency-mismatch');
  assertProblem(await req(srv.url, 'PATCH', `/v1/carts/${cart.id}`, { headers: h, body: { region: 'mars' } }), 422, 'validation-failed');
  assertProblem(await req(srv.url, 'POST', '/v1/carts', { body: { region: 'xx' } }), 422, 'validation-failed');
  // checkout bodies
  const bads = [
    {},
    { cart_id: cart.id },
    { cart_id: cart.id, email: 'a@shop.example' },
    { cart_id: cart.id, email: 'not-an-email', shipping_address: ADDRESS },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: 'London' },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: { ...ADDRESS, country: 'Germany' } },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: { ...ADDRESS, country: 'de' } },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: { ...ADDRESS, line1: '' } },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: { ...ADDRESS, city: 'x'.repeat(101) } },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: { ...ADDRESS, name: 'bad\u0007name' } },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: { ...ADDRESS, postal_code: '<script>' } },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: { ...ADDRESS, planet: 'Earth' } },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: { name: 'A' } },
    { cart_id: 'ord_x', email: 'a@shop.example', shipping_address: ADDRESS },
    { cart_id: cart.id, email: 'a@shop.example', shipping_address: ADDRESS, total: 1 },
  ];
  for (const b of bads) {
    const r = await checkout(cart, undefined, srv, b);
    assertProblem(r, 422, 'validation-failed');
    assert.ok(Array.isArray(r.body.errors) && r.body.errors.length >= 1, r.text);
  }
  // an empty cart
  const empty = await guestCart(null);
  assertProblem(await checkout(empty), 422, 'cart-empty');
  // an item whose product was unpublished after it went into the cart
  assert.deepEqual(await stock(vid), s0);
  assert.equal(await orderCount(), n0);
  const c = await req(srv.url, 'GET', `/v1/carts/${cart.id}`, { headers: h });
  assert.equal(c.body.status, 'active');
  assert.deepEqual(c.body.items.map((i) => [i.variant_id, i.quantity]), [[vid, 1]]);
  // and the cart still checks out
  const ok = await checkout(cart);
  assert.equal(ok.status, 201, ok.text);
});

test('carts: totals follow the region (shipping, tax), PATCH and DELETE lines, email on the cart', async () => {
  const vid = variant();
  const cart = await guestCart(vid, 1);
  const h = { 'x-cart-token': cart.token };
  let r = await req(srv.url, 'GET', `/v1/carts/${cart.id}`, { headers: h });
  const price = r.body.items[0].unit_price.amount;
  const t = r.body.totals;
  assert.equal(t.subtotal.amount, price);
  assert.equal(t.tax.amount, Math.floor((price * 2000 + 5000) / 10000));
  assert.equal(t.shipping.amount, price >= 5000 ? 0 : 499);
  assert.equal(t.total.amount, t.subtotal.amount + t.shipping.amount + t.tax.amount);
  r = await req(srv.url, 'PATCH', `/v1/carts/${cart.id}/items/${vid}`, { headers: h, body: { quantity: 3 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.items[0].quantity, 3);
  r = await req(srv.url, 'PATCH', `/v1/carts/${cart.id}`, { headers: h, body: { email: 'later@shop.example' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.email, 'later@shop.example');
  r = await req(srv.url, 'DELETE', `/v1/carts/${cart.id}/items/${vid}`, { headers: h });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.items, []);
  assert.equal(r.body.totals.total.amount, 0);
  assertProblem(await req(srv.url, 'DELETE', `/v1/carts/${cart.id}/items/${vid}`, { headers: h }), 404, 'not-found');
  // checkout takes the cart's email when the body has none
  await req(srv.url, 'POST', `/v1/carts/${cart.id}/items`, { headers: h, body: { variant_id: vid } });
  r = await checkout(cart, undefined, srv, { cart_id: cart.id, shipping_address: ADDRESS });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.email, 'later@shop.example');
  assert.equal(r.body.lines[0].quantity, 1);
  assert.equal(r.body.totals.subtotal.amount, price);
});

test('order lists page with keyset cursors: no duplicates, no gaps, newest first', async () => {
  const all = (await req(srv.url, 'GET', '/v1/admin/orders?limit=100', { headers: op })).body.items.map((o) => o.id);
  assert.ok(all.length >= 7, 'earlier tests made orders');
  const paged = [];
  let cursor = '';
  for (let i = 0; i < 100; i++) {
    const r = await req(srv.url, 'GET', `/v1/admin/orders?limit=3${cursor ? '&cursor=' + cursor : ''}`, { headers: op });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body.items.length <= 3);
    paged.push(...r.body.items.map((o) => o.id));
    if (!r.body.next_cursor) break;
    cursor = r.body.next_cursor;
  }
  assert.deepEqual(paged.slice(0, all.length), all);
  assert.equal(new Set(paged).size, paged.length);
  assert.deepEqual([...all].sort().reverse(), all);
  const pending = await req(srv.url, 'GET', '/v1/admin/orders?status=cancelled&limit=100', { headers: op });
  assert.ok(pending.body.items.length >= 1);
  assert.ok(pending.body.items.every((o) => o.status === 'cancelled'));
  assertProblem(await req(srv.url, 'GET', '/v1/admin/orders?status=lost', { headers: op }), 422, 'validation-failed');
});
