"""Codec errors: a bad message (``DecodeError``) is not the same as a broken registry.

The split matters to the caller: a ``DecodeError`` belongs to one message (dead-letter it and go
on), a ``SchemaRegistryError`` belongs to the infrastructure (retry the batch, do not drop it).
"""

from __future__ import annotations

from typing import Literal, get_args

from worker.errors import FraudWorkerError

DecodeErrorCode = Literal[
    "empty",
    "too_short",
    "wrong_magic_byte",
    "unknown_schema_id",
    "truncated_body",  # the body ends inside a field (the last one included)
    "invalid_body",  # what the Avro spec rejects, or a record that does not resolve
    "trailing_bytes",
]

DECODE_ERROR_CODES: frozenset[str] = frozenset(get_args(DecodeErrorCode))


class DecodeError(FraudWorkerError):
    """One message cannot be decoded; ``code`` is stable and machine-readable (DLQ, metrics).

    The message never quotes the payload: it can hold card data and ends up in logs.
    """

    def __init__(self, code: DecodeErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: DecodeErrorCode = code

    def __reduce__(self) -> tuple[type[DecodeError], tuple[DecodeErrorCode, str]]:
        # Keep ``code`` when the error is pickled (e.g. sent back from a worker process).
        return (type(self), (self.code, str(self)))


class EncodeError(FraudWorkerError):
    """A record does not fit the schema of its subject: a bug on our side, not bad input."""


class SchemaRegistryError(FraudWorkerError):
    """The schema registry could not be read (network, HTTP error, bad answer, bad config).

    Not a ``DecodeError``: the event is fine, so it must be retried, not dead-lettered.
    """
