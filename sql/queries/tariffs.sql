-- The tariff and rate services (admin/services/tariffs.py). A rate's every change bumps its
-- tariff's revision (the rates triggers), so the next publish recompiles that tariff only.

-- name: tariff_get
SELECT t.id, t.name, t.currency, t.description, t.created_at, t.revision
FROM tariffs t WHERE t.id = %(id)s;

-- name: tariff_create
INSERT INTO tariffs (name, currency, description)
VALUES (%(name)s, %(currency)s, %(description)s)
RETURNING id;

-- name: tariff_update
UPDATE tariffs SET name = %(name)s, currency = %(currency)s, description = %(description)s
WHERE id = %(id)s;

-- name: tariff_delete
DELETE FROM tariffs WHERE id = %(id)s;

-- name: tariff_dependents
SELECT 'originators', (SELECT count(*) FROM originators WHERE tariff_id = %(id)s), true
UNION ALL
SELECT 'terminators', (SELECT count(*) FROM terminators WHERE tariff_id = %(id)s), true
UNION ALL
SELECT 'rates', (SELECT count(*) FROM rates WHERE tariff_id = %(id)s), false;

-- name: tariff_id_by_name
SELECT id FROM tariffs WHERE name = %(name)s;

-- name: tariff_rate_count
SELECT count(*) FROM rates WHERE tariff_id = %(id)s;

-- name: rate_get
SELECT r.id, r.prefix || ' ' || r.destination AS name, r.tariff_id, t.name AS tariff,
       r.prefix, r.destination, r.rate, r.initial_increment, r.next_increment, r.connect_fee,
       r.minimum_duration, r.effective_from, r.effective_to
FROM rates r JOIN tariffs t ON t.id = r.tariff_id
WHERE r.id = %(id)s;

-- name: rate_create
INSERT INTO rates (tariff_id, prefix, destination, rate, initial_increment, next_increment,
                   connect_fee, minimum_duration, effective_from, effective_to)
VALUES (%(tariff_id)s, %(prefix)s, %(destination)s, %(rate)s, %(initial_increment)s,
        %(next_increment)s, %(connect_fee)s, %(minimum_duration)s,
        coalesce(%(effective_from)s, now()), %(effective_to)s)
RETURNING id;

-- name: rate_update
UPDATE rates
SET tariff_id = %(tariff_id)s, prefix = %(prefix)s, destination = %(destination)s,
    rate = %(rate)s, initial_increment = %(initial_increment)s,
    next_increment = %(next_increment)s, connect_fee = %(connect_fee)s,
    minimum_duration = %(minimum_duration)s,
    effective_from = coalesce(%(effective_from)s, effective_from),
    effective_to = %(effective_to)s
WHERE id = %(id)s;

-- name: rate_delete
DELETE FROM rates WHERE id = %(id)s;

-- name: rate_dependents
SELECT 'nothing', 0, true WHERE false;
