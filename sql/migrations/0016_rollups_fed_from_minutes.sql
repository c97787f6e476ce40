-- 0016: rollups fed from the minute rollup instead of from every CDR (docs/decisions/0016).
--
-- The cdrs statement trigger summed every statement's transition table into each of the five
-- rollups: PostgreSQL's CPU per CDR tripled and one rater ingested 2.3-3x fewer CDRs/s
-- (docs/BENCHMARKS.md). Now it writes the minute rollup alone (every key: it holds what the
-- others hold), and akira_compact_rollups, which the rater runs every minute, sums the minute
-- rollup's partial rows it merges into the hour, day, trunks-day and destinations-day rollups
-- too, each row exactly once (the merge deletes it). Until then a report sees them through
-- the coarser rollups' new _live views (the rollup's rows plus the minute rollup's rows not
-- yet fed on), which admin/reports reads. Tables and their rows are as 0010 made them (they
-- are complete); on TimescaleDB (continuous aggregates, no trigger) only the views are new.

-- On plain PostgreSQL the rows a statement really wrote (a replay that ON CONFLICT skipped is
-- not in its transition table) are added to the minute rollup in the writer's transaction: the
-- rater, akira rerate and akira cdr retry alike. Only to the minute rollup: one pass over the
-- statement's rows, not one per rollup (0016); akira_compact_rollups feeds the coarser ones
-- from it, and until then their _live views add its rows not yet fed on.
CREATE OR REPLACE FUNCTION akira_roll_up_cdrs() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changes text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, * FROM changed_new'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, * FROM changed_old'
        ELSE 'SELECT -1 AS sign, * FROM changed_old UNION ALL SELECT 1, * FROM changed_new'
    END;
    rollup record;
BEGIN
    FOR rollup IN SELECT * FROM akira_rollups() WHERE grain = 'minute' LOOP
        EXECUTE akira_rollup_statement(rollup.name, rollup.grain, rollup.keys, changes);
    END LOOP;
    RETURN NULL;
END
$$;

-- Merges the partial rows of every bucket that has new ones into one row per key (the rater
-- calls it every minute; a report is right either way, only smaller after), the minute rollup
-- first: the cdrs trigger writes that one alone, and the partial rows merged away there are
-- also summed, once, into every coarser rollup (each from the finest one already summed that
-- has its keys), merged there with the rows of the buckets they fall in, in the same statement
-- (0016); any partial rows of a coarser rollup are merged after. A rater's rows that commit
-- meanwhile are not deleted, so they are merged and fed on next time; a concurrent call
-- returns at once. Returns the rows merged away; on TimescaleDB, 0 (no tables to merge).
CREATE OR REPLACE FUNCTION akira_compact_rollups() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    rollup record;
    coarser record;
    key_list text;
    source text;
    feeds text;
    merged bigint;
    total bigint := 0;
