-- 0002: routing completeness. Digest credentials of devices; identification by a SIP header;
-- number and caller-ID rules; CPS and concurrent-call limits per trunk; margin policy,
-- attempts and per-attempt timeouts per routing plan; static prefix overrides; blocked
-- prefixes (per plan and global).

-- A device is an address (network, port, transport) or digest credentials coming from that
-- network; HA1 = md5(username:realm:password) is stored, never the password.
ALTER TABLE devices
    ADD COLUMN username text CHECK (username ~ '^[A-Za-z0-9._@+-]{1,64}$'),
    ADD COLUMN ha1 text CHECK (ha1 ~ '^[0-9a-f]{32}$'),
    ADD CONSTRAINT devices_credentials_complete CHECK ((username IS NULL) = (ha1 IS NULL));
ALTER TABLE devices DROP CONSTRAINT devices_originator_id_network_port_transport_key;
ALTER TABLE devices ADD UNIQUE NULLS NOT DISTINCT (originator_id, network, port, transport, username);
CREATE UNIQUE INDEX devices_username ON devices (username) WHERE username IS NOT NULL;

-- Rules are JSON lists applied in order (docs/engine.md "Number rules"):
--   {"strip": N}  {"prefix": "44"}  {"match": "^0(\d+)$", "replace": "44\1"}
ALTER TABLE originators
    ADD COLUMN match_header text CHECK (match_header ~ '^[A-Za-z][A-Za-z0-9-]{0,63}$'),
    ADD COLUMN match_value text,
    ADD COLUMN number_rules jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(number_rules) = 'array'),
    ADD COLUMN min_digits smallint CHECK (min_digits BETWEEN 1 AND 32),
    ADD COLUMN max_digits smallint CHECK (max_digits BETWEEN 1 AND 32),
    ADD COLUMN cli_rules jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(cli_rules) = 'array'),
    ADD COLUMN cli_policy text NOT NULL DEFAULT 'pass'
        CHECK (cli_policy IN ('pass', 'reject', 'replace')),
    ADD COLUMN cli_replacement text CHECK (cli_replacement ~ '^[0-9]{1,32}$'),
    ADD COLUMN cps_limit integer CHECK (cps_limit > 0),
    ADD COLUMN concurrent_limit integer CHECK (concurrent_limit > 0),
    ADD CONSTRAINT originators_match_complete CHECK ((match_header IS NULL) = (match_value IS NULL)),
    ADD CONSTRAINT originators_replacement_given
        CHECK (cli_policy <> 'replace' OR cli_replacement IS NOT NULL),
    ADD CONSTRAINT originators_digit_range CHECK (min_digits <= max_digits);

ALTER TABLE terminators
    ADD COLUMN number_rules jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(number_rules) = 'array'),
    ADD COLUMN cps_limit integer CHECK (cps_limit > 0),
    ADD COLUMN concurrent_limit integer CHECK (concurrent_limit > 0);

-- Margin: a vendor is kept when customer rate - vendor rate >= min_margin and, if set,
-- that margin is >= min_margin_percent of the customer rate (allow_loss skips both).
ALTER TABLE routing_plans
    ADD COLUMN min_margin numeric(18, 8) NOT NULL DEFAULT 0,
    ADD COLUMN min_margin_percent numeric(7, 4) CHECK (min_margin_percent BETWEEN 0 AND 100),
    ADD COLUMN max_attempts smallint NOT NULL DEFAULT 10 CHECK (max_attempts BETWEEN 1 AND 100),
    -- seconds a vendor has for its first provisional reply, and for its final one
    ADD COLUMN ring_timeout smallint NOT NULL DEFAULT 3 CHECK (ring_timeout BETWEEN 1 AND 60),
    ADD COLUMN answer_timeout smallint NOT NULL DEFAULT 60 CHECK (answer_timeout BETWEEN 1 AND 300);

-- This prefix of this plan always goes to these terminators, in this order.
CREATE TABLE routing_plan_overrides (
    routing_plan_id bigint NOT NULL REFERENCES routing_plans (id) ON DELETE CASCADE,
    prefix          text NOT NULL CHECK (prefix ~ '^[0-9]{1,32}$'),
    terminator_ids  bigint[] NOT NULL CHECK (cardinality(terminator_ids) > 0),
    PRIMARY KEY (routing_plan_id, prefix)
);

-- Numbers no call may reach: of one plan, or of every plan (routing_plan_id NULL).
CREATE TABLE blocked_prefixes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    routing_plan_id bigint REFERENCES routing_plans (id) ON DELETE CASCADE,
    prefix          text NOT NULL CHECK (prefix ~ '^[0-9]{1,32}$'),
    reason          text NOT NULL DEFAULT '',
    UNIQUE NULLS NOT DISTINCT (routing_plan_id, prefix)
);

-- How the engine decided each call (originator found by, rules applied, each vendor kept or
-- dropped and why), compactly: "why did this call go there?" stays answerable.
ALTER TABLE cdrs ADD COLUMN trace text NOT NULL DEFAULT '';

ALTER TABLE tariffs ADD COLUMN revision bigint NOT NULL DEFAULT 0;

-- Every change to a tariff's rates bumps its revision (one statement, one bump), so a publish
-- knows an unchanged tariff without reading its rates (admin/publisher.py).
CREATE FUNCTION akira_bump_tariff_revision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE tariffs SET revision = revision + 1
        WHERE id IN (SELECT DISTINCT tariff_id FROM changed_new);
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE tariffs SET revision = revision + 1
        WHERE id IN (SELECT DISTINCT tariff_id FROM changed_old);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER rates_inserted AFTER INSERT ON rates REFERENCING NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION akira_bump_tariff_revision();
CREATE TRIGGER rates_updated AFTER UPDATE ON rates
    REFERENCING NEW TABLE AS changed_new OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION akira_bump_tariff_revision();
CREATE TRIGGER rates_deleted AFTER DELETE ON rates REFERENCING OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION akira_bump_tariff_revision();
-- rates whose window closed: they leave the published files as time passes
CREATE INDEX rates_closing ON rates (tariff_id, effective_to) WHERE effective_to IS NOT NULL;
