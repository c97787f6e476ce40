"""UDP/TCP ports of the end-to-end tests, from one base so that several suites can run side by
side (``AKIRA_TEST_PORT_BASE``, default 15000; pytest-xdist worker N adds N x 1000): the shared
Kamailio listens on base + 60, the catalog's vendors on base + 81..83, tests that run their own
processes take base + 70 and up.
"""

from __future__ import annotations

import os

from tests.conftest import WORKER

BASE = int(os.environ.get("AKIRA_TEST_PORT_BASE", "15000")) + 1000 * WORKER


def port(offset: int) -> int:
    return BASE + offset
