// server.mjs — starts the real mercato binary for black-box API tests.
//
// Each call gets its own database: a fresh SQLite file in a temp dir, or a
// fresh PostgreSQL database on the suite's throw-away cluster
// (MERCATO_TEST_DB=postgres, MERCATO_TEST_PG=postgres://user@host:port).
// The server listens on port 0; the port is read from its "listening" log
// line.  Every log line is kept so tests can assert on logs.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const BIN = process.env.MERCATO_BIN || new URL('../../../build/debug/mercato', import.meta.url).pathname;
export const BACKEND = process.env.MERCATO_TEST_DB || 'sqlite';

/** Creates an empty database and returns its DATABASE_URL. */
export function freshDatabase() {
  if (BACKEND === 'postgres') {
    const base = process.env.MERCATO_TEST_PG;
    if (!base) throw new Error('MERCATO_TEST_PG is not set');
    const name = 't_' + randomBytes(6).toString('hex');
    const u = new URL(base);
    execFileSync('createdb', ['-h', u.hostname, '-p', u.port, '-U', u.username || 'mercato', name]);
    return { url: `${base}/${name}`, cleanup() {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'mercato-api-'));
  return { url: `sqlite:${dir}/test.db`, dir, cleanup() { rmSync(dir, { recursive: true, force: true }); } };
}

/**
 * Starts `mercato serve`.  Options: env (extra environment), args (extra
 * flags), db (reuse a database from freshDatabase()), cmd (subcommand).
 * Returns { url, port, proc, logs, dbUrl, stop(signal) }.
 */
export async function startServer(opts = {}) {
  const db = opts.db || freshDatabase();
  const cmd = opts.cmd || 'serve';
  const args = cmd === 'serve' ? ['serve', '--port', '0', '--shutdown-timeout', '5', ...(opts.args || [])]
    : [cmd, ...(opts.args || [])];
  const readyRe = opts.ready || /listening on http:\/\/[\d.]+:(\d+)/;
  const env = { ...process.env, DATABASE_URL: db.url, MERCATO_DATA_DIR: db.dir || mkdtempSync(join(tmpdir(), 'mercato-data-')), ...(opts.env || {}) };
  const proc = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  let port = null;
  let buf = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start:\n' + logs.map(l => l.raw).join('\n'))), 20000);
    proc.stderr.on('data', (chunk) => {
      buf += chunk.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let parsed = null;
        try { parsed = JSON.parse(line); } catch { /* not JSON: keep raw */ }
        logs.push({ raw: line, json: parsed });
        const m = readyRe.exec(line);
        if (m && !port) { port = Number(m[1] || -1); clearTimeout(timer); resolve(); }
      }
    });
    proc.on('exit', (code) => { clearTimeout(timer); if (!port) reject(new Error(`server exited with ${code}:\n` + logs.map(l => l.raw).join('\n'))); });
  });
  proc.stdout.on('data', () => {});
  await ready;
  let stopping = false;
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    // a server that dies under a test: show why (a sanitizer report, an
    // assertion) in the test output, not only "fetch failed"
    if (!stopping && (code || (signal && !['SIGTERM', 'SIGINT', 'SIGKILL'].includes(signal)))) {
      process.stderr.write(`mercato exited unexpectedly (code ${code}, signal ${signal}); its last lines:\n` +
        (logs.slice(-60).map((l) => l.raw).join('\n') + '\n' + buf).slice(-20000) + '\n');
    }
    resolve({ code, signal });
  }));
  const server = {
    port,
    url: `http://127.0.0.1:${port}`,
    proc,
    logs,
    db,
    dbUrl: db.url,
    exited,
    async stop(signal = 'SIGTERM') {
      stopping = true;
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const r = await exited;
      if (!opts.db && !opts.keepDb) db.cleanup();
      return r;
    },
  };
  return server;
}

/** Runs a mercato CLI command against a database; returns { code, stdout, stderr }. */
export function cli(dbUrl, args, env = {}) {
  try {
    const stdout = execFileSync(BIN, args, { env: { ...process.env, DATABASE_URL: dbUrl, MERCATO_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    return { code: e.status, stdout: e.stdout?.toString() || '', stderr: e.stderr?.toString() || '' };
  }
}

/** Polls fn until it returns a truthy value (or throws after timeoutMs). */
export async function eventually(fn, timeoutMs = 10000, what = 'condition') {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

/** fetch + JSON helper: returns { status, headers, body, text }. */
export async function req(base, method, path, { body, headers = {}, raw } = {}) {
  const h = { ...headers };
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) { payload = JSON.stringify(body); h['content-type'] ??= 'application/json'; }
  const res = await fetch(base + path, { method, headers: h, body: payload });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body: json, text };
}
