"""Akira's routing engine.

Loaded by Kamailio's embedded Python (app_python3, KEMI) through ``kemi/boot/akira_kemi.py``.
Only the standard library, ``redis`` and ``msgspec`` (decisions/0017) may be imported here:
this code runs in every SIP worker.
The pure modules (contract, rates, normalize, lcr, money, snapshot, pipeline, context, cdr) are
shared with the admin plane so that ``akira simulate`` and Kamailio run one implementation.
"""
