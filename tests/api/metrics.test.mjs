// metrics.test.mjs — /metrics is valid Prometheus text (promtool check
// metrics from Debian's prometheus package, which also lints names, units
// and help texts) after traffic on several routes and status codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, req } from './lib/server.mjs';

test('promtool check metrics accepts /metrics', async () => {
  const srv = await startServer();
  try {
    await req(srv.url, 'GET', '/healthz');
    await req(srv.url, 'GET', '/readyz');
    await req(srv.url, 'POST', '/v1/echo', { body: { a: 1 } });
    await req(srv.url, 'POST', '/v1/echo', { raw: '{', headers: { 'content-type': 'application/json' } });
    await req(srv.url, 'DELETE', '/healthz');
    await req(srv.url, 'GET', '/nowhere');
    for (let i = 0; i < 3; i++) assert.equal((await req(srv.url, 'POST', '/v1/carts', { body: {} })).status, 201);
    const r = await req(srv.url, 'GET', '/metrics');
    assert.equal(r.status, 200);
    const p = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
    assert.equal(p.error, undefined, 'promtool is missing: run scripts/deps.sh');
    assert.equal(p.status, 0, `promtool check metrics:\n${p.stdout}${p.stderr}\n--- metrics ---\n${r.text}`);
    assert.equal((p.stdout + p.stderr).trim(), '');
    // the families the issue asks for, with route templates as labels
    assert.match(r.text, /mercato_http_requests_total\{method="POST",route="\/v1\/echo",status="400"\} 1\n/);
    assert.match(r.text, /mercato_http_requests_total\{method="any",route="unmatched",status="404"\} 1\n/);
    assert.match(r.text, /mercato_http_request_duration_seconds_count\{method="POST",route="\/v1\/echo"\} 2\n/);
    if ((process.env.MERCATO_TEST_DB || 'sqlite') === 'sqlite') {
      // the carts' transactions were led: the leaders' CPU is counted, and
      // is part of their wall time
      const num = (name) => Number((r.text.match(new RegExp(`^${name} (\\S+)$`, 'm')) || [])[1]);
      const wall = num('mercato_db_group_leader_seconds_total');
      const cpu = num('mercato_db_group_leader_cpu_seconds_total');
      assert.ok(wall > 0 && cpu > 0 && cpu <= wall * 1.01, `leader wall ${wall}, cpu ${cpu}`);
    }
  } finally {
    await srv.stop();
  }
});
