// catalog.test.mjs — catalog, search and reviews over real HTTP with real
// identity tokens (accounts made by `mercato user create`, signed in through
// POST /v1/auth/login): the seller → admin → published workflow, ownership
// rules, ETag / If-None-Match, search relevance, facets that add up,
// suggestions, cursor pagination without duplicates or gaps (on a demo
// catalog from `mercato seed --demo`), hostile query text, and reviews with
// replies, moderation and the product's rating.  Runs on SQLite and
// PostgreSQL (make test / make test-pg).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startServer, freshDatabase, req, BIN } from './lib/server.mjs';

const JWT_SECRET = 'cat-secret-' + randomBytes(24).toString('hex');
const PW = 'Pw-' + randomBytes(9).toString('base64url');

let srv, db;
const U = {}; // name -> { id, token }

function cliUser(dbc, role, email) {
  const args = ['user', 'create', ...(role === 'customer' ? [] : [`--${role}`]), '--email', email, '--password', '-', '--name', email.split('@')[0]];
  const out = execFileSync(BIN, args, { env: { ...process.env, DATABASE_URL: dbc.url, MERCATO_DATA_DIR: dbc.dir || '/tmp', MERCATO_LOG_LEVEL: 'warn' }, input: PW + '\n' });
  const m = /"id":"(usr_[^"]+)"/.exec(out.toString());
  assert.ok(m, out.toString());
  return m[1];
}

async function login(base, email) {
  const r = await req(base, 'POST', '/v1/auth/login', { body: { email, password: PW } });
  assert.equal(r.status, 200, r.text);
  return r.body.access_token;
}

const ENV = { MERCATO_JWT_SECRET: JWT_SECRET, MERCATO_JWT_KID: 'cat1' };

before(async () => {
  db = freshDatabase();
  const people = [['admin', 'admin'], ['sellerA', 'seller'], ['sellerB', 'seller'], ['alice', 'customer'], ['bob', 'customer'], ['carol', 'customer']];
  for (const [name, role] of people) U[name] = { id: cliUser(db, role, `${name.toLowerCase()}@shop.example`) };
  srv = await startServer({ db, env: ENV });
  for (const [name] of people) U[name].token = await login(srv.url, `${name.toLowerCase()}@shop.example`);
});

after(async () => {
  const r = await srv.stop();
  db.cleanup();
  assert.equal(r.code, 0);
});

// ---- helpers ----
const auth = (who) => (who ? { authorization: `Bearer ${U[who].token}` } : {});
const call = (who, method, path, body, headers = {}) =>
  req(srv.url, method, path, { body, headers: { ...auth(who), ...headers } });

function assertProblem(r, status, type) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(r.body.status, status);
  if (type) assert.equal(r.body.type, `https://mercato.dev/problems/${type}`);
}

let uniq = 0;
const tagOf = (s) => s + (uniq++).toString(36);

let categories;
async function cats() {
  if (categories) return categories;
  const mk = async (body) => {
    const r = await call('admin', 'POST', '/v1/categories', body);
    assert.equal(r.status, 201, r.text);
    return r.body;
  };
  const home = await mk({ name: 'Home' });
  const kitchen = await mk({ name: 'Kitchen', parent_id: home.id });
  const garden = await mk({ name: 'Garden', parent_id: home.id });
  const clothing = await mk({ name: 'Clothing' });
  categories = { home, kitchen, garden, clothing };
  return categories;
}

function productBody(title, { cat, price = 1999, tags = [], description = '', sku } = {}) {
  return {
    title, description, tags, category_id: cat,
    variants: [{ sku: sku || tagOf('SKU-'), price: { amount: price, currency: 'EUR' } }],
  };
}

/** Creates, submits and approves a product; returns its JSON. */
async function published(seller, title, opts = {}) {
  let r = await call(seller, 'POST', '/v1/products', productBody(title, opts));
  assert.equal(r.status, 201, r.text);
  const id = r.body.id;
  r = await call(seller, 'POST', `/v1/products/${id}/submit`);
  assert.equal(r.status, 200, r.text);
  r = await call('admin', 'POST', `/v1/products/${id}/approve`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'published');
  return r.body;
}

const qs = (o) => new URLSearchParams(o).toString();

// ---- workflow ----

