"""Raw SIP over UDP for hostile end-to-end tests: datagrams built byte by byte (so a test can put
invalid UTF-8, forged headers or an RFC 4475 torture message on the wire exactly), sent from a
chosen loopback source address, and the replies read back with a short timeout.

* ``Endpoint``: a UDP socket bound at a chosen ``ip:port`` that sends and collects replies.
* ``Listener``: a socket that records everything relayed to it (a vendor address, or any other
  address a forged request points at); optionally answers requests, so that a request the proxy
  relayed by mistake ends at once instead of leaving a transaction retransmitting.
* ``request`` builds a request, ``parse`` reads a message back (status line, headers, body).
* ``Call``: a minimal caller (INVITE, ACK, BYE through the proxy's Record-Route).
* ``in_netns`` makes sockets inside another network namespace (the torture tests' proxy runs in
  a private one, see test_torture.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# RFC 3261 §7.3.3 compact forms
COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "e": "content-encoding",
    "s": "subject",
    "k": "supported",
}

Bytes = bytes | str


def b(value: Bytes) -> bytes:
    """Text as UTF-8; bytes as they are (so a test can send bytes that are not UTF-8)."""
    return value if isinstance(value, bytes) else value.encode()


def token(n: int = 8) -> str:
    return secrets.token_hex(n)


# --- parsing -------------------------------------------------------------------------------


@dataclass
class Message:
    """One SIP message as received: start line, headers in order (names lowercased, compact
    forms expanded, folded lines joined), body."""

    start: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes
    source: tuple[str, int] | None = None
    received_at: float = 0.0

    @property
    def is_response(self) -> bool:
        return self.start.startswith("SIP/")

    @property
    def status(self) -> int | None:
        if not self.is_response:
            return None
        try:
            return int(self.start.split(" ", 2)[1])
        except (IndexError, ValueError):
            return None

    @property
    def method(self) -> str | None:
        return None if self.is_response else self.start.split(" ", 1)[0]

    def all(self, name: str) -> list[str]:
        name = COMPACT.get(name.lower(), name.lower())
        return [value for key, value in self.headers if key == name]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def tag(self, name: str) -> str | None:
        """The ``tag`` parameter of a From or To header."""
        value = self.header(name) or ""
        for param in value.rsplit(">", 1)[-1].split(";")[1:]:
            key, _, tag = param.partition("=")
            if key.strip().lower() == "tag":
                return tag.strip()
        return None

    def __repr__(self) -> str:
        reason = self.header("X-Akira-Reason")
        return f"<{self.start!r}{f' reason={reason}' if reason else ''}>"


def parse(data: bytes) -> Message:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # a folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers.append((COMPACT.get(name, name), value.strip()))
    return Message(lines[0], headers, body, data)


# --- building ------------------------------------------------------------------------------

AUTO = object()  # "make one up" for a tag or Call-ID


def request(
    method: str,
    ruri: Bytes,
    *,
    source: tuple[str, int],
    call_id: Bytes | object = AUTO,
    from_user: Bytes = "15550001",
    from_tag: Bytes | object | None = AUTO,
    to_uri: Bytes | None = None,
    to_tag: Bytes | None = None,
    cseq: int = 1,
    headers: Iterable[Bytes] = (),
    body: bytes = b"",
    max_forwards: int = 70,
    branch: str | None = None,
) -> bytes:
    """A request from ``source`` (Via with ``rport``, so replies come back to that socket).

    ``from_tag=None`` leaves the From tag out; ``to_tag`` makes it an in-dialog request. Any
    part may be bytes that are not UTF-8.
    """
    ip, port = source
    if call_id is AUTO:
        call_id = f"{token()}@{ip}"
    if from_tag is AUTO:
        from_tag = token(4)
    branch = branch or f"z9hG4bK-{token()}"
    lines = [
        b(method) + b" " + b(ruri) + b" SIP/2.0",
        f"Via: SIP/2.0/UDP {ip}:{port};branch={branch};rport".encode(),
        f"Max-Forwards: {max_forwards}".encode(),
        b"From: <sip:" + b(from_user) + f"@{ip}>".encode()
        + (b";tag=" + b(from_tag) if from_tag is not None else b""),  # type: ignore[arg-type]
        b"To: <" + b(to_uri or ruri) + b">" + (b";tag=" + b(to_tag) if to_tag else b""),
        b"Call-ID: " + b(call_id),  # type: ignore[arg-type]
        f"CSeq: {cseq} {method}".encode(),
        f"Contact: <sip:{b(from_user).decode('ascii', 'replace')}@{ip}:{port}>".encode(),
        *(b(h) for h in headers),
    ]  # fmt: skip
    if body:
        lines.append(b"Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


SDP = (
    b"v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def reply(to: Message, code: int, phrase: str, *, to_tag: str | None = None) -> bytes:
    """A response to request ``to`` (Vias, From, To, Call-ID and CSeq copied)."""
    lines = [f"SIP/2.0 {code} {phrase}"]
    lines += [f"Via: {via}" for via in to.all("via")]
    to_header = to.header("to") or ""
    if to_tag and ";tag=" not in to_header:
        to_header += f";tag={to_tag}"
    lines += [f"From: {to.header('from')}", f"To: {to_header}"]
    lines += [f"Call-ID: {to.header('call-id')}", f"CSeq: {to.header('cseq')}"]
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- sockets -------------------------------------------------------------------------------


def udp_socket(ip: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind((ip, port))
    return sock


class Endpoint:
    """A UDP socket at ``ip:port`` (0: any free port) that sends requests and reads replies."""

    def __init__(self, ip: str, port: int = 0, *, sock: socket.socket | None = None) -> None:
        self.sock = sock or udp_socket(ip, port)
        self.address: tuple[str, int] = self.sock.getsockname()

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.sock.sendto(data, to)

    def receive(self, timeout: float) -> Message | None:
        """The next datagram within ``timeout`` seconds, or None."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, source = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        message = parse(data)
        message.source, message.received_at = source, time.monotonic()
        return message

    def collect(
        self, timeout: float, until: Callable[[list[Message]], bool] | None = None
    ) -> list[Message]:
        """Everything received within ``timeout`` seconds; stops early once ``until`` holds."""
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None:
                break
            messages.append(message)
            if until is not None and until(messages):
                break
        return messages

    def drain(self) -> list[Message]:
        """Whatever has arrived already, without waiting."""
        messages = []
        while (message := self.receive(0.001)) is not None:
            messages.append(message)
        return messages

    def transact(self, data: bytes, to: tuple[str, int], timeout: float = 1.0) -> list[Message]:
        """Send a request once (no retransmission: loopback does not lose datagrams, and a
        resend would blur what a test counts) and read replies until a final one or the
        timeout."""
        self.send(data, to)
        return self.collect(timeout, until=lambda ms: final(ms) is not None)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def final(messages: list[Message]) -> Message | None:
    """The first final (>= 200) response among ``messages``."""
    return next((m for m in messages if (m.status or 0) >= 200), None)


