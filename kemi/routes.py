"""Kamailio's routing blocks, written in Python (KEMI). The only module that talks to ``KSR``.

Each ``ksr_*`` method replaces the native block of the same name. Decisions are delegated to the
pure modules (``kemi.decision``); this module only reads the SIP message, applies the decision
and records attempts. Per-call state goes into the transaction (AVP) and the dialog (dlg_var),
because the failure route and the dialog-end event may run in another Kamailio process.
"""

from __future__ import annotations

import json
import time
import traceback

import KSR  # provided by Kamailio's app_python3
from redis import Redis

from kemi.cdr_event import attempt_event, call_context, dumps
from kemi.cdr_sink import CdrSink
from kemi.decision import REJECTIONS, decide
from kemi.normalize import calling_number
from kemi.settings import EngineSettings
from kemi.store import SnapshotStore

# KEMI return codes: negative is false, positive is true, 0 stops the script.
STOP = 0
OK = 1

CTX = "akira_ctx"  # AVP / dlg_var: the call context JSON
ATTEMPT = "akira_attempt"  # AVP / dlg_var: 1-based number of the attempt in flight
ATTEMPT_STARTED = "akira_attempt_ms"  # AVP / dlg_var: when that attempt was relayed
ANSWERED = "akira_answered_ms"  # dlg_var: when the 200 OK came
FAILURE_ROUTE = "ksr_failure_vendor"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Router:
    """The KEMI object Kamailio calls for every request, failure and dialog event."""

    def __init__(self) -> None:
        self.settings = EngineSettings.from_env()
        self._store: SnapshotStore | None = None
        self._sink: CdrSink | None = None

    # --- process lifecycle -----------------------------------------------------------------

    def child_init(self, rank: int) -> int:
        """After fork: each process gets its own Redis client (never shared across a fork)."""
        self._store = None
        self._sink = None
        if rank > 0:  # SIP workers: load the snapshot before the first call arrives
            self._runtime()[0].refresh()
        return 0

    def _runtime(self) -> tuple[SnapshotStore, CdrSink]:
        """Lazily made, so timer and RPC processes that call in get clients too."""
        if self._store is None or self._sink is None:
            settings = self.settings
            redis = Redis.from_url(
                settings.redis_url,
                socket_timeout=settings.redis_timeout,
                socket_connect_timeout=settings.redis_timeout,
            )
            self._store = SnapshotStore(
                redis,
                check_interval=settings.snapshot_check_interval,
                on_event=lambda message: KSR.notice(message + "\n"),
            )
            self._sink = CdrSink(
                redis, settings.spool_dir, on_event=lambda message: KSR.err(message + "\n")
            )
        return self._store, self._sink

    # --- request_route ---------------------------------------------------------------------

    def ksr_request_route(self, msg) -> int:
        """request_route: checks, in-dialog handling, then the routing of a new INVITE."""
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return STOP
        if KSR.sanity.sanity_check_defaults() < 0:
            return STOP  # sanity has replied (or dropped) already

        if KSR.siputils.has_totag() > 0:
            return self._in_dialog()
        if KSR.is_CANCEL() or KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return STOP
        if KSR.tmx.t_precheck_trans() > 0:  # a retransmission being processed elsewhere
            KSR.tm.t_check_trans()
            return STOP
        if KSR.tm.t_check_trans() == 0:  # retransmission of a known transaction: absorbed
            return STOP

        if KSR.is_INVITE():
            return self._route_invite()
        if KSR.is_OPTIONS() and KSR.pv.is_null("$rU"):
            KSR.sl.sl_send_reply(200, "OK")  # keepalive pings from trunks
            return STOP
        KSR.hdr.append_to_reply("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n")
        KSR.sl.sl_send_reply(405, "Method Not Allowed")
        return STOP

    def _in_dialog(self) -> int:
        if KSR.rr.loose_route() > 0:
            KSR.tm.t_relay()
            return STOP
        if KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return STOP  # an ACK to a negative reply of ours is absorbed
        KSR.sl.sl_send_reply(404, "Not here")
        return STOP

    def _route_invite(self) -> int:
        try:
            return self._route_invite_unsafe()
        except Exception:
            # An engine fault must answer at once, never hang the caller.
            KSR.err("akira: engine fault: " + traceback.format_exc().replace("\n", " | "))
            return self._reject("engine-fault")

    def _route_invite_unsafe(self) -> int:
        store, sink = self._runtime()
        snapshot = store.current()
        if snapshot is None:
            return self._reject("no-snapshot")
        started = now_ms()
        call_id = KSR.pv.get("$ci")
        ip = KSR.pv.get("$si")
        dialed = KSR.pv.get("$rU") or ""
        decision = decide(
            snapshot,
            ip=ip,
            port=KSR.pv.get("$sp"),
            transport=KSR.pv.get("$pr"),
            user=dialed,
            at=started / 1000,
            call_id=call_id,
        )
        if decision.reason is not None and decision.originator is None:
            return self._reject(decision.reason)  # unknown caller: no CDR, nobody to bill
        context = call_context(
            decision,
            call_id=call_id,
            src_ip=ip,
            caller=calling_number(KSR.pv.get("$fU") or ""),
            dialed=dialed,
            version=snapshot.version,
            started_ms=started,
        )
        if decision.reason is not None:
            sink.emit(
                dumps(
                    attempt_event(
                        context,
                        0,
                        node=self.settings.node,
                        sip_code=decision.code,
                        reason=decision.reason,
                        started_ms=started,
                        answered_ms=None,
                        ended_ms=now_ms(),
                    )
                )
            )
            # Stateful, so a retransmitted INVITE is absorbed instead of giving a second CDR.
            return self._reject(decision.reason, absorb_retransmissions=True)

        KSR.rr.record_route()
        KSR.dialog.dlg_manage()
        KSR.dialog.dlg_set_timeout(decision.originator.max_call_duration)
        context_json = dumps(context)
        KSR.pvx.avp_sets(CTX, context_json)
        KSR.dialog.var_sets(CTX, context_json)
        return self._relay(context, 1)

    def _reject(self, reason: str, *, absorb_retransmissions: bool = False) -> int:
        code, phrase = REJECTIONS[reason]
        KSR.hdr.append_to_reply(f"X-Akira-Reason: {reason}\r\n")
        if code == 503:
            KSR.hdr.append_to_reply("Retry-After: 5\r\n")
        if absorb_retransmissions:
            KSR.tm.t_newtran()
        KSR.sl.send_reply(code, phrase)  # stateful when a transaction exists
        return STOP

    def _relay(self, context: dict, attempt: int) -> int:
        """Relay to attempt N (1-based); on a failed send, move on to the next one."""
        while attempt <= len(context["attempts"]):
            started = str(now_ms())
            KSR.pvx.avp_sets(ATTEMPT, str(attempt))
            KSR.pvx.avp_sets(ATTEMPT_STARTED, started)
            KSR.dialog.var_sets(ATTEMPT, str(attempt))
            KSR.dialog.var_sets(ATTEMPT_STARTED, started)
            KSR.seturi(context["attempts"][attempt - 1]["uri"])
            KSR.tm.t_on_failure(FAILURE_ROUTE)
            if KSR.tm.t_relay() > 0:
                return STOP
            self._emit_attempt(context, attempt, 500, "relay-failed", int(started), None)
            attempt += 1
        return self._reject("all-vendors-failed")

    # --- failure_route ---------------------------------------------------------------------

    def ksr_failure_vendor(self, msg) -> int:
        """failure_route[VENDOR]: record the failed attempt, then hunt or stop."""
        try:
            context = json.loads(KSR.pvx.avp_get(CTX))
            attempt = int(KSR.pvx.avp_get(ATTEMPT))
            started = int(KSR.pvx.avp_get(ATTEMPT_STARTED))
            code = KSR.tm.t_get_status_code()
            canceled = KSR.tm.t_is_canceled() > 0
            self._emit_attempt(
                context,
                attempt,
                487 if canceled else code,
                "caller-cancel" if canceled else "vendor-reply",
                started,
                None,
            )
            if canceled or code >= 600 or code in context["hunt_stop_codes"]:
                return STOP  # tm relays the vendor's final reply to the customer
            return self._relay(context, attempt + 1)
        except Exception:
            KSR.err("akira: failure route fault: " + traceback.format_exc().replace("\n", " | "))
            return self._reject("engine-fault")

    # --- dialog events ---------------------------------------------------------------------

    def ksr_dialog_event(self, msg, event: str) -> int:
        """event_route[dialog:*]: note the answer time, emit the answered attempt's CDR."""
        try:
            if event == "dialog:start":
                KSR.dialog.var_sets(ANSWERED, str(now_ms()))
            elif event == "dialog:end":
                context = json.loads(KSR.dialog.var_get(CTX))
                answered = int(KSR.dialog.var_get(ANSWERED))
                if not KSR.is_BYE():
                    reason = "max-duration"
                elif KSR.rr.is_direction("downstream") > 0:
                    reason = "caller-bye"
                else:
                    reason = "callee-bye"
                self._emit_attempt(
                    context,
                    int(KSR.dialog.var_get(ATTEMPT)),
                    200,
                    reason,
                    int(KSR.dialog.var_get(ATTEMPT_STARTED)),
                    answered,
                )
        except Exception:
            KSR.err("akira: dialog event fault: " + traceback.format_exc().replace("\n", " | "))
        return OK

    def _emit_attempt(
        self,
        context: dict,
        attempt: int,
        code: int,
        reason: str,
        started: int,
        answered: int | None,
    ) -> None:
        event = attempt_event(
            context,
            attempt,
            node=self.settings.node,
            sip_code=code,
            reason=reason,
            started_ms=started,
            answered_ms=answered,
            ended_ms=now_ms(),
        )
        self._runtime()[1].emit(dumps(event))