test('seller creates a draft, submits; admin rejects with a reason, then approves; shoppers see it published', async () => {
  const c = await cats();
  // anonymous and customers cannot create
  assertProblem(await call(null, 'POST', '/v1/products', productBody('Nope')), 401, 'unauthorized');
  assertProblem(await call('alice', 'POST', '/v1/products', productBody('Nope')), 403, 'forbidden');

  let r = await call('sellerA', 'POST', '/v1/products', productBody('Cast Iron Skillet', { cat: c.kitchen.id, price: 3450, tags: ['Cookware', 'iron'] }));
  assert.equal(r.status, 201, r.text);
  const p = r.body;
  assert.equal(p.status, 'draft');
  assert.equal(p.seller_id, U.sellerA.id, 'the owner is the signed-in seller, not something from the body');
  assert.equal(r.headers.get('location'), `/v1/products/${p.id}`);
  assert.deepEqual(p.tags, ['cookware', 'iron']);
  assert.deepEqual(p.price_range.min, { amount: 3450, currency: 'EUR' });

  // a draft is private: 404 for anonymous, customers and other sellers
  for (const who of [null, 'alice', 'sellerB']) assertProblem(await call(who, 'GET', `/v1/products/${p.id}`), 404, 'not-found');
  r = await call('sellerA', 'GET', `/v1/products/${p.id}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'private, no-cache');
  r = await call('admin', 'GET', `/v1/products/${p.handle}`);
  assert.equal(r.status, 200, 'admins see drafts, by handle too');
  assert.equal(r.body.id, p.id);

  // only admins approve; approving a draft is a conflict
  assertProblem(await call('sellerA', 'POST', `/v1/products/${p.id}/approve`), 403, 'forbidden');
  assertProblem(await call('admin', 'POST', `/v1/products/${p.id}/approve`), 409, 'conflict');

  r = await call('sellerA', 'POST', `/v1/products/${p.id}/submit`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'pending_review');
  assertProblem(await call('sellerA', 'PATCH', `/v1/products/${p.id}`, { title: 'Edit while pending' }), 409, 'conflict');

  // reject needs a reason
  assertProblem(await call('admin', 'POST', `/v1/products/${p.id}/reject`, {}), 422, 'validation-failed');
  assertProblem(await call('sellerA', 'POST', `/v1/products/${p.id}/reject`, { reason: 'self' }), 403, 'forbidden');
  r = await call('admin', 'POST', `/v1/products/${p.id}/reject`, { reason: 'Photos missing' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'rejected');
  assert.equal(r.body.reject_reason, 'Photos missing');
  r = await call('sellerA', 'GET', `/v1/products/${p.id}`);
  assert.equal(r.body.reject_reason, 'Photos missing', 'the seller reads why');

  // editing a rejected product returns it to draft; then submit and approve
  r = await call('sellerA', 'PATCH', `/v1/products/${p.id}`, { description: 'Pre-seasoned, 26 cm.' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'draft');
  assert.equal(r.body.reject_reason, undefined);
  r = await call('sellerA', 'POST', `/v1/products/${p.id}/submit`);
  assert.equal(r.body.status, 'pending_review');
  r = await call('admin', 'POST', `/v1/products/${p.id}/approve`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'published');
  assert.ok(r.body.published_at);

  // now public: by id, by handle, in the list, in the category (and its parent), in search
  r = await call(null, 'GET', `/v1/products/${p.id}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'public, no-cache');
  assert.equal(r.body.description, 'Pre-seasoned, 26 cm.');
  assert.equal((await call(null, 'GET', `/v1/products/${p.handle}`)).body.id, p.id);
  r = await call(null, 'GET', `/v1/products?${qs({ category: c.home.slug, limit: 100 })}`);
  assert.ok(r.body.items.some((x) => x.id === p.id), 'a parent category includes its descendants');
  r = await call(null, 'GET', `/v1/products?${qs({ category: c.garden.id, limit: 100 })}`);
  assert.ok(!r.body.items.some((x) => x.id === p.id));
  r = await call(null, 'GET', `/v1/search?${qs({ q: 'skillet' })}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.items[0]?.id, p.id);

  // archive: owner may; it leaves the public catalog
  r = await call('sellerA', 'POST', `/v1/products/${p.id}/archive`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'archived');
  assertProblem(await call(null, 'GET', `/v1/products/${p.id}`), 404, 'not-found');
  r = await call(null, 'GET', `/v1/search?${qs({ q: 'skillet' })}`);
  assert.ok(!r.body.items.some((x) => x.id === p.id), 'archived products leave the index (and the cached answer)');
  r = await call(null, 'GET', `/v1/products?${qs({ category: c.home.slug, limit: 100 })}`);
  assert.ok(!r.body.items.some((x) => x.id === p.id), 'the cached list page was retired too');
  assertProblem(await call('sellerA', 'POST', `/v1/products/${p.id}/archive`), 409, 'conflict');
});

test('ownership: a seller cannot read, edit, submit or archive another seller\'s product; admins can edit any', async () => {
  const c = await cats();
  let r = await call('sellerA', 'POST', '/v1/products', productBody('Owned by A', { cat: c.kitchen.id }));
  assert.equal(r.status, 201);
  const id = r.body.id;
  for (const [m, path, body] of [
    ['PATCH', `/v1/products/${id}`, { title: 'Stolen' }],
    ['POST', `/v1/products/${id}/submit`, undefined],
    ['POST', `/v1/products/${id}/archive`, undefined],
    ['GET', `/v1/products/${id}`, undefined],
  ]) assertProblem(await call('sellerB', m, path, body), 404, 'not-found');
  // customers are not sellers at all
  assertProblem(await call('alice', 'PATCH', `/v1/products/${id}`, { title: 'x' }), 403, 'forbidden');
  assertProblem(await call(null, 'PATCH', `/v1/products/${id}`, { title: 'x' }), 401, 'unauthorized');
  // nothing changed
  r = await call('sellerA', 'GET', `/v1/products/${id}`);
  assert.equal(r.body.title, 'Owned by A');
  assert.equal(r.body.version, 1);

  // the owner's own lists; another seller's unpublished list is forbidden
  r = await call('sellerA', 'GET', `/v1/products?${qs({ seller: 'me', status: 'draft', limit: 100 })}`);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.items.some((x) => x.id === id));
  assert.ok(r.body.items.every((x) => x.seller_id === U.sellerA.id && x.status === 'draft'));
  r = await call('sellerB', 'GET', `/v1/products?${qs({ seller: 'me', status: 'draft', limit: 100 })}`);
  assert.ok(!r.body.items.some((x) => x.id === id));
  assertProblem(await call('sellerB', 'GET', `/v1/products?${qs({ seller: U.sellerA.id, status: 'draft' })}`), 403, 'forbidden');
  assertProblem(await call(null, 'GET', `/v1/products?${qs({ status: 'draft' })}`), 401, 'unauthorized');
  r = await call('admin', 'GET', `/v1/products?${qs({ status: 'draft', limit: 100 })}`);
  assert.ok(r.body.items.some((x) => x.id === id));

  // an admin may edit any product; the owner stays the seller
  r = await call('admin', 'PATCH', `/v1/products/${id}`, { title: 'Fixed by admin' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.title, 'Fixed by admin');
  assert.equal(r.body.seller_id, U.sellerA.id);
  assert.equal(r.body.version, 2);

  // a handle or SKU taken by another product is a conflict naming it
  const sku = tagOf('DUP-');
  r = await call('sellerA', 'POST', '/v1/products', productBody('First', { sku }));
  assert.equal(r.status, 201);
  r = await call('sellerB', 'POST', '/v1/products', productBody('Second', { sku }));
  assertProblem(r, 409, 'conflict');
  r = await call('sellerB', 'POST', '/v1/products', { ...productBody('Third'), handle: 'owned-by-a' });
  assertProblem(r, 409, 'conflict');
  // validation
  r = await call('sellerA', 'POST', '/v1/products', { title: '', variants: [{ sku: 'x', price: { amount: -1, currency: 'eur' } }], bogus: 1 });
  assertProblem(r, 422, 'validation-failed');
  const fields = r.body.errors.map((e) => e.field);
  assert.ok(fields.includes('title') && fields.includes('bogus'), JSON.stringify(r.body.errors));
});

test('ETag and If-None-Match: 304 while unchanged, a new ETag after a change', async () => {
  const c = await cats();
  const p = await published('sellerA', tagOf('Etag Teapot '), { cat: c.kitchen.id });
  let r = await call(null, 'GET', `/v1/products/${p.id}`);
  const etag = r.headers.get('etag');
  assert.match(etag, /^"[^"]+"$/);
  r = await call(null, 'GET', `/v1/products/${p.id}`, undefined, { 'if-none-match': etag });
  assert.equal(r.status, 304);
  assert.equal(r.text, '');
  assert.equal(r.headers.get('etag'), etag);
  r = await call(null, 'GET', `/v1/products/${p.id}`, undefined, { 'if-none-match': `"nope", ${etag}` });
  assert.equal(r.status, 304, 'a list of validators matches any');
  r = await call(null, 'GET', `/v1/products/${p.id}`, undefined, { 'if-none-match': '*' });
  assert.equal(r.status, 304);
  r = await call(null, 'GET', `/v1/products/${p.id}`, undefined, { 'if-none-match': '"other"' });
  assert.equal(r.status, 200);

  // lists, search and categories too
  for (const path of ['/v1/products?limit=5', `/v1/search?${qs({ q: 'teapot' })}`, '/v1/categories', `/v1/search/suggest?q=tea`]) {
    r = await call(null, 'GET', path);
    assert.equal(r.status, 200, path);
    const e = r.headers.get('etag');
    assert.ok(e, path);
    r = await call(null, 'GET', path, undefined, { 'if-none-match': e });
    assert.equal(r.status, 304, path);
  }

  // a change gives a new body and a new validator
  r = await call('sellerA', 'PATCH', `/v1/products/${p.id}`, { description: 'Now with a lid.' });
  assert.equal(r.status, 200);
  r = await call(null, 'GET', `/v1/products/${p.id}`, undefined, { 'if-none-match': etag });
  assert.equal(r.status, 200, 'the cached copy was invalidated by the change');
  assert.equal(r.body.description, 'Now with a lid.');
  assert.notEqual(r.headers.get('etag'), etag);
});

// ---- search ----

let corpus;
async function searchCorpus() {
  if (corpus) return corpus;
  const c = await cats();
  const t = tagOf('zq');
  // one made-up word shared by the whole set keeps other tests' products out
  const mk = (seller, title, o) => published(seller, title, { ...o, description: `${t} ${o.description || ''}` });
  corpus = { word: t, items: [] };
  corpus.items.push(await mk('sellerA', 'Linen Summer Shirt', { cat: c.clothing.id, price: 4500, tags: ['linen', 'summer'], description: 'A shirt.' }));
  corpus.items.push(await mk('sellerB', 'Summer shirt in linen and cotton blend with a linen collar', { cat: c.clothing.id, price: 3900, tags: ['linen', 'shirt'], description: 'Linen summer shirt, linen summer shirt.' }));
  corpus.items.push(await mk('sellerA', 'Linen tea towel', { cat: c.kitchen.id, price: 900, tags: ['linen'], description: 'For a summer shirt rack.' }));
  corpus.items.push(await mk('sellerB', 'Crème Brûlée Torch', { cat: c.kitchen.id, price: 2490, tags: ['dessert'], description: 'Caramelise sugar.' }));
  corpus.items.push(await mk('sellerA', 'Garden hose 20 m', { cat: c.garden.id, price: 2900, tags: ['water'], description: 'Green.' }));
  corpus.items.push(await mk('sellerB', 'Watering can', { cat: c.garden.id, price: 1500, tags: ['water', 'summer'], description: 'Galvanised.' }));
  return corpus;
}

test('search relevance: an exact title match ranks first; title above description; diacritics fold', async () => {
  const s = await searchCorpus();
  let r = await call(null, 'GET', `/v1/search?${qs({ q: 'linen summer shirt', limit: 10 })}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.q, 'linen summer shirt');
  assert.equal(r.body.sort, 'relevance');
  assert.equal(r.body.items[0].title, 'Linen Summer Shirt', r.body.items.map((x) => x.title).join(' | '));
  // case and spacing do not matter for the exact match
  r = await call(null, 'GET', `/v1/search?${qs({ q: '  LINEN   summer,shirt ' })}`);
  assert.equal(r.body.items[0].title, 'Linen Summer Shirt');
  // a title hit beats a description-only hit
  r = await call(null, 'GET', `/v1/search?${qs({ q: `towel ${s.word}` })}`);
  assert.equal(r.body.items[0].title, 'Linen tea towel');
  // diacritics fold both ways
  for (const q of ['creme brulee', 'CRÈME BRÛLÉE', 'brulee torch']) {
    r = await call(null, 'GET', `/v1/search?${qs({ q })}`);
    assert.equal(r.body.items[0]?.title, 'Crème Brûlée Torch', q);
  }
  // words are ANDed: nothing has both
  r = await call(null, 'GET', `/v1/search?${qs({ q: 'hose dessert' })}`);
  assert.equal(r.body.total, 0);
  assert.deepEqual(r.body.items, []);
  // sorting by price within the set
  r = await call(null, 'GET', `/v1/search?${qs({ q: s.word, sort: 'price_asc', limit: 100 })}`);
  const prices = r.body.items.map((x) => x.price_range.min.amount);
  assert.deepEqual(prices, [...prices].sort((a, b) => a - b));
  assert.equal(r.body.total, s.items.length);
});

