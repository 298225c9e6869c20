// jobs.test.mjs — the job queue's operations surface over real HTTP and the
// CLI: admin-only access, counts, listing with cursors, retry and discard,
// metrics, and a separate `mercato worker` process doing the work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, req, cli, eventually, freshDatabase } from './lib/server.mjs';

const TOKEN = 'adm_' + 'k'.repeat(40);
const auth = { authorization: `Bearer ${TOKEN}` };
let srv;

before(async () => {
  srv = await startServer({ env: { MERCATO_ADMIN_TOKEN: TOKEN, MERCATO_WORKERS: '1', MERCATO_JOB_POLL_MS: '20' } });
});
after(async () => { assert.equal((await srv.stop()).code, 0); });

const getJob = async (id) => (await req(srv.url, 'GET', `/v1/admin/jobs/${id}`, { headers: auth })).body;

test('admin routes need the admin token', async () => {
  let r = await req(srv.url, 'GET', '/v1/admin/jobs');
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  r = await req(srv.url, 'GET', '/v1/admin/jobs', { headers: { authorization: 'Bearer wrong' } });
  assert.equal(r.status, 401);
  r = await req(srv.url, 'POST', '/v1/admin/jobs/job_1/retry', { headers: { authorization: 'Bearer ' + TOKEN.slice(0, -1) } });
  assert.equal(r.status, 401);
});

test('a job without a handler dies after its attempts; retry revives it; discard ends it', async () => {
  const out = cli(srv.dbUrl, ['jobs', 'enqueue', 'nosuch.queue', '{"order":"ord_1"}', '--max-attempts', '1']);
  assert.equal(out.code, 0, out.stderr);
  const id = out.stdout.trim();
  assert.match(id, /^job_\d+$/);
  let job = await eventually(async () => { const j = await getJob(id); return j.state === 'dead' && j; }, 15000, 'dead job');
  assert.equal(job.queue, 'nosuch.queue');
  assert.deepEqual(job.payload, { order: 'ord_1' });
  assert.equal(job.attempts, 1);
  assert.equal(job.errors.length, 1);
  assert.match(job.errors[0].error, /no handler/);
  assert.match(job.finished_at, /^\d{4}-\d\d-\d\dT/);

  let r = await req(srv.url, 'GET', '/v1/admin/queues/nosuch.queue/jobs?state=dead', { headers: auth });
  assert.equal(r.status, 200);
  assert.ok(r.body.data.some((j) => j.id === id));

  r = await req(srv.url, 'POST', `/v1/admin/jobs/${id}/retry`, { headers: auth });
  assert.equal(r.status, 200);
  assert.equal(r.body.state, 'queued');
  assert.equal(r.body.attempts, 0);
  job = await eventually(async () => { const j = await getJob(id); return j.state === 'dead' && j; }, 15000, 'dead again');
  assert.equal(job.errors.length, 2, 'history is kept across a manual retry');

  r = await req(srv.url, 'POST', `/v1/admin/jobs/${id}/discard`, { headers: auth });
  assert.equal(r.status, 200);
  assert.equal(r.body.state, 'discarded');
  r = await req(srv.url, 'POST', `/v1/admin/jobs/${id}/discard`, { headers: auth });
  assert.equal(r.status, 409);
  assert.equal(r.body.status, 409);
});

test('unknown jobs are 404; malformed ids are 404', async () => {
  for (const id of ['job_999999', 'job_x', '12', 'job_']) {
    const r = await req(srv.url, 'GET', `/v1/admin/jobs/${id}`, { headers: auth });
    assert.equal(r.status, 404, id);
  }
  const r = await req(srv.url, 'POST', '/v1/admin/jobs/job_999999/retry', { headers: auth });
  assert.equal(r.status, 404);
});

