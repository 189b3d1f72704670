"""Review items as the queue consumer hands them to the store (decoded ReviewItem v2)."""

from __future__ import annotations

import itertools
from typing import Any

from worker.triage.types import IncomingItem, Kind

_offsets = itertools.count()
BASE_MS = 1_780_000_000_000


def incoming(
    transaction_id: str,
    *,
    kind: Kind = Kind.REVIEW,
    score: float = 0.7,
    amount: float = 120.0,
    decision: str = "review",
    source: str = "primary",
    card_id: str = "card-1",
    terminal_id: str = "term-1",
    country: str = "FR",
    scored_at_ms: int = BASE_MS,
    reasons: list[str] | None = None,
    supersedes: dict[str, Any] | None = None,
    topic: str = "transactions.review",
) -> IncomingItem:
    """One item with the fields the pages show; priority = score x amount, as the worker
    computes it."""
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
    return IncomingItem(
        kind=kind,
        result=result,
        event=event,
        review_reasons=reasons if reasons is not None else default_reasons,
        priority=score * amount,
        supersedes=supersedes,
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
