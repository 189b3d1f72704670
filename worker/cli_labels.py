"""``fraud-worker labels``: run the labels consumer until SIGTERM/SIGINT."""

from __future__ import annotations

import faulthandler
import logging
import signal

from worker.cli_common import command_settings
from worker.cli_worker import start_endpoint

log = logging.getLogger(__name__)


def labels_command() -> None:
    """Apply the labels topic (chargebacks, analysts' decisions) to the feature store's
    terminal-risk windows, each label once; a member of its own consumer group."""
    from worker.labels import LabelsConsumer, LabelsMetrics

    settings = command_settings()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    metrics = LabelsMetrics()
    consumer = LabelsConsumer(settings, metrics)
    port = settings.labels.metrics_port
    if port:
        server = start_endpoint(
            settings, metrics.registry, consumer.health, port, "FRAUD_LABELS__METRICS_PORT"
        )
        log.info("metrics, /healthz and /readyz on %s:%d", *server.server_address[:2])
    consumer.install_signal_handlers()
    raise SystemExit(consumer.run())
