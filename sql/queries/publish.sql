-- Queries the publisher compiles a routing snapshot from (admin/publisher.py).

-- name: publish_originators
SELECT o.id, o.name, o.company_id, (o.enabled AND c.enabled) AS enabled, o.tariff_id,
       o.routing_plan_id, o.tech_prefix, o.max_call_duration, o.match_header, o.match_value,
       o.number_rules, coalesce(o.min_digits, 3) AS min_digits,
       coalesce(o.max_digits, 32) AS max_digits, o.cli_rules, o.cli_policy, o.cli_replacement,
       o.cps_limit, o.concurrent_limit,
       akira_credit_controlled(c.billing, c.credit_limit) AS prepaid, o.noc
FROM originators o
JOIN companies c ON c.id = o.company_id
ORDER BY o.id;

-- name: publish_currency_mismatches
-- Customers charged in a currency their account is not kept in: the ledger could not add it.
SELECT o.name AS originator, t.currency AS tariff_currency, c.currency AS company_currency
FROM originators o
JOIN companies c ON c.id = o.company_id
JOIN tariffs t ON t.id = o.tariff_id
WHERE t.currency <> c.currency
ORDER BY o.name;

-- name: publish_devices
SELECT d.originator_id, d.network::text AS network, d.port, d.transport, d.username, d.ha1
FROM devices d
ORDER BY d.id;

-- name: publish_terminators
SELECT t.id, t.name, t.company_id, (t.enabled AND c.enabled) AS enabled, t.tariff_id,
       t.tech_prefix, t.number_rules, t.cps_limit, t.concurrent_limit,
       coalesce(
           (SELECT json_agg(json_build_object('host', g.host, 'port', g.port,
                                              'transport', g.transport)
                            ORDER BY g.position, g.id)
            FROM terminator_gateways g WHERE g.terminator_id = t.id),
           '[]'::json) AS gateways
FROM terminators t
JOIN companies c ON c.id = t.company_id
ORDER BY t.id;

-- name: publish_routing_plans
-- Money in 1e-8 units, the margin percent in 1/10000 of a percent, the quality ASR in 1/100 of
-- a percent and its PDD in ms: the engine compares ints.
SELECT p.id, p.name, p.strategy, p.hunt_stop_codes, p.allow_loss,
       (p.min_margin * 100000000)::bigint AS min_margin,
       (p.min_margin_percent * 10000)::integer AS min_margin_percent,
       p.max_attempts, p.ring_timeout, p.answer_timeout,
       p.quality_min_attempts, (p.quality_min_asr * 100)::integer AS quality_min_asr,
       p.quality_min_acd, (p.quality_max_pdd * 1000)::integer AS quality_max_pdd_ms,
       p.quality_drop,
       coalesce(
           (SELECT json_agg(json_build_object('terminator_id', e.terminator_id,
                                              'priority', e.priority, 'weight', e.weight)
                            ORDER BY e.position, e.terminator_id)
            FROM routing_plan_entries e WHERE e.routing_plan_id = p.id),
           '[]'::json) AS entries,
       coalesce(
           (SELECT json_agg(json_build_object('prefix', o.prefix,
                                              'terminator_ids', o.terminator_ids)
                            ORDER BY o.prefix)
            FROM routing_plan_overrides o WHERE o.routing_plan_id = p.id),
           '[]'::json) AS overrides,
       coalesce(
           (SELECT array_agg(b.prefix ORDER BY b.prefix)
            FROM blocked_prefixes b WHERE b.routing_plan_id = p.id),
           '{}') AS blocked
FROM routing_plans p
ORDER BY p.id;

-- name: publish_global_blocked
SELECT prefix FROM blocked_prefixes WHERE routing_plan_id IS NULL ORDER BY prefix;

-- name: publish_tariffs
-- Tariffs some trunk uses (others need not reach the engine); customer ones carry their rates
-- to the engine as tariff files, vendor ones inside the route tables of the plans.
-- revision and closed windows say whether its rows changed since an earlier publish.
-- (created_at tells a tariff of a re-created database from one of the same id.)
SELECT t.id, t.currency, t.id IN (SELECT tariff_id FROM originators) AS customer,
       t.revision || '@' || (extract(epoch FROM t.created_at) * 1000000)::bigint AS revision,
       (SELECT count(*) FROM rates r
        WHERE r.tariff_id = t.id AND r.effective_to IS NOT NULL AND r.effective_to <= %(now)s)
           AS closed
FROM tariffs t
WHERE t.id IN (SELECT tariff_id FROM originators UNION SELECT tariff_id FROM terminators)
ORDER BY t.id;

-- name: publish_rates_copy
-- Rates still effective or to come, in the fixed-width binary layout admin/tariff_compiler.py
-- reads: the prefix padded with 'x' to 20 bytes, money in 1e-8 units, windows in whole epoch
-- seconds (a bound inside a second moves to the next whole one; "to" 4294967295 = open).
-- Unsorted: the publisher sorts in numpy, several times faster than here.
COPY (
    SELECT rpad(prefix, 20, 'x')::bytea,
           (rate * 100000000)::bigint,
           initial_increment,
           next_increment,
           (connect_fee * 100000000)::bigint,
           least(4294967294, greatest(0, ceil(date_part('epoch', effective_from))))::bigint,
           coalesce(least(4294967295, ceil(date_part('epoch', effective_to))), 4294967295)::bigint,
           minimum_duration
    FROM rates
    WHERE tariff_id = %(tariff_id)s
      AND (effective_to IS NULL OR effective_to > %(now)s)
      AND (effective_to IS NULL
           OR ceil(date_part('epoch', effective_to)) > ceil(date_part('epoch', effective_from)))
) TO STDOUT (FORMAT binary);

-- name: record_publication
INSERT INTO snapshot_publications
    (version, published_by, originators, terminators, tariffs, rates, duration_ms,
     catalog_revision)
VALUES (%(version)s, %(published_by)s, %(originators)s, %(terminators)s, %(tariffs)s,
        %(rates)s, %(duration_ms)s, %(catalog_revision)s);

-- name: catalog_revision
SELECT revision FROM catalog_state;

-- name: snapshot_staleness
-- The catalog's revision and when it changed, against the last publication's.
SELECT s.revision, s.changed_at, p.version, p.published_at, p.published_by,
       coalesce(p.catalog_revision, -1) AS published_revision
FROM catalog_state s
LEFT JOIN LATERAL (SELECT * FROM snapshot_publications ORDER BY version DESC LIMIT 1) p ON true;

-- name: last_published_version
SELECT coalesce(max(version), 0) FROM snapshot_publications;
