"""The KEMI floor's routing (bench/kemi-floor.cfg): native-relay.cfg's request_route, line for
line, in Python; with the cfg's WITH_DIALOG, also a dialog per call, a call-context-sized
dialog variable, and the dialog events entering Python, as Akira's engine has them. The vendor
is the cfg's VENDOR_URI define.
"""

import KSR

CONTEXT = "x" * 600  # about the size of Akira's encoded call context


class Floor:
    def __init__(self) -> None:
        self.dialog = False
        self.vendor = ""

    def child_init(self, rank: int) -> int:
        self.dialog = hasattr(KSR, "dialog")  # the cfg loads the module WITH_DIALOG
        self.vendor = (KSR.kx.get_def("VENDOR_URI") or "").strip('"')
        return 0

    def ksr_request_route(self, msg) -> int:
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return -255
        if KSR.sanity.sanity_check_defaults() < 0:
            return -255
        if KSR.siputils.has_totag() > 0:
            if KSR.rr.loose_route() > 0:
                if not self.dialog or KSR.is_ACK() or KSR.dialog.is_known_dlg() > 0:
                    KSR.tm.t_relay()
                return -255
            if KSR.is_ACK() and KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
                return -255
            KSR.sl.sl_send_reply(404, "Not here")
            return -255
        if KSR.is_CANCEL() or KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return -255
        if KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()
            return -255
        KSR.tm.t_check_trans()
        if not KSR.is_INVITE():
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
            return -255
        KSR.rr.record_route()
        if self.dialog:
            KSR.dialog.dlg_manage()
            KSR.dialog.var_sets("ctx", CONTEXT)
        KSR.setdsturi(self.vendor)
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()
        return -255

    def ksr_dialog_event(self, msg, event: str) -> int:
        if event == "dialog:end":
            KSR.dialog.var_get("ctx")
        return 1


def mod_init() -> Floor:
    return Floor()
