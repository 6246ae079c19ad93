"""Headless Chromium for tests that look at a page as a person would (Playwright, driving the system's
browser: Playwright cannot download its own here). `.ci/run` installs Chromium where it is missing."""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def chromium_or_skip() -> Callable[..., contextlib.AbstractContextManager[Browser]]:
    """`chromium(width=…)`, a context manager giving a Browser; skips the test where there is none."""
    executable = CHROMIUM if CHROMIUM.exists() else (Path(found) if (found := shutil.which("chromium")) else None)
    if executable is None:
        pytest.skip(f"no Chromium browser: {CHROMIUM} is missing (`apt-get install chromium`; .ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")

    @contextlib.contextmanager
    def chromium(width: int = 1280, height: int = 900) -> Iterator[Browser]:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
            try:
                yield Browser(browser.new_page(viewport={"width": width, "height": height}))
            finally:
                browser.close()

    return chromium


@dataclass
class Browser:
    """One page, with what went wrong while it was open."""

    page: Any  # playwright.sync_api.Page
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", lambda message: self.console_errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        self.page.on("requestfailed", lambda request: self.failed_requests.append((request.url, request.failure or "")))

    def open(self, path: Path) -> Browser:
        self.page.goto(path.absolute().as_uri())
        self.page.wait_for_load_state("load")
        # Every video has loaded its metadata, or failed (`error`): the test then says which.
        self.page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 1 || v.error)",
                                    timeout=20_000)
        return self

    def videos(self) -> list[dict[str, Any]]:
        return list(self.page.evaluate(
            """[...document.querySelectorAll('video')].map(v => ({
                 src: v.getAttribute('src'), readyState: v.readyState, duration: v.duration,
                 error: v.error && v.error.message, width: v.videoWidth }))"""))

    def horizontal_overflow(self) -> int:
        """Pixels the page is wider than the window (0: no horizontal scroll bar)."""
        return int(self.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))

    def errors(self) -> list[str]:
        """Console errors and failed requests. Chromium stops loading a video once it has what
        `preload="metadata"` asks for, and reports that request as net::ERR_ABORTED: that one is no failure
        (the test checks separately that every video has its metadata)."""
        playing = {source for source in self.page.evaluate(
            "[...document.querySelectorAll('video')].filter(v => v.readyState >= 1).map(v => v.currentSrc)")}
        failed = [f"request failed: {url} ({why})" for url, why in self.failed_requests
                  if not (why == "net::ERR_ABORTED" and url in playing)]
        return self.console_errors + failed

    def screenshot(self, path: Path) -> None:
        """The whole page, once its videos show a picture (or 5 s have passed)."""
        with contextlib.suppress(Exception):  # a video still loading is no reason to fail the test here
            self.page.wait_for_function(
                "[...document.querySelectorAll('video')].every(v => v.readyState >= 2 || v.error)", timeout=5_000)
        self.page.wait_for_timeout(1_000)  # the players' loading spinners fade out
        self.page.screenshot(path=str(path), full_page=True)
