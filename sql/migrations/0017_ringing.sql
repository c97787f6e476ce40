-- The attempt's first 18x (the engine's onreply route of each vendor attempt): an attempt
-- that rang has its post-dial delay end there, not at its answer (docs/reports.md, PDD).
ALTER TABLE cdrs ADD COLUMN ringing_at timestamptz;

-- Post-dial delay of an attempt relayed to a vendor, in milliseconds: until its first ringing,
-- else its answer or its failure reply; none when no vendor was tried, or the caller cancelled
-- (487) before it rang.
CREATE FUNCTION akira_post_dial_delay_ms(terminator_id bigint, sip_code smallint,
    started_at timestamptz, ringing_at timestamptz, answered_at timestamptz,
    ended_at timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN terminator_id IS NULL OR (sip_code = 487 AND ringing_at IS NULL) THEN NULL
                ELSE round(extract(epoch FROM coalesce(ringing_at, answered_at, ended_at)
                                              - started_at) * 1000)::bigint END
$$;

-- The rollups' statement, with the delay above. (The five-argument akira_post_dial_delay_ms
-- stays: TimescaleDB's continuous aggregates of migration 0010 are defined with it, and keep
-- the delay without ringing until they are rebuilt; docs/reports.md.)
CREATE OR REPLACE FUNCTION akira_rollup_statement(rollup text, grain text, keys text[], changes text,
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
                   c.started_at, c.ringing_at, c.answered_at, c.ended_at)), 0),
               sum(c.sign * (akira_post_dial_delay_ms(c.terminator_id, c.sip_code,
                   c.started_at, c.ringing_at, c.answered_at, c.ended_at) IS NOT NULL)::int),
               sum(c.sign * c.customer_price), sum(c.sign * c.vendor_cost), %7$L
        FROM (%5$s) c
        GROUP BY %6$s
        $insert$, rollup, key_list, grain, source_keys, changes, positions, compacted);
END
$$;
