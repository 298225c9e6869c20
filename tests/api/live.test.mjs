// live.test.mjs — Server-Sent Events and in-app notifications over real
// HTTP, with real sign-in and a real local SMTP server.  Events are written
// to the event log by `mercato events append` (the operator CLI, the same
// event_append_owned call a module makes), so the tests drive the tailer
// exactly as other instances and modules do: ordering, Last-Event-ID
// resumption (header and query) without gaps or duplicates, heartbeats,
// access control, disconnect cleanup, slow-client overflow, notifications
// with cursor pagination and read state, and the order emails.  Runs on
// SQLite and PostgreSQL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startServer, freshDatabase, req, cli, eventually, BIN } from './lib/server.mjs';
import { startSmtp } from './lib/smtp.mjs';
import { openStream as openSse } from './lib/sse.mjs';

const ADMIN_TOKEN = 'op-' + randomBytes(24).toString('hex');
let srv, smtp, db;

before(async () => {
  smtp = await startSmtp();
  db = freshDatabase();
  srv = await startServer({
    db,
    args: ['--sse-heartbeat', '1', '--sse-buffer-kb', '16'],
    env: {
      SMTP_URL: smtp.url,
      MERCATO_MAIL_FROM: 'Test Shop <shop@shop.example>',
      MERCATO_SHOP_NAME: 'Test Shop',
      MERCATO_ADMIN_TOKEN: ADMIN_TOKEN,
      MERCATO_JWT_SECRET: 'live-test-secret-' + randomBytes(24).toString('hex'),
    },
  });
});

after(async () => {
  const r = await srv.stop();
  db.cleanup();
  await smtp.close();
  assert.equal(r.code, 0);
});

// ---- helpers ----
const auth = (t) => ({ authorization: `Bearer ${t}` });
let seq = 0;

/** Creates a customer with the CLI and signs in; returns {id,email,token}. */
async function customer(tag) {
  const email = `${tag}.${Date.now().toString(36)}${seq++}@example.com`;
  const password = 'Pw-' + randomBytes(9).toString('base64url');
  const out = execFileSync(BIN, ['user', 'create', '--email', email, '--password', '-', '--name', tag],
    { env: { ...process.env, DATABASE_URL: db.url, MERCATO_DATA_DIR: db.dir || '/tmp', MERCATO_LOG_LEVEL: 'warn' }, input: password + '\n' });
  const id = JSON.parse(out.toString()).id;
  const r = await req(srv.url, 'POST', '/v1/auth/login', { body: { email, password } });
  assert.equal(r.status, 200, r.text);
  return { id, email, token: r.body.access_token };
}

/** Appends an event with the operator CLI; returns its id (or [first,last] with count). */
function append(type, subject, owner, data = {}, count = 1) {
  const args = ['events', 'append', '--type', type, '--subject', subject, '--data', JSON.stringify(data)];
  if (owner) args.push('--owner', owner);
  if (count > 1) args.push('--count', String(count));
  const r = cli(db.url, args);
  assert.equal(r.code, 0, r.stderr);
  const s = r.stdout.trim();
  return count > 1 ? s.split('-').map(Number) : Number(s);
}

const newOrder = () => 'ord_' + randomBytes(8).toString('hex');

/** An SSE client (tests/api/lib/sse.mjs) on the current server. */
const openStream = (path, headers = {}) => openSse(srv.port, path, headers);

/** The body of a raw chunked HTTP/1.1 response. */
function dechunk(raw) {
  let rest = raw.slice(raw.indexOf('\r\n\r\n') + 4), out = '';
  for (;;) {
    const nl = rest.indexOf('\r\n');
    const n = parseInt(rest.slice(0, nl), 16);
    if (!n) return out;
    out += rest.slice(nl + 2, nl + 2 + n);
    rest = rest.slice(nl + 2 + n + 2);
  }
}

async function metric(name) {
  const r = await req(srv.url, 'GET', '/metrics');
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(r.text);
  return m ? Number(m[1]) : null;
}

function assertProblem(r, status, type) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
  if (type) assert.equal(r.body.type, `https://mercato.dev/problems/${type}`);
}

// ---- streams ----

