-- The HTTP API: hashed API keys, idempotency keys, deduplication of incoming webhooks,
-- and the indexes behind its newest-first keyset pagination.

-- A key's secret is shown once; only its SHA-256 is kept (the secret is 32 random bytes,
-- so an unsalted fast hash is enough and lets auth be one indexed lookup).
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    secret_hash text NOT NULL UNIQUE,
    hint        text NOT NULL,          -- the last four characters, to tell keys apart
    created     timestamptz NOT NULL DEFAULT now(),
    revoked     timestamptz
);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- One row per (account, Idempotency-Key). The row is inserted in the same transaction as
-- the write it guards, so a concurrent request with the same key waits on the unique index
-- and then replays the stored response instead of applying the write again.
-- Rows are kept at least 24 hours (purged later by the API process).
CREATE TABLE idempotency_keys (
    account_id    text NOT NULL REFERENCES accounts (id),
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method        text NOT NULL,
    path          text NOT NULL,
    params_hash   text NOT NULL,
    status_code   integer,              -- NULL only inside the guarded transaction
    response      jsonb,
    request_id    text NOT NULL,
    created       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);

-- Shopify retries a delivery with the same X-Shopify-Webhook-Id: apply each id once.
CREATE TABLE incoming_webhooks (
    account_id  text NOT NULL REFERENCES accounts (id),
    source      text NOT NULL,
    webhook_id  text NOT NULL,
    topic       text NOT NULL,
    result      jsonb NOT NULL,
    received    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, source, webhook_id)
);

-- Lists are newest first by (created, pk) with keyset cursors.
CREATE INDEX products_account_created_pk ON products (account_id, created DESC, pk DESC);
CREATE INDEX prices_account_created_pk ON prices (account_id, created DESC, pk DESC);
CREATE INDEX events_account_object ON events (account_id, object_id, sequence);

-- Shopify's inventory_levels/update names an inventory_item_id, not a SKU. The mapping is
-- learned from inventory_items/create|update webhooks (which carry both) or set in bulk.
CREATE TABLE shopify_inventory_items (
    account_id        text NOT NULL REFERENCES accounts (id),
    source            text NOT NULL,
    inventory_item_id bigint NOT NULL,
    sku               text NOT NULL,
    updated           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, source, inventory_item_id)
);
