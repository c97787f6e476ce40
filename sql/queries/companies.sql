-- The company service (admin/services/companies.py) and the company pages.

-- name: company_get
SELECT c.id, c.name, c.currency, c.is_customer, c.is_vendor, c.enabled, c.billing,
       c.credit_limit, c.low_balance_threshold, c.created_at
FROM companies c WHERE c.id = %(id)s;

-- name: company_create
INSERT INTO companies (name, currency, is_customer, is_vendor, enabled)
VALUES (%(name)s, %(currency)s, %(is_customer)s, %(is_vendor)s, %(enabled)s)
RETURNING id;

-- name: company_update
UPDATE companies
SET name = %(name)s, currency = %(currency)s, is_customer = %(is_customer)s,
    is_vendor = %(is_vendor)s, enabled = %(enabled)s
WHERE id = %(id)s;

-- name: company_delete
DELETE FROM companies WHERE id = %(id)s;

-- name: company_dependents
-- What refers to a company: it cannot be deleted while any of these exist.
SELECT 'originators', (SELECT count(*) FROM originators WHERE company_id = %(id)s), true
UNION ALL
SELECT 'terminators', (SELECT count(*) FROM terminators WHERE company_id = %(id)s), true
UNION ALL
SELECT 'ledger entries', (SELECT count(*) FROM ledger_entries WHERE company_id = %(id)s), true
UNION ALL
SELECT 'alerts', (SELECT count(*) FROM notification_outbox WHERE company_id = %(id)s), true;

-- name: company_ledger_entries
SELECT count(*) FROM ledger_entries WHERE company_id = %(id)s;

-- name: currency_codes
SELECT code FROM currencies ORDER BY code;

-- name: web_companies_list
SELECT c.id, c.name, c.currency, c.is_customer, c.is_vendor, c.billing,
       b.balance::text AS balance, c.credit_limit::text AS credit_limit,
       (SELECT count(*) FROM originators o WHERE o.company_id = c.id)::int AS originators,
       (SELECT count(*) FROM terminators t WHERE t.company_id = c.id)::int AS terminators,
       c.enabled, count(*) OVER () AS total_count
FROM companies c
JOIN account_balances b ON b.company_id = c.id
WHERE (%(search)s::text IS NULL OR c.name ILIKE '%%' || %(search)s || '%%')
  AND (%(enabled)s::boolean IS NULL OR c.enabled = %(enabled)s)
  AND (%(role)s::text IS NULL
       OR (%(role)s = 'customer' AND c.is_customer) OR (%(role)s = 'vendor' AND c.is_vendor))
ORDER BY c.name, c.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: web_company_originators
SELECT o.id, o.name, t.name AS tariff, o.enabled
FROM originators o JOIN tariffs t ON t.id = o.tariff_id
WHERE o.company_id = %(id)s ORDER BY o.name;

-- name: web_company_terminators
SELECT tr.id, tr.name, t.name AS tariff, tr.enabled
FROM terminators tr JOIN tariffs t ON t.id = tr.tariff_id
WHERE tr.company_id = %(id)s ORDER BY tr.name;

-- name: web_company_account
SELECT b.billing, b.balance::text AS balance, b.credit_limit::text AS credit_limit,
       b.available::text AS available, b.currency
FROM account_balances b WHERE b.company_id = %(id)s;

-- name: web_company_ledger
-- The company page's latest ledger entries (top-ups, adjustments, the rater's call charges).
SELECT e.at, e.kind, e.amount::text AS amount, e.calls, e.note, e.created_by
FROM ledger_entries e WHERE e.company_id = %(id)s
ORDER BY e.id DESC LIMIT 20;

-- name: web_company_recent_cdrs
-- The customer's latest attempts (the last 7 days, by the cdrs_originator index).
SELECT c.started_at, o.name AS originator, c.called, c.sip_code, c.duration::text AS duration,
       c.customer_price::text AS price
FROM cdrs c JOIN originators o ON o.id = c.originator_id
WHERE o.company_id = %(id)s AND c.started_at > now() - interval '7 days'
ORDER BY c.started_at DESC LIMIT 20;

-- name: web_company_notice_period
-- The company page's notice period: days owed before a change to its tariff takes effect.
SELECT n.increase_days, n.closure_days, n.decrease_days, n.new_days, n.updated_at
FROM company_notice_periods n WHERE n.company_id = %(id)s;
