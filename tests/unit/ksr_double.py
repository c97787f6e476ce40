"""A stand-in for Kamailio's ``KSR`` module, so the KEMI adapter (kemi/routes.py) can be
table-tested without Kamailio: it records every call and answers from a scripted message.

Install it before kemi.routes is imported (``install()``); each test sets the message it
wants with ``KSR.message(...)`` and reads ``KSR.calls`` / ``KSR.replies`` afterwards.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class _Module:
    def __init__(self, ksr: FakeKSR, name: str) -> None:
        self._ksr, self._name = ksr, name

    def __getattr__(self, function: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            return self._ksr.called(f"{self._name}.{function}", args)

        return call


class FakeKSR:
    MODULES = (
        "pv", "pvx", "kx", "sl", "tm", "tmx", "rr", "dialog", "hdr", "siputils", "sanity",
        "pike", "maxfwd",
    )  # fmt: skip

    def __init__(self) -> None:
        for name in self.MODULES:
            setattr(self, name, _Module(self, name))
        self.message()

    def message(
        self,
        method: str = "INVITE",
        *,
        to_tag: bool = False,
        headers: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        results: dict[str, Any] | None = None,
    ) -> None:
        """The request the next route sees. ``values``: pseudo-variables and kx getters by
        name (e.g. "$ft", "kx.get_ruser"); ``results``: return values by function name."""
        self.method, self.to_tag = method, to_tag
        self.headers = headers or {}
        self.values = {
            "kx.get_callid": "call-1",
            "kx.get_srcip": "10.0.0.1",
            "kx.get_srcport": 5060,
            "kx.get_proto": "udp",
            "kx.get_ruser": "442071234567",
            "kx.get_fuser": "15551234",
            "$ft": "tag-1",
            "$rU": "442071234567",
            "pvx.shv_get": 0,
        } | (values or {})
        self.results = {
            "maxfwd.process_maxfwd": 1,
            "sanity.sanity_check": 1,
            "tm.t_check_trans": -1,
            "tmx.t_precheck_trans": -1,
            "tm.t_relay": 1,
            "dialog.dlg_manage": 1,
            "dialog.is_known_dlg": -1,
            "rr.loose_route": -1,
            "pike.pike_check_req": 1,
        } | (results or {})
        self.calls: list[tuple[str, tuple]] = []
        self.dialog_vars: dict[str, str] = {}
        self.reply_headers: list[str] = []
        self.replies: list[tuple[int, str, list[str]]] = []

    # --- the core functions the adapter calls -------------------------------------------

    def is_INVITE(self) -> bool:
        return self.method == "INVITE"

    def is_ACK(self) -> bool:
        return self.method == "ACK"

    def is_BYE(self) -> bool:
        return self.method == "BYE"

    def is_CANCEL(self) -> bool:
        return self.method == "CANCEL"

    def is_OPTIONS(self) -> bool:
        return self.method == "OPTIONS"

    def seturi(self, uri: str) -> bool:
        self.calls.append(("seturi", (uri,)))
        return True

    def err(self, text: str) -> None:
        self.calls.append(("err", (text,)))

    def notice(self, text: str) -> None:
        self.calls.append(("notice", (text,)))

    # --- module functions -----------------------------------------------------------------

    def called(self, name: str, args: tuple) -> Any:
        self.calls.append((name, args))
        if name == "kx.get_method":
            return self.method
        if name == "siputils.has_totag":
            return 1 if self.to_tag else -1
        if name in ("sl.sl_send_reply", "sl.send_reply"):
            self.replies.append((args[0], args[1], self.reply_headers))
            self.reply_headers = []
            return 1
        if name == "hdr.append_to_reply":
            self.reply_headers.append(args[0])
            return 1
        if name == "hdr.is_present":
            return 1 if args[0] in self.headers else -1
        if name == "hdr.get":
            return self.headers.get(args[0])
        if name in ("pv.get", "pv.sets") and args[0].startswith("$dlg_var("):
            variable = args[0][len("$dlg_var(") : -1]
            if name == "pv.sets":
                self.dialog_vars[variable] = args[1]
                return 1
            return self.dialog_vars.get(variable)
        if name in ("pv.get", "pv.is_null"):
            value = self.values.get(args[0])
            return value is None if name == "pv.is_null" else value
        if name in self.values:
            value = self.values[name]
            if isinstance(value, Exception):
                raise value
            return value
        result = self.results.get(name, 1)
        return result(*args) if callable(result) else result

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


KSR = FakeKSR()


def install() -> FakeKSR:
    sys.modules["KSR"] = KSR  # type: ignore[assignment]
    return KSR
