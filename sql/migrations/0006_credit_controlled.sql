-- 0006: postpaid accounts with a credit limit are credit-controlled in real time like
-- prepaid ones (the engine refuses 402 and cuts calls at the limit); one predicate says whose.

-- Whose calls the engine checks against their money in real time: prepaid accounts, and
-- postpaid ones with a credit limit (without one, a postpaid account runs until invoiced).
CREATE FUNCTION akira_credit_controlled(billing text, credit_limit numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT billing = 'prepaid' OR credit_limit > 0 $$;

CREATE OR REPLACE VIEW account_balances AS
SELECT c.id AS company_id, c.name, c.currency, c.billing, c.credit_limit,
       coalesce(sum(l.amount) FILTER (WHERE l.currency = c.currency), 0) AS balance,
       coalesce(sum(l.amount) FILTER (WHERE l.currency = c.currency), 0) + c.credit_limit
           AS available,
       akira_credit_controlled(c.billing, c.credit_limit) AS credit_controlled
FROM companies c
LEFT JOIN ledger_entries l ON l.company_id = c.id
GROUP BY c.id;

CREATE OR REPLACE FUNCTION akira_ledger_alerts() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    account companies%ROWTYPE;
    after_entry numeric;
    before_entry numeric;
BEGIN
    SELECT * INTO account FROM companies WHERE id = NEW.company_id FOR UPDATE;
    IF NEW.currency <> account.currency THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(sum(amount), 0) INTO after_entry
    FROM ledger_entries WHERE company_id = NEW.company_id AND currency = account.currency;
    before_entry := after_entry - NEW.amount;
    IF account.low_balance_threshold IS NOT NULL
       AND before_entry >= account.low_balance_threshold
       AND after_entry < account.low_balance_threshold THEN
        INSERT INTO notification_outbox (company_id, kind, balance, threshold)
        VALUES (NEW.company_id, 'low-balance', after_entry, account.low_balance_threshold);
    END IF;
    -- a postpaid account without a credit limit runs negative until invoiced: no alert
    IF akira_credit_controlled(account.billing, account.credit_limit)
       AND before_entry + account.credit_limit >= 0 AND after_entry + account.credit_limit < 0 THEN
        INSERT INTO notification_outbox (company_id, kind, balance, threshold)
        VALUES (NEW.company_id, 'credit-limit-reached', after_entry, -account.credit_limit);
    END IF;
    RETURN NULL;
END
$$;