BEGIN
    IF akira_timescaledb_usable() OR NOT pg_try_advisory_xact_lock(hashtext('akira_compact_rollups')) THEN
        RETURN 0;
    END IF;
    FOR rollup IN SELECT * FROM akira_rollups() ORDER BY grain <> 'minute' LOOP
        key_list := array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(rollup.keys) k), ', ');
        feeds := '';
        IF rollup.grain = 'minute' THEN
            FOR coarser IN
                SELECT r.*, ('1 ' || r.grain)::interval AS step FROM akira_rollups() r
                WHERE r.grain <> 'minute'
                ORDER BY ('1 ' || r.grain)::interval, cardinality(r.keys) DESC, r.name
            LOOP
                -- summed from the coarsest rollup fed before it that has its keys (the day
                -- rollup from the hour one, the narrow days from the day one), else from the
                -- minute rows merged away
                source := coalesce((
                    SELECT 'fed_' || r.name FROM akira_rollups() r
                    WHERE r.grain <> 'minute' AND r.keys @> coarser.keys
                      AND (('1 ' || r.grain)::interval, -cardinality(r.keys), r.name)
                          < (coarser.step, -cardinality(coarser.keys), coarser.name)
                    ORDER BY ('1 ' || r.grain)::interval DESC, cardinality(r.keys), r.name
                    LIMIT 1), 'moved');
                feeds := feeds || format($feed$, %1$I AS (
                SELECT date_trunc(%4$L, bucket, 'UTC') AS bucket, %3$s, currency,
                       sum(attempts) AS attempts, sum(calls) AS calls, sum(answered) AS answered,
                       sum(effective) AS effective, sum(talk_seconds) AS talk_seconds,
                       sum(billed_seconds) AS billed_seconds, sum(pdd_ms) AS pdd_ms,
                       sum(pdd_attempts) AS pdd_attempts, sum(revenue) AS revenue,
                       sum(cost) AS cost
                FROM %5$I %6$s GROUP BY 1, %3$s, currency
            ), %2$I AS (
                DELETE FROM %7$I r USING (SELECT DISTINCT bucket FROM %1$I) f
                WHERE r.bucket = f.bucket RETURNING r.*
            ), %8$I AS (
                INSERT INTO %7$I (bucket, %3$s, currency, attempts, calls, answered, effective,
                                  talk_seconds, billed_seconds, pdd_ms, pdd_attempts, revenue,
                                  cost, compacted)
                SELECT bucket, %3$s, currency, sum(attempts), sum(calls), sum(answered),
                       sum(effective), sum(talk_seconds), sum(billed_seconds), sum(pdd_ms),
                       sum(pdd_attempts), sum(revenue), sum(cost), true
                FROM (SELECT bucket, %3$s, currency, attempts, calls, answered, effective,
                             talk_seconds, billed_seconds, pdd_ms, pdd_attempts, revenue, cost
                      FROM %2$I UNION ALL SELECT * FROM %1$I) b
                GROUP BY bucket, %3$s, currency
                HAVING sum(attempts) <> 0 OR sum(calls) <> 0 OR sum(answered) <> 0
                    OR sum(effective) <> 0 OR sum(talk_seconds) <> 0
                    OR sum(billed_seconds) <> 0 OR sum(pdd_ms) <> 0 OR sum(pdd_attempts) <> 0
                    OR sum(revenue) <> 0 OR sum(cost) <> 0
            )$feed$, 'fed_' || coarser.name, 'old_' || coarser.name,
                    array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(coarser.keys) k), ', '),
                    coarser.grain, source,
                    CASE WHEN source = 'moved' THEN 'WHERE NOT compacted' ELSE '' END,
                    coarser.name, 'into_' || coarser.name);
            END LOOP;
        END IF;
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
            )%3$s
            SELECT (SELECT count(*) FROM moved) - (SELECT count(*) FROM merged)
            $merge$, rollup.name, key_list, feeds) INTO merged;
        total := total + merged;
    END LOOP;
    RETURN total;
END
$$;

-- What a coarser rollup says now (reports read these, admin/reports): its rows, and on plain
-- PostgreSQL the minute rollup's partial rows not yet fed into it by akira_compact_rollups
-- (at most about a minute of them, read by the minute rollup's index of fresh rows). On
-- TimescaleDB, where every rollup is a real-time continuous aggregate, the aggregate alone.
DO $live$
DECLARE
    rollup record;
    key_list text;
    sums text := 'attempts, calls, answered, effective, talk_seconds, billed_seconds, pdd_ms, '
                 || 'pdd_attempts, revenue, cost';
    finest text := (SELECT name FROM akira_rollups() WHERE grain = 'minute');
BEGIN
    FOR rollup IN SELECT * FROM akira_rollups() WHERE grain <> 'minute' LOOP
        key_list := array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(rollup.keys) k), ', ');
        IF akira_timescaledb_usable() THEN
            EXECUTE format('CREATE VIEW %I AS SELECT bucket, %s, currency, %s FROM %I',
                           rollup.name || '_live', key_list, sums, rollup.name);
        ELSE
            EXECUTE format($view$
                CREATE VIEW %1$I AS
                SELECT bucket, %2$s, currency, %3$s FROM %4$I
                UNION ALL
                SELECT date_trunc(%5$L, bucket, 'UTC'), %2$s, currency, %3$s
                FROM %6$I WHERE NOT compacted
                $view$, rollup.name || '_live', key_list, sums, rollup.name, rollup.grain,
                finest);
        END IF;
    END LOOP;
END
$live$;
