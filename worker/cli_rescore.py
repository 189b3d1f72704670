"""``fraud-worker rescore``: degraded answers scored again by the primary once it is back."""

from __future__ import annotations

import logging

from worker.cli_common import command_settings
from worker.health import start_endpoint
from worker.member import signals_while_starting

log = logging.getLogger(__name__)


def rescore_command() -> None:
    """Re-score the degraded answers of the last hours with the primary (consumer of
    topics.degraded in its own group); a re-score that says review or block goes to the
    review topic, superseding the degraded answer. Runs until SIGTERM/SIGINT."""
    from worker.checks import require_access
    from worker.rescore import RescoreMetrics, RescoreWorker
    from worker.runtime import build_runtime

    settings = command_settings()
    early = signals_while_starting()
    require_access(settings)  # a refused password or certificate: one line, no start
    runtime = build_runtime(settings)
    metrics = RescoreMetrics()
    try:
        worker = RescoreWorker(settings, runtime, metrics)
        if settings.rescore.metrics_port:
            host, port = settings.worker.metrics_host, settings.rescore.metrics_port
            variable = "FRAUD_RESCORE__METRICS_PORT"
            server = start_endpoint(host, port, metrics.registry, worker.health, variable)
            log.info("metrics, /healthz and /readyz on %s:%d", *server.server_address[:2])
    except BaseException:
        runtime.close()
        raise
    worker.install_signal_handlers(early)
    raise SystemExit(worker.run())
