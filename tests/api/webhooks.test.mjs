// webhooks.test.mjs — outgoing webhooks over real HTTP: the admin API, signed
// deliveries checked with the official `standardwebhooks` library, retries
// with backoff against a failing receiver, Retry-After, 410 Gone, disabling
// after repeated failures, and SSRF refusals without --webhook-allow-private.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { lookup } from 'node:dns/promises';
import { Webhook } from 'standardwebhooks';
import { startServer, req, eventually } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';

const TOKEN = 'adm_' + 'w'.repeat(40);
const auth = { authorization: `Bearer ${TOKEN}` };
const BACKOFF = 200;
let srv;
const receivers = [];

before(async () => {
  srv = await startServer({
    env: { MERCATO_ADMIN_TOKEN: TOKEN, MERCATO_WORKERS: '2', MERCATO_JOB_POLL_MS: '20' },
    args: ['--webhook-allow-private', '--webhook-backoff-ms', String(BACKOFF), '--webhook-max-attempts', '3',
      '--webhook-disable-after', '2', '--webhook-timeout', '5'],
  });
});
after(async () => {
  for (const r of receivers) await r.close();
  assert.equal((await srv.stop()).code, 0);
});

async function receiver(respond) {
  const r = await startReceiver({ respond });
  receivers.push(r);
  return r;
}

