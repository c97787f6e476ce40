"""Engine settings from the environment (documented in docs/configuration.md)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class EngineSettings:
    redis_url: str
    bus: str  # where CDR events go: "redis" (a stream in redis_url) or "nats" (kemi.bus)
    nats_url: str  # the NATS JetStream server of AKIRA_BUS=nats
    redis_timeout: float  # seconds; the node's timer processes never wait longer on Redis
    snapshot_dir: str  # this node's snapshot files (kemi.contract)
    snapshot_check_interval: float  # seconds between a worker's looks at the installed version
    spool_dir: str  # CDR journal (spool_dir/journal) and older spool files
    node: str  # this proxy's name in CDRs and in akira:nodes
    tell_unknown_sources: bool  # X-Akira-Reason also to sources that are no customer's
    sip_listen: str  # udp:IP:PORT, whose receive queue the overload monitor watches
    shed_queue_high: int  # bytes queued on the SIP socket above which INVITEs are shed
    shed_queue_low: int  # bytes below which shedding eases off
    auth_realm: str  # digest realm of device credentials (HA1 = md5(user:realm:password))
    probe_interval: float  # seconds between OPTIONS probes of each vendor gateway
    slots_alive_ms: int  # a dead node's limit slots expire this long after its last sign
    rpc_socket: str = ""  # this node's JSON-RPC datagram socket, announced in akira:nodes

    @property
    def journal_dir(self) -> str:
        return os.path.join(self.spool_dir, "journal")

    @classmethod
    def from_env(cls) -> EngineSettings:
        env = os.environ
        spool_dir = env.get("AKIRA_SPOOL_DIR", "/var/spool/akira")
        return cls(
            redis_url=env.get("AKIRA_REDIS_URL", "redis://127.0.0.1:6379/0"),
            bus=env.get("AKIRA_BUS", "redis"),
            nats_url=env.get("AKIRA_NATS_URL", "nats://127.0.0.1:4222"),
            redis_timeout=float(env.get("AKIRA_REDIS_TIMEOUT", "0.5")),
            snapshot_dir=env.get("AKIRA_SNAPSHOT_DIR", "/var/lib/akira/snapshot"),
            snapshot_check_interval=float(env.get("AKIRA_SNAPSHOT_CHECK_INTERVAL", "0.25")),
            spool_dir=spool_dir,
            node=env.get("AKIRA_NODE", socket.gethostname()),
            tell_unknown_sources=_flag(env.get("AKIRA_TELL_UNKNOWN_SOURCES", "0")),
            sip_listen=env.get("AKIRA_SIP_LISTEN", "udp:127.0.0.1:5060"),
            shed_queue_high=int(env.get("AKIRA_SHED_QUEUE_HIGH", str(1 << 20))),
            shed_queue_low=int(env.get("AKIRA_SHED_QUEUE_LOW", str(256 << 10))),
            auth_realm=env.get("AKIRA_AUTH_REALM", "akira"),
            probe_interval=float(env.get("AKIRA_PROBE_SECONDS", "10")),
            slots_alive_ms=int(env.get("AKIRA_SLOTS_ALIVE_MS", "10000")),
            rpc_socket=env.get("AKIRA_RPC_SOCKET", ""),
        )
