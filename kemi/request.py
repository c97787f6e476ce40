"""A SIP request as the pipeline sees it: read once from Kamailio, typed, never trusted."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CallRequest:
    call_id: str
    src_ip: str
    src_port: int
    transport: str  # udp | tcp
    ruri_user: str  # as received, tech-prefix included; undecodable bytes became U+FFFD
    from_user: str  # control characters replaced (it travels in the call context)
    from_tag: str
    at_ms: int  # when the INVITE was taken up, epoch milliseconds
    call_id_ok: bool = True  # printable ASCII, as RFC 3261's Call-ID grammar allows
    pai_user: str = ""  # P-Asserted-Identity's user, control characters replaced
    auth_user: str | None = None  # a digest username whose credentials Kamailio verified
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names the plan asks
    forced_terminator: int | None = None  # NOC_HEADER's vendor; only a NOC trunk's counts

    @property
    def at(self) -> int:
        """Epoch seconds, the unit of rate windows."""
        return self.at_ms // 1000


# A NOC test call names the terminator it tests; only a NOC originator's counts (kemi.stages
# .route), and the header is never relayed.
NOC_HEADER = "X-Akira-Terminator"


def forced_terminator(value: str) -> int | None:
    """The terminator id NOC_HEADER names, or None for anything but a plain id."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def printable(text: str) -> str:
    """``text`` with control characters (and the context's separators) replaced by '?'."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def call_id_ok(call_id: str) -> bool:
    return bool(call_id) and call_id.isascii() and call_id.isprintable() and " " not in call_id
