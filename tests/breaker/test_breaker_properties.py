"""Random sequences of clock moves, permit requests and outcomes against a reference model.

The model below is a deliberately naive re-statement of the semantics (lists recounted on every
step instead of running totals, no state classes); the invariants check the promises that
matter to callers independently of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from worker.breaker import BreakerConfig, BreakerState, CircuitBreaker

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
# Written out here rather than imported, so a wrong table in the code cannot pass by itself.
LEGAL = {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (HALF_OPEN, CLOSED)}
OUTCOME_KEYS = ("success", "failure", "slow_success", "slow_failure")

# Binary-exact steps, so the model and the breaker never disagree on a float rounding.
STEPS_S = st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0])
DURATIONS_S = st.sampled_from([0.0, 0.125, 0.25, 0.5, 2.0])
RATES = st.sampled_from([0.25, 0.5, 0.75, 1.0])


@st.composite
def configs(draw: st.DrawFn) -> BreakerConfig:
    window_size = draw(st.integers(min_value=1, max_value=6))
    open_wait_s = draw(st.sampled_from([1.0, 2.0, 5.0]))
    return BreakerConfig(
        window_size=window_size,
        minimum_calls=draw(st.integers(min_value=1, max_value=window_size)),
        failure_rate_threshold=draw(RATES),
        slow_call_rate_threshold=draw(RATES),
        slow_call_duration_s=0.25,
        half_open_permits=draw(st.integers(min_value=1, max_value=3)),
        open_wait_s=open_wait_s,
        max_open_wait_s=open_wait_s * draw(st.sampled_from([1.0, 2.0, 4.0, 10.0])),
        open_wait_multiplier=draw(st.sampled_from([1.0, 1.5, 2.0, 3.0])),
    )


def _trips(outcomes: list[tuple[bool, bool]], config: BreakerConfig) -> bool:
    failures = sum(1 for failed, _ in outcomes if failed)
    slow = sum(1 for _, is_slow in outcomes if is_slow)
    return (
        failures / len(outcomes) >= config.failure_rate_threshold
        or slow / len(outcomes) >= config.slow_call_rate_threshold
    )


@dataclass
class Model:
    """The semantics in the plainest form we could write."""

    config: BreakerConfig
    state: BreakerState = CLOSED
    closed: list[tuple[bool, bool]] = field(default_factory=list)
    trials: list[tuple[bool, bool]] = field(default_factory=list)
    granted: int = 0
    opened_at: float = 0.0
    wait_s: float = 0.0
    transitions: list[tuple[BreakerState, BreakerState]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.wait_s = self.config.open_wait_s

    def _go(self, new: BreakerState) -> None:
        self.transitions.append((self.state, new))
        self.state = new

    def acquire(self, now: float) -> bool:
        if self.state is CLOSED:
            return True
        if self.state is OPEN:
            if now - self.opened_at < self.wait_s:
                return False
            self._go(HALF_OPEN)
            self.trials, self.granted = [], 0
        if self.granted >= self.config.half_open_permits:
            return False
        self.granted += 1
        return True

    def release(self) -> bool:
        """A permit handed back unused: only a trial permit still out counts again."""
        if self.state is HALF_OPEN and self.granted > len(self.trials):
            self.granted -= 1
            return True
        return False

    def record(self, failed: bool, slow: bool, now: float) -> None:
        if self.state is CLOSED:
            self.closed = [*self.closed, (failed, slow)][-self.config.window_size :]
            if len(self.closed) >= self.config.minimum_calls and _trips(self.closed, self.config):
                self._go(OPEN)
                self.opened_at, self.wait_s = now, self.config.open_wait_s
        elif self.state is HALF_OPEN:
            self.trials.append((failed, slow))
            if len(self.trials) < self.config.half_open_permits:
                return
            if _trips(self.trials, self.config):
                self._go(OPEN)
                grown = self.wait_s * self.config.open_wait_multiplier
                self.opened_at, self.wait_s = now, min(grown, self.config.max_open_wait_s)
            else:
                self._go(CLOSED)
                self.closed, self.wait_s = [], self.config.open_wait_s


class BreakerMachine(RuleBasedStateMachine):
    @initialize(config=configs())
    def build(self, config: BreakerConfig) -> None:
        self.config = config
        self.now = 0.0
        self.breaker = CircuitBreaker("prop", config, clock=lambda: self.now)
        self.model = Model(config)
        self.seen: list[tuple[BreakerState, BreakerState]] = []
        self.records = 0
        self.denied = 0
        self.opened_at = 0.0
        self.open_wait_s = config.open_wait_s
        self.half_open_grants = 0
        self.breaker.add_listener(self._on_transition)

    def _on_transition(self, name: str, old: BreakerState, new: BreakerState) -> None:
        assert name == "prop"
        assert (old, new) in LEGAL, f"illegal edge {old} -> {new}"
        self.seen.append((old, new))
        snap = self.breaker.snapshot()
        assert snap.state is new
        if new is OPEN:
            self.opened_at, self.open_wait_s = self.now, snap.open_wait_s
        if (old, new) == (CLOSED, OPEN):
            assert snap.buffered_calls >= self.config.minimum_calls
        if new is HALF_OPEN:
            self.half_open_grants = 0

    @rule(seconds=STEPS_S)
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def acquire(self) -> None:
        self._acquire()

    @rule(duration_s=DURATIONS_S, failed=st.booleans())
    def record(self, duration_s: float, failed: bool) -> None:
        self._record(duration_s, failed)

    @rule(duration_s=DURATIONS_S, failed=st.booleans())
    def guarded_call(self, duration_s: float, failed: bool) -> None:
        """The way callers use it: record only what was permitted."""
        if self._acquire():
            self._record(duration_s, failed)

    @rule()
    def release(self) -> None:
        """A release may come with no permit out (a caller's stale permit): harmless."""
        self._release()

    @rule()
    def acquire_then_release(self) -> None:
        """A caller that took a permit and did not call after all."""
        if self._acquire():
            self._release()

    def _release(self) -> None:
        self.breaker.release()
        if self.model.release():
            self.half_open_grants -= 1

    def _acquire(self) -> bool:
        before = self.breaker.state
        permitted = self.breaker.try_acquire()
        assert permitted == self.model.acquire(self.now)
        if not permitted:
            self.denied += 1
        if before is OPEN and permitted:
            assert self.now - self.opened_at >= self.open_wait_s, "OPEN granted before its wait"
        if permitted and self.breaker.state is HALF_OPEN:
            self.half_open_grants += 1
            assert self.half_open_grants <= self.config.half_open_permits
        return permitted

    def _record(self, duration_s: float, failed: bool) -> None:
        self.breaker.record(duration_s, failed)
        self.model.record(failed, duration_s >= self.config.slow_call_duration_s, self.now)
        self.records += 1

    @invariant()
    def state_matches_model(self) -> None:
        assert self.breaker.state in set(BreakerState)
        assert self.breaker.state is self.model.state
        assert self.seen == self.model.transitions

    @invariant()
    def counters_are_consistent(self) -> None:
        counts = self.breaker.snapshot().calls_by_outcome
        assert sum(counts[key] for key in OUTCOME_KEYS) == self.records
        assert counts["not_permitted"] == self.denied

    @invariant()
    def open_wait_stays_within_bounds(self) -> None:
        wait_s = self.breaker.snapshot().open_wait_s
        assert self.config.open_wait_s <= wait_s <= self.config.max_open_wait_s
        assert wait_s == self.model.wait_s


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestBreakerMachine = BreakerMachine.TestCase
