// core.test.mjs — the server core over real HTTP: operations endpoints,
// protocol errors as problem+json, request ids, graceful shutdown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, req } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ env: { MERCATO_CORS_ORIGINS: 'https://shop.example', MERCATO_BODY_MAX: '65536' } }); });
after(async () => { const r = await srv.stop(); assert.equal(r.code, 0); });

function assertProblem(r, status) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(r.body.status, status);
  assert.match(r.body.type, /^https:\/\/mercato\.dev\/problems\//);
  assert.ok(r.body.title);
  assert.equal(r.body.request_id, r.headers.get('x-request-id'));
}

/** Sends raw bytes over a socket and returns the raw response text. */
function rawHttp(port, bytes) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    // Every request here says Connection: close, so the server ends the
    // exchange. Never half-close early: a slow machine may not have answered
    // yet, and a FIN from us lets the server drop the request unanswered.
    const timer = setTimeout(() => s.destroy(), 10000);
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(timer); resolve(out); });
    s.on('error', (e) => { if (e.code === 'ECONNRESET') return; clearTimeout(timer); reject(e); });
    s.write(bytes);
  });
}

test('healthz, readyz', async () => {
  let r = await req(srv.url, 'GET', '/healthz');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { status: 'ok' });
  r = await req(srv.url, 'GET', '/readyz');
  assert.equal(r.status, 200);
  assert.equal(r.body.checks.database, 'ok');
});

