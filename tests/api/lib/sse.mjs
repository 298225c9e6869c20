// sse.mjs — a Server-Sent Events client for API tests (node:http, no
// EventSource: it must send bearer tokens and Last-Event-ID).  Events are
// parsed as they arrive; waitFor() resolves when a predicate over the
// stream holds.
import http from 'node:http';

export function openStream(port, path, headers = {}) {
  const s = { status: 0, headers: null, events: [], comments: [], retry: null, ended: false, waiters: [] };
  const check = () => { for (const w of [...s.waiters]) if (w.pred(s)) { s.waiters.splice(s.waiters.indexOf(w), 1); w.resolve(s); } };
  s.response = new Promise((resolve, reject) => {
    s.req = http.get({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      s.status = res.statusCode;
      s.headers = res.headers;
      s.res = res;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = { id: null, event: 'message', data: '' };
          let isEvent = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) { s.comments.push(line.slice(1).trim()); continue; }
            const c = line.indexOf(':');
            const k = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (k === 'retry') s.retry = Number(v);
            else if (k === 'id') { ev.id = Number(v); isEvent = true; } else if (k === 'event') { ev.event = v; isEvent = true; } else if (k === 'data') { ev.data += v; isEvent = true; }
          }
          if (isEvent) { ev.json = ev.data ? JSON.parse(ev.data) : null; s.events.push(ev); }
        }
        check();
      });
      res.on('end', () => { s.ended = true; check(); });
      res.on('error', () => { s.ended = true; check(); });
      resolve(s);
    });
    s.req.on('error', (e) => { s.ended = true; check(); if (!s.status) reject(e); });
  });
  s.waitFor = (pred, ms = 15000, what = 'stream condition') => {
    if (pred(s)) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      s.waiters.push(w);
      setTimeout(() => { const i = s.waiters.indexOf(w); if (i >= 0) { s.waiters.splice(i, 1); reject(new Error(`timed out waiting for ${what}; events ${JSON.stringify(s.events.map((e) => [e.id, e.event]))}`)); } }, ms);
    });
  };
  s.close = () => { s.req.destroy(); };
  return s;
}