test('facets add up to the total and each bucket matches its own filtered search', async () => {
  const s = await searchCorpus();
  const r = await call(null, 'GET', `/v1/search?${qs({ q: s.word, limit: 2 })}`);
  assert.equal(r.status, 200);
  const { total, facets } = r.body;
  assert.equal(total, 6);
  const sum = (f) => f.buckets.reduce((a, b) => a + b.count, 0) + f.other;
  assert.equal(sum(facets.category), total, 'category');
  assert.equal(sum(facets.seller), total, 'seller');
  assert.equal(facets.price.reduce((a, b) => a + b.count, 0), total, 'price');
  assert.equal(facets.rating.reduce((a, b) => a + b.count, 0), total, 'rating');
  const catNames = Object.fromEntries(facets.category.buckets.map((b) => [b.name, b.count]));
  assert.deepEqual(catNames, { Clothing: 2, Kitchen: 2, Garden: 2 });
  assert.deepEqual(Object.fromEntries(facets.seller.buckets.map((b) => [b.value, b.count])), { [U.sellerA.id]: 3, [U.sellerB.id]: 3 });
  const tags = Object.fromEntries(facets.tag.buckets.map((b) => [b.value, b.count]));
  assert.equal(tags.linen, 3);
  assert.equal(tags.summer, 2);
  assert.equal(tags.water, 2);
  // each facet bucket, used as a filter, yields exactly its count
  for (const b of facets.category.buckets) {
    const f = await call(null, 'GET', `/v1/search?${qs({ q: s.word, category: b.value })}`);
    assert.equal(f.body.total, b.count, `category ${b.name}`);
  }
  for (const b of facets.tag.buckets) {
    const f = await call(null, 'GET', `/v1/search?${qs({ q: s.word, tag: b.value })}`);
    assert.equal(f.body.total, b.count, `tag ${b.value}`);
  }
  for (const b of facets.seller.buckets) {
    const f = await call(null, 'GET', `/v1/search?${qs({ q: s.word, seller: b.value })}`);
    assert.equal(f.body.total, b.count, `seller ${b.value}`);
  }
  for (const b of facets.price.filter((x) => x.count > 0)) {
    const o = { q: s.word, price_min: b.min };
    if (b.max !== null) o.price_max = b.max - 1;
    const f = await call(null, 'GET', `/v1/search?${qs(o)}`);
    assert.equal(f.body.total, b.count, `price ${b.min}..${b.max}`);
  }
  // a filter that matches nothing, and bad filter values
  let f = await call(null, 'GET', `/v1/search?${qs({ q: s.word, price_min: 1, price_max: 2 })}`);
  assert.equal(f.body.total, 0);
  assertProblem(await call(null, 'GET', `/v1/search?${qs({ q: s.word, price_min: 'cheap' })}`), 422, 'validation-failed');
  assertProblem(await call(null, 'GET', `/v1/search?${qs({ q: s.word, category: 'no-such-category' })}`), 422, 'validation-failed');
  assertProblem(await call(null, 'GET', `/v1/search?${qs({ q: s.word, sort: 'random' })}`), 422, 'validation-failed');
  assertProblem(await call(null, 'GET', `/v1/search?${qs({ q: s.word, cursor: 'garbage!' })}`), 400, 'invalid-cursor');
});

