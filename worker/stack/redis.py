"""A loopback Redis server from Debian's ``redis-server`` package, without persistence."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def ping(url: str, timeout_s: float = 2.0, **tls: Any) -> None:
    """Raise unless a Redis server answers PING at ``url`` (``tls``: redis-py's ``ssl_*``
    options of a ``rediss://`` URL)."""
    client = redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, **tls
    )
    try:
        client.ping()
    finally:
        client.close()


# The worker's commands (GET/MGET/HMGET/HSET/EXPIRE, EVAL of the feature store's scripts,
# PING/AUTH/HELLO, INFO for check-config) and nothing that reconfigures or empties the server.
APP_COMMANDS = "-@all +@read +@write +@scripting +@connection -@dangerous +info"


@dataclass(frozen=True)
class RedisTls:
    """A Redis of the secure profile: TLS only (no plaintext port), the default user off and
    one ACL user limited to the worker's key prefix and commands."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    username: str
    password: str
    key_prefix: str

    def acl_line(self) -> str:
        """The ``user`` directive: the password as its SHA-256 (no clear text on disk)."""
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        return f"user {self.username} on #{digest} resetkeys ~{self.key_prefix}* {APP_COMMANDS}"

    def config(self, port: int) -> str:
        """The TLS and ACL part of redis.conf; client certificates are optional (mTLS when a
        client presents one, which must then be signed by the CA)."""
        return (
            f"port 0\ntls-port {port}\n"
            f"tls-cert-file {self.cert_file}\ntls-key-file {self.key_file}\n"
            f"tls-ca-cert-file {self.ca_file}\ntls-auth-clients optional\n"
            f"user default off\n{self.acl_line()}\n"
        )

    def url(self, port: int) -> str:
        return f"rediss://{self.username}:{self.password}@127.0.0.1:{port}/0"


class RedisNode:
    """The stack's Redis: files under ``root``, listening on loopback; TLS-only with an ACL
    user when given ``tls`` (the secure profile)."""

    def __init__(self, root: Path, port: int, tls: RedisTls | None = None) -> None:
        self.root = root
        self.port = port
        self.tls = tls
        self.log_path = root / "redis.log"
        self.pid_path = root / "redis.pid"
        self.config_path = root / "redis.conf"

    @property
    def url(self) -> str:
        """The server's address (without credentials: printed by ``status``)."""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    def record(self) -> process.ProcessRecord | None:
        return process.running(self.pid_path)

    def start(self) -> process.ProcessRecord:
        binary = redis_server_executable()
        self.root.mkdir(parents=True, exist_ok=True)
        process.require_free_port(self.port, "Redis", "FRAUD_STACK__REDIS_PORT")
        if self.tls is not None:
            process.write_private(self.config_path, self.tls.config(self.port))  # the ACL
        return process.spawn(self.command(binary), self.log_path, self.pid_path, dict(os.environ))

    def command(self, binary: str) -> list[str]:
        """redis-server's arguments; with TLS, its config file (TLS and ACL) comes first."""
        head = [binary, str(self.config_path)] if self.tls else [binary, "--port", str(self.port)]
        return [
            *head,
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

    def wait_ready(self, timeout_s: float) -> None:
        process.wait_until_answers(
            "redis-server", lambda: self.record() is not None, self._answers, timeout_s,
            self.log_path,
        )  # fmt: skip

    def _answers(self) -> bool:
        try:
            if self.tls is None:
                ping(self.url)
            else:
                ping(self.tls.url(self.port), ssl_ca_certs=str(self.tls.ca_file))
        except redis.RedisError:
            return False
        return True

    def stop(self) -> None:
        record = process.read_pid_file(self.pid_path)
        if record is not None:
            process.stop(record)
        self.pid_path.unlink(missing_ok=True)
