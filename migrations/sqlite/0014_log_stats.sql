-- 0014_log_stats: planner statistics of the event log and the job queue
-- taken while they were nearly empty.  `mercato seed` ran ANALYZE over the
-- whole database right after loading the catalog, when events held two
-- rows: sqlite_stat1 then told the planner the table had one row, and it
-- read events (every consumer round, every live tailer and watcher poll)
-- by scanning events_created into a temporary b-tree instead of seeking the
-- rowid, and found MAX(id) by reading that whole index.  Both logs grow and
-- shrink by the million; without rows in sqlite_stat1 the planner's own
-- estimates choose the rowid.  The seed now analyzes only the catalog.
-- ANALYZE sqlite_schema creates sqlite_stat1 when no ANALYZE ever ran.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl IN ('events', 'jobs');
