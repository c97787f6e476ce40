-- Re-rating stored CDRs after a rate correction (admin/rerate.py).

-- name: rerate_candidates
-- Answered CDRs of the window (by call start) with, for each side, the rate in force at the
-- call's start in the tariff the call was rated with (akira_rate_in_force). Locked: a rerate
-- and the rater never rewrite one CDR at once.
SELECT c.call_id, c.attempt, c.started_at, c.currency, c.duration, o.company_id,
       c.customer_price, c.vendor_cost,
       cr.prefix AS c_prefix, cr.rate AS c_rate, cr.initial_increment AS c_initial,
       cr.next_increment AS c_next, cr.connect_fee AS c_fee, cr.minimum_duration AS c_minimum,
       vr.prefix AS v_prefix, vr.rate AS v_rate, vr.initial_increment AS v_initial,
       vr.next_increment AS v_next, vr.connect_fee AS v_fee, vr.minimum_duration AS v_minimum
FROM cdrs c
JOIN originators o ON o.id = c.originator_id
LEFT JOIN LATERAL akira_rate_in_force(c.customer_tariff_id, c.called, c.call_started_at) cr ON true
LEFT JOIN LATERAL akira_rate_in_force(c.vendor_tariff_id, c.called, c.call_started_at) vr ON true
WHERE c.call_started_at >= %(since)s AND c.call_started_at < %(until)s
  AND c.answered_at IS NOT NULL
  AND (%(company_id)s::bigint IS NULL OR o.company_id = %(company_id)s)
ORDER BY c.call_started_at, c.call_id, c.attempt
FOR UPDATE OF c;

-- name: rerate_customer_side
UPDATE cdrs SET customer_prefix = %(prefix)s, customer_rate = %(rate)s,
    customer_initial_increment = %(initial)s, customer_next_increment = %(next)s,
    customer_connect_fee = %(fee)s, customer_minimum_duration = %(minimum)s,
    customer_billed_seconds = %(billed)s, customer_price = %(price)s
WHERE call_id = %(call_id)s AND attempt = %(attempt)s AND started_at = %(started_at)s;

-- name: rerate_vendor_side
UPDATE cdrs SET vendor_prefix = %(prefix)s, vendor_rate = %(rate)s,
    vendor_initial_increment = %(initial)s, vendor_next_increment = %(next)s,
    vendor_connect_fee = %(fee)s, vendor_minimum_duration = %(minimum)s,
    vendor_billed_seconds = %(billed)s, vendor_cost = %(price)s
WHERE call_id = %(call_id)s AND attempt = %(attempt)s AND started_at = %(started_at)s;

-- name: insert_rerate_charge
INSERT INTO ledger_entries (company_id, kind, amount, currency, calls, note, created_by)
VALUES (%(company_id)s, 'call_charge', %(amount)s, %(currency)s, %(calls)s, %(note)s, %(by)s);
