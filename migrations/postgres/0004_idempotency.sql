-- 0004_idempotency: stored responses for Idempotency-Key (IETF httpapi
-- draft, Stripe's behaviour).  One row per (scope, key); scope is the caller
-- (user, machine client, or an anonymous cart/IP scope).
CREATE TABLE idempotency_keys (
    scope         TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    method        TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    fingerprint   TEXT    NOT NULL,          -- sha256 of method, path and body
    state         TEXT    NOT NULL CHECK (state IN ('in_flight', 'done')),
    status        INTEGER,
    content_type  TEXT,
    body          TEXT,
    locked_until  BIGINT  NOT NULL,          -- an in-flight claim expires (crash recovery)
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
