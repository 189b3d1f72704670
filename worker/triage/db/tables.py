"""The queue's tables (SQLAlchemy 2 declarative). A change here needs a migration in
``migrations/versions/`` — ``test_migrations`` checks that the two agree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_CHARS = 128  # transaction, card and terminal ids
NAME_CHARS = 64  # user names, codes, enums


class Base(DeclarativeBase):
    pass


class Item(Base):
    """One transaction in the queue (review or degraded-only), with what the worker said."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(ID_CHARS), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    card_id: Mapped[str] = mapped_column(String(ID_CHARS), index=True)
    terminal_id: Mapped[str] = mapped_column(String(ID_CHARS), index=True)
    event_time_ms: Mapped[int] = mapped_column(BigInteger)
    scored_at_ms: Mapped[int] = mapped_column(BigInteger)
    stored_at_ms: Mapped[int] = mapped_column(BigInteger)
    # None when the event's own amount was not a finite number (flagged invalid_amount).
    amount: Mapped[float | None] = mapped_column(Float, nullable=True)
    currency: Mapped[str] = mapped_column(String(8))
    merchant_category: Mapped[str] = mapped_column(String(NAME_CHARS))
    channel: Mapped[str] = mapped_column(String(NAME_CHARS))
    country: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    priority: Mapped[float] = mapped_column(Float)
    review_reasons: Mapped[list[str]] = mapped_column(JSON)
    # The reasons as " a b c ", so a reason prefix filters with LIKE on any database.
    reasons_text: Mapped[str] = mapped_column(Text)
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    supersedes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    source_topic: Mapped[str] = mapped_column(String(255))
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)
    claimed_by: Mapped[str | None] = mapped_column(String(NAME_CHARS), nullable=True)
    claim_expires_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    closed_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(NAME_CHARS), nullable=True)

    __table_args__ = (
        Index("ix_items_open_priority", "kind", "status", "priority"),
        Index("ix_items_open_scored", "kind", "status", "scored_at_ms"),
    )


class Decision(Base):
    """An analyst's decision on an item, and where its label is on the way to Kafka."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str] = mapped_column(String(NAME_CHARS))
    note: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(NAME_CHARS))
    decided_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    label_uid: Mapped[str | None] = mapped_column(String(36), unique=True, nullable=True)
    label_state: Mapped[str] = mapped_column(String(16), index=True)
    label_sent_after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    label_partition: Mapped[int | None] = mapped_column(Integer, nullable=True)
    label_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AuditEvent(Base):
    """Every claim, release, decision, bulk close and login: who, what, when."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    username: Mapped[str] = mapped_column(String(NAME_CHARS))
    action: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class Account(Base):
    """An analyst's or a lead's login (the password as an argon2 hash)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(NAME_CHARS), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
