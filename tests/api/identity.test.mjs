// identity.test.mjs — identity and access over real HTTP, against a real
// SMTP server: sign-up, email codes, login, refresh rotation and reuse
// detection, logout, password reset, roles and ownership, machine clients
// with their own rate tiers, brute-force limits, input validation, and a
// scan of the whole server log for secrets.  Runs on SQLite and PostgreSQL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startServer, freshDatabase, req, BIN } from './lib/server.mjs';
import { startSmtp, codeOf } from './lib/smtp.mjs';

const JWT_SECRET = 'test-secret-' + randomBytes(24).toString('hex');
const JWT_KID = 'test1';
const ADMIN_TOKEN = 'op-' + randomBytes(24).toString('hex');
const ADMIN_EMAIL = 'root@shop.example';
const ADMIN_PASSWORD = 'Adm1n-' + randomBytes(8).toString('hex');

let srv, smtp, db;
const secrets = [ADMIN_TOKEN, ADMIN_PASSWORD, JWT_SECRET]; // every secret the log must never show
const keep = (...s) => { for (const x of s) if (x) secrets.push(x); return s[0]; };

before(async () => {
  smtp = await startSmtp();
  db = freshDatabase();
  // the first admin comes from the CLI, before the server exists
  const out = execFileSync(BIN, ['user', 'create', '--admin', '--email', ADMIN_EMAIL, '--password', '-', '--name', 'Root'],
    { env: { ...process.env, DATABASE_URL: db.url, MERCATO_DATA_DIR: db.dir || '/tmp' }, input: ADMIN_PASSWORD + '\n' });
  assert.match(out.toString(), /"role":"admin"/);
  srv = await startServer({
    db,
    env: {
      SMTP_URL: smtp.url,
      MERCATO_MAIL_FROM: 'Test Shop <shop@shop.example>',
      MERCATO_JWT_SECRET: JWT_SECRET,
      MERCATO_JWT_KID: JWT_KID,
      MERCATO_ADMIN_TOKEN: ADMIN_TOKEN,
      MERCATO_RATE_TIERS: 'tiny=5,standard=600,big=100000',
      MERCATO_LOG_LEVEL: 'debug',
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
const op = auth(ADMIN_TOKEN);

/** A request from a chosen local source address (127.0.0.x all reach the server). */
function reqFrom(localAddress, method, path, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers };
    if (payload) { h['content-type'] = 'application/json'; h['content-length'] = Buffer.byteLength(payload); }
    const r = http.request({ host: '127.0.0.1', port: srv.port, method, path, headers: h, localAddress }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: new Headers(res.headers), body: json, text });
      });
    });
    r.on('error', reject);
    if (payload) r.write(payload);
    r.end();
  });
}

function assertProblem(r, status, type) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(r.body.status, status);
  if (type) assert.equal(r.body.type, `https://mercato.dev/problems/${type}`);
}

let seq = 0;
function newEmail(tag) { return `${tag}.${Date.now().toString(36)}${seq++}@example.com`; }
function newPassword() { return keep('Pw-' + randomBytes(9).toString('base64url')); }

/** Registers, reads the code from the email, verifies; returns {email,password,id}. */
async function signUp(tag, extra = {}) {
  const email = newEmail(tag), password = newPassword();
  let r = await req(srv.url, 'POST', '/v1/auth/register', { body: { email, password, name: `User ${tag}`, ...extra } });
  assert.equal(r.status, 201, r.text);
  const msg = await smtp.waitFor((m) => m.envelope.to.includes(email) && /verification/.test(m.subject));
  const code = codeOf(msg);
  r = await req(srv.url, 'POST', '/v1/auth/verify-email', { body: { email, code } });
  assert.equal(r.status, 200, r.text);
  return { email, password, id: r.body.user.id };
}

async function login(email, password) {
  const r = await req(srv.url, 'POST', '/v1/auth/login', { body: { email, password } });
  assert.equal(r.status, 200, r.text);
  keep(r.body.access_token, r.body.refresh_token);
  return r.body;
}

