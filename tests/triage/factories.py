"""Review items as the worker writes them (ReviewItem v2 records) and as the queue consumer
hands them to the store (``IncomingItem``); the real store over a fresh database, and a clock
to drive it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from worker.triage.db import connect, migrate
from worker.triage.store import QueueStore
from worker.triage.types import IncomingItem, Kind

_offsets = itertools.count()
BASE_MS = 1_780_000_000_000
CLAIM_TTL_S = 600


class Clock:
    """The store's clock (ms), an hour after the items' default times unless set."""

    def __init__(self, now_ms: int = BASE_MS + 3_600_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'triage.db'}"


@contextmanager
def migrated_store(url: str, clock_ms: Callable[[], int] | None = None) -> Iterator[QueueStore]:
    """The real store over the database at ``url``, migrated; its engine disposed after."""
    engine = connect(url)
    migrate(engine)
    try:
        yield QueueStore(engine, claim_ttl_s=CLAIM_TTL_S, clock_ms=clock_ms)
    finally:
        engine.dispose()


def review_record(
    transaction_id: str,
    *,
    score: float = 0.7,
    amount: float = 120.0,
    decision: str = "review",
    source: str = "primary",
    card_id: str = "card-1",
    terminal_id: str = "term-1",
    country: str = "FR",
    scored_at_ms: int = BASE_MS,
    reasons: list[str] | None = None,
    priority: float | None = None,
    supersedes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ReviewItem v2 record as the worker writes it, with the fields the pages show;
    priority = score x amount unless given, as the worker computes it."""
    result = {
        "transaction_id": transaction_id,
        "card_id": card_id,
        "event_time_ms": scored_at_ms - 50,
        "score": score,
        "decision": decision,
        "source": source,
        "model_version": "primary-test",
        "confidence": 0.9,
        "reasons": ["model:primary"],
        "degraded": source != "primary",
        "failed_dependencies": [] if source == "primary" else ["redis"],
        "input_flags": [],
        "scoring_latency_ms": 3.0,
        "scored_at_ms": scored_at_ms,
    }
    event = {
        "transaction_id": transaction_id,
        "event_time_ms": scored_at_ms - 50,
        "card_id": card_id,
        "terminal_id": terminal_id,
        "amount": amount,
        "currency": "EUR",
        "merchant_category": "electronics",
        "channel": "ecommerce",
        "country": country,
        "is_international": country != "FR",
        "has_international_history": False,
        "account_age_days": 40,
        "entry_mode": "ecommerce",
        "cardholder_verified": False,
    }
    default_reasons = [f"decision:{decision}"] if decision != "allow" else ["degraded:redis"]
    return {
        "result": result,
        "event": event,
        "review_reasons": reasons if reasons is not None else default_reasons,
        "priority": score * amount if priority is None else priority,
        "supersedes": supersedes,
    }


def incoming(
    transaction_id: str,
    *,
    kind: Kind = Kind.REVIEW,
    topic: str = "transactions.review",
    **fields: Any,
) -> IncomingItem:
    """One item as the consumer hands it to the store: a ``review_record`` (``fields`` are
    its keywords) read at the next offset of ``topic``."""
    record = review_record(transaction_id, **fields)
    return IncomingItem(
        kind=kind,
        result=record["result"],
        event=record["event"],
        review_reasons=record["review_reasons"],
        priority=record["priority"],
        supersedes=record["supersedes"],
        topic=topic,
        partition=0,
        offset=next(_offsets),
    )


def degraded(transaction_id: str, **fields: Any) -> IncomingItem:
    """A degraded allow kept apart (the degraded topic)."""
    values: dict[str, Any] = {"score": 0.2, "decision": "allow", "source": "fallback"}
    return incoming(
        transaction_id, kind=Kind.DEGRADED, topic="transactions.degraded", **{**values, **fields}
    )


def rescore_of(item: IncomingItem, score: float = 0.95, decision: str = "block") -> IncomingItem:
    """The re-scorer's review item that supersedes a degraded ``item``."""
    fresh = incoming(
        item.transaction_id,
        score=score,
        decision=decision,
        amount=item.event["amount"],
        card_id=item.event["card_id"],
        terminal_id=item.event["terminal_id"],
        scored_at_ms=item.result["scored_at_ms"] + 60_000,
        supersedes={
            "source": item.result["source"],
            "score": item.result["score"],
            "decision": item.result["decision"],
            "scored_at_ms": item.result["scored_at_ms"],
        },
    )
    return fresh
