-- Operators of the admin (admin/users.py, admin/web/auth.py).

-- name: list_users
SELECT id, username, role, enabled, created_at, last_login_at FROM users ORDER BY username;

-- name: user_for_login
SELECT id, username, password_hash, role FROM users
WHERE username = %(username)s AND enabled;

-- name: record_login
UPDATE users SET last_login_at = now() WHERE id = %(id)s;
