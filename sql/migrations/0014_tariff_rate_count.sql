-- 0014: each tariff keeps its count of rates, maintained by the rates triggers that bump its
-- revision, so the tariffs list and a tariff's page do not count a deck of a million rows on
-- every view (bench/admin_pages.py: /tariffs paid ~200 ms for it at 1M rates).

ALTER TABLE tariffs ADD COLUMN rate_count bigint NOT NULL DEFAULT 0 CHECK (rate_count >= 0);
UPDATE tariffs t SET rate_count = (SELECT count(*) FROM rates r WHERE r.tariff_id = t.id);

CREATE OR REPLACE FUNCTION akira_bump_tariff_revision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE tariffs SET revision = revision + 1, rate_count = 0;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE tariffs t SET revision = revision + 1, rate_count = rate_count + n.rates
        FROM (SELECT tariff_id, count(*) AS rates FROM changed_new GROUP BY tariff_id) n
        WHERE t.id = n.tariff_id;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE tariffs t SET revision = revision + 1, rate_count = rate_count - o.rates
        FROM (SELECT tariff_id, count(*) AS rates FROM changed_old GROUP BY tariff_id) o
        WHERE t.id = o.tariff_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER rates_truncated AFTER TRUNCATE ON rates
    FOR EACH STATEMENT EXECUTE FUNCTION akira_bump_tariff_revision();
