"""Engine settings from the environment (documented in docs/configuration.md)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineSettings:
    redis_url: str
    redis_timeout: float  # seconds; a SIP worker never waits longer on Redis
    snapshot_check_interval: float  # seconds between looks at the snapshot pointer
    spool_dir: str  # CDR events go here when Redis does not answer
    node: str  # this proxy's name in CDRs

    @classmethod
    def from_env(cls) -> EngineSettings:
        env = os.environ
        return cls(
            redis_url=env.get("AKIRA_REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_timeout=float(env.get("AKIRA_REDIS_TIMEOUT", "0.2")),
            snapshot_check_interval=float(env.get("AKIRA_SNAPSHOT_CHECK_INTERVAL", "1.0")),
            spool_dir=env.get("AKIRA_SPOOL_DIR", "/var/spool/akira"),
            node=env.get("AKIRA_NODE", socket.gethostname()),
        )
