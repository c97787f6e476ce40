"""Kamailio's routing blocks, written in Python (KEMI): the only module that talks to ``KSR``.

Each ``ksr_*`` method replaces the native block of the same name. It reads the message once
into a typed request, hands it to the pure pipeline (kemi.pipeline) and applies what comes
back: a reject, or relay to attempt N. Per-call state is one encoded context in a dialog
variable (kemi.context), because the failure route and the dialog events may run in another
Kamailio process. The snapshot comes from mapped files (kemi.store) and CDR events go to a
local journal (kemi.journal); the one network round trip of a call is the cluster-wide limits
check at setup (kemi.limits, through Kamailio's C Redis client), made only for calls that
have limits.

Every SIP message is hostile until proven otherwise: in-dialog requests must belong to a
dialog this proxy created, sources that are no customer's learn nothing (no reason header,
and a flooding one is dropped without a reply), malformed input gets a precise code.
"""

from __future__ import annotations

import os
import random
import time
import traceback

import KSR  # provided by Kamailio's app_python3
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from kemi import limits
from kemi.bus import open_bus
from kemi.context import CallContext, Target
from kemi.health import report_health, write_down
from kemi.journal import Journal
from kemi.overload import LoadMonitor, SheddingController, listen_port
from kemi.pipeline import (
    EXHAUSTED,
    REJECTIONS,
    STOP,
    Call,
    after_failure,
    apply_capacity,
    decide,
    end_reason,
)
from kemi.prober import Prober, probe_source
from kemi.relay import RedisLimits, Relay
from kemi.request import NOC_HEADER, CallRequest, call_id_ok, forced_terminator, printable
from kemi.settings import EngineSettings
from kemi.snapshot import Snapshot
from kemi.snapshot_sync import SnapshotSync
from kemi.store import SnapshotStore

# KEMI return codes: negative is false, positive is true, 0 stops the script.
EXIT = 0
OK = 1

CONTEXT = "akira_ctx"  # dialog variable: the encoded CallContext
# dialog variable: "<attempt>,<relayed at ms>[,<first 18x at ms>]" of the attempt in flight
ATTEMPT = "akira_att"
ANSWERED = "akira_ans"  # dialog variable: when the 200 OK came, epoch ms
SHED = "akira_shed"  # shared variable: permille of new INVITEs to refuse (kemi.overload)
FAILURE_ROUTE = "ksr_failure_vendor"
REPLY_ROUTE = "ksr_vendor_reply"
REDIS = "akira"  # ndb_redis server name (kamailio.cfg)
LIMITS_REPLY = "akira_limits"

# sanity checks (README.sanity): every default one but "digest credentials" (2048), which
# drops a non-Digest Authorization without a reply; we answer that ourselves. Plus URI
# parsing (1024), duplicate tags (4096) and the first Via (16384). URIs: R-URI, From, To.
SANITY_CHECKS = 1 | 2 | 4 | 32 | 64 | 128 | 256 | 512 | 1024 | 4096 | 16384
SANITY_URIS = 1 | 2 | 4
ALLOW = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n"
# auth module: the password given is HA1; challenges carry qop=auth (nonce counts, replays)
HA1, QOP_AUTH, STALE = 1, 1, 16
NONCE_EXPIRED = -4


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _text(getter, hexa: str) -> tuple[str, bool]:
    """A header value as text, and whether it was valid UTF-8. app_python3 raises on invalid
    bytes, so those are read again hex-encoded and decoded with replacement."""
    try:
        return getter() or "", True
    except UnicodeDecodeError:
        raw = bytes.fromhex(KSR.pv.get(hexa) or "")
        return raw.decode("utf-8", "replace"), False


# Dialog variables through $dlg_var, whose getter and setter hold the dialog's lock: a vendor's
# 180 and 200 are handled by two workers at once (the onreply route writes the attempt while
# dialog:start writes the answer), and the dialog module's KEMI var_sets/var_get do not lock
# (seen: Kamailio aborting on a corrupted shared-memory block under 2,000 calls).
def _dialog_get(name: str) -> str | None:
    return KSR.pv.get(f"$dlg_var({name})")


def _dialog_set(name: str, value: str) -> None:
    KSR.pv.sets(f"$dlg_var({name})", value)


