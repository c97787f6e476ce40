-- 0011: NOC test calls (admin/noc): the trunk that may force a vendor, the scheduled audits,
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
