-- 0008: the catalog's revision. Every statement that changes what a routing snapshot is
-- compiled from bumps it; a publication records the revision it compiled, so "the snapshot
-- is stale" is one comparison, whatever wrote the change (the admin, the CLI, an import).

CREATE TABLE catalog_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),  -- one row
    revision    bigint NOT NULL DEFAULT 0,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO catalog_state DEFAULT VALUES;

CREATE FUNCTION akira_catalog_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_state SET revision = revision + 1, changed_at = now();
    RETURN NULL;
END
$$;

DO $$
DECLARE
    routing_table text;
BEGIN
    FOREACH routing_table IN ARRAY ARRAY['companies', 'tariffs', 'rates', 'routing_plans',
        'routing_plan_overrides', 'blocked_prefixes', 'terminators', 'terminator_gateways',
        'routing_plan_entries', 'originators', 'devices']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION akira_catalog_changed()',
                       routing_table || '_catalog_changed', routing_table);
    END LOOP;
END
$$;

ALTER TABLE snapshot_publications ADD COLUMN catalog_revision bigint NOT NULL DEFAULT 0;
