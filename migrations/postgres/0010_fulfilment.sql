-- 0010_fulfilment (postgres): shipments (one per seller of a paid order) and the
-- carrier events that move them.  Times are epoch ms.

CREATE TABLE shipments (
    id               TEXT    PRIMARY KEY,          -- shp_...
    order_id         TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    seller_id        TEXT    NOT NULL,
    carrier          TEXT    NOT NULL,             -- 'demo' or the carrier's name
    status           TEXT    NOT NULL,             -- see src/fulfil/shipment_state.h
    status_at        BIGINT NOT NULL,               -- occurred_at of the event that set status (0 while pending)
    tracking_number  TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX shipments_order_seller ON shipments (order_id, seller_id);
CREATE INDEX shipments_seller ON shipments (seller_id, created_at);

CREATE TABLE shipment_events (
    id               TEXT    PRIMARY KEY,          -- sev_...
    shipment_id      TEXT    NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    source           TEXT    NOT NULL,             -- the reporting client (cli_...), 'demo', or an admin
    external_id      TEXT    NOT NULL,             -- the carrier's event id: idempotency
    status           TEXT    NOT NULL,
    occurred_at      BIGINT NOT NULL,
    location         TEXT,
    tracking_number  TEXT,
    note             TEXT,
    applied          BIGINT NOT NULL,               -- 1: moved the shipment; 0: recorded only (late or out of order)
    received_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX shipment_events_external ON shipment_events (shipment_id, source, external_id);
CREATE INDEX shipment_events_timeline ON shipment_events (shipment_id, occurred_at, received_at);
