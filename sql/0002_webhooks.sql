-- Outgoing webhooks (docs/webhooks.md): endpoints, one delivery per (event, endpoint), every
-- attempt logged, and the cursor of the follower that fans the event log out to deliveries.

CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY CHECK (id ~ '^we_[A-Za-z0-9]{8,64}$'),
    account_id      text NOT NULL REFERENCES accounts (id),
    url             text NOT NULL CHECK (url ~ '^https?://'),
    description     text,
    enabled_events  text[] NOT NULL DEFAULT ARRAY['*'] CHECK (cardinality(enabled_events) >= 1),
    -- Echo suppression: events whose `source` is listed here are never sent to this endpoint.
    skip_sources    text[] NOT NULL DEFAULT '{}',
    secret          text NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/=]{20,}$'),
    status          text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    disabled_reason text,
    -- Start of the current run of failed attempts; NULL once an attempt succeeds. An endpoint
    -- failing continuously for 5 days is disabled.
    failing_since   timestamptz,
    -- The fan-out cursor when the endpoint was created: it receives the events after it.
    -- Older events reach it only through a replay.
    after_sequence  bigint NOT NULL,
    created         timestamptz NOT NULL DEFAULT now(),
    updated         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, created, id);

-- The follower's position in the log (one row). Fan-out and endpoint creation both lock it,
-- so an endpoint created concurrently with a fan-out batch misses no event.
CREATE TABLE webhook_fanout_cursor (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_sequence bigint NOT NULL,
    updated       timestamptz NOT NULL DEFAULT now()
);
-- No endpoint exists before this migration, so nothing older than now needs fanning out.
INSERT INTO webhook_fanout_cursor (last_sequence) SELECT coalesce(max(sequence), 0) FROM events;

-- One row per message. `id` is the `webhook-id`, identical on every retry of the message.
-- Live deliveries have replay_id = '' and are unique per (event, endpoint); each replay is a
-- separate stream of new messages with their own ids.
-- Ordering: within (endpoint_id, object_id, replay_id) only the pending row with the lowest
-- event_sequence may be sent. A claimed row stays 'pending' with next_attempt_at pushed to the
-- end of its lease, so a crashed worker's claim simply comes due again.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY CHECK (id ~ '^msg_[A-Za-z0-9]+$'),
    account_id       text NOT NULL REFERENCES accounts (id),
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_sequence   bigint NOT NULL REFERENCES events (sequence),
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    object_id        text NOT NULL,
    replay_id        text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_token      text,
    last_status_code integer,
    last_error       text,
    created          timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (event_sequence, endpoint_id, replay_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_queue
    ON webhook_deliveries (endpoint_id, object_id, replay_id, event_sequence)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, event_sequence);
CREATE INDEX webhook_deliveries_pending_sequence ON webhook_deliveries (event_sequence)
    WHERE status = 'pending' AND replay_id = '';

-- Every HTTP attempt, successful or not.
CREATE TABLE webhook_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    endpoint_id  text NOT NULL,
    attempted_at timestamptz NOT NULL,
    status_code  integer,
    latency_ms   integer NOT NULL CHECK (latency_ms >= 0),
    error        text,
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'gave_up'))
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempted_at);
