-- 0012_refunds (sqlite): refunds requested by admins, carried out by the payment
-- provider in a job (payments.refund).  Amounts in minor units; times epoch ms.

CREATE TABLE refunds (
    id            TEXT    PRIMARY KEY,          -- ref_...
    order_id      TEXT    NOT NULL REFERENCES orders (id),
    payment_id    TEXT    NOT NULL REFERENCES payments (id),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    currency      TEXT    NOT NULL,
    status        TEXT    NOT NULL,             -- pending, succeeded, failed
    reason        TEXT    NOT NULL,
    provider_ref  TEXT,                         -- the provider's refund id (re_...)
    error         TEXT,
    actor         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id, created_at);
CREATE INDEX refunds_payment ON refunds (payment_id, status);