def _attempt(text: str) -> tuple[int, int, int | None]:
    """The ATTEMPT variable: (attempt, relayed at ms, first 18x at ms or None)."""
    attempt, started, *ringing = map(int, text.split(","))
    return attempt, started, ringing[0] if ringing else None


class Router:
    """The KEMI object Kamailio calls for every request, failure, dialog event and timer."""

    def __init__(self) -> None:
        self.settings = EngineSettings.from_env()
        # One run of this node's Kamailio (made before the fork, so every process shares it):
        # limit slots belong to it and expire with it.
        self.incarnation = f"{self.settings.node}.{os.getpid()}.{int(time.time())}"
        self._store: SnapshotStore | None = None
        self._journal: Journal | None = None
        self._sync: SnapshotSync | None = None
        self._cdr_relay: Relay | None = None
        self._monitor: LoadMonitor | None = None
        self._prober: Prober | None = None
        self._probed_version = 0
        self._health_redis: Redis | None = None
        self._reported_down: frozenset[str] | None = None
        self._limits_failing = False

    # --- process lifecycle -----------------------------------------------------------------

    def child_init(self, rank: int) -> int:
        """After fork: per-process state is made lazily, by the first call that needs it."""
        self._store = self._journal = self._sync = self._cdr_relay = self._monitor = None
        self._prober = None
        if rank > 0:  # SIP workers: map the installed snapshot before the first call
            self.store().refresh()
        return 0

    def store(self) -> SnapshotStore:
        if self._store is None:
            self._store = SnapshotStore(
                self.settings.snapshot_dir,
                check_interval=self.settings.snapshot_check_interval,
                on_event=lambda message: KSR.notice(message + "\n"),
            )
        return self._store

    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.settings.journal_dir, self.settings.node)
        return self._journal

    def _redis(self) -> Redis:
        """For the timer processes: a dead Redis costs one short timeout per tick, and the
        next tick is the retry (redis-py's own retries would stall the process for seconds)."""
        return Redis.from_url(
            self.settings.redis_url,
            socket_timeout=self.settings.redis_timeout,
            socket_connect_timeout=self.settings.redis_timeout,
            retry=Retry(NoBackoff(), 0),
        )

    # --- request_route ---------------------------------------------------------------------

    def ksr_request_route(self, msg) -> int:
        """request_route: shedding, checks, in-dialog handling, then a new INVITE. The method
        and the To-tag are read once (each KSR call costs a crossing into C and back)."""
        method = KSR.kx.get_method()
        in_dialog = KSR.siputils.has_totag() > 0
        if method == "ACK":
            return self._ack(in_dialog)
        initial_invite = method == "INVITE" and not in_dialog
        if initial_invite:
            shed = KSR.pvx.shv_get(SHED)
            if shed and random.random() * 1000 < shed:
                return self._reject("overload", tell=True)  # before any decision
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return EXIT
        if KSR.sanity.sanity_check(SANITY_CHECKS, SANITY_URIS) < 0:
            KSR.sanity.sanity_reply()
            return EXIT
        if in_dialog:  # credentials are for new requests: a dialog's are its routing's match
            return self._in_dialog()
        if self._foreign_credentials():
            KSR.sl.sl_send_reply(400, "Unsupported Authorization Scheme")
            return EXIT
        if method == "CANCEL":
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return EXIT
        if KSR.tmx.t_precheck_trans() > 0:  # a retransmission being processed elsewhere
            KSR.tm.t_check_trans()
            return EXIT
        if KSR.tm.t_check_trans() == 0:  # retransmission of a known transaction: absorbed
            return EXIT
        if initial_invite:
            return self._route_invite()
        return self._other_request(method)

    def _ack(self, in_dialog: bool) -> int:
        """ACKs: of a 2xx along the dialog, of a negative reply to its transaction; others
        (forged, or for nothing) go nowhere and are never answered."""
        if in_dialog and KSR.rr.loose_route() > 0:
            if KSR.dialog.is_known_dlg() > 0:
                KSR.tm.t_relay()
            return EXIT
        if KSR.tm.t_check_trans() > 0:
            KSR.tm.t_relay()
        return EXIT

    def _foreign_credentials(self) -> bool:
        """Credentials of another scheme than Digest (sanity would drop them unanswered)."""
        for header in ("Authorization", "Proxy-Authorization"):
            if KSR.hdr.is_present(header) > 0:
                value, _ = _text(
                    lambda h=header: KSR.hdr.get(h), f"$(hdr({header}){{s.encode.hexa}})"
                )
                if not value.lstrip().lower().startswith("digest "):
                    return True
        return False

    def _in_dialog(self) -> int:
        """Sequential requests follow the record-route only within a dialog we created."""
        if KSR.rr.loose_route() > 0 and KSR.dialog.is_known_dlg() > 0:
            KSR.tm.t_relay()
            return EXIT
        return self._refuse("no-dialog", 404, "Not Found")

    def _other_request(self, method: str) -> int:
        snapshot = self.store().current()
        known = snapshot is not None and snapshot.knows_address(KSR.kx.get_srcip())
        if method == "OPTIONS" and KSR.pv.is_null("$rU") and known:
            KSR.sl.sl_send_reply(200, "OK")  # keepalive pings from trunks and vendors
            return EXIT
        if not known:
            return self._refuse("unknown-originator", 403, "Forbidden")
        KSR.hdr.append_to_reply(ALLOW)
        KSR.sl.sl_send_reply(405, "Method Not Allowed")
        return EXIT

    def _refuse(self, reason: str, code: int, phrase: str) -> int:
        """A request that is nobody's business: a flooding source is dropped without a word;
        the others get ``code``, and the reason only where sources are told."""
        if KSR.pike.pike_check_req() < 0:
            return EXIT
        if self.settings.tell_unknown_sources:
            KSR.hdr.append_to_reply(f"X-Akira-Reason: {reason}\r\n")
        KSR.sl.send_reply(code, phrase)  # stateful when a transaction exists
        return EXIT

    def _route_invite(self) -> int:
        try:
            return self._route_invite_unsafe()
        except Exception:
            # An engine fault must answer at once, never hang the caller.
            KSR.err("akira: engine fault: " + traceback.format_exc().replace("\n", " | "))
            return self._reject("engine-fault", tell=False)

    def _read_request(self, snapshot: Snapshot, auth_user: str | None) -> CallRequest:
        call_id, call_id_utf8 = _text(KSR.kx.get_callid, "$(ci{s.encode.hexa})")
        ruri_user, _ = _text(KSR.kx.get_ruser, "$(rU{s.encode.hexa})")
        from_user, _ = _text(KSR.kx.get_fuser, "$(fU{s.encode.hexa})")
        from_tag, _ = _text(lambda: KSR.pv.get("$ft"), "$(ft{s.encode.hexa})")
        pai_user = ""
        if KSR.hdr.is_present("P-Asserted-Identity") > 0:
            pai_user, _ = _text(
                lambda: KSR.pv.get("$(ai{uri.user})"), "$(ai{uri.user}{s.encode.hexa})"
            )
        headers = {}
        for name in snapshot.match_headers:
            value, _ = _text(lambda n=name: KSR.hdr.get(n), f"$(hdr({name}){{s.encode.hexa}})")
            if value:
                headers[name] = value.strip()
        forced = None
        if snapshot.forces_terminators and KSR.hdr.is_present(NOC_HEADER) > 0:
            value, _ = _text(
                lambda: KSR.hdr.get(NOC_HEADER), f"$(hdr({NOC_HEADER}){{s.encode.hexa}})"
            )
            forced = forced_terminator(value)
            KSR.hdr.remove(NOC_HEADER)  # never relayed, whoever sent it
        return CallRequest(
            call_id=call_id if call_id_utf8 else printable(call_id),
            src_ip=KSR.kx.get_srcip(),
            src_port=int(KSR.kx.get_srcport()),
            transport=KSR.kx.get_proto(),
            ruri_user=ruri_user,
            from_user=printable(from_user),
            from_tag=from_tag,
            at_ms=now_ms(),
            call_id_ok=call_id_utf8 and call_id_ok(call_id),
            pai_user=printable(pai_user),
            auth_user=auth_user,
            headers=headers,
            forced_terminator=forced,
        )

    def _authenticate(self, snapshot: Snapshot) -> tuple[str | None, bool]:
        """(the verified digest username, or None; whether a reply was sent already). Wrong
        or replayed credentials get 403; an expired nonce a new challenge."""
        if not snapshot.credentials or KSR.hdr.is_present("Proxy-Authorization") < 0:
            return None, False
        username, _ = _text(lambda: KSR.pv.get("$au"), "$(au{s.encode.hexa})")
        device = snapshot.credentials.get(username)
        source = KSR.kx.get_srcip()
        if device is None or not snapshot.admits(device, source):
            return None, self._refuse("bad-credentials", 403, "Forbidden") == EXIT
        KSR.tm.t_newtran()  # nonce counting wants retransmissions absorbed (README.auth)
        checked = KSR.auth.pv_auth_check(self.settings.auth_realm, device.ha1, HA1, 0)
        if checked > 0:
            KSR.auth.consume_credentials()
            return username, False
        if checked == NONCE_EXPIRED:
            KSR.auth.auth_challenge(self.settings.auth_realm, QOP_AUTH | STALE)
            return None, True
        return None, self._refuse("bad-credentials", 403, "Forbidden") == EXIT

    def _route_invite_unsafe(self) -> int:
        store = self.store()
        snapshot = store.current()
        if snapshot is None:
            return self._reject("no-snapshot", tell=False)
        auth_user, replied = self._authenticate(snapshot)
        if replied:
            return EXIT
        request = self._read_request(snapshot, auth_user)
        call = decide(snapshot, request, store.down, store.quality)
        if call.originator is None:  # nobody to bill, nobody to tell
            if snapshot.may_authenticate(request.src_ip):
                KSR.auth.auth_challenge(self.settings.auth_realm, QOP_AUTH)
                return EXIT
            if snapshot.knows_address(request.src_ip):
                return self._reject("unknown-originator", tell=True)
            return self._refuse("unknown-originator", 403, "Forbidden")
        answer = self._capacity(call) if call.reason is None else None
        context = call.context(snapshot.version)
        if call.reason is not None:
            if answer is not None and answer.originator_over is None:
                self._release(context, None)  # every vendor skipped: give back what was taken
            self._emit(context, 0, REJECTIONS[call.reason].code, call.reason, request.at_ms)
            # Stateful, so a retransmitted INVITE is absorbed instead of giving a second CDR.
            return self._reject(call.reason, tell=True, stateful=True)
        return self._start(call, context, answer)

    def _capacity(self, call: Call) -> limits.SetupAnswer | None:
        """The capacity stage's one round trip (only for calls that have limits or prepaid
        credit): what the cluster state allows. Redis down: a call with limits only goes on
        unlimited (logged once); a prepaid call is refused, as its credit cannot be checked."""
        originator = call.originator
        assert originator is not None and call.customer_rate is not None
        credit = (
            limits.credit_of(
                originator.company_id, call.customer_rate, originator.max_call_duration
            )
            if originator.prepaid
            else ""
        )
        mine = limits.limits_of(
            "o", originator.id, originator.cps_limit, originator.concurrent_limit
        )
        vendors = [
            limits.limits_of(
                "t", c.terminator.id, c.terminator.cps_limit, c.terminator.concurrent_limit
            )
            for c in call.routes
        ]
        if not credit and not mine and not any(vendors):
            return None
        argument = limits.setup_argument(
            self.incarnation,
            self.settings.slots_alive_ms,
            limits.member(call.request.call_id),
            credit,
            mine,
            vendors,
        )
        reply = self._fcall("akira_setup", argument)
        if reply is None:
            if credit:
                apply_capacity(call, "credit-unavailable", {})
            return None
        answer = limits.parse_setup(reply)
        apply_capacity(call, answer.originator_over, answer.terminators_over)
        if answer.credit_seconds is not None:
            call.trace.append(f"credit {answer.credit_seconds}s")
        return answer

    def _fcall(self, function: str, argument: str) -> str | None:
        """One Redis function call through ndb_redis (C, ~12 µs of CPU; redis-py costs ~47)."""
        command = f"FCALL {function} 0 %s"
        # redis_cmd_p1 answers 0 on success (measured), negative when Redis did not reply
        if KSR.ndb_redis.redis_cmd_p1(REDIS, command, argument, LIMITS_REPLY) >= 0:
            reply = KSR.pv.get(f"$redis({LIMITS_REPLY}=>value)")
            if KSR.pv.get(f"$redis({LIMITS_REPLY}=>type)") == 1:  # a string, not an error
                self._limits_failing = False
                return "" if reply is None else str(reply)
        if not self._limits_failing:
            self._limits_failing = True
            KSR.err(
                "akira: limits not checked (no answer from Redis's akira_* functions): calls "
                "go on unlimited\n"
            )
        return None

    def _start(self, call: Call, context: CallContext, answer: limits.SetupAnswer | None) -> int:
        KSR.rr.record_route()
        if KSR.dialog.dlg_manage() < 0:  # no dialog, no CDR, no max duration: no call
            self._emit(context, 0, 500, "dialog-failed", context.call_started_ms)
            self._release(context, None)
            return self._reject("dialog-failed", tell=True, stateful=True)
        assert call.originator is not None
        seconds = answer.credit_seconds if answer else None  # what the prepaid credit buys
        KSR.dialog.dlg_set_timeout(seconds or call.originator.max_call_duration)
        _dialog_set(CONTEXT, context.encode())
        if call.caller_valid:  # the normalized caller, as the vendors are to see it
            KSR.hdr.remove("P-Asserted-Identity")
            KSR.hdr.append(f"P-Asserted-Identity: <sip:+{call.caller}@{KSR.kx.get_rcvip()}>\r\n")
        taken = answer is not None and answer.taken is not None
        return self._relay(context, 1, None, slot_taken=taken)

    def _reject(self, reason: str, *, tell: bool, stateful: bool = False) -> int:
        rejection = REJECTIONS[reason]
        if tell:
            KSR.hdr.append_to_reply(f"X-Akira-Reason: {reason}\r\n")
        if rejection.retry_after:
            KSR.hdr.append_to_reply("Retry-After: 5\r\n")
        if stateful:
            KSR.tm.t_newtran()
        KSR.sl.send_reply(rejection.code, rejection.phrase)  # stateful when a transaction exists
        return EXIT

    def _relay(
        self, context: CallContext, attempt: int, previous: Target | None, slot_taken: bool
    ) -> int:
        """Relay to attempt N (1-based), taking the vendor's limit slot first if it has one
        (attempt 1's was taken at setup); a vendor over its limit or a failed send moves on."""
        while attempt <= len(context.targets):
            target = context.targets[attempt - 1]
            switching = previous is None or previous.terminator_id != target.terminator_id
            if switching and not self._enter(context, previous, target, slot_taken):
                attempt += 1
                continue
            slot_taken = False
            started = now_ms()
            _dialog_set(ATTEMPT, f"{attempt},{started}")
            KSR.seturi(target.uri)
            if context.answer_timeout:
                KSR.tm.t_set_fr(context.answer_timeout * 1000, context.ring_timeout * 1000)
            KSR.tm.t_on_failure(FAILURE_ROUTE)
            KSR.tm.t_on_reply(REPLY_ROUTE)
            if KSR.tm.t_relay() > 0:
                return EXIT
            self._emit(context, attempt, 500, "relay-failed", started)
            previous = target
            attempt += 1
        self._release(context, previous)
        return self._reject("all-vendors-failed", tell=True)

    def _enter(
        self, context: CallContext, previous: Target | None, target: Target, slot_taken: bool
    ) -> bool:
        """Move the call's vendor slot from ``previous`` to ``target``: False when the target
        is over its limit (it is skipped)."""
        released = (
            limits.trunk("t", previous.terminator_id) if previous and previous.limited else ""
        )
        if not target.limited or slot_taken:
            if released:
                self._journal_release([released], context)
            return True
        snapshot = self.store().current()
        terminator = snapshot.terminators.get(target.terminator_id) if snapshot else None
        if terminator is None:
            return True
        vendor = limits.limits_of(
            "t", terminator.id, terminator.cps_limit, terminator.concurrent_limit
        )
        argument = limits.attempt_argument(
            self.incarnation,
            self.settings.slots_alive_ms,
            limits.member(context.call_id),
            released,
            vendor,
        )
        return not self._fcall("akira_attempt", argument)

    def _release(self, context: CallContext, last: Target | None, answered=False) -> None:
        """The call is over: free the originator's slot and the last vendor's, and end its
        credit reservation (journaled)."""
        trunks = []
        if context.originator_limited:
            trunks.append(limits.trunk("o", context.originator_id))
        if last is not None and last.limited:
            trunks.append(limits.trunk("t", last.terminator_id))
        if trunks or context.credit_company:
            self._journal_release(trunks, context, context.credit_company, answered)

    def _journal_release(
        self, trunks: list[str], context: CallContext, credit_company: int = 0, answered=False
    ) -> None:
        member = limits.member(context.call_id)
        record = limits.release_record(self.incarnation, member, trunks, credit_company, answered)
        self.journal().append(record)

    # --- failure_route ---------------------------------------------------------------------

    def ksr_failure_vendor(self, msg) -> int:
        """failure_route[VENDOR]: record the failed attempt, then hunt or stop."""
        try:
            context = CallContext.decode(_dialog_get(CONTEXT))
            attempt, started, ringing = _attempt(_dialog_get(ATTEMPT))
            code = KSR.tm.t_get_status_code()
            canceled = KSR.tm.t_is_canceled() > 0
            reason = "caller-cancel" if canceled else "vendor-reply"
            self._emit(context, attempt, 487 if canceled else code, reason, started, None, ringing)
            current = context.targets[attempt - 1]
            following = after_failure(context, attempt, code, canceled)
            if following == STOP:
                self._release(context, current)
                return EXIT  # tm relays the vendor's final reply to the customer
            if following == EXHAUSTED:
                self._release(context, current)
                return self._reject("all-vendors-failed", tell=True)
            return self._relay(context, following, current, slot_taken=False)
        except Exception:
            KSR.err("akira: failure route fault: " + traceback.format_exc().replace("\n", " | "))
            return self._reject("engine-fault", tell=False)

    # --- vendor replies, dialog events, stray replies ---------------------------------------

    def ksr_vendor_reply(self, msg) -> int:
        """tm's onreply route of an attempt: its first 18x ends its post-dial delay (PDD),
        noted beside the attempt for its CDR. Every reply passes (relayed as tm does)."""
        if 180 <= KSR.kx.get_status() <= 189:
            try:
                current = _dialog_get(ATTEMPT)
                if current and _attempt(current)[2] is None:  # the first 18x (183, then 180)
                    _dialog_set(ATTEMPT, f"{current},{now_ms()}")
            except Exception:
                KSR.err("akira: vendor reply fault: " + traceback.format_exc().replace("\n", " | "))
        return OK

    def ksr_dialog_event(self, msg, event: str) -> int:
        """event_route[dialog:*]: note the answer time, emit the answered attempt's CDR."""
        try:
            if event == "dialog:start":
                _dialog_set(ANSWERED, str(now_ms()))
            elif event == "dialog:end":
                self._answered_call_ended(by_bye=KSR.is_BYE())
        except Exception:
            KSR.err("akira: dialog event fault: " + traceback.format_exc().replace("\n", " | "))
        return OK

    def ksr_tm_event(self, msg, event: str) -> int:
        """tm's event_route[tm:local-request]: a BYE this proxy sends, i.e. the dialog module
        ending a call at its max duration. The call's CDR is emitted here, before the BYEs
        leave: Kamailio 5.6's dlg_ontimeout runs dialog:end only if no BYE reply has moved the
        dialog to its end state first, so under load dialog:end can be skipped."""
        try:
            if event == "tm:local-request" and KSR.is_BYE():
                self._answered_call_ended(by_bye=False)
        except Exception:
            KSR.err("akira: local request fault: " + traceback.format_exc().replace("\n", " | "))
        return OK

    def _answered_call_ended(self, by_bye: bool) -> None:
        """The answered attempt's CDR and the release of its slots, once per call."""
        context_text = _dialog_get(CONTEXT)
        if not context_text:  # not a call of ours (a BYE of some other local request), or
            return  # its CDR is out already (the context is cleared once it is)
        _dialog_set(CONTEXT, "")
        context = CallContext.decode(context_text)
        attempt, started, ringing = _attempt(_dialog_get(ATTEMPT))
        reason = end_reason(
            by_bye,
            by_bye and KSR.rr.is_direction("downstream") > 0,
            before_timeout=not by_bye and self._before_timeout(),
        )
        answered = int(_dialog_get(ANSWERED))
        self._emit(context, attempt, 200, reason, started, answered, ringing)
        self._release(context, context.targets[attempt - 1], answered=True)

    def _before_timeout(self) -> bool:
        """Whether the current dialog ends before its timeout (the max duration): without a
        BYE, only the node's RPC (dlg.end_dlg: an operator's drop) ends it that early."""
        try:
            start, lifetime = int(KSR.pv.get("$dlg(start_ts)")), int(KSR.pv.get("$dlg(lifetime)"))
        except (TypeError, ValueError):
            return False
        return time.time() < start + lifetime - 1

    def ksr_stray_reply(self, msg, event: str = "") -> int:
        """tm's on_sl_reply: a reply that belongs to no transaction of ours is dropped, never
        forwarded statelessly (to wherever its Via says, a broadcast address included)."""
        KSR.set_drop()
        return EXIT

    def _emit(
        self,
        context: CallContext,
        attempt: int,
        code: int,
        reason: str,
        started: int,
        answered: int | None = None,
        ringing: int | None = None,
    ) -> None:
        event = context.event(
            attempt,
            node=self.settings.node,
            sip_code=code,
            reason=reason,
            started_ms=started,
            answered_ms=answered,
            ended_ms=now_ms(),
            ringing_ms=ringing,
        )
        self.journal().append(event)

    # --- the node's timer processes (rtimer) -----------------------------------------------

    def ksr_timer_sync(self, msg, name: str = "") -> int:
        """Fetch published snapshots into this node's directory; install the live one; keep
        the limits functions loaded."""
        if self._sync is None:
            self._sync = SnapshotSync(
                self._redis(),
                self.settings.snapshot_dir,
                node=self.settings.node,
                on_event=lambda message: KSR.notice(message + "\n"),
                functions=limits.LIBRARY,
                rpc=self.settings.rpc_socket,
            )
        self._sync.poll()
        return OK

    def ksr_timer_probe(self, msg, name: str = "") -> int:
        """OPTIONS to every gateway of the installed snapshot; tell the workers which are down.
        AKIRA_PROBE_SECONDS=0 turns probing off (every gateway counts as up)."""
        if self.settings.probe_interval <= 0:
            return OK
        if self._prober is None:
            settings = self.settings
            self._prober = Prober(probe_source(settings.sip_listen), settings.probe_interval)
            self._health_redis = self._redis()
        snapshot = self.store().current()
        if snapshot is None:
            return OK
        if snapshot.version != self._probed_version:
            self._prober.track(g for t in snapshot.terminators.values() for g in t.gateways)
            self._probed_version = snapshot.version
        down = self._prober.tick()
        if down != self._reported_down:
            write_down(self.settings.snapshot_dir, down)
            self._reported_down = down
            KSR.notice(f"akira: gateways down: {', '.join(sorted(down)) or 'none'}\n")
            report_health(self._health_redis, self.settings.node, down)
        return OK

    def ksr_timer_relay(self, msg, name: str = "") -> int:
        """Ship the CDR journal to the bus; run limit releases; keep this node alive."""
        if self._cdr_relay is None:
            redis = self._redis()
            self._cdr_relay = Relay(
                self.settings.journal_dir,
                open_bus(self.settings.bus, redis=redis, nats_url=self.settings.nats_url),
                node_limits=RedisLimits(redis, self.incarnation, self.settings.slots_alive_ms),
                legacy_spool_dir=self.settings.spool_dir,
                on_event=lambda message: KSR.err(message + "\n"),
            )
        self._cdr_relay.run_once()
        return OK

    def ksr_timer_load(self, msg, name: str = "") -> int:
        """Watch the SIP socket's queue; publish the shed fraction to the workers."""
        if self._monitor is None:
            settings = self.settings
            self._monitor = LoadMonitor(
                listen_port(settings.sip_listen),
                SheddingController(settings.shed_queue_high, settings.shed_queue_low),
            )
        previous = self._monitor.controller.shed
        first = self._monitor.sockets is None
        shed = self._monitor.tick()
        if first:
            KSR.notice(f"akira: overload monitor reads the SIP queue {self._monitor.source}\n")
        if shed != previous:
            KSR.pvx.shv_seti(SHED, shed)
            if not previous or not shed:
                KSR.notice(
                    f"akira: overload: shedding {'on' if shed else 'off'} "
                    f"({self._monitor.queued} bytes queued)\n"
                )
        return OK
