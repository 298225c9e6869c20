-- 0016_lean_indexes_3: two indexes that held rows nobody looks up there.
-- reservations_expiry (state, expires_at) held every reservation ever made,
-- and each payment moved its entry from 'held' to 'committed'; only the
-- sweep of unpaid orders reads it, for held ones past their time.  Now
-- partial: the held reservations only (a payment removes its entry).
-- notifications_user / notifications_unread held the guests' rows too
-- (user_id '': the once-per-event marker of a guest's email, which no one
-- can list); the queries that read them say user_id <> '' as well.
DROP INDEX IF EXISTS reservations_expiry;
CREATE INDEX reservations_held ON reservations (expires_at) WHERE state = 'held';
DROP INDEX IF EXISTS notifications_user;
DROP INDEX IF EXISTS notifications_unread;
CREATE INDEX notifications_user ON notifications (user_id, event_id) WHERE user_id <> '';
CREATE INDEX notifications_unread ON notifications (user_id, event_id) WHERE read_at IS NULL AND user_id <> '';
