"""A loopback Redis server from Debian's ``redis-server`` package, without persistence."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import redis

from worker.errors import StackError
from worker.stack import process


def redis_server_executable() -> str:
    """The redis-server binary; installed from Debian's packages when we are root."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        raise StackError(
            "redis-server is not installed: run `sudo apt-get install redis-server`, or point "
            "FRAUD_REDIS__URL at a running Redis"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "redis-server"]
    for command in (["apt-get", "update", "-q"], install):
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise StackError(
                f"`{' '.join(command)}` failed; install redis-server by hand or set "
                f"FRAUD_REDIS__URL:\n{result.stderr[-2000:]}"
            )
    found = shutil.which("redis-server")
    if not found:
        raise StackError("apt-get installed redis-server but it is not on PATH")
    return found


def ping(url: str, timeout_s: float = 2.0) -> None:
    """Raise unless a Redis server answers PING at ``url``."""
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
    finally:
        client.close()


class RedisNode:
    """The stack's Redis: files under ``root``, listening on loopback."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.log_path = root / "redis.log"
        self.pid_path = root / "redis.pid"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def record(self) -> process.ProcessRecord | None:
        record = process.read_pid_file(self.pid_path)
        return record if record and process.is_running(record) else None

    def start(self) -> process.ProcessRecord:
        binary = redis_server_executable()
        self.root.mkdir(parents=True, exist_ok=True)
        process.require_free_port(self.port, "Redis", "FRAUD_STACK__REDIS_PORT")
        command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            # Persistent like a production feature store: a restarted Redis (the demo's
            # outage, a chaos scenario) comes back with its windows, not empty.
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--dir",
            str(self.root),
            "--daemonize",
            "no",
        ]
        return process.spawn(command, self.log_path, self.pid_path, dict(os.environ))

    def wait_ready(self, timeout_s: float) -> None:
        process.wait_until_answers(
            "redis-server", lambda: self.record() is not None, self._answers, timeout_s,
            self.log_path,
        )  # fmt: skip

    def _answers(self) -> bool:
        try:
            ping(self.url)
        except redis.RedisError:
            return False
        return True

    def stop(self) -> None:
        record = process.read_pid_file(self.pid_path)
        if record is not None:
            process.stop(record)
        self.pid_path.unlink(missing_ok=True)
