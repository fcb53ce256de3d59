-- Status callbacks to the SaaS registry: a durable outbox. A row is written with its job (same
-- transaction) and becomes due once the job's status is terminal; `next_attempt_at` doubles as
-- the claim lease of the process sending an attempt.

CREATE TABLE mtx.callbacks (
    job_id           uuid PRIMARY KEY REFERENCES mtx.jobs (id) ON DELETE CASCADE,
    url              text NOT NULL,
    subscription_url text,
    state            text NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'EXPIRED')),
    -- Attempts claimed so far; recording an attempt is fenced by it.
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL
);

-- The delivery loop looks for pending callbacks whose next attempt is due.
CREATE INDEX callbacks_due ON mtx.callbacks (next_attempt_at) WHERE state = 'PENDING';

CREATE TABLE mtx.callback_attempts (
    job_id      uuid NOT NULL REFERENCES mtx.callbacks (job_id) ON DELETE CASCADE,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    at          timestamptz NOT NULL,
    http_status integer,
    error       text,
    PRIMARY KEY (job_id, attempt)
);
