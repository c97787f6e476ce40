"""A real browser against a real admin: ``akira serve`` as its own process and Debian's headless
Chromium driven by Playwright (tests/e2e/test_browser.py).

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (Debian's
``chromium`` package, which scripts/lib.sh installs; ``AKIRA_TEST_CHROMIUM`` names another).
Screenshots go to ``$AKIRA_TEST_ARTIFACTS`` or ``.run/test-artifacts/browser/``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.conftest import ROOT

CHROMIUM = os.environ.get("AKIRA_TEST_CHROMIUM", "/usr/bin/chromium")


def artifacts_dir() -> Path:
    directory = Path(
        os.environ.get("AKIRA_TEST_ARTIFACTS") or ROOT / ".run" / "test-artifacts" / "browser"
    )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


class AdminServer:
    """``akira serve`` on 127.0.0.1:``port`` with ``env`` (AKIRA_DATABASE_URL and the rest)."""

    def __init__(self, port: int, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "admin.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(port)],
                cwd=ROOT,
                env=os.environ | env | {"PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        self._wait_healthy()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def _wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        answer = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=2)
                if response.status_code == 200:
                    return
                answer = f"{response.status_code} {response.text}"
            except httpx.HTTPError as exc:
                answer = repr(exc)
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"the admin did not become healthy ({answer}):\n{self.log_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Screens:
    """Full-page screenshots of one test, and failures that say what the page showed."""

    def __init__(self, page: Page, directory: Path) -> None:
        self.page, self.directory = page, directory
        self.taken: list[Path] = []

    def shot(self, name: str) -> Path:
        path = self.directory / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path

    def showing(self) -> str:
        """The page's address, its text and a screenshot of it, for an assertion message."""
        try:
            text = self.page.inner_text("body", timeout=2000)
        except Exception as exc:  # the page may be gone: say so rather than hide the failure
            text = f"(no page text: {exc})"
        failed = self.directory / "failure.png"
        with contextlib.suppress(Exception):
            self.page.screenshot(path=str(failed), full_page=True)
        return f"page {self.page.url} showed:\n{text[:3000]}\nscreenshot: {failed}"

    @contextlib.contextmanager
    def expecting(self, what: str) -> Iterator[None]:
        """Wrap Playwright's steps and ``expect`` checks: a failure (or an action's timeout)
        names ``what`` and the page; nested, the innermost says it."""
        try:
            yield
        except PageFailure:
            raise
        except (AssertionError, PlaywrightError) as exc:  # expect's failures, and timeouts
            raise PageFailure(f"{what}: {exc}\n{self.showing()}") from None


class PageFailure(AssertionError):
    """A check in the browser failed; the message has what the page showed."""


def watched_page(context: BrowserContext) -> Page:
    """A new page whose ``problems`` list collects script errors and Content Security Policy
    refusals, for the test to check at the end."""
    page = context.new_page()
    page.problems = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda m: (
            page.problems.append(f"console: {m.text}")
            if "Content Security Policy" in m.text
            else None
        ),
    )
    return page
