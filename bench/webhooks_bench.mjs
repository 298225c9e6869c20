// webhooks_bench.mjs — outgoing webhook delivery: events committed through
// the API (category creations) → the event consumer → delivery jobs → a
// local receiver.  Prints deliveries/s, the delay from an event's commit
// (the API answer) to its arrival at the receiver (p50/p99), and the
// server's peak RSS.  Run by bench/webhooks.sh.
import { readFileSync } from 'node:fs';
import { startServer, req } from '../tests/api/lib/server.mjs';
import { startReceiver } from '../tests/api/lib/receiver.mjs';

const N = Number(process.argv[2] || 2000);
const CONC = Number(process.argv[3] || 16);
const TOKEN = 'adm_' + 'b'.repeat(40);
const auth = { authorization: `Bearer ${TOKEN}` };
const committed = new Map();
const arrived = new Map();
const rcv = await startReceiver({ respond: (r) => { const b = JSON.parse(r.body); arrived.set(b.data.id, r.at); return { status: 204 }; } });
const srv = await startServer({
  env: { MERCATO_ADMIN_TOKEN: TOKEN, MERCATO_WORKERS: process.env.WORKERS || '4', MERCATO_ACCESS_LOG: 'false', MERCATO_RATE_USER: '1000000000', MERCATO_RATE_ANON: '1000000000' },
  args: ['--webhook-allow-private'],
});
const ep = await req(srv.url, 'POST', '/v1/admin/webhook-endpoints', { headers: auth, body: { url: rcv.url, event_types: ['category.*'] } });
if (ep.status !== 201) throw new Error(ep.text);
const t0 = Date.now();
let next = 0;
async function worker() {
  while (next < N) {
    const i = next++;
    const r = await req(srv.url, 'POST', '/v1/categories', { headers: auth, body: { name: `Bench ${i} ${t0}` } });
    if (r.status !== 201) throw new Error(r.text);
    committed.set(r.body.id, Date.now());
  }
}
await Promise.all(Array.from({ length: CONC }, worker));
const tCommitted = Date.now();
while (arrived.size < N) await new Promise((r) => setTimeout(r, 20));
const tDone = Date.now();
const rss = readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/)[1];
const delays = [...committed].map(([id, t]) => arrived.get(id) - t).sort((a, b) => a - b);
const pct = (p) => delays[Math.min(delays.length - 1, Math.floor(delays.length * p))];
console.log(`events: ${N} (API concurrency ${CONC}), workers ${process.env.WORKERS || 4}, ${srv.dbUrl.split(':')[0]}`);
console.log(`commit rate: ${(N / ((tCommitted - t0) / 1000)).toFixed(0)} events/s; delivered all ${N} in ${((tDone - t0) / 1000).toFixed(2)} s = ${(N / ((tDone - t0) / 1000)).toFixed(0)} deliveries/s`);
console.log(`commit → receiver delay: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${delays[delays.length - 1]} ms`);
console.log(`server peak RSS: ${(Number(rss) / 1024).toFixed(1)} MiB`);
const warns = srv.logs.filter((l) => l.json && l.json.level !== "info");
if (warns.length) console.log(`server warnings: ${warns.length}; first: ${warns[0].raw.slice(0, 300)}`);
await srv.stop();
await rcv.close();
