-- 0010: rollups for reports (issue 10), and the TimescaleDB path's defects.
--
-- TimescaleDB is detected without reading shared_preload_libraries (superuser-only: `akira
-- migrate` by an ordinary role failed wherever the extension was installed); the index
-- create_hypertable added on started_at beside cdrs_started_at is dropped (schema.sql now
-- asks for none); then the rollups, filled from the CDRs already stored. On TimescaleDB the
-- continuous aggregates are created empty (a migration runs in a transaction, which a
-- refresh cannot): after migrating, run once per rollup (SELECT name FROM akira_rollups())
-- CALL refresh_continuous_aggregate('cdr_rollup_day', NULL, NULL);

-- TimescaleDB is used when this database has the extension: akira_try_create_extension made it
-- when the cdrs table was created (or an administrator did, beforehand). Nothing here reads
-- shared_preload_libraries, a setting only superusers may read (docs/running.md, Database).
CREATE OR REPLACE FUNCTION akira_timescaledb_usable() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
$$;

-- Creates the extension when the server offers it and this role may create it; false, with a
-- notice saying why, when it cannot (not preloaded, not allowed): plain PostgreSQL is used.
CREATE FUNCTION akira_try_create_extension(extension text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = extension) THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = extension) THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('CREATE EXTENSION %I', extension);
        RETURN true;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'extension % is available but was not created (%): using plain PostgreSQL',
            extension, SQLERRM;
        RETURN false;
    END;
END
$$;

DROP INDEX IF EXISTS cdrs_started_at_idx;

-- Rollups (issue 10; docs/reports.md): the CDRs summed per bucket (minute, hour, day) by a set
-- of keys. Every report reads the smallest rollup that has the keys it needs (admin/reports):
-- cdr_rollup_<grain> by every key (originator, terminator, customer tariff prefix: the
-- destination, currency), and by day the narrower cdr_rollup_trunks_day and
-- cdr_rollup_destinations_day, a few rows per day where the full one has one per route.
-- Customer, vendor and destination names follow from the keys by joins.
CREATE FUNCTION akira_rollups() RETURNS TABLE (name text, grain text, keys text[])
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('cdr_rollup_minute', 'minute',
            ARRAY['originator_id', 'terminator_id', 'customer_tariff_id', 'customer_prefix']),
           ('cdr_rollup_hour', 'hour',
            ARRAY['originator_id', 'terminator_id', 'customer_tariff_id', 'customer_prefix']),
           ('cdr_rollup_day', 'day',
            ARRAY['originator_id', 'terminator_id', 'customer_tariff_id', 'customer_prefix']),
           ('cdr_rollup_trunks_day', 'day', ARRAY['originator_id', 'terminator_id']),
           ('cdr_rollup_destinations_day', 'day', ARRAY['customer_tariff_id', 'customer_prefix'])
$$;

-- NER's numerator (ITU-T E.411): an attempt the network completed, answered or refused by the
-- called party (busy, no answer, cancelled, declined) rather than by a network.
CREATE FUNCTION akira_network_effective(sip_code smallint, answered_at timestamptz)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN answered_at IS NOT NULL OR sip_code IN (480, 486, 487, 600, 603)
                THEN 1 ELSE 0 END
$$;

-- Post-dial delay of an attempt relayed to a vendor, in milliseconds: until its answer or its
-- failure reply; none when no vendor was tried or the caller cancelled (487). The CDR records
-- no ringing time yet, so an answered attempt's delay includes its ringing.
CREATE FUNCTION akira_post_dial_delay_ms(terminator_id bigint, sip_code smallint,
    started_at timestamptz, answered_at timestamptz, ended_at timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN terminator_id IS NULL OR sip_code = 487 THEN NULL
                ELSE round(extract(epoch FROM coalesce(answered_at, ended_at) - started_at)
                           * 1000)::bigint END
$$;

-- The statement that adds signed CDR rows to one rollup: ``changes`` yields sign, then the
-- cdrs columns (+1 for a row written, -1 for one removed or replaced). It appends one partial
-- row per key and batch (a report sums them all; no row is locked, so raters never wait on one
-- another); akira_compact_rollups merges them later.
CREATE FUNCTION akira_rollup_statement(rollup text, grain text, keys text[], changes text,
    compacted boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    key_list text := array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(keys) k), ', ');
    source_keys text := array_to_string(ARRAY(SELECT 'c.' || quote_ident(k) FROM unnest(keys) k), ', ');
    positions text := array_to_string(ARRAY(SELECT generate_series(1, cardinality(keys) + 2)), ', ');
