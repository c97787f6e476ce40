-- Access to the admin: API tokens (admin/web/tokens.py), server-side sessions (sessions.py),
-- login throttling (throttle.py) and `akira users|tokens`. Users themselves are in users.sql.

-- name: access_user_by_name
SELECT id, username, role, enabled FROM users WHERE username = %(username)s;

-- name: access_disable_user
UPDATE users SET enabled = false WHERE id = %(id)s;

-- name: token_insert
INSERT INTO api_tokens (name, user_id, role, secret_sha256, expires_at)
VALUES (%(name)s, %(user_id)s, %(role)s, %(secret_sha256)s,
        now() + make_interval(days => %(days)s))
RETURNING id, expires_at;

-- name: token_for_request
-- A token is only as good as its owner: a disabled owner's tokens open nothing.
SELECT t.id, t.secret_sha256, t.role, t.expires_at <= now() AS expired,
       t.revoked_at IS NOT NULL AS revoked, u.id AS user_id, u.username, u.role AS user_role
FROM api_tokens t
JOIN users u ON u.id = t.user_id AND u.enabled
WHERE t.id = %(id)s;

-- name: token_used
-- At most one write a minute per token, not one per request.
UPDATE api_tokens SET last_used_at = now()
WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: token_list
SELECT t.id, t.name, u.username, t.role, t.created_at, t.expires_at, t.last_used_at,
       t.revoked_at,
       CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'
            WHEN t.expires_at <= now() THEN 'expired'
            ELSE 'active' END AS state
FROM api_tokens t JOIN users u ON u.id = t.user_id
ORDER BY t.id;

-- name: token_revoke
UPDATE api_tokens t SET revoked_at = now()
FROM users u
WHERE t.id = %(id)s AND t.revoked_at IS NULL AND u.id = t.user_id
RETURNING t.id, t.name, u.username, t.role;

-- name: session_get
SELECT data FROM web_sessions WHERE id_digest = %(id_digest)s AND expires_at > now();

-- name: session_expires_in
SELECT greatest(0, floor(extract(epoch FROM expires_at - now())))::bigint AS seconds
FROM web_sessions WHERE id_digest = %(id_digest)s AND expires_at > now();

-- name: session_renew
UPDATE web_sessions SET expires_at = now() + make_interval(secs => %(seconds)s)
WHERE id_digest = %(id_digest)s AND expires_at > now();

-- name: session_set
INSERT INTO web_sessions (id_digest, user_id, data, expires_at)
VALUES (%(id_digest)s, %(user_id)s, %(data)s, now() + make_interval(secs => %(seconds)s))
ON CONFLICT (id_digest) DO UPDATE
SET user_id = EXCLUDED.user_id, data = EXCLUDED.data, expires_at = EXCLUDED.expires_at;

-- name: session_delete
DELETE FROM web_sessions WHERE id_digest = %(id_digest)s;

-- name: session_delete_all
DELETE FROM web_sessions;

-- name: session_delete_expired
DELETE FROM web_sessions WHERE expires_at <= now();

-- name: sessions_end_for_user
-- `akira users disable` / `akira users logout`: the user's next request finds no session.
DELETE FROM web_sessions WHERE user_id = %(user_id)s;

-- name: login_throttle
-- Failures in the window for this username (existing or not) and for this address, and in
-- how many seconds the oldest of each leaves the window.
WITH recent AS (
    SELECT at, lower(username) = lower(%(username)s) AS same_user,
           address = %(address)s AS same_address
    FROM login_failures
    WHERE at > now() - make_interval(secs => %(window)s)
      AND (lower(username) = lower(%(username)s) OR address = %(address)s)
)
SELECT count(*) FILTER (WHERE same_user) AS user_failures,
       count(*) FILTER (WHERE same_address) AS address_failures,
       ceil(extract(epoch FROM min(at) FILTER (WHERE same_user)
            + make_interval(secs => %(window)s) - now()))::int AS user_retry_after,
       ceil(extract(epoch FROM min(at) FILTER (WHERE same_address)
            + make_interval(secs => %(window)s) - now()))::int AS address_retry_after
FROM recent;

-- name: login_failure_record
WITH pruned AS (DELETE FROM login_failures WHERE at < now() - interval '1 day')
INSERT INTO login_failures (username, address) VALUES (%(username)s, %(address)s);

-- name: login_failures_forget_user
-- A right password forgives the user's earlier slips; the address keeps its count.
DELETE FROM login_failures WHERE lower(username) = lower(%(username)s);

-- name: login_serialize_user
-- One attempt at a time per username: a burst of guesses cannot all pass the count at once.
SELECT pg_advisory_xact_lock(hashtext('akira login ' || lower(%(username)s)));

-- name: token_owner_choices
-- Who a token can be made for on the tokens page: enabled users.
SELECT username, role FROM users WHERE enabled ORDER BY username;

-- name: sessions_by_user
-- The sessions page: live sessions per user (a session's id is never shown, only counted).
SELECT u.id, u.username, u.role, count(*)::int AS sessions,
       min(s.created_at) AS first_created_at, max(s.expires_at) AS last_expires_at
FROM web_sessions s JOIN users u ON u.id = s.user_id
WHERE s.expires_at > now()
GROUP BY u.id, u.username, u.role
ORDER BY u.username;
