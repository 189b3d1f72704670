"""The queue's database: items, claims, decisions, labels to publish, the audit trail, users.

Every method is one database transaction. Claims and decisions are conditional UPDATEs, so
two analysts (two processes, two app replicas) can never both hold one item — on SQLite and on
PostgreSQL alike. The clock is injected (tests of claim expiry).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Engine,
    Insert,
    Table,
    case,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from worker.triage.db.tables import Account, AuditEvent, Decision, Item
from worker.triage.types import (
    LABELLED,
    PRIORITY_BANDS,
    REASON_CODES,
    AlreadyClosed,
    AuditEntry,
    ClaimedByOther,
    DecisionRecord,
    HistoryRow,
    IncomingItem,
    ItemDetail,
    Kind,
    LabelState,
    LabelToSend,
    NotClaimed,
    NotFound,
    Outcome,
    QueueFilter,
    QueuePage,
    QueueRow,
    Role,
    Stats,
    Status,
    StoreReport,
    User,
    UserExists,
)

ITEMS = cast(Table, Item.__table__)
DECISIONS = cast(Table, Decision.__table__)
AUDIT = cast(Table, AuditEvent.__table__)
USERS = cast(Table, Account.__table__)
HISTORY_LIMIT = 20
HOUR_MS = 3_600_000
ANALYST_OUTCOMES = frozenset({Outcome.FRAUD, Outcome.LEGITIMATE, Outcome.UNSURE})
# Columns a review item replaces when it supersedes a degraded one.
REPLACED_ON_SUPERSEDE = (
    "kind", "status", "scored_at_ms", "score", "decision", "source", "priority",
    "review_reasons", "reasons_text", "result", "supersedes", "source_topic",
    "source_partition", "source_offset", "closed_at_ms", "closed_by",
)  # fmt: skip


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class QueueStore:
    def __init__(
        self, engine: Engine, claim_ttl_s: int = 900, clock_ms: Callable[[], int] | None = None
    ) -> None:
        self.engine = engine
        self.claim_ttl_ms = claim_ttl_s * 1000
        self.clock_ms = clock_ms or _now_ms

    # --- the consumer -------------------------------------------------------------------
    def store_items(self, items: list[IncomingItem]) -> StoreReport:
        """Store a batch in one transaction, idempotently: one item per transaction id (a
        redelivery, or a second item of the same transaction, is ``repeated``); a review
        item — a re-score (``supersedes`` set) or the worker's own — replaces a degraded item
        of its transaction that no analyst decided (it becomes a review item, reopened if a
        lead had closed it); a degraded item never replaces anything."""
        if not items:
            return StoreReport()
        batch = _one_per_transaction(items)
        now = self.clock_ms()
        with self.engine.begin() as conn:
            existing = _existing_kinds(conn, list(batch))
            report = _classify(batch.values(), existing)
            review = [_item_values(i, now) for i in batch.values() if i.kind is Kind.REVIEW]
            degraded = [_item_values(i, now) for i in batch.values() if i.kind is Kind.DEGRADED]
            if review:
                conn.execute(self._review_upsert(conn), review)
            if degraded:
                conn.execute(self._insert_ignoring(conn), degraded)
        return report

    def _insert_ignoring(self, conn: Connection) -> Insert:
        stmt = _dialect_insert(conn).on_conflict_do_nothing(index_elements=["transaction_id"])
        return cast(Insert, stmt)

    def _review_upsert(self, conn: Connection) -> Insert:
        stmt = _dialect_insert(conn)
        replaced = {name: stmt.excluded[name] for name in REPLACED_ON_SUPERSEDE}
        upsert = stmt.on_conflict_do_update(
            index_elements=["transaction_id"],
            set_=replaced,
            where=(ITEMS.c.kind == Kind.DEGRADED.value) & (ITEMS.c.status != Status.DECIDED.value),
        )
        return cast(Insert, upsert)

    # --- the pages ----------------------------------------------------------------------
    def queue(self, filters: QueueFilter, limit: int = 50, offset: int = 0) -> QueuePage:
        now = self.clock_ms()
        where = _filter_clauses(filters, now)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(ITEMS).where(*where)).scalar_one()
            rows = conn.execute(
                select(*_ROW_COLUMNS).where(*where).order_by(*_order(filters.sort))
                .limit(limit).offset(offset)
            ).all()  # fmt: skip
            counts = _facet_counts(conn, filters)
        return QueuePage([_queue_row(r, now) for r in rows], int(total), counts)

    def next_open(self, filters: QueueFilter, username: str) -> int | None:
        """The first open item in the filter's order that nobody else holds (for "next")."""
        now = self.clock_ms()
        open_filter = QueueFilter(**{**filters.__dict__, "status": Status.OPEN})
        where = [*_filter_clauses(open_filter, now), _free_for(username, now)]
        with self.engine.connect() as conn:
            found = conn.execute(
                select(ITEMS.c.id).where(*where).order_by(*_order(filters.sort)).limit(1)
            ).scalar()
        return None if found is None else int(found)

    def item(self, item_id: int) -> ItemDetail:
        """Raises ``NotFound``."""
        now = self.clock_ms()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_ROW_COLUMNS, ITEMS.c.card_id, ITEMS.c.terminal_id, ITEMS.c.event,
                       ITEMS.c.result, ITEMS.c.supersedes).where(ITEMS.c.id == item_id)
            ).first()  # fmt: skip
            if row is None:
                raise NotFound(f"no item {item_id}; it may have been removed: open the queue")
            decision = conn.execute(select(DECISIONS).where(DECISIONS.c.item_id == item_id)).first()
            return ItemDetail(
                row=_queue_row(row, now),
                card_id=row.card_id,
                terminal_id=row.terminal_id,
                event=row.event,
                result=row.result,
                supersedes=row.supersedes,
                card_history=_history(conn, ITEMS.c.card_id == row.card_id, item_id),
                terminal_history=_history(conn, ITEMS.c.terminal_id == row.terminal_id, item_id),
                decision=None if decision is None else _decision(decision),
                audit=_audit_of(conn, item_id),
            )

    def claim(self, item_id: int, username: str) -> int:
        """Claim (or renew one's own claim on) an open item; when it expires (ms). Raises
        ``ClaimedByOther``, ``AlreadyClosed``, ``NotFound``."""
        now = self.clock_ms()
        until = now + self.claim_ttl_ms
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(ITEMS)
                .where(ITEMS.c.id == item_id, ITEMS.c.status == Status.OPEN.value)
                .where(_free_for(username, now))
                .values(claimed_by=username, claim_expires_at_ms=until)
            ).rowcount
            if not claimed:
                _explain_refusal(conn, item_id, username, now)
            _audit(conn, now, username, "claim", item_id, until_ms=until)
        return until

    def release(self, item_id: int, username: str) -> None:
        """Give one's own claim back (no-op when not held)."""
        now = self.clock_ms()
        with self.engine.begin() as conn:
            released = conn.execute(
                update(ITEMS)
                .where(ITEMS.c.id == item_id, ITEMS.c.claimed_by == username)
                .values(claimed_by=None, claim_expires_at_ms=None)
            ).rowcount
            if released:
                _audit(conn, now, username, "release", item_id)

    def decide(
        self, item_id: int, username: str, outcome: Outcome, reason_code: str, note: str
    ) -> DecisionRecord:
        """Decide an item the caller holds a live claim on; fraud and legitimate also queue
        a label for the publisher (``labels_to_send``). Raises ``NotClaimed`` (no live claim
        of the caller's), ``ClaimedByOther``, ``AlreadyClosed``, ``NotFound``, ``ValueError``
        (a reason code not of that outcome, an outcome not an analyst's)."""
        _check_decision(outcome, reason_code)
        now = self.clock_ms()
        with self.engine.begin() as conn:
            decided = conn.execute(
                update(ITEMS)
                .where(ITEMS.c.id == item_id, ITEMS.c.status == Status.OPEN.value)
                .where(ITEMS.c.claimed_by == username, ITEMS.c.claim_expires_at_ms > now)
                .values(status=Status.DECIDED.value, claimed_by=None, claim_expires_at_ms=None,
                        closed_at_ms=now, closed_by=username)
            ).rowcount  # fmt: skip
            if not decided:
                _explain_refusal(conn, item_id, username, now)
                raise NotClaimed("claim the item before deciding it (your claim may have expired)")
            labelled = outcome in LABELLED
            values = {
                "item_id": item_id,
                "outcome": outcome.value,
                "reason_code": reason_code,
                "note": note,
                "decided_by": username,
                "decided_at_ms": now,
                "label_uid": str(uuid.uuid4()) if labelled else None,
                "label_state": (LabelState.PENDING if labelled else LabelState.NONE).value,
            }
            decision_id = _new_id(conn.execute(insert(DECISIONS).values(values)))
            _audit(conn, now, username, "decide", item_id, outcome=outcome.value,
                   reason_code=reason_code)  # fmt: skip
        return _decision_record({**values, "id": decision_id})

    def close_degraded(self, username: str, item_ids: list[int] | None = None) -> int:
        """A lead closes open degraded-only items (those of ``item_ids``, or all of them)
        that nobody holds; how many. No labels."""
        now = self.clock_ms()
        where = [
            ITEMS.c.kind == Kind.DEGRADED.value,
            ITEMS.c.status == Status.OPEN.value,
            _free_for(username, now),
        ]
        if item_ids is not None:
            where.append(ITEMS.c.id.in_(item_ids))
        with self.engine.begin() as conn:
            closed = conn.execute(
                update(ITEMS).where(*where).values(
                    status=Status.CLOSED.value, closed_at_ms=now, closed_by=username,
                    claimed_by=None, claim_expires_at_ms=None)
            ).rowcount  # fmt: skip
            scope = "all" if item_ids is None else "selected"
            _audit(conn, now, username, "bulk_close", None, closed=closed, scope=scope)
        return int(closed)

    def stats(self) -> Stats:
        now = self.clock_ms()
        since = (now // HOUR_MS - 23) * HOUR_MS
        with self.engine.connect() as conn:
            open_counts: dict[str, int] = dict(
                conn.execute(
                    select(ITEMS.c.kind, func.count())
                    .where(ITEMS.c.status == Status.OPEN.value).group_by(ITEMS.c.kind)
                ).all()
            )
            hours = conn.execute(
                select(DECISIONS.c.decided_at_ms).where(DECISIONS.c.decided_at_ms >= since)
            ).scalars()
            judged = _judged(conn)
            oldest = self._oldest(conn, now)
        per_hour = {since + i * HOUR_MS: 0 for i in range(24)}
        for at in hours:
            per_hour[at // HOUR_MS * HOUR_MS] += 1
        return Stats(
            open_review=int(open_counts.get(Kind.REVIEW.value, 0)),
            open_degraded=int(open_counts.get(Kind.DEGRADED.value, 0)),
            oldest_open_age_s=oldest,
            decisions_per_hour=sorted(per_hour.items()),
            review_precision=_precision(judged.get("review", {})),
            block_precision=_precision(judged.get("block", {})),
            judged=judged,
        )

    def depth_by_band(self) -> dict[str, int]:
        """Open review items per priority band (``PRIORITY_BANDS``), for /metrics."""
        band = case(
            *((ITEMS.c.priority < upper, name) for name, _lower, upper in PRIORITY_BANDS[:-1]),
            else_=PRIORITY_BANDS[-1][0],
        )
        with self.engine.connect() as conn:
            found: dict[str, int] = dict(
                conn.execute(
                    select(band, func.count()).where(*_open_review()).group_by(band)
                ).all()
            )
        return {name: int(found.get(name, 0)) for name, _lower, _upper in PRIORITY_BANDS}

    def oldest_open_age_s(self) -> float | None:
        with self.engine.connect() as conn:
            return self._oldest(conn, self.clock_ms())

    @staticmethod
    def _oldest(conn: Connection, now: int) -> float | None:
        oldest = conn.execute(select(func.min(ITEMS.c.scored_at_ms)).where(*_open_review()))
        first = oldest.scalar()
        return None if first is None else max(0.0, (now - int(first)) / 1000)

    # --- the label publisher ------------------------------------------------------------
    def labels_to_send(self, limit: int = 500) -> list[LabelToSend]:
        """Decisions whose label is PENDING or SENDING, oldest first."""
        states = (LabelState.PENDING.value, LabelState.SENDING.value)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(DECISIONS, ITEMS.c.transaction_id, ITEMS.c.card_id, ITEMS.c.terminal_id,
                       ITEMS.c.event_time_ms)
                .join(ITEMS, ITEMS.c.id == DECISIONS.c.item_id)
                .where(DECISIONS.c.label_state.in_(states))
                .order_by(DECISIONS.c.id).limit(limit)
            ).all()  # fmt: skip
        return [_label_to_send(row) for row in rows]

    def mark_sending(self, decision_ids: list[int], sent_after: dict[int, int]) -> list[int]:
        """PENDING → SENDING with the partitions' end offsets before producing; the ids this
        call moved (another publisher may have taken some)."""
        snapshot = {str(partition): offset for partition, offset in sent_after.items()}
        moved = []
        with self.engine.begin() as conn:
            for decision_id in decision_ids:
                done = conn.execute(
                    update(DECISIONS)
                    .where(DECISIONS.c.id == decision_id)
                    .where(DECISIONS.c.label_state == LabelState.PENDING.value)
                    .values(label_state=LabelState.SENDING.value, label_sent_after=snapshot)
                ).rowcount
                if done:
                    moved.append(decision_id)
        return moved

    def mark_published(self, positions: dict[int, tuple[int, int]]) -> None:
        """SENDING → PUBLISHED, with each decision's (partition, offset)."""
        with self.engine.begin() as conn:
            for decision_id, (partition, offset) in positions.items():
                conn.execute(
                    update(DECISIONS)
                    .where(DECISIONS.c.id == decision_id)
                    .where(DECISIONS.c.label_state == LabelState.SENDING.value)
                    .values(label_state=LabelState.PUBLISHED.value, label_partition=partition,
                            label_offset=offset)
                )  # fmt: skip

    def mark_pending(self, decision_ids: list[int]) -> None:
        """SENDING → PENDING: recovery found no record of them; send again."""
        with self.engine.begin() as conn:
            conn.execute(
                update(DECISIONS)
                .where(DECISIONS.c.id.in_(decision_ids))
                .where(DECISIONS.c.label_state == LabelState.SENDING.value)
                .values(label_state=LabelState.PENDING.value, label_sent_after=None)
            )

    # --- users and audit ----------------------------------------------------------------
    def add_user(self, username: str, password_hash: str, role: Role) -> User:
        """Raises ``UserExists``."""
        values = {
            "username": username,
            "password_hash": password_hash,
            "role": role.value,
            "active": True,
            "created_at_ms": self.clock_ms(),
        }
        try:
            with self.engine.begin() as conn:
                user_id = _new_id(conn.execute(insert(USERS).values(values)))
        except IntegrityError:
            raise UserExists(
                f"user {username!r} exists; set a new password with "
                f"`fraud-worker triage user passwd {username}`"
            ) from None
        return User(int(user_id), username, role, password_hash, True)

    def set_password(self, username: str, password_hash: str) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(USERS).where(USERS.c.username == username)
                .values(password_hash=password_hash)
            ).rowcount  # fmt: skip
        if not changed:
            raise NotFound(f"no user {username!r}; add one with `fraud-worker triage user add`")

    def user(self, username: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(USERS).where(USERS.c.username == username)).first()
        if row is None:
            return None
        return User(row.id, row.username, Role(row.role), row.password_hash, bool(row.active))

    def audit(
        self, username: str, action: str, item_id: int | None = None, **detail: object
    ) -> None:
        """Record an action outside the others (login, failed login)."""
        with self.engine.begin() as conn:
            _audit(conn, self.clock_ms(), username, action, item_id, **detail)

    def ping(self) -> None:
        """Raise unless the database answers (readiness)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


# --- storing ------------------------------------------------------------------------------
def _one_per_transaction(items: list[IncomingItem]) -> dict[str, IncomingItem]:
    """The batch with one item per transaction: the first, unless a later one is a review
    item for a degraded one (the same rule as against stored items)."""
    batch: dict[str, IncomingItem] = {}
    for item in items:
        kept = batch.get(item.transaction_id)
        if kept is None or (kept.kind is Kind.DEGRADED and item.kind is Kind.REVIEW):
            batch[item.transaction_id] = item
    return batch


def _existing_kinds(conn: Connection, transaction_ids: list[str]) -> dict[str, tuple[str, str]]:
    rows = conn.execute(
        select(ITEMS.c.transaction_id, ITEMS.c.kind, ITEMS.c.status)
        .where(ITEMS.c.transaction_id.in_(transaction_ids))
    ).all()  # fmt: skip
    return {row.transaction_id: (row.kind, row.status) for row in rows}


def _classify(items: Iterable[IncomingItem], existing: dict[str, tuple[str, str]]) -> StoreReport:
    inserted = superseded = repeated = 0
    for item in items:
        stored = existing.get(item.transaction_id)
        if stored is None:
            inserted += 1
        elif (
            item.kind is Kind.REVIEW
            and stored[0] == Kind.DEGRADED.value
            and stored[1] != Status.DECIDED.value
        ):
            superseded += 1
        else:
            repeated += 1
    return StoreReport(inserted=inserted, superseded=superseded, repeated=repeated)


def _finite(value: Any) -> Any:
    """Non-finite floats as None, in nested records too: an event's own bad value (a NaN
    amount, flagged by the worker) must not make its item unstorable — JSON has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_finite(inner) for inner in value]
    return value


