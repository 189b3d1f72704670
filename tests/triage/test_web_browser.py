"""The pages' keyboard shortcuts (static/triage.js) in a real browser: Debian's Chromium via
Playwright, against the app on loopback over a SQLite store. Also: the pages run under their
Content-Security-Policy without a single violation (no console error)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from argon2 import PasswordHasher, profiles
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.factories import free_port
from tests.triage.factories import incoming, migrated_store, sqlite_url
from worker.settings import TriageSettings
from worker.stack.browser import CHROMIUM_ARGS, chromium_executable
from worker.triage.passwords import Passwords
from worker.triage.store import QueueStore
from worker.triage.types import QueueFilter, Role
from worker.triage.web import create_app

PASSWORD = "correct horse battery staple"
FAST = Passwords(PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[QueueStore]:
    with migrated_store(sqlite_url(tmp_path)) as store:
        store.add_user("alice", FAST.hash(PASSWORD), Role.ANALYST)
        store.store_items([incoming(f"tx-{i}", score=0.9 - i / 10) for i in range(3)])
        yield store


@pytest.fixture
def url(store: QueueStore) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free loopback port."""
    app = create_app(store, TriageSettings(), secret_key="k" * 40, passwords=FAST)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="triage-web-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_executable(), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    """Alice's signed-in page; the test fails on any console error (a CSP violation is one)."""
    page = browser.new_context().new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{url}/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("[data-testid=whoami]")).to_contain_text("alice")
    yield page
    assert errors == []


def _ids(store: QueueStore) -> list[str]:
    return [str(row.id) for row in store.queue(QueueFilter()).rows]


def test_the_queue_moves_with_j_and_k_and_opens_with_enter(
    page: Page, store: QueueStore, url: str
) -> None:
    first, second, _third = _ids(store)
    current = page.locator("tr.current")
    page.keyboard.press("j")
    expect(current).to_have_attribute("data-item-id", first)
    page.keyboard.press("j")
    expect(current).to_have_attribute("data-item-id", second)
    page.keyboard.press("k")
    expect(current).to_have_attribute("data-item-id", first)
    page.keyboard.press("Enter")
    expect(page.locator("#item")).to_have_attribute("data-item-id", first)
    page.keyboard.press("Escape")
    expect(page).to_have_url(f"{url}/queue")
    page.keyboard.press("n")
    expect(page.locator("#item")).to_have_attribute("data-item-id", first)


def test_an_item_is_claimed_and_decided_from_the_keyboard(page: Page, store: QueueStore) -> None:
    first, second, _third = _ids(store)
    page.keyboard.press("n")
    expect(page.locator("#item")).to_have_attribute("data-item-id", first)
    page.keyboard.press("c")
    expect(page.locator("#claim-state")).to_have_attribute("data-claimed-by", "alice")
    page.keyboard.press("l")
    expect(page.locator("#outcome-legitimate")).to_be_checked()
    expect(page.locator("#reason_code")).to_be_focused()
    groups = page.locator("#reason_code optgroup")
    assert [groups.nth(i).is_disabled() for i in range(groups.count())] == [True, False, True]
    page.select_option("#reason_code", "customer_confirmed")
    page.keyboard.press("Enter")  # on the reason: decide
    expect(page.locator("#flash")).to_have_text("decided legitimate: the label is on its way")
    expect(page.locator("#item")).to_have_attribute("data-item-id", second)
    detail = store.item(int(first))
    assert detail.decision is not None and detail.decision.reason_code == "customer_confirmed"


def test_shortcuts_do_not_fire_while_typing(page: Page, url: str) -> None:
    field = page.locator("#filters input[name=reason]")
    field.click()
    page.keyboard.type("jn")
    expect(field).to_have_value("jn")
    expect(page).to_have_url(f"{url}/queue")
    assert page.locator("tr.current").count() == 0


def test_the_question_mark_opens_and_closes_the_shortcut_list(page: Page) -> None:
    legend = page.locator("#shortcuts")
    expect(legend).to_contain_text("move down / up the list")
    page.keyboard.press("?")
    expect(legend).to_have_class("shortcuts open")
    page.keyboard.press("Escape")
    expect(legend).to_have_class("shortcuts")
