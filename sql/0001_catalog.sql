-- The versioned catalog: accounts, sources, products, prices, inventory, the event log
-- (which is also the version history), import runs and rejected rows.

CREATE TABLE accounts (
    id      text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    created timestamptz NOT NULL DEFAULT now()
);
INSERT INTO accounts (id) VALUES ('acct_default');

-- A source owns a subset of the field groups content, pricing, inventory (docs/ownership.md).
CREATE TABLE sources (
    account_id     text NOT NULL REFERENCES accounts (id),
    name           text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    kind           text NOT NULL CHECK (kind IN ('csv', 'jsonl', 'shopify', 'woocommerce', 'http_json')),
    owns           text[] NOT NULL CHECK (owns <@ ARRAY['content', 'pricing', 'inventory']),
    mapping        jsonb,
    config         jsonb NOT NULL DEFAULT '{}',
    webhook_secret text,
    created        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, name)
);

-- The catalog tables below are written in bulk by imports (COPY of a million rows). They carry
-- no foreign keys: PostgreSQL checks each one with a per-row query (about 16 µs a row here),
-- which would more than double an import. Their writers (the importer and store/objects.py)
-- create parents before children in the same transaction, and the integrity tests check
-- that no price, stock item or ledger row is ever orphaned.
CREATE TABLE products (
    pk                 bigint GENERATED ALWAYS AS IDENTITY,  -- list order (created, pk)
    id                 text PRIMARY KEY,
    account_id         text NOT NULL,
    source             text,
    external_id        text,
    active             boolean NOT NULL DEFAULT true,
    name               text,
    description        text,
    images             jsonb NOT NULL DEFAULT '[]',
    metadata           jsonb NOT NULL DEFAULT '{}',
    url                text,
    shippable          boolean,
    tax_code           text,
    unit_label         text,
    package_dimensions jsonb,
    default_price      text,
    version            integer NOT NULL CHECK (version >= 1),
    content_hash       text NOT NULL,
    created            timestamptz NOT NULL DEFAULT now(),
    updated            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, external_id)
);
CREATE INDEX products_account_created ON products (account_id, created, pk);
CREATE INDEX products_account_updated ON products (account_id, updated);

-- Prices are immutable in amount and currency: a new amount is a new price (docs/concepts.md).
-- `variant_key` identifies the sellable variant; the current price of a variant is the one
-- with replaced_by IS NULL.
CREATE TABLE prices (
    pk           bigint GENERATED ALWAYS AS IDENTITY,
    id           text PRIMARY KEY,
    account_id   text NOT NULL,
    product_id   text NOT NULL,
    source       text,
    variant_key  text NOT NULL,
    lookup_key   text,
    active       boolean NOT NULL DEFAULT true,
    currency     text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    unit_amount  bigint CHECK (unit_amount >= 0),
    type         text NOT NULL DEFAULT 'one_time' CHECK (type IN ('one_time', 'recurring')),
    recurring    jsonb,
    nickname     text,
    metadata     jsonb NOT NULL DEFAULT '{}',
    replaced_by  text,
    version      integer NOT NULL CHECK (version >= 1),
    content_hash text NOT NULL,
    created      timestamptz NOT NULL DEFAULT now(),
    updated      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX prices_current_variant ON prices (account_id, variant_key) WHERE replaced_by IS NULL;
CREATE UNIQUE INDEX prices_lookup_key ON prices (account_id, lookup_key) WHERE lookup_key IS NOT NULL;
CREATE INDEX prices_product ON prices (product_id);
CREATE INDEX prices_account_created ON prices (account_id, created, pk);
CREATE INDEX prices_account_updated ON prices (account_id, updated);

CREATE TABLE inventory_items (
    id           text PRIMARY KEY,
    account_id   text NOT NULL,
    sku          text NOT NULL,
    product_id   text NOT NULL,
    price_id     text,
    source       text,
    quantity     bigint NOT NULL DEFAULT 0 CHECK (quantity >= 0), -- backstop against oversell
    policy       text NOT NULL DEFAULT 'deny' CHECK (policy IN ('deny', 'continue')),
    version      integer NOT NULL CHECK (version >= 1),
    content_hash text NOT NULL,
    created      timestamptz NOT NULL DEFAULT now(),
    updated      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, sku)
);
CREATE INDEX inventory_items_product ON inventory_items (product_id);
CREATE INDEX inventory_items_account_updated ON inventory_items (account_id, updated);

-- Every quantity change, whoever made it.
CREATE TABLE inventory_adjustments (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        text NOT NULL,
    inventory_item_id text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('delta', 'set', 'initial')),
    delta             bigint NOT NULL,
    quantity_after    bigint NOT NULL CHECK (quantity_after >= 0),
    reason            text,
    reference         text,
    idempotency_key   text,
    source            text,
    run_id            text,
    request_id        text,
    created           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_adjustments_item ON inventory_adjustments (inventory_item_id, id);

