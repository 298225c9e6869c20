// docs.test.mjs — the /docs page in a real headless Chromium: it loads
// /openapi.json, renders every operation grouped by tag with parameters,
// bodies and resolved schemas, lists the problem types, and fetches nothing
// from outside the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let srv, ctx, profile;
before(async () => {
  assert.ok(existsSync(CHROMIUM), 'Debian chromium is not installed: run scripts/deps.sh');
  const { chromium } = await import('playwright-core');
  srv = await startServer();
  profile = mkdtempSync(join(tmpdir(), 'mercato-chromium-'));
  // launchPersistentContext passes --user-data-dir=<profile>: a fresh profile per run
  ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000 });
});
after(async () => {
  if (ctx) await ctx.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (srv) await srv.stop();
});

test('/docs renders the API reference from /openapi.json', async () => {
  const doc = await (await fetch(srv.url + '/openapi.json')).json();
  const page = await ctx.newPage();
  const errors = [];
  const foreign = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('request', (r) => { if (!r.url().startsWith(srv.url)) foreign.push(r.url()); });
  const res = await page.goto(srv.url + '/docs');
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-type'], /^text\/html/);
  await page.waitForSelector('body[data-rendered]', { timeout: 20000 });
  assert.equal(await page.getAttribute('body', 'data-rendered'), 'true');

  // every documented operation has a card with its method and path
  const expected = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of ['get', 'put', 'post', 'delete', 'patch', 'options', 'head']) if (item[m]) expected.push(`${m} ${path}`);
  }
  const cards = await page.$$eval('article.op', (els) => els.map((e) => e.querySelector('.m').textContent.toLowerCase() + ' ' + e.querySelector('.path').textContent));
  assert.deepEqual(cards.sort(), expected.sort());
  assert.ok(cards.includes('get /healthz') && cards.includes('post /v1/echo'));

  // grouped by tag, with the tag's heading
  assert.equal(await page.textContent('section#tag-operations > h2'), 'operations');

  // the echo card shows its request body and resolves $refs in responses
  const echo = await page.textContent('#op-post--v1-echo');
  assert.match(echo, /Request body/);
  assert.match(echo, /application\/json/);
  assert.match(echo, /415/);
  assert.match(echo, /UnsupportedMediaType/);    // name of the referenced response
  assert.match(echo, /request_id/);               // from the resolved Echo schema
  const openapi = await page.textContent('#op-get--openapi-json');
  assert.match(openapi, /If-None-Match/);         // a parameter row

  // problem types, from x-problem-types, with the Problem schema
  const types = await page.$$eval('#problem-types tr[id^="problem-"]', (els) => els.map((e) => e.id.slice(8)));
  assert.deepEqual(types.sort(), Object.keys(doc['x-problem-types']).sort());
  const probs = await page.textContent('#problem-types');
  assert.match(probs, /errors/);
  assert.match(probs, /FieldError/);

  // the filter hides what does not match
  await page.fill('#filter', 'echo');
  assert.equal(await page.$$eval('article.op:not(.hidden)', (els) => els.length), 1);

  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, [], 'the page must not load anything from outside the server');
  await page.close();
});
