// stripe_sign.mjs — prints a Stripe-Signature header made by the official
// `stripe` npm package (stripe.webhooks.generateTestHeaderString), so the C
// verifier is checked against Stripe's own signing code.
//   node stripe_sign.mjs SECRET TIMESTAMP < payload
import Stripe from 'stripe';

const [secret, timestamp] = process.argv.slice(2);
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const payload = Buffer.concat(chunks).toString('utf8');
const stripe = new Stripe('sk_test_unused');
process.stdout.write(stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Number(timestamp) }) + '\n');