CREATE TABLE import_runs (
    id                text PRIMARY KEY,
    account_id        text NOT NULL REFERENCES accounts (id),
    source            text NOT NULL,
    mode              text NOT NULL CHECK (mode IN ('full', 'incremental')),
    dry_run           boolean NOT NULL,
    status            text NOT NULL CHECK (status IN ('applied', 'refused', 'failed')),
    input             text,
    rows_read         integer NOT NULL,
    rows_valid        integer NOT NULL,
    rows_rejected     integer NOT NULL,
    summary           jsonb NOT NULL,
    unmapped_columns  jsonb NOT NULL DEFAULT '[]',
    error             text,
    started           timestamptz NOT NULL,
    finished          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX import_runs_source ON import_runs (account_id, source, started DESC);

CREATE TABLE rejected_rows (
    run_id     text NOT NULL REFERENCES import_runs (id),
    row_number integer NOT NULL,
    raw        jsonb NOT NULL,
    reasons    jsonb NOT NULL,
    PRIMARY KEY (run_id, row_number)
);

-- The event log is also the version history: one row per object version, holding the full
-- new state (data.object) and the changed fields (data.previous_attributes).
-- `sequence` is assigned under a transaction-level lock taken right before the insert and
-- held to commit, so sequences become visible in order and a `sequence > cursor` reader
-- never skips a late commit (docs/maintainers.md, PostgreSQL).
-- Ids are time-ordered (the B-tree appends instead of splitting pages at random); events
-- carry no foreign key to accounts, because the writers that append them already checked it
-- and a per-row trigger would double the cost of a bulk import.
CREATE FUNCTION time_ordered_id(prefix text) RETURNS text LANGUAGE sql VOLATILE AS $$
SELECT prefix || '_' || lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 11, '0')
       || substr(md5(random()::text), 1, 13)
$$;

CREATE TABLE events (
    sequence       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             text NOT NULL UNIQUE DEFAULT time_ordered_id('evt'),
    account_id     text NOT NULL,
    type           text NOT NULL,
    object_type    text NOT NULL CHECK (object_type IN ('product', 'price', 'inventory_item')),
    object_id      text NOT NULL,
    object_version integer NOT NULL CHECK (object_version >= 1),
    -- json, not jsonb: the log is written far more than it is searched, and json keeps the
    -- text as written (about a third cheaper to load in bulk, measured in bench/).
    data           json NOT NULL,
    request        jsonb NOT NULL DEFAULT '{"id": null, "idempotency_key": null}',
    source         text,
    run_id         text,
    created        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (object_id, object_version)
);
CREATE INDEX events_account_sequence ON events (account_id, sequence);

CREATE VIEW object_versions AS
SELECT account_id, object_type, object_id, object_version AS version,
       data -> 'object' AS state, data -> 'previous_attributes' AS previous_attributes,
       created, sequence, id AS event_id, source, run_id
FROM events;

CREATE FUNCTION forbid_event_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER events_append_only_rows BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION forbid_event_changes();
CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_event_changes();

-- Stripe-shaped JSON for each object: one definition, used by events and by every reader.
CREATE FUNCTION epoch(ts timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT floor(extract(epoch FROM ts))::bigint $$;

CREATE FUNCTION product_object(p products) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'id', p.id, 'object', 'product', 'active', p.active, 'name', p.name,
    'description', p.description, 'images', p.images, 'metadata', p.metadata, 'url', p.url,
    'shippable', p.shippable, 'tax_code', p.tax_code, 'unit_label', p.unit_label,
    'package_dimensions', p.package_dimensions, 'default_price', p.default_price,
    'created', epoch(p.created), 'updated', epoch(p.updated), 'livemode', false,
    'version', p.version, 'source', p.source, 'external_id', p.external_id)
$$;

CREATE FUNCTION price_object(p prices) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'id', p.id, 'object', 'price', 'product', p.product_id, 'active', p.active,
    'currency', p.currency, 'unit_amount', p.unit_amount,
    'unit_amount_decimal', p.unit_amount::text, 'type', p.type, 'recurring', p.recurring,
    'lookup_key', p.lookup_key, 'nickname', p.nickname, 'metadata', p.metadata,
    'billing_scheme', 'per_unit', 'tax_behavior', 'unspecified', 'livemode', false,
    'created', epoch(p.created), 'version', p.version, 'source', p.source)
$$;

CREATE FUNCTION inventory_item_object(i inventory_items) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'id', i.id, 'object', 'inventory_item', 'sku', i.sku, 'product', i.product_id,
    'price', i.price_id, 'quantity', i.quantity, 'policy', i.policy,
    'version', i.version, 'created', epoch(i.created), 'updated', epoch(i.updated),
    'source', i.source)
$$;

-- The keys whose values differ, with their old values: Stripe's previous_attributes.
CREATE FUNCTION previous_attributes(old jsonb, new jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT coalesce(jsonb_object_agg(o.key, o.value), '{}'::jsonb)
FROM jsonb_each(old) o
WHERE o.key NOT IN ('version', 'updated') AND o.value IS DISTINCT FROM new -> o.key
$$;

-- [{"key": k, "value": v}, ...] (how imports carry metadata) -> {"k": "v", ...}
CREATE FUNCTION kv_object(kv jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT coalesce(jsonb_object_agg(e ->> 'key', e ->> 'value'), '{}'::jsonb)
FROM jsonb_array_elements(coalesce(kv, '[]'::jsonb)) e
$$;

-- A text value as one CSV field (NULL -> empty), for the importer's bulk read of stored keys.
CREATE FUNCTION csv_field(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN v IS NULL THEN '' ELSE '"' || replace(v, '"', '""') || '"' END
$$;
