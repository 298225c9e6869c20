// lifecycle.test.mjs — the process around the API: graceful shutdown under
// load, restart on the same database, command-line errors, and secrets that
// must never reach a log line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startServer, freshDatabase, req, BIN } from './lib/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens a connection and sends a POST /v1/echo whose body is only half
 * sent: the request is accepted and in flight until finish() sends the rest.
 * Resolves `done` with the raw response text once the server closes or a
 * complete response has arrived.
 */
function halfSentEcho(port, i) {
  return halfSent(port, '/v1/echo', JSON.stringify({ n: i, pad: 'x'.repeat(200) }));
}

/** The same for any POST: path and the JSON body text. */
function halfSent(port, path, body) {
  const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const s = net.connect(port, '127.0.0.1');
  let out = '';
  const done = new Promise((resolve) => {
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
  });
  const connected = new Promise((resolve) => s.on('connect', resolve));
  const half = body.length >> 1;
  return {
    expected: body,
    connected,
    done,
    start() { s.write(head + body.slice(0, half)); },
    finish() { s.write(body.slice(half)); },
  };
}

/** Parses one raw HTTP/1.1 response with Content-Length; null when incomplete. */
function parseResponse(raw) {
  const i = raw.indexOf('\r\n\r\n');
  if (i < 0) return null;
  const head = raw.slice(0, i);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
  const body = raw.slice(i + 4);
  if (!cl || body.length !== Number(cl[1])) return { status, head, body, complete: false };
  return { status, head, body, complete: true };
}

test('SIGTERM under load: accepted requests complete, exit 0, restart works', async () => {
  const db = freshDatabase();
  const srv = await startServer({ db, args: ['--shutdown-timeout', '10', '--http-threads', '2'], env: { MERCATO_RATE_ANON: '1000000' } });
  try {
    // 1. 40 requests whose bodies are half sent: accepted and in flight
    const slow = Array.from({ length: 40 }, (_, i) => halfSentEcho(srv.port, i));
    // and 12 writes that run on handler threads (echo runs on the event loop)
    const carts = Array.from({ length: 12 }, (_, i) => halfSent(srv.port, '/v1/carts', JSON.stringify({ email: `drain${i}@example.com` })));
    await Promise.all([...slow, ...carts].map((c) => c.connected));
    [...slow, ...carts].forEach((c) => c.start());
    // 2. a continuous load of complete requests from 16 concurrent loops
    let stop = false;
    const stats = { ok: 0, refused: 0, truncated: 0, bad: [] };
    const loop = async (k) => {
      for (let i = 0; !stop && i < 5000; i++) {
        let res;
        try {
          res = await fetch(srv.url + '/v1/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ k, i }) });
        } catch {
          stats.refused++; // never accepted (listener closed): fine
          await sleep(5);
          continue;
        }
        try {
          const body = await res.json();
          if (res.status === 200 && body.echo.k === k && body.echo.i === i) stats.ok++;
          else stats.bad.push(`${res.status} ${JSON.stringify(body)}`);
        } catch (e) {
          stats.truncated++; // headers arrived, body did not: a half-written response
        }
      }
    };
    const loops = Array.from({ length: 16 }, (_, k) => loop(k));
    await sleep(400);
    const before = stats.ok;
    assert.ok(before > 0, 'load is flowing');
    const m = await req(srv.url, 'GET', '/metrics');
    assert.match(m.text, /mercato_http_requests_in_flight ([5-9]\d|\d{3,})/, 'the half-sent requests are in flight');
    // 3. SIGTERM mid-way
    srv.proc.kill('SIGTERM');
    await sleep(300);
    // 4. the in-flight requests finish their bodies after the signal
    slow.forEach((c) => c.finish());
    carts.forEach((c) => c.finish());
    const raws = await Promise.all(slow.map((c) => c.done));
    const cartRaws = await Promise.all(carts.map((c) => c.done));
    stop = true;
    await Promise.all(loops);
    const { code, signal } = await srv.exited;
    assert.equal(signal, null);
    assert.equal(code, 0, 'exit code 0');
    raws.forEach((raw, i) => {
      const r = parseResponse(raw);
      assert.ok(r && r.complete, `slow request ${i} got a full response: ${JSON.stringify(raw.slice(0, 200))}`);
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body).echo, JSON.parse(slow[i].expected));
    });
    cartRaws.forEach((raw, i) => {
      const r = parseResponse(raw);
      assert.ok(r && r.complete, `slow cart ${i} got a full response: ${JSON.stringify(raw.slice(0, 200))}`);
      assert.equal(r.status, 201, raw.slice(0, 300));
      assert.equal(JSON.parse(r.body).email, `drain${i}@example.com`);
    });
    console.log(`load: ${stats.ok} completed (${before} before SIGTERM), ${stats.refused} refused after the listener closed`);
    assert.equal(stats.truncated, 0, 'no half-written responses');
    assert.deepEqual(stats.bad, []);
    assert.ok(stats.ok > before, 'requests kept completing');
    const logs = srv.logs.map((l) => l.raw).join('\n');
    assert.match(logs, /received SIGTERM; draining/);
    assert.match(logs, /"msg":"stopped"/);
    assert.doesNotMatch(logs, /still in flight at the deadline/);
    // 5. a restart on the same database serves
    const again = await startServer({ db });
    try {
      assert.equal((await req(again.url, 'GET', '/readyz')).status, 200);
      assert.equal((await req(again.url, 'POST', '/v1/echo', { body: { after: 'restart' } })).status, 200);
    } finally {
      const r = await again.stop();
      assert.equal(r.code, 0);
    }
  } finally {
    if (srv.proc.exitCode === null) srv.proc.kill('SIGKILL');
    db.cleanup();
  }
});

