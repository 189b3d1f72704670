"""``fraud-worker rescore``: degraded answers scored again by the primary once it is back."""

from __future__ import annotations

import errno
import faulthandler
import logging
import signal
from http.server import ThreadingHTTPServer

from prometheus_client import CollectorRegistry

from worker.cli_common import command_settings
from worker.errors import ConfigError
from worker.health import Health, serve
from worker.settings import Settings

log = logging.getLogger(__name__)


def rescore_command() -> None:
    """Re-score the degraded answers of the last hours with the primary (consumer of
    topics.degraded in its own group); a re-score that says review or block goes to the
    review topic, superseding the degraded answer. Runs until SIGTERM/SIGINT."""
    from worker.rescore import RescoreMetrics, RescoreWorker
    from worker.runtime import build_runtime

    settings = command_settings()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    early: list[int] = []  # a SIGTERM while starting up still means: stop cleanly
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda num, _frame: early.append(num))
    runtime = build_runtime(settings)
    metrics = RescoreMetrics()
    try:
        worker = RescoreWorker(settings, runtime, metrics)
        if settings.rescore.metrics_port:
            server = start_rescore_endpoint(settings, metrics.registry, worker.health)
            log.info("metrics, /healthz and /readyz on %s:%d", *server.server_address[:2])
    except BaseException:
        runtime.close()
        raise
    worker.install_signal_handlers()
    if early:
        worker.stop(early[0])
    raise SystemExit(worker.run())


def start_rescore_endpoint(
    settings: Settings, registry: CollectorRegistry, health: Health
) -> ThreadingHTTPServer:
    """Serve /metrics, /healthz, /readyz on the re-scorer's port; a port in use or a bad
    host is one ConfigError naming the setting."""
    host, port = settings.worker.metrics_host, settings.rescore.metrics_port
    try:
        return serve(port, registry, health, host)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"FRAUD_RESCORE__METRICS_PORT={port}: the port is in use on {host}; "
                "pick a free port (or 0 to turn the endpoint off)"
            ) from exc
        raise ConfigError(
            f"FRAUD_WORKER__METRICS_HOST={host} / FRAUD_RESCORE__METRICS_PORT={port}: "
            f"cannot listen there ({exc.strerror or exc})"
        ) from exc
