-- 0006_notifications: in-app notifications made from the event log by the
-- "notifications" consumer (src/live/notify.c).  One row per source event
-- (event_id UNIQUE makes the consumer idempotent); newest first by event_id.
CREATE TABLE notifications (
    id          TEXT    PRIMARY KEY,             -- ntf_...
    user_id     TEXT    NOT NULL,                -- the event's owner (usr_...)
    event_id    BIGINT  NOT NULL UNIQUE,         -- events.id it was made from
    kind        TEXT    NOT NULL,                -- order_confirmed, order_shipped ...
    subject     TEXT    NOT NULL,                -- the order it is about (ord_...)
    title       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    data        TEXT    NOT NULL DEFAULT '{}',   -- JSON: order_id, tracking_number ...
    read_at     BIGINT,                          -- epoch ms, NULL while unread
    created_at  BIGINT  NOT NULL                 -- the event's time, epoch ms
);
CREATE INDEX notifications_user ON notifications (user_id, event_id);
CREATE INDEX notifications_unread ON notifications (user_id, event_id) WHERE read_at IS NULL;
