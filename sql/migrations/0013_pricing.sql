-- 0013: customer tariffs derived from vendor costs (admin/pricing, docs/pricing.md): each
-- customer company's notice period, and the rate sheets its tariff's changes send it.

-- Days of notice a company is owed before a change to its tariff takes effect, per kind of
-- change (a change that can make a call dearer is an increase). No row: no notice owed.
CREATE TABLE company_notice_periods (
    company_id     bigint PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    increase_days  integer NOT NULL DEFAULT 7 CHECK (increase_days BETWEEN 0 AND 365),
    closure_days   integer NOT NULL DEFAULT 7 CHECK (closure_days BETWEEN 0 AND 365),
    decrease_days  integer NOT NULL DEFAULT 0 CHECK (decrease_days BETWEEN 0 AND 365),
    new_days       integer NOT NULL DEFAULT 0 CHECK (new_days BETWEEN 0 AND 365),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A rate sheet (CSV and XLSX with change flags, in detail.files) is delivered like an alert.
ALTER TABLE notification_outbox
    DROP CONSTRAINT notification_outbox_kind_check,
    ADD CONSTRAINT notification_outbox_kind_check
        CHECK (kind IN ('low-balance', 'credit-limit-reached', 'noc-test-failed', 'rate-sheet')),
    DROP CONSTRAINT notification_outbox_money_alerts,
    ADD CONSTRAINT notification_outbox_money_alerts
        CHECK (kind IN ('noc-test-failed', 'rate-sheet')
               OR (balance IS NOT NULL AND threshold IS NOT NULL)),
    ADD CONSTRAINT notification_outbox_rate_sheet_files
        CHECK (kind <> 'rate-sheet' OR detail ? 'files');