test('counts per queue and state, schedules, CLI stats agree', async () => {
  const r = await req(srv.url, 'GET', '/v1/admin/jobs', { headers: auth });
  assert.equal(r.status, 200);
  const q = r.body.queues.find((x) => x.queue === 'nosuch.queue');
  assert.ok(q);
  for (const s of ['queued', 'running', 'completed', 'dead', 'discarded']) assert.equal(typeof q[s], 'number');
  assert.ok(r.body.schedules.some((s) => s.name === 'system.purge' && s.cron === '*/10 * * * *'));
  const stats = JSON.parse(cli(srv.dbUrl, ['jobs', 'stats']).stdout);
  assert.deepEqual(stats.totals, r.body.totals);
});

test('listing pages with cursors: no duplicates, no gaps', async () => {
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(cli(srv.dbUrl, ['jobs', 'enqueue', 'paged.queue', `{"i":${i}}`, '--max-attempts', '1']).stdout.trim());
  await eventually(async () => {
    const r = await req(srv.url, 'GET', '/v1/admin/queues/paged.queue/jobs?state=dead&limit=10', { headers: auth });
    return r.body.data.length === 5;
  }, 15000, 'five dead jobs');
  const seen = [];
  let cursor = null;
  for (let page = 0; page < 5; page++) {
    const r = await req(srv.url, 'GET', `/v1/admin/queues/paged.queue/jobs?state=dead&limit=2${cursor ? '&cursor=' + cursor : ''}`, { headers: auth });
    assert.equal(r.status, 200);
    seen.push(...r.body.data.map((j) => j.id));
    cursor = r.body.next_cursor;
    if (!cursor) break;
  }
  assert.deepEqual(seen, [...ids].reverse());
});

test('bad query parameters -> 400 with errors[]', async () => {
  const r = await req(srv.url, 'GET', '/v1/admin/queues/q/jobs?state=bogus&limit=0&cursor=%21%21', { headers: auth });
  assert.equal(r.status, 400);
  const fields = r.body.errors.map((e) => e.field).sort();
  assert.deepEqual(fields, ['cursor', 'limit', 'state']);
});

test('job metrics are exported', async () => {
  const r = await req(srv.url, 'GET', '/metrics');
  assert.match(r.text, /mercato_jobs_processed_total\{queue="other",outcome="dead"\} [1-9]/);
  assert.match(r.text, /mercato_jobs\{queue="paged\.queue",state="dead"\} 5/);
  assert.match(r.text, /mercato_job_duration_seconds_bucket\{queue="system\.purge",le="\+Inf"\}/);
});

test('CLI: bad arguments exit non-zero with a message', () => {
  let out = cli(srv.dbUrl, ['jobs', 'retry']);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /needs one job id/);
  out = cli(srv.dbUrl, ['jobs', 'list', '--state', 'nope']);
  assert.equal(out.code, 2);
  out = cli(srv.dbUrl, ['jobs', 'frobnicate']);
  assert.equal(out.code, 2);
});

test('mercato worker processes jobs for an API-only instance and drains on SIGTERM', async () => {
  const db = freshDatabase();
  const api = await startServer({ db, env: { MERCATO_ADMIN_TOKEN: TOKEN, MERCATO_WORKERS: '0' } });
  const worker = await startServer({ db, cmd: 'worker', ready: /job runtime started/, env: { MERCATO_WORKERS: '2', MERCATO_JOB_POLL_MS: '20' } });
  try {
    const id = cli(db.url, ['jobs', 'enqueue', 'elsewhere', '{}', '--max-attempts', '1']).stdout.trim();
    const j = await eventually(async () => {
      const r = await req(api.url, 'GET', `/v1/admin/jobs/${id}`, { headers: auth });
      return r.body.state === 'dead' && r.body;
    }, 15000, 'the worker to process the job');
    assert.match(j.errors[0].error, /no handler/);
    assert.ok(!worker.logs.some((l) => /listening/.test(l.raw)), 'a worker without --worker-port has no listener');
  } finally {
    const w = await worker.stop();
    assert.equal(w.code, 0);
    await api.stop();
    db.cleanup();
  }
});
