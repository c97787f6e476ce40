-- Queries of the CDR rater (admin/rater.py).

-- name: currency_precisions
SELECT code, precision FROM currencies;

-- name: create_cdr_staging
CREATE TEMP TABLE IF NOT EXISTS cdr_staging (LIKE cdrs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;

-- name: ensure_cdr_partition
SELECT akira_ensure_cdr_partition(%(at)s);

-- name: merge_cdr_staging
-- A replayed event (same call_id, attempt, started_at) is skipped: nothing counted twice.
-- The CDRs this statement inserts, and only those, are charged to their customers' ledgers:
-- one entry per company and currency, in the same transaction (DESIGN §4). Returns the count
-- of new CDRs.
-- {columns}: every CDR column, as kemi/cdr.py declares them (admin/rater.py fills it in).
WITH inserted AS (
    INSERT INTO cdrs ({columns})
    SELECT {columns} FROM cdr_staging
    ON CONFLICT DO NOTHING
    RETURNING originator_id, currency, customer_price
), charged AS (
    INSERT INTO ledger_entries (company_id, kind, amount, currency, calls, note, created_by)
    SELECT o.company_id, 'call_charge', -sum(i.customer_price), i.currency, count(*),
           'rated calls', 'rater'
    FROM inserted i JOIN originators o ON o.id = i.originator_id
    WHERE i.customer_price > 0
    GROUP BY o.company_id, i.currency
    ORDER BY o.company_id  -- the alert trigger locks each company: always in this order
)
SELECT count(*) FROM inserted;

-- name: charge_cdr_batch
-- The call charges of a batch COPYed straight into cdrs (every row new: a replayed one fails
-- the COPY, and the batch goes through merge_cdr_staging instead): what merge_cdr_staging's
-- "charged" posts, from the batch's priced calls summed per originator and currency by the
-- rater (exact decimals).
INSERT INTO ledger_entries (company_id, kind, amount, currency, calls, note, created_by)
SELECT o.company_id, 'call_charge', -sum(c.price), c.currency, sum(c.calls), 'rated calls',
       'rater'
FROM unnest(%(originator_ids)s::bigint[], %(currencies)s::text[], %(prices)s::numeric[],
            %(calls)s::integer[]) AS c (originator_id, currency, price, calls)
JOIN originators o ON o.id = c.originator_id
GROUP BY o.company_id, c.currency
ORDER BY o.company_id;  -- the alert trigger locks each company: always in this order

-- name: insert_cdr_reject
INSERT INTO cdr_rejects (stream_id, payload, error)
VALUES (%(stream_id)s, %(payload)s, %(error)s);

-- name: cdr_rejects_listed
SELECT id, received_at, stream_id, error, retries, retried_at, payload
FROM cdr_rejects ORDER BY id LIMIT %(limit)s;

-- name: cdr_rejects_for_retry
-- Locked for this retry; a concurrent retry skips them rather than rating them twice.
SELECT id, payload FROM cdr_rejects
WHERE %(ids)s::bigint[] IS NULL OR id = ANY (%(ids)s)
ORDER BY id
FOR UPDATE SKIP LOCKED;

-- name: delete_cdr_rejects
DELETE FROM cdr_rejects WHERE id = ANY (%(ids)s);

-- name: cdr_reject_still_failing
UPDATE cdr_rejects SET error = %(error)s, retries = retries + 1, retried_at = now()
WHERE id = %(id)s;

-- name: compact_rollups
-- The rollups' partial rows merged (sql/schema.sql akira_compact_rollups); the rows merged away.
SELECT akira_compact_rollups();
