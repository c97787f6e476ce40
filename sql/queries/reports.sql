-- Reports (admin/reports): measures by a dimension over a time range, from a rollup.

-- name: report_rows
-- Filled in by admin/reports/query.py: the source (a rollup: cdr_rollup_minute, or a coarser
-- one's _live view, with the minute rows not yet fed into it; or the CDRs as report_cdr_facts
-- gives them), the rollup keys the dimension needs, how they read
-- (key, label, the catalog joins), the measures' expressions over the sums, and the order.
-- Filters are NULL when not chosen. total_count: the rows before the limit.
WITH grouped AS (
    SELECT {keys}, s.currency,
           sum(s.attempts) AS attempts, sum(s.calls) AS calls, sum(s.answered) AS answered,
           sum(s.effective) AS effective, sum(s.talk_seconds) AS talk_seconds,
           sum(s.billed_seconds) AS billed_seconds, sum(s.pdd_ms) AS pdd_ms,
           sum(s.pdd_attempts) AS pdd_attempts, sum(s.revenue) AS revenue, sum(s.cost) AS cost
    FROM {source} s
    WHERE s.bucket >= %(since)s AND s.bucket < %(until)s
      AND (%(customer)s::bigint IS NULL
           OR s.originator_id IN (SELECT id FROM originators WHERE company_id = %(customer)s))
      AND (%(vendor)s::bigint IS NULL
           OR s.terminator_id IN (SELECT id FROM terminators WHERE company_id = %(vendor)s))
      AND (%(originator)s::bigint IS NULL OR s.originator_id = %(originator)s)
      AND (%(terminator)s::bigint IS NULL OR s.terminator_id = %(terminator)s)
      AND (%(destination)s::text IS NULL OR s.customer_prefix = %(destination)s
           OR (s.customer_tariff_id, s.customer_prefix) IN (
               SELECT tariff_id, prefix FROM rates WHERE destination = %(destination)s))
    GROUP BY {key_positions}, s.currency
), totals AS (
    SELECT {key} AS key, {label} AS label, b.currency,
           sum(b.attempts) AS attempts, sum(b.calls) AS calls, sum(b.answered) AS answered,
           sum(b.effective) AS effective, sum(b.talk_seconds) AS talk_seconds,
           sum(b.billed_seconds) AS billed_seconds, sum(b.pdd_ms) AS pdd_ms,
           sum(b.pdd_attempts) AS pdd_attempts, sum(b.revenue) AS revenue, sum(b.cost) AS cost
    FROM grouped b
    {joins}
    GROUP BY 1, 2, 3
    HAVING sum(b.attempts) <> 0  -- rollup rows whose CDRs were all deleted
)
SELECT t.key, t.label, t.currency, {measures}, count(*) OVER () AS total_count
FROM totals t
ORDER BY {order}
LIMIT %(limit)s;

-- name: report_cdr_facts
-- Each CDR as a rollup row of its own (bucket = its start): what the rollups sum, read from
-- the CDRs themselves (tests compare the two; bench/reports.py times both).
SELECT started_at AS bucket, originator_id, terminator_id, customer_tariff_id, customer_prefix,
       currency, 1 AS attempts, (attempt <= 1)::int AS calls,
       (answered_at IS NOT NULL)::int AS answered,
       akira_network_effective(sip_code, answered_at) AS effective, duration AS talk_seconds,
       customer_billed_seconds AS billed_seconds,
       coalesce(akira_post_dial_delay_ms(terminator_id, sip_code, started_at, ringing_at,
                                         answered_at, ended_at), 0) AS pdd_ms,
       (akira_post_dial_delay_ms(terminator_id, sip_code, started_at, ringing_at, answered_at,
                                 ended_at) IS NOT NULL)::int AS pdd_attempts,
       customer_price AS revenue, vendor_cost AS cost
FROM cdrs

-- name: report_companies
-- The report form's customer and vendor choices.
SELECT id, name, is_customer, is_vendor FROM companies ORDER BY name, id;

-- name: report_company
SELECT id, name, is_customer, is_vendor, currency FROM companies WHERE id = %(id)s;
