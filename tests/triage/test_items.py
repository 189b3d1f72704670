"""Review and degraded items of both writer versions become queue items; anything else is a
dead letter, and a registry that fails stops the batch instead of dead-lettering it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastavro.types import Schema

from tests.factories import BASE_EVENT
from tests.kafka.stubs import StubMessage
from tests.triage.factories import review_record
from worker.codec import (
    LocalSchemaRegistry,
    RecordEncoder,
    SchemaRegistry,
    SchemaRegistryError,
    default_schemas_dir,
)
from worker.settings import TopicSettings
from worker.triage.items import ItemDecoder, item_kinds
from worker.triage.types import Kind

REGISTRY = LocalSchemaRegistry(default_schemas_dir())
V1 = RecordEncoder.for_schema_id(REGISTRY, 200)
V2 = RecordEncoder.for_schema_id(REGISTRY, 201)
TOPICS = TopicSettings(review="review", degraded="degraded")
CARD = BASE_EVENT["card_id"]  # also the card of the wrong-schema record below
SUPERSEDED = {"source": "fallback", "score": 0.1, "decision": "allow", "scored_at_ms": 0}


def item(transaction_id: str = "tx1", amount: float = 300.0, **fields: Any) -> dict[str, Any]:
    return review_record(transaction_id, score=0.6, amount=amount, card_id=CARD, **fields)


def message(value: bytes | None, topic: str = "review", offset: int = 0) -> StubMessage:
    return StubMessage(topic, 2, offset, value, CARD.encode())


def decoder(include_degraded: bool = True, registry: SchemaRegistry = REGISTRY) -> ItemDecoder:
    return ItemDecoder(registry, item_kinds(TOPICS, include_degraded))


def test_a_v2_item_keeps_its_priority_and_where_it_was_read() -> None:
    value = V2.encode(item(priority=42.0, supersedes=SUPERSEDED))
    decoded = decoder().decode([message(value, offset=7)])  # type: ignore[list-item]
    assert decoded.rejected == []
    [queued] = decoded.items
    assert queued.kind is Kind.REVIEW and queued.transaction_id == "tx1"
    assert queued.priority == 42.0 and queued.supersedes == SUPERSEDED
    assert (queued.topic, queued.partition, queued.offset) == ("review", 2, 7)
    assert queued.result == item()["result"] and queued.event["amount"] == 300.0
    assert queued.review_reasons == ["decision:review"]


def test_a_v1_item_gets_score_times_amount_and_no_supersedes() -> None:
    decoded = decoder().decode([message(V1.encode(item()))])  # type: ignore[list-item]
    [queued] = decoded.items
    assert queued.priority == pytest.approx(0.6 * 300.0)
    assert queued.supersedes is None
    assert queued.event == item()["event"]


def test_a_v1_item_with_an_unusable_amount_gets_priority_zero() -> None:
    decoded = decoder().decode([message(V1.encode(item(amount=math.nan)))])  # type: ignore[list-item]
    assert decoded.items[0].priority == 0.0


def test_a_non_finite_v2_priority_becomes_zero_so_the_queue_sorts_by_something() -> None:
    value = V2.encode(item(priority=math.inf))
    assert decoder().decode([message(value)]).items[0].priority == 0.0  # type: ignore[list-item]


def test_items_of_the_degraded_topic_are_degraded_items() -> None:
    value = V2.encode(item(priority=1.0))
    decoded = decoder().decode([message(value, "degraded")])  # type: ignore[list-item]
    assert [i.kind for i in decoded.items] == [Kind.DEGRADED]


def test_without_degraded_items_only_the_review_topic_is_read() -> None:
    assert item_kinds(TOPICS, include_degraded=False) == {"review": Kind.REVIEW}
    assert item_kinds(TOPICS, include_degraded=True) == {
        "review": Kind.REVIEW,
        "degraded": Kind.DEGRADED,
    }


def test_garbage_and_items_without_a_transaction_id_are_dead_letters() -> None:
    good = message(V2.encode(item(priority=1.0)), offset=0)
    garbage = message(b"not avro at all", offset=1)
    empty = message(None, offset=2)
    nameless = message(V2.encode(item(transaction_id="", priority=1.0)), offset=3)
    wrong_schema = message(RecordEncoder.for_schema_id(REGISTRY, 2).encode(BASE_EVENT), offset=4)
    decoded = decoder().decode([good, garbage, empty, nameless, wrong_schema])  # type: ignore[list-item]
    assert [i.offset for i in decoded.items] == [0]
    codes = {r.message.offset(): r.code for r in decoded.rejected}
    assert codes == {
        1: "wrong_magic_byte",
        2: "empty",
        3: "invalid_item",
        4: "invalid_body",
    }
    assert all(CARD not in r.error for r in decoded.rejected), "no card data in the error"


class FailingRegistry:
    """The local registry's schemas, until it "goes away"."""

    def schema(self, schema_id: int) -> Schema:
        raise SchemaRegistryError("registry unreachable")

    def latest_id(self, subject: str) -> int:
        return REGISTRY.latest_id(subject)


def test_a_registry_that_fails_propagates_instead_of_dead_lettering() -> None:
    items = decoder(registry=FailingRegistry())
    with pytest.raises(SchemaRegistryError):
        items.decode([message(V2.encode(item(priority=1.0)))])  # type: ignore[list-item]
