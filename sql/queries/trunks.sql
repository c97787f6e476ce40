-- The trunk services (admin/services/trunks.py): originators with their devices, terminators
-- with their gateways. Routing settings (limits, number rules, CLI policy) are changed by
-- admin/routing_settings.py (akira originator|terminator set) and only shown here.

-- name: originator_get
SELECT o.id, o.name, o.company_id, c.name AS company, o.tariff_id, t.name AS tariff,
       o.routing_plan_id, p.name AS routing_plan, o.tech_prefix, o.max_call_duration,
       o.enabled, o.cps_limit, o.concurrent_limit, o.number_rules, o.cli_policy,
       o.match_header, o.match_value
FROM originators o
JOIN companies c ON c.id = o.company_id
JOIN tariffs t ON t.id = o.tariff_id
LEFT JOIN routing_plans p ON p.id = o.routing_plan_id
WHERE o.id = %(id)s;

-- name: originator_create
INSERT INTO originators (name, company_id, tariff_id, routing_plan_id, tech_prefix,
                         max_call_duration, enabled)
VALUES (%(name)s, %(company_id)s, %(tariff_id)s, %(routing_plan_id)s, %(tech_prefix)s,
        %(max_call_duration)s, %(enabled)s)
RETURNING id;

-- name: originator_update
UPDATE originators
SET name = %(name)s, company_id = %(company_id)s, tariff_id = %(tariff_id)s,
    routing_plan_id = %(routing_plan_id)s, tech_prefix = %(tech_prefix)s,
    max_call_duration = %(max_call_duration)s, enabled = %(enabled)s
WHERE id = %(id)s;

-- name: originator_delete
DELETE FROM originators WHERE id = %(id)s;

-- name: originator_dependents
-- Its CDRs keep it (disable it instead; up to 1,000 counted); its devices go with it.
SELECT 'CDRs (disable the trunk instead)',
       (SELECT count(*) FROM (SELECT 1 FROM cdrs WHERE originator_id = %(id)s LIMIT 1000) x),
       true
UNION ALL
SELECT 'devices', (SELECT count(*) FROM devices WHERE originator_id = %(id)s), false;

-- name: originator_id_by_name
SELECT id FROM originators WHERE name = %(name)s;

-- name: device_get
SELECT d.id, d.network::text AS network, d.originator_id, o.name AS originator, d.port,
       d.transport, d.description, d.username
FROM devices d JOIN originators o ON o.id = d.originator_id
WHERE d.id = %(id)s;

-- name: device_create
INSERT INTO devices (originator_id, network, port, transport, description)
VALUES (%(originator_id)s, %(network)s, %(port)s, %(transport)s, %(description)s)
RETURNING id;

-- name: device_update
UPDATE devices
SET originator_id = %(originator_id)s, network = %(network)s, port = %(port)s,
    transport = %(transport)s, description = %(description)s
WHERE id = %(id)s;

-- name: device_delete
DELETE FROM devices WHERE id = %(id)s;

-- name: device_dependents
SELECT 'nothing', 0, true WHERE false;

-- name: terminator_get
SELECT tr.id, tr.name, tr.company_id, c.name AS company, tr.tariff_id, t.name AS tariff,
       tr.tech_prefix, tr.enabled, tr.cps_limit, tr.concurrent_limit, tr.number_rules
FROM terminators tr
JOIN companies c ON c.id = tr.company_id
JOIN tariffs t ON t.id = tr.tariff_id
WHERE tr.id = %(id)s;

-- name: terminator_create
INSERT INTO terminators (name, company_id, tariff_id, tech_prefix, enabled)
VALUES (%(name)s, %(company_id)s, %(tariff_id)s, %(tech_prefix)s, %(enabled)s)
RETURNING id;

-- name: terminator_update
UPDATE terminators
SET name = %(name)s, company_id = %(company_id)s, tariff_id = %(tariff_id)s,
    tech_prefix = %(tech_prefix)s, enabled = %(enabled)s
WHERE id = %(id)s;

-- name: terminator_delete
DELETE FROM terminators WHERE id = %(id)s;

