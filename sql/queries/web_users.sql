-- The admin's logged-in users (admin/web/auth.py); login itself uses users.sql.

-- name: web_user_by_id
-- Every request re-reads its user: a disabled user is out at once.
SELECT id, username, role FROM users
WHERE id = %(id)s AND enabled;
