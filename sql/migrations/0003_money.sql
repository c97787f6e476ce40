-- 0003: money. Prepaid or postpaid accounts and a ledger whose sum is the balance, and a
-- minimum duration per rate (DESIGN §4).

ALTER TABLE companies
    ADD COLUMN billing text NOT NULL DEFAULT 'postpaid' CHECK (billing IN ('prepaid', 'postpaid'));

-- Every change of a balance is an entry; nothing overwrites one. Positive amounts credit the
-- account (top-up, refund), negative ones debit it (call charges, invoices). Entries are in
-- the company's currency (the publisher refuses a customer tariff in another one). Call
-- charges are posted by the rater in the transaction that stores the CDRs they charge, one
-- entry per company and batch ("calls" counts the CDRs), so each CDR is charged exactly once.
CREATE TABLE ledger_entries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id  bigint NOT NULL REFERENCES companies (id),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL
                CHECK (kind IN ('topup', 'call_charge', 'adjustment', 'invoice', 'refund')),
    amount      numeric(20, 8) NOT NULL CHECK (amount <> 0),
    currency    char(3) NOT NULL REFERENCES currencies (code),
    calls       integer NOT NULL DEFAULT 0 CHECK (calls >= 0),
    note        text NOT NULL DEFAULT '',
    created_by  text NOT NULL
);
CREATE INDEX ledger_entries_company ON ledger_entries (company_id, at);

CREATE VIEW account_balances AS
SELECT c.id AS company_id, c.name, c.currency, c.billing, c.credit_limit,
       coalesce(sum(l.amount) FILTER (WHERE l.currency = c.currency), 0) AS balance,
       coalesce(sum(l.amount) FILTER (WHERE l.currency = c.currency), 0) + c.credit_limit
           AS available
FROM companies c
LEFT JOIN ledger_entries l ON l.company_id = c.id
GROUP BY c.id;

-- Minimum duration per rate: an answered call shorter than it is billed as if it lasted it
-- (then rounded up to the increments). CDRs keep each side's, like the other terms.
ALTER TABLE rates
    ADD COLUMN minimum_duration integer NOT NULL DEFAULT 0 CHECK (minimum_duration >= 0);
ALTER TABLE cdrs
    ADD COLUMN customer_minimum_duration integer,
    ADD COLUMN vendor_minimum_duration integer;

-- The rate in force for a number at a time in a tariff's history, as the engine chooses it:
-- the longest prefix among the rates effective then (a closed or future prefix falls back to
-- its parent). akira rerate prices stored calls with it.
CREATE FUNCTION akira_rate_in_force(tariff bigint, number text, at timestamptz) RETURNS rates
LANGUAGE sql STABLE AS $$
    SELECT r.* FROM rates r
    WHERE r.tariff_id = tariff
      AND r.prefix = ANY (ARRAY(SELECT left(number, n) FROM generate_series(1, length(number)) n))
      AND r.effective_from <= at
      AND (r.effective_to IS NULL OR r.effective_to > at)
    ORDER BY length(r.prefix) DESC, r.effective_from DESC
    LIMIT 1
$$;
