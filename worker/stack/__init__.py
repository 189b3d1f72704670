"""The local development stack: a real Kafka broker (jars from Maven Central), a real Redis
and a real PostgreSQL (Debian's packages), plus Debian's Chromium for the browser tests.

Used by ``make demo``, ``make test`` and ``fraud-worker stack up|down|status``. Everything it
writes (jars, data, logs, pid files) lives under one git-ignored folder, ``.stack/`` by default.
"""

from worker.stack.manager import Stack, StackStatus

__all__ = ["Stack", "StackStatus"]
