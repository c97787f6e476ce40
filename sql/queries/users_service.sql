-- The user service (admin/services/users.py) and the users page. No query here returns a
-- password hash: the audit log and the pages never see one.

-- name: user_get
SELECT id, username, role, enabled, created_at, last_login_at FROM users WHERE id = %(id)s;

-- name: user_create
INSERT INTO users (username, password_hash, role, enabled)
VALUES (%(username)s, %(password_hash)s, %(role)s, %(enabled)s)
RETURNING id;

-- name: user_update
UPDATE users
SET username = %(username)s, role = %(role)s, enabled = %(enabled)s,
    password_hash = coalesce(%(password_hash)s, password_hash)
WHERE id = %(id)s;

-- name: user_delete
DELETE FROM users WHERE id = %(id)s;

-- name: user_dependents
-- Its API tokens and sessions end with it (ON DELETE CASCADE); its audit rows keep its name.
SELECT 'API tokens', (SELECT count(*) FROM api_tokens WHERE user_id = %(id)s), false
UNION ALL
SELECT 'sessions', (SELECT count(*) FROM web_sessions WHERE user_id = %(id)s), false;

-- name: user_id_by_name
SELECT id FROM users WHERE username = %(name)s;

-- name: web_users_list
SELECT u.id, u.username, u.role, u.enabled, u.created_at, u.last_login_at,
       (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL
          AND t.expires_at > now())::int AS tokens,
       count(*) OVER () AS total_count
FROM users u
WHERE (%(search)s::text IS NULL OR u.username ILIKE '%%' || %(search)s || '%%')
  AND (%(enabled)s::boolean IS NULL OR u.enabled = %(enabled)s)
ORDER BY u.username, u.id
LIMIT %(limit)s OFFSET %(offset)s;
