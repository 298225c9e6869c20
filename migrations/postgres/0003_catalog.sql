-- 0003_catalog: categories, products, variants, tags, reviews and the search
-- index (PostgreSQL).  The SQLite twin is migrations/sqlite/0003_catalog.sql.
--
-- Search: products.search_vec is a stored generated tsvector (title weight A,
-- tags B, description C) over a text search configuration that folds
-- diacritics (unaccent) and does no stemming, like SQLite's unicode61
-- tokenizer, so both backends find the same words.  Being a generated column
-- it follows every change in the same transaction.  A partial GIN index
-- covers published products.  search_terms is the autocomplete vocabulary
-- (src/search/terms.c) with a pg_trgm index for fuzzy completion.
-- seller_id / author_id are identity's usr_... ids: plain TEXT, no foreign key.

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TEXT SEARCH CONFIGURATION mercato_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION mercato_search
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;

CREATE TABLE categories (
    id          TEXT    PRIMARY KEY,
    parent_id   TEXT    REFERENCES categories (id),
    name        TEXT    NOT NULL,
    slug        TEXT    NOT NULL UNIQUE,
    path        TEXT    COLLATE "C" NOT NULL, -- ancestors then self: "/cat_a/cat_b/"
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX categories_parent ON categories (parent_id, position);
CREATE INDEX categories_path ON categories (path);

CREATE TABLE products (
    seq           BIGSERIAL PRIMARY KEY,     -- internal row number; never exposed
    id            TEXT    NOT NULL UNIQUE,
    seller_id     TEXT    NOT NULL,
    handle        TEXT    NOT NULL UNIQUE,
    title         TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'pending_review', 'published', 'rejected', 'archived')),
    category_id   TEXT    REFERENCES categories (id),
    category_path TEXT    COLLATE "C",       -- copy of the category's path (descendant ranges)
    tags          TEXT    NOT NULL DEFAULT '', -- normalised tags, space-separated
    attributes    TEXT    NOT NULL DEFAULT '{}',
    currency      TEXT,
    price_min     BIGINT,
    price_max     BIGINT,
    rating_count  INTEGER NOT NULL DEFAULT 0,
    rating_sum    INTEGER NOT NULL DEFAULT 0,
    rating_avg    INTEGER NOT NULL DEFAULT 0, -- average x 100, rounded (sort/filter key)
    reject_reason TEXT,
    version       INTEGER NOT NULL DEFAULT 1,
    published_at  BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    search_vec    tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('mercato_search'::regconfig, title), 'A') ||
        setweight(to_tsvector('mercato_search'::regconfig, tags), 'B') ||
        setweight(to_tsvector('mercato_search'::regconfig, description), 'C')) STORED
);
CREATE INDEX products_newest ON products (status, published_at, id);
CREATE INDEX products_price ON products (status, price_min, id);
CREATE INDEX products_rating ON products (status, rating_avg, id);
CREATE INDEX products_category ON products (status, category_path, published_at, id);
CREATE INDEX products_seller ON products (seller_id, status, published_at, id);
CREATE INDEX products_seller_created ON products (seller_id, created_at, id);
CREATE INDEX products_status_created ON products (status, created_at, id);
CREATE INDEX products_search ON products USING GIN (search_vec) WHERE status = 'published';

CREATE TABLE product_tags (
    tag          TEXT    NOT NULL,
    product_seq  BIGINT  NOT NULL REFERENCES products (seq) ON DELETE CASCADE,
    PRIMARY KEY (tag, product_seq)
);
CREATE INDEX product_tags_product ON product_tags (product_seq);

CREATE TABLE variants (
    id           TEXT    PRIMARY KEY,
    product_id   TEXT    NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku          TEXT    NOT NULL UNIQUE,
    title        TEXT    NOT NULL DEFAULT '',
    options      TEXT    NOT NULL DEFAULT '{}',
    price_amount BIGINT  NOT NULL CHECK (price_amount >= 0),
    currency     TEXT    NOT NULL,
    weight_grams INTEGER,
    position     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
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
    reply_at      BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    UNIQUE (product_id, author_id)
);
CREATE INDEX reviews_product_newest ON reviews (product_id, status, created_at, id);
CREATE INDEX reviews_product_rating ON reviews (product_id, status, rating, id);

CREATE TABLE search_terms (
    term  TEXT    COLLATE "C" PRIMARY KEY,
    docs  INTEGER NOT NULL
);
CREATE INDEX search_terms_docs ON search_terms (docs);
CREATE INDEX search_terms_trgm ON search_terms USING GIN (term gin_trgm_ops);
