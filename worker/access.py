"""Telling a server that refuses this client (wrong password, untrusted certificate) from one
that is down, and naming the setting that fixes it.

A down server may come back, and the long-running members wait for it (not ready meanwhile);
a refusal is a configuration mistake that waiting never fixes, so they stop at start with
one line naming the setting.
"""

from __future__ import annotations

import re
import ssl

import redis
from confluent_kafka import KafkaError

KAFKA_CONFIG = "FRAUD_KAFKA__CLIENT_CONFIG"
KAFKA_CREDENTIALS_HINT = f"check sasl.username and sasl.password in {KAFKA_CONFIG}"
KAFKA_CA_HINT = (
    f"check ssl.ca.location in {KAFKA_CONFIG}: it must name the CA that signed the broker's "
    "certificate"
)
REDIS_CREDENTIALS_HINT = (
    "check the user and password in FRAUD_REDIS__URL (rediss://user:password@…)"
)
REDIS_PERMISSION_HINT = (
    "grant the Redis ACL user of FRAUD_REDIS__URL the worker's commands on its key prefix "
    "(FRAUD_REDIS__KEY_PREFIX)"
)
REDIS_CA_HINT = (
    "check FRAUD_REDIS__SSL_CA_CERTS: it must name the CA that signed the Redis server's "
    "certificate"
)
REDIS_TLS_HINT = (
    "check FRAUD_REDIS__SSL_CA_CERTS, FRAUD_REDIS__SSL_CERTFILE and FRAUD_REDIS__SSL_KEYFILE"
)

# librdkafka's "sasl_ssl://127.0.0.1:30092/bootstrap: " and " (after 12ms in state X)".
_KAFKA_PREFIX = re.compile(r"^\S+://\S+: ")
_KAFKA_SUFFIX = re.compile(
    r" \(after \d+ms in state \w+(, \d+ identical error\(s\) suppressed)?\)$"
)


def kafka_reason(error: KafkaError) -> str:
    """librdkafka's message without the broker's address and the timing (said elsewhere)."""
    return _KAFKA_SUFFIX.sub("", _KAFKA_PREFIX.sub("", error.str()))


def kafka_refusal(errors: list[KafkaError]) -> tuple[str, str] | None:
    """(reason, hint) when the errors say the broker refused this client, else None."""
    for error in errors:
        text = error.str()
        if error.code() == KafkaError._AUTHENTICATION:
            return kafka_reason(error), KAFKA_CREDENTIALS_HINT
        # Only a verdict on the certificate: other TLS errors (a handshake cut short while
        # a broker restarts) may pass.
        if "certificate verify failed" in text:
            return kafka_reason(error), KAFKA_CA_HINT
    return None


def redis_refusal(exc: redis.RedisError) -> str | None:
    """The hint when ``exc`` says the Redis server refused this client, else None (down,
    slow, or some other trouble that may pass)."""
    if isinstance(exc, redis.AuthenticationError):
        return REDIS_CREDENTIALS_HINT
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return REDIS_PERMISSION_HINT
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return REDIS_CA_HINT
    if isinstance(cause, ssl.SSLError):
        return REDIS_TLS_HINT
    return None
