"""The demo's triage app: started once beside the stack (it keeps serving after the demo, so a
newcomer can work the queue the demo filled), with a demo analyst and a demo lead.

It is a stack-owned process (a pid file under the stack's folder): a second demo reuses it,
``make down`` stops it.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import httpx2

from worker.errors import StackError
from worker.settings import Settings
from worker.stack import process
from worker.stack.manager import TRIAGE_PID
from worker.triage.service import ensure_user, open_store
from worker.triage.types import REASON_CODES, Outcome, Role

DEMO_ACCOUNTS = (("analyst", Role.ANALYST), ("lead", Role.LEAD))
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class DemoTriage:
    url: str
    accounts: dict[str, str]  # user name → password
    log_path: Path
    reused: bool

    def describe(self) -> str:
        logins = ", ".join(f"{name} / {password}" for name, password in self.accounts.items())
        started = "already running" if self.reused else "started"
        return (
            f"triage app {started}: open {self.url} and log in as {logins}\n"
            f"  (it keeps serving after the demo; `make down` stops it; log: {self.log_path})"
        )


def triage_paths(settings: Settings) -> tuple[Path, Path]:
    """The app's pid file and log, under the stack's folder."""
    pid_path = settings.stack.dir.resolve() / TRIAGE_PID
    return pid_path, pid_path.with_suffix(".log")


def start_demo_triage(settings: Settings, ready_timeout_s: float = 60) -> DemoTriage:
    """Fresh passwords for the demo accounts, and the app serving (started when it is not)."""
    store = open_store(settings)
    accounts = {}
    for name, role in DEMO_ACCOUNTS:
        accounts[name] = secrets.token_urlsafe(9)
        ensure_user(store, name, accounts[name], role)
    store.engine.dispose()
    pid_path, log_path = triage_paths(settings)
    options = settings.triage
    url = f"http://{options.host}:{options.port}/"
    running = process.read_pid_file(pid_path)
    reused = running is not None and process.is_running(running)
    if not reused:
        process.require_free_port(
            options.port, "the triage app", "FRAUD_TRIAGE__PORT", options.host
        )
        command = [sys.executable, "-m", "worker", "triage"]
        process.spawn(command, log_path, pid_path, dict(os.environ))
    _wait_healthy(url, log_path, ready_timeout_s)
    return DemoTriage(url, accounts, log_path, reused)


def stop_demo_triage(settings: Settings) -> None:
    pid_path, _log = triage_paths(settings)
    record = process.read_pid_file(pid_path)
    if record is not None:
        process.stop(record)
    pid_path.unlink(missing_ok=True)


def _wait_healthy(url: str, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urlopen(f"{url}healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise StackError(
        f"the triage app did not answer on {url} within {timeout_s:.0f} s; the end of "
        f"{log_path}:\n{process.tail(log_path)}"
    )


def queue_summary(settings: Settings, triage: DemoTriage, wait_s: float = 30) -> str:
    """What the analysts' queue holds once the app has caught up with the review topics."""
    store = open_store(settings)
    deadline = time.monotonic() + wait_s
    stats = store.stats()
    while time.monotonic() < deadline:  # the app consumes while the demo summarizes
        time.sleep(1)
        latest = store.stats()
        if (latest.open_review, latest.open_degraded) == (stats.open_review, stats.open_degraded):
            break
        stats = latest
    store.engine.dispose()
    return "\n".join(
        [
            f"the analysts' queue: {stats.open_review} open review items, "
            f"{stats.open_degraded} degraded answers for a lead to close",
            triage.describe(),
        ]
    )


def analyst_decides(settings: Settings, triage: DemoTriage, frauds: set[str]) -> str:
    """The demo analyst signs in to the app, takes the queue's next item, claims it and
    decides it as the simulation's truth says — through the app's own pages, as a person
    would (the decision becomes a label on the labels topic, and the app's decision counter
    moves). A line for the summary."""
    with httpx2.Client(base_url=triage.url, timeout=30) as client:
        _post(client, "/login", {"username": "analyst", "password": triage.accounts["analyst"]})
        taken = client.get("/queue/next", follow_redirects=False)
        place = taken.headers.get("location", "")
        if not place.startswith("/items/"):
            return "the demo analyst found no open item to decide"
        item_id = int(place.rsplit("/", 1)[1])
        store = open_store(settings)
        transaction = str(store.item(item_id).result["transaction_id"])
        store.engine.dispose()
        outcome = Outcome.FRAUD if transaction in frauds else Outcome.LEGITIMATE
        _post(client, f"{place}/claim", {})
        _post(client, f"{place}/decide", {"outcome": outcome.value,
                                          "reason_code": REASON_CODES[outcome][0],
                                          "note": "decided by the demo"})  # fmt: skip
    return f"the demo analyst decided item {item_id} ({transaction}) {outcome.value} in the app"


def _post(client: httpx2.Client, path: str, form: dict[str, str]) -> None:
    """POST a form with the session's CSRF token (read from the page the form is on)."""
    page = client.get(path if path == "/login" else path.rsplit("/", 1)[0])
    found = CSRF.search(page.text)
    if found is None:
        raise StackError(f"the triage app's page for {path} has no CSRF token: see {page.url}")
    answer = client.post(path, data={**form, "csrf_token": found.group(1)}, follow_redirects=False)
    if answer.status_code >= 400:
        raise StackError(f"the triage app refused POST {path}: HTTP {answer.status_code}")
