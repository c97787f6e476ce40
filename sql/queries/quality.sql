-- Vendor quality for quality routing (admin/quality.py, kemi/quality.py).

-- name: quality_by_terminator_destination
-- Per terminator and customer prefix (the destination key the rollups keep), the minute
-- rollup summed from ``since`` on, across customers, tariffs and currencies. ``attempts`` are
-- the ones with a post-dial delay: relayed to the vendor and not cancelled by the caller.
SELECT terminator_id, customer_prefix AS prefix,
       sum(pdd_attempts)::bigint AS attempts, sum(answered)::bigint AS answered,
       round(sum(talk_seconds) * 1000)::bigint AS talk_ms, round(sum(pdd_ms))::bigint AS pdd_ms
FROM cdr_rollup_minute
WHERE bucket >= %(since)s AND terminator_id IS NOT NULL AND customer_prefix IS NOT NULL
GROUP BY terminator_id, customer_prefix
HAVING sum(pdd_attempts) > 0
ORDER BY terminator_id, customer_prefix;