async function createEndpoint(body, base = srv) {
  const r = await req(base.url, 'POST', '/v1/admin/webhook-endpoints', { headers: auth, body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

const deliveries = async (id, q = '') =>
  (await req(srv.url, 'GET', `/v1/admin/webhook-endpoints/${id}/deliveries${q}`, { headers: auth })).body;

// Verifies one received request with the reference library; returns the payload.
function verified(secret, r) {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': r.headers['webhook-id'],
    'webhook-timestamp': r.headers['webhook-timestamp'],
    'webhook-signature': r.headers['webhook-signature'],
  });
}

test('the admin API needs an admin', async () => {
  let r = await req(srv.url, 'GET', '/v1/admin/webhook-endpoints');
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  r = await req(srv.url, 'POST', '/v1/admin/webhook-endpoints', { body: { url: 'http://x.example/', event_types: ['*'] } });
  assert.equal(r.status, 401);
  r = await req(srv.url, 'GET', '/v1/admin/webhook-endpoints', { headers: { authorization: 'Bearer nope' } });
  assert.equal(r.status, 401);
});

test('bad endpoint bodies are 422 with field errors and create nothing', async () => {
  const cases = [
    [{ url: 'ftp://example.com/x', event_types: ['*'] }, 'url'],
    [{ url: 'not a url', event_types: ['*'] }, 'url'],
    [{ url: 'https://user:pw@example.com/', event_types: ['*'] }, 'url'],
    [{ url: 'https://example.com/#frag', event_types: ['*'] }, 'url'],
    [{ url: 'https://example.com/', event_types: [] }, 'event_types'],
    [{ url: 'https://example.com/', event_types: ['order*'] }, 'event_types[0]'],
    [{ url: 'https://example.com/', event_types: ['Order.Paid'] }, 'event_types[0]'],
    [{ url: 'https://example.com/', event_types: [42] }, 'event_types[0]'],
    [{ url: 'https://example.com/' }, 'event_types'],
    [{ event_types: ['*'] }, 'url'],
    [{ url: 'https://example.com/', event_types: ['*'], secret: 'x' }, 'secret'],
    [{ url: 'https://example.com/', event_types: ['*'], description: 'x'.repeat(501) }, 'description'],
  ];
  for (const [body, field] of cases) {
    const r = await req(srv.url, 'POST', '/v1/admin/webhook-endpoints', { headers: auth, body });
    assert.equal(r.status, 422, JSON.stringify(body));
    assert.equal(r.body.type, 'https://mercato.dev/problems/validation-failed');
    assert.ok(r.body.errors.some((e) => e.field === field), `${JSON.stringify(body)} → ${JSON.stringify(r.body.errors)}`);
  }
  const r = await req(srv.url, 'POST', '/v1/admin/webhook-endpoints', { headers: { ...auth, 'content-type': 'application/json' }, raw: '{"url":' });
  assert.equal(r.status, 400);
  const list = await req(srv.url, 'GET', '/v1/admin/webhook-endpoints', { headers: auth });
  assert.equal(list.status, 200);
  assert.ok(!list.body.data.some((e) => e.url.startsWith('ftp:')));
});

test('create shows the secret once; get, list, patch, rotate, delete', async () => {
  const ep = await createEndpoint({ url: 'https://hooks.example.com/in', description: 'ERP', event_types: ['order.*', 'payment.succeeded'] });
  assert.match(ep.id, /^whe_/);
  assert.match(ep.secret, /^whsec_[A-Za-z0-9+/]{32}$/);
  assert.equal(ep.enabled, true);
  assert.equal(ep.disabled_reason, null);
  assert.deepEqual(ep.event_types, ['order.*', 'payment.succeeded']);
  let r = await req(srv.url, 'GET', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
  assert.equal(r.status, 200);
  assert.equal(r.body.secret, undefined);
  assert.equal(r.body.description, 'ERP');
  r = await req(srv.url, 'GET', '/v1/admin/webhook-endpoints?limit=1', { headers: auth });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.length, 1);
  assert.ok(r.body.data.every((e) => e.secret === undefined));
  r = await req(srv.url, 'GET', '/v1/admin/webhook-endpoints?cursor=zzz', { headers: auth });
  assert.equal(r.status, 400);
  r = await req(srv.url, 'PATCH', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth, body: { enabled: false, event_types: ['*'] } });
  assert.equal(r.status, 200);
  assert.equal(r.body.enabled, false);
  assert.deepEqual(r.body.event_types, ['*']);
  assert.equal(r.body.url, 'https://hooks.example.com/in');
  r = await req(srv.url, 'PATCH', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth, body: { url: 'gopher://x' } });
  assert.equal(r.status, 422);
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/test`, { headers: auth });
  assert.equal(r.status, 409);
  assert.equal(r.body.type, 'https://mercato.dev/problems/endpoint-disabled');
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/rotate-secret`, { headers: auth });
  assert.equal(r.status, 200);
  assert.match(r.body.secret, /^whsec_/);
  assert.notEqual(r.body.secret, ep.secret);
  r = await req(srv.url, 'DELETE', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
  assert.equal(r.status, 204);
  r = await req(srv.url, 'GET', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
  assert.equal(r.status, 404);
  r = await req(srv.url, 'DELETE', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
  assert.equal(r.status, 404);
  r = await req(srv.url, 'GET', '/v1/admin/webhook-endpoints/nope', { headers: auth });
  assert.equal(r.status, 404);
});

test('an event is delivered once, signed per Standard Webhooks, to matching endpoints only', async () => {
  const rcv = await receiver();
  const ep = await createEndpoint({ url: rcv.url + '/hook', event_types: ['category.*'] });
  const other = await createEndpoint({ url: rcv.url + '/other', event_types: ['product.published'] });
  const r = await req(srv.url, 'POST', '/v1/categories', { headers: auth, body: { name: 'Webhook Shoes' } });
  assert.equal(r.status, 201, r.text);
  const got = await eventually(() => rcv.requests.find((q) => q.path === '/hook'), 10000, 'delivery');
  assert.equal(got.method, 'POST');
  assert.equal(got.headers['content-type'], 'application/json');
  assert.match(got.headers['webhook-id'], /^evt_\d+$/);
  assert.match(got.headers['webhook-timestamp'], /^\d+$/);
  assert.ok(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000) < 300);
  assert.match(got.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/);
  const payload = verified(ep.secret, got);
  assert.equal(payload.type, 'category.created');
  assert.match(payload.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(payload.data.id, r.body.id);
  // a wrong secret does not verify
  assert.throws(() => verified('whsec_' + Buffer.alloc(24, 1).toString('base64'), got));
  // a tampered body does not verify
  assert.throws(() => verified(ep.secret, { ...got, body: got.body.replace('Webhook Shoes', 'Webhook Shoez') }));
  const d = await eventually(async () => { const l = await deliveries(ep.id); return l.data[0]?.status === 'succeeded' && l; }, 10000, 'succeeded');
  assert.equal(d.data.length, 1);
  assert.equal(d.data[0].event_type, 'category.created');
  assert.equal(d.data[0].webhook_id, got.headers['webhook-id']);
  assert.equal(d.data[0].attempts.length, 1);
  assert.equal(d.data[0].attempts[0].status_code, 200);
  assert.equal(d.data[0].attempts[0].next_retry_at, null);
  assert.equal(typeof d.data[0].attempts[0].duration_ms, 'number');
  // the consumer already decided for this event: nothing for the other endpoint
  assert.equal((await deliveries(other.id)).data.length, 0);
  assert.equal(rcv.requests.filter((q) => q.path === '/hook').length, 1);
  const m = (await req(srv.url, 'GET', '/metrics')).text;
  assert.ok(Number(m.match(/^mercato_webhook_attempts_total\{outcome="delivered"\} (\d+)$/m)?.[1]) >= 1, 'delivered counter');
  assert.match(m, /^mercato_webhook_attempt_duration_seconds_count \d+$/m);
  await req(srv.url, 'DELETE', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
  await req(srv.url, 'DELETE', `/v1/admin/webhook-endpoints/${other.id}`, { headers: auth });
});

test('send a test event; a rotated secret with a grace period signs with both', async () => {
  const rcv = await receiver();
  const ep = await createEndpoint({ url: rcv.url, event_types: ['nothing.matches'] });
  let r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/test`, { headers: auth });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.event_type, 'webhook.test');
  assert.match(r.body.webhook_id, /^msg_/);
  const first = await eventually(() => rcv.requests[0], 10000, 'test delivery');
  assert.equal(verified(ep.secret, first).type, 'webhook.test');
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/rotate-secret`, { headers: auth, body: { previous_secret_ttl: 3600 } });
  assert.equal(r.status, 200);
  const fresh = r.body.secret;
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/rotate-secret`, { headers: auth, body: { previous_secret_ttl: -1 } });
  assert.equal(r.status, 422);
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/test`, { headers: auth });
  assert.equal(r.status, 202);
  const second = await eventually(() => rcv.requests[1], 10000, 'second test delivery');
  assert.equal(second.headers['webhook-signature'].split(' ').length, 2);
  assert.equal(verified(fresh, second).type, 'webhook.test');
  assert.equal(verified(ep.secret, second).type, 'webhook.test');
  await req(srv.url, 'DELETE', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
});

test('a failing receiver sees retries with growing delays, then the endpoint is disabled after repeated failures', async () => {
  const rcv = await receiver(() => ({ status: 500, body: 'boom' }));
  const ep = await createEndpoint({ url: rcv.url, event_types: ['nothing.matches'] });
  let r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/test`, { headers: auth });
  assert.equal(r.status, 202);
  const did = r.body.id;
  const d = await eventually(async () => { const l = await deliveries(ep.id); return l.data[0]?.status === 'failed' && l.data[0]; }, 15000, 'failed delivery');
  assert.equal(rcv.requests.length, 3);
  assert.equal(d.attempt_count, 3);
  assert.deepEqual(d.attempts.map((a) => a.attempt), [1, 2, 3]);
  assert.ok(d.attempts.every((a) => a.status_code === 500 && a.error === 'HTTP 500'));
  assert.ok(d.attempts[0].next_retry_at && d.attempts[1].next_retry_at);
  assert.equal(d.attempts[2].next_retry_at, null);
  // the same message every time: same id, verifiable signature, same body
  assert.equal(new Set(rcv.requests.map((q) => q.headers['webhook-id'])).size, 1);
  assert.equal(new Set(rcv.requests.map((q) => q.body)).size, 1);
  for (const q of rcv.requests) verified(ep.secret, q);
  // exponential backoff (base 200 ms, ±20% jitter): the waits grow
  const gap1 = rcv.requests[1].at - rcv.requests[0].at;
  const gap2 = rcv.requests[2].at - rcv.requests[1].at;
  assert.ok(gap1 >= BACKOFF * 0.8 - 5, `first wait ${gap1} ms`);
  assert.ok(gap2 >= BACKOFF * 2 * 0.8 - 5, `second wait ${gap2} ms`);
  const planned = d.attempts.slice(0, 2).map((a) => Date.parse(a.next_retry_at) - Date.parse(a.started_at));
  assert.ok(planned[1] > planned[0], `planned delays ${planned}`);
  // one failed delivery does not disable (--webhook-disable-after 2)
  r = await req(srv.url, 'GET', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
  assert.equal(r.body.enabled, true);
  assert.equal(r.body.consecutive_failed_deliveries, 1);
  // a manual retry makes another attempt, logged after the first three
  // (409 while the last attempt's job is still being closed: ask again)
  r = await eventually(async () => {
    const x = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/deliveries/${did}/retry`, { headers: auth });
    return x.status === 409 && x.body.type.endsWith('/invalid-delivery-state') ? null : x;
  }, 5000, 'retry accepted');
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.status, 'pending');
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/deliveries/${did}/retry`, { headers: auth });
  assert.ok(r.status === 409 || r.status === 202);
  const again = await eventually(async () => { const l = await deliveries(ep.id); return l.data[0]?.status === 'failed' && l.data[0].attempt_count === 6 && l.data[0]; }, 15000, 'retried delivery');
  assert.deepEqual(again.attempts.map((a) => a.attempt), [1, 2, 3, 4, 5, 6]);
  // second failed delivery in a row: disabled with a reason
  r = await eventually(async () => { const e = await req(srv.url, 'GET', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth }); return e.body.enabled === false && e; }, 5000, 'disabled');
  assert.match(r.body.disabled_reason, /2 consecutive deliveries failed/);
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/deliveries/${did}/retry`, { headers: auth });
  assert.equal(r.status, 409);
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/deliveries/whd_00000000000000000000000000/retry`, { headers: auth });
  assert.equal(r.status, 409); // disabled endpoint is checked first
  // re-enabling clears the reason
  r = await req(srv.url, 'PATCH', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth, body: { enabled: true } });
  assert.equal(r.body.enabled, true);
  assert.equal(r.body.disabled_reason, null);
  assert.equal(r.body.consecutive_failed_deliveries, 0);
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/deliveries/whd_00000000000000000000000000/retry`, { headers: auth });
  assert.equal(r.status, 404);
  r = await req(srv.url, 'GET', `/v1/admin/webhook-endpoints/${ep.id}/deliveries?status=failed&limit=1`, { headers: auth });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.length, 1);
  r = await req(srv.url, 'GET', `/v1/admin/webhook-endpoints/${ep.id}/deliveries?status=bogus`, { headers: auth });
  assert.equal(r.status, 400);
  await req(srv.url, 'DELETE', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
});

