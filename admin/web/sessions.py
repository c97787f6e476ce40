"""Cookie sessions and CSRF protection, both keyed from AKIRA_SECRET_KEY (decision 0004).

The session lives in an encrypted cookie (AES-GCM), so any number of admin processes share it
with no session store; the CSRF token is a signed double-submit cookie that every unsafe request
must echo in a form field or the ``X-CSRFToken`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from litestar.config.csrf import CSRFConfig
from litestar.middleware.session.client_side import CookieBackendConfig

from admin.settings import Settings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "akira_session"
SESSION_MAX_AGE = 12 * 3600  # one shift; then log in again
CSRF_COOKIE = "akira_csrf"
CSRF_HEADER = "x-csrftoken"


@dataclass(frozen=True, slots=True)
class Keys:
    session: bytes  # 32 bytes: AES-256-GCM of the session cookie
    csrf: str  # HMAC key of the CSRF tokens


def derive_keys(secret_key: str) -> Keys:
    """One key per purpose from the one secret: leaking a CSRF token says nothing of the other.

    Without AKIRA_SECRET_KEY a random key serves this process only: fine for a try-out, but every
    restart logs everyone out and two processes cannot read each other's sessions.
    """
    if not secret_key:
        logger.warning(
            "AKIRA_SECRET_KEY is empty: using a random key for this process; sessions will not "
            "survive a restart nor be shared between processes"
        )
        secret_key = secrets.token_urlsafe(32)
    root = secret_key.encode()
    return Keys(
        session=hmac.new(root, b"akira session cookie", hashlib.sha256).digest(),
        csrf=hmac.new(root, b"akira csrf token", hashlib.sha256).hexdigest(),
    )


def session_config(settings: Settings, keys: Keys) -> CookieBackendConfig:
    return CookieBackendConfig(
        secret=keys.session,
        key=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
        exclude=["^/static/", "^/healthz$"],
    )


def csrf_config(settings: Settings, keys: Keys) -> CSRFConfig:
    # API tokens (to come) will authenticate API writes without cookies; their routes will then
    # be excluded here, as a request that carries no cookie cannot be forged by a browser.
    return CSRFConfig(
        secret=keys.csrf,
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_secure=settings.secure_cookies,
        cookie_httponly=True,  # pages carry the token; scripts need not read the cookie
        cookie_samesite="lax",
        exclude=["^/static/", "^/healthz$"],
    )
