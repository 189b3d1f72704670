"""The HTTP endpoint for Prometheus and Kubernetes: ``/metrics``, ``/healthz``, ``/readyz``.

Readiness is honest: the loop and the Kafka edge report what they see (broker reachable,
partitions owned, artifacts loaded) and ``/readyz`` answers from those facts, naming the one
that fails.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from worker.errors import ConfigError


class Health:
    """Liveness: the consume loop turned recently. Readiness: every condition below holds.

    Written by the loop's thread, read by the endpoint's: each field is one atomic store.
    """

    def __init__(
        self,
        stall_after_s: float,
        assignment_timeout_s: float = 30.0,
        allow_degraded_start: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stall_after_s = stall_after_s
        self.assignment_timeout_s = assignment_timeout_s
        self.allow_degraded_start = allow_degraded_start
        self.clock = clock
        self.last_beat = clock()
        self.started = False
        self.stopping = False
        self.broker_up = False
        self.partitions = 0
        self.joined_at: float | None = None
        self.load_problems: list[str] = []
        # Set while the consumer holds a batch back for a dependency (labels, re-score).
        self.waiting_for: str | None = None

    def beat(self) -> None:
        self.last_beat = self.clock()

    def alive(self) -> bool:
        return self.clock() - self.last_beat < self.stall_after_s

    def start(self) -> None:
        """The loop subscribed: the member is joining its group."""
        self.started = True
        self.joined_at = self.clock()

    def stop(self) -> None:
        self.stopping = True

    def set_partitions(self, owned: int) -> None:
        self.partitions = owned

    def set_broker_up(self, up: bool) -> None:
        self.broker_up = up

    def set_load_problems(self, problems: list[str]) -> None:
        self.load_problems = list(problems)

    def set_waiting(self, reason: str | None) -> None:
        """A batch waits for a dependency (``reason`` names it), or no longer (None)."""
        self.waiting_for = reason

    def not_ready_because(self) -> str | None:
        """Why the member is not ready, or None when it is."""
        if not self.started:
            return "starting"
        if self.stopping:
            return "stopping"
        if self.load_problems and not self.allow_degraded_start:
            return "artifacts failed to load: " + "; ".join(self.load_problems)
        if self.waiting_for is not None:
            return f"waiting: {self.waiting_for}"
        if not self.broker_up:
            return "the Kafka broker is unreachable"
        joined = self.joined_at if self.joined_at is not None else self.clock()
        if self.partitions == 0 and self.clock() - joined >= self.assignment_timeout_s:
            return f"no partition assigned after {self.assignment_timeout_s:g} s"
        return None

    @property
    def ready(self) -> bool:
        return self.not_ready_because() is None


def serve(
    port: int, registry: CollectorRegistry, health: Health, host: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    """Start the endpoint in a daemon thread; port 0 picks a free one (see server_address).

    Binds to loopback unless told otherwise (a container passes 0.0.0.0). A port in use
    raises OSError before any thread starts.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                ok = health.alive()
                self._send(200 if ok else 503, b"ok\n" if ok else b"stalled\n")
            elif self.path == "/readyz":
                why = health.not_ready_because()
                body = b"ready\n" if why is None else f"not ready: {why}\n".encode()
                self._send(200 if why is None else 503, body)
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds would drown the worker's own logs

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="health", daemon=True)
    thread.start()
    return server


def start_endpoint(
    host: str,
    port: int,
    registry: CollectorRegistry,
    health: Health,
    port_variable: str = "FRAUD_WORKER__METRICS_PORT",
) -> ThreadingHTTPServer:
    """``serve``, with a port in use or a bad host as one ConfigError naming the settings
    (``port_variable``: the worker's, the labels consumer's or the re-scorer's port)."""
    try:
        return serve(port, registry, health, host)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"{port_variable}={port}: the port is in use on {host}; "
                "pick a free port (or 0 to turn the endpoint off)"
            ) from exc
        raise ConfigError(
            f"FRAUD_WORKER__METRICS_HOST={host} / {port_variable}={port}: "
            f"cannot listen there ({exc.strerror or exc})"
        ) from exc
