-- The CDR search (admin/web/entities/cdrs.py): newest first, by the started_at index.

-- name: web_cdrs_list
SELECT c.call_id, c.attempt, c.started_at, c.originator_id, o.name AS customer,
       c.terminator_id, tr.name AS vendor, c.caller, c.called, c.sip_code, c.reason,
       c.duration::text AS duration, c.customer_price::text AS price,
       c.vendor_cost::text AS cost, c.currency
FROM cdrs c
LEFT JOIN originators o ON o.id = c.originator_id
LEFT JOIN terminators tr ON tr.id = c.terminator_id
WHERE (%(period)s::interval IS NULL OR c.started_at > now() - %(period)s::interval)
  AND (%(outcome)s::text IS NULL
       OR (%(outcome)s = 'answered' AND c.answered_at IS NOT NULL)
       OR (%(outcome)s = 'failed' AND c.answered_at IS NULL))
  AND (%(search)s::text IS NULL
       OR c.call_id = %(search)s
       OR c.called LIKE %(search)s || '%%' OR c.caller LIKE %(search)s || '%%'
       OR o.name ILIKE %(search)s OR tr.name ILIKE %(search)s
       OR c.sip_code::text = %(search)s)
ORDER BY c.started_at DESC, c.call_id, c.attempt
LIMIT %(limit)s OFFSET %(offset)s;