BEGIN
    RETURN format($insert$
        INSERT INTO %1$I (bucket, %2$s, currency, attempts, calls, answered, effective,
                          talk_seconds, billed_seconds, pdd_ms, pdd_attempts, revenue, cost,
                          compacted)
        SELECT date_trunc(%3$L, c.started_at, 'UTC'), %4$s, c.currency,
               sum(c.sign), sum(c.sign * (c.attempt <= 1)::int),
               sum(c.sign * (c.answered_at IS NOT NULL)::int),
               sum(c.sign * akira_network_effective(c.sip_code, c.answered_at)),
               sum(c.sign * c.duration), sum(c.sign * c.customer_billed_seconds),
               coalesce(sum(c.sign * akira_post_dial_delay_ms(c.terminator_id, c.sip_code,
                   c.started_at, c.answered_at, c.ended_at)), 0),
               sum(c.sign * (akira_post_dial_delay_ms(c.terminator_id, c.sip_code,
                   c.started_at, c.answered_at, c.ended_at) IS NOT NULL)::int),
               sum(c.sign * c.customer_price), sum(c.sign * c.vendor_cost), %7$L
        FROM (%5$s) c
        GROUP BY %6$s
        $insert$, rollup, key_list, grain, source_keys, changes, positions, compacted);
END
$$;

-- Merges the partial rows of every bucket that has new ones into one row per key (the rater
-- calls it every minute; a report is right either way, only smaller after). A rater's rows
-- that commit meanwhile are not deleted, so they are merged next time; a concurrent call
-- returns at once. Returns the rows merged away; on TimescaleDB, 0 (no tables to merge).
CREATE FUNCTION akira_compact_rollups() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    rollup record;
    key_list text;
    merged bigint;
    total bigint := 0;
BEGIN
    IF akira_timescaledb_usable() OR NOT pg_try_advisory_xact_lock(hashtext('akira_compact_rollups')) THEN
        RETURN 0;
    END IF;
    FOR rollup IN SELECT * FROM akira_rollups() LOOP
        key_list := array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(rollup.keys) k), ', ');
        EXECUTE format($merge$
            WITH fresh AS (SELECT DISTINCT bucket FROM %1$I WHERE NOT compacted),
            moved AS (
                DELETE FROM %1$I r USING fresh WHERE r.bucket = fresh.bucket RETURNING r.*
            ), merged AS (
                INSERT INTO %1$I (bucket, %2$s, currency, attempts, calls, answered, effective,
                                  talk_seconds, billed_seconds, pdd_ms, pdd_attempts, revenue,
                                  cost, compacted)
                SELECT bucket, %2$s, currency, sum(attempts), sum(calls), sum(answered),
                       sum(effective), sum(talk_seconds), sum(billed_seconds), sum(pdd_ms),
                       sum(pdd_attempts), sum(revenue), sum(cost), true
                FROM moved GROUP BY bucket, %2$s, currency
                -- what cancelled out (CDRs deleted) leaves nothing behind
                HAVING sum(attempts) <> 0 OR sum(calls) <> 0 OR sum(answered) <> 0
                    OR sum(effective) <> 0 OR sum(talk_seconds) <> 0
                    OR sum(billed_seconds) <> 0 OR sum(pdd_ms) <> 0 OR sum(pdd_attempts) <> 0
                    OR sum(revenue) <> 0 OR sum(cost) <> 0
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM moved) - (SELECT count(*) FROM merged)
            $merge$, rollup.name, key_list) INTO merged;
        total := total + merged;
    END LOOP;
    RETURN total;
END
$$;

-- On plain PostgreSQL the rows a statement really wrote (a replay that ON CONFLICT skipped is
-- not in its transition table) are added to every rollup in the writer's transaction: the
-- rater, akira rerate and akira cdr retry alike.
CREATE FUNCTION akira_roll_up_cdrs() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changes text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, * FROM changed_new'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, * FROM changed_old'
        ELSE 'SELECT -1 AS sign, * FROM changed_old UNION ALL SELECT 1, * FROM changed_new'
    END;
    rollup record;
BEGIN
    FOR rollup IN SELECT * FROM akira_rollups() LOOP
        EXECUTE akira_rollup_statement(rollup.name, rollup.grain, rollup.keys, changes);
    END LOOP;
    RETURN NULL;
END
$$;

-- With TimescaleDB: continuous aggregates of the same names and columns, refreshed by policy
-- and real-time (materialized_only = false), so reports read both alike.
DO $rollups$
DECLARE
    rollup record;
    key_columns text;
    refreshed interval;
