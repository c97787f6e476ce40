-- The admin's generic lists (admin/web/listing.py). Each takes %(search)s (LIKE-escaped text or
-- NULL), its filters (NULL when not chosen), %(limit)s and %(offset)s, and returns total_count,
-- the number of rows matching, with every row of the page.

-- name: web_originators_list
SELECT o.id, o.name, c.name AS company, o.tariff_id, t.name AS tariff,
       p.name AS routing_plan, o.tech_prefix,
       array(SELECT d.network::text FROM devices d
             WHERE d.originator_id = o.id ORDER BY d.id) AS devices,
       o.max_call_duration, o.enabled,
       count(*) OVER () AS total_count
FROM originators o
JOIN companies c ON c.id = o.company_id
JOIN tariffs t ON t.id = o.tariff_id
LEFT JOIN routing_plans p ON p.id = o.routing_plan_id
WHERE (%(search)s::text IS NULL
       OR o.name ILIKE '%%' || %(search)s || '%%'
       OR c.name ILIKE '%%' || %(search)s || '%%'
       OR EXISTS (SELECT 1 FROM devices d
                  WHERE d.originator_id = o.id AND d.network::text LIKE %(search)s || '%%'))
  AND (%(enabled)s::boolean IS NULL OR o.enabled = %(enabled)s)
ORDER BY o.name, o.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: web_terminators_list
SELECT tr.id, tr.name, c.name AS company, tr.tariff_id, t.name AS tariff, tr.tech_prefix,
       array(SELECT g.host || ':' || g.port || '/' || g.transport FROM terminator_gateways g
             WHERE g.terminator_id = tr.id ORDER BY g.position, g.id) AS gateways,
       tr.enabled,
       count(*) OVER () AS total_count
FROM terminators tr
JOIN companies c ON c.id = tr.company_id
JOIN tariffs t ON t.id = tr.tariff_id
WHERE (%(search)s::text IS NULL
       OR tr.name ILIKE '%%' || %(search)s || '%%'
       OR c.name ILIKE '%%' || %(search)s || '%%'
       OR EXISTS (SELECT 1 FROM terminator_gateways g
                  WHERE g.terminator_id = tr.id AND g.host ILIKE '%%' || %(search)s || '%%'))
  AND (%(enabled)s::boolean IS NULL OR tr.enabled = %(enabled)s)
ORDER BY tr.name, tr.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: web_tariffs_list
SELECT t.id, t.name, t.currency, t.description,
       t.rate_count,
       (SELECT count(*) FROM originators o WHERE o.tariff_id = t.id)
         + (SELECT count(*) FROM terminators tr WHERE tr.tariff_id = t.id) AS trunk_count,
       t.created_at,
       count(*) OVER () AS total_count
FROM tariffs t
WHERE (%(search)s::text IS NULL
       OR t.name ILIKE '%%' || %(search)s || '%%'
       OR t.description ILIKE '%%' || %(search)s || '%%')
ORDER BY t.name, t.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: web_rates_list
-- A prefix search matches from the start: "44" finds 44, 447 and 4420, as routing reads them.
-- Money leaves as PostgreSQL's exact decimal text: JSON has no exact number type.
SELECT r.id, r.prefix, r.destination, r.rate::text, r.initial_increment, r.next_increment,
       r.connect_fee::text, r.effective_from, r.effective_to
FROM rates r
WHERE r.tariff_id = %(tariff_id)s
  AND (%(search)s::text IS NULL
       OR r.prefix LIKE %(search)s || '%%'
       OR r.destination ILIKE '%%' || %(search)s || '%%')
ORDER BY r.prefix, r.effective_from
LIMIT %(limit)s OFFSET %(offset)s;

-- name: web_tariff
SELECT t.id, t.name, t.currency, t.description,
       t.rate_count,
       (SELECT count(*) FROM originators o WHERE o.tariff_id = t.id)
         + (SELECT count(*) FROM terminators tr WHERE tr.tariff_id = t.id) AS trunk_count,
       t.created_at
FROM tariffs t
WHERE t.id = %(tariff_id)s;