-- name: terminator_dependents
SELECT 'routing plans', (SELECT count(*) FROM routing_plan_entries WHERE terminator_id = %(id)s),
       true
UNION ALL
SELECT 'CDRs (disable the trunk instead)',
       (SELECT count(*) FROM (SELECT 1 FROM cdrs WHERE terminator_id = %(id)s LIMIT 1000) x),
       true
UNION ALL
SELECT 'gateways', (SELECT count(*) FROM terminator_gateways WHERE terminator_id = %(id)s),
       false;

-- name: terminator_id_by_name
SELECT id FROM terminators WHERE name = %(name)s;

-- name: gateway_get
SELECT g.id, g.host || ':' || g.port || '/' || g.transport AS name, g.terminator_id,
       tr.name AS terminator, g.host, g.port, g.transport, g.position
FROM terminator_gateways g JOIN terminators tr ON tr.id = g.terminator_id
WHERE g.id = %(id)s;

-- name: gateway_create
INSERT INTO terminator_gateways (terminator_id, host, port, transport, position)
VALUES (%(terminator_id)s, %(host)s, %(port)s, %(transport)s, %(position)s)
RETURNING id;

-- name: gateway_update
UPDATE terminator_gateways
SET terminator_id = %(terminator_id)s, host = %(host)s, port = %(port)s,
    transport = %(transport)s, position = %(position)s
WHERE id = %(id)s;

-- name: gateway_delete
DELETE FROM terminator_gateways WHERE id = %(id)s;

-- name: gateway_dependents
SELECT 'nothing', 0, true WHERE false;

-- Choices of the trunk forms' selects: (value, label).

-- name: company_choices
SELECT id, name FROM companies ORDER BY name;

-- name: tariff_choices
SELECT id, name || ' (' || currency || ')' FROM tariffs ORDER BY name;

-- name: routing_plan_choices
SELECT id, name FROM routing_plans ORDER BY name;

-- name: originator_choices
SELECT id, name FROM originators ORDER BY name;

-- name: terminator_choices
SELECT id, name FROM terminators ORDER BY name;

-- Children on the trunks' detail pages.

-- name: web_originator_devices
SELECT d.id, d.network::text AS network, d.port, d.transport, d.description,
       d.username IS NOT NULL AS digest
FROM devices d WHERE d.originator_id = %(id)s ORDER BY d.id;

-- name: web_terminator_gateways
SELECT g.id, g.host, g.port, g.transport, g.position
FROM terminator_gateways g WHERE g.terminator_id = %(id)s ORDER BY g.position, g.id;

-- name: web_trunk_recent_cdrs
-- A trunk's latest attempts, on either side (the last 7 days).
SELECT c.started_at, c.called, c.sip_code, c.duration::text AS duration,
       c.customer_price::text AS price, c.vendor_cost::text AS cost
FROM cdrs c
WHERE c.started_at > now() - interval '7 days'
  AND ((c.originator_id = %(id)s AND %(entity)s = 'originator')
       OR (c.terminator_id = %(id)s AND %(entity)s = 'terminator'))
ORDER BY c.started_at DESC LIMIT 20;

-- name: web_devices_list
SELECT d.id, d.network::text AS network, d.originator_id, o.name AS originator, d.port,
       d.transport, d.description, d.username IS NOT NULL AS digest,
       count(*) OVER () AS total_count
FROM devices d JOIN originators o ON o.id = d.originator_id
WHERE (%(search)s::text IS NULL
       OR d.network::text LIKE %(search)s || '%%' OR o.name ILIKE '%%' || %(search)s || '%%'
       OR d.description ILIKE '%%' || %(search)s || '%%')
ORDER BY o.name, d.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: web_gateways_list
SELECT g.id, g.host, g.port, g.transport, g.position, g.terminator_id, tr.name AS terminator,
       count(*) OVER () AS total_count
FROM terminator_gateways g JOIN terminators tr ON tr.id = g.terminator_id
WHERE (%(search)s::text IS NULL
       OR g.host ILIKE '%%' || %(search)s || '%%' OR tr.name ILIKE '%%' || %(search)s || '%%')
ORDER BY tr.name, g.position, g.id
LIMIT %(limit)s OFFSET %(offset)s;
