"""The orchestrator's settings, from AKIRA_NOC_* environment variables (docs/configuration.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NocSettings:
    proxy: str  # the Kamailio node test calls go through, IP:PORT
    sip_ip: str  # SIPp's source address: the NOC trunk's device address
    token: str  # bearer token of the HTTP API (the admin and the audit job hold it too)
    host: str
    port: int
    url: str  # where the admin reaches the service
    max_concurrent: int  # test calls in progress per vendor, cluster-wide
    max_per_minute: int  # test calls started per vendor per minute, cluster-wide
    audit_interval: float  # seconds between looks for due audits (akira noc serve --audits)

    @classmethod
    def from_env(cls) -> NocSettings:
        env = os.environ
        host = env.get("AKIRA_NOC_HOST", "127.0.0.1")
        port = int(env.get("AKIRA_NOC_PORT", "8070"))
        return cls(
            proxy=env.get("AKIRA_NOC_PROXY", "127.0.0.1:5060"),
            sip_ip=env.get("AKIRA_NOC_SIP_IP", "127.0.0.1"),
            token=env.get("AKIRA_NOC_TOKEN", ""),
            host=host,
            port=port,
            url=env.get("AKIRA_NOC_URL", f"http://{host}:{port}"),
            max_concurrent=int(env.get("AKIRA_NOC_MAX_CONCURRENT", "2")),
            max_per_minute=int(env.get("AKIRA_NOC_MAX_PER_MINUTE", "10")),
            audit_interval=float(env.get("AKIRA_NOC_AUDIT_INTERVAL", "30")),
        )