test('order stream: history, live events in order, resumption by Last-Event-ID (header and query) misses nothing', async () => {
  const a = await customer('alice');
  const ord = newOrder();
  const e1 = append('order.created', ord, a.id, { order_id: ord, email: a.email, total: { amount: 1999, currency: 'EUR' } });

  const s = await openStream(`/v1/orders/${ord}/stream`, auth(a.token)).response;
  assert.equal(s.status, 200);
  assert.match(s.headers['content-type'], /^text\/event-stream/);
  assert.equal(s.headers['cache-control'], 'no-cache');
  await s.waitFor((x) => x.events.length >= 1, 15000, 'history');
  assert.equal(s.retry, 3000);
  assert.deepEqual(s.events.map((e) => e.id), [e1]);
  assert.equal(s.events[0].event, 'order.created');
  assert.equal(s.events[0].json.subject, ord);
  assert.equal(s.events[0].json.data.total.amount, 1999);

  // live: three status changes arrive in commit order
  const ids = [];
  for (const to of ['paid', 'fulfilling', 'shipped']) ids.push(append('order.status_changed', ord, a.id, { from: 'x', to }));
  // another order's event is not on this stream
  append('order.created', newOrder(), a.id, {});
  await s.waitFor((x) => x.events.length >= 4, 15000, 'live events');
  assert.deepEqual(s.events.map((e) => e.id), [e1, ...ids]);
  assert.deepEqual(s.events.slice(1).map((e) => e.json.data.to), ['paid', 'fulfilling', 'shipped']);
  const lastSeen = s.events.at(-1).id;
  s.close();

  // while disconnected, two more happen
  const missed = [append('order.status_changed', ord, a.id, { to: 'delivered' }), append('order.note', ord, a.id, { n: 1 })];

  // resume with the header: exactly the missed events, no duplicates
  const r1 = await openStream(`/v1/orders/${ord}/stream`, { ...auth(a.token), 'last-event-id': String(lastSeen) }).response;
  await r1.waitFor((x) => x.events.length >= 2, 15000, 'replay');
  assert.deepEqual(r1.events.map((e) => e.id), missed);
  // and it stays live after the replay
  const after = append('order.status_changed', ord, a.id, { to: 'returned' });
  await r1.waitFor((x) => x.events.length >= 3, 15000, 'live after replay');
  assert.deepEqual(r1.events.map((e) => e.id), [...missed, after]);
  r1.close();

  // the query parameter (EventSource polyfills) works the same
  const r2 = await openStream(`/v1/orders/${ord}/stream?last_event_id=${missed[0]}`, auth(a.token)).response;
  await r2.waitFor((x) => x.events.length >= 2, 15000, 'replay by query');
  assert.deepEqual(r2.events.map((e) => e.id), [missed[1], after]);
  r2.close();
});

test('me stream: only the caller\'s events, from now on; replay by Last-Event-ID', async () => {
  const a = await customer('amy'), b = await customer('bob');
  const before = append('order.created', newOrder(), a.id, {});
  const s = await openStream('/v1/me/stream', auth(a.token)).response;
  assert.equal(s.status, 200);
  await s.waitFor((x) => x.retry !== null, 15000, 'stream start');
  const mine = append('order.created', newOrder(), a.id, { n: 1 });
  append('order.created', newOrder(), b.id, { n: 2 });
  const mine2 = append('payment.succeeded', 'pay_' + randomBytes(6).toString('hex'), a.id, { n: 3 });
  await s.waitFor((x) => x.events.length >= 2, 15000, 'own events');
  assert.deepEqual(s.events.map((e) => e.id), [mine, mine2]);
  assert.ok(!s.events.some((e) => e.id === before));
  s.close();

  const r = await openStream('/v1/me/stream', { ...auth(a.token), 'last-event-id': String(before) }).response;
  await r.waitFor((x) => x.events.length >= 2, 15000, 'replay');
  assert.deepEqual(r.events.map((e) => e.id), [mine, mine2]);
  r.close();
});

test('access: another customer\'s order is 404, unknown order 404, no token 401, admin may watch, bad Last-Event-ID 400', async () => {
  const a = await customer('ann'), b = await customer('ben');
  const ord = newOrder();
  append('order.created', ord, a.id, {});
  let r = await req(srv.url, 'GET', `/v1/orders/${ord}/stream`, { headers: auth(b.token) });
  assertProblem(r, 404, 'not-found');
  r = await req(srv.url, 'GET', `/v1/orders/${newOrder()}/stream`, { headers: auth(a.token) });
  assertProblem(r, 404, 'not-found');
  r = await req(srv.url, 'GET', '/v1/orders/not-an-order/stream', { headers: auth(a.token) });
  assertProblem(r, 404, 'not-found');
  r = await req(srv.url, 'GET', `/v1/orders/${ord}/stream`);
  assertProblem(r, 401, 'unauthorized');
  r = await req(srv.url, 'GET', '/v1/me/stream');
  assertProblem(r, 401, 'unauthorized');
  r = await req(srv.url, 'GET', '/v1/me/stream', { headers: { ...auth(a.token), 'last-event-id': 'abc' } });
  assertProblem(r, 400, 'invalid-last-event-id');
  r = await req(srv.url, 'GET', `/v1/orders/${ord}/stream?last_event_id=-3`, { headers: auth(a.token) });
  assertProblem(r, 400, 'invalid-last-event-id');
  const s = await openStream(`/v1/orders/${ord}/stream`, auth(ADMIN_TOKEN)).response;
  assert.equal(s.status, 200);
  await s.waitFor((x) => x.events.length >= 1, 15000, 'admin sees the order');
  assert.equal(s.events[0].json.subject, ord);
  s.close();
});

