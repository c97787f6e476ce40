-- The whole current schema of Akira. A new database is created from this file;
-- existing ones get sql/migrations/*. Keep both in step: tests/integration/test_migrations.py
-- fails when they differ.

CREATE TABLE schema_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);


CREATE TABLE currencies (
    code        char(3) PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    name        text NOT NULL,
    -- decimal places of CDR prices and ledger amounts (wholesale bills sub-cent amounts)
    precision   smallint NOT NULL DEFAULT 6 CHECK (precision BETWEEN 0 AND 8)
);

INSERT INTO currencies (code, name) VALUES
    ('USD', 'US Dollar'), ('EUR', 'Euro'), ('GBP', 'Pound Sterling');

CREATE TABLE companies (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> ''),
    is_customer     boolean NOT NULL DEFAULT false,
    is_vendor       boolean NOT NULL DEFAULT false,
    currency        char(3) NOT NULL REFERENCES currencies (code),
    credit_limit    numeric(20, 8) NOT NULL DEFAULT 0 CHECK (credit_limit >= 0),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    billing         text NOT NULL DEFAULT 'postpaid' CHECK (billing IN ('prepaid', 'postpaid')),
    low_balance_threshold numeric(20, 8)
);

CREATE TABLE tariffs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    currency    char(3) NOT NULL REFERENCES currencies (code),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revision    bigint NOT NULL DEFAULT 0,  -- bumped by every change to its rates
    -- its rates, kept by the same triggers (0014): lists never count a deck per view
    rate_count  bigint NOT NULL DEFAULT 0 CHECK (rate_count >= 0)
);

CREATE TABLE rates (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tariff_id           bigint NOT NULL REFERENCES tariffs (id) ON DELETE CASCADE,
    prefix              text NOT NULL CHECK (prefix ~ '^[0-9]{1,20}$'),
    destination         text NOT NULL DEFAULT '',
    rate                numeric(18, 8) NOT NULL CHECK (rate >= 0),  -- per minute
    initial_increment   integer NOT NULL DEFAULT 1 CHECK (initial_increment > 0),
    next_increment      integer NOT NULL DEFAULT 1 CHECK (next_increment > 0),
    connect_fee         numeric(18, 8) NOT NULL DEFAULT 0 CHECK (connect_fee >= 0),
    effective_from      timestamptz NOT NULL,
    effective_to        timestamptz CHECK (effective_to > effective_from),
    -- an answered call shorter than this is billed as if it lasted it (0: none)
    minimum_duration    integer NOT NULL DEFAULT 0 CHECK (minimum_duration >= 0),
    UNIQUE (tariff_id, prefix, effective_from)
);

-- Every change to a tariff's rates bumps its revision (one statement, one bump), so a publish
-- knows an unchanged tariff without reading its rates (admin/publisher.py), and keeps its
-- rate_count.
CREATE FUNCTION akira_bump_tariff_revision() RETURNS trigger
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
CREATE TRIGGER rates_inserted AFTER INSERT ON rates REFERENCING NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION akira_bump_tariff_revision();
CREATE TRIGGER rates_updated AFTER UPDATE ON rates
    REFERENCING NEW TABLE AS changed_new OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION akira_bump_tariff_revision();
CREATE TRIGGER rates_deleted AFTER DELETE ON rates REFERENCING OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION akira_bump_tariff_revision();
CREATE TRIGGER rates_truncated AFTER TRUNCATE ON rates
    FOR EACH STATEMENT EXECUTE FUNCTION akira_bump_tariff_revision();
-- rates whose window closed: they leave the published files as time passes
CREATE INDEX rates_closing ON rates (tariff_id, effective_to) WHERE effective_to IS NOT NULL;

CREATE TABLE routing_plans (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> ''),
    strategy        text NOT NULL DEFAULT 'least_cost'
                    CHECK (strategy IN ('least_cost', 'priority', 'weight', 'static',
                                        'quality_then_cost')),
    -- vendor replies that end the hunt: the customer gets that reply, no other vendor is tried
    hunt_stop_codes integer[] NOT NULL DEFAULT '{404,486,487}',
    -- route to vendors dearer than the customer's rate (margin protection off)
    allow_loss      boolean NOT NULL DEFAULT false,
    -- a vendor is kept when customer rate - vendor rate >= min_margin and, if set, that
    -- margin is >= min_margin_percent of the customer rate (allow_loss skips both)
    min_margin      numeric(18, 8) NOT NULL DEFAULT 0,
    min_margin_percent numeric(7, 4) CHECK (min_margin_percent BETWEEN 0 AND 100),
    max_attempts    smallint NOT NULL DEFAULT 10 CHECK (max_attempts BETWEEN 1 AND 100),
    -- seconds a vendor has for its first provisional reply, and for its final one
    ring_timeout    smallint NOT NULL DEFAULT 3 CHECK (ring_timeout BETWEEN 1 AND 60),
    answer_timeout  smallint NOT NULL DEFAULT 60 CHECK (answer_timeout BETWEEN 1 AND 300),
    -- quality_then_cost: a vendor whose ASR (%), ACD (s) or PDD (s) for the destination, over
    -- the quality window, is under these goes after the others (out, with quality_drop); one
    -- with fewer attempts there is not judged (docs/engine.md, Quality routing)
    quality_min_attempts integer NOT NULL DEFAULT 20
                    CHECK (quality_min_attempts BETWEEN 1 AND 1000000),
    quality_min_asr numeric(5, 2) CHECK (quality_min_asr BETWEEN 0 AND 100),
    quality_min_acd integer CHECK (quality_min_acd BETWEEN 0 AND 86400),
    quality_max_pdd numeric(6, 3) CHECK (quality_max_pdd > 0),
    quality_drop    boolean NOT NULL DEFAULT false
);

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

CREATE TABLE terminators (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id  bigint NOT NULL REFERENCES companies (id),
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    tariff_id   bigint NOT NULL REFERENCES tariffs (id),
    tech_prefix text NOT NULL DEFAULT '' CHECK (tech_prefix ~ '^[0-9#*]*$'),
    enabled     boolean NOT NULL DEFAULT true,
    number_rules jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(number_rules) = 'array'),
    cps_limit   integer CHECK (cps_limit > 0),
    concurrent_limit integer CHECK (concurrent_limit > 0)
);

CREATE TABLE terminator_gateways (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    terminator_id   bigint NOT NULL REFERENCES terminators (id) ON DELETE CASCADE,
    host            text NOT NULL CHECK (host <> ''),
    port            integer NOT NULL DEFAULT 5060 CHECK (port BETWEEN 1 AND 65535),
    transport       text NOT NULL DEFAULT 'udp' CHECK (transport IN ('udp', 'tcp')),
    position        integer NOT NULL DEFAULT 0,
    UNIQUE (terminator_id, host, port, transport)
);

CREATE TABLE routing_plan_entries (
    routing_plan_id bigint NOT NULL REFERENCES routing_plans (id) ON DELETE CASCADE,
    terminator_id   bigint NOT NULL REFERENCES terminators (id),
    priority        integer NOT NULL DEFAULT 100,
    weight          integer NOT NULL DEFAULT 100 CHECK (weight >= 0),
    position        integer NOT NULL DEFAULT 0,
    id              bigint GENERATED ALWAYS AS IDENTITY,  -- 0012: the admin's handle on it
    PRIMARY KEY (routing_plan_id, terminator_id),
    CONSTRAINT routing_plan_entries_id_key UNIQUE (id)
);

CREATE TABLE originators (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id          bigint NOT NULL REFERENCES companies (id),
    name                text NOT NULL UNIQUE CHECK (name <> ''),
    tariff_id           bigint NOT NULL REFERENCES tariffs (id),
    routing_plan_id     bigint REFERENCES routing_plans (id),
    tech_prefix         text NOT NULL DEFAULT '' CHECK (tech_prefix ~ '^[0-9#*]*$'),
    max_call_duration   integer NOT NULL DEFAULT 7200 CHECK (max_call_duration > 0),
    enabled             boolean NOT NULL DEFAULT true,
    -- trunks behind one address told apart by a SIP header
    match_header        text CHECK (match_header ~ '^[A-Za-z][A-Za-z0-9-]{0,63}$'),
    match_value         text,
    -- rules are JSON lists applied in order (docs/engine.md "Number rules")
    number_rules        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(number_rules) = 'array'),
    min_digits          smallint CHECK (min_digits BETWEEN 1 AND 32),
    max_digits          smallint CHECK (max_digits BETWEEN 1 AND 32),
    cli_rules           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(cli_rules) = 'array'),
    cli_policy          text NOT NULL DEFAULT 'pass'
                        CHECK (cli_policy IN ('pass', 'reject', 'replace')),
    cli_replacement     text CHECK (cli_replacement ~ '^[0-9]{1,32}$'),
    cps_limit           integer CHECK (cps_limit > 0),
    concurrent_limit    integer CHECK (concurrent_limit > 0),
    CONSTRAINT originators_match_complete CHECK ((match_header IS NULL) = (match_value IS NULL)),
    CONSTRAINT originators_replacement_given
        CHECK (cli_policy <> 'replace' OR cli_replacement IS NOT NULL),
    CONSTRAINT originators_digit_range CHECK (min_digits <= max_digits)
);

CREATE TABLE devices (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    originator_id   bigint NOT NULL REFERENCES originators (id) ON DELETE CASCADE,
    network         cidr NOT NULL,
    port            integer CHECK (port BETWEEN 1 AND 65535),
    transport       text CHECK (transport IN ('udp', 'tcp')),
    description     text NOT NULL DEFAULT '',
    -- digest credentials, coming from ``network``: HA1 = md5(username:realm:password)
    username        text CHECK (username ~ '^[A-Za-z0-9._@+-]{1,64}$'),
    ha1             text CHECK (ha1 ~ '^[0-9a-f]{32}$'),
    CONSTRAINT devices_credentials_complete CHECK ((username IS NULL) = (ha1 IS NULL)),
    UNIQUE NULLS NOT DISTINCT (originator_id, network, port, transport, username)
);
CREATE UNIQUE INDEX devices_username ON devices (username) WHERE username IS NOT NULL;

-- The roles of admin/web/permissions.py's Role; tests/integration/test_access_routes.py ties
-- the two together.
CREATE DOMAIN akira_role AS text
    CHECK (VALUE IN ('admin', 'operator', 'noc', 'finance', 'read-only'));

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9._@-]{2,64}$'),
    password_hash   text NOT NULL,
    role            akira_role NOT NULL DEFAULT 'operator',
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    username    text NOT NULL,
    request_id  text NOT NULL DEFAULT '',
    entity      text NOT NULL,
    entity_id   text NOT NULL,
    action      text NOT NULL,
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, at);

-- `Authorization: Bearer akira_<id>_<secret>`: only the secret's SHA-256 is kept
-- (docs/decisions/0009-api-tokens.md). A token acts with its role, never above its owner's.
CREATE TABLE api_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (name ~ '^\S(.{0,98}\S)?$'),
    user_id         bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    role            akira_role NOT NULL,
    secret_sha256   bytea NOT NULL CHECK (length(secret_sha256) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    CONSTRAINT api_tokens_expire_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- The admin's login sessions (docs/decisions/0010-server-side-sessions.md): the cookie holds a
-- random id, the row its HMAC under AKIRA_SECRET_KEY, so a copy of this table opens no session.
CREATE TABLE web_sessions (
    id_digest       bytea PRIMARY KEY CHECK (length(id_digest) = 32),
    user_id         bigint REFERENCES users ON DELETE CASCADE,
    data            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- Failed logins of the last day, whether the user exists or not: the throttle counts them.
CREATE TABLE login_failures (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    username        text NOT NULL,
    address         text NOT NULL
);
CREATE INDEX login_failures_username ON login_failures (lower(username), at);
CREATE INDEX login_failures_address ON login_failures (address, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE snapshot_publications (
    version         bigint PRIMARY KEY,
    published_at    timestamptz NOT NULL DEFAULT now(),
    published_by    text NOT NULL,
    originators     integer NOT NULL,
    terminators     integer NOT NULL,
    tariffs         integer NOT NULL,
    rates           bigint NOT NULL,
    duration_ms     integer NOT NULL,
    catalog_revision bigint NOT NULL DEFAULT 0  -- catalog_state.revision it was compiled from
);

-- CDR events the rater could not accept (malformed, unknown format): kept, never dropped.
CREATE TABLE cdr_rejects (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    stream_id   text NOT NULL,  -- on the bus: Redis entry id/batch key#index, NATS sequence#index
    payload     text NOT NULL,
    error       text NOT NULL,  -- why it could not be rated (the latest try)
    retries     integer NOT NULL DEFAULT 0,  -- `akira cdr retry` tries so far
    retried_at  timestamptz
);

-- TimescaleDB is used when this database has the extension: akira_try_create_extension made it
-- when the cdrs table was created (or an administrator did, beforehand). Nothing here reads
-- shared_preload_libraries, a setting only superusers may read (docs/running.md, Database).
CREATE FUNCTION akira_timescaledb_usable() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
$$;

-- Creates the extension when the server offers it and this role may create it; false, with a
-- notice saying why, when it cannot (not preloaded, not allowed): plain PostgreSQL is used.
CREATE FUNCTION akira_try_create_extension(extension text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = extension) THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = extension) THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('CREATE EXTENSION %I', extension);
        RETURN true;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'extension % is available but was not created (%): using plain PostgreSQL',
            extension, SQLERRM;
        RETURN false;
    END;
END
$$;

CREATE SEQUENCE cdrs_id_seq;

-- One row per call attempt. The primary key makes a replayed event a no-op; it carries
-- started_at because partitioned tables and hypertables need the partition key in it.
DO $cdrs$
DECLARE
    columns text := $cols$
        id                          bigint NOT NULL DEFAULT nextval('cdrs_id_seq'),
        call_id                     text NOT NULL,
        attempt                     smallint NOT NULL CHECK (attempt >= 0),
        node                        text NOT NULL,
        snapshot_version            bigint NOT NULL,
        originator_id               bigint NOT NULL,
        terminator_id               bigint,
        gateway                     text,
        src_ip                      inet NOT NULL,
        caller                      text NOT NULL,
        called                      text NOT NULL,
        dialed                      text NOT NULL,
        sip_code                    smallint NOT NULL,
        reason                      text NOT NULL,
        call_started_at             timestamptz NOT NULL,
        started_at                  timestamptz NOT NULL,
        answered_at                 timestamptz,
        ended_at                    timestamptz NOT NULL,
        duration                    numeric(12, 3) NOT NULL DEFAULT 0,
        currency                    char(3) NOT NULL,
        customer_tariff_id          bigint,
        customer_prefix             text,
        customer_rate               numeric(18, 8),
        customer_initial_increment  integer,
        customer_next_increment     integer,
        customer_connect_fee        numeric(18, 8),
        customer_billed_seconds     integer NOT NULL DEFAULT 0,
        customer_price              numeric(20, 8) NOT NULL DEFAULT 0,
        vendor_tariff_id            bigint,
        vendor_prefix               text,
        vendor_rate                 numeric(18, 8),
        vendor_initial_increment    integer,
        vendor_next_increment       integer,
        vendor_connect_fee          numeric(18, 8),
        vendor_billed_seconds       integer NOT NULL DEFAULT 0,
        vendor_cost                 numeric(20, 8) NOT NULL DEFAULT 0,
        ingested_at                 timestamptz NOT NULL DEFAULT now(),
        trace                       text NOT NULL DEFAULT '',
        customer_minimum_duration   integer,
        vendor_minimum_duration     integer,
        ringing_at                  timestamptz,  -- the attempt's first 18x (0017)
        PRIMARY KEY (call_id, attempt, started_at)
    $cols$;
BEGIN
    IF akira_try_create_extension('timescaledb') THEN
        EXECUTE format('CREATE TABLE cdrs (%s)', columns);
        -- no index of its own on started_at: cdrs_started_at below is the one
        PERFORM create_hypertable('cdrs', 'started_at', chunk_time_interval => interval '1 day',
                                  create_default_indexes => false);
    ELSE
        EXECUTE format('CREATE TABLE cdrs (%s) PARTITION BY RANGE (started_at)', columns);
    END IF;
END
$cdrs$;
CREATE INDEX cdrs_started_at ON cdrs (started_at);
CREATE INDEX cdrs_originator ON cdrs (originator_id, started_at);
CREATE INDEX cdrs_terminator ON cdrs (terminator_id, started_at);

-- Monthly partitions, made on demand by the rater before it writes a month it has not seen.
-- A no-op on a hypertable (TimescaleDB makes its chunks itself).
CREATE FUNCTION akira_ensure_cdr_partition(at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    partition_name text := 'cdrs_' || to_char(at AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'cdrs'::regclass) <> 'p' THEN
        RETURN;
    END IF;
    IF to_regclass(partition_name) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('akira_ensure_cdr_partition'));
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF cdrs FOR VALUES FROM (%L) TO (%L)',
        partition_name, month_start, month_start + interval '1 month');
END
$$;

-- Rollups (issue 10; docs/reports.md): the CDRs summed per bucket (minute, hour, day) by a set
-- of keys. Every report reads the smallest rollup that has the keys it needs (admin/reports):
-- cdr_rollup_<grain> by every key (originator, terminator, customer tariff prefix: the
-- destination, currency), and by day the narrower cdr_rollup_trunks_day and
-- cdr_rollup_destinations_day, a few rows per day where the full one has one per route.
-- Customer, vendor and destination names follow from the keys by joins. On plain PostgreSQL
-- the cdrs trigger writes the minute rollup, the others are fed from it (akira_compact_rollups)
-- and read through their _live views.
CREATE FUNCTION akira_rollups() RETURNS TABLE (name text, grain text, keys text[])
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('cdr_rollup_minute', 'minute',
            ARRAY['originator_id', 'terminator_id', 'customer_tariff_id', 'customer_prefix']),
           ('cdr_rollup_hour', 'hour',
            ARRAY['originator_id', 'terminator_id', 'customer_tariff_id', 'customer_prefix']),
           ('cdr_rollup_day', 'day',
            ARRAY['originator_id', 'terminator_id', 'customer_tariff_id', 'customer_prefix']),
           ('cdr_rollup_trunks_day', 'day', ARRAY['originator_id', 'terminator_id']),
           ('cdr_rollup_destinations_day', 'day', ARRAY['customer_tariff_id', 'customer_prefix'])
$$;

-- NER's numerator (ITU-T E.411): an attempt the network completed, answered or refused by the
-- called party (busy, no answer, cancelled, declined) rather than by a network.
CREATE FUNCTION akira_network_effective(sip_code smallint, answered_at timestamptz)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN answered_at IS NOT NULL OR sip_code IN (480, 486, 487, 600, 603)
                THEN 1 ELSE 0 END
$$;

-- The delay without ringing, as migration 0010 defined it: TimescaleDB's continuous
-- aggregates made by 0010 are defined with it (docs/reports.md); nothing else calls it.
CREATE FUNCTION akira_post_dial_delay_ms(terminator_id bigint, sip_code smallint,
    started_at timestamptz, answered_at timestamptz, ended_at timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN terminator_id IS NULL OR sip_code = 487 THEN NULL
                ELSE round(extract(epoch FROM coalesce(answered_at, ended_at) - started_at)
                           * 1000)::bigint END
$$;

-- Post-dial delay of an attempt relayed to a vendor, in milliseconds: until its first ringing,
-- else its answer or its failure reply; none when no vendor was tried, or the caller cancelled
-- (487) before it rang.
CREATE FUNCTION akira_post_dial_delay_ms(terminator_id bigint, sip_code smallint,
    started_at timestamptz, ringing_at timestamptz, answered_at timestamptz,
    ended_at timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN terminator_id IS NULL OR (sip_code = 487 AND ringing_at IS NULL) THEN NULL
                ELSE round(extract(epoch FROM coalesce(ringing_at, answered_at, ended_at)
                                              - started_at) * 1000)::bigint END
$$;

-- The statement that adds signed CDR rows to one rollup: ``changes`` yields sign, then the
-- cdrs columns (+1 for a row written, -1 for one removed or replaced). It appends one partial
-- row per key and batch (a report sums them all; no row is locked, so raters never wait on one
-- another); akira_compact_rollups merges them later.
CREATE FUNCTION akira_rollup_statement(rollup text, grain text, keys text[], changes text,
    compacted boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    key_list text := array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(keys) k), ', ');
    source_keys text := array_to_string(ARRAY(SELECT 'c.' || quote_ident(k) FROM unnest(keys) k), ', ');
    positions text := array_to_string(ARRAY(SELECT generate_series(1, cardinality(keys) + 2)), ', ');
BEGIN
    RETURN format($insert$
        INSERT INTO %1$I (bucket, %2$s, currency, attempts, calls, answered, effective,
                          talk_seconds, billed_seconds, pdd_ms, pdd_attempts, revenue, cost,
                          compacted)
        SELECT date_trunc(%3$L, c.started_at, 'UTC'), %4$s, c.currency,
               sum(c.sign), sum(c.sign * (c.attempt <= 1)::int),
               sum(c.sign * (c.answered_at IS NOT NULL)::int),
               sum(c.sign * akira_network_effective(c.sip_code, c.answered_at)),
               sum(c.sign * c.duration), sum(c.sign * c.customer_billed_seconds),
               coalesce(sum(c.sign * akira_post_dial_delay_ms(c.terminator_id, c.sip_code,
                   c.started_at, c.ringing_at, c.answered_at, c.ended_at)), 0),
               sum(c.sign * (akira_post_dial_delay_ms(c.terminator_id, c.sip_code,
                   c.started_at, c.ringing_at, c.answered_at, c.ended_at) IS NOT NULL)::int),
               sum(c.sign * c.customer_price), sum(c.sign * c.vendor_cost), %7$L
        FROM (%5$s) c
        GROUP BY %6$s
        $insert$, rollup, key_list, grain, source_keys, changes, positions, compacted);
END
$$;

-- Merges the partial rows of every bucket that has new ones into one row per key (the rater
-- calls it every minute; a report is right either way, only smaller after), the minute rollup
-- first: the cdrs trigger writes that one alone, and the partial rows merged away there are
-- also summed, once, into every coarser rollup (each from the finest one already summed that
-- has its keys), merged there with the rows of the buckets they fall in, in the same statement
-- (0016); any partial rows of a coarser rollup are merged after. A rater's rows that commit
-- meanwhile are not deleted, so they are merged and fed on next time; a concurrent call
-- returns at once. Returns the rows merged away; on TimescaleDB, 0 (no tables to merge).
CREATE FUNCTION akira_compact_rollups() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    rollup record;
    coarser record;
    key_list text;
    source text;
    feeds text;
    merged bigint;
    total bigint := 0;
BEGIN
    IF akira_timescaledb_usable() OR NOT pg_try_advisory_xact_lock(hashtext('akira_compact_rollups')) THEN
        RETURN 0;
    END IF;
    FOR rollup IN SELECT * FROM akira_rollups() ORDER BY grain <> 'minute' LOOP
        key_list := array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(rollup.keys) k), ', ');
        feeds := '';
        IF rollup.grain = 'minute' THEN
            FOR coarser IN
                SELECT r.*, ('1 ' || r.grain)::interval AS step FROM akira_rollups() r
                WHERE r.grain <> 'minute'
                ORDER BY ('1 ' || r.grain)::interval, cardinality(r.keys) DESC, r.name
            LOOP
                -- summed from the coarsest rollup fed before it that has its keys (the day
                -- rollup from the hour one, the narrow days from the day one), else from the
                -- minute rows merged away
                source := coalesce((
                    SELECT 'fed_' || r.name FROM akira_rollups() r
                    WHERE r.grain <> 'minute' AND r.keys @> coarser.keys
                      AND (('1 ' || r.grain)::interval, -cardinality(r.keys), r.name)
                          < (coarser.step, -cardinality(coarser.keys), coarser.name)
                    ORDER BY ('1 ' || r.grain)::interval DESC, cardinality(r.keys), r.name
                    LIMIT 1), 'moved');
                feeds := feeds || format($feed$, %1$I AS (
                SELECT date_trunc(%4$L, bucket, 'UTC') AS bucket, %3$s, currency,
                       sum(attempts) AS attempts, sum(calls) AS calls, sum(answered) AS answered,
                       sum(effective) AS effective, sum(talk_seconds) AS talk_seconds,
                       sum(billed_seconds) AS billed_seconds, sum(pdd_ms) AS pdd_ms,
                       sum(pdd_attempts) AS pdd_attempts, sum(revenue) AS revenue,
                       sum(cost) AS cost
                FROM %5$I %6$s GROUP BY 1, %3$s, currency
            ), %2$I AS (
                DELETE FROM %7$I r USING (SELECT DISTINCT bucket FROM %1$I) f
                WHERE r.bucket = f.bucket RETURNING r.*
            ), %8$I AS (
                INSERT INTO %7$I (bucket, %3$s, currency, attempts, calls, answered, effective,
                                  talk_seconds, billed_seconds, pdd_ms, pdd_attempts, revenue,
                                  cost, compacted)
                SELECT bucket, %3$s, currency, sum(attempts), sum(calls), sum(answered),
                       sum(effective), sum(talk_seconds), sum(billed_seconds), sum(pdd_ms),
                       sum(pdd_attempts), sum(revenue), sum(cost), true
                FROM (SELECT bucket, %3$s, currency, attempts, calls, answered, effective,
                             talk_seconds, billed_seconds, pdd_ms, pdd_attempts, revenue, cost
                      FROM %2$I UNION ALL SELECT * FROM %1$I) b
                GROUP BY bucket, %3$s, currency
                HAVING sum(attempts) <> 0 OR sum(calls) <> 0 OR sum(answered) <> 0
                    OR sum(effective) <> 0 OR sum(talk_seconds) <> 0
                    OR sum(billed_seconds) <> 0 OR sum(pdd_ms) <> 0 OR sum(pdd_attempts) <> 0
                    OR sum(revenue) <> 0 OR sum(cost) <> 0
            )$feed$, 'fed_' || coarser.name, 'old_' || coarser.name,
                    array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(coarser.keys) k), ', '),
                    coarser.grain, source,
                    CASE WHEN source = 'moved' THEN 'WHERE NOT compacted' ELSE '' END,
                    coarser.name, 'into_' || coarser.name);
            END LOOP;
        END IF;
        EXECUTE format($merge$
            WITH fresh AS (SELECT DISTINCT bucket FROM %1$I WHERE NOT compacted),
            moved AS (
                DELETE FROM %1$I r USING fresh WHERE r.bucket = fresh.bucket RETURNING r.*
            ), merged AS (
                INSERT INTO %1$I (bucket, %2$s, currency, attempts, calls, answered, effective,
                                  talk_seconds, billed_seconds, pdd_ms, pdd_attempts, revenue,
                                  cost, compacted)
                SELECT bucket, %2$s, currency, sum(attempts), sum(calls), sum(answered),
                       sum(effective), sum(talk_seconds), sum(billed_seconds), sum(pdd_ms),
                       sum(pdd_attempts), sum(revenue), sum(cost), true
                FROM moved GROUP BY bucket, %2$s, currency
                -- what cancelled out (CDRs deleted) leaves nothing behind
                HAVING sum(attempts) <> 0 OR sum(calls) <> 0 OR sum(answered) <> 0
                    OR sum(effective) <> 0 OR sum(talk_seconds) <> 0
                    OR sum(billed_seconds) <> 0 OR sum(pdd_ms) <> 0 OR sum(pdd_attempts) <> 0
                    OR sum(revenue) <> 0 OR sum(cost) <> 0
                RETURNING 1
            )%3$s
            SELECT (SELECT count(*) FROM moved) - (SELECT count(*) FROM merged)
            $merge$, rollup.name, key_list, feeds) INTO merged;
        total := total + merged;
    END LOOP;
    RETURN total;
END
$$;

-- On plain PostgreSQL the rows a statement really wrote (a replay that ON CONFLICT skipped is
-- not in its transition table) are added to the minute rollup in the writer's transaction: the
-- rater, akira rerate and akira cdr retry alike. Only to the minute rollup: one pass over the
-- statement's rows, not one per rollup (0016); akira_compact_rollups feeds the coarser ones
-- from it, and until then their _live views add its rows not yet fed on.
CREATE FUNCTION akira_roll_up_cdrs() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changes text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, * FROM changed_new'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, * FROM changed_old'
        ELSE 'SELECT -1 AS sign, * FROM changed_old UNION ALL SELECT 1, * FROM changed_new'
    END;
    rollup record;
BEGIN
    FOR rollup IN SELECT * FROM akira_rollups() WHERE grain = 'minute' LOOP
        EXECUTE akira_rollup_statement(rollup.name, rollup.grain, rollup.keys, changes);
    END LOOP;
    RETURN NULL;
END
$$;

-- With TimescaleDB: continuous aggregates of the same names and columns, refreshed by policy
-- and real-time (materialized_only = false), so reports read both alike.
DO $rollups$
DECLARE
    rollup record;
    key_columns text;
    refreshed interval;
BEGIN
    FOR rollup IN SELECT * FROM akira_rollups() LOOP
        key_columns := array_to_string(
            ARRAY(SELECT quote_ident(k) FROM unnest(rollup.keys) k), ', ');
        IF akira_timescaledb_usable() THEN
            EXECUTE format($view$
                CREATE MATERIALIZED VIEW %I
                WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                SELECT time_bucket(%L::interval, started_at) AS bucket, %s, currency,
                       count(*) AS attempts,
                       sum(CASE WHEN attempt <= 1 THEN 1 ELSE 0 END) AS calls,
                       sum(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered,
                       sum(akira_network_effective(sip_code, answered_at)) AS effective,
                       sum(duration) AS talk_seconds,
                       sum(customer_billed_seconds) AS billed_seconds,
                       coalesce(sum(akira_post_dial_delay_ms(terminator_id, sip_code,
                           started_at, answered_at, ended_at)), 0) AS pdd_ms,
                       count(akira_post_dial_delay_ms(terminator_id, sip_code, started_at,
                           answered_at, ended_at)) AS pdd_attempts,
                       sum(customer_price) AS revenue, sum(vendor_cost) AS cost
                FROM cdrs GROUP BY bucket, %s, currency WITH NO DATA
                $view$, rollup.name, '1 ' || rollup.grain, key_columns, key_columns);
            -- late CDRs (long calls, a node's journal shipped after an outage) land within
            refreshed := CASE rollup.grain WHEN 'minute' THEN interval '3 days'
                                           WHEN 'hour' THEN interval '7 days'
                                           ELSE interval '35 days' END;
            PERFORM add_continuous_aggregate_policy(rollup.name::regclass,
                start_offset => refreshed, end_offset => ('1 ' || rollup.grain)::interval,
                schedule_interval => ('1 ' || rollup.grain)::interval);
        ELSE
            EXECUTE format($table$
                CREATE TABLE %I (
                    bucket              timestamptz NOT NULL,
                    %s,
                    currency            char(3) NOT NULL,
                    attempts            bigint NOT NULL,
                    calls               bigint NOT NULL,  -- attempts 0 and 1: one per call
                    answered            bigint NOT NULL,
                    effective           bigint NOT NULL,  -- akira_network_effective
                    talk_seconds        numeric NOT NULL,
                    billed_seconds      bigint NOT NULL,  -- the customer's
                    pdd_ms              numeric NOT NULL,  -- akira_post_dial_delay_ms, summed
                    pdd_attempts        bigint NOT NULL,  -- the attempts that have one
                    revenue             numeric NOT NULL,  -- customer_price, summed
                    cost                numeric NOT NULL,  -- vendor_cost, summed
                    -- false: a batch's partial row, not yet merged (akira_compact_rollups)
                    compacted           boolean NOT NULL DEFAULT false
                )$table$,
                rollup.name,
                array_to_string(ARRAY(
                    SELECT format('%I %s', k, CASE WHEN k = 'customer_prefix' THEN 'text'
                                                    ELSE 'bigint' END)
                    FROM unnest(rollup.keys) k), ', '));
            EXECUTE format('CREATE INDEX %I ON %I (bucket)', rollup.name || '_bucket',
                           rollup.name);
            EXECUTE format('CREATE INDEX %I ON %I (bucket) WHERE NOT compacted',
                           rollup.name || '_fresh', rollup.name);
        END IF;
    END LOOP;
    IF NOT akira_timescaledb_usable() THEN
        CREATE TRIGGER cdrs_rolled_up_inserted AFTER INSERT ON cdrs
            REFERENCING NEW TABLE AS changed_new
            FOR EACH STATEMENT EXECUTE FUNCTION akira_roll_up_cdrs();
        CREATE TRIGGER cdrs_rolled_up_updated AFTER UPDATE ON cdrs
            REFERENCING NEW TABLE AS changed_new OLD TABLE AS changed_old
            FOR EACH STATEMENT EXECUTE FUNCTION akira_roll_up_cdrs();
        CREATE TRIGGER cdrs_rolled_up_deleted AFTER DELETE ON cdrs
            REFERENCING OLD TABLE AS changed_old
            FOR EACH STATEMENT EXECUTE FUNCTION akira_roll_up_cdrs();
    END IF;
END
$rollups$;

-- What a coarser rollup says now (reports read these, admin/reports): its rows, and on plain
-- PostgreSQL the minute rollup's partial rows not yet fed into it by akira_compact_rollups
-- (at most about a minute of them, read by the minute rollup's index of fresh rows). On
-- TimescaleDB, where every rollup is a real-time continuous aggregate, the aggregate alone.
DO $live$
DECLARE
    rollup record;
    key_list text;
    sums text := 'attempts, calls, answered, effective, talk_seconds, billed_seconds, pdd_ms, '
                 || 'pdd_attempts, revenue, cost';
    finest text := (SELECT name FROM akira_rollups() WHERE grain = 'minute');
BEGIN
    FOR rollup IN SELECT * FROM akira_rollups() WHERE grain <> 'minute' LOOP
        key_list := array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(rollup.keys) k), ', ');
        IF akira_timescaledb_usable() THEN
            EXECUTE format('CREATE VIEW %I AS SELECT bucket, %s, currency, %s FROM %I',
                           rollup.name || '_live', key_list, sums, rollup.name);
        ELSE
            EXECUTE format($view$
                CREATE VIEW %1$I AS
                SELECT bucket, %2$s, currency, %3$s FROM %4$I
                UNION ALL
                SELECT date_trunc(%5$L, bucket, 'UTC'), %2$s, currency, %3$s
                FROM %6$I WHERE NOT compacted
                $view$, rollup.name || '_live', key_list, sums, rollup.name, rollup.grain,
                finest);
        END IF;
    END LOOP;
END
$live$;

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

-- Whose calls the engine checks against their money in real time: prepaid accounts, and
-- postpaid ones with a credit limit (without one, a postpaid account runs until invoiced).
CREATE FUNCTION akira_credit_controlled(billing text, credit_limit numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT billing = 'prepaid' OR credit_limit > 0 $$;

CREATE VIEW account_balances AS
SELECT c.id AS company_id, c.name, c.currency, c.billing, c.credit_limit,
       coalesce(sum(l.amount) FILTER (WHERE l.currency = c.currency), 0) AS balance,
       coalesce(sum(l.amount) FILTER (WHERE l.currency = c.currency), 0) + c.credit_limit
           AS available,
       akira_credit_controlled(c.billing, c.credit_limit) AS credit_controlled
FROM companies c
LEFT JOIN ledger_entries l ON l.company_id = c.id
GROUP BY c.id;

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
    IF akira_credit_controlled(account.billing, account.credit_limit)
       AND before_entry + account.credit_limit >= 0 AND after_entry + account.credit_limit < 0 THEN
        INSERT INTO notification_outbox (company_id, kind, balance, threshold)
        VALUES (NEW.company_id, 'credit-limit-reached', after_entry, -account.credit_limit);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_entries_alerts AFTER INSERT ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION akira_ledger_alerts();

-- The catalog's revision: every statement that changes what a snapshot is compiled from bumps
-- it (admin/publisher.py records the revision it compiled; the admin shows a stale snapshot).
CREATE TABLE catalog_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),  -- one row
    revision    bigint NOT NULL DEFAULT 0,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO catalog_state DEFAULT VALUES;

CREATE FUNCTION akira_catalog_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_state SET revision = revision + 1, changed_at = now();
    RETURN NULL;
END
$$;

DO $$
DECLARE
    routing_table text;
BEGIN
    FOREACH routing_table IN ARRAY ARRAY['companies', 'tariffs', 'rates', 'routing_plans',
        'routing_plan_overrides', 'blocked_prefixes', 'terminators', 'terminator_gateways',
        'routing_plan_entries', 'originators', 'devices']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION akira_catalog_changed()',
                       routing_table || '_catalog_changed', routing_table);
    END LOOP;
END
$$;

-- Rate-deck column mappings (0009, admin/ratedecks/layout.py): saved per terminator or per
-- tariff and reused by the next import of that vendor's decks; or shared, by name only.
CREATE TABLE rate_deck_mappings (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^\S(.{0,98}\S)?$'),
    terminator_id   bigint UNIQUE REFERENCES terminators (id) ON DELETE CASCADE,
    tariff_id       bigint UNIQUE REFERENCES tariffs (id) ON DELETE CASCADE,
    layout          jsonb NOT NULL CHECK (jsonb_typeof(layout -> 'columns') = 'object'),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(terminator_id, tariff_id) <= 1)  -- one owner at most
);

-- NOC test calls (0011, admin/noc): the trunk that may force a vendor, the scheduled audits,
-- every test call's result, and the alert a failed audit raises.
-- Only a NOC originator's INVITE may name its vendor (X-Akira-Terminator, kemi/stages.route);
-- from any other trunk the header is ignored. It routes within its own routing plan only.
ALTER TABLE originators ADD COLUMN noc boolean NOT NULL DEFAULT false;

-- Every N minutes, a test call to each number through this vendor, and to the vendor's
-- top destinations of the last day (the number last called at each of its busiest prefixes);
-- a result other than expect_code raises an alert (notification_outbox, noc-test-failed).
CREATE TABLE noc_audits (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    terminator_id   bigint NOT NULL REFERENCES terminators (id) ON DELETE CASCADE,
    numbers         text[] NOT NULL DEFAULT '{}'
                    CHECK (cardinality(numbers) <= 20
                           AND (cardinality(numbers) = 0 OR array_to_string(numbers, ',')
                                ~ '^[0-9]{3,32}(,[0-9]{3,32})*$')),
    top_destinations integer CHECK (top_destinations BETWEEN 1 AND 10),
    every_minutes   integer NOT NULL CHECK (every_minutes BETWEEN 1 AND 10080),
    expect_code     integer NOT NULL DEFAULT 200 CHECK (expect_code BETWEEN 200 AND 699),
    hold_seconds    integer NOT NULL DEFAULT 5 CHECK (hold_seconds BETWEEN 1 AND 120),
    enabled         boolean NOT NULL DEFAULT true,
    next_run_at     timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT noc_audits_something_to_call
        CHECK (cardinality(numbers) > 0 OR top_destinations IS NOT NULL)
);
CREATE INDEX noc_audits_due ON noc_audits (next_run_at) WHERE enabled;

-- One test call: what the vendor answered (every reply code in order, the final one), the
-- post-dial delay (INVITE to the first 180/183, or to the final reply without one) and, when
-- answered, how long it was held.
CREATE TABLE noc_test_calls (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    terminator_id   bigint REFERENCES terminators (id) ON DELETE SET NULL,
    audit_id        bigint REFERENCES noc_audits (id) ON DELETE SET NULL,
    number          text NOT NULL CHECK (number ~ '^[0-9]{3,32}$'),
    requested_by    text NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL CHECK (finished_at >= started_at),
    outcome         text NOT NULL CHECK (outcome IN ('passed', 'failed', 'error')),
    expect_code     integer NOT NULL,
    sip_code        integer CHECK (sip_code BETWEEN 100 AND 699),
    reply_codes     integer[] NOT NULL DEFAULT '{}',
    pdd_ms          integer CHECK (pdd_ms >= 0),
    duration_ms     integer CHECK (duration_ms >= 0),
    call_id         text NOT NULL DEFAULT '',
    detail          text NOT NULL DEFAULT ''
);
CREATE INDEX noc_test_calls_terminator ON noc_test_calls (terminator_id, started_at DESC);
CREATE INDEX noc_test_calls_started ON noc_test_calls (started_at DESC);

-- A failed audit call is an alert of the vendor's company, delivered like the money ones.
ALTER TABLE notification_outbox
    DROP CONSTRAINT notification_outbox_kind_check,
    ADD CONSTRAINT notification_outbox_kind_check
        CHECK (kind IN ('low-balance', 'credit-limit-reached', 'noc-test-failed')),
    ALTER COLUMN balance DROP NOT NULL,
    ALTER COLUMN threshold DROP NOT NULL,
    ADD COLUMN detail jsonb,
    ADD CONSTRAINT notification_outbox_money_alerts
        CHECK (kind = 'noc-test-failed' OR (balance IS NOT NULL AND threshold IS NOT NULL));

-- Customer tariffs derived from vendor costs (0013, admin/pricing, docs/pricing.md): each
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

INSERT INTO schema_migrations (version) VALUES ('0001'), ('0002'), ('0003'), ('0004'), ('0005'),
    ('0006'), ('0007'), ('0008'), ('0009'), ('0010'), ('0011'), ('0012'), ('0013'), ('0014'),
    ('0015'), ('0016'), ('0017');
