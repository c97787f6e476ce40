-- NOC test calls and audits (admin/noc).

-- name: noc_terminator
SELECT t.id, t.name, t.company_id, c.name AS vendor
FROM terminators t JOIN companies c ON c.id = t.company_id
WHERE t.id = %(id)s;

-- name: noc_insert_test_call
INSERT INTO noc_test_calls (terminator_id, audit_id, number, requested_by, started_at,
                            finished_at, outcome, expect_code, sip_code, reply_codes, pdd_ms,
                            duration_ms, call_id, detail)
VALUES (%(terminator_id)s, %(audit_id)s, %(number)s, %(requested_by)s, %(started_at)s,
        %(finished_at)s, %(outcome)s, %(expect_code)s, %(sip_code)s, %(reply_codes)s,
        %(pdd_ms)s, %(duration_ms)s, %(call_id)s, %(detail)s)
RETURNING id;

-- name: noc_test_calls
SELECT n.id, n.terminator_id, t.name AS terminator, n.audit_id, n.number, n.requested_by,
       n.started_at, n.finished_at, n.outcome, n.expect_code, n.sip_code, n.reply_codes,
       n.pdd_ms, n.duration_ms, n.call_id, n.detail
FROM noc_test_calls n LEFT JOIN terminators t ON t.id = n.terminator_id
WHERE (%(terminator_id)s::bigint IS NULL OR n.terminator_id = %(terminator_id)s)
  AND (%(outcome)s::text IS NULL OR n.outcome = %(outcome)s)
ORDER BY n.started_at DESC, n.id DESC
LIMIT %(limit)s;

-- name: noc_insert_audit
INSERT INTO noc_audits (terminator_id, numbers, top_destinations, every_minutes, expect_code,
                        hold_seconds, created_by)
VALUES (%(terminator_id)s, %(numbers)s, %(top_destinations)s, %(every_minutes)s,
        %(expect_code)s, %(hold_seconds)s, %(created_by)s)
RETURNING id;

-- name: noc_audits
SELECT a.id, a.terminator_id, t.name AS terminator, a.numbers, a.top_destinations,
       a.every_minutes,
       a.expect_code, a.hold_seconds, a.enabled, a.next_run_at, a.created_by, a.created_at,
       (SELECT n.outcome FROM noc_test_calls n WHERE n.audit_id = a.id
        ORDER BY n.started_at DESC, n.id DESC LIMIT 1) AS last_outcome
FROM noc_audits a JOIN terminators t ON t.id = a.terminator_id
ORDER BY a.id;

-- name: noc_claim_due_audits
-- Audits due now, moved to their next run in the claiming transaction: a second scheduler
-- skips what the first holds, and a crash mid-run waits for the next period, never loops.
UPDATE noc_audits a SET next_run_at = now() + make_interval(mins => a.every_minutes)
WHERE a.id IN (SELECT id FROM noc_audits WHERE enabled AND next_run_at <= now()
               ORDER BY next_run_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING a.id, a.terminator_id, a.numbers, a.top_destinations, a.expect_code, a.hold_seconds;

-- name: noc_top_destinations
-- The vendor's busiest destinations of the last day (its prefixes, by attempts of customers'
-- calls: test calls do not count), each with the number last called there.
WITH recent AS (
    SELECT d.vendor_prefix, d.called, d.started_at
    FROM cdrs d
    WHERE d.terminator_id = %(terminator_id)s AND d.started_at > now() - interval '1 day'
      AND d.vendor_prefix IS NOT NULL AND d.called ~ '^[0-9]{3,32}$'
      AND d.originator_id NOT IN (SELECT o.id FROM originators o WHERE o.noc)
)
SELECT vendor_prefix, (array_agg(called ORDER BY started_at DESC))[1] AS number
FROM recent
GROUP BY vendor_prefix
ORDER BY count(*) DESC, vendor_prefix
LIMIT %(limit)s;

-- name: noc_insert_alert
INSERT INTO notification_outbox (company_id, kind, detail)
VALUES (%(company_id)s, 'noc-test-failed', %(detail)s);

-- name: noc_set_trunk
UPDATE originators SET noc = %(noc)s WHERE id = %(id)s OR name = %(name)s
RETURNING id, name, noc;

-- name: noc_vendor_summary
-- Per vendor, the test calls of the last day: how many, how many passed, their PDD.
SELECT t.name AS terminator, count(*) AS calls,
       count(*) FILTER (WHERE n.outcome = 'passed') AS passed,
       round(avg(n.pdd_ms))::int AS avg_pdd_ms, max(n.pdd_ms) AS max_pdd_ms,
       max(n.started_at) AS last_at
FROM noc_test_calls n JOIN terminators t ON t.id = n.terminator_id
WHERE n.started_at > now() - interval '1 day'
GROUP BY t.name
ORDER BY count(*) FILTER (WHERE n.outcome = 'passed')::numeric / count(*), t.name;
