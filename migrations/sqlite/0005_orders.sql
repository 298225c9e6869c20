-- 0005_orders: regions, stock, carts, orders, reservations, payments.
-- Money is integer minor units + ISO 4217 currency; times are epoch ms.
-- variant/product/seller ids are the catalog's and identity's TEXT ids.

CREATE TABLE regions (
    code                 TEXT    PRIMARY KEY,
    name                 TEXT    NOT NULL,
    currency             TEXT    NOT NULL,
    shipping_amount      INTEGER NOT NULL CHECK (shipping_amount >= 0),
    free_shipping_over   INTEGER NOT NULL DEFAULT 0,   -- 0: never free
    tax_rate_bps         INTEGER NOT NULL CHECK (tax_rate_bps BETWEEN 0 AND 10000)
);
INSERT INTO regions VALUES ('eu', 'European Union', 'EUR', 499, 5000, 2000);
INSERT INTO regions VALUES ('uk', 'United Kingdom', 'GBP', 399, 5000, 2000);
INSERT INTO regions VALUES ('us', 'United States', 'USD', 599, 7500, 0);

CREATE TABLE inventory (
    variant_id   TEXT    PRIMARY KEY,
    on_hand      INTEGER NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved     INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at   INTEGER NOT NULL,
    CHECK (reserved <= on_hand)
);

CREATE TABLE stock_adjustments (
    id           TEXT    PRIMARY KEY,
    variant_id   TEXT    NOT NULL,
    delta        INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    on_hand      INTEGER NOT NULL,         -- after the adjustment
    created_at   INTEGER NOT NULL
);
CREATE INDEX stock_adjustments_variant ON stock_adjustments (variant_id, created_at);

CREATE TABLE carts (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT,
    token_hash   TEXT    UNIQUE,           -- anonymous carts: sha256 of the cart token
    region       TEXT    NOT NULL REFERENCES regions (code),
    currency     TEXT    NOT NULL,
    email        TEXT,                     -- for checkout, set with PATCH /v1/carts/{id}
    status       TEXT    NOT NULL DEFAULT 'active'
                 CHECK (status IN ('active', 'converted', 'merged', 'expired')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX carts_user_active ON carts (user_id) WHERE status = 'active' AND user_id IS NOT NULL;
CREATE INDEX carts_updated ON carts (status, updated_at);

CREATE TABLE cart_items (
    cart_id      TEXT    NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id   TEXT    NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    added_at     INTEGER NOT NULL,
    PRIMARY KEY (cart_id, variant_id)
);

CREATE TABLE orders (
    id                TEXT    PRIMARY KEY,
    number            TEXT    NOT NULL UNIQUE,
    customer_id       TEXT,                 -- NULL for a guest checkout
    guest_token_hash  TEXT,                 -- guests read their order with its token
    email             TEXT    NOT NULL,
    cart_id           TEXT    NOT NULL,
    region            TEXT    NOT NULL,
    currency          TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    subtotal          INTEGER NOT NULL,
    shipping          INTEGER NOT NULL,
    tax               INTEGER NOT NULL,
    total             INTEGER NOT NULL,
    shipping_address  TEXT    NOT NULL,     -- JSON object
    reserved_until    INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id, id);
CREATE INDEX orders_status_id ON orders (status, id);
CREATE INDEX orders_status ON orders (status, updated_at);
CREATE UNIQUE INDEX orders_cart ON orders (cart_id);

CREATE TABLE order_lines (
    id           TEXT    PRIMARY KEY,
    order_id     TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    variant_id   TEXT    NOT NULL,
    product_id   TEXT    NOT NULL,
    seller_id    TEXT    NOT NULL,
    sku          TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    unit_price   INTEGER NOT NULL,
    line_total   INTEGER NOT NULL
);
CREATE INDEX order_lines_order ON order_lines (order_id, position);
CREATE INDEX order_lines_seller ON order_lines (seller_id, order_id);
CREATE INDEX order_lines_product ON order_lines (product_id);

CREATE TABLE reservations (
    order_id     TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    variant_id   TEXT    NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    state        TEXT    NOT NULL CHECK (state IN ('held', 'committed', 'released')),
    expires_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (order_id, variant_id)
);
CREATE INDEX reservations_expiry ON reservations (state, expires_at);

CREATE TABLE payments (
    id            TEXT    PRIMARY KEY,
    order_id      TEXT    NOT NULL REFERENCES orders (id),
    provider      TEXT    NOT NULL,
    provider_ref  TEXT,
    method        TEXT,
    amount        INTEGER NOT NULL,
    refunded      INTEGER NOT NULL DEFAULT 0,
    currency      TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    error         TEXT,
    client_secret TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX payments_order ON payments (order_id, created_at);
CREATE UNIQUE INDEX payments_provider_ref ON payments (provider, provider_ref) WHERE provider_ref IS NOT NULL;
CREATE INDEX payments_status ON payments (status, updated_at);
