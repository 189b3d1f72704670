"""Fixtures of the integration tests (the real broker and Redis come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import free_port
from worker.settings import Settings
from worker.stack.redis import RedisNode


@pytest.fixture
def own_redis(tmp_path: Path, live_stack: Settings) -> Iterator[RedisNode]:
    """A Redis of this test's own, so that stopping it disturbs no other test."""
    node = RedisNode(tmp_path / "redis", free_port())
    node.start()
    node.wait_ready(10)
    yield node
    node.stop()
