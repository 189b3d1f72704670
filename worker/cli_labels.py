"""``fraud-worker labels``: run the labels consumer until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

from worker.cli_common import command_settings
from worker.health import start_endpoint
from worker.member import signals_while_starting

log = logging.getLogger(__name__)


def labels_command() -> None:
    """Apply the labels topic (chargebacks, analysts' decisions) to the feature store's
    terminal-risk windows, each label once; a member of its own consumer group."""
    from worker.checks import require_access
    from worker.labels import LabelsConsumer, LabelsMetrics

    settings = command_settings()
    early = signals_while_starting()
    require_access(settings)  # a refused password or certificate: one line, no start
    metrics = LabelsMetrics()
    consumer = LabelsConsumer(settings, metrics)
    port = settings.labels.metrics_port
    if port:
        host, variable = settings.worker.metrics_host, "FRAUD_LABELS__METRICS_PORT"
        server = start_endpoint(host, port, metrics.registry, consumer.health, variable)
        log.info("metrics, /healthz and /readyz on %s:%d", *server.server_address[:2])
    consumer.install_signal_handlers(early)
    raise SystemExit(consumer.run())