function b64u(x) { return Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url'); }
function forge(payload, { alg = 'HS256', kid = JWT_KID, key = JWT_SECRET, header } = {}) {
  const h = b64u(header || { alg, kid, typ: 'JWT' });
  const p = b64u(payload);
  if (alg === 'none') return `${h}.${p}.`;
  const hash = alg === 'HS512' ? 'sha512' : 'sha256';
  const sig = createHmac(hash, key).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${sig}`;
}

// ---- the walk ----

test('register → email → verify → login → refresh → reuse revokes the family → logout rejects the old token', async () => {
  const email = newEmail('walk'), password = newPassword();
  let r = await req(srv.url, 'POST', '/v1/auth/register', { body: { email: `  ${email.toUpperCase()} `, password, name: 'Ada Walker' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.user.email, email, 'email normalised: trimmed and lowercased');
  assert.equal(r.body.user.email_verified, false);
  assert.equal(r.body.user.role, 'customer');
  assert.match(r.body.user.id, /^usr_[0-9a-z]{26}$/);
  assert.equal(r.body.user.password_hash, undefined);

  // cannot log in before verifying
  r = await req(srv.url, 'POST', '/v1/auth/login', { body: { email, password } });
  assertProblem(r, 403, 'email-not-verified');

  const msg = await smtp.waitFor((m) => m.envelope.to.includes(email));
  assert.equal(msg.envelope.from, 'shop@shop.example');
  assert.match(msg.subject, /verification code/);
  assert.match(msg.html, /<strong[^>]*>\d{6}<\/strong>/, 'HTML part carries the code too');
  const code = codeOf(msg);

  const wrong = code === '000000' ? '111111' : '000000';
  r = await req(srv.url, 'POST', '/v1/auth/verify-email', { body: { email, code: wrong } });
  assertProblem(r, 400, 'invalid-code');
  assert.equal(r.body.errors[0].field, 'code');

  r = await req(srv.url, 'POST', '/v1/auth/verify-email', { body: { email, code } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.user.email_verified, true);
  // a code is single-use
  r = await req(srv.url, 'POST', '/v1/auth/verify-email', { body: { email, code } });
  assertProblem(r, 400, 'invalid-code');

  const t1 = await login(email, password);
  assert.equal(t1.token_type, 'Bearer');
  assert.ok(t1.expires_in > 800 && t1.expires_in <= 900);
  assert.match(t1.refresh_token, /^rt_/);
  const claims = JSON.parse(Buffer.from(t1.access_token.split('.')[1], 'base64url'));
  const header = JSON.parse(Buffer.from(t1.access_token.split('.')[0], 'base64url'));
  assert.deepEqual(header, { alg: 'HS256', kid: JWT_KID, typ: 'JWT' });
  for (const k of ['sub', 'role', 'scope', 'jti', 'exp']) assert.ok(claims[k], k);
  assert.equal(claims.role, 'customer');

  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(t1.access_token) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.user.email, email);
  assert.match(r.headers.get('ratelimit-policy'), /^"user";q=600;w=60$/);
  assert.match(r.headers.get('ratelimit'), /^"user";r=\d+;t=\d+$/);

  // rotation
  r = await req(srv.url, 'POST', '/v1/auth/refresh', { body: { refresh_token: t1.refresh_token } });
  assert.equal(r.status, 200, r.text);
  const t2 = r.body;
  keep(t2.access_token, t2.refresh_token);
  assert.notEqual(t2.refresh_token, t1.refresh_token);
  assert.equal(t2.session_id, t1.session_id);
  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(t2.access_token) });
  assert.equal(r.status, 200);

  // the old refresh token again: reuse → the whole family is revoked
  r = await req(srv.url, 'POST', '/v1/auth/refresh', { body: { refresh_token: t1.refresh_token } });
  assertProblem(r, 401, 'refresh-token-reused');
  r = await req(srv.url, 'POST', '/v1/auth/refresh', { body: { refresh_token: t2.refresh_token } });
  assertProblem(r, 401, 'invalid-refresh-token');
  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(t2.access_token) });
  assertProblem(r, 401);
  assert.match(r.headers.get('www-authenticate'), /error="invalid_token"/);

  // a new session, then logout
  const t3 = await login(email, password);
  r = await req(srv.url, 'GET', '/v1/me/sessions', { headers: auth(t3.access_token) });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.filter((s) => s.current).length, 1);
  r = await req(srv.url, 'POST', '/v1/auth/logout', { headers: auth(t3.access_token) });
  assert.equal(r.status, 204, r.text);
  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(t3.access_token) });
  assertProblem(r, 401);
  r = await req(srv.url, 'POST', '/v1/auth/refresh', { body: { refresh_token: t3.refresh_token } });
  assertProblem(r, 401, 'invalid-refresh-token');
});

test('password reset end to end', async () => {
  const u = await signUp('reset');
  const before = await login(u.email, u.password);
  let r = await req(srv.url, 'POST', '/v1/auth/password/forgot', { body: { email: u.email } });
  assert.equal(r.status, 202);
  // unknown addresses get the same answer and no mail
  r = await req(srv.url, 'POST', '/v1/auth/password/forgot', { body: { email: newEmail('nobody') } });
  assert.equal(r.status, 202);
  const msg = await smtp.waitFor((m) => m.envelope.to.includes(u.email) && /reset/.test(m.subject));
  const code = codeOf(msg);
  const np = newPassword();
  r = await req(srv.url, 'POST', '/v1/auth/password/reset', { body: { email: u.email, code, password: 'short' } });
  assertProblem(r, 422, 'validation-failed');
  assert.equal(r.body.errors[0].field, 'password');
  r = await req(srv.url, 'POST', '/v1/auth/password/reset', { body: { email: u.email, code, password: np } });
  assert.equal(r.status, 200, r.text);
  // sessions from before the reset are gone
  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(before.access_token) });
  assertProblem(r, 401);
  r = await req(srv.url, 'POST', '/v1/auth/refresh', { body: { refresh_token: before.refresh_token } });
  assertProblem(r, 401);
  r = await req(srv.url, 'POST', '/v1/auth/login', { body: { email: u.email, password: u.password } });
  assertProblem(r, 401, 'invalid-credentials');
  const after = await login(u.email, np);
  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(after.access_token) });
  assert.equal(r.status, 200);
  // the code cannot be used twice
  r = await req(srv.url, 'POST', '/v1/auth/password/reset', { body: { email: u.email, code, password: newPassword() } });
  assertProblem(r, 400, 'invalid-code');
});

test('machine clients: token via Basic or form, own rate tier, scopes, revocation', async () => {
  let r = await req(srv.url, 'POST', '/v1/admin/oauth-clients', { headers: op, body: { name: 'Small carrier', scopes: ['shipments:write', 'shipments:read'], rate_limit_tier: 'tiny' } });
  assert.equal(r.status, 201, r.text);
  const small = r.body;
  keep(small.client_secret);
  assert.match(small.id, /^cli_/);
  assert.match(small.client_secret, /^mcs_/);
  r = await req(srv.url, 'GET', `/v1/admin/oauth-clients/${small.id}`, { headers: op });
  assert.equal(r.status, 200);
  assert.equal(r.body.client_secret, undefined, 'the secret is shown once');
  assert.equal(r.body.rate_limit, 5);

  r = await req(srv.url, 'POST', '/v1/admin/oauth-clients', { headers: op, body: { name: 'Big carrier', scopes: ['shipments:write'], rate_limit_tier: 'big' } });
  assert.equal(r.status, 201);
  const big = r.body;
  keep(big.client_secret);

  const basic = (c) => ({ authorization: 'Basic ' + Buffer.from(`${c.id}:${c.client_secret}`).toString('base64') });
  const form = (o) => ({ raw: new URLSearchParams(o).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });

  r = await req(srv.url, 'POST', '/v1/oauth/token', { ...form({ grant_type: 'client_credentials' }), headers: { ...form({}).headers, ...basic(small) } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(r.body.token_type, 'Bearer');
  assert.equal(r.body.refresh_token, undefined, 'no refresh token for client credentials');
  assert.equal(r.body.scope, 'shipments:write shipments:read');
  const smallTok = keep(r.body.access_token);
  const claims = JSON.parse(Buffer.from(smallTok.split('.')[1], 'base64url'));
  assert.equal(claims.rl, 5);
  assert.equal(claims.tier, 'tiny');

  r = await req(srv.url, 'POST', '/v1/oauth/token', form({ grant_type: 'client_credentials', client_id: big.id, client_secret: big.client_secret, scope: 'shipments:write' }));
  assert.equal(r.status, 200, r.text);
  const bigTok = keep(r.body.access_token);

  // errors in RFC 6749 shape (plus problem+json)
  r = await req(srv.url, 'POST', '/v1/oauth/token', form({ grant_type: 'client_credentials', client_id: small.id, client_secret: 'mcs_wrong' }));
  assert.equal(r.status, 401);
  assert.equal(r.body.error, 'invalid_client');
  r = await req(srv.url, 'POST', '/v1/oauth/token', form({ grant_type: 'password', client_id: small.id, client_secret: small.client_secret }));
  assert.equal(r.body.error, 'unsupported_grant_type');
  r = await req(srv.url, 'POST', '/v1/oauth/token', form({ grant_type: 'client_credentials', client_id: big.id, client_secret: big.client_secret, scope: 'admin' }));
  assert.equal(r.body.error, 'invalid_scope');

  // the small client is limited by its own tier (5/min); the big one is not
  for (let i = 0; i < 5; i++) {
    r = await req(srv.url, 'GET', '/v1/me', { headers: auth(smallTok) });
    assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
    assert.equal(r.body.client.id, small.id);
    assert.equal(r.headers.get('ratelimit-policy'), '"client";q=5;w=60');
    assert.equal(r.headers.get('ratelimit'), `"client";r=${4 - i};t=${Math.ceil((i + 1) * 12)}`);
  }
  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(smallTok) });
  assertProblem(r, 429, 'rate-limited');
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
  assert.equal(r.headers.get('ratelimit-policy'), '"client";q=5;w=60');
  for (let i = 0; i < 10; i++) {
    r = await req(srv.url, 'GET', '/v1/me', { headers: auth(bigTok) });
    assert.equal(r.status, 200);
  }
  assert.equal(r.headers.get('ratelimit-policy'), '"client";q=100000;w=60');

  // a client is not a user: user-only and admin routes are forbidden
  r = await req(srv.url, 'GET', '/v1/me/sessions', { headers: auth(bigTok) });
  assertProblem(r, 403);

  // RFC 7009 revocation
  r = await req(srv.url, 'POST', '/v1/oauth/revoke', form({ token: bigTok, client_id: big.id, client_secret: big.client_secret }));
  assert.equal(r.status, 200, r.text);
  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(bigTok) });
  assertProblem(r, 401);
  // deleting a client kills its tokens
  r = await req(srv.url, 'DELETE', `/v1/admin/oauth-clients/${small.id}`, { headers: op });
  assert.equal(r.status, 204);
  r = await req(srv.url, 'POST', '/v1/oauth/token', form({ grant_type: 'client_credentials', client_id: small.id, client_secret: small.client_secret }));
  assert.equal(r.status, 401);
});

test('tampered, expired, not-yet-valid, alg:none, HS512 and wrong-key tokens → 401', async () => {
  const u = await signUp('tokens');
  const t = await login(u.email, u.password);
  const now = Math.floor(Date.now() / 1000);
  const claims = JSON.parse(Buffer.from(t.access_token.split('.')[1], 'base64url'));
  let r = await req(srv.url, 'GET', '/v1/me', { headers: auth(forge(claims)) });
  assert.equal(r.status, 200, 'a token forged with the real key is accepted: the forging helper is right');

  const [h, p, s] = t.access_token.split('.');
  const admin = b64u({ ...claims, role: 'admin' });
  const cases = {
    tampered_payload: `${h}.${admin}.${s}`,
    tampered_signature: `${h}.${p}.${s.slice(0, -2)}${s.slice(-2) === 'AA' ? 'AB' : 'AA'}`,
    expired: forge({ ...claims, exp: now - 5, iat: now - 1000, nbf: now - 1000 }),
    not_yet_valid: forge({ ...claims, nbf: now + 600, exp: now + 1200 }),
    alg_none: forge({ ...claims, role: 'admin' }, { alg: 'none', header: { alg: 'none', typ: 'JWT' } }),
    alg_none_with_kid: forge(claims, { alg: 'none', header: { alg: 'none', kid: JWT_KID, typ: 'JWT' } }),
    hs512_same_key: forge(claims, { alg: 'HS512', header: { alg: 'HS512', kid: JWT_KID, typ: 'JWT' } }),
    wrong_key: forge(claims, { key: 'another-secret-another-secret-another-secret' }),
    unknown_kid: forge(claims, { header: { alg: 'HS256', kid: 'nope', typ: 'JWT' } }),
    no_exp: forge({ ...claims, exp: undefined }),
    garbage: 'not-a-jwt',
    four_parts: `${t.access_token}.x`,
  };
  for (const [name, tok] of Object.entries(cases)) {
    r = await req(srv.url, 'GET', '/v1/me', { headers: auth(tok) });
    assert.equal(r.status, 401, `${name}: ${r.text}`);
    assert.match(r.headers.get('www-authenticate'), /^Bearer realm="mercato"/, name);
  }
  r = await req(srv.url, 'GET', '/v1/me');
  assertProblem(r, 401, 'unauthorized');
  assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="mercato"');
});

test('roles and ownership: 403 on admin routes, 404 for another customer\'s object', async () => {
  const a = await signUp('owner-a'), b = await signUp('owner-b');
  const ta = await login(a.email, a.password), tb = await login(b.email, b.password);
  let r = await req(srv.url, 'GET', '/v1/admin/users', { headers: auth(ta.access_token) });
  assertProblem(r, 403, 'forbidden');
  r = await req(srv.url, 'POST', '/v1/admin/oauth-clients', { headers: auth(ta.access_token), body: { name: 'x', scopes: [] } });
  assertProblem(r, 403);

  // B asks for A's session: not found (not 403), and A's session survives B's delete
  r = await req(srv.url, 'GET', `/v1/me/sessions/${ta.session_id}`, { headers: auth(tb.access_token) });
  assertProblem(r, 404, 'not-found');
  r = await req(srv.url, 'DELETE', `/v1/me/sessions/${ta.session_id}`, { headers: auth(tb.access_token) });
  assertProblem(r, 404, 'not-found');
  r = await req(srv.url, 'GET', `/v1/me/sessions/${ta.session_id}`, { headers: auth(ta.access_token) });
  assert.equal(r.status, 200);
  assert.equal(r.body.current, true);
  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(ta.access_token) });
  assert.equal(r.status, 200);

  // an admin user (created by the CLI) may use admin routes
  const adm = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
  r = await req(srv.url, 'GET', `/v1/admin/users?email=${encodeURIComponent(a.email)}`, { headers: auth(adm.access_token) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.data.length, 1);
  assert.equal(r.body.data[0].id, a.id);
});

test('seller sign-up waits for an admin, then the role arrives with the next refresh', async () => {
  const s = await signUp('seller', { account_type: 'seller' });
  const t = await login(s.email, s.password);
  let r = await req(srv.url, 'GET', '/v1/me', { headers: auth(t.access_token) });
  assert.equal(r.body.user.role, 'customer');
  assert.equal(r.body.user.seller_status, 'pending');
  r = await req(srv.url, 'GET', '/v1/admin/users?seller_status=pending', { headers: op });
  assert.ok(r.body.data.some((u) => u.id === s.id));
  r = await req(srv.url, 'PATCH', `/v1/admin/users/${s.id}`, { headers: op, body: { seller_status: 'approved' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.role, 'seller');
  // the role change denies the token that still says "customer"
  r = await req(srv.url, 'GET', '/v1/me', { headers: auth(t.access_token) });
  assertProblem(r, 401);
  r = await req(srv.url, 'POST', '/v1/auth/refresh', { body: { refresh_token: t.refresh_token } });
  assert.equal(r.status, 200, r.text);
  keep(r.body.access_token, r.body.refresh_token);
  assert.equal(JSON.parse(Buffer.from(r.body.access_token.split('.')[1], 'base64url')).role, 'seller');
});

test('20 wrong passwords → 429 with Retry-After; the right password from another IP still works', async () => {
  const u = await signUp('brute');
  const statuses = [];
  let last;
  for (let i = 0; i < 20; i++) {
    last = await reqFrom('127.0.0.1', 'POST', '/v1/auth/login', { body: { email: u.email, password: 'Wrong-password-' + i } });
    statuses.push(last.status);
  }
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
  assert.deepEqual(statuses.slice(10), Array(10).fill(429));
  assertProblem(last, 429, 'rate-limited');
  assert.ok(Number(last.headers.get('retry-after')) >= 60, 'Retry-After in seconds');
  assert.match(last.headers.get('ratelimit-policy'), /^"login";q=10;w=900$/);
  // even the right password from the attacking IP waits
  let r = await reqFrom('127.0.0.1', 'POST', '/v1/auth/login', { body: { email: u.email, password: u.password } });
  assert.equal(r.status, 429);
  // the owner, elsewhere, is not locked out
  r = await reqFrom('127.0.0.2', 'POST', '/v1/auth/login', { body: { email: u.email, password: u.password } });
  assert.equal(r.status, 200, r.text);
  keep(r.body.access_token, r.body.refresh_token);
});

test('bad input → 400/422 problem+json with errors[], nothing stored', async () => {
  const long = 'a'.repeat(5000);
  const good = { email: newEmail('bad'), password: newPassword(), name: 'Valid Name' };
  const cases = [
    [{}, ['email', 'password', 'name']],
    [{ ...good, email: 42 }, ['email']],
    [{ ...good, password: ['x'] }, ['password']],
    [{ ...good, name: { a: 1 } }, ['name']],
    [{ ...good, email: `${long}@example.com` }, ['email']],
    [{ ...good, name: long }, ['name']],
    [{ ...good, password: 'x'.repeat(600) }, ['password']],
    [{ ...good, email: 'no-at-sign.example.com' }, ['email']],
    [{ ...good, email: 'two@@example.com' }, ['email']],
    [{ ...good, email: 'user@localhost' }, ['email']],
    [{ ...good, email: 'a b@example.com' }, ['email']],
    [{ ...good, email: 'x..y@example.com' }, ['email']],
    [{ ...good, email: 'pаypal@example.com' }, ['email']], // Cyrillic 'а'
    [{ ...good, email: 'zero\u200bwidth@example.com' }, ['email']],
    [{ ...good, name: 'Evil\u202egnp.exe' }, ['name']], // right-to-left override
    [{ ...good, name: 'In\u200bvisible' }, ['name']],
    [{ ...good, name: 'Bell\u0007' }, ['name']],
    [{ ...good, name: '   ' }, ['name']],
    [{ ...good, password: 'password123' }, ['password']],
    [{ ...good, password: 'short' }, ['password']],
    [{ ...good, password: 'aaaaabbbbbaaaaabbbbb' }, ['password']],
    [{ ...good, password: good.email.split('@')[0] + '!X9' }, ['password']],
    [{ ...good, account_type: 'admin' }, ['account_type']],
    [{ ...good, role: 'admin' }, ['role']],
  ];
  for (const [body, fields] of cases) {
    const r = await req(srv.url, 'POST', '/v1/auth/register', { body });
    assertProblem(r, 422, 'validation-failed');
    const got = r.body.errors.map((e) => e.field).sort();
    assert.deepEqual(got, [...fields].sort(), JSON.stringify(body).slice(0, 120));
    for (const e of r.body.errors) assert.ok(e.message.length > 0);
  }
  let r = await req(srv.url, 'POST', '/v1/auth/register', { raw: '{"email":', headers: { 'content-type': 'application/json' } });
  assertProblem(r, 400, 'invalid-json');
  r = await req(srv.url, 'POST', '/v1/auth/register', { raw: 'email=x', headers: { 'content-type': 'text/plain' } });
  assertProblem(r, 415);
  r = await req(srv.url, 'POST', '/v1/auth/login', { body: { email: 'x@example.com' } });
  assertProblem(r, 422);
  r = await req(srv.url, 'POST', '/v1/auth/verify-email', { body: { email: good.email, code: '12ab56' } });
  assertProblem(r, 422);
  assert.equal(r.body.errors[0].field, 'code');
  r = await req(srv.url, 'POST', '/v1/admin/oauth-clients', { headers: op, body: { name: 'x', scopes: ['Bad Scope'], rate_limit_tier: 'gold' } });
  assertProblem(r, 422);
  assert.deepEqual(r.body.errors.map((e) => e.field).sort(), ['rate_limit_tier', 'scopes']);
  // nothing was stored: none of those addresses has an account
  r = await req(srv.url, 'GET', '/v1/admin/users?limit=100', { headers: op });
  assert.ok(!r.body.data.some((u) => u.email.startsWith('bad.')), 'no account from rejected input');
});

test('anonymous requests carry RateLimit headers', async () => {
  const r = await req(srv.url, 'POST', '/v1/auth/password/forgot', { body: { email: newEmail('anon') } });
  assert.equal(r.status, 202);
  assert.equal(r.headers.get('ratelimit-policy'), '"anon";q=300;w=60');
  assert.match(r.headers.get('ratelimit'), /^"anon";r=\d+;t=\d+$/);
});

test('no secret, password, token or code appears in the server log', async () => {
  await new Promise((res) => setTimeout(res, 200));
  const all = srv.logs.map((l) => l.raw).join('\n');
  const where = (i, n) => JSON.stringify(all.slice(Math.max(0, i - 80), i + n + 40));
  assert.ok(all.length > 1000, 'the log has content');
  assert.ok(secrets.length > 20, `collected ${secrets.length} secrets`);
  for (const s of secrets) {
    const i = all.indexOf(s);
    assert.ok(i < 0, `log contains a secret (${s.slice(0, 4)}…) at ${where(i, s.length)}`);
  }
  // Email codes are six digits, so they are looked for as whole numbers
  // outside the fields that are numbers or random hex by nature (a code
  // can be part of a trace id or a duration by chance, about once in a few
  // hundred runs, which is not a leak).
  const scrubbed = all.replace(/"(time|duration_ms|request_id|trace_id|bytes|status|port|id|job_id|event_id|last_id|attempts|rss_bytes)":[^,}]*/g, '');
  let codes = 0;
  for (const m of smtp.messages) {
    const code = /code is: (\d{6})/.exec(m.text);
    if (!code) continue;
    codes++;
    const hit = new RegExp(`\\b${code[1]}\\b`).exec(scrubbed);
    assert.ok(!hit, `log contains an email code at ${hit && JSON.stringify(scrubbed.slice(Math.max(0, hit.index - 80), hit.index + 46))}`);
  }
  assert.ok(codes >= 3, `checked ${codes} mailed codes`);
});
