-- 0007_webhooks: outgoing webhooks (Standard Webhooks 1.0).
-- An endpoint receives the events whose type matches its filter; every
-- (endpoint, message) pair is one delivery, made exactly once by the unique
-- key; every HTTP attempt of a delivery is logged.
CREATE TABLE webhook_endpoints (
    id                   TEXT    PRIMARY KEY,            -- whe_...
    url                  TEXT    NOT NULL,
    description          TEXT    NOT NULL DEFAULT '',
    event_types          TEXT    NOT NULL,               -- JSON array: "order.paid", "order.*", "*"
    secret               TEXT    NOT NULL,               -- whsec_<base64>
    prev_secret          TEXT,                           -- still signs until prev_secret_until (rotation)
    prev_secret_until    BIGINT,
    enabled              INTEGER NOT NULL DEFAULT 1,
    disabled_reason      TEXT,
    failed_deliveries    INTEGER NOT NULL DEFAULT 0,     -- consecutive deliveries that used up every attempt
    start_after_event    BIGINT  NOT NULL,               -- only events after this id (those of its lifetime)
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               TEXT    PRIMARY KEY,                -- whd_...
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    msg_id           TEXT    NOT NULL,                   -- webhook-id: evt_<event id>, or msg_... for test events
    event_id         BIGINT,                            -- NULL for test events
    event_type       TEXT    NOT NULL,
    body             TEXT    NOT NULL,                   -- the exact bytes sent on every attempt
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    next_attempt_at  BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    UNIQUE (endpoint_id, msg_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id            BIGSERIAL PRIMARY KEY,
    delivery_id   TEXT    NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    started_at    BIGINT  NOT NULL,
    status_code   INTEGER,                               -- NULL when no HTTP answer
    duration_ms   INTEGER NOT NULL,
    error         TEXT,
    next_retry_at BIGINT                                 -- NULL when no retry follows
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