test('writes run on handler threads (queued when all are busy) or on the event loop with --handler-threads 0', async () => {
  for (const args of [['--http-threads', '1', '--handler-threads', '2'], ['--http-threads', '1', '--handler-threads', '0']]) {
    const srv = await startServer({ args, env: { MERCATO_RATE_ANON: '1000000' } });
    try {
      // 24 carts at once over separate connections: more writes than handler
      // threads, interleaved with reads on the one event loop
      const writes = Array.from({ length: 24 }, () => req(srv.url, 'POST', '/v1/carts', { body: {} }));
      const reads = Array.from({ length: 24 }, () => req(srv.url, 'GET', '/healthz'));
      const done = await Promise.all([...writes, ...reads]);
      const carts = done.slice(0, 24);
      carts.forEach((r) => assert.equal(r.status, 201, r.text));
      assert.equal(new Set(carts.map((r) => r.body.id)).size, 24, '24 different carts');
      done.slice(24).forEach((r) => assert.equal(r.status, 200));
      const got = await req(srv.url, 'GET', `/v1/carts/${carts[0].body.id}`, { headers: { 'X-Cart-Token': carts[0].body.token } });
      assert.equal(got.status, 200);
    } finally {
      const r = await srv.stop();
      assert.equal(r.code, 0, `exit 0 with ${args.join(' ')}`);
    }
  }
});

test('SIGINT also drains and exits 0', async () => {
  const srv = await startServer();
  assert.equal((await req(srv.url, 'GET', '/healthz')).status, 200);
  const r = await srv.stop('SIGINT');
  assert.equal(r.code, 0);
});

function run(args, env = {}) {
  return spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20000 });
}

