// bench.mjs — BullMQ on a local redis doing what bench/jobs_bench.c does:
// enqueue one job per call, enqueue in bulk (1000 per addBulk), and process
// N no-op jobs with 2 workers.  Usage: node bench.mjs REDIS_PORT N CONCURRENCY
import { Queue, Worker } from 'bullmq';

const port = Number(process.argv[2]);
const n = Number(process.argv[3] || 50000);
const concurrency = Number(process.argv[4] || 1);
const connection = { host: '127.0.0.1', port };
const name = 'bench' + Date.now();
const queue = new Queue(name, { connection });
const opts = { removeOnComplete: false, attempts: 5, backoff: { type: 'exponential', delay: 1000 } };

const single = Math.floor(n / 10);
let t0 = performance.now();
for (let i = 0; i < single; i++) await queue.add('noop', {}, opts);
let secs = (performance.now() - t0) / 1000;
console.log(`bullmq   enqueue one-per-call          ${(single / secs).toFixed(0).padStart(8)} jobs/s  (${single} jobs)`);
await queue.obliterate({ force: true });

t0 = performance.now();
for (let done = 0; done < n; done += 1000) {
  const k = Math.min(1000, n - done);
  await queue.addBulk(Array.from({ length: k }, () => ({ name: 'noop', data: {}, opts })));
}
secs = (performance.now() - t0) / 1000;
console.log(`bullmq   enqueue bulk (1000/call)      ${(n / secs).toFixed(0).padStart(8)} jobs/s  (${n} jobs)`);

let completed = 0;
let resolveDone;
const done = new Promise((r) => { resolveDone = r; });
t0 = performance.now();
const workers = [0, 1].map(() => {
  const w = new Worker(name, async () => {}, { connection, concurrency });
  w.on('completed', () => { if (++completed === n) resolveDone(); });
  return w;
});
await done;
secs = (performance.now() - t0) / 1000;
const rss = Math.round(process.memoryUsage().rss / 1048576);
console.log(`bullmq   process no-op, 2 workers x${concurrency}  ${(n / secs).toFixed(0).padStart(8)} jobs/s  (${n} jobs, ${secs.toFixed(2)} s)  node RSS ${rss} MB`);
await Promise.all(workers.map((w) => w.close()));
await queue.obliterate({ force: true });
await queue.close();
