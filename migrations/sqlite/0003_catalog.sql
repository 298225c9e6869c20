-- 0003_catalog: categories, products, variants, tags, reviews and the search
-- index (SQLite).  The PostgreSQL twin is migrations/postgres/0003_catalog.sql.
--
-- Search: product_fts is an FTS5 index over the products table (external
-- content, rowid = products.seq) holding published products only.  Triggers
-- keep it in step with every change in the same transaction as the change.
-- search_terms is the autocomplete vocabulary (title words of published
-- products with document counts), maintained by src/search/terms.c.
-- seller_id / author_id are identity's usr_... ids: plain TEXT, no foreign key.

CREATE TABLE categories (
    id          TEXT    PRIMARY KEY,
    parent_id   TEXT    REFERENCES categories (id),
    name        TEXT    NOT NULL,
    slug        TEXT    NOT NULL UNIQUE,
    path        TEXT    NOT NULL,            -- ancestors then self: "/cat_a/cat_b/"
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX categories_parent ON categories (parent_id, position);
CREATE INDEX categories_path ON categories (path);

CREATE TABLE products (
    seq           INTEGER PRIMARY KEY,       -- internal row number (FTS rowid); never exposed
    id            TEXT    NOT NULL UNIQUE,
    seller_id     TEXT    NOT NULL,
    handle        TEXT    NOT NULL UNIQUE,
    title         TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'pending_review', 'published', 'rejected', 'archived')),
    category_id   TEXT    REFERENCES categories (id),
    category_path TEXT,                      -- copy of the category's path (descendant ranges)
    tags          TEXT    NOT NULL DEFAULT '', -- normalised tags, space-separated
    attributes    TEXT    NOT NULL DEFAULT '{}',
    currency      TEXT,
    price_min     INTEGER,
    price_max     INTEGER,
    rating_count  INTEGER NOT NULL DEFAULT 0,
    rating_sum    INTEGER NOT NULL DEFAULT 0,
    rating_avg    INTEGER NOT NULL DEFAULT 0, -- average x 100, rounded (sort/filter key)
    reject_reason TEXT,
    version       INTEGER NOT NULL DEFAULT 1,
    published_at  INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX products_newest ON products (status, published_at, id);
CREATE INDEX products_price ON products (status, price_min, id);
CREATE INDEX products_rating ON products (status, rating_avg, id);
CREATE INDEX products_category ON products (status, category_path, published_at, id);
CREATE INDEX products_seller ON products (seller_id, status, published_at, id);
CREATE INDEX products_seller_created ON products (seller_id, created_at, id);
CREATE INDEX products_status_created ON products (status, created_at, id);

CREATE TABLE product_tags (
    tag          TEXT    NOT NULL,
    product_seq  INTEGER NOT NULL REFERENCES products (seq) ON DELETE CASCADE,
    PRIMARY KEY (tag, product_seq)
) WITHOUT ROWID;
CREATE INDEX product_tags_product ON product_tags (product_seq);

CREATE TABLE variants (
    id           TEXT    PRIMARY KEY,
    product_id   TEXT    NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku          TEXT    NOT NULL UNIQUE,
    title        TEXT    NOT NULL DEFAULT '',
    options      TEXT    NOT NULL DEFAULT '{}',
    price_amount INTEGER NOT NULL CHECK (price_amount >= 0),
    currency     TEXT    NOT NULL,
    weight_grams INTEGER,
    position     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX variants_product ON variants (product_id, position);

CREATE TABLE reviews (
    id            TEXT    PRIMARY KEY,
    product_id    TEXT    NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    author_id     TEXT    NOT NULL,
    rating        INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title         TEXT    NOT NULL DEFAULT '',
    body          TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL DEFAULT 'visible' CHECK (status IN ('visible', 'hidden')),
    hidden_reason TEXT,
    verified      INTEGER NOT NULL DEFAULT 0,
    reply_body    TEXT,
    reply_by      TEXT,
    reply_at      INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (product_id, author_id)
);
CREATE INDEX reviews_product_newest ON reviews (product_id, status, created_at, id);
CREATE INDEX reviews_product_rating ON reviews (product_id, status, rating, id);

-- Full-text index: title weighted above tags above description (weights are
-- given to bm25() at query time), diacritics folded, prefix indexes for 2-
-- and 3-character prefixes (search-as-you-type).
CREATE VIRTUAL TABLE product_fts USING fts5 (
    title, tags, description,
    content = 'products', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
CREATE TRIGGER products_fts_insert AFTER INSERT ON products WHEN new.status = 'published' BEGIN
    INSERT INTO product_fts (rowid, title, tags, description)
    VALUES (new.seq, new.title, new.tags, new.description);
END;
CREATE TRIGGER products_fts_delete AFTER DELETE ON products WHEN old.status = 'published' BEGIN
    INSERT INTO product_fts (product_fts, rowid, title, tags, description)
    VALUES ('delete', old.seq, old.title, old.tags, old.description);
END;
-- One trigger for updates, so the old entry is deleted before the new one is
-- added (SQLite runs separate triggers for one event in an unspecified order).
CREATE TRIGGER products_fts_update AFTER UPDATE OF title, tags, description, status ON products BEGIN
    INSERT INTO product_fts (product_fts, rowid, title, tags, description)
    SELECT 'delete', old.seq, old.title, old.tags, old.description WHERE old.status = 'published';
    INSERT INTO product_fts (rowid, title, tags, description)
    SELECT new.seq, new.title, new.tags, new.description WHERE new.status = 'published';
END;

CREATE TABLE search_terms (
    term  TEXT    PRIMARY KEY,
    docs  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX search_terms_docs ON search_terms (docs);
