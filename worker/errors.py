"""One root exception for the package; each concern has its own subclass."""


class FraudWorkerError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(FraudWorkerError):
    """A setting is missing or invalid; the message names the key."""


class StackError(FraudWorkerError):
    """The local Kafka/Redis stack could not be started, checked or stopped.

    The message always says what to do about it.
    """
