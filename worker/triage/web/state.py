"""What every page needs (the store, the settings, the templates), kept on ``app.state``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, Protocol, TypeVar

from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from worker.settings import TriageSettings
from worker.triage.passwords import Passwords
from worker.triage.store import QueueStore

P = ParamSpec("P")
T = TypeVar("T")


class DecisionCounter(Protocol):
    """Counts decisions by outcome for /metrics (``TriageMetrics``)."""

    def decided(self, outcome: str) -> None: ...


@dataclass(frozen=True)
class WebState:
    store: QueueStore
    settings: TriageSettings
    passwords: Passwords
    templates: Jinja2Templates
    metrics_registry: CollectorRegistry | None
    metrics: DecisionCounter | None
    ready: Callable[[], str | None] | None

    def now_ms(self) -> int:
        """The store's clock: the ages shown agree with the store's claims and filters."""
        return self.store.clock_ms()


def web_state(request: Request) -> WebState:
    state = request.app.state.triage
    assert isinstance(state, WebState)
    return state


async def in_thread(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking call (the store's SQLAlchemy sessions, argon2) off the event loop, so
    one slow query or password check does not stall every other analyst's page."""
    return await run_in_threadpool(func, *args, **kwargs)
