"""librdkafka configuration built from the settings, security pass-through included."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from worker.settings import Settings

# librdkafka's own log lines go through Python logging (and so through the JSON formatter
# when asked) instead of being printed raw on stderr.
LIBRDKAFKA_LOGGER = logging.getLogger("librdkafka")
RECONNECT_BACKOFF_MAX_MS = 1_000


def client_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Base config for any client: bootstrap servers plus the user's pass-through keys."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        # librdkafka backs off up to 10 s between reconnects: after a broker restart the
        # worker sat idle that long (chaos suite). A second is plenty on a LAN.
        "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
    }
    config.update(settings.kafka.client_config)
    config["logger"] = LIBRDKAFKA_LOGGER
    config.update(overrides)
    return config


def reader_config(settings: Settings, group_prefix: str, **overrides: Any) -> dict[str, Any]:
    """A consumer of the worker's outputs (review tool, demo, benchmark, tests): it reads only
    committed records, so in exactly-once mode an aborted batch is never seen."""
    return client_config(
        settings,
        **{
            "group.id": f"{group_prefix}-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            **overrides,
        },
    )
