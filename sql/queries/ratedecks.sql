-- The rate-deck importer (admin/ratedecks/store.py) and its saved column mappings
-- (admin/services/rate_deck_mappings.py).

-- name: rate_deck_tariff_lock
-- One import of a tariff at a time: the next waits, then diffs against what this one wrote.
SELECT id FROM tariffs WHERE id = %(tariff_id)s FOR UPDATE;

-- name: rate_deck_current_copy
-- The windows a deck is compared with: in force at %(now)s or to come (COPY text, read with
-- TimeZone UTC and DateStyle ISO; unsorted: a prefix's few windows are sorted in Python).
COPY (
    SELECT id, prefix, destination, rate, initial_increment, next_increment, connect_fee,
           minimum_duration, effective_from, effective_to
    FROM rates
    WHERE tariff_id = %(tariff_id)s AND (effective_to IS NULL OR effective_to > %(now)s)
) TO STDOUT;

-- name: rate_deck_delete_windows
-- Windows that had not started: replaced, never priced a call.
DELETE FROM rates WHERE tariff_id = %(tariff_id)s AND id = ANY(%(ids)s);

-- name: rate_deck_end_windows
-- One statement per new end (a deck has a few dates): ids by the primary key, where a join
-- with unnest() made the planner scan and hash the whole tariff (7 s vs 3.6 s for 100k rows).
UPDATE rates SET effective_to = %(end)s
WHERE tariff_id = %(tariff_id)s AND id = ANY(%(ids)s::bigint[]);

-- name: rate_deck_tariff_windows
-- A tariff as an export writes it: every window in force at %(now)s or to come.
SELECT prefix, destination, rate, initial_increment, next_increment, connect_fee,
       minimum_duration, effective_from, effective_to
FROM rates
WHERE tariff_id = %(tariff_id)s AND (effective_to IS NULL OR effective_to > %(now)s)
ORDER BY prefix, effective_from;

-- name: rate_deck_mapping_for_owner
-- The mapping saved for this tariff, else for a terminator priced by it (the lowest id).
SELECT m.name, m.layout
FROM rate_deck_mappings m
LEFT JOIN terminators t ON t.id = m.terminator_id
WHERE m.tariff_id = %(tariff_id)s OR t.tariff_id = %(tariff_id)s
ORDER BY (m.tariff_id IS NULL), t.id
LIMIT 1;

-- name: rate_deck_mapping_by_name
SELECT name, layout FROM rate_deck_mappings WHERE name = %(name)s;

-- name: rate_deck_mapping_get
SELECT m.id, m.name, m.terminator_id, t.name AS terminator, m.tariff_id, f.name AS tariff,
       m.layout, m.updated_at
FROM rate_deck_mappings m
LEFT JOIN terminators t ON t.id = m.terminator_id
LEFT JOIN tariffs f ON f.id = m.tariff_id
WHERE m.id = %(id)s;

-- name: rate_deck_mapping_create
INSERT INTO rate_deck_mappings (name, terminator_id, tariff_id, layout)
VALUES (%(name)s, %(terminator_id)s, %(tariff_id)s, %(layout)s)
RETURNING id;

-- name: rate_deck_mapping_update
UPDATE rate_deck_mappings
SET name = %(name)s, terminator_id = %(terminator_id)s, tariff_id = %(tariff_id)s,
    layout = %(layout)s, updated_at = now()
WHERE id = %(id)s;

-- name: rate_deck_mapping_delete
DELETE FROM rate_deck_mappings WHERE id = %(id)s;

-- name: rate_deck_mapping_dependents
SELECT 'nothing', 0, true WHERE false;

-- name: rate_deck_mapping_id_by_name
SELECT id FROM rate_deck_mappings WHERE name = %(name)s;
