"""Kamailio's JSON-RPC (module jsonrpcs) over its datagram socket: a unix socket on the node,
or ``udp:IP:PORT`` on a management address (kamailio-cfg/kamailio.cfg, AKIRA_RPC_SOCKET).

One request, one datagram, one reply, bounded by a timeout: a node that does not answer is
reported as such, never waited for. Nodes announce their socket in ``akira:nodes``
(kemi.snapshot_sync), so the admin finds every node of the cluster there.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import tempfile
from typing import Any

REPLY_BYTES = 1 << 20  # a unix datagram may be this big; UDP stops at 64 KB
_ids = itertools.count(1)


class RpcError(Exception):
    """The node did not answer, or answered with a JSON-RPC error."""


def _endpoint(address: str) -> tuple[int, Any]:
    if address.startswith("udp:"):
        host, _, port = address[4:].rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return family, (host, int(port))
    return socket.AF_UNIX, address.removeprefix("unix:")


def call(address: str, method: str, *params: str | int, timeout: float = 2.0) -> Any:
    """The ``result`` of ``method(*params)`` on the node at ``address``."""
    family, target = _endpoint(address)
    request_id = next(_ids)
    request = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params:
        request["params"] = list(params)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        own = None
        if family == socket.AF_UNIX:  # the reply needs an address of ours to come back to
            own = os.path.join(tempfile.gettempdir(), f"akira-rpc-{os.getpid()}-{request_id}")
            sock.bind(own)
            os.chmod(own, 0o660)  # Kamailio's user, or its group, must be able to answer
        try:
            sock.sendto(json.dumps(request).encode(), target)
            raw = sock.recv(REPLY_BYTES)
        except OSError as exc:  # timeout, no such socket, refused
            raise RpcError(f"{method} on {address}: {exc}") from exc
        finally:
            if own is not None:
                os.unlink(own)
    try:
        reply = json.loads(raw)
    except ValueError as exc:
        raise RpcError(f"{method} on {address}: not JSON ({len(raw)} bytes)") from exc
    if "error" in reply:
        error = reply["error"]
        raise RpcError(f"{method} on {address}: {error.get('code')} {error.get('message')}")
    return reply.get("result")