test('Retry-After from the receiver sets the next attempt', async () => {
  const rcv = await receiver((q, i) => (i === 0 ? { status: 503, headers: { 'retry-after': '2' } } : { status: 204 }));
  const ep = await createEndpoint({ url: rcv.url, event_types: ['nothing.matches'] });
  const r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/test`, { headers: auth });
  assert.equal(r.status, 202);
  const d = await eventually(async () => { const l = await deliveries(ep.id); return l.data[0]?.status === 'succeeded' && l.data[0]; }, 15000, 'delivered');
  assert.equal(rcv.requests.length, 2);
  assert.deepEqual(d.attempts.map((a) => a.status_code), [503, 204]);
  const planned = Date.parse(d.attempts[0].next_retry_at) - Date.parse(d.attempts[0].started_at);
  assert.ok(planned >= 2000, `planned ${planned} ms`);
  assert.ok(rcv.requests[1].at - rcv.requests[0].at >= 2000 - 5, 'waited as asked');
  await req(srv.url, 'DELETE', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
});

test('410 Gone disables the endpoint at once; later deliveries are not sent', async () => {
  const rcv = await receiver(() => ({ status: 410 }));
  const ep = await createEndpoint({ url: rcv.url, event_types: ['nothing.matches'] });
  let r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/test`, { headers: auth });
  assert.equal(r.status, 202);
  const e = await eventually(async () => { const x = await req(srv.url, 'GET', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth }); return x.body.enabled === false && x.body; }, 10000, 'disabled');
  assert.match(e.disabled_reason, /410/);
  const d = (await deliveries(ep.id)).data[0];
  assert.equal(d.status, 'failed');
  assert.equal(d.attempts.length, 1);
  assert.equal(d.attempts[0].status_code, 410);
  assert.equal(rcv.requests.length, 1);
  r = await req(srv.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/test`, { headers: auth });
  assert.equal(r.status, 409);
  await req(srv.url, 'DELETE', `/v1/admin/webhook-endpoints/${ep.id}`, { headers: auth });
});

test('without --webhook-allow-private, private and loopback targets are refused (SSRF)', async (t) => {
  const api = await startServer({
    env: { MERCATO_ADMIN_TOKEN: TOKEN, MERCATO_WORKERS: '1', MERCATO_JOB_POLL_MS: '20' },
    args: ['--webhook-max-attempts', '1'],
  });
  try {
    const rcv = await receiver();
    for (const url of [rcv.url, `http://localhost:${rcv.port}/`, `http://[::1]:${rcv.port}/`, `http://[::ffff:127.0.0.1]:${rcv.port}/`,
      'http://10.1.2.3/', 'http://169.254.169.254/latest/meta-data', 'http://192.168.0.1/', 'http://[fe80::1]/', 'http://0.0.0.0/',
      'http://224.0.0.1/', 'http://[fd00::1]/']) {
      const r = await req(api.url, 'POST', '/v1/admin/webhook-endpoints', { headers: auth, body: { url, event_types: ['*'] } });
      assert.equal(r.status, 422, url);
      assert.ok(r.body.errors.some((e) => e.field === 'url' && /address/.test(e.message)), `${url}: ${JSON.stringify(r.body.errors)}`);
    }
    // a host name is accepted, but the address it resolves to is checked at connect time
    const name = hostname();
    const addr = await lookup(name).catch(() => null);
    if (addr && /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$|f[cd])/.test(addr.address)) {
      const ep = await createEndpoint({ url: `http://${name}:${rcv.port}/`, event_types: ['*'] }, api);
      const r = await req(api.url, 'POST', `/v1/admin/webhook-endpoints/${ep.id}/test`, { headers: auth });
      assert.equal(r.status, 202);
      const d = await eventually(async () => {
        const l = (await req(api.url, 'GET', `/v1/admin/webhook-endpoints/${ep.id}/deliveries`, { headers: auth })).body;
        return l.data[0]?.status === 'failed' && l.data[0];
      }, 10000, 'refused delivery');
      assert.equal(d.attempts[0].status_code, null);
      assert.match(d.attempts[0].error, /refused to connect to .*(loopback|private)/);
      assert.equal(rcv.requests.length, 0, 'nothing reached the receiver');
      const m = (await req(api.url, 'GET', '/metrics')).text;
      assert.match(m, /^mercato_webhook_attempts_total\{outcome="refused"\} 1$/m);
    } else {
      t.diagnostic(`host name ${name} does not resolve to a private address; connect-time check not exercised`);
    }
  } finally {
    await api.stop();
  }
});
