-- Queries of the CDR rater (admin/rater.py).

-- name: currency_precisions
SELECT code, precision FROM currencies;

-- name: create_cdr_staging
CREATE TEMP TABLE IF NOT EXISTS cdr_staging (LIKE cdrs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;

-- name: ensure_cdr_partition
SELECT akira_ensure_cdr_partition(%(at)s);

-- name: merge_cdr_staging
-- A replayed event (same call_id, attempt, started_at) is skipped: nothing counted twice.
INSERT INTO cdrs (
    call_id, attempt, node, snapshot_version, originator_id, terminator_id, gateway, src_ip,
    caller, called, dialed, sip_code, reason, call_started_at, started_at, answered_at, ended_at,
    duration, currency,
    customer_tariff_id, customer_prefix, customer_rate, customer_initial_increment,
    customer_next_increment, customer_connect_fee, customer_billed_seconds, customer_price,
    vendor_tariff_id, vendor_prefix, vendor_rate, vendor_initial_increment,
    vendor_next_increment, vendor_connect_fee, vendor_billed_seconds, vendor_cost)
SELECT
    call_id, attempt, node, snapshot_version, originator_id, terminator_id, gateway, src_ip,
    caller, called, dialed, sip_code, reason, call_started_at, started_at, answered_at, ended_at,
    duration, currency,
    customer_tariff_id, customer_prefix, customer_rate, customer_initial_increment,
    customer_next_increment, customer_connect_fee, customer_billed_seconds, customer_price,
    vendor_tariff_id, vendor_prefix, vendor_rate, vendor_initial_increment,
    vendor_next_increment, vendor_connect_fee, vendor_billed_seconds, vendor_cost
FROM cdr_staging
ON CONFLICT DO NOTHING;

-- name: insert_cdr_reject
INSERT INTO cdr_rejects (stream_id, payload, error)
VALUES (%(stream_id)s, %(payload)s, %(error)s);
