-- 0015_lean_indexes_2: two more index entries every order wrote.
-- events_created (created_at): only the purge used it; it now walks the
-- log's oldest rows by id (ids grow with time).  Five events per order
-- each inserted an entry.
-- payments_status (status, updated_at): only the reconciliation of stuck
-- payments reads it, for status processing or requires_action; every
-- payment entered it and moved when it succeeded, and it held every
-- payment ever made.  Now partial: only the open ones.
DROP INDEX IF EXISTS events_created;
DROP INDEX IF EXISTS payments_status;
CREATE INDEX payments_open ON payments (status, updated_at) WHERE status IN ('processing', 'requires_action');
