// openapi.test.mjs — the OpenAPI document: generated from the fragments,
// lints clean with @redocly/cli, served as committed, and in step with the
// routes the binary mounts and the problem types the code answers with.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { startServer, req, BIN } from './lib/server.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const DOC_PATH = join(ROOT, 'docs/openapi.json');
const MERGE = join(dirname(BIN), 'tools/openapi_merge');
const REDOCLY = join(ROOT, 'tests/api/node_modules/.bin/redocly');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const doc = JSON.parse(readFileSync(DOC_PATH, 'utf8'));

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

function fragments() {
  return readdirSync(join(ROOT, 'docs/openapi')).filter((f) => f.endsWith('.json')).sort().map((f) => join(ROOT, 'docs/openapi', f));
}

test('docs/openapi.json is the merge of docs/openapi/*.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mercato-oas-'));
  try {
    const out = join(dir, 'openapi.json');
    execFileSync(MERGE, [out, ...fragments()]);
    assert.equal(readFileSync(out, 'utf8'), readFileSync(DOC_PATH, 'utf8'),
      'docs/openapi.json is stale: run make to regenerate it from docs/openapi/*.json');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('openapi_merge refuses duplicate paths, components and top-level members', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mercato-oas-'));
  try {
    const base = join(dir, '00-base.json');
    writeFileSync(base, JSON.stringify({ openapi: '3.1.0', info: { title: 't', version: '1' }, tags: [{ name: 'a' }], paths: { '/x': { get: {} } }, components: { schemas: { S: {} } } }));
    const cases = [
      [{ paths: { '/x': { post: {} } } }, /duplicate paths\["\/x"\]/],
      [{ components: { schemas: { S: {} } } }, /duplicate components\/schemas\["S"\]/],
      [{ info: {} }, /duplicate top-level member 'info'/],
      [{ tags: [{ name: 'a' }] }, /duplicate tag 'a'/],
    ];
    for (const [frag, msg] of cases) {
      const f = join(dir, '10-mod.json');
      writeFileSync(f, JSON.stringify(frag));
      const r = spawnSync(MERGE, [join(dir, 'out.json'), base, f], { encoding: 'utf8' });
      assert.equal(r.status, 1, JSON.stringify(frag));
      assert.match(r.stderr, msg);
      assert.match(r.stderr, /00-base\.json/, 'names the fragment that defined it first');
    }
    // a fragment that adds new keys merges fine, in file-name order
    writeFileSync(join(dir, '10-mod.json'), JSON.stringify({ tags: [{ name: 'b' }], paths: { '/y': { get: {} } }, components: { schemas: { T: {} }, parameters: { P: {} } } }));
    execFileSync(MERGE, [join(dir, 'out.json'), base, join(dir, '10-mod.json')]);
    const merged = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
    assert.deepEqual(Object.keys(merged.paths), ['/x', '/y']);
    assert.deepEqual(Object.keys(merged.components.schemas), ['S', 'T']);
    assert.deepEqual(merged.tags.map((t) => t.name), ['a', 'b']);
    assert.ok(merged.components.parameters.P);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('redocly lint: no errors', () => {
  assert.ok(existsSync(REDOCLY), 'tests/api/node_modules is missing: run scripts/deps.sh (npm ci in tests/api)');
  const r = spawnSync(REDOCLY, ['lint', DOC_PATH, '--config', join(ROOT, 'docs/openapi/redocly.yaml'), '--format=json'],
    { encoding: 'utf8', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } });
  let report;
  try { report = JSON.parse(r.stdout); } catch { assert.fail('redocly gave no JSON report:\n' + r.stdout + r.stderr); }
  const errors = report.problems.filter((p) => p.severity === 'error');
  assert.equal(report.totals.errors, 0, JSON.stringify(errors, null, 2));
  for (const w of report.problems.filter((p) => p.severity === 'warn')) console.log(`# lint warning ${w.ruleId}: ${w.message}`);
});

test('the served document is the committed one', async () => {
  const r = await req(srv.url, 'GET', '/openapi.json');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.text, readFileSync(DOC_PATH, 'utf8'));
});

test('every route is documented and every documented operation is routed', () => {
  const out = execFileSync(BIN, ['routes'], { encoding: 'utf8' });
  const routes = new Set(out.trim().split('\n').map((l) => l.trim()));
  assert.ok(routes.size >= 6, out);
  assert.ok(routes.has('GET /healthz'));
  const documented = new Set();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) if (item[m]) documented.add(`${m.toUpperCase()} ${path}`);
  }
  const undocumented = [...routes].filter((r) => !documented.has(r));
  const unrouted = [...documented].filter((d) => !routes.has(d));
  assert.deepEqual(undocumented, [], 'routes missing from docs/openapi/*.json');
  assert.deepEqual(unrouted, [], 'documented operations that no route serves');
});

test('every operation has an operationId, a tag known to the document, and a 4xx answer', () => {
  const tags = new Set((doc.tags || []).map((t) => t.name));
  const ids = new Set();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      assert.ok(op.operationId, `${m} ${path} lacks operationId`);
      assert.ok(!ids.has(op.operationId), `duplicate operationId ${op.operationId}`);
      ids.add(op.operationId);
      assert.ok(op.tags && op.tags.length && op.tags.every((t) => tags.has(t)), `${m} ${path} has an undeclared tag`);
      assert.ok(Object.keys(op.responses).some((c) => /^4/.test(c)), `${m} ${path} documents no 4xx`);
    }
  }
});

/** Problem type slugs answered by literal calls in src/. */
function problemSlugsInCode() {
  const slugs = new Map();
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.c')) {
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/http_respond_problem\w*\(\s*\w+,\s*(\d{3}),\s*"([a-z0-9-]+)"/g)) slugs.set(m[2], { status: Number(m[1]), file: p.slice(ROOT.length) });
      }
    }
  };
  walk(join(ROOT, 'src'));
  return slugs;
}

test('every problem type the code answers with is documented in x-problem-types', () => {
  const slugs = problemSlugsInCode();
  assert.ok(slugs.size >= 10);
  const types = doc['x-problem-types'] || {};
  for (const [slug, { status, file }] of slugs) {
    assert.ok(types[slug], `problem type '${slug}' (${file}) is not in x-problem-types`);
    assert.equal(types[slug].status, status, `status of '${slug}' (${file})`);
    assert.ok(types[slug].title && types[slug].description);
  }
});

test('the Problem schema follows RFC 9457 plus request_id and errors', () => {
  const p = doc.components.schemas.Problem;
  for (const k of ['type', 'title', 'status', 'detail', 'instance', 'request_id', 'errors']) assert.ok(p.properties[k], k);
  const fe = doc.components.schemas.FieldError;
  assert.deepEqual(fe.required, ['field', 'message']);
  assert.equal(doc.components.securitySchemes.bearerAuth.bearerFormat, 'JWT');
  assert.ok(doc.components.securitySchemes.oauth2.flows.clientCredentials.tokenUrl);
  assert.deepEqual(doc.components.schemas.Money.required, ['amount', 'currency']);
});
