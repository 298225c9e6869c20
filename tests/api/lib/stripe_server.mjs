// stripe_server.mjs — a local HTTP server that answers like Stripe's REST API
// for the calls mercato makes: create+confirm PaymentIntent, retrieve it,
// create a Refund.  Bodies follow Stripe's documented objects
// (https://docs.stripe.com/api/payment_intents/object, /api/refunds/object,
// /api/errors).  It enforces what Stripe enforces for us: the bearer key,
// form encoding, and Idempotency-Key (same key → the same answer again).
//
// Test payment methods (Stripe's test-mode names):
//   pm_card_visa                     succeeded
//   pm_card_chargeDeclined           402 card_error, PaymentIntent requires_payment_method
//   pm_card_authenticationRequired   requires_action with a client_secret
//   pm_card_processing               processing (not a Stripe name; for the test)
//   pm_server_error                  500 api_error
//
// Run as a program it prints "listening <port>" and serves until killed;
// GET /__requests answers the log of requests received.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';

const KEY = 'sk_test_mercato';
const rid = (p) => `${p}_${randomBytes(12).toString('hex')}`;
const now = () => Math.floor(Date.now() / 1000);

export async function startStripeServer() {
  const requests = [];
  const intents = new Map();
  const byKey = new Map();
  const server = createServer((rq, rs) => {
    const chunks = [];
    rq.on('data', (c) => chunks.push(c));
    rq.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(rq.url, 'http://x');
      const entry = { method: rq.method, path: url.pathname, query: url.search, headers: rq.headers, body };
      if (url.pathname !== '/__requests') requests.push(entry);
      const send = (status, obj) => { rs.writeHead(status, { 'content-type': 'application/json', 'request-id': rid('req') }); rs.end(JSON.stringify(obj, null, 2)); };
      if (url.pathname === '/__requests') return send(200, requests);
      if (rq.headers.authorization !== `Bearer ${KEY}`)
        return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided: sk_test_***' } });
      if (rq.method === 'POST' && rq.headers['content-type'] !== 'application/x-www-form-urlencoded')
        return send(400, { error: { type: 'invalid_request_error', message: 'Invalid request: form encoding expected' } });
      const idem = rq.headers['idempotency-key'];
      const cacheKey = idem && `${rq.method} ${url.pathname} ${idem}`;
      if (cacheKey && byKey.has(cacheKey)) {
        const prev = byKey.get(cacheKey);
        if (prev.body !== body)
          return send(400, { error: { type: 'idempotency_error', message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.' } });
        rs.setHeader('idempotent-replayed', 'true');
        return send(prev.status, prev.answer);
      }
      const remember = (status, answer) => { if (cacheKey) byKey.set(cacheKey, { body, status, answer }); send(status, answer); };
      const f = new URLSearchParams(body);
      if (rq.method === 'POST' && url.pathname === '/v1/payment_intents') {
        const pm = f.get('payment_method');
        if (pm === 'pm_server_error') return send(500, { error: { type: 'api_error', message: 'An unknown error occurred' } });
        if (!f.get('amount') || !/^\d+$/.test(f.get('amount')) || !f.get('currency'))
          return remember(400, { error: { type: 'invalid_request_error', message: 'Missing required param: amount.', param: 'amount' } });
        const id = rid('pi');
        const charge = rid('ch');
        const pi = {
          id, object: 'payment_intent', amount: Number(f.get('amount')), amount_capturable: 0, amount_received: 0,
          currency: f.get('currency'), capture_method: 'automatic', confirmation_method: 'automatic',
          client_secret: `${id}_secret_${randomBytes(8).toString('hex')}`, created: now(), livemode: false,
          latest_charge: null, last_payment_error: null, payment_method: pm, receipt_email: f.get('receipt_email'),
          metadata: { payment_id: f.get('metadata[payment_id]'), order_id: f.get('metadata[order_id]') },
          next_action: null, status: 'requires_payment_method',
        };
        if (pm === 'pm_card_visa') Object.assign(pi, { status: 'succeeded', amount_received: pi.amount, latest_charge: charge });
        else if (pm === 'pm_card_authenticationRequired') Object.assign(pi, { status: 'requires_action', next_action: { type: 'use_stripe_sdk', use_stripe_sdk: {} } });
        else if (pm === 'pm_card_processing') Object.assign(pi, { status: 'processing', latest_charge: charge });
        else if (pm === 'pm_card_chargeDeclined') {
          pi.last_payment_error = { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.', charge };
          pi.latest_charge = charge;
          intents.set(id, { pi, refunded: 0 });
          return remember(402, { error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', charge, message: 'Your card was declined.', payment_intent: pi } });
        }
        intents.set(id, { pi, refunded: 0 });
        return remember(200, pi);
      }
      let m;
      if (rq.method === 'GET' && (m = url.pathname.match(/^\/v1\/payment_intents\/([A-Za-z0-9_]+)$/))) {
        const it = intents.get(m[1]);
        if (!it) return send(404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such payment_intent: '${m[1]}'` } });
        const pi = { ...it.pi };
        if (url.searchParams.getAll('expand[]').includes('latest_charge') && pi.latest_charge)
          pi.latest_charge = { id: pi.latest_charge, object: 'charge', amount: pi.amount, amount_refunded: it.refunded, refunded: it.refunded >= pi.amount, payment_intent: pi.id, status: 'succeeded' };
        return send(200, pi);
      }
      if (rq.method === 'POST' && url.pathname === '/v1/refunds') {
        const it = intents.get(f.get('payment_intent'));
        if (!it) return remember(404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such payment_intent: '${f.get('payment_intent')}'` } });
        if (it.pi.status !== 'succeeded') return remember(400, { error: { type: 'invalid_request_error', code: 'charge_not_refundable', message: 'This PaymentIntent has no successful charge to refund.' } });
        const amount = f.get('amount') ? Number(f.get('amount')) : it.pi.amount - it.refunded;
        if (amount > it.pi.amount - it.refunded) return remember(400, { error: { type: 'invalid_request_error', code: 'amount_too_large', message: 'Refund amount is greater than unrefunded amount on charge.' } });
        it.refunded += amount;
        return remember(200, { id: rid('re'), object: 'refund', amount, charge: it.pi.latest_charge, created: now(), currency: it.pi.currency, metadata: {}, payment_intent: it.pi.id, reason: null, status: 'succeeded' });
      }
      return send(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${rq.method}: ${url.pathname}).` } });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  // settle(): what Stripe does when a processing PaymentIntent completes
  const settle = (id, status = 'succeeded') => {
    const it = intents.get(id);
    if (!it) throw new Error(`no PaymentIntent ${id}`);
    Object.assign(it.pi, { status, amount_received: status === 'succeeded' ? it.pi.amount : 0 });
    return { ...it.pi };
  };
  return { port: server.address().port, requests, intents: () => [...intents.values()].map((it) => it.pi), settle, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await startStripeServer();
  process.stdout.write(`listening ${s.port}\n`);
  process.on('SIGTERM', async () => { await s.close(); process.exit(0); });
}