def _item_values(item: IncomingItem, now: int) -> dict[str, Any]:
    result, event = _finite(item.result), _finite(item.event)
    return {
        "transaction_id": item.transaction_id,
        "kind": item.kind.value,
        "status": Status.OPEN.value,
        "card_id": event["card_id"],
        "terminal_id": event["terminal_id"],
        "event_time_ms": event["event_time_ms"],
        "scored_at_ms": result["scored_at_ms"],
        "stored_at_ms": now,
        "amount": event["amount"],
        "currency": event["currency"],
        "merchant_category": event["merchant_category"],
        "channel": event["channel"],
        "country": event["country"],
        "score": result["score"] if result["score"] is not None else 0.0,
        "decision": result["decision"],
        "source": result["source"],
        "priority": _finite(item.priority) or 0.0,
        "review_reasons": list(item.review_reasons),
        "reasons_text": " " + " ".join(item.review_reasons) + " ",
        "event": event,
        "result": result,
        "supersedes": _finite(item.supersedes),
        "source_topic": item.topic,
        "source_partition": item.partition,
        "source_offset": item.offset,
        "closed_at_ms": None,
        "closed_by": None,
    }


def _dialect_insert(conn: Connection) -> Any:
    """INSERT … ON CONFLICT of the connection's database (both have it, spelled alike)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(ITEMS)
    return sqlite.insert(ITEMS)


# --- reading ------------------------------------------------------------------------------
_ROW_COLUMNS = (
    ITEMS.c.id, ITEMS.c.transaction_id, ITEMS.c.kind, ITEMS.c.status, ITEMS.c.scored_at_ms,
    ITEMS.c.event_time_ms, ITEMS.c.amount, ITEMS.c.currency, ITEMS.c.merchant_category,
    ITEMS.c.channel, ITEMS.c.country, ITEMS.c.score, ITEMS.c.decision, ITEMS.c.source,
    ITEMS.c.review_reasons, ITEMS.c.priority, ITEMS.c.claimed_by, ITEMS.c.claim_expires_at_ms,
    ITEMS.c.supersedes,
)  # fmt: skip


def _open_review() -> list[ColumnElement[bool]]:
    return [ITEMS.c.kind == Kind.REVIEW.value, ITEMS.c.status == Status.OPEN.value]


def _free_for(username: str, now: int) -> ColumnElement[bool]:
    """Nobody else holds a live claim on the item."""
    return or_(
        ITEMS.c.claimed_by.is_(None),
        ITEMS.c.claimed_by == username,
        ITEMS.c.claim_expires_at_ms <= now,
    )


def _filter_clauses(filters: QueueFilter, now: int) -> list[ColumnElement[bool]]:
    c = ITEMS.c
    where = [c.kind == filters.kind.value, c.status == filters.status.value]
    equal = {"decision": filters.decision, "source": filters.source, "country": filters.country}
    where += [getattr(c, name) == value for name, value in equal.items() if value is not None]
    if filters.reason:
        escaped = filters.reason.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(c.reasons_text.like(f"% {escaped}%", escape="\\"))
    if filters.min_amount is not None:
        where.append(c.amount >= filters.min_amount)
    if filters.max_amount is not None:
        where.append(c.amount <= filters.max_amount)
    if filters.max_age_s is not None:
        where.append(c.scored_at_ms >= now - int(filters.max_age_s * 1000))
    if filters.min_age_s is not None:
        where.append(c.scored_at_ms <= now - int(filters.min_age_s * 1000))
    return where


def _order(sort: str) -> list[Any]:
    c = ITEMS.c
    orders: dict[str, list[Any]] = {
        "priority": [c.priority.desc(), c.id],
        "newest": [c.scored_at_ms.desc(), c.id.desc()],
        "oldest": [c.scored_at_ms, c.id],
    }
    if sort not in orders:
        raise ValueError(f"sort must be one of {', '.join(orders)}, not {sort!r}")
    return orders[sort]


def _facet_counts(conn: Connection, filters: QueueFilter) -> dict[str, dict[str, int]]:
    base = [ITEMS.c.kind == filters.kind.value, ITEMS.c.status == filters.status.value]
    counts = {}
    for facet in ("decision", "source"):
        column = ITEMS.c[facet]
        rows = conn.execute(select(column, func.count()).where(*base).group_by(column)).all()
        counts[facet] = {str(value): int(n) for value, n in rows}
    return counts


def _queue_row(row: Any, now: int) -> QueueRow:
    live = row.claimed_by is not None and (row.claim_expires_at_ms or 0) > now
    return QueueRow(
        id=row.id,
        transaction_id=row.transaction_id,
        kind=Kind(row.kind),
        status=Status(row.status),
        scored_at_ms=row.scored_at_ms,
        event_time_ms=row.event_time_ms,
        amount=row.amount,
        currency=row.currency,
        merchant_category=row.merchant_category,
        channel=row.channel,
        country=row.country,
        score=row.score,
        decision=row.decision,
        source=row.source,
        review_reasons=list(row.review_reasons),
        priority=row.priority,
        claimed_by=row.claimed_by if live else None,
        claim_expires_at_ms=row.claim_expires_at_ms if live else None,
        superseded=row.supersedes is not None,
    )


def _history(conn: Connection, same: ColumnElement[bool], item_id: int) -> list[HistoryRow]:
    rows = conn.execute(
        select(ITEMS.c.id, ITEMS.c.transaction_id, ITEMS.c.event_time_ms, ITEMS.c.amount,
               ITEMS.c.currency, ITEMS.c.score, ITEMS.c.decision, ITEMS.c.source, ITEMS.c.status,
               DECISIONS.c.outcome)
        .outerjoin(DECISIONS, DECISIONS.c.item_id == ITEMS.c.id)
        .where(same, ITEMS.c.id != item_id)
        .order_by(ITEMS.c.event_time_ms.desc()).limit(HISTORY_LIMIT)
    ).all()  # fmt: skip
    return [
        HistoryRow(r.id, r.transaction_id, r.event_time_ms, r.amount, r.currency, r.score,
                   r.decision, r.source, Status(r.status), r.outcome)
        for r in rows
    ]  # fmt: skip


def _audit_of(conn: Connection, item_id: int) -> list[AuditEntry]:
    rows = conn.execute(
        select(AUDIT).where(AUDIT.c.item_id == item_id).order_by(AUDIT.c.id)
    ).all()
    return [AuditEntry(r.at_ms, r.username, r.action, r.item_id, dict(r.detail)) for r in rows]


def _decision(row: Any) -> DecisionRecord:
    return _decision_record(row._asdict())


def _decision_record(values: dict[str, Any]) -> DecisionRecord:
    return DecisionRecord(
        id=int(values["id"]),
        item_id=int(values["item_id"]),
        outcome=Outcome(values["outcome"]),
        reason_code=values["reason_code"],
        note=values["note"],
        decided_by=values["decided_by"],
        decided_at_ms=int(values["decided_at_ms"]),
        label_state=LabelState(values["label_state"]),
    )


def _judged(conn: Connection) -> dict[str, dict[str, int]]:
    """Decided items by what the worker said and what the analyst found."""
    rows = conn.execute(
        select(ITEMS.c.decision, DECISIONS.c.outcome, func.count())
        .join(DECISIONS, DECISIONS.c.item_id == ITEMS.c.id)
        .group_by(ITEMS.c.decision, DECISIONS.c.outcome)
    ).all()  # fmt: skip
    judged: dict[str, dict[str, int]] = {}
    for said, found, n in rows:
        judged.setdefault(str(said), {})[str(found)] = int(n)
    return judged


def _precision(outcomes: dict[str, int]) -> float | None:
    fraud = outcomes.get(Outcome.FRAUD.value, 0)
    judged = fraud + outcomes.get(Outcome.LEGITIMATE.value, 0)
    return fraud / judged if judged else None


def _label_to_send(row: Any) -> LabelToSend:
    note = row.reason_code + (f": {row.note}" if row.note else "")
    record = {
        "transaction_id": row.transaction_id,
        "card_id": row.card_id,
        "terminal_id": row.terminal_id,
        "event_time_ms": row.event_time_ms,
        "outcome": row.outcome,
        "label_source": "analyst",
        "known_at_ms": row.decided_at_ms,
        "decided_by": row.decided_by,
        "note": note,
    }
    sent_after = row.label_sent_after
    return LabelToSend(
        decision_id=row.id,
        label_uid=row.label_uid,
        record=record,
        state=LabelState(row.label_state),
        sent_after=None if sent_after is None else {int(p): int(o) for p, o in sent_after.items()},
    )


# --- refusals and the audit trail ---------------------------------------------------------
def _check_decision(outcome: Outcome, reason_code: str) -> None:
    if outcome not in ANALYST_OUTCOMES:
        raise ValueError("an analyst decides fraud, legitimate or can't tell")
    codes = REASON_CODES[outcome]
    if reason_code not in codes:
        raise ValueError(f"reason code for {outcome.value} must be one of {', '.join(codes)}")


def _explain_refusal(conn: Connection, item_id: int, username: str, now: int) -> None:
    """Why a claim or a decision did not apply: raises the matching refusal (returns only
    when the caller holds no live claim on an open item nobody else holds)."""
    row = conn.execute(
        select(ITEMS.c.status, ITEMS.c.claimed_by, ITEMS.c.claim_expires_at_ms)
        .where(ITEMS.c.id == item_id)
    ).first()  # fmt: skip
    if row is None:
        raise NotFound(f"no item {item_id}; open the queue")
    if row.status != Status.OPEN.value:
        raise AlreadyClosed(f"item {item_id} is {row.status} already; open the next one")
    live = row.claimed_by is not None and (row.claim_expires_at_ms or 0) > now
    if live and row.claimed_by != username:
        raise ClaimedByOther(row.claimed_by, int(row.claim_expires_at_ms))


def _audit(
    conn: Connection, now: int, username: str, action: str, item_id: int | None, **detail: object
) -> None:
    conn.execute(
        insert(AUDIT).values(at_ms=now, username=username, action=action, item_id=item_id,
                             detail=detail)
    )  # fmt: skip




def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table here has an integer primary key
        raise RuntimeError("the database returned no primary key")
    return int(key[0])
