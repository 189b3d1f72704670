"""The stack manager on a stack of its own (own folder and ports), so the session's stack
that other tests use is never touched.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import free_port
from worker.errors import StackError
from worker.settings import Settings, StackSettings
from worker.stack import Stack
from worker.stack.kafka import server_properties


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line mentions ``text`` (our stack's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


@pytest.fixture
def own_stack(tmp_path: Path, live_stack: Settings) -> Iterator[Stack]:
    """A second stack in tmp_path that reuses the session's jar cache (no download)."""
    shared_jars = live_stack.stack.dir.resolve() / "kafka" / "jars"
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "jars").symlink_to(shared_jars)
    stack_settings = StackSettings(
        dir=tmp_path,
        kafka_port=free_port(),
        controller_port=free_port(),
        redis_port=free_port(),
        kafka_heap_mb=256,
    )
    stack = Stack(Settings(stack=stack_settings))
    yield stack
    stack.down()


def test_up_is_idempotent_and_down_leaves_no_process(own_stack: Stack, tmp_path: Path) -> None:
    first = own_stack.up()
    assert first.kafka.state == first.redis.state == "running"
    second = own_stack.up()
    assert (second.kafka.pid, second.redis.pid) == (first.kafka.pid, first.redis.pid)
    assert _pids_mentioning(str(tmp_path)), "the stack's servers run from its folder"

    after = own_stack.down()
    assert after.kafka.state == after.redis.state == "stopped"
    assert _pids_mentioning(str(tmp_path)) == []
    assert not (tmp_path / "kafka" / "kafka.pid").exists()


def test_a_taken_port_is_a_clear_error(own_stack: Stack) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", own_stack.redis.port))
        holder.listen()
        expected = r"port \d+ for Redis is taken.*FRAUD_STACK__REDIS_PORT"
        with pytest.raises(StackError, match=expected):
            own_stack.redis.start()


def test_status_of_a_stack_never_started(tmp_path: Path) -> None:
    stack = Stack(Settings(stack=StackSettings(dir=tmp_path)))
    status = stack.status()
    assert status.kafka.state == status.redis.state == "stopped"
    assert stack.down().kafka.pid is None


def test_external_servers_are_used_as_they_are(tmp_path: Path, live_stack: Settings) -> None:
    external = Settings.model_validate(
        {
            "stack": {"dir": str(tmp_path)},
            "kafka": {"bootstrap_servers": live_stack.kafka_bootstrap},
            "redis": {"url": live_stack.redis_url},
        }
    )
    status = Stack(external).up()
    assert status.kafka.state == status.redis.state == "external"
    assert not (tmp_path / "kafka").exists(), "nothing is started for external servers"


def test_an_unreachable_external_redis_is_named(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings.model_validate(
        {"stack": {"dir": str(tmp_path)}, "redis": {"url": f"redis://u:secret@127.0.0.1:{port}/0"}}
    )
    stack = Stack(settings)
    with pytest.raises(StackError, match="FRAUD_REDIS__URL") as info:
        stack._check_external_redis()
    assert "secret" not in str(info.value)


def test_server_properties_set_single_node_essentials(tmp_path: Path) -> None:
    props = server_properties(tmp_path, 9092, 9093)
    for line in (
        "process.roles=broker,controller",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "advertised.listeners=PLAINTEXT://127.0.0.1:9092",
        "controller.quorum.bootstrap.servers=127.0.0.1:9093",
    ):
        assert line in props.splitlines()
