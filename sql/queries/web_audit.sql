-- The audit log's pages: every write of a service, the ledger and the CLI (admin/services).

-- name: web_audit_for_object
SELECT a.at, a.username, a.action, a.request_id,
       array(SELECT k FROM jsonb_object_keys(CASE jsonb_typeof(coalesce(a.after, a.before))
                                             WHEN 'object' THEN coalesce(a.after, a.before)
                                             ELSE '{}' END) AS k
             WHERE a.before -> k IS DISTINCT FROM a.after -> k ORDER BY k) AS changed
FROM audit_log a
WHERE a.entity = %(entity)s AND a.entity_id = %(id)s::text
ORDER BY a.id DESC LIMIT 20;

-- name: web_audit_list
SELECT a.id, a.at, a.username, a.request_id, a.entity, a.entity_id, a.action,
       array(SELECT k FROM jsonb_object_keys(CASE jsonb_typeof(coalesce(a.after, a.before))
                                             WHEN 'object' THEN coalesce(a.after, a.before)
                                             ELSE '{}' END) AS k
             WHERE a.before -> k IS DISTINCT FROM a.after -> k ORDER BY k) AS changed
FROM audit_log a
WHERE (%(search)s::text IS NULL
       OR a.username ILIKE %(search)s OR a.entity ILIKE %(search)s
       OR a.request_id ILIKE %(search)s OR a.entity || ' ' || a.entity_id ILIKE %(search)s)
  AND (%(action)s::text IS NULL OR a.action = %(action)s)
ORDER BY a.id DESC
LIMIT %(limit)s OFFSET %(offset)s;
