-- 0014_log_stats: nothing to do on PostgreSQL.  On SQLite this drops the
-- planner statistics of the event log and the job queue taken by the demo
-- seed while they were nearly empty (see migrations/sqlite/0014); here
-- autovacuum keeps every table's statistics current.
SELECT 1;
