"""The Redis feature store gives exactly the features training computes (no train/serve
skew), with labels fed the way production feeds them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import redis
from numpy.typing import NDArray

from worker.breaker import BreakerConfig, BreakerState, CircuitBreaker
from worker.events import EventBatch
from worker.features.deferred import PendingTerminals
from worker.features.stateful import STATEFUL_FEATURES as STATEFUL
from worker.features.stateful import offline_aggregates, stateful_features
from worker.features.store import KEYS_PER_CALL, LAYOUT, RedisFeatureStore
from worker.labels import apply_labels
from worker.ladder import Ladder, score_batch
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.primary import PrimaryLevel
from worker.ladder.types import SOURCES
from worker.ladder.writes import WriteBehind
from worker.models.manifest import load_manifest
from worker.models.primary import PrimaryModel
from worker.redis_io import round_trip
from worker.simulator import SimulationConfig, simulate
from worker.simulator.labels import ChargebackConfig, chargebacks, label_records


def _calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


@pytest.mark.parametrize("owner", [True, False], ids=["owner-cards", "shared-cards"])
@pytest.mark.parametrize("hold_s", [0.0, 3600.0], ids=["terminals-every-batch", "held"])
@pytest.mark.parametrize("coverage", [0.9, 1.0])
def test_online_features_equal_training_features_under_the_same_label_feed(
    redis_client: redis.Redis, coverage: float, hold_s: float, owner: bool
) -> None:
    """The labels go the way production sends them — the simulator's chargebacks, each batch
    of events preceded by the labels known by its last event (``stream_with_labels``),
    applied by the labels consumer's ``apply_labels`` — and the features served equal
    training's under the same delay (the handbook's 7 days) and coverage. Held: the worker's
    writes (``update_commands``) with terminal counts kept back, added to the reads that
    could see them.
    Owner cards: the cards' writes decided in the worker (``owned.py``), not by the script."""
    transactions = simulate(SimulationConfig(n_customers=200, n_terminals=400, n_days=50, seed=7))
    batch = EventBatch.from_columns(transactions.columns())
    feed = chargebacks(transactions, 7, ChargebackConfig(delay_days=7.0, coverage=coverage))
    offline_cards, offline_terms = offline_aggregates(
        batch, feed.reported(len(batch)), feed.config.delay_ms
    )
    expected = stateful_features(batch, offline_cards, offline_terms)

    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    store = RedisFeatureStore(redis_client, prefix, terminal_hold_s=hold_s, owner_writes=owner)
    applied = 0
    online = []
    held = []
    for start in range(0, len(batch), 333):
        rows = np.arange(start, min(start + 333, len(batch)))
        part = batch.take(rows)
        known = int(np.searchsorted(feed.known_at_ms, part.event_time_ms[-1], side="right"))
        apply_labels(store, label_records(transactions, feed, applied, known), 86_400)
        applied = known
        held.append(len(store.pending))
        cards, terms = store.aggregates(part)
        round_trip(redis_client, store.update_commands(part))
        online.append(stateful_features(part, cards, terms))

    assert np.array_equal(np.vstack(online), expected)
    assert (max(held) > 333) == (hold_s > 0), "held: terminal counts of several batches wait"
    assert expected[:, :3].max() > 1, "cards accumulate history"
    assert expected[:, 9:12].max() > 0, "terminal risk is not zero"


