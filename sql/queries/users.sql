-- Operators of the admin (admin/users.py, admin/web/auth.py).

-- name: insert_user
INSERT INTO users (username, password_hash, role)
VALUES (%(username)s, %(password_hash)s, %(role)s)
ON CONFLICT (username) DO UPDATE
SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, enabled = true
RETURNING id;

-- name: list_users
SELECT id, username, role, enabled, created_at, last_login_at FROM users ORDER BY username;

-- name: user_for_login
SELECT id, username, password_hash, role FROM users
WHERE username = %(username)s AND enabled;

-- name: record_login
UPDATE users SET last_login_at = now() WHERE id = %(id)s;
