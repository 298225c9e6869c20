-- 0001_core: the event log (transactional outbox) and the job queue.
-- Times are BIGINT milliseconds since the Unix epoch (UTC).

CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    type        TEXT      NOT NULL,
    subject     TEXT      NOT NULL,
    actor       TEXT,
    owner       TEXT,
    payload     TEXT      NOT NULL DEFAULT '{}',
    created_at  BIGINT    NOT NULL
);
CREATE INDEX events_subject ON events (subject, id);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_owner ON events (owner, id) WHERE owner IS NOT NULL;

CREATE TABLE event_consumers (
    name        TEXT      PRIMARY KEY,
    last_id     BIGINT    NOT NULL DEFAULT 0,
    locked_by   TEXT,
    locked_until BIGINT,
    updated_at  BIGINT    NOT NULL
);

CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    queue         TEXT      NOT NULL,
    payload       TEXT      NOT NULL DEFAULT '{}',
    priority      INTEGER   NOT NULL DEFAULT 0,
    state         TEXT      NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'completed', 'dead', 'discarded')),
    run_at        BIGINT    NOT NULL,
    attempts      INTEGER   NOT NULL DEFAULT 0,
    max_attempts  INTEGER   NOT NULL DEFAULT 5,
    backoff_ms    BIGINT    NOT NULL DEFAULT 1000,
    unique_key    TEXT,
    locked_by     TEXT,
    locked_until  BIGINT,
    last_error    TEXT,
    errors        TEXT      NOT NULL DEFAULT '[]',
    traceparent   TEXT,
    created_at    BIGINT    NOT NULL,
    updated_at    BIGINT    NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_lease ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_queue_state ON jobs (queue, state, id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('completed', 'discarded');
CREATE UNIQUE INDEX jobs_unique_live ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');

CREATE TABLE job_schedules (
    name         TEXT      PRIMARY KEY,
    cron         TEXT      NOT NULL,
    queue        TEXT      NOT NULL,
    payload      TEXT      NOT NULL DEFAULT '{}',
    next_run_at  BIGINT    NOT NULL,
    last_run_at  BIGINT,
    enabled      INTEGER   NOT NULL DEFAULT 1,
    updated_at   BIGINT    NOT NULL
);