test('heartbeats keep an idle stream alive; closed streams are freed (open-stream gauge back to 0)', async () => {
  const a = await customer('hal');
  const streams = [];
  for (let i = 0; i < 3; i++) streams.push(await openStream('/v1/me/stream', auth(a.token)).response);
  await eventually(async () => (await metric('mercato_sse_open_streams')) >= 3, 15000, 'three open streams');
  // --sse-heartbeat 1: comment lines arrive while nothing happens
  await streams[0].waitFor((x) => x.comments.filter((c) => c.startsWith('heartbeat')).length >= 2, 15000, 'heartbeats');
  assert.equal(streams[0].events.length, 0);
  for (const s of streams) s.close();
  await eventually(async () => (await metric('mercato_sse_open_streams')) === 0, 15000, 'gauge back to 0');
});

test('a client that falls behind overflows its buffer, gets a final reconnect event, and resumes without a gap', async () => {
  const a = await customer('slow');
  const ord = newOrder();
  append('order.created', ord, a.id, {});
  const dropped0 = await metric('mercato_sse_dropped_clients_total');
  // a raw socket that stops reading while a burst of events (~800 KiB)
  // arrives: far more than the stream's 16 KiB buffer
  const sock = net.connect(srv.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(`GET /v1/me/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\nAccept: text/event-stream\r\n\r\n`);
  let raw = '';
  sock.on('data', (d) => { raw += d.toString('latin1'); });
  await eventually(() => raw.includes('retry:'), 15000, 'stream start');
  sock.pause();
  const big = { blob: 'x'.repeat(4000) };
  const [first, last] = append('order.note', ord, a.id, big, 200);
  await eventually(async () => (await metric('mercato_sse_dropped_clients_total')) > dropped0, 30000, 'dropped counter');
  // read what was queued: events in order, the reconnect event, then the end of the body
  sock.resume();
  await eventually(() => raw.endsWith('\r\n0\r\n\r\n'), 15000, 'end of the chunked body');
  sock.destroy();
  const body = dechunk(raw);
  assert.match(body, /event: reconnect\ndata: \{"reason":"slow-consumer","last_event_id":\d+\}\n\n$/);
  const ids = [...body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.ok(ids.length > 0 && ids.length < last - first + 1, `got ${ids.length} events`);
  assert.deepEqual(ids, ids.map((_, i) => first + i), 'the events before the drop are complete and in order');
  const lastId = Number(/"last_event_id":(\d+)/.exec(body)[1]);
  assert.equal(lastId, ids.at(-1));
  // resuming from the last id continues exactly at the next event
  const r = await openStream('/v1/me/stream', { ...auth(a.token), 'last-event-id': String(lastId) }).response;
  await r.waitFor((x) => x.events.length >= 1, 15000, 'resume');
  assert.equal(r.events[0].id, lastId + 1);
  r.close();
  await eventually(async () => (await metric('mercato_sse_open_streams')) === 0, 15000, 'gauge back to 0');
});

// ---- notifications and order emails ----

test('order events become notifications (cursor pages, unread filter, read, read-all) and emails', async () => {
  const a = await customer('nora'), b = await customer('nick');
  const ord = newOrder();
  const shopEmail = `orders.${seq++}@example.com`; // order.created carries the address to use
  append('order.created', ord, a.id, { order_id: ord, email: shopEmail, total: { amount: 4250, currency: 'EUR' } });
  append('order.status_changed', ord, a.id, { order_id: ord, from: 'pending_payment', to: 'paid' }); // no notification
  append('payment.failed', 'pay_' + randomBytes(6).toString('hex'), a.id, { order_id: ord, reason: 'Card declined.' });
  append('order.status_changed', ord, a.id, { order_id: ord, from: 'fulfilling', to: 'shipped', tracking_number: 'TRK123456', carrier: 'demo' });
  append('order.status_changed', ord, a.id, { order_id: ord, from: 'shipped', to: 'delivered' });
  append('order.created', newOrder(), b.id, { email: 'b-only@example.com' }); // b's

  const conf = await smtp.waitFor((m) => m.envelope.to.includes(shopEmail) && /confirmed/.test(m.subject));
  assert.match(conf.subject, new RegExp(`Test Shop: order ${ord} confirmed`));
  assert.match(conf.text, /42\.50 EUR/);
  assert.match(conf.html, new RegExp(ord));
  // without an address in the event, the account's email is used
  const failed = await smtp.waitFor((m) => m.envelope.to.includes(a.email) && /payment/.test(m.subject));
  assert.match(failed.text, /Card declined\./);
  const shipped = await smtp.waitFor((m) => m.envelope.to.includes(a.email) && /shipped/.test(m.subject));
  assert.match(shipped.text, /TRK123456/);
  await smtp.waitFor((m) => m.envelope.to.includes(a.email) && /delivered/.test(m.subject));

  let r = await eventually(async () => {
    const x = await req(srv.url, 'GET', '/v1/me/notifications/unread-count', { headers: auth(a.token) });
    return x.body.unread === 4 ? x : null;
  }, 15000, 'four notifications');
  r = await req(srv.url, 'GET', '/v1/me/notifications?limit=3', { headers: auth(a.token) });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.items.map((n) => n.kind), ['order_delivered', 'order_shipped', 'payment_failed']);
  assert.ok(r.body.items.every((n) => n.order_id === ord && n.read === false && n.read_at === null));
  assert.equal(r.body.items[1].data.tracking_number, 'TRK123456');
  assert.ok(r.body.next_cursor);
  const p2 = await req(srv.url, 'GET', `/v1/me/notifications?limit=3&cursor=${encodeURIComponent(r.body.next_cursor)}`, { headers: auth(a.token) });
  assert.deepEqual(p2.body.items.map((n) => n.kind), ['order_confirmed']);
  assert.equal(p2.body.next_cursor, null);

  // mark one read; another customer cannot touch it
  const shippedN = r.body.items[1];
  let m = await req(srv.url, 'POST', `/v1/me/notifications/${shippedN.id}/read`, { headers: auth(b.token) });
  assertProblem(m, 404, 'not-found');
  m = await req(srv.url, 'POST', `/v1/me/notifications/${shippedN.id}/read`, { headers: auth(a.token) });
  assert.equal(m.status, 200, m.text);
  assert.equal(m.body.read, true);
  assert.ok(m.body.read_at);
  r = await req(srv.url, 'GET', '/v1/me/notifications?unread=true', { headers: auth(a.token) });
  assert.deepEqual(r.body.items.map((n) => n.kind), ['order_delivered', 'payment_failed', 'order_confirmed']);
  r = await req(srv.url, 'GET', '/v1/me/notifications/unread-count', { headers: auth(a.token) });
  assert.equal(r.body.unread, 3);
  // b sees only b's
  r = await req(srv.url, 'GET', '/v1/me/notifications', { headers: auth(b.token) });
  assert.deepEqual(r.body.items.map((n) => n.kind), ['order_confirmed']);

  m = await req(srv.url, 'POST', '/v1/me/notifications/read-all', { headers: auth(a.token) });
  assert.equal(m.status, 200);
  assert.equal(m.body.updated, 3);
  r = await req(srv.url, 'GET', '/v1/me/notifications/unread-count', { headers: auth(a.token) });
  assert.equal(r.body.unread, 0);

  // bad input
  assertProblem(await req(srv.url, 'GET', '/v1/me/notifications?limit=0', { headers: auth(a.token) }), 400, 'invalid-limit');
  assertProblem(await req(srv.url, 'GET', '/v1/me/notifications?cursor=zzz', { headers: auth(a.token) }), 400, 'invalid-cursor');
  assertProblem(await req(srv.url, 'GET', '/v1/me/notifications?unread=maybe', { headers: auth(a.token) }), 400, 'invalid-parameter');
  assertProblem(await req(srv.url, 'POST', '/v1/me/notifications/ntf_nope/read', { headers: auth(a.token) }), 404, 'not-found');
  assertProblem(await req(srv.url, 'GET', '/v1/me/notifications'), 401, 'unauthorized');
  // exactly one confirmation email for the order, whatever the consumer replays
  assert.equal(smtp.messages.filter((x) => x.envelope.to.includes(shopEmail)).length, 1);
});

test('SIGTERM with open streams: they end, the server drains and exits 0', async () => {
  const own = await startServer({ env: { MERCATO_ADMIN_TOKEN: ADMIN_TOKEN }, args: ['--sse-heartbeat', '60'] });
  const ord = newOrder();
  const r = cli(own.dbUrl, ['events', 'append', '--type', 'order.created', '--subject', ord, '--owner', 'usr_x']);
  assert.equal(r.code, 0, r.stderr);
  const saved = srv;
  srv = own; // openStream talks to srv
  const streams = [];
  try {
    for (let i = 0; i < 3; i++) streams.push(await openStream(`/v1/orders/${ord}/stream`, auth(ADMIN_TOKEN)).response);
    await Promise.all(streams.map((s) => s.waitFor((x) => x.events.length >= 1, 15000, 'history')));
  } finally {
    srv = saved;
  }
  const exit = await own.stop('SIGTERM');
  assert.equal(exit.code, 0);
  for (const s of streams) await s.waitFor((x) => x.ended, 15000, 'stream end');
});
