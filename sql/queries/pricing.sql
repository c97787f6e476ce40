-- Customer tariffs derived from vendor costs, notice periods and rate sheets (admin/pricing,
-- docs/pricing.md).

-- name: pricing_vendor_rates_at
-- A vendor tariff as it prices calls at %(at)s: each prefix's window in force then (the
-- latest started, should two overlap).
SELECT DISTINCT ON (prefix)
       prefix, destination, rate, initial_increment, next_increment, connect_fee,
       minimum_duration
FROM rates
WHERE tariff_id = %(tariff_id)s
  AND effective_from <= %(at)s AND (effective_to IS NULL OR effective_to > %(at)s)
ORDER BY prefix, effective_from DESC;

-- name: pricing_tariff_customers
-- The companies whose customer trunks a tariff prices, with their notice periods.
SELECT c.id, c.name, n.increase_days, n.closure_days, n.decrease_days, n.new_days,
       n.company_id IS NOT NULL
FROM companies c
LEFT JOIN company_notice_periods n ON n.company_id = c.id
WHERE c.id IN (SELECT company_id FROM originators WHERE tariff_id = %(tariff_id)s)
ORDER BY c.name;

-- name: pricing_notice_periods
-- Every customer company's notice period (or the one company named).
SELECT c.id, c.name, n.increase_days, n.closure_days, n.decrease_days, n.new_days,
       n.company_id IS NOT NULL
FROM companies c
LEFT JOIN company_notice_periods n ON n.company_id = c.id
WHERE (%(company)s::text IS NULL AND c.is_customer) OR c.name = %(company)s::text
ORDER BY c.name;

-- name: pricing_notice_period_set
INSERT INTO company_notice_periods
    (company_id, increase_days, closure_days, decrease_days, new_days)
VALUES (%(company_id)s, %(increase_days)s, %(closure_days)s, %(decrease_days)s, %(new_days)s)
ON CONFLICT (company_id) DO UPDATE
SET increase_days = EXCLUDED.increase_days, closure_days = EXCLUDED.closure_days,
    decrease_days = EXCLUDED.decrease_days, new_days = EXCLUDED.new_days, updated_at = now();

-- name: pricing_rate_sheet_insert
INSERT INTO notification_outbox (company_id, kind, detail)
VALUES (%(company_id)s, 'rate-sheet', %(detail)s)
RETURNING id;

-- name: pricing_rate_sheets
-- Rate-sheet notices, newest first, without their files (undelivered only unless %(all)s).
SELECT n.id, n.at, c.name, n.delivered_at, n.detail - 'files'
FROM notification_outbox n JOIN companies c ON c.id = n.company_id
WHERE n.kind = 'rate-sheet' AND (%(all)s OR n.delivered_at IS NULL)
  AND (%(company)s::text IS NULL OR c.name = %(company)s::text)
ORDER BY n.id DESC
LIMIT %(limit)s;

-- name: pricing_rate_sheet_files
SELECT n.detail -> 'files' FROM notification_outbox n
WHERE n.id = %(id)s AND n.kind = 'rate-sheet';

-- name: pricing_notice_period_of
-- One company's notice period by id (not stored: no notice owed).
SELECT c.id, c.name, n.increase_days, n.closure_days, n.decrease_days, n.new_days,
       n.company_id IS NOT NULL
FROM companies c
LEFT JOIN company_notice_periods n ON n.company_id = c.id
WHERE c.id = %(company_id)s;
