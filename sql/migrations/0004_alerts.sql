-- 0004: low-balance and credit-limit alerts: one event per crossing, in an outbox that
-- delivery channels (e-mail, Telegram, webhooks) read and acknowledge.

ALTER TABLE companies ADD COLUMN low_balance_threshold numeric(20, 8);

CREATE TABLE notification_outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    company_id    bigint NOT NULL REFERENCES companies (id),
    kind          text NOT NULL CHECK (kind IN ('low-balance', 'credit-limit-reached')),
    balance       numeric(20, 8) NOT NULL,
    threshold     numeric(20, 8) NOT NULL,
    delivered_at  timestamptz
);
CREATE INDEX notification_outbox_undelivered ON notification_outbox (id) WHERE delivered_at IS NULL;

-- After each ledger entry: did the balance just cross the account's low-balance threshold, or
-- did the available money (balance + credit limit) just cross zero, going down? The company
-- row is locked first, so entries of one account are judged one at a time and a crossing is
-- reported exactly once.
CREATE FUNCTION akira_ledger_alerts() RETURNS trigger
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
    IF (account.billing = 'prepaid' OR account.credit_limit > 0)
       AND before_entry + account.credit_limit >= 0 AND after_entry + account.credit_limit < 0 THEN
        INSERT INTO notification_outbox (company_id, kind, balance, threshold)
        VALUES (NEW.company_id, 'credit-limit-reached', after_entry, -account.credit_limit);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_entries_alerts AFTER INSERT ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION akira_ledger_alerts();
