-- Live calls (admin/live_calls.py): the names behind the ids the engine's dialogs carry.

-- name: live_call_originators
SELECT o.id, o.name, c.id AS company_id, c.name AS company
FROM originators o JOIN companies c ON c.id = o.company_id
WHERE o.id = ANY(%(ids)s::bigint[]);

-- name: live_call_terminators
SELECT t.id, t.name, c.id AS company_id, c.name AS company
FROM terminators t JOIN companies c ON c.id = t.company_id
WHERE t.id = ANY(%(ids)s::bigint[]);
