"""The queue's plain data: what the consumer stores, what the pages show, what a decision is.

Times are milliseconds since the Unix epoch (UTC), as everywhere in this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from worker.errors import FraudWorkerError


class Kind(StrEnum):
    """Why an item is in the queue."""

    REVIEW = "review"  # the worker asked for a human (transactions.review)
    DEGRADED = "degraded"  # a degraded answer only (transactions.degraded); a lead may bulk close


class Status(StrEnum):
    OPEN = "open"
    DECIDED = "decided"  # an analyst decided it
    CLOSED = "closed"  # closed in bulk by a lead (degraded-only items), no label


class Outcome(StrEnum):
    """What an analyst decided. Fraud and legitimate become labels; "can't tell" does not
    (the label schema knows only fraud and legitimate, and a guess would poison training)."""

    FRAUD = "fraud"
    LEGITIMATE = "legitimate"
    UNSURE = "unsure"  # "can't tell"
    CLOSED = "closed"  # bulk close of degraded-only items


LABELLED = frozenset({Outcome.FRAUD, Outcome.LEGITIMATE})

# Reason codes an analyst picks from, per outcome (the note says the rest).
REASON_CODES: dict[Outcome, tuple[str, ...]] = {
    Outcome.FRAUD: (
        "stolen_card",
        "card_testing",
        "account_takeover",
        "merchant_compromise",
        "other_fraud",
    ),
    Outcome.LEGITIMATE: (
        "customer_confirmed",
        "known_pattern",
        "false_positive",
        "other_legitimate",
    ),
    Outcome.UNSURE: ("not_enough_information", "conflicting_signals"),
    Outcome.CLOSED: ("degraded_only",),
}


class Role(StrEnum):
    ANALYST = "analyst"  # works the queue
    LEAD = "lead"  # also bulk actions and stats


class LabelState(StrEnum):
    """Where a decision's label is on its way to ``transactions.labels``."""

    NONE = "none"  # no label (can't tell, bulk close)
    PENDING = "pending"  # to be published
    SENDING = "sending"  # produced, acknowledgement (or its record in the database) not yet seen
    PUBLISHED = "published"


# Priority (expected loss, score x amount) bands for the queue-depth metric and the filters.
PRIORITY_BANDS: tuple[tuple[str, float, float], ...] = (
    ("lt10", 0.0, 10.0),
    ("10to100", 10.0, 100.0),
    ("100to1000", 100.0, 1000.0),
    ("ge1000", 1000.0, float("inf")),
)


@dataclass(frozen=True)
class IncomingItem:
    """A review item as read from Kafka (ReviewItem v1/v2, decoded with the v2 reader)."""

    kind: Kind
    result: dict[str, Any]  # the ScoredResult record
    event: dict[str, Any]  # the ReviewedTransaction record
    review_reasons: list[str]
    priority: float
    supersedes: dict[str, Any] | None  # SupersededResult, on a re-score
    topic: str
    partition: int
    offset: int

    @property
    def transaction_id(self) -> str:
        return str(self.result["transaction_id"])


@dataclass(frozen=True)
class StoreReport:
    """What storing one batch did."""

    inserted: int = 0
    superseded: int = 0  # existing items a re-score updated
    repeated: int = 0  # already stored (a redelivery, or a second item of one transaction)


@dataclass(frozen=True)
class QueueFilter:
    """The queue page's filters; None means any."""

    kind: Kind = Kind.REVIEW
    status: Status = Status.OPEN
    decision: str | None = None  # allow | review | block
    source: str | None = None  # cache | primary | fallback | rules | safe_default
    reason: str | None = None  # a review reason prefix, e.g. "rule:" or "rule:high_amount"
    min_amount: float | None = None
    max_amount: float | None = None
    country: str | None = None
    max_age_s: float | None = None  # scored at most this long ago
    min_age_s: float | None = None  # scored at least this long ago
    sort: str = "priority"  # priority (highest first) | newest | oldest


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue page."""

    id: int
    transaction_id: str
    kind: Kind
    status: Status
    scored_at_ms: int
    event_time_ms: int
    amount: float | None  # None: the event's amount was not a finite number
    currency: str
    merchant_category: str
    channel: str
    country: str
    score: float
    decision: str
    source: str
    review_reasons: list[str]
    priority: float
    claimed_by: str | None  # None also when the claim expired
    claim_expires_at_ms: int | None
    superseded: bool  # a re-score replaced the degraded answer


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int  # matching the filter (all pages)
    # Open items of the filter's kind per facet value: {"decision": {"review": 12, ...},
    # "source": {...}}, for the filter bar's counts.
    counts: dict[str, dict[str, int]]


@dataclass(frozen=True)
class HistoryRow:
    """Another queue item of the same card or terminal (the item page's context)."""

    id: int
    transaction_id: str
    event_time_ms: int
    amount: float | None
    currency: str
    score: float
    decision: str
    source: str
    status: Status
    outcome: str | None  # the analyst's outcome, once decided


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    item_id: int
    outcome: Outcome
    reason_code: str
    note: str
    decided_by: str
    decided_at_ms: int
    label_state: LabelState


@dataclass(frozen=True)
class AuditEntry:
    at_ms: int
    username: str
    action: str  # claim | release | decide | bulk_close | login | login_failed
    item_id: int | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class ItemDetail:
    """Everything the item page shows."""

    row: QueueRow
    card_id: str
    terminal_id: str
    event: dict[str, Any]  # the transaction as read (amount, merchant, channel, country, …)
    result: dict[str, Any]  # the scored result (score, level, reasons, failed dependencies, …)
    supersedes: dict[str, Any] | None  # the degraded answer a re-score replaced
    card_history: list[HistoryRow]
    terminal_history: list[HistoryRow]
    decision: DecisionRecord | None
    audit: list[AuditEntry]


@dataclass(frozen=True)
class Stats:
    """The lead's stats page."""

    open_review: int
    open_degraded: int
    oldest_open_age_s: float | None  # of open review items
    decisions_per_hour: list[tuple[int, int]]  # (hour start ms, decisions), last 24 h
    # Precision as analysts judged them: of the decided items the worker said review
    # (block) for, the share decided fraud, among those decided fraud or legitimate.
    review_precision: float | None
    block_precision: float | None
    judged: dict[str, dict[str, int]] = field(default_factory=dict)  # decision → outcome → n


@dataclass(frozen=True)
class LabelToSend:
    """A decision on its way to ``transactions.labels``: the Label record and its id."""

    decision_id: int
    label_uid: str  # unique across databases: the record's header, found again after a crash
    record: dict[str, Any]  # a Label v1 record (label_source analyst)
    state: LabelState
    sent_after: dict[int, int] | None  # SENDING: each partition's end offset before producing


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    password_hash: str
    active: bool


class TriageError(FraudWorkerError):
    """Root of the queue's refusals (shown to the analyst as one line)."""


class NotFound(TriageError):
    pass


class ClaimedByOther(TriageError):
    def __init__(self, username: str, until_ms: int) -> None:
        super().__init__(f"claimed by {username}; pick another item")
        self.username = username
        self.until_ms = until_ms


class NotClaimed(TriageError):
    """Deciding needs the caller's own live claim."""


class AlreadyClosed(TriageError):
    """Decided or closed already: nothing more to do on it."""


class UserExists(TriageError):
    pass
