-- Sources become versioned objects (docs/mapping-assistant.md): each change of a source's
-- kind, ownership, mapping or config, and its archiving, is a new version kept in
-- source_versions and a `source.created`/`source.updated` event. Sources are archived, never
-- deleted: an archived source refuses imports.

ALTER TABLE sources
    ADD COLUMN id       text NOT NULL DEFAULT time_ordered_id('src'),
    ADD COLUMN version  integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    ADD COLUMN archived timestamptz,
    ADD COLUMN updated  timestamptz NOT NULL DEFAULT now();
ALTER TABLE sources ADD CONSTRAINT sources_id_key UNIQUE (id);
UPDATE sources SET updated = created;

-- The source object, one definition for the API, the CLI, events and versions.
CREATE FUNCTION source_object(s sources) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'id', s.id, 'object', 'source', 'account', s.account_id, 'name', s.name,
    'kind', s.kind, 'owns', to_jsonb(s.owns),
    'mode', CASE WHEN s.owns @> ARRAY['content', 'pricing', 'inventory'] THEN 'mirror'
                 WHEN cardinality(s.owns) = 0 THEN 'catalog' ELSE 'hybrid' END,
    'mapping', s.mapping, 'config', s.config, 'active', s.archived IS NULL,
    'archived', epoch(s.archived), 'version', s.version,
    'created', epoch(s.created), 'updated', epoch(s.updated), 'livemode', false)
$$;

-- Every version of every source, as its object was after the change.
CREATE TABLE source_versions (
    source_id  text NOT NULL REFERENCES sources (id),
    version    integer NOT NULL CHECK (version >= 1),
    account_id text NOT NULL,
    state      jsonb NOT NULL,
    created    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, version)
);

CREATE FUNCTION forbid_source_version_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'source versions are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER source_versions_append_only_rows BEFORE UPDATE OR DELETE ON source_versions
    FOR EACH ROW EXECUTE FUNCTION forbid_source_version_changes();
CREATE TRIGGER source_versions_append_only_truncate BEFORE TRUNCATE ON source_versions
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_source_version_changes();

-- Sources that existed before versioning start at version 1.
INSERT INTO source_versions (source_id, version, account_id, state, created)
SELECT s.id, s.version, s.account_id, source_object(s), s.created FROM sources s;

-- Source changes are events like any object's (the log stays append-only).
ALTER TABLE events DROP CONSTRAINT events_object_type_check;
ALTER TABLE events ADD CONSTRAINT events_object_type_check
    CHECK (object_type IN ('product', 'price', 'inventory_item', 'source')) NOT VALID;
ALTER TABLE events VALIDATE CONSTRAINT events_object_type_check;
