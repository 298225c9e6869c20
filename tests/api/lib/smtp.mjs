// smtp.mjs — a real SMTP server (npm smtp-server) for email tests.
//
// Listens on 127.0.0.1 on a free port, accepts every message, parses it
// with mailparser and keeps it.  waitFor() resolves with the first message
// (new or already received) that matches a predicate.  STARTTLS is not
// offered: the server has no certificate the client would trust, and the
// client only upgrades when the server offers it (CURLUSESSL_TRY).
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

export async function startSmtp() {
  const messages = [];
  const waiters = [];
  const server = new SMTPServer({
    authOptional: true,
    hideSTARTTLS: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        try {
          const parsed = await simpleParser(raw);
          const msg = {
            raw,
            envelope: { from: session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address) },
            subject: parsed.subject,
            text: parsed.text || '',
            html: parsed.html || '',
            headers: parsed.headers,
          };
          messages.push(msg);
          for (const w of [...waiters]) if (w.pred(msg)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(msg); }
          callback();
        } catch (e) {
          callback(e);
        }
      });
    },
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.server.address().port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    /** Resolves with the first message for which pred(msg) is true. */
    waitFor(pred, timeoutMs = 15000) {
      const have = messages.find(pred);
      if (have) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) { waiters.splice(i, 1); reject(new Error('no matching email within ' + timeoutMs + ' ms')); } }, timeoutMs);
      });
    },
    close() { return new Promise((resolve) => server.close(resolve)); },
  };
}

/** The 6-digit code in a message's plain-text part. */
export function codeOf(msg) {
  const m = /code is: (\d{6})/.exec(msg.text);
  if (!m) throw new Error('no code in message: ' + msg.text);
  return m[1];
}
