-- 0015: quality routing (issue 10 part 5; docs/engine.md "Quality routing"). A routing plan may
-- order its vendors "quality then cost": a vendor whose answer-seizure ratio, average call
-- duration or post-dial delay for the call's destination, over the recent window that
-- `akira quality publish` sums from the minute rollups, is under the plan's thresholds goes
-- after the others (or out, with quality_drop). Fewer attempts than quality_min_attempts: not
-- judged.

ALTER TABLE routing_plans DROP CONSTRAINT routing_plans_strategy_check;
ALTER TABLE routing_plans ADD CONSTRAINT routing_plans_strategy_check
    CHECK (strategy IN ('least_cost', 'priority', 'weight', 'static', 'quality_then_cost'));

ALTER TABLE routing_plans
    ADD COLUMN quality_min_attempts integer NOT NULL DEFAULT 20
        CHECK (quality_min_attempts BETWEEN 1 AND 1000000),
    ADD COLUMN quality_min_asr numeric(5, 2) CHECK (quality_min_asr BETWEEN 0 AND 100),
    ADD COLUMN quality_min_acd integer CHECK (quality_min_acd BETWEEN 0 AND 86400),
    ADD COLUMN quality_max_pdd numeric(6, 3) CHECK (quality_max_pdd > 0),
    ADD COLUMN quality_drop boolean NOT NULL DEFAULT false;