BEGIN
    FOR rollup IN SELECT * FROM akira_rollups() LOOP
        key_columns := array_to_string(
            ARRAY(SELECT quote_ident(k) FROM unnest(rollup.keys) k), ', ');
        IF akira_timescaledb_usable() THEN
            EXECUTE format($view$
                CREATE MATERIALIZED VIEW %I
                WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                SELECT time_bucket(%L::interval, started_at) AS bucket, %s, currency,
                       count(*) AS attempts,
                       sum(CASE WHEN attempt <= 1 THEN 1 ELSE 0 END) AS calls,
                       sum(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered,
                       sum(akira_network_effective(sip_code, answered_at)) AS effective,
                       sum(duration) AS talk_seconds,
                       sum(customer_billed_seconds) AS billed_seconds,
                       coalesce(sum(akira_post_dial_delay_ms(terminator_id, sip_code,
                           started_at, answered_at, ended_at)), 0) AS pdd_ms,
                       count(akira_post_dial_delay_ms(terminator_id, sip_code, started_at,
                           answered_at, ended_at)) AS pdd_attempts,
                       sum(customer_price) AS revenue, sum(vendor_cost) AS cost
                FROM cdrs GROUP BY bucket, %s, currency WITH NO DATA
                $view$, rollup.name, '1 ' || rollup.grain, key_columns, key_columns);
            -- late CDRs (long calls, a node's journal shipped after an outage) land within
            refreshed := CASE rollup.grain WHEN 'minute' THEN interval '3 days'
                                           WHEN 'hour' THEN interval '7 days'
                                           ELSE interval '35 days' END;
            PERFORM add_continuous_aggregate_policy(rollup.name::regclass,
                start_offset => refreshed, end_offset => ('1 ' || rollup.grain)::interval,
                schedule_interval => ('1 ' || rollup.grain)::interval);
        ELSE
            EXECUTE format($table$
                CREATE TABLE %I (
                    bucket              timestamptz NOT NULL,
                    %s,
                    currency            char(3) NOT NULL,
                    attempts            bigint NOT NULL,
                    calls               bigint NOT NULL,  -- attempts 0 and 1: one per call
                    answered            bigint NOT NULL,
                    effective           bigint NOT NULL,  -- akira_network_effective
                    talk_seconds        numeric NOT NULL,
                    billed_seconds      bigint NOT NULL,  -- the customer's
                    pdd_ms              numeric NOT NULL,  -- akira_post_dial_delay_ms, summed
                    pdd_attempts        bigint NOT NULL,  -- the attempts that have one
                    revenue             numeric NOT NULL,  -- customer_price, summed
                    cost                numeric NOT NULL,  -- vendor_cost, summed
                    -- false: a batch's partial row, not yet merged (akira_compact_rollups)
                    compacted           boolean NOT NULL DEFAULT false
                )$table$,
                rollup.name,
                array_to_string(ARRAY(
                    SELECT format('%I %s', k, CASE WHEN k = 'customer_prefix' THEN 'text'
                                                    ELSE 'bigint' END)
                    FROM unnest(rollup.keys) k), ', '));
            EXECUTE format('CREATE INDEX %I ON %I (bucket)', rollup.name || '_bucket',
                           rollup.name);
            EXECUTE format('CREATE INDEX %I ON %I (bucket) WHERE NOT compacted',
                           rollup.name || '_fresh', rollup.name);
        END IF;
    END LOOP;
    IF NOT akira_timescaledb_usable() THEN
        CREATE TRIGGER cdrs_rolled_up_inserted AFTER INSERT ON cdrs
            REFERENCING NEW TABLE AS changed_new
            FOR EACH STATEMENT EXECUTE FUNCTION akira_roll_up_cdrs();
        CREATE TRIGGER cdrs_rolled_up_updated AFTER UPDATE ON cdrs
            REFERENCING NEW TABLE AS changed_new OLD TABLE AS changed_old
            FOR EACH STATEMENT EXECUTE FUNCTION akira_roll_up_cdrs();
        CREATE TRIGGER cdrs_rolled_up_deleted AFTER DELETE ON cdrs
            REFERENCING OLD TABLE AS changed_old
            FOR EACH STATEMENT EXECUTE FUNCTION akira_roll_up_cdrs();
    END IF;
END
$rollups$;

-- The CDRs stored before this migration (plain PostgreSQL; a continuous aggregate is refreshed
-- instead, see above).
DO $$
DECLARE
    rollup record;
BEGIN
    IF NOT akira_timescaledb_usable() THEN
        FOR rollup IN SELECT * FROM akira_rollups() LOOP
            EXECUTE akira_rollup_statement(rollup.name, rollup.grain, rollup.keys,
                                           'SELECT 1 AS sign, * FROM cdrs', compacted => true);
        END LOOP;
    END IF;
END
$$;