test('bad flags and values exit non-zero with a clear message', () => {
  let r = run(['serve', '--port', 'abc']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--port: 'abc' is not an integer/);
  r = run(['serve', '--bogus-flag']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown option or argument '--bogus-flag'/);
  r = run(['serve', '--port', '70000']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--port: 70000 is out of range \[0, 65535\]/);
  r = run(['serve', '--access-log=maybe']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /not a boolean/);
  r = run(['serve'], { MERCATO_PORT: 'eighty' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /environment MERCATO_PORT: 'eighty' is not an integer/);
  r = run(['bogus-command']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown command 'bogus-command'/);
  // and none of these started a server or wrote a log line
  assert.doesNotMatch(r.stdout + r.stderr, /listening/);
});

test('help lists every option with its environment variable', () => {
  const r = run(['help']);
  assert.equal(r.status, 0);
  for (const v of ['MERCATO_PORT', 'DATABASE_URL', 'MERCATO_ADMIN_TOKEN', 'MERCATO_SHUTDOWN_TIMEOUT', 'MERCATO_CORS_ORIGINS']) assert.match(r.stdout, new RegExp(v));
  assert.doesNotMatch(r.stdout, /^\s*routes\b/m, 'routes is a hidden subcommand');
});

test('the README configuration table matches mercato help', () => {
  const help = run(['help']).stdout;
  const fromHelp = [...help.matchAll(/^  --(\S+)\s+(\S+)\s+.*\[(.*)\]$/gm)].map((m) => [m[1], m[2], m[3] === '""' ? '' : m[3]]);
  assert.ok(fromHelp.length >= 20, help);
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const fromReadme = [...readme.matchAll(/^\| `--([^`]+)` \| `([^`]+)` \| `([^`]*)` \|/gm)].map((m) => [m[1], m[2], m[3] === '""' ? '' : m[3]]);
  assert.deepEqual(fromReadme, fromHelp);
});

const SECRETS = { db: 'pg-pass-5ecr3t', admin: 'adm_T0ken_never_logged_0123456789', smtp: 'smtp-pass-5ecr3t' };

test('secrets are masked in the configuration line and never logged (failing start)', () => {
  // a PostgreSQL URL with a password that cannot connect: the start-up
  // fails, and neither the configuration line nor the error may show it
  const r = run(['serve', '--port', '0'], {
    DATABASE_URL: `postgres://mercato:${SECRETS.db}@127.0.0.1:1/shop`,
    MERCATO_ADMIN_TOKEN: SECRETS.admin,
    SMTP_URL: `smtp://mailer:${SECRETS.smtp}@127.0.0.1:25`,
  });
  assert.notEqual(r.status, 0);
  const lines = r.stderr.trim().split('\n');
  const cfg = lines.map((l) => JSON.parse(l)).find((j) => j.msg === 'configuration');
  assert.ok(cfg, r.stderr);
  assert.equal(cfg.database_url, 'postgres://mercato:***@127.0.0.1:1/shop');
  assert.equal(cfg.admin_token, '***');
  assert.equal(cfg.smtp_url, 'smtp://mailer:***@127.0.0.1:25');
  for (const s of Object.values(SECRETS)) assert.ok(!r.stderr.includes(s), `secret ${s} leaked:\n${r.stderr}`);
  assert.ok(lines.some((l) => /"level":"error"/.test(l)), 'the connection failure is logged');
});

test('secrets are never logged while serving', async () => {
  const srv = await startServer({ env: { MERCATO_ADMIN_TOKEN: SECRETS.admin, SMTP_URL: `smtp://mailer:${SECRETS.smtp}@127.0.0.1:25` } });
  try {
    await req(srv.url, 'GET', '/healthz', { headers: { authorization: `Bearer ${SECRETS.admin}` } });
    await req(srv.url, 'POST', '/v1/echo', { body: { password: SECRETS.db }, headers: { authorization: `Bearer ${SECRETS.admin}` } });
    await req(srv.url, 'GET', `/v1/nope?token=${SECRETS.admin}`);
    await req(srv.url, 'POST', '/v1/echo', { raw: `{"password":"${SECRETS.db}",,}`, headers: { 'content-type': 'application/json' } });
  } finally {
    const r = await srv.stop();
    assert.equal(r.code, 0);
  }
  const all = srv.logs.map((l) => l.raw).join('\n');
  assert.ok(srv.logs.some((l) => l.json && l.json.msg === 'configuration' && l.json.admin_token === '***'));
  assert.ok(srv.logs.some((l) => l.json && l.json.msg === 'request' && l.json.route === 'unmatched'), 'requests were logged');
  for (const s of Object.values(SECRETS)) assert.ok(!all.includes(s), `secret ${s} leaked into the logs`);
  // every line is one JSON object with time and level
  for (const l of srv.logs) {
    assert.ok(l.json, `not JSON: ${l.raw}`);
    assert.ok(l.json.time && l.json.level, l.raw);
  }
});
