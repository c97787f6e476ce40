-- Routing settings written by admin/routing_settings.py (the CLI, the tests, the admin).

-- name: insert_credentials
INSERT INTO devices (originator_id, network, username, ha1)
VALUES (%(originator_id)s, %(network)s, %(username)s, %(ha1)s);

-- name: set_override
INSERT INTO routing_plan_overrides (routing_plan_id, prefix, terminator_ids)
VALUES (%(plan_id)s, %(prefix)s, %(terminator_ids)s)
ON CONFLICT (routing_plan_id, prefix) DO UPDATE SET terminator_ids = excluded.terminator_ids;

-- name: remove_override
DELETE FROM routing_plan_overrides WHERE routing_plan_id = %(plan_id)s AND prefix = %(prefix)s;

-- name: block_prefix
INSERT INTO blocked_prefixes (routing_plan_id, prefix, reason)
VALUES (%(plan_id)s, %(prefix)s, %(reason)s)
ON CONFLICT (routing_plan_id, prefix) DO UPDATE SET reason = excluded.reason;

-- name: unblock_prefix
DELETE FROM blocked_prefixes
WHERE routing_plan_id IS NOT DISTINCT FROM %(plan_id)s AND prefix = %(prefix)s;

-- name: id_by_name
-- (the table name is composed by the caller from a fixed list)
SELECT id FROM {table} WHERE name = %(name)s;
