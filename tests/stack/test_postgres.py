"""The stack's PostgreSQL, started for real in folders and on ports of its own, so the
session's stack that other tests use is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.factories import free_port
from worker.errors import StackError
from worker.settings import Settings
from worker.stack import Stack, process
from worker.stack.postgres import PostgresNode, libpq_url, postgres_url

TCP_LISTEN = "0A"


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    """A folder the ``postgres`` user can reach (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="fraud-pg-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def node(stack_dir: Path) -> Iterator[PostgresNode]:
    postgres = PostgresNode(stack_dir / "postgres", free_port())
    yield postgres
    postgres.stop()


@pytest.fixture
def started(node: PostgresNode) -> PostgresNode:
    node.start()
    node.wait_ready(120)
    return node


def _loopback_listeners(port: int) -> list[str]:
    """Local addresses (hex, as the kernel writes them) of the TCP sockets listening on port."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == TCP_LISTEN:
                found.append(address)
    return found


def test_it_answers_as_the_generated_superuser(started: PostgresNode) -> None:
    assert stat.S_IMODE(started.password_path.stat().st_mode) == 0o600
    with psycopg.connect(libpq_url(started.url("triage"))) as conn:
        row = conn.execute("SELECT 1, current_user, current_database()").fetchone()
    assert row == (1, "fraud", "triage")
    wrong = started.url("triage").replace(started.password_path.read_text().strip(), "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(libpq_url(wrong)).close()


def test_it_listens_on_loopback_only(started: PostgresNode) -> None:
    assert _loopback_listeners(started.port) == ["0100007F"]  # 127.0.0.1, nothing else


def test_stop_really_stops_it(started: PostgresNode) -> None:
    record = started.record()
    assert record is not None
    started.stop()
    assert started.record() is None
    assert not process.is_running(record)
    assert not started.pid_path.exists()
    assert _loopback_listeners(started.port) == []
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(libpq_url(started.url("triage")), connect_timeout=2).close()


def test_a_taken_port_is_one_line_naming_the_setting(node: PostgresNode) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", node.port))
        holder.listen()
        expected = r"port \d+ for PostgreSQL is taken.*FRAUD_STACK__POSTGRES_PORT=<port>"
        with pytest.raises(StackError, match=expected) as info:
            node.start()
    assert "\n" not in str(info.value)


def test_a_wrong_binary_is_one_line_naming_the_fix(stack_dir: Path) -> None:
    bin_dir = stack_dir / "bin"
    bin_dir.mkdir()
    impostor = bin_dir / "postgres"
    impostor.write_text("#!/bin/sh\necho 'not a database'\n")
    impostor.chmod(0o755)
    node = PostgresNode(stack_dir / "postgres", free_port(), bin_dir=bin_dir)
    with pytest.raises(StackError, match=r"is not a PostgreSQL server.*apt-get install") as info:
        node.start()
    assert "\n" not in str(info.value)
    assert node.record() is None


def test_a_stack_folder_closed_to_others_still_holds_a_working_cluster(stack_dir: Path) -> None:
    """A checkout under /root, or in a 0700 temporary folder (CI's clean clone). As root the
    server runs as ``postgres``, who cannot enter it: the cluster goes to /var/tmp, and a
    second start finds it there. Not root, the server is ourselves: it stays in the folder."""
    locked = stack_dir / "locked"
    locked.mkdir(mode=0o700)
    node = PostgresNode(locked / "postgres", free_port())
    try:
        node.start()
        node.wait_ready(120)
        location = locked / "postgres" / "data-location"
        if os.geteuid() == 0:
            elsewhere = Path(location.read_text().strip())
            assert elsewhere.parent == Path("/var/tmp") and node.data_dir == elsewhere / "data"
        else:
            assert not location.exists() and node.data_dir == locked / "postgres" / "data"
        check = psycopg.connect(libpq_url(node.url()))
        check.close()
        node.stop()
        again = PostgresNode(locked / "postgres", node.port)
        assert again.data_dir == node.data_dir
        again.start()
        again.wait_ready(120)
        again.stop()
    finally:
        node.stop()
        if node.data_dir.parent != locked / "postgres":
            shutil.rmtree(node.data_dir.parent, ignore_errors=True)


def _own_postgres(stack_dir: Path, live_stack: Settings, **triage: str) -> Settings:
    """Settings of a stack whose PostgreSQL is its own; Kafka and Redis are the session's."""
    return Settings.model_validate(
        {
            "stack": {"dir": str(stack_dir), "postgres_port": free_port()},
            "kafka": {"bootstrap_servers": live_stack.kafka_bootstrap},
            "redis": {"url": live_stack.redis_url},
            "triage": triage,
        }
    )


def test_a_second_up_reuses_it_and_down_stops_it(stack_dir: Path, live_stack: Settings) -> None:
    settings = _own_postgres(stack_dir, live_stack)
    stack = Stack(settings, with_postgres=True)
    try:
        first = stack.up()
        assert first.postgres.state == "running"
        password = (stack_dir / "postgres" / "password").read_text()
        assert password.strip() not in first.describe()
        assert stack.up().postgres.pid == first.postgres.pid
        with psycopg.connect(libpq_url(postgres_url(settings)), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (id int)")

        assert stack.down().postgres.state == "stopped"
        restarted = stack.up()
        assert restarted.postgres.pid != first.postgres.pid
        assert (stack_dir / "postgres" / "password").read_text() == password
        with psycopg.connect(libpq_url(postgres_url(settings))) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
    finally:
        stack.down()
    assert stack.status().postgres.state == "stopped"


def test_an_external_postgres_is_used_as_it_is(stack_dir: Path, live_stack: Settings) -> None:
    external_url = postgres_url(live_stack)
    settings = _own_postgres(stack_dir, live_stack, database_url=external_url)
    status = Stack(settings, with_postgres=True).up()
    assert status.postgres.state == "external"
    assert make_url(status.postgres.address).port == live_stack.stack.postgres_port
    password = make_url(external_url).password
    assert password and password not in status.describe()
    assert not (stack_dir / "postgres").exists(), "nothing is started for an external server"


def test_an_unreachable_external_postgres_is_named(stack_dir: Path, live_stack: Settings) -> None:
    url = f"postgresql+psycopg://u:secret@127.0.0.1:{free_port()}/triage"
    settings = _own_postgres(stack_dir, live_stack, database_url=url)
    with pytest.raises(StackError, match="PostgreSQL at FRAUD_TRIAGE__DATABASE_URL=") as info:
        Stack(settings, with_postgres=True).up()
    assert "secret" not in str(info.value)
    assert "\n" not in str(info.value)


def test_postgres_url_names_the_stack_s_server(live_stack: Settings) -> None:
    url = postgres_url(live_stack, "postgres")
    port = live_stack.stack.postgres_port
    assert url.startswith("postgresql+psycopg://fraud:")
    assert url.endswith(f"@127.0.0.1:{port}/postgres")
    with psycopg.connect(libpq_url(url)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("fraud",)
