-- 0008_stripe: Stripe webhook events already handled, by Stripe's event id
-- (evt_...), so a replayed or re-sent event is acknowledged without being
-- applied twice.  Written in the same transaction as the payment update.
CREATE TABLE stripe_events (
    id           TEXT    PRIMARY KEY,      -- evt_...
    type         TEXT    NOT NULL,
    payment_ref  TEXT,                     -- pi_... when the event concerns a PaymentIntent
    livemode     INTEGER NOT NULL DEFAULT 0,
    received_at  INTEGER NOT NULL
);
CREATE INDEX stripe_events_received ON stripe_events (received_at);