class Listener(Endpoint):
    """Records every datagram that reaches ``ip:port``, from a background thread.

    With ``answer`` (a status code), every request but ACK is answered with it, so a request
    relayed here by mistake is closed at once (a 6xx also stops the proxy's vendor hunt).
    """

    def __init__(
        self,
        ip: str,
        port: int = 0,
        *,
        answer: int | None = 603,
        sock: socket.socket | None = None,
    ) -> None:
        super().__init__(ip, port, sock=sock)
        self.answer = answer
        self.silent = False  # set: receive, but answer nothing (a gateway that died)
        self.received: list[Message] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            message = parse(data)
            message.source, message.received_at = source, time.monotonic()
            with self._lock:
                self.received.append(message)
            if self.answer and not self.silent and message.method not in (None, "ACK"):
                with contextlib.suppress(OSError):
                    self.sock.sendto(reply(message, self.answer, "Go Away", to_tag="lst"), source)

    def messages(self) -> list[Message]:
        with self._lock:
            return list(self.received)

    def requests(self, method: str | None = None) -> list[Message]:
        return [m for m in self.messages() if m.method and (method is None or m.method == method)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        super().close()


@dataclass
class Listeners:
    """Several listeners checked together: what reached any of them."""

    by_name: dict[str, Listener] = field(default_factory=dict)

    def add(self, name: str, listener: Listener) -> Listener:
        self.by_name[name] = listener
        return listener

    def received(self) -> dict[str, list[Message]]:
        return {name: lst.messages() for name, lst in self.by_name.items() if lst.messages()}

    def close(self) -> None:
        for listener in self.by_name.values():
            listener.close()


# --- a minimal caller ----------------------------------------------------------------------


class Call:
    """One caller-side dialog through a record-routing proxy: INVITE, then ACK and BYE along
    the Route set the 200 OK brought back (its Record-Route) to its Contact."""

    def __init__(
        self,
        endpoint: Endpoint,
        proxy: tuple[str, int],
        number: Bytes,
        *,
        from_user: Bytes = "15550001",
        call_id: Bytes | None = None,
        headers: Iterable[Bytes] = (),
    ) -> None:
        self.endpoint, self.proxy = endpoint, proxy
        self.headers = list(headers)
        self.ruri = b"sip:" + b(number) + f"@{proxy[0]}:{proxy[1]}".encode()
        self.from_user = from_user
        self.call_id = call_id or f"{token()}@{endpoint.address[0]}"
        self.from_tag = token(4)
        self.answer: Message | None = None

    def invite(self, timeout: float = 5.0) -> Message | None:
        """Send the INVITE; the final reply (ACKed by the proxy itself when negative)."""
        data = request(
            "INVITE",
            self.ruri,
            source=self.endpoint.address,
            call_id=self.call_id,
            from_user=self.from_user,
            from_tag=self.from_tag,
            headers=self.headers,
            body=SDP,
        )
        reply_ = final(self.endpoint.transact(data, self.proxy, timeout))
        if reply_ is not None and reply_.status == 200:
            self.answer = reply_
            self.ack()
        return reply_

    @property
    def route(self) -> list[str]:
        """The Route set: the 200's Record-Route values, reversed (RFC 3261 §12.1.2)."""
        assert self.answer is not None
        values = [v.strip() for h in self.answer.all("record-route") for v in h.split(",")]
        return list(reversed(values))

    def in_dialog(self, method: str, cseq: int) -> bytes:
        assert self.answer is not None
        contact = (self.answer.header("contact") or "").strip()
        target = contact[contact.find("<") + 1 : contact.find(">")] if "<" in contact else contact
        return request(
            method,
            target,
            source=self.endpoint.address,
            call_id=self.call_id,
            from_user=self.from_user,
            from_tag=self.from_tag,
            to_uri=self.ruri,
            to_tag=self.answer.tag("to"),
            cseq=cseq,
            headers=[f"Route: {r}" for r in self.route],
        )

    def ack(self) -> None:
        self.endpoint.send(self.in_dialog("ACK", 1), self.proxy)

    def bye(self, timeout: float = 3.0) -> Message | None:
        return final(self.endpoint.transact(self.in_dialog("BYE", 2), self.proxy, timeout))


# --- network namespaces --------------------------------------------------------------------

CLONE_NEWNET = 0x40000000


def in_netns(pid: int, make: Callable[[], T]) -> T:
    """Run ``make`` in a thread that joined the network namespace of process ``pid``.

    setns(2) moves only the calling thread, so the test process itself stays where it is;
    sockets made there keep belonging to that namespace and can be used from any thread.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
            result.append(make())
        except BaseException as exc:
            errors.append(exc)
        finally:
            os.close(fd)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]
