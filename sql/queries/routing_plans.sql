-- The routing plan and plan entry services (admin/services/routing_plans.py) and their pages.

-- name: routing_plan_get
SELECT p.id, p.name, p.strategy, p.hunt_stop_codes, p.allow_loss, p.min_margin,
       p.min_margin_percent, p.max_attempts, p.ring_timeout, p.answer_timeout,
       p.quality_min_attempts, p.quality_min_asr, p.quality_min_acd, p.quality_max_pdd,
       p.quality_drop
FROM routing_plans p WHERE p.id = %(id)s;

-- name: routing_plan_create
INSERT INTO routing_plans (name, strategy, hunt_stop_codes, allow_loss, min_margin,
                           min_margin_percent, max_attempts, ring_timeout, answer_timeout,
                           quality_min_attempts, quality_min_asr, quality_min_acd,
                           quality_max_pdd, quality_drop)
VALUES (%(name)s, %(strategy)s, %(hunt_stop_codes)s, %(allow_loss)s, %(min_margin)s,
        %(min_margin_percent)s, %(max_attempts)s, %(ring_timeout)s, %(answer_timeout)s,
        %(quality_min_attempts)s, %(quality_min_asr)s, %(quality_min_acd)s,
        %(quality_max_pdd)s, %(quality_drop)s)
RETURNING id;

-- name: routing_plan_update
UPDATE routing_plans
SET name = %(name)s, strategy = %(strategy)s, hunt_stop_codes = %(hunt_stop_codes)s,
    allow_loss = %(allow_loss)s, min_margin = %(min_margin)s,
    min_margin_percent = %(min_margin_percent)s, max_attempts = %(max_attempts)s,
    ring_timeout = %(ring_timeout)s, answer_timeout = %(answer_timeout)s,
    quality_min_attempts = %(quality_min_attempts)s, quality_min_asr = %(quality_min_asr)s,
    quality_min_acd = %(quality_min_acd)s, quality_max_pdd = %(quality_max_pdd)s,
    quality_drop = %(quality_drop)s
WHERE id = %(id)s;

-- name: routing_plan_delete
DELETE FROM routing_plans WHERE id = %(id)s;

-- name: routing_plan_dependents
SELECT 'originators', (SELECT count(*) FROM originators WHERE routing_plan_id = %(id)s), true
UNION ALL
SELECT 'entries', (SELECT count(*) FROM routing_plan_entries WHERE routing_plan_id = %(id)s),
       false
UNION ALL
SELECT 'overrides',
       (SELECT count(*) FROM routing_plan_overrides WHERE routing_plan_id = %(id)s), false
UNION ALL
SELECT 'blocked prefixes',
       (SELECT count(*) FROM blocked_prefixes WHERE routing_plan_id = %(id)s), false;

-- name: routing_plan_id_by_name
SELECT id FROM routing_plans WHERE name = %(name)s;

-- name: routing_plan_entry_get
SELECT e.id, p.name || ' → ' || tr.name AS name, e.routing_plan_id, p.name AS routing_plan,
       e.terminator_id, tr.name AS terminator, e.priority, e.weight, e.position
FROM routing_plan_entries e
JOIN routing_plans p ON p.id = e.routing_plan_id
JOIN terminators tr ON tr.id = e.terminator_id
WHERE e.id = %(id)s;

-- name: routing_plan_entry_create
INSERT INTO routing_plan_entries (routing_plan_id, terminator_id, priority, weight, position)
VALUES (%(routing_plan_id)s, %(terminator_id)s, %(priority)s, %(weight)s, %(position)s)
RETURNING id;

-- name: routing_plan_entry_update
UPDATE routing_plan_entries
SET routing_plan_id = %(routing_plan_id)s, terminator_id = %(terminator_id)s,
    priority = %(priority)s, weight = %(weight)s, position = %(position)s
WHERE id = %(id)s;

-- name: routing_plan_entry_delete
DELETE FROM routing_plan_entries WHERE id = %(id)s;

-- name: routing_plan_entry_dependents
SELECT 'nothing', 0, true WHERE false;

-- name: web_routing_plans_list
SELECT p.id, p.name, p.strategy, p.hunt_stop_codes, p.allow_loss, p.min_margin::text AS min_margin,
       p.max_attempts,
       (SELECT count(*) FROM routing_plan_entries e WHERE e.routing_plan_id = p.id) AS entry_count,
       (SELECT count(*) FROM originators o WHERE o.routing_plan_id = p.id) AS originator_count,
       count(*) OVER () AS total_count
FROM routing_plans p
WHERE (%(search)s::text IS NULL OR p.name ILIKE '%%' || %(search)s || '%%')
  AND (%(strategy)s::text IS NULL OR p.strategy = %(strategy)s)
ORDER BY p.name, p.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: web_routing_plan_entries_list
SELECT e.id, e.routing_plan_id, p.name AS routing_plan, e.terminator_id, tr.name AS terminator,
       e.priority, e.weight, e.position, count(*) OVER () AS total_count
FROM routing_plan_entries e
JOIN routing_plans p ON p.id = e.routing_plan_id
JOIN terminators tr ON tr.id = e.terminator_id
WHERE (%(search)s::text IS NULL
       OR p.name ILIKE '%%' || %(search)s || '%%' OR tr.name ILIKE '%%' || %(search)s || '%%')
ORDER BY p.name, e.priority, e.position, tr.name, e.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: web_routing_plan_entries
SELECT e.id, e.terminator_id, tr.name AS terminator, e.priority, e.weight, e.position,
       tr.enabled
FROM routing_plan_entries e JOIN terminators tr ON tr.id = e.terminator_id
WHERE e.routing_plan_id = %(id)s
ORDER BY e.priority, e.position, tr.name;

-- name: web_routing_plan_overrides
SELECT o.prefix,
       array(SELECT tr.name FROM unnest(o.terminator_ids) WITH ORDINALITY AS u (id, n)
             JOIN terminators tr ON tr.id = u.id ORDER BY u.n) AS terminators
FROM routing_plan_overrides o WHERE o.routing_plan_id = %(id)s ORDER BY o.prefix;

-- name: web_routing_plan_blocks
SELECT b.prefix, b.reason FROM blocked_prefixes b
WHERE b.routing_plan_id = %(id)s ORDER BY b.prefix;

-- name: web_routing_plan_originators
SELECT o.id, o.name, c.name AS company, o.enabled
FROM originators o JOIN companies c ON c.id = o.company_id
WHERE o.routing_plan_id = %(id)s ORDER BY o.name;
