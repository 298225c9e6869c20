// receiver.mjs — a real local HTTP server that receives webhooks.
//
// Listens on a free port (host 127.0.0.1 by default), keeps every request
// (method, path, headers, raw body, arrival time) and answers with
// respond(request, index) → { status, headers, body } (200 by default).
import { createServer } from 'node:http';

export async function startReceiver({ host = '127.0.0.1', respond } = {}) {
  const requests = [];
  const server = createServer((rq, rs) => {
    const chunks = [];
    rq.on('data', (c) => chunks.push(c));
    rq.on('end', () => {
      const r = { method: rq.method, path: rq.url, headers: rq.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      requests.push(r);
      const a = (respond && respond(r, requests.length - 1)) || {};
      rs.writeHead(a.status || 200, { 'content-type': 'text/plain', ...(a.headers || {}) });
      rs.end(a.body ?? 'ok');
    });
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  const { port } = server.address();
  const h = host.includes(':') ? `[${host}]` : host;
  return {
    port,
    url: `http://${h}:${port}`,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}