@pytest.mark.parametrize("customers", [50, 400])
def test_a_batch_is_one_mget_to_read_and_a_script_call_per_256_keys_to_update(
    redis_client: redis.Redis, customers: int
) -> None:
    """Cards: a key per card and day; terminals: a key per terminal, all its days at once."""
    config = SimulationConfig(n_customers=customers, n_terminals=2 * customers, n_days=3, seed=1)
    batch = EventBatch.from_columns(simulate(config).columns())
    day = batch.epoch_day
    card_keys = len(set(zip(batch.card_id.tolist(), day.tolist(), strict=True)))
    terminal_keys = len(set(batch.terminal_id.tolist()))
    store = RedisFeatureStore(redis_client, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    store.update(batch)
    before = (_calls(redis_client, "mget"), _calls(redis_client, "eval"))
    store.aggregates(batch)
    store.update(batch)
    after = (_calls(redis_client, "mget"), _calls(redis_client, "eval"))
    script_calls = -(-card_keys // KEYS_PER_CALL) + -(-terminal_keys // KEYS_PER_CALL)
    assert (after[0] - before[0], after[1] - before[1]) == (1, script_calls)
    assert (customers == 50) == (script_calls == 2)


DAY_MS = 86_400_000


def _day_batch(day: int, card: str = "c_1", terminal: str = "t_1") -> EventBatch:
    from tests.factories import make_batch

    return make_batch(
        {"event_time_ms": day * DAY_MS + 3_600_000, "card_id": card, "terminal_id": terminal}
    )


def _card_count(store: RedisFeatureStore, day: int) -> int:
    """Transactions of card c_1 on ``day`` in its 1-day window, as the store reads them."""
    cards, _ = store.aggregates(_day_batch(day, card="c_1"))
    return int(cards[0, 0, 0]) - 1  # minus the reading event itself


def test_hints_gone_stale_between_read_and_write_never_change_a_count(
    redis_client: redis.Redis,
) -> None:
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    first, second = RedisFeatureStore(redis_client, prefix), RedisFeatureStore(redis_client, prefix)
    day = 20_000
    batch = _day_batch(day)
    first.aggregates(batch)
    second.aggregates(batch)  # both read an empty slot: both will start the day
    first.update(batch)
    second.update(batch)  # started a day that was already there: keeps the first count
    assert _card_count(first, day) == 2

    reader = RedisFeatureStore(redis_client, prefix)
    reader.aggregates(batch)  # this day is in its slot: the hint says add
    later = day + 32  # the same slot of a card's 32-slot ring
    writer = RedisFeatureStore(redis_client, prefix)
    writer.aggregates(_day_batch(later))
    writer.update(_day_batch(later))  # the slot moves on to a later day
    reader.update(batch)  # too old for the ring now: the later day's count stays
    assert _card_count(reader, later) == 1


def test_a_late_day_never_overwrites_a_later_one(redis_client: redis.Redis) -> None:
    store = RedisFeatureStore(redis_client, f"test:{uuid.uuid4().hex[:8]}:")
    day = 20_000
    store.aggregates(_day_batch(day + 32))
    store.update(_day_batch(day + 32))
    fresh = RedisFeatureStore(redis_client, store.prefix)  # no hints: starts the old day
    fresh.update(_day_batch(day))
    assert _card_count(store, day + 32) == 1


def test_the_expiry_is_pushed_out_once_every_few_days(redis_client: redis.Redis) -> None:
    store = RedisFeatureStore(redis_client, f"test:{uuid.uuid4().hex[:8]}:", ttl_days=45)
    assert store.renew_every_days == 7
    key = f"{store.prefix}c{LAYOUT}:c_1"
    day = 20_000
    store.update(_day_batch(day))
    assert redis_client.ttl(key) > 44 * 86_400
    redis_client.expire(key, 1000)
    store.update(_day_batch(day + 6))
    assert redis_client.ttl(key) <= 1000, "renewed too soon"
    store.update(_day_batch(day + 7))
    assert redis_client.ttl(key) > 44 * 86_400


BAD_ROWS = [
    pytest.param({"amount": 1e15}, id="amount-1e15"),
    pytest.param({"event_time_ms": 4 * 10**17}, id="time-4e17"),
]


def _valid_batch(n_customers: int = 40) -> EventBatch:
    config = SimulationConfig(n_customers=n_customers, n_terminals=80, n_days=4, seed=5)
    return EventBatch.from_columns(simulate(config).columns())


def _with_bad_row(batch: EventBatch, bad: dict[str, float]) -> EventBatch:
    """The batch plus, at its end, a row of its first card and terminal with one bad value."""
    records = batch.records()
    records.append({**records[0], "transaction_id": "bad-row", **bad})
    return EventBatch.from_records(records)


def _store_contents(client: redis.Redis, prefix: str) -> dict[bytes, bytes | None]:
    keys = sorted(client.scan_iter(match=f"{prefix}*", count=1000))
    return {key[len(prefix) :]: client.get(key) for key in keys}


@pytest.mark.parametrize("bad", BAD_ROWS)
def test_a_row_the_store_cannot_encode_is_left_out_of_reads_and_writes(
    redis_client: redis.Redis, bad: dict[str, float]
) -> None:
    """Even offered such a row, the store neither fails the others' script nor lets the row
    change anybody's aggregates: it is dropped from the update and from the batch's sums."""
    batch = _valid_batch()
    n = len(batch)
    plain = RedisFeatureStore(redis_client, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    mixed = RedisFeatureStore(redis_client, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    for _ in range(2):  # the second round reads what the first wrote
        expected = plain.aggregates(batch)
        plain.update(batch)
        got = mixed.aggregates(_with_bad_row(batch, bad))
        mixed.update(_with_bad_row(batch, bad))
        assert np.array_equal(got[0][:n], expected[0])
        assert np.array_equal(got[1][:n], expected[1])
    assert _store_contents(redis_client, mixed.prefix) == _store_contents(
        redis_client, plain.prefix
    )


def _recording_primary() -> tuple[PrimaryModel, list[NDArray[np.float32]]]:
    """The committed primary, keeping every feature matrix it is given."""
    models = Path(__file__).resolve().parents[2] / "models"
    model = PrimaryModel.load(models, load_manifest(models), prefer_gpu=False)
    seen: list[NDArray[np.float32]] = []

    class Recording(PrimaryModel):
        def predict(
            self, features: NDArray[np.float32], options: ort.RunOptions | None = None
        ) -> NDArray[np.float32]:
            seen.append(features.copy())
            return super().predict(features, options)

    return Recording(model.session, model.features, model.provider), seen


def _store_ladder(client: redis.Redis, prefix: str) -> tuple[Ladder, PrimaryLevel, list[Any]]:
    model, seen = _recording_primary()
    config = BreakerConfig(window_size=4, minimum_calls=1)
    level = PrimaryLevel(
        model,
        RedisFeatureStore(client, prefix=prefix),
        CircuitBreaker("feature_store", config),
        CircuitBreaker("primary", config),
        timeout_s=5.0,
        writes=WriteBehind(client),
    )
    ladder = Ladder([level, SafeDefaultLevel()], None, DecisionPolicy(), "v")
    return ladder, level, seen


@pytest.mark.parametrize("bad", BAD_ROWS)
def test_a_rows_bad_value_stays_that_rows_problem(
    redis_client: redis.Redis, bad: dict[str, float]
) -> None:
    """Through the ladder and the real store: the bad row is flagged and skips the models, the
    store's breaker records no failure, and its neighbours get exactly the features (and the
    store exactly the contents) they get without it."""
    plain, plain_level, plain_seen = _store_ladder(redis_client, f"test:{uuid.uuid4().hex[:8]}:")
    mixed, mixed_level, mixed_seen = _store_ladder(redis_client, f"test:{uuid.uuid4().hex[:8]}:")
    batch = _valid_batch(n_customers=60)
    for start in range(0, len(batch), 100):
        part = batch.take(np.arange(start, min(start + 100, len(batch))))
        score_batch(part, plain)
        out = score_batch(_with_bad_row(part, bad), mixed)
        assert out.tags.names(int(out.flags[-1])) == _flag_of(bad)
        assert SOURCES[out.source[-1]].value == "safe_default"
        assert {SOURCES[c].value for c in out.source[:-1]} == {"primary"}
    plain_level.writes.wait()
    mixed_level.writes.wait()
    assert len(mixed_seen) == len(plain_seen) > 1
    for got, expected in zip(mixed_seen, plain_seen, strict=True):
        assert np.array_equal(got, expected)
    for level in (mixed_level.store_breaker, mixed_level.breaker):
        snapshot = level.snapshot()
        assert snapshot.state is BreakerState.CLOSED
        assert snapshot.calls_by_outcome["failure"] == 0
    assert _store_contents(redis_client, mixed_level.store.prefix) == _store_contents(
        redis_client, plain_level.store.prefix
    )
    mixed_level.close()
    plain_level.close()


def _flag_of(bad: dict[str, float]) -> list[str]:
    return ["invalid_amount"] if "amount" in bad else ["invalid_time"]


def _skewed_order(batch: EventBatch, groups: int, chunk: int) -> list[NDArray[np.intp]]:
    """Batches the way a member reads partitions: each group of cards in time order, the
    groups interleaved chunk by chunk with the first one days ahead of the others."""
    codes = np.array([hash(c) % groups for c in batch.card_id.tolist()])
    queues = [list(np.flatnonzero(codes == g)) for g in range(groups)]
    order: list[NDArray[np.intp]] = []
    turn = 0
    while any(queues):
        g = 0 if turn % 3 else 1 + (turn // 3) % (groups - 1)  # group 0 read twice as often
        turn += 1
        if queues[g]:
            order.append(np.array(queues[g][:chunk]))
            queues[g] = queues[g][chunk:]
    return order


def test_held_terminal_counts_give_the_answers_of_writing_every_batch_even_out_of_order(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Partitions read unevenly put days out of order across batches, weeks apart by the
    end (and 100 days recycle every terminal slot): keeping terminal counts back changes no
    feature of any row — reads that could see them get them added in the worker."""
    transactions = simulate(SimulationConfig(n_customers=300, n_terminals=200, n_days=100, seed=3))
    batch = EventBatch.from_columns(transactions.columns())
    added = []
    due_before = PendingTerminals.due_before

    def counted(self: PendingTerminals, first: int, last: int, lag: int) -> bool:
        due = due_before(self, first, last, lag)
        added.append((due, first <= self.day_range[1] - lag))
        return due

    monkeypatch.setattr(PendingTerminals, "due_before", counted)
    features = []
    for hold_s in (0.0, 3600.0):
        store = RedisFeatureStore(
            redis_client, prefix=f"test:{uuid.uuid4().hex[:8]}:", terminal_hold_s=hold_s
        )
        rows = []
        for part_rows in _skewed_order(batch, groups=4, chunk=400):
            part = batch.take(part_rows)
            cards, terms = store.aggregates(part)
            round_trip(redis_client, store.update_commands(part))
            rows.append(stateful_features(part, cards, terms))
        features.append(np.vstack(rows))
    assert np.array_equal(features[0], features[1])
    assert features[0][:, 6:9].max() > 0, "terminal windows have transactions"
    assert any(due and recycles for due, recycles in added), "a held day would recycle a slot"


def _terminal_count(store: RedisFeatureStore, day: int) -> int:
    """Transactions of terminal t_1 on ``day``, as an event 8 days later reads them."""
    windows = store.terminal_aggregates(np.array(["t_1"], dtype=object), day + 8)
    return int(windows[0, 0, 0])


def test_held_terminal_hints_gone_stale_never_change_a_count(redis_client: redis.Redis) -> None:
    """The terminal script's every path: a day started twice, an add whose slot moved on,
    a start under a later day."""
    prefix = f"test:{uuid.uuid4().hex[:8]}:"

    def held() -> RedisFeatureStore:
        return RedisFeatureStore(redis_client, prefix, terminal_hold_s=3600.0)

    first, second = held(), held()
    day = 20_000
    batch = _day_batch(day)
    for store in (first, second):  # both read an empty slot: both will start the day
        store.aggregates(batch)
        round_trip(redis_client, store.update_commands(batch))
    assert len(first.pending) == len(second.pending) == 1, "held, not written"
    round_trip(redis_client, first.flush_commands() + second.flush_commands())
    assert _terminal_count(first, day) == 2

    reader = held()
    reader.aggregates(batch)  # this day is in its slot: the hint says add
    round_trip(redis_client, reader.update_commands(batch))
    later = day + 64  # the same slot of a terminal's 64-slot ring
    RedisFeatureStore(redis_client, prefix).update(_day_batch(later))  # the slot moves on
    round_trip(redis_client, reader.flush_commands())  # too old now: the later count stays
    assert _terminal_count(reader, later) == 1

    fresh = held()  # no read: starts the old day under the later one
    round_trip(redis_client, fresh.update_commands(batch) + fresh.flush_commands())
    assert _terminal_count(fresh, later) == 1
    assert _terminal_count(fresh, day) == 0


def test_held_days_sharing_a_slot_are_written_in_order(redis_client: redis.Redis) -> None:
    """One flush with a terminal's day and the day 64 later (one slot): the later wins."""
    store = RedisFeatureStore(redis_client, f"test:{uuid.uuid4().hex[:8]}:", terminal_hold_s=3600)
    day = 20_000
    from tests.factories import make_batch

    both = make_batch(
        *(
            {"event_time_ms": d * DAY_MS + 3_600_000, "card_id": card, "terminal_id": "t_1"}
            for d, card in ((day, "c_1"), (day + 64, "c_2"))
        )
    )
    round_trip(redis_client, store.update_commands(both))
    commands = store.flush_commands()
    assert len(commands) == 2, "two rounds: one per day of the shared slot"
    round_trip(redis_client, commands)
    assert _terminal_count(store, day + 64) == 1
    assert _terminal_count(store, day) == 0


def test_reads_sent_ahead_are_both_in_flight_and_give_training_features(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache's and the store's reads go out together, before either reply is read, and
    the primary still gets exactly training's features — also when a batch mixes
    redeliveries (cache hits, which the primary is not offered) with new events."""
    from redis.connection import Connection

    from worker.ladder.cache import CacheLevel

    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    model, seen = _recording_primary()
    config = BreakerConfig(window_size=4, minimum_calls=1)
    writes = WriteBehind(redis_client)
    cache = CacheLevel(redis_client, CircuitBreaker("cache", config), "v", 3600, prefix, writes)
    level = PrimaryLevel(
        model,
        RedisFeatureStore(redis_client, prefix=prefix, terminal_hold_s=3600.0),
        CircuitBreaker("feature_store", config),
        CircuitBreaker("primary", config),
        timeout_s=5.0,
        writes=writes,
    )
    ladder = Ladder([cache, level, SafeDefaultLevel()], None, DecisionPolicy(), "v")
    transactions = simulate(SimulationConfig(n_customers=100, n_terminals=200, n_days=12, seed=4))
    batch = EventBatch.from_columns(transactions.columns())
    cards, terms = offline_aggregates(batch, np.zeros(len(batch), dtype=np.bool_))
    expected = stateful_features(batch, cards, terms)

    events: list[str] = []
    send, read = Connection.send_packed_command, Connection.read_response

    def recorded_send(self: Connection, command: Any, check_health: bool = True) -> None:
        events.append("send")
        send(self, command, check_health)

    def recorded_read(self: Connection, *args: Any, **kwargs: Any) -> Any:
        events.append("read")
        return read(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_packed_command", recorded_send)
    monkeypatch.setattr(Connection, "read_response", recorded_read)
    served = np.zeros_like(expected)
    previous = np.empty(0, dtype=np.intp)
    for start in range(0, len(batch), 250):
        new = np.arange(start, min(start + 250, len(batch)))
        redelivered = previous[::2]  # half of the last batch again: cache hits
        part = batch.take(np.concatenate([redelivered, new]))
        events.clear()
        out = score_batch(part, ladder)
        if start:  # (the first batch also opens the pool's connections: a handshake each)
            # (the replies read before: the last batch's writes, which reads must follow)
            reads_first = events[events.index("send") :]
            assert reads_first[:2] == ["send", "send"], "both reads in flight before any reply"
        sources = [SOURCES[c].value for c in out.source]
        assert sources == ["cache"] * len(redelivered) + ["primary"] * len(new)
        served[new] = seen[-1][:, -len(STATEFUL) :]
        previous = new
    level.close()
    assert np.array_equal(served, expected)


def _rings_by_key(client: redis.Redis, prefix: str) -> dict[str, tuple[bytes, bool]]:
    """Every card ring under ``prefix``: its bytes and whether it has an expiry."""
    keys = sorted(client.scan_iter(match=f"{prefix}c{LAYOUT}:*", count=1000))
    blobs = client.mget(keys) if keys else []
    ttls = [client.ttl(key) for key in keys]
    return {
        key.decode()[len(prefix) :]: (blob, ttl > 0)
        for key, blob, ttl in zip(keys, blobs, ttls, strict=True)
    }


def test_the_owners_card_writes_leave_redis_byte_for_byte_as_the_script_does(
    redis_client: redis.Redis,
) -> None:
    """The same stream through both card writers, batch by batch as the worker writes
    (read, then ``update_commands``): every card ring ends with the same bytes and expiry.
    The stream comes out of order (neighbouring batches swapped, one batch weeks late) and
    runs past a ring's length, so days start, add, recycle a slot and arrive too old."""
    transactions = simulate(SimulationConfig(n_customers=120, n_terminals=100, n_days=80, seed=3))
    batch = EventBatch.from_columns(transactions.columns())
    starts = list(range(0, len(batch), 97))
    rng = np.random.default_rng(5)
    for i in range(0, len(starts) - 1, 2):  # neighbouring batches swapped now and then
        if rng.random() < 0.3:
            starts[i], starts[i + 1] = starts[i + 1], starts[i]
    starts.insert(100, starts.pop(10))  # a batch of the first days arrives weeks late
    owner_prefix, shared_prefix = (f"test:{uuid.uuid4().hex[:8]}:" for _ in range(2))
    stores = [
        RedisFeatureStore(redis_client, owner_prefix, ttl_days=45, owner_writes=True),
        RedisFeatureStore(redis_client, shared_prefix, ttl_days=45, owner_writes=False),
    ]
    for start in starts:
        part = batch.take(np.arange(start, min(start + 97, len(batch))))
        for store in stores:
            store.aggregates(part)
            round_trip(redis_client, store.update_commands(part))
    owner, shared = (
        _rings_by_key(redis_client, owner_prefix),
        _rings_by_key(redis_client, shared_prefix),
    )
    assert len(owner) > 50
    assert owner == shared
    assert all(has_expiry for _blob, has_expiry in owner.values())