test('metrics use route templates and Prometheus text format', async () => {
  await req(srv.url, 'GET', '/no/such/thing/123');
  const r = await req(srv.url, 'GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  assert.match(r.text, /mercato_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
  assert.match(r.text, /route="unmatched",status="404"/);
  assert.doesNotMatch(r.text, /no\/such\/thing/);
  assert.match(r.text, /mercato_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",le="\+Inf"\}/);
  assert.match(r.text, /mercato_http_requests_in_flight \d+/);
  assert.match(r.text, /mercato_process_resident_memory_bytes \d+/);
  assert.match(r.text, /mercato_process_open_fds \d+/);
  assert.match(r.text, /mercato_process_start_time_seconds \d+/);
  assert.match(r.text, /mercato_build_info\{version="[^"]+",commit="[^"]+"\} 1/);
});

test('request id: echoed when sane, generated otherwise', async () => {
  let r = await req(srv.url, 'GET', '/healthz', { headers: { 'x-request-id': 'abc-123' } });
  assert.equal(r.headers.get('x-request-id'), 'abc-123');
  r = await req(srv.url, 'GET', '/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
  assert.match(r.headers.get('x-request-id'), /^req_[0-9a-z]{26}$/);
});

test('traceparent is kept in the access log', async () => {
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  await req(srv.url, 'POST', '/v1/echo', { body: { a: 1 }, headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01`, 'x-request-id': 'trace-test-1' } });
  await new Promise((r) => setTimeout(r, 50));
  const line = srv.logs.find((l) => l.json && l.json.request_id === 'trace-test-1' && l.json.msg === 'request');
  assert.ok(line, 'access log line present');
  assert.equal(line.json.trace_id, trace);
  for (const k of ['time', 'level', 'method', 'route', 'status', 'duration_ms', 'bytes']) assert.ok(k in line.json, k);
  assert.equal(line.json.route, '/v1/echo');
});

test('JSON round trip', async () => {
  const r = await req(srv.url, 'POST', '/v1/echo', { body: { hello: 'wörld', n: [1, 2, 3] } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.echo, { hello: 'wörld', n: [1, 2, 3] });
});

test('invalid JSON -> 400 with position', async () => {
  const r = await req(srv.url, 'POST', '/v1/echo', { raw: '{"a": [1, 2,, 3]}', headers: { 'content-type': 'application/json' } });
  assertProblem(r, 400);
  assert.equal(r.body.line, 1);
  assert.ok(r.body.column > 0);
  assert.match(r.body.detail, /line 1, column/);
});

test('non-object JSON and duplicate keys -> 400', async () => {
  assertProblem(await req(srv.url, 'POST', '/v1/echo', { raw: '[1,2]', headers: { 'content-type': 'application/json' } }), 400);
  assertProblem(await req(srv.url, 'POST', '/v1/echo', { raw: '{"a":1,"a":2}', headers: { 'content-type': 'application/json' } }), 400);
});

test('wrong content type -> 415', async () => {
  assertProblem(await req(srv.url, 'POST', '/v1/echo', { raw: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415);
  assertProblem(await req(srv.url, 'POST', '/v1/echo', { raw: '{}', headers: { 'content-type': 'text/plain' } }), 415);
});

test('oversized body -> 413 and the server keeps serving', async () => {
  // The declared length alone is refused, before any body byte is read. (A
  // client still streaming the body when the server closes can see a reset
  // instead of the answer, so the test does not race one.)
  const out = await rawHttp(srv.port, 'POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 70000\r\nConnection: close\r\n\r\n{"a":"');
  assert.match(out, /^HTTP\/1\.1 413/);
  assert.match(out, /application\/problem\+json/);
  assert.match(out, /payload-too-large/);
  assert.equal((await req(srv.url, 'GET', '/healthz')).status, 200);
});

test('oversized chunked body -> 413', async () => {
  // 80 KiB against a 64 KiB cap: small enough to sit in the socket buffers,
  // so the server's early close cannot reset the connection under the answer
  const chunk = 'x'.repeat(16 * 1024);
  let body = 'POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
  for (let i = 0; i < 5; i++) body += chunk.length.toString(16) + '\r\n' + chunk + '\r\n';
  body += '0\r\n\r\n';
  const out = await rawHttp(srv.port, body);
  assert.match(out, /^HTTP\/1\.1 413/);
  assert.match(out, /application\/problem\+json/);
});

test('oversized headers -> 431 problem', async () => {
  const r = await req(srv.url, 'GET', '/healthz', { headers: { 'x-big': 'y'.repeat(20000) } });
  assertProblem(r, 431);
  assert.equal((await req(srv.url, 'GET', '/healthz')).status, 200);
});

test('unknown route -> 404, wrong method -> 405 with Allow', async () => {
  assertProblem(await req(srv.url, 'GET', '/v1/nope'), 404);
  const r = await req(srv.url, 'DELETE', '/healthz');
  assertProblem(r, 405);
  assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS');
});

test('path tricks are refused', async () => {
  for (const target of ['/v1/../healthz', '/v1/%2e%2e/healthz', '/v1/a%00b', '/healthz%2Fx', '/v1/./echo', '/a%zz', '/x?%00=1', '/x?a=%0']) {
    const out = await rawHttp(srv.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 400/, target + ' -> ' + out.split('\r\n')[0]);
    assert.match(out, /application\/problem\+json/);
  }
  const out = await rawHttp(srv.port, 'GET healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 4\d\d/);
  assert.equal((await req(srv.url, 'GET', '/healthz')).status, 200);
});

test('unknown method -> 501', async () => {
  const out = await rawHttp(srv.port, 'BREW /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 501/);
});

test('HEAD on a GET route has headers and no body', async () => {
  const res = await fetch(srv.url + '/healthz', { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), '');
});

test('CORS: preflight and simple requests for allowed origins only', async () => {
  let res = await fetch(srv.url + '/v1/echo', { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://shop.example');
  assert.match(res.headers.get('access-control-allow-methods'), /POST/);
  res = await fetch(srv.url + '/healthz', { headers: { origin: 'https://shop.example' } });
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://shop.example');
  assert.match(res.headers.get('vary') || '', /Origin/);
  res = await fetch(srv.url + '/healthz', { headers: { origin: 'https://evil.example' } });
  assert.equal(res.headers.get('access-control-allow-origin'), null);
});

test('keep-alive: several requests on one connection', async () => {
  const one = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  const out = await rawHttp(srv.port, one + one + 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n' + one);
  assert.equal((out.match(/HTTP\/1\.1 200/g) || []).length, 3);
  assert.equal((out.match(/HTTP\/1\.1 404/g) || []).length, 1);
});

test('OpenAPI document is served', async () => {
  const r = await req(srv.url, 'GET', '/openapi.json');
  assert.equal(r.status, 200);
  assert.equal(r.body.openapi, '3.1.0');
  assert.ok(r.headers.get('etag'));
  const r2 = await fetch(srv.url + '/openapi.json', { headers: { 'if-none-match': r.headers.get('etag') } });
  assert.equal(r2.status, 304);
});
