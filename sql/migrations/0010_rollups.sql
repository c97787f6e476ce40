-- 0010: rollups for reports (issue 10), and the TimescaleDB path's defects.
--
-- TimescaleDB is detected without reading shared_preload_libraries (superuser-only: `akira
-- migrate` by an ordinary role failed wherever the extension was installed); the index
-- create_hypertable added on started_at beside cdrs_started_at is dropped (schema.sql now
-- asks for none); then the rollups, filled from the CDRs already stored. On TimescaleDB the
-- continuous aggregates are created empty (a migration runs in a transaction, which a
-- refresh cannot): after migrating, run once per grain
-- CALL refresh_continuous_aggregate('cdr_rollup_day', NULL, NULL);  (and _hour, _minute)

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

-- Rollups (issue 10; docs/reports.md): the CDRs summed per minute, hour and day by originator,
-- terminator, customer tariff prefix (the destination) and currency; every report reads these,
-- never the CDRs. Customer, vendor and destination name follow from the keys by joins.

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

-- The upsert that adds signed CDR rows (``changes`` yields sign, then the cdrs columns: +1
-- for a row written, -1 for one removed or replaced) into the rollup of one grain.
CREATE FUNCTION akira_rollup_statement(grain text, changes text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($upsert$
        INSERT INTO %I AS r
        SELECT date_trunc(%L, c.started_at, 'UTC'), c.originator_id, c.terminator_id,
               c.customer_tariff_id, c.customer_prefix, c.currency,
               sum(c.sign), sum(c.sign * (c.attempt <= 1)::int),
               sum(c.sign * (c.answered_at IS NOT NULL)::int),
               sum(c.sign * akira_network_effective(c.sip_code, c.answered_at)),
               sum(c.sign * c.duration), sum(c.sign * c.customer_billed_seconds),
               coalesce(sum(c.sign * akira_post_dial_delay_ms(c.terminator_id, c.sip_code,
                   c.started_at, c.answered_at, c.ended_at)), 0),
               sum(c.sign * (akira_post_dial_delay_ms(c.terminator_id, c.sip_code,
                   c.started_at, c.answered_at, c.ended_at) IS NOT NULL)::int),
               sum(c.sign * c.customer_price), sum(c.sign * c.vendor_cost)
        FROM (%s) c
        GROUP BY 1, 2, 3, 4, 5, 6
        ORDER BY 1, 2, 3, 4, 5, 6  -- concurrent raters lock rollup rows in one order
        ON CONFLICT (bucket, originator_id, terminator_id, customer_tariff_id, customer_prefix,
                     currency)
        DO UPDATE SET attempts = r.attempts + excluded.attempts,
            calls = r.calls + excluded.calls, answered = r.answered + excluded.answered,
            effective = r.effective + excluded.effective,
            talk_seconds = r.talk_seconds + excluded.talk_seconds,
            billed_seconds = r.billed_seconds + excluded.billed_seconds,
            pdd_ms = r.pdd_ms + excluded.pdd_ms, pdd_attempts = r.pdd_attempts + excluded.pdd_attempts,
            revenue = r.revenue + excluded.revenue, cost = r.cost + excluded.cost
        $upsert$, 'cdr_rollup_' || grain, grain, changes)
$$;

-- On plain PostgreSQL the rows a statement really wrote (a replay that ON CONFLICT skipped is
-- not in its transition table) are added to each grain in the writer's transaction: the rater,
-- akira rerate and akira cdr retry alike.
CREATE FUNCTION akira_roll_up_cdrs() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changes text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, * FROM changed_new'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, * FROM changed_old'
        ELSE 'SELECT -1 AS sign, * FROM changed_old UNION ALL SELECT 1, * FROM changed_new'
    END;
    grain text;
BEGIN
    FOREACH grain IN ARRAY ARRAY['minute', 'hour', 'day'] LOOP
        EXECUTE akira_rollup_statement(grain, changes);
    END LOOP;
    RETURN NULL;
END
$$;

-- With TimescaleDB: continuous aggregates of the same names and columns, refreshed by policy
-- and real-time (materialized_only = false), so reports read both alike (admin/reports).
DO $rollups$
DECLARE
    grain text;
    refreshed interval;
BEGIN
    FOREACH grain IN ARRAY ARRAY['minute', 'hour', 'day'] LOOP
        IF akira_timescaledb_usable() THEN
            EXECUTE format($view$
                CREATE MATERIALIZED VIEW %I
                WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                SELECT time_bucket(%L::interval, started_at) AS bucket, originator_id,
                       terminator_id, customer_tariff_id, customer_prefix, currency,
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
                FROM cdrs GROUP BY 1, 2, 3, 4, 5, 6 WITH NO DATA
                $view$, 'cdr_rollup_' || grain, '1 ' || grain);
            -- late CDRs (long calls, a node's journal shipped after an outage) land within
            refreshed := CASE grain WHEN 'minute' THEN interval '3 days'
                                    WHEN 'hour' THEN interval '7 days' ELSE interval '35 days' END;
            PERFORM add_continuous_aggregate_policy('cdr_rollup_' || grain,
                start_offset => refreshed, end_offset => ('1 ' || grain)::interval,
                schedule_interval => ('1 ' || grain)::interval);
        ELSE
            EXECUTE format($table$
                CREATE TABLE %I (
                    bucket              timestamptz NOT NULL,
                    originator_id       bigint NOT NULL,
                    terminator_id       bigint,
                    customer_tariff_id  bigint,
                    customer_prefix     text,
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
                    UNIQUE NULLS NOT DISTINCT (bucket, originator_id, terminator_id,
                                               customer_tariff_id, customer_prefix, currency)
                )$table$, 'cdr_rollup_' || grain);
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
    grain text;
BEGIN
    IF NOT akira_timescaledb_usable() THEN
        FOREACH grain IN ARRAY ARRAY['minute', 'hour', 'day'] LOOP
            EXECUTE akira_rollup_statement(grain, 'SELECT 1 AS sign, * FROM cdrs');
        END LOOP;
    END IF;
END
$$;