test('suggest completes the last word from published products', async () => {
  await searchCorpus();
  let r = await call(null, 'GET', `/v1/search/suggest?${qs({ q: 'lin' })}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.q, 'lin');
  const terms = r.body.suggestions.map((x) => x.term);
  assert.ok(terms.includes('linen'), JSON.stringify(r.body));
  const linen = r.body.suggestions.find((x) => x.term === 'linen');
  assert.equal(linen.fuzzy, false);
  assert.ok(linen.count >= 3);
  // earlier words are kept in the suggestion text
  r = await call(null, 'GET', `/v1/search/suggest?${qs({ q: 'summer shi' })}`);
  assert.ok(r.body.suggestions.some((x) => x.text === 'summer shirt'), JSON.stringify(r.body));
  // diacritics fold
  r = await call(null, 'GET', `/v1/search/suggest?${qs({ q: 'BRÛ' })}`);
  assert.ok(r.body.suggestions.some((x) => x.term === 'brulee'), JSON.stringify(r.body));
  // nothing typed, nothing suggested; limit bounds
  r = await call(null, 'GET', '/v1/search/suggest?q=');
  assert.deepEqual(r.body.suggestions, []);
  r = await call(null, 'GET', `/v1/search/suggest?${qs({ q: 'l', limit: 1 })}`);
  assert.ok(r.body.suggestions.length <= 1);
  assertProblem(await call(null, 'GET', `/v1/search/suggest?${qs({ q: 'l', limit: 0 })}`), 422, 'validation-failed');
  // unpublished words do not leak
  const secret = tagOf('unreleasedxq');
  const d = await call('sellerA', 'POST', '/v1/products', productBody(`${secret} gadget`));
  assert.equal(d.status, 201);
  r = await call(null, 'GET', `/v1/search/suggest?${qs({ q: secret.slice(0, 8) })}`);
  assert.ok(!r.body.suggestions.some((x) => x.term.startsWith('unreleasedxq')), JSON.stringify(r.body));
});

// Any text is just words: what comes back is exactly what the words alone give.
test('hostile queries: FTS operators, quotes, parentheses, SQL and odd bytes are only words', async () => {
  const s = await searchCorpus();
  const words = async (q) => (await call(null, 'GET', `/v1/search?${qs({ q, limit: 100 })}`)).body;
  const hostile = [
    ['linen OR garden', 'linen or garden'],
    ['linen NOT shirt', 'linen not shirt'],
    ['"linen', 'linen'],
    ['linen"', 'linen'],
    ['(linen', 'linen'],
    ['linen))) OR ((', 'linen or'],
    ['lin*', 'lin'],
    ['^linen', 'linen'],
    ['-shirt linen', 'shirt linen'],
    ['title:linen', 'title linen'],
    ['NEAR(linen shirt, 2)', 'near linen shirt 2'],
    ["linen' OR '1'='1", 'linen or 1 1'],
    ['linen; DROP TABLE products; --', 'linen drop table products'],
    ["') UNION SELECT id FROM users --", 'union select id from users'],
    ['linen\\', 'linen'],
    ['{linen}', 'linen'],
    ['linen 🙂 shirt', 'linen shirt'],
    [`${s.word} AND`, `${s.word} and`],
  ];
  for (const [q, canon] of hostile) {
    const r = await call(null, 'GET', `/v1/search?${qs({ q, limit: 100 })}`);
    assert.equal(r.status, 200, `${q}: ${r.text}`);
    assert.equal(r.body.q, canon, q);
    const plain = await words(canon);
    assert.deepEqual(r.body.items.map((x) => x.id), plain.items.map((x) => x.id), q);
    assert.equal(r.body.total, plain.total, q);
  }
  // operators are not operators: "linen OR garden" needs both words (none has "or")
  assert.equal((await words('linen OR garden')).total, 0);
  // a star does not make a prefix query
  assert.equal((await words('lin*')).total, 0);
  // "-shirt" does not exclude shirts
  const ex = await words('-shirt linen');
  assert.ok(ex.items.some((x) => /shirt/i.test(x.title)));
  // the tables are still there
  assert.equal((await words('linen')).total >= 3, true);

  // odd bytes in the URL: invalid UTF-8 separates words, never an error
  for (const raw of ['%FF%FElinen', 'linen%C3%28', '%C0%AFlinen', 'linen%ED%A0%80', '%F4%90%80%80linen', 'linen%E2%82']) {
    const r = await call(null, 'GET', `/v1/search?q=${raw}`);
    assert.equal(r.status, 200, `${raw}: ${r.text}`);
    assert.ok(r.body.items.some((x) => /linen/i.test(x.title)), raw);
    const g = await call(null, 'GET', `/v1/search/suggest?q=${raw}`);
    assert.equal(g.status, 200, raw);
  }
  // an encoded NUL is refused by the request-target parser before any handler (documented 400)
  assertProblem(await call(null, 'GET', '/v1/search?q=lin%00en'), 400, 'malformed-request-target');
  // nothing but punctuation lists everything (no words)
  const none = await call(null, 'GET', `/v1/search?${qs({ q: '"()*:^-' })}`);
  assert.equal(none.status, 200);
  assert.equal(none.body.q, '');
  // length cap
  assertProblem(await call(null, 'GET', `/v1/search?${qs({ q: 'a'.repeat(1025) })}`), 422, 'validation-failed');
  assert.equal((await call(null, 'GET', `/v1/search?${qs({ q: 'a '.repeat(500) })}`)).status, 200, 'many words');
  for (const q of ['%', '_', '%linen%', "''", '\\"']) {
    const g = await call(null, 'GET', `/v1/search/suggest?${qs({ q })}`);
    assert.equal(g.status, 200, q);
  }
});

// ---- reviews ----

test('reviews: one per customer per product, rating 1-5, seller reply, admin hide, aggregates on the product', async () => {
  const c = await cats();
  const p = await published('sellerA', tagOf('Reviewed Kettle '), { cat: c.kitchen.id });
  const draft = (await call('sellerA', 'POST', '/v1/products', productBody('Unreviewable'))).body;

  assertProblem(await call(null, 'POST', `/v1/products/${p.id}/reviews`, { rating: 5 }), 401, 'unauthorized');
  assertProblem(await call('alice', 'POST', `/v1/products/${draft.id}/reviews`, { rating: 5 }), 404, 'not-found');
  for (const bad of [{ rating: 0 }, { rating: 6 }, { rating: 3.5 }, { rating: '5' }, {}, { rating: 4, extra: 1 }, { rating: 4, body: 'x'.repeat(5001) }]) {
    assertProblem(await call('alice', 'POST', `/v1/products/${p.id}/reviews`, bad), 422, 'validation-failed');
  }

  let r = await call('alice', 'POST', `/v1/products/${p.id}/reviews`, { rating: 5, title: 'Great', body: 'Boils fast.' });
  assert.equal(r.status, 201, r.text);
  const ra = r.body;
  assert.equal(ra.author_id, U.alice.id);
  assert.equal(ra.rating, 5);
  assert.equal(ra.verified, false);
  assert.equal(r.headers.get('location'), `/v1/reviews/${ra.id}`);
  r = await call('alice', 'POST', `/v1/products/${p.id}/reviews`, { rating: 1 });
  assertProblem(r, 409, 'conflict');
  assert.equal(r.body.existing_id, ra.id);
  r = await call('bob', 'POST', `/v1/products/${p.id}/reviews`, { rating: 2, body: 'Leaks.' });
  assert.equal(r.status, 201, r.text);
  const rb = r.body;

  // the product carries the average and count
  r = await call(null, 'GET', `/v1/products/${p.id}`);
  assert.deepEqual(r.body.rating, { average: 3.5, count: 2 });
  r = await call(null, 'GET', `/v1/products/${p.id}/reviews?sort=rating_desc`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.items.map((x) => x.id), [ra.id, rb.id]);
  assert.equal(r.body.rating.count, 2);
  assert.equal(r.body.rating.histogram['5'], 1);
  assert.equal(r.body.rating.histogram['2'], 1);

  // the author edits; others cannot
  assertProblem(await call('carol', 'PATCH', `/v1/reviews/${rb.id}`, { rating: 5 }), 404, 'not-found');
  r = await call('bob', 'PATCH', `/v1/reviews/${rb.id}`, { rating: 3 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.rating, 3);
  r = await call(null, 'GET', `/v1/products/${p.id}`);
  assert.deepEqual(r.body.rating, { average: 4, count: 2 });

  // seller reply: the product's seller only
  // the review is public, so another seller learns nothing from a 403
  assertProblem(await call('sellerB', 'PUT', `/v1/reviews/${rb.id}/reply`, { body: 'Not mine' }), 403, 'forbidden');
  assertProblem(await call('alice', 'PUT', `/v1/reviews/${rb.id}/reply`, { body: 'x' }), 403, 'forbidden');
  r = await call('sellerA', 'PUT', `/v1/reviews/${rb.id}/reply`, { body: 'Sorry — we sent a new one.' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.reply.body, 'Sorry — we sent a new one.');
  assert.equal((await call(null, 'GET', `/v1/reviews/${rb.id}`)).body.reply.body, 'Sorry — we sent a new one.');

  // admin hides with a reason: gone from lists and from the rating
  assertProblem(await call('sellerA', 'POST', `/v1/reviews/${rb.id}/hide`, { reason: 'mine' }), 403, 'forbidden');
  assertProblem(await call('admin', 'POST', `/v1/reviews/${rb.id}/hide`, {}), 422, 'validation-failed');
  r = await call('admin', 'POST', `/v1/reviews/${rb.id}/hide`, { reason: 'Off-topic' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'hidden');
  assert.equal(r.body.hidden_reason, 'Off-topic');
  assertProblem(await call(null, 'GET', `/v1/reviews/${rb.id}`), 404, 'not-found');
  r = await call(null, 'GET', `/v1/products/${p.id}/reviews`);
  assert.deepEqual(r.body.items.map((x) => x.id), [ra.id]);
  r = await call(null, 'GET', `/v1/products/${p.id}`);
  assert.deepEqual(r.body.rating, { average: 5, count: 1 });
  assertProblem(await call('alice', 'GET', `/v1/products/${p.id}/reviews?status=hidden`), 403, 'forbidden');
  r = await call('admin', 'GET', `/v1/products/${p.id}/reviews?status=hidden`);
  assert.deepEqual(r.body.items.map((x) => x.id), [rb.id]);
  // the rating is usable in search
  r = await call(null, 'GET', `/v1/search?${qs({ q: 'reviewed kettle', rating_min: 4.5 })}`);
  assert.ok(r.body.items.some((x) => x.id === p.id));
  // shown again
  r = await call('admin', 'POST', `/v1/reviews/${rb.id}/show`);
  assert.equal(r.status, 200, r.text);
  r = await call(null, 'GET', `/v1/products/${p.id}`);
  assert.deepEqual(r.body.rating, { average: 4, count: 2 });
  r = await call(null, 'GET', `/v1/search?${qs({ q: 'reviewed kettle', rating_min: 4.5 })}`);
  assert.ok(!r.body.items.some((x) => x.id === p.id));
});

// ---- pagination over a demo catalog ----

test('pagination over a seeded catalog: every sort, list and search, no duplicates or gaps', async () => {
  const dbc = freshDatabase();
  const out = execFileSync(BIN, ['seed', '--demo', '--products', '230'], { env: { ...process.env, DATABASE_URL: dbc.url, MERCATO_DATA_DIR: dbc.dir || '/tmp', MERCATO_LOG_LEVEL: 'warn' } });
  assert.ok(out.length >= 0);
  const s2 = await startServer({ db: dbc, env: ENV });
  try {
    const walk = async (path, params, limit) => {
      const ids = [];
      let cursor = null, pages = 0;
      do {
        const r = await req(s2.url, 'GET', `${path}?${qs({ ...params, limit, ...(cursor ? { cursor } : {}) })}`);
        assert.equal(r.status, 200, r.text);
        assert.ok(r.body.items.length <= limit);
        ids.push(...r.body.items.map((x) => x.id));
        cursor = r.body.next_cursor;
        assert.ok(++pages < 500, 'the walk ends');
      } while (cursor);
      return ids;
    };
    const all = await walk('/v1/products', {}, 100);
    assert.ok(all.length > 150, `a demo catalog of 230 has mostly published products (${all.length})`);
    assert.equal(new Set(all).size, all.length);
    for (const sort of ['newest', 'price_asc', 'price_desc', 'rating']) {
      const ids = await walk('/v1/products', { sort }, 7);
      assert.equal(ids.length, all.length, `list ${sort}: no gaps`);
      assert.equal(new Set(ids).size, ids.length, `list ${sort}: no duplicates`);
      assert.deepEqual([...ids].sort(), [...all].sort(), sort);
    }
    // search: a common word, every sort
    const sug = await req(s2.url, 'GET', '/v1/search/suggest?q=s&limit=20');
    const word = sug.body.suggestions.sort((a, b) => b.count - a.count)[0].term;
    const first = await req(s2.url, 'GET', `/v1/search?${qs({ q: word, limit: 100 })}`);
    const total = first.body.total;
    assert.ok(total > 7, `${word} matches ${total}`);
    for (const sort of ['relevance', 'newest', 'price_asc', 'price_desc', 'rating']) {
      const ids = await walk('/v1/search', { q: word, sort }, 7);
      assert.equal(ids.length, total, `search ${sort}: no gaps`);
      assert.equal(new Set(ids).size, total, `search ${sort}: no duplicates`);
    }
    // a filter with pages
    const cat = first.body.facets.category.buckets[0];
    const ids = await walk('/v1/search', { q: word, category: cat.value, sort: 'price_asc' }, 3);
    assert.equal(ids.length, cat.count);
    // a cursor of one sort does not fit another
    const r1 = await req(s2.url, 'GET', `/v1/products?${qs({ sort: 'price_asc', limit: 2 })}`);
    const r2 = await req(s2.url, 'GET', `/v1/products?${qs({ sort: 'newest', limit: 2, cursor: r1.body.next_cursor })}`);
    assertProblem(r2, 400, 'invalid-cursor');
    assertProblem(await req(s2.url, 'GET', '/v1/products?limit=101'), 422, 'validation-failed');
  } finally {
    await s2.stop();
    dbc.cleanup();
  }
});
