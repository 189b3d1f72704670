"""What every command does first: read the settings, then set up logging as they say (so that
librdkafka's lines, too, come out as JSON when ``FRAUD_WORKER__LOG_JSON=true``)."""

from __future__ import annotations

from worker.logs import configure_logging
from worker.settings import Settings, load_settings


def command_settings(level: str | None = None) -> Settings:
    """The validated settings (ConfigError names a bad key); logging configured from them,
    at ``level`` instead of the configured one when given."""
    settings = load_settings()
    configure_logging(level or settings.worker.log_level, settings.worker.log_json)
    return settings
