-- Queries of the CDR rater (admin/rater.py).

-- name: currency_precisions
SELECT code, precision FROM currencies;

-- name: create_cdr_staging
CREATE TEMP TABLE IF NOT EXISTS cdr_staging (LIKE cdrs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;

-- name: ensure_cdr_partition
SELECT akira_ensure_cdr_partition(%(at)s);

-- name: merge_cdr_staging
-- A replayed event (same call_id, attempt, started_at) is skipped: nothing counted twice.
-- {columns}: every CDR column, as kemi/cdr.py declares them (admin/rater.py fills it in).
INSERT INTO cdrs ({columns})
SELECT {columns} FROM cdr_staging
ON CONFLICT DO NOTHING;

-- name: insert_cdr_reject
INSERT INTO cdr_rejects (stream_id, payload, error)
VALUES (%(stream_id)s, %(payload)s, %(error)s);
