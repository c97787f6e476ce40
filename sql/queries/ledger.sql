-- Accounts and their ledger (admin/ledger.py; call charges: merge_cdr_staging in cdrs.sql).

-- name: account_for_update
-- The company row locked: entries of one account are posted one at a time.
SELECT c.id, c.name, c.currency, cur.precision
FROM companies c JOIN currencies cur ON cur.code = c.currency
WHERE c.id = %(company_id)s
FOR UPDATE OF c;

-- name: insert_ledger_entry
INSERT INTO ledger_entries (company_id, kind, amount, currency, note, created_by)
VALUES (%(company_id)s, %(kind)s, %(amount)s, %(currency)s, %(note)s, %(created_by)s)
RETURNING id, at;

-- name: insert_audit_row
INSERT INTO audit_log (username, request_id, entity, entity_id, action, before, after)
VALUES (%(username)s, %(request_id)s, %(entity)s, %(entity_id)s, %(action)s, %(before)s,
        %(after)s);

-- name: account_balance
SELECT company_id, name, currency, billing, credit_limit, balance, available
FROM account_balances WHERE company_id = %(company_id)s;

-- name: ledger_entries
SELECT id, at, kind, amount, currency, calls, note, created_by
FROM ledger_entries WHERE company_id = %(company_id)s
ORDER BY at DESC, id DESC LIMIT %(limit)s;

-- name: set_billing
UPDATE companies SET billing = coalesce(%(billing)s, billing),
                     credit_limit = coalesce(%(credit_limit)s, credit_limit),
                     low_balance_threshold = CASE WHEN %(set_threshold)s
                         THEN %(threshold)s ELSE low_balance_threshold END
WHERE id = %(company_id)s
RETURNING billing, credit_limit, low_balance_threshold;

-- name: undelivered_alerts
SELECT n.id, n.at, n.company_id, c.name, n.kind, n.balance, n.threshold, n.detail
FROM notification_outbox n JOIN companies c ON c.id = n.company_id
WHERE n.delivered_at IS NULL ORDER BY n.id;

-- name: claim_undelivered_alerts
-- The oldest alerts no other deliverer holds; locked until the caller's transaction ends.
SELECT n.id, n.at, n.company_id, c.name, n.kind, n.balance, n.threshold, n.detail
FROM notification_outbox n JOIN companies c ON c.id = n.company_id
WHERE n.delivered_at IS NULL ORDER BY n.id LIMIT %(limit)s
FOR UPDATE OF n SKIP LOCKED;

-- name: mark_alerts_delivered
UPDATE notification_outbox SET delivered_at = now()
WHERE id = ANY (%(ids)s) AND delivered_at IS NULL;

-- name: prepaid_credit
-- What credit-controlled accounts may spend, and the newest ledger entry it includes (one
-- snapshot).
SELECT b.company_id, b.available, coalesce((SELECT max(id) FROM ledger_entries), 0) AS as_of
FROM account_balances b
WHERE b.credit_controlled
  AND (%(company_ids)s::bigint[] IS NULL OR b.company_id = ANY (%(company_ids)s));

-- name: companies_of_originators
SELECT o.id, o.company_id, akira_credit_controlled(c.billing, c.credit_limit) AS prepaid
FROM originators o JOIN companies c ON c.id = o.company_id
WHERE o.id = ANY (%(originator_ids)s);
