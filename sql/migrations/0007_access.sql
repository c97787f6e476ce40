-- 0007: access for the writable admin: five roles declared once (the akira_role domain; the
-- old 'viewer' is 'read-only'), API tokens stored as hashes, server-side sessions an admin can
-- end, and the failed logins that throttle password guessing (docs/admin.md, Access).

-- The roles of admin/web/permissions.py's Role; tests/integration/test_access_routes.py ties
-- the two together.
CREATE DOMAIN akira_role AS text
    CHECK (VALUE IN ('admin', 'operator', 'noc', 'finance', 'read-only'));

ALTER TABLE users DROP CONSTRAINT users_role_check;
UPDATE users SET role = 'read-only' WHERE role = 'viewer';
ALTER TABLE users
    ALTER COLUMN role DROP DEFAULT,
    ALTER COLUMN role TYPE akira_role,
    ALTER COLUMN role SET DEFAULT 'operator';

-- `Authorization: Bearer akira_<id>_<secret>`: only the secret's SHA-256 is kept
-- (docs/decisions/0009-api-tokens.md). A token acts with its role, never above its owner's.
CREATE TABLE api_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (name ~ '^\S(.{0,98}\S)?$'),
    user_id         bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    role            akira_role NOT NULL,
    secret_sha256   bytea NOT NULL CHECK (length(secret_sha256) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    CONSTRAINT api_tokens_expire_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- The admin's login sessions (docs/decisions/0010-server-side-sessions.md): the cookie holds a
-- random id, the row its HMAC under AKIRA_SECRET_KEY, so a copy of this table opens no session.
CREATE TABLE web_sessions (
    id_digest       bytea PRIMARY KEY CHECK (length(id_digest) = 32),
    user_id         bigint REFERENCES users ON DELETE CASCADE,
    data            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- Failed logins of the last day, whether the user exists or not: the throttle counts them.
CREATE TABLE login_failures (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    username        text NOT NULL,
    address         text NOT NULL
);
CREATE INDEX login_failures_username ON login_failures (lower(username), at);
CREATE INDEX login_failures_address ON login_failures (address, at);
CREATE INDEX login_failures_at ON login_failures (at);
