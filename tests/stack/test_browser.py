"""Debian's Chromium, driven headless by Playwright the way the triage app's browser tests do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from worker.stack.browser import CHROMIUM_ARGS, chromium_executable


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not worth a line on the test's stderr."""


@pytest.fixture
def page_url(tmp_path: Path) -> Iterator[str]:
    """A tiny page served on loopback from a thread."""
    (tmp_path / "index.html").write_text(
        "<!doctype html><title>Triage says hello</title><p id='x'>42</p>"
    )
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()
    thread.join()


def test_debian_chromium_renders_a_loopback_page(page_url: str) -> None:
    executable = chromium_executable()
    assert Path(executable).exists()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_url)
            assert page.title() == "Triage says hello"
            assert page.text_content("#x") == "42"
        finally:
            browser.close()

