"""Small event batches for unit tests."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from worker.events import EVENT_FIELDS, EventBatch

SATURDAY_3AM_MS = int(datetime(2026, 5, 2, 3, 0, tzinfo=UTC).timestamp() * 1000)

BASE_EVENT: dict[str, Any] = {
    "transaction_id": "tx1",
    "event_time_ms": SATURDAY_3AM_MS,
    "card_id": "c_1",
    "terminal_id": "t_1",
    "amount": 50.0,
    "currency": "EUR",
    "merchant_category": "crypto",
    "channel": "ecommerce",
    "country": "US",
    "is_international": True,
    "has_international_history": False,
    "account_age_days": 3,
    "entry_mode": "ecommerce",
    "cardholder_verified": False,
}


def make_batch(*rows: dict[str, Any]) -> EventBatch:
    """A batch of events: each row is the base event with some fields changed."""
    records = [{**BASE_EVENT, **row} for row in (rows or ({},))]
    assert all(set(r) == set(EVENT_FIELDS) for r in records)
    return EventBatch.from_records(records)


def free_port() -> int:
    """A loopback port nothing listens on (for servers a test starts on its own)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout_s: float = 5) -> tuple[int, str]:
    """(status, body) of a GET; (0, "") while nothing listens there yet."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()
    except OSError:
        return 0, ""


def wait_app_ready(
    url: str, app: subprocess.Popen[bytes], log: Path, timeout_s: float = 90
) -> None:
    """Wait until a ``fraud-worker triage`` process at ``url`` (ending in /) says ready."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert app.poll() is None, f"the triage app exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{url}readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the triage app was not ready in {timeout_s:g} s:\n{log.read_text()}")
