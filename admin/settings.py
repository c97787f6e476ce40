"""Admin-plane settings, all from environment variables with local defaults.

The one place they are documented is docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str
    bus: str  # the CDR bus: "redis" or "nats" (kemi.bus)
    nats_url: str
    secret_key: str
    spool_dir: str
    snapshot_dir: str  # this host's copy of the published snapshot (publish, simulate)
    auth_realm: str  # digest realm of device credentials; the engine's AKIRA_AUTH_REALM
    http_host: str
    http_port: int
    secure_cookies: bool
    alert_webhook_url: str = ""  # where `akira alerts --deliver` POSTs the outbox
    alert_webhook_secret: str = ""  # signs each POST (HMAC-SHA256) when set
    quality_window_minutes: int = 60  # the recent traffic vendors' quality is judged on
    quality_interval: float = 60.0  # seconds between `akira quality publish --every` rounds

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env.get(
                "AKIRA_DATABASE_URL", "postgresql://akira:akira@127.0.0.1:5432/akira"
            ),
            redis_url=env.get("AKIRA_REDIS_URL", "redis://127.0.0.1:6379/0"),
            bus=env.get("AKIRA_BUS", "redis"),
            nats_url=env.get("AKIRA_NATS_URL", "nats://127.0.0.1:4222"),
            secret_key=env.get("AKIRA_SECRET_KEY", ""),
            spool_dir=env.get("AKIRA_SPOOL_DIR", "/var/spool/akira"),
            snapshot_dir=env.get("AKIRA_SNAPSHOT_DIR", "/var/lib/akira/snapshot"),
            auth_realm=env.get("AKIRA_AUTH_REALM", "akira"),
            http_host=env.get("AKIRA_HTTP_HOST", "127.0.0.1"),
            http_port=int(env.get("AKIRA_HTTP_PORT", "8000")),
            secure_cookies=env.get("AKIRA_SECURE_COOKIES", "0") == "1",
            alert_webhook_url=env.get("AKIRA_ALERT_WEBHOOK_URL", ""),
            alert_webhook_secret=env.get("AKIRA_ALERT_WEBHOOK_SECRET", ""),
            quality_window_minutes=int(env.get("AKIRA_QUALITY_WINDOW_MINUTES", "60")),
            quality_interval=float(env.get("AKIRA_QUALITY_SECONDS", "60")),
        )
