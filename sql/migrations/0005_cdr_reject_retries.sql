-- 0005: a rejected CDR event is rated again by `akira cdr retry` once its cause is fixed;
-- each try is counted and the latest reason kept.

ALTER TABLE cdr_rejects
    ADD COLUMN retries    integer NOT NULL DEFAULT 0,
    ADD COLUMN retried_at timestamptz;
