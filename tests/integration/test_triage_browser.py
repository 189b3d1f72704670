"""End to end in a real browser: Debian's Chromium, driven by Playwright, against a real
``fraud-worker triage`` process on loopback, fed by a real worker through the real broker.

An analyst logs in (a wrong password is refused first), sees the queue riskiest first, opens
the riskiest item, claims it with the keyboard, and decides fraud with a note; the item leaves
the queue; a second analyst cannot claim it meanwhile; a form without its CSRF token is
refused. The decision is then read from the labels topic — exactly one label — and a real
labels consumer counts it in the feature store's terminal risk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.factories import free_port, wait_app_ready
from tests.integration.harness import (
    encoded,
    produce,
    read_topic,
    running,
    running_worker,
    simulated_events,
    worker_settings,
)
from tests.integration.test_labels import frauds_on_day
from worker.labels import LabelsConsumer, LabelsMetrics
from worker.settings import Settings
from worker.stack.browser import CHROMIUM_ARGS, chromium_executable

PASSWORD = "a long enough test password"
NOTE = "cardholder says the card never left her wallet"
HIGH_AMOUNTS = 6  # events the high_amount rule sends to review whatever the model says
SCREENSHOTS_ENV = "FRAUD_TRIAGE_SCREENSHOTS"  # a folder: keep the screenshots (the README's)
VIEWPORT = {"width": 1280, "height": 1100}


@dataclass
class Triage:
    settings: Settings
    url: str
    review: list[dict[str, Any]]  # the review items the worker produced
    env: dict[str, str]


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    done = subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture
def triage(
    live_stack: Settings, make_topic: Callable[[int], str], tmp_path: Path
) -> Iterator[Triage]:
    """A worker scores simulated events (a few of them large) into the review topic; a
    ``fraud-worker triage`` process (its own port, database and group) serves the queue."""
    data = worker_settings(live_stack, make_topic).model_dump(mode="json")
    port = free_port()
    data["triage"] = {**data["triage"], "port": port, "data_dir": str(tmp_path / "triage"),
                      "group_id": f"triage-{port}", "publish_interval_ms": 100}  # fmt: skip
    settings = Settings.model_validate(data)
    config = tmp_path / "fraud.yaml"
    config.write_text(yaml.safe_dump(data))
    env = {**os.environ, "FRAUD_CONFIG_FILE": str(config)}
    events = simulated_events(400, seed=31)
    for event in events[:: len(events) // HIGH_AMOUNTS][:HIGH_AMOUNTS]:
        event["amount"] = 900.0
    with running_worker(settings):
        produce(settings, encoded(events))
        read_topic(settings, settings.topics.scored, "scored", len(events))
    review = [item for item, _ in read_topic(settings, settings.topics.review, "item", 1)]
    assert len(review) >= HIGH_AMOUNTS
    for name in ("ana", "bob"):
        _cli(env, "triage", "user", "add", name, "--password-stdin", stdin=PASSWORD + "\n")
    log = tmp_path / "triage.log"
    with log.open("wb") as out:
        app = subprocess.Popen([sys.executable, "-m", "worker", "triage"], env=env, stdout=out,
                               stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_app_ready(url, app, log)
        yield Triage(settings, url, review, env)
    finally:
        app.terminate()
        code = app.wait(60)
    assert code == 0, f"the triage app did not stop cleanly:\n{log.read_text()[-3000:]}"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_executable(), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


def _log_in(browser: Browser, url: str, username: str) -> Page:
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{url}queue")
    expect(page).to_have_url(f"{url}login?next=/queue")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("[data-testid=whoami]")).to_contain_text(username)
    return page


def _queue_shows(page: Page, url: str, count: int, timeout_s: float = 60) -> None:
    """The app consumes in the background: reload until the queue holds ``count`` items."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(f"{url}queue")
        if page.locator("[data-testid=queue-row]").count() >= count:
            return
        assert time.monotonic() < deadline, "the queue never showed the worker's review items"
        time.sleep(0.5)


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))  # the viewport: the shortcut bar stays at its foot


def test_an_analyst_decides_the_riskiest_item_and_it_becomes_one_label(
    triage: Triage, browser: Browser, tmp_path: Path
) -> None:
    url, settings = triage.url, triage.settings
    by_id = {item["result"]["transaction_id"]: item for item in triage.review}
    top_priority = max(item["priority"] for item in triage.review)

    intruder = browser.new_context().new_page()
    intruder.goto(f"{url}login")
    intruder.fill("input[name=username]", "ana")
    intruder.fill("input[name=password]", "not the password")
    with intruder.expect_response(f"{url}login") as refused:
        intruder.click("#login-submit")
    assert refused.value.status == 401
    expect(intruder.locator("#error")).to_contain_text("wrong username or password")

    ana = _log_in(browser, url, "ana")
    _queue_shows(ana, url, len(triage.review))
    rows = ana.locator("[data-testid=queue-row]")
    riskiest_id = str(rows.first.get_attribute("data-transaction-id"))
    riskiest = by_id[riskiest_id]
    assert riskiest["priority"] == top_priority, "riskiest first"
    _shot(ana, tmp_path, "triage-queue.png")

    rows.first.locator("[data-testid=open-item]").click()
    item = ana.locator("#item")
    expect(item).to_have_attribute("data-transaction-id", riskiest_id)
    item_path = ana.url.removeprefix(url.rstrip("/"))
    ana.keyboard.press("c")  # claim
    expect(ana.locator("#claim-state")).to_have_attribute("data-claimed-by", "ana")

    bob = _log_in(browser, url, "bob")
    bob.goto(f"{url.rstrip('/')}{item_path}")
    with bob.expect_response(lambda r: r.request.method == "POST") as second_claim:
        bob.click("#claim")
    assert second_claim.value.status == 409
    expect(bob.locator("#error")).to_contain_text("claimed by ana")

    csrf = ana.context.request.post(f"{url.rstrip('/')}{item_path}/release", form={})
    assert csrf.status == 403, "a form without its CSRF token is refused"

    ana.keyboard.press("f")  # fraud
    expect(ana.locator("#outcome-fraud")).to_be_checked()
    ana.select_option("#reason_code", "stolen_card")
    ana.fill("#note", NOTE)
    _shot(ana, tmp_path, "triage-item.png")
    ana.click("#decide-submit")
    expect(ana.locator("#flash")).to_contain_text("decided fraud")
    ana.goto(f"{url}queue")
    left = ana.locator("[data-testid=queue-row]")
    assert riskiest_id not in [r.get_attribute("data-transaction-id") for r in left.all()]
    expect(ana.locator("#queue-total")).to_have_attribute(
        "data-total", str(len(triage.review) - 1)
    )

    labels = read_topic(settings, settings.topics.labels, "label", 1, quiet_s=3.0)
    assert [label["transaction_id"] for label, _ in labels] == [riskiest_id], "exactly once"
    label = labels[0][0]
    assert (label["outcome"], label["label_source"], label["decided_by"]) == (
        "fraud", "analyst", "ana"
    )  # fmt: skip
    assert label["note"] == f"stolen_card: {NOTE}"
    assert label["terminal_id"] == riskiest["event"]["terminal_id"]

    before = frauds_on_day(settings, [label])
    with running(LabelsConsumer(settings, LabelsMetrics()), "labels consumer"):
        deadline = time.monotonic() + 60
        while frauds_on_day(settings, [label]) == before:
            assert time.monotonic() < deadline, "the feature store never counted the label"
            time.sleep(0.2)
    key = (label["terminal_id"], label["event_time_ms"] // 86_400_000)
    assert frauds_on_day(settings, [label])[key] == before[key] + 1
