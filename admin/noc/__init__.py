"""The NOC's test-call orchestrator: a small stateless HTTP service of its own (``akira noc
serve``) that places SIPp test calls through the switch to a chosen vendor, and runs the
scheduled audits (docs/noc.md).

A test call leaves from the NOC trunk (an originator flagged ``noc``) with the header
``X-Akira-Terminator: <id>``: the engine then routes it to that vendor only, bypassing the
plan's order, among the NOC plan's own vendors and with every check still applied
(kemi.stages.route). Results (reply codes, PDD, duration) are rows of ``noc_test_calls``;
calls per vendor are bounded in Redis, so no test floods a carrier whatever runs them.
"""
